"""Motion through Home Assistant: the stream follows the enabled entities, states are paced, aiming.

Tests that let simulated time pass (``loop_clock``) see the simulator's own stream, sent from
its motion model while the toy rolls through real ``bb8.*`` action calls. The others, where the
simulated clock stands still and the toy sends nothing by itself, inject stream packets built
here from the Sphero API 1.50 specification (mask 2 odometer X, Y then velocity X, Y: four
big-endian int16 per frame; pitch, roll, yaw from mask 1 first when streamed), framed by the
simulator's own ``build_async``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
import itertools
import math
import struct
from typing import Any

from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT, STATE_UNKNOWN
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.diagnostics import get_diagnostics_for_config_entry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from bb8sim import SimClock, SimulatedBB8
from bb8sim.protocol import build_async
from custom_components.bb8.const import DOMAIN, MOTION_WRITE_INTERVAL
from custom_components.bb8.entity import MOTION_WRITE_SLOTS, MOTION_WRITE_SPREAD, motion_write_offset
from custom_components.bb8.sphero.motion import DISTANCE_STEP_CM
from custom_components.bb8.validation import vol

from .conftest import (
    LoopClock,
    bring_back,
    make_unreachable,
    set_up_toy,
    settle_loop,
    state_of,
    toy_is_set_up,
    wait_for,
)
from .loaded_machine import LoadedMachine

BOTH_PROXY_PATHS = True  # run through the project's scanner and through the real esphome stack

SPEED = "sensor.bb_b54a_speed"
DISTANCE = "sensor.bb_b54a_distance_since_reset"
POSITION_X = "sensor.bb_b54a_position_x"
POSITION_Y = "sensor.bb_b54a_position_y"
PITCH = "sensor.bb_b54a_pitch"
ROLL = "sensor.bb_b54a_roll"
YAW = "sensor.bb_b54a_yaw"
MOVING = "binary_sensor.bb_b54a_moving"
RESET_POSITION = "button.bb_b54a_reset_position"
RESET_HEADING = "button.bb_b54a_reset_heading"
AIM = "number.bb_b54a_aim"
TAIL_LIGHT = "light.bb_b54a_tail_light"

ATTITUDE_MASK = 0x00070000
LOCATION_MASK2 = 0x0C000000 | 0x01800000


def location(x: int, y: int, vx: int = 0, vy: int = 0) -> bytes:
    return struct.pack(">4h", x, y, vx, vy)


def inject(toy: SimulatedBB8, frame: bytes) -> None:
    toy.inject_notification(build_async(0x03, frame), chunked=True)


async def roll(hass: HomeAssistant, device_id: str, *, heading: int, speed: int) -> None:
    await hass.services.async_call(
        DOMAIN, "roll", {"device_id": device_id, "heading": heading, "speed": speed}, blocking=True
    )


async def stop(hass: HomeAssistant, device_id: str) -> None:
    await hass.services.async_call(DOMAIN, "stop", {"device_id": device_id}, blocking=True)


def stream_masks(toy: SimulatedBB8) -> tuple[int, int] | None:
    config = toy.data_streaming
    return None if config is None else (config.mask, config.mask2 or 0)


async def enable(hass: HomeAssistant, entry: MockConfigEntry, *entity_ids: str) -> None:
    """Enable entities the way a person does, then reload the entry as Home Assistant would."""
    registry = er.async_get(hass)
    for entity_id in entity_ids:
        registry.async_update_entity(entity_id, disabled_by=None)
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()


@pytest.fixture
async def streaming_entry(ready_entry: MockConfigEntry) -> MockConfigEntry:
    """``ready_entry`` once the toy acknowledged the stream its enabled motion entities want."""
    await wait_for(lambda: ready_entry.runtime_data.session.toy.motion.streaming)
    return ready_entry


@pytest.fixture
def writes(hass: HomeAssistant) -> Iterator[dict[str, list[tuple[float, str]]]]:
    """Every state written per entity id (state_changed events): (loop time, state), in order."""
    seen: dict[str, list[tuple[float, str]]] = {}

    @callback
    def _record(event: Event[Any]) -> None:
        new = event.data["new_state"]
        if new is not None:
            seen.setdefault(event.data["entity_id"], []).append((hass.loop.time(), new.state))

    remove = hass.bus.async_listen("state_changed", _record)
    yield seen
    remove()


# ---------------------------------------------------------------------------------------------
# Which entities exist, and what the toy is asked to stream
# ---------------------------------------------------------------------------------------------


async def test_speed_distance_and_moving_are_enabled_and_the_noisy_ones_are_not(
    hass: HomeAssistant, ready_entry: MockConfigEntry
) -> None:
    registry = er.async_get(hass)
    for entity_id in (SPEED, DISTANCE, MOVING, RESET_POSITION, AIM):
        assert state_of(hass, entity_id)
    for entity_id in (POSITION_X, POSITION_Y, PITCH, ROLL, YAW):
        entry = registry.async_get(entity_id)
        assert entry is not None
        assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION, entity_id
        assert hass.states.get(entity_id) is None
    assert state_of(hass, SPEED).attributes[ATTR_UNIT_OF_MEASUREMENT] == "mm/s"
    assert state_of(hass, DISTANCE).attributes[ATTR_UNIT_OF_MEASUREMENT] == "cm"
    assert state_of(hass, AIM).attributes[ATTR_UNIT_OF_MEASUREMENT] == "°"


async def test_the_default_entities_stream_location_at_10_hz_and_no_attitude(
    toy: SimulatedBB8, streaming_entry: MockConfigEntry
) -> None:
    config = toy.data_streaming
    assert config is not None
    assert (config.divisor, config.frames_per_packet, config.count) == (40, 1, 0), "400 Hz / 40, forever"
    assert stream_masks(toy) == (0, LOCATION_MASK2)


async def test_enabling_an_attitude_sensor_adds_pitch_roll_yaw_to_the_stream(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    await enable(hass, ready_entry, PITCH)
    await wait_for(toy_is_set_up(ready_entry, toy))
    await wait_for(lambda: stream_masks(toy) == (ATTITUDE_MASK, LOCATION_MASK2))
    inject(toy, struct.pack(">3h", -5, 1, 0) + location(0, 0))
    await wait_for(lambda: state_of(hass, PITCH).state == "-5")
    assert state_of(hass, PITCH).attributes[ATTR_UNIT_OF_MEASUREMENT] == "°"


async def test_with_every_motion_entity_disabled_the_toy_streams_nothing(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    registry = er.async_get(hass)
    for entity_id in (SPEED, DISTANCE, MOVING):
        registry.async_update_entity(entity_id, disabled_by=er.RegistryEntryDisabler.USER)
    await hass.config_entries.async_reload(ready_entry.entry_id)
    await hass.async_block_till_done()
    await wait_for(toy_is_set_up(ready_entry, toy))
    assert stream_masks(toy) == (0, 0), "all-zero masks: the stream is off"
    assert not ready_entry.runtime_data.session.toy.motion.streaming


async def test_motion_entities_never_connect_an_on_demand_toy(hass: HomeAssistant, toy: SimulatedBB8) -> None:
    entry = await set_up_toy(hass, toy, connection_mode="on_demand")
    await hass.async_block_till_done()
    assert not toy.connected
    assert toy.commands_received == []
    assert state_of(hass, SPEED).state == STATE_UNKNOWN
    assert entry.runtime_data.session.toy.motion.wanted.mask2 == LOCATION_MASK2, "wanted, not sent"


# ---------------------------------------------------------------------------------------------
# Values, and what a person sees without a link
# ---------------------------------------------------------------------------------------------


async def test_a_rolling_toy_shows_its_speed_distance_and_moving(
    hass: HomeAssistant,
    toy: SimulatedBB8,
    streaming_entry: MockConfigEntry,
    device_id: str,
    loop_clock: LoopClock,
) -> None:
    """The simulator streams from its motion model; the toy rolls through real bb8.* actions."""
    await loop_clock.advance(1.5)
    assert state_of(hass, SPEED).state == "0"
    assert state_of(hass, MOVING).state == "off"
    await roll(hass, device_id, heading=0, speed=70)
    await loop_clock.advance(3)
    top = toy.true_speed
    assert top == pytest.approx(70 / 255 * 195, abs=1), "the simulator's speed 70"
    assert float(state_of(hass, SPEED).state) == pytest.approx(top * 10, abs=10), "mm/s"
    assert state_of(hass, MOVING).state == "on"
    await stop(hass, device_id)
    await loop_clock.advance(3)
    assert state_of(hass, SPEED).state == "0"
    assert state_of(hass, MOVING).state == "off"
    assert float(state_of(hass, DISTANCE).state) == pytest.approx(
        toy.distance_travelled, abs=DISTANCE_STEP_CM
    )


async def test_while_the_link_is_down_motion_sensors_are_unknown(
    hass: HomeAssistant, toy: SimulatedBB8, streaming_entry: MockConfigEntry
) -> None:
    inject(toy, location(10, 10, 100, 0))
    await wait_for(lambda: state_of(hass, SPEED).state == "100")
    await make_unreachable(streaming_entry, toy)
    await hass.async_block_till_done()
    for entity_id in (SPEED, DISTANCE, MOVING):
        assert state_of(hass, entity_id).state == STATE_UNKNOWN, entity_id


async def test_position_is_in_cm_from_where_reset_position_was_pressed(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    await enable(hass, ready_entry, POSITION_X, POSITION_Y)
    await wait_for(toy_is_set_up(ready_entry, toy))
    await wait_for(lambda: ready_entry.runtime_data.session.toy.motion.streaming)
    await hass.services.async_call("button", "press", {"entity_id": RESET_POSITION}, blocking=True)
    inject(toy, location(-12, 34))
    # Each motion entity writes in its own slot, so X and Y land in different loop turns.
    await wait_for(lambda: state_of(hass, POSITION_Y).state == "34")
    await wait_for(lambda: state_of(hass, POSITION_X).state == "-12")
    assert state_of(hass, POSITION_X).attributes[ATTR_UNIT_OF_MEASUREMENT] == "cm"


async def test_the_distance_is_kept_across_link_losses(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    session = ready_entry.runtime_data.session
    await wait_for(lambda: session.toy.motion.streaming)
    inject(toy, location(0, 0))
    inject(toy, location(0, 80))
    await wait_for(lambda: state_of(hass, DISTANCE).state == "80")
    await make_unreachable(ready_entry, toy)
    await bring_back(hass, ready_entry, toy, after=3)
    await wait_for(lambda: session.toy.motion.streaming)
    inject(toy, location(0, 0))  # the toy's odometer may have restarted: not a move
    inject(toy, location(0, 20))
    await wait_for(lambda: state_of(hass, DISTANCE).state == "100")


async def test_the_distance_restarts_at_zero_when_home_assistant_reloads_the_toy(
    hass: HomeAssistant, toy: SimulatedBB8, streaming_entry: MockConfigEntry
) -> None:
    inject(toy, location(0, 0))
    inject(toy, location(0, 80))
    await wait_for(lambda: state_of(hass, DISTANCE).state == "80")
    await hass.config_entries.async_reload(streaming_entry.entry_id)
    await hass.async_block_till_done()
    await wait_for(lambda: streaming_entry.runtime_data.session.toy.motion.streaming)
    assert state_of(hass, DISTANCE).state == STATE_UNKNOWN
    inject(toy, location(0, 80))
    await wait_for(lambda: state_of(hass, DISTANCE).state == "0")


async def test_streaming_never_wakes_a_sleeping_toy(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    session = ready_entry.runtime_data.session
    await wait_for(lambda: session.toy.motion.streaming)
    connects = toy.connect_count
    await hass.services.async_call("button", "press", {"entity_id": "button.bb_b54a_sleep"}, blocking=True)
    await wait_for(lambda: not session.is_connected)
    for minutes in (1, 5, 30):
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=minutes))
        await hass.async_block_till_done()
    assert toy.asleep
    assert toy.connect_count == connects
    assert state_of(hass, SPEED).state == STATE_UNKNOWN


# ---------------------------------------------------------------------------------------------
# The square: roll four sides through bb8.roll and bb8.stop, in simulated time
# ---------------------------------------------------------------------------------------------


async def test_rolling_a_square_returns_near_the_start_and_the_distance_is_four_sides(
    hass: HomeAssistant,
    toy: SimulatedBB8,
    ready_entry: MockConfigEntry,
    device_id: str,
    loop_clock: LoopClock,
) -> None:
    await enable(hass, ready_entry, POSITION_X, POSITION_Y)
    await wait_for(toy_is_set_up(ready_entry, toy))
    await hass.services.async_call("button", "press", {"entity_id": RESET_POSITION}, blocking=True)
    await loop_clock.advance(1.5)
    assert (state_of(hass, POSITION_X).state, state_of(hass, POSITION_Y).state) == ("0", "0")
    assert state_of(hass, DISTANCE).state == "0"
    start = toy.distance_travelled
    corners: list[tuple[float, float]] = []
    for heading in (0, 90, 180, 270):
        await roll(hass, device_id, heading=heading, speed=0)  # turn in place to face the side
        await loop_clock.advance(1.5)
        await roll(hass, device_id, heading=heading, speed=70)
        await loop_clock.advance(2)
        await stop(hass, device_id)
        await loop_clock.advance(2)  # stopped, and a second for the state to land
        corners.append((float(state_of(hass, POSITION_X).state), float(state_of(hass, POSITION_Y).state)))
    side = math.hypot(*corners[0])
    assert side > 100, "each side is over a metre"
    assert corners[0] == pytest.approx((0, side), abs=2), "the first side runs along +Y, the way it faced"
    assert corners[1] == pytest.approx((side, side), abs=4)
    assert corners[2] == pytest.approx((side, 0), abs=6)
    assert math.hypot(*corners[3]) < 10, f"back near the start: {corners[3]}"
    travelled = toy.distance_travelled - start
    assert travelled == pytest.approx(4 * side, rel=0.03)
    assert float(state_of(hass, DISTANCE).state) == pytest.approx(4 * side, rel=0.03), "four sides"
    assert state_of(hass, MOVING).state == "off"


# ---------------------------------------------------------------------------------------------
# Pacing: a 10 Hz stream never floods Home Assistant
# ---------------------------------------------------------------------------------------------


async def test_a_10_hz_stream_writes_each_state_at_most_once_a_second_and_the_last_value_lands(
    hass: HomeAssistant,
    toy: SimulatedBB8,
    ready_entry: MockConfigEntry,
    device_id: str,
    loop_clock: LoopClock,
    writes: dict[str, list[tuple[float, str]]],
) -> None:
    session = ready_entry.runtime_data.session
    await wait_for(lambda: session.toy.motion.streaming)
    await loop_clock.advance(2)
    writes.clear()
    frames = session.toy.motion.frames_received
    await roll(hass, device_id, heading=0, speed=70)
    await loop_clock.advance(5, step=0.1)
    await stop(hass, device_id)
    await loop_clock.advance(3, step=0.1)
    assert session.toy.motion.frames_received - frames == pytest.approx(80, abs=2), "10 frames a second"
    for entity_id in (SPEED, DISTANCE, MOVING):
        times = [at for at, _ in writes[entity_id]]
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert all(gap >= 0.999 for gap in gaps), (entity_id, gaps)
    assert len(writes[DISTANCE]) <= 9, "8 s of motion: at most one write a second"
    assert len(writes[DISTANCE]) >= 5, "it kept moving, so it kept being written"
    assert [state for _, state in writes[MOVING]] == ["on", "off"]
    assert writes[SPEED][-1][1] == "0", "the last value landed"
    assert writes[DISTANCE][-1][1] == str(round(session.toy.motion.distance))


async def test_a_change_within_the_second_is_written_when_the_second_ends(
    hass: HomeAssistant,
    toy: SimulatedBB8,
    streaming_entry: MockConfigEntry,
    writes: dict[str, list[tuple[float, str]]],
) -> None:
    """Simulated loop time, measured on the loop's clock; stream packets injected.

    The loop's clock moves (a ``LoopClock`` with a ``SimClock`` of its own) and the toy's stands
    still, so the toy sends no stream of its own. Every step also costs real time
    (``LoadedMachine``), as on a loaded machine: the gaps must not notice.
    """
    clock = LoopClock(hass.loop, SimClock())
    machine = LoadedMachine()
    machine.costly_steps(clock, cost=0.05)
    try:
        with machine.installed():
            await clock.advance(MOTION_WRITE_INTERVAL + 0.05, 0.01)  # since the last write (set-up)
            injected_at = hass.loop.time()
            inject(toy, location(0, 0, 0, 100))
            await clock.advance_until(lambda: SPEED in writes, limit=1, step=0.01)
            assert [state for _, state in writes[SPEED]] == ["100"], "a second after the last write"
            waited = writes[SPEED][0][0] - injected_at
            assert waited <= MOTION_WRITE_SPREAD + 0.011, f"at its next slot, {waited:.3f} s later"
            inject(toy, location(0, 1, 0, 200))
            inject(toy, location(0, 2, 0, 300))
            await wait_for(lambda: streaming_entry.runtime_data.session.toy.motion.frames_received >= 3)
            await clock.advance(0.3, 0.01)
            assert [state for _, state in writes[SPEED]] == ["100"], "not yet: a second has not passed"
            await clock.advance_until(lambda: len(writes[SPEED]) == 2, limit=2, step=0.01)
    finally:
        clock.restore()
    assert writes[SPEED][1][1] == "300", "the newest value, once, with no frame after it"
    gap = writes[SPEED][1][0] - writes[SPEED][0][0]
    assert MOTION_WRITE_INTERVAL <= gap <= MOTION_WRITE_INTERVAL + MOTION_WRITE_SPREAD + 0.011, (
        f"when the second ends, at the entity's next slot: {gap:.3f} s of simulated time"
    )


async def test_a_toys_motion_entities_write_in_slots_of_their_own_never_in_the_same_loop_turn(
    hass: HomeAssistant,
    toy: SimulatedBB8,
    ready_entry: MockConfigEntry,
    device_id: str,
    sim_clock: SimClock,
    writes: dict[str, list[tuple[float, str]]],
) -> None:
    """Every frame reaches all eight motion entities at once; their writes still come apart.

    With every motion entity enabled and the toy rolling (so every value keeps changing), each
    entity writes once a second or so, each at its own instant: no two of them in one loop turn.
    """
    motion = (SPEED, DISTANCE, POSITION_X, POSITION_Y, PITCH, ROLL, YAW, MOVING)
    await enable(hass, ready_entry, POSITION_X, POSITION_Y, PITCH, ROLL, YAW)
    await wait_for(toy_is_set_up(ready_entry, toy))
    await wait_for(lambda: ready_entry.runtime_data.session.toy.motion.streaming)
    # Steps finer than the slots (12.5 ms apart), so timers due at different instants fire in
    # different loop turns and each write is stamped with the instant it was due.
    step = MOTION_WRITE_SPREAD / MOTION_WRITE_SLOTS / 4
    clock = LoopClock(hass.loop, sim_clock)
    try:
        await roll(hass, device_id, heading=0, speed=70)
        await clock.advance(2, step=step)
        writes.clear()
        await roll(hass, device_id, heading=90, speed=90)
        await clock.advance(3, step=step)
        await stop(hass, device_id)
        await clock.advance(2, step=step)
    finally:
        clock.restore()
    wrote = {entity_id for entity_id in motion if writes.get(entity_id)}
    assert len(wrote) >= 6, f"the values kept changing, so nearly all were written: {sorted(wrote)}"
    instants = Counter(at for entity_id in motion for at, _ in writes.get(entity_id, []))
    shared = {at: count for at, count in instants.items() if count > 1}
    assert not shared, f"writes sharing one loop turn: {shared}"
    offsets = {motion_write_offset(toy.address, slot) for slot in range(MOTION_WRITE_SLOTS)}
    assert len(offsets) == MOTION_WRITE_SLOTS, "eight slots of their own"
    assert all(0 <= offset < MOTION_WRITE_SPREAD for offset in offsets)


# ---------------------------------------------------------------------------------------------
# Reset position
# ---------------------------------------------------------------------------------------------


async def test_reset_position_moves_the_locator_to_the_origin_facing_the_heading_and_restarts_the_distance(
    hass: HomeAssistant, toy: SimulatedBB8, streaming_entry: MockConfigEntry, device_id: str
) -> None:
    inject(toy, location(0, 0))
    inject(toy, location(0, 60))
    await wait_for(lambda: state_of(hass, DISTANCE).state == "60")
    await hass.services.async_call(
        DOMAIN, "roll", {"device_id": device_id, "heading": 90, "speed": 0}, blocking=True
    )
    await hass.services.async_call("button", "press", {"entity_id": RESET_POSITION}, blocking=True)
    assert toy.locator is not None
    assert (toy.locator.x, toy.locator.y, toy.locator.yaw_tare) == (0, 0, 90)
    assert toy.locator.flags & 1, "yaw tare follows later heading changes"
    await wait_for(lambda: state_of(hass, DISTANCE).state == "0")
    inject(toy, location(0, 0))
    inject(toy, location(0, 20))
    await wait_for(lambda: state_of(hass, DISTANCE).state == "20")


# ---------------------------------------------------------------------------------------------
# Aiming
# ---------------------------------------------------------------------------------------------


def tail_light_writes(toy: SimulatedBB8) -> list[int]:
    return [record.data[0] for record in toy.commands_this_link if record.kind == "set_back_led"]


async def test_aim_turns_in_place_with_the_tail_light_full_and_reset_heading_makes_it_forward(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    await hass.services.async_call(
        "light", "turn_on", {"entity_id": TAIL_LIGHT, "brightness": 40}, blocking=True
    )
    assert toy.back_led == 40
    await hass.services.async_call("number", "set_value", {"entity_id": AIM, "value": 120}, blocking=True)
    assert toy.back_led == 255, "the tail light shows the toy's back while aiming"
    assert (toy.heading, toy.speed) == (120, 0), "turned in place to face 120°"
    assert state_of(hass, AIM).state == "120"
    assert state_of(hass, TAIL_LIGHT).attributes["brightness"] == 40, "the light shows its wish"

    await hass.services.async_call("button", "press", {"entity_id": RESET_HEADING}, blocking=True)
    assert toy.heading == 0, "that direction is now 0°"
    assert toy.back_led == 40, "the tail light is back to its wish"
    assert state_of(hass, AIM).state == "0"


async def test_reset_heading_without_an_aim_leaves_the_tail_light_alone(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    before = tail_light_writes(toy)
    await hass.services.async_call("button", "press", {"entity_id": RESET_HEADING}, blocking=True)
    assert tail_light_writes(toy) == before


async def test_aim_action_with_set_as_forward_aims_then_makes_it_forward(
    hass: HomeAssistant, toy: SimulatedBB8, device_id: str
) -> None:
    await hass.services.async_call(
        DOMAIN, "aim", {"device_id": device_id, "heading": 200, "set_as_forward": True}, blocking=True
    )
    kinds = [(record.kind, record.data) for record in toy.commands_this_link][-4:]
    assert kinds == [
        ("set_back_led", bytes([255])),
        ("roll", struct.pack(">BHB", 0, 200, 1)),
        ("set_heading", bytes(2)),
        ("set_back_led", bytes([0])),
    ]
    assert state_of(hass, AIM).state == "0"


async def test_aim_action_without_set_as_forward_keeps_aiming(
    hass: HomeAssistant, toy: SimulatedBB8, device_id: str
) -> None:
    await hass.services.async_call(DOMAIN, "aim", {"device_id": device_id, "heading": 45}, blocking=True)
    assert (toy.heading, toy.speed, toy.back_led) == (45, 0, 255)
    assert state_of(hass, AIM).state == "45"


@pytest.mark.parametrize(
    "data", [{"heading": 360}, {"heading": -1}, {}, {"heading": 10, "set_as_forward": "maybe"}]
)
async def test_aim_action_fields_out_of_range_are_refused_and_change_nothing(
    hass: HomeAssistant, toy: SimulatedBB8, device_id: str, data: dict[str, Any]
) -> None:
    before = list(toy.commands_received)
    with pytest.raises(vol.Invalid):
        await hass.services.async_call(DOMAIN, "aim", {"device_id": device_id, **data}, blocking=True)
    assert toy.commands_received == before


async def test_aim_number_out_of_range_is_refused_with_a_translated_error(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    before = list(toy.commands_received)
    with pytest.raises(ServiceValidationError) as caught:
        await hass.services.async_call("number", "set_value", {"entity_id": AIM, "value": 400}, blocking=True)
    assert caught.value.translation_key is not None
    assert toy.commands_received == before


async def test_aim_on_an_unreachable_toy_says_it_could_not_connect(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    from homeassistant.exceptions import HomeAssistantError

    await make_unreachable(ready_entry, toy)
    with pytest.raises(HomeAssistantError) as caught:
        await hass.services.async_call("number", "set_value", {"entity_id": AIM, "value": 90}, blocking=True)
    assert caught.value.translation_key == "cannot_connect"
    assert state_of(hass, AIM).state == "0", "an aim that did not happen is not shown"


# ---------------------------------------------------------------------------------------------
# Diagnostics
# ---------------------------------------------------------------------------------------------


async def test_diagnostics_show_the_streaming_state_masks_and_frame_counts(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    toy: SimulatedBB8,
    streaming_entry: MockConfigEntry,
) -> None:
    inject(toy, location(1, 2))
    inject(toy, b"\x00\x01")  # cut short
    await wait_for(lambda: streaming_entry.runtime_data.session.toy.motion.malformed_packets == 1)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, streaming_entry)
    motion = diagnostics["session"]["motion"]
    assert motion == {
        "streaming": True,
        "wanted": ["location"],
        "mask": "0x00000000",
        "mask2": "0x0d800000",
        "rate_hz": 10.0,
        "frames_received": 1,
        "malformed_packets": 1,
        "unexpected_packets": 0,
    }
    await settle_loop()
