"""Motion for the v2 toys (R2-D2, R2-Q5, BB-9E, Mini, BOLT): the stream's codec, the simulator, Home Assistant.

The codec (``motion_v2``) is held against spherov2 0.12.1's own ``SensorControl``: the commands it
sends for the same sensors, and its decoding of the same packet. The simulated toys roll through
real ``bb8.*`` actions and stream from their motion model (``bb8sim.motion``), in simulated
time. Packets built here follow spherov2's ``commands/sensor.py`` (float32s, one per set bit,
from bit 31 down), framed by the simulator's own v2 codec.
"""

from __future__ import annotations

import math
from pathlib import Path
import struct
import threading
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.components.diagnostics import get_diagnostics_for_config_entry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from spherov2.commands.sensor import Sensor
from spherov2.controls.v2 import Packet, SensorControl
from spherov2.toy.bolt import BOLT
from spherov2.toy.mini import Mini
from spherov2.toy.r2d2 import R2D2

from bb8sim import SimClock
from bb8sim.proxy import SimProxy
from bb8sim.v2 import SimulatedV2Toy
from bb8sim.v2.codec import V2Packet
from custom_components.bb8.const import DOMAIN
from custom_components.bb8.sphero.catalog import CATALOG, Feature
from custom_components.bb8.sphero.motion import DISTANCE_STEP_CM, Masks
from custom_components.bb8.sphero.motion_v2 import (
    ATTITUDE_MASK,
    LOCATION_MASK,
    MINI_STREAM,
    V2_STREAM,
    SensorStreamV2,
)

from .conftest import TOY_ADDRESS, LoopClock, device_id_of, make_unreachable, state_of, wait_for
from .esphome_support import NodePath
from .test_family_v1 import entity_of
from .test_family_v2 import add_through_discovery, advertised
from .test_sim_v2_toy import API, connect, request

# spherov2's sensor tables (toy/bb9e.py, which the R2 units inherit; mini.py; bolt.py).
SPHEROV2_ATTITUDE = 0x40000 | 0x20000 | 0x10000
SPHEROV2_LOCATOR_VELOCITY = 0x40 | 0x20 | 0x10 | 0x08
ASYNC_FLAGS = 0x08  # is activity, as the simulator sends its async packets
SENSOR_STREAM = (0x18, 0x02)
README_TEXT = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
README = " ".join(README_TEXT.split())


# ---------------------------------------------------------------------------------------------
# The codec, against spherov2's SensorControl
# ---------------------------------------------------------------------------------------------


class _Spherov2Toy:
    """Just enough of a spherov2 ``ToyV2`` for its ``SensorControl``: commands are recorded."""

    _require_target = False
    set_sensor_streaming_mask = Sensor.set_sensor_streaming_mask
    set_extended_sensor_streaming_mask = Sensor.set_extended_sensor_streaming_mask

    def __init__(self, model: Any) -> None:
        self.sensors = model.sensors
        self.extended_sensors = model.extended_sensors
        self._packet_manager = Packet.Manager()
        self.sent: list[tuple[int, int, bytes]] = []
        self.listener: Any = None

    def _execute(self, packet: Packet) -> Packet:
        self.sent.append((packet.did, packet.cid, bytes(packet.data)))
        return packet

    def add_sensor_streaming_data_notify_listener(self, listener: Any) -> None:
        self.listener = listener


@pytest.mark.parametrize("model", [R2D2, Mini, BOLT], ids=["r2d2", "mini", "bolt"])
def test_the_v2_stream_is_asked_for_as_spherov2s_sensor_control_asks(model: Any) -> None:
    """Pause (interval 0), the extended mask, then the main mask with the interval: spherov2's order."""
    toy = _Spherov2Toy(model)
    control = SensorControl(toy)
    control.set_interval(100)
    toy.sent.clear()
    control.enable("attitude", "locator", "velocity")
    ours = [(c.did, c.cid, c.data) for c in V2_STREAM.commands(Masks(ATTITUDE_MASK | LOCATION_MASK))]
    assert ours == toy.sent
    assert (ATTITUDE_MASK, LOCATION_MASK) == (SPHEROV2_ATTITUDE, SPHEROV2_LOCATOR_VELOCITY)


def test_no_motion_wanted_pauses_the_stream_and_clears_the_extended_mask() -> None:
    commands = V2_STREAM.commands(Masks(0))
    assert [(c.did, c.cid, c.data) for c in commands] == [
        (0x18, 0x00, struct.pack(">HBI", 0, 0, 0)),
        (0x18, 0x0C, struct.pack(">I", 0)),
    ]
    assert V2_STREAM.masks_of(commands[0]) == Masks(0, 0)


def test_only_the_last_command_of_a_layout_puts_it_in_force() -> None:
    pause, clear, start = V2_STREAM.commands(Masks(LOCATION_MASK))
    assert V2_STREAM.masks_of(pause) == Masks(0, 0), "interval 0: nothing streams"
    assert V2_STREAM.masks_of(clear) is None
    assert V2_STREAM.masks_of(start) == Masks(LOCATION_MASK)


def test_spherov2_and_the_codec_read_one_packet_alike() -> None:
    """spherov2's decoder (its listener, threads and all) and ours on the same float32s."""
    toy = _Spherov2Toy(R2D2)
    control = SensorControl(toy)
    control.enable("attitude", "locator", "velocity")
    readings: list[dict[str, dict[str, float]]] = []
    control.add_sensor_data_listener(readings.append)
    values = [-5.0, 2.0, 90.0, 0.25, -1.5, 0.3, 0.4]  # pitch, roll, yaw, x, y (m), vx, vy (m/s)
    before = set(threading.enumerate())
    toy.listener(list(values))
    for thread in set(threading.enumerate()) - before:
        thread.join(5)
    (reading,) = readings
    (sample,) = V2_STREAM.decode(Masks(ATTITUDE_MASK | LOCATION_MASK), struct.pack(">7f", *values))
    assert (sample.pitch, sample.roll, sample.yaw) == tuple(reading["attitude"].values())
    assert (sample.x, sample.y) == (reading["locator"]["x"], reading["locator"]["y"]) == (25.0, -150.0)
    speed = math.hypot(reading["velocity"]["x"], reading["velocity"]["y"])
    assert sample.speed == pytest.approx(speed) == pytest.approx(50.0), "cm/s"


@pytest.mark.parametrize(
    "data",
    [
        struct.pack(">3f", 0.1, 0.2, 0.3),
        struct.pack(">5f", 0.1, 0.2, 0.3, 0.4, 0.5),
        b"\x00\x01",
        b"",
        struct.pack(">4f", math.nan, 0.0, 0.0, 0.0),
        struct.pack(">4f", 0.0, math.inf, 0.0, 0.0),
    ],
    ids=["short", "long", "cut", "empty", "nan", "inf"],
)
def test_a_packet_that_does_not_fit_the_layout_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        V2_STREAM.decode(Masks(LOCATION_MASK), data)


def test_every_v2_model_has_motion() -> None:
    """catalog.py: every v2 model's spherov2 table streams attitude, locator and velocity."""
    assert all(entry.has(Feature.MOTION) for entry in CATALOG)


def test_readme_the_stream_is_10_readings_a_second_and_5_a_second_from_a_mini() -> None:
    """README: "(10 readings a second over Bluetooth, 5 a second from a Sphero Mini ...)"."""
    assert "sensor stream (10 readings a second over Bluetooth, 5 a second from a Sphero Mini:" in README
    rates = {
        entry.key: entry.toy_model.sensor_stream.rate_hz for entry in CATALOG if entry.has(Feature.MOTION)
    }
    assert rates.pop("mini") == 5.0
    assert rates, "other models stream"
    assert set(rates.values()) == {10.0}, rates


@pytest.mark.parametrize("interval_ms", [0, 0x10000])
def test_a_v2_stream_interval_outside_the_u16_is_refused_in_words(interval_ms: int) -> None:
    """18/00 carries the interval in a u16, and interval 0 means stop: neither fits a stream."""
    with pytest.raises(ValueError, match=f"a v2 stream interval is 1-65535 ms, got {interval_ms}"):
        SensorStreamV2(interval_ms)
    assert SensorStreamV2(0xFFFF).rate_hz == pytest.approx(1000 / 0xFFFF)


def _notifications_a_second(key: str, interval_ms: int) -> float:
    """Notifications a simulated toy sends a second streaming the default entities' layout."""
    clock = SimClock()
    toy = SimulatedV2Toy("F1:02:03:04:B5:4A", key, clock=clock)
    link = connect(toy)
    for seq, command in enumerate(SensorStreamV2(interval_ms).commands(Masks(LOCATION_MASK)), start=1):
        toy.write(API, request(command.did, command.cid, seq, command.data))
    clock.advance(1)
    link.chunks.clear()
    clock.advance(10)
    return len(link.chunks) / 10


def test_readme_through_a_proxy_a_mini_sends_115_notifications_a_second_instead_of_230() -> None:
    """README: "it sends a reading one byte per notification, so through a Bluetooth proxy that is
    about 115 notifications a second instead of 230". Counted in simulated time with the default
    entities' layout (locator and velocity); an R2-D2 at 10 readings sends 20 (docs/family.md)."""
    assert "through a Bluetooth proxy that is about 115 notifications a second instead of 230" in README
    assert _notifications_a_second("mini", MINI_STREAM.interval_ms) == 115
    assert _notifications_a_second("mini", V2_STREAM.interval_ms) == 230, "what it would send at 10 a second"
    assert _notifications_a_second("r2d2", V2_STREAM.interval_ms) == 20, "the R2-D2, in 20-byte chunks"


# ---------------------------------------------------------------------------------------------
# The simulator: a rolling v2 toy streams where it is
# ---------------------------------------------------------------------------------------------


def test_the_simulated_v2_toy_rolls_its_locator_and_18_13_puts_it_back_at_zero() -> None:
    from .test_sim_v2_toy import answer, connect, request

    clock = SimClock()
    toy = SimulatedV2Toy(TOY_ADDRESS, "mini", clock=clock)
    link = connect(toy)
    answer(toy, link, request(0x16, 0x07, data=struct.pack(">BHB", 70, 90, 0)))
    clock.advance(3)
    x, y = toy.odometer
    assert x > 100, "rolled towards heading 90: +X"
    assert abs(y) < 1
    answer(toy, link, request(0x18, 0x00, data=struct.pack(">HBI", 100, 1, LOCATION_MASK | 0x4)))
    clock.advance(0.15)
    (packet,) = [p for p in link.packets() if (p.did, p.cid) == SENSOR_STREAM]
    lx, ly, vx, vy, speed = struct.unpack(">5f", packet.data)
    assert lx * 100 == pytest.approx(toy.odometer[0], abs=20), "metres"
    assert vx * 100 == pytest.approx(toy.true_speed, abs=1), "m/s"
    assert abs(vy) < 0.01
    assert speed == pytest.approx(math.hypot(vx, vy))
    answer(toy, link, request(0x18, 0x13))
    assert toy.odometer == pytest.approx((0, 0), abs=1e-6)
    answer(toy, link, request(0x16, 0x07, data=struct.pack(">BHB", 0, 90, 0)))
    clock.advance(3)
    assert toy.odometer[1] == pytest.approx(0, abs=1), "the axes stay: still rolling along +X"
    assert toy.odometer[0] > 5, "it slowed to a stop along +X"


# ---------------------------------------------------------------------------------------------
# Through Home Assistant
# ---------------------------------------------------------------------------------------------

ENABLED = ("speed", "distance", "moving")
DISABLED = ("position_x", "position_y", "pitch", "roll", "yaw")


def ids(hass: HomeAssistant) -> dict[str, str]:
    """The v2 toy's motion entity ids by key."""
    found = {
        key: entity_of(hass, "binary_sensor" if key == "moving" else "sensor", TOY_ADDRESS, key)
        for key in (*ENABLED, *DISABLED)
    }
    found["reset_position"] = entity_of(hass, "button", TOY_ADDRESS, "reset_position")
    assert all(found.values()), found
    return {key: str(value) for key, value in found.items()}


async def enable(hass: HomeAssistant, entry: ConfigEntry, *entity_ids: str) -> None:
    """Enable entities as a person does; Home Assistant reloads the entry."""
    registry = er.async_get(hass)
    for entity_id in entity_ids:
        registry.async_update_entity(entity_id, disabled_by=None)
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()


def streamed(toy: SimulatedV2Toy) -> tuple[int, int, int]:
    """What the toy was last told to stream: interval (ms), main mask, extended mask."""
    return (toy.stream_interval_ms, toy.stream_mask, toy.stream_extended_mask)


def inject_stream(toy: SimulatedV2Toy, data: bytes) -> None:
    toy.inject_notification(V2Packet(ASYNC_FLAGS, *SENSOR_STREAM, 0xFF, data).encode())


async def roll(hass: HomeAssistant, device_id: str, *, heading: int, speed: int) -> None:
    await hass.services.async_call(
        DOMAIN, "roll", {"device_id": device_id, "heading": heading, "speed": speed}, blocking=True
    )


INTERVAL_MS = {"r2d2": 100, "mini": 200, "bolt": 100}
"""The interval each toy is asked to stream at (README: "5 a second from a Sphero Mini")."""


@pytest.mark.parametrize("key", ["r2d2", "mini", "bolt"])
async def test_a_rolling_v2_toy_shows_speed_distance_moving_position_and_yaw_and_reset_position_zeroes_them(
    hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock, key: str
) -> None:
    toy = await advertised(hass, proxy, sim_clock, key)
    entry = await add_through_discovery(hass, toy)
    entity = ids(hass)
    await enable(hass, entry, entity["position_x"], entity["position_y"], entity["yaw"])
    session = entry.runtime_data.session
    await wait_for(lambda: session.is_set_up and session.toy.motion.streaming)
    assert streamed(toy) == (INTERVAL_MS[key], ATTITUDE_MASK | LOCATION_MASK, 0), (
        "its own rate, what the entities show"
    )
    device_id = device_id_of(hass, entry)
    clock = LoopClock(hass.loop, sim_clock)
    try:
        await clock.advance(1.5)
        assert state_of(hass, entity["speed"]).state == "0"
        assert state_of(hass, entity["moving"]).state == "off"
        await roll(hass, device_id, heading=90, speed=70)
        await clock.advance(3)
        top = toy.true_speed
        assert top == pytest.approx(70 / 255 * 195, abs=1), "the simulator's speed 70"
        assert float(state_of(hass, entity["speed"]).state) == pytest.approx(top * 10, abs=10), "mm/s"
        assert state_of(hass, entity["moving"]).state == "on"
        assert state_of(hass, entity["yaw"]).state == "90", "the heading it rolls towards"
        await hass.services.async_call(DOMAIN, "stop", {"device_id": device_id}, blocking=True)
        await clock.advance(3)
        assert state_of(hass, entity["moving"]).state == "off"
        assert state_of(hass, entity["speed"]).state == "0"
        x, y = toy.odometer
        assert x > 100, "over a metre towards +X"
        assert float(state_of(hass, entity["position_x"]).state) == pytest.approx(x, abs=1)
        assert float(state_of(hass, entity["position_y"]).state) == pytest.approx(y, abs=1)
        assert float(state_of(hass, entity["distance"]).state) == pytest.approx(
            toy.distance_travelled, abs=DISTANCE_STEP_CM
        )
        await hass.services.async_call(
            "button", "press", {ATTR_ENTITY_ID: entity["reset_position"]}, blocking=True
        )
        assert toy.odometer == pytest.approx((0, 0), abs=1e-3), "the toy's locator is back at 0,0"
        await clock.advance(2)
        assert state_of(hass, entity["position_x"]).state == "0"
        assert state_of(hass, entity["position_y"]).state == "0"
        assert state_of(hass, entity["distance"]).state == "0"
    finally:
        clock.restore()
    sensor_requests = [r for r in toy.requests if r.packet.did == 0x18]
    assert sensor_requests, "the sensor commands reached the toy"
    assert all(r.err == 0 for r in sensor_requests), "every sensor command was taken"
    if key == "bolt":
        assert {r.packet.tid for r in sensor_requests} == {0x12}, "the BOLT's secondary processor"
    else:
        assert {r.packet.tid for r in sensor_requests} == {None}, "untargeted, as the captures"


async def test_a_v2_toy_streams_only_while_a_motion_entity_is_enabled(
    hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock
) -> None:
    toy = await advertised(hass, proxy, sim_clock, "r2d2")
    entry = await add_through_discovery(hass, toy)
    entity = ids(hass)
    registry = er.async_get(hass)
    for key in DISABLED:
        assert registry.async_get(entity[key]).disabled_by is er.RegistryEntryDisabler.INTEGRATION  # type: ignore[union-attr]
    await wait_for(lambda: entry.runtime_data.session.toy.motion.streaming)
    assert streamed(toy) == (100, LOCATION_MASK, 0), "speed, distance and moving: the locator only"
    for key in ENABLED:  # a disabled entity goes at once; the entry reloads only later
        registry.async_update_entity(entity[key], disabled_by=er.RegistryEntryDisabler.USER)
    session = entry.runtime_data.session
    await wait_for(lambda: not session.toy.motion.streaming and not toy.streaming)
    assert streamed(toy) == (0, 0, 0), "nothing wanted: stopped"
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    session = entry.runtime_data.session
    await wait_for(lambda: session.is_set_up and session.pending_commands == 0)
    assert streamed(toy) == (0, 0, 0), "still stopped after a reload"
    assert not toy.streaming
    await enable(hass, entry, entity["pitch"])
    await wait_for(lambda: entry.runtime_data.session.toy.motion.streaming)
    assert streamed(toy) == (100, ATTITUDE_MASK, 0), "pitch alone: the attitude only"


async def test_a_v2_toy_is_asked_for_its_stream_again_after_a_reconnect(
    hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock
) -> None:
    toy = await advertised(hass, proxy, sim_clock, "mini")
    entry = await add_through_discovery(hass, toy)
    session = entry.runtime_data.session
    await wait_for(lambda: session.toy.motion.streaming)
    asked = sum(1 for r in toy.requests if r.key == (0x18, 0x00))
    toy.disconnect_now()
    await wait_for(lambda: not toy.streaming and not session.toy.motion.streaming)
    await wait_for(lambda: toy.connected and session.is_set_up and session.toy.motion.streaming, timeout=15)
    assert sum(1 for r in toy.requests if r.key == (0x18, 0x00)) > asked
    await wait_for(lambda: toy.streaming)
    assert streamed(toy) == (200, LOCATION_MASK, 0), "the Mini's own interval"


async def test_a_v2_toy_is_told_to_stop_streaming_on_every_connect_while_no_motion_entity_is_enabled(
    hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock
) -> None:
    """It may still stream what it was told before (another app, or before a restart)."""
    toy = await advertised(hass, proxy, sim_clock, "mini")
    entry = await add_through_discovery(hass, toy)
    entity = ids(hass)
    registry = er.async_get(hass)
    for key in ENABLED:
        registry.async_update_entity(entity[key], disabled_by=er.RegistryEntryDisabler.USER)
    session = entry.runtime_data.session
    await wait_for(lambda: not toy.streaming)
    stop = struct.pack(">HBI", 0, 0, 0)
    stops = sum(1 for r in toy.requests if r.key == (0x18, 0x00) and r.packet.data == stop)
    toy.disconnect_now()
    await wait_for(lambda: not session.is_connected)
    await wait_for(lambda: toy.connected and session.is_set_up and session.pending_commands == 0, timeout=15)
    assert sum(1 for r in toy.requests if r.key == (0x18, 0x00) and r.packet.data == stop) == stops + 1
    assert [r.packet.data for r in toy.requests if r.key == (0x18, 0x0C)][-1] == bytes(4), "no extended value"


async def test_v2_motion_values_are_unknown_while_the_link_is_down(
    hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock
) -> None:
    toy = await advertised(hass, proxy, sim_clock, "r2d2")
    entry = await add_through_discovery(hass, toy)
    entity = ids(hass)
    await wait_for(lambda: entry.runtime_data.session.toy.motion.streaming)
    inject_stream(toy, struct.pack(">4f", 0.1, 0.1, 1.0, 0.0))
    await wait_for(lambda: state_of(hass, entity["speed"]).state == "1000")
    await make_unreachable(entry, toy)  # type: ignore[arg-type]
    await hass.async_block_till_done()
    for key in ENABLED:
        assert state_of(hass, entity[key]).state == STATE_UNKNOWN, key


async def test_a_corrupt_v2_stream_packet_is_dropped_and_counted_and_changes_nothing(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    proxy: SimProxy | NodePath,
    sim_clock: SimClock,
) -> None:
    """Wrong length, values that are no number, a bad checksum: dropped; the diagnostics count them."""
    toy = await advertised(hass, proxy, sim_clock, "mini")
    entry = await add_through_discovery(hass, toy)
    entity = ids(hass)
    motion = entry.runtime_data.session.toy.motion
    await wait_for(lambda: motion.streaming)
    inject_stream(toy, struct.pack(">4f", 0.0, 0.2, 0.0, 0.5))
    await wait_for(lambda: state_of(hass, entity["speed"]).state == "500")
    sample = motion.sample
    dropped_bytes = entry.runtime_data.session.counters.dropped_bytes
    inject_stream(toy, struct.pack(">3f", 0.0, 0.2, 0.0))
    inject_stream(toy, struct.pack(">4f", math.nan, 0.2, 0.0, 9.0))
    corrupt = bytearray(V2Packet(ASYNC_FLAGS, *SENSOR_STREAM, 0xFF, struct.pack(">4f", 0, 0, 9, 9)).encode())
    corrupt[-2] ^= 0x01  # the checksum no longer matches
    toy.inject_notification(bytes(corrupt))
    await wait_for(lambda: motion.malformed_packets == 2)
    await wait_for(lambda: entry.runtime_data.session.counters.dropped_bytes > dropped_bytes)
    assert motion.sample == sample, "nothing changed"
    assert motion.frames_received == 1
    assert state_of(hass, entity["speed"]).state == "500"
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["session"]["motion"] == {
        "streaming": True,
        "wanted": ["location"],
        "mask": "0x00000078",
        "mask2": "0x00000000",
        "rate_hz": 5.0,
        "frames_received": 1,
        "malformed_packets": 2,
        "unexpected_packets": 0,
    }


async def test_readme_on_a_v2_toy_reset_position_moves_only_the_origin_and_y_stays_its_heading_0(
    hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock
) -> None:
    """README, Reset position: "On a v2 toy it moves only the origin: +Y stays the way of its heading 0"."""
    assert "On a v2 toy it moves only the origin: +Y stays the way of its heading 0." in README
    toy = await advertised(hass, proxy, sim_clock, "mini")
    entry = await add_through_discovery(hass, toy)
    entity = ids(hass)
    await enable(hass, entry, entity["position_x"], entity["position_y"])
    await wait_for(lambda: entry.runtime_data.session.toy.motion.streaming)
    device_id = device_id_of(hass, entry)
    clock = LoopClock(hass.loop, sim_clock)
    try:
        await roll(hass, device_id, heading=90, speed=70)
        await clock.advance(2)
        await hass.services.async_call(DOMAIN, "stop", {"device_id": device_id}, blocking=True)
        await clock.advance(2)
        await hass.services.async_call(
            "button", "press", {ATTR_ENTITY_ID: entity["reset_position"]}, blocking=True
        )
        await roll(hass, device_id, heading=90, speed=70)  # the way it faced when reset
        await clock.advance(2)
        await hass.services.async_call(DOMAIN, "stop", {"device_id": device_id}, blocking=True)
        await clock.advance(2)
    finally:
        clock.restore()
    assert float(state_of(hass, entity["position_x"]).state) > 50, "along +X, heading 90's way"
    assert abs(float(state_of(hass, entity["position_y"]).state)) <= 1, "not along +Y"


def test_readme_says_the_v2_stream_is_from_spherov2s_tables_not_captures() -> None:
    """README's hardware table: "the sensor stream (spherov2's sensor tables: no capture of a v2
    stream was found)" in each v2 row's spec column (the R2-Q5's: "As the R2-D2")."""
    words = "the sensor stream (spherov2's sensor tables: no capture of a v2 stream was found)"
    rows = {line.split("|")[1].strip(): line for line in README_TEXT.splitlines() if line.startswith("| ")}
    for model in CATALOG:
        if model.protocol != "v2":
            continue
        row = rows["R2-D2" if model.key == "r2q5" else model.name]
        assert words in row.split("|")[6], model.name
        assert "stream" not in row.split("|")[5], f"{model.name}: no capture of a v2 stream"
    captures = Path(__file__).parent / "captures"
    assert not any("v2" in path.name and "stream" in path.name for path in captures.iterdir())


@pytest.mark.parametrize("proxy_path", ["node"], indirect=True)
async def test_a_v2_toys_motion_through_the_simulated_esphome_node(
    hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock
) -> None:
    """The R2-D2's stream through Home Assistant's esphome integration and the simulated node."""
    assert isinstance(proxy, NodePath)
    toy = await advertised(hass, proxy, sim_clock, "r2d2")
    entry = await add_through_discovery(hass, toy)
    entity = ids(hass)
    session = entry.runtime_data.session
    await wait_for(lambda: session.toy.motion.streaming)
    inject_stream(toy, struct.pack(">4f", 0.0, 0.6, 0.0, 0.3))
    await wait_for(lambda: state_of(hass, entity["speed"]).state == "300")
    # Each motion entity writes in a slot of its own after the second ends: moving may follow.
    await wait_for(lambda: state_of(hass, entity["moving"]).state == "on")
    sent_before = len(toy.requests)
    await hass.services.async_call(
        "button", "press", {ATTR_ENTITY_ID: entity["reset_position"]}, blocking=True
    )
    assert (0x18, 0x13) in [r.key for r in toy.requests[sent_before:]]
    await wait_for(lambda: state_of(hass, entity["distance"]).state == "0")
