"""Motion through Home Assistant: the stream follows the enabled entities, states are paced, aiming.

Until the simulator streams by itself, stream packets are built here from the Sphero API 1.50
specification (mask 2 odometer X, Y then velocity X, Y: four big-endian int16 per frame;
pitch, roll, yaw from mask 1 come first when streamed) and injected into the simulated toy's
notifications, framed by the simulator's own ``build_async``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
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

from bb8sim import SimulatedBB8
from bb8sim.protocol import build_async
from custom_components.bb8.const import DOMAIN
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
def writes(hass: HomeAssistant) -> Iterator[dict[str, list[str]]]:
    """Every state written per entity id (state_changed events), in order."""
    seen: dict[str, list[str]] = {}

    @callback
    def _record(event: Event[Any]) -> None:
        new = event.data["new_state"]
        if new is not None:
            seen.setdefault(event.data["entity_id"], []).append(new.state)

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
    assert state_of(hass, SPEED).attributes[ATTR_UNIT_OF_MEASUREMENT] == "cm/s"
    assert state_of(hass, DISTANCE).attributes[ATTR_UNIT_OF_MEASUREMENT] == "cm"
    assert state_of(hass, AIM).attributes[ATTR_UNIT_OF_MEASUREMENT] == "°"


async def test_the_default_entities_stream_location_at_10_hz_and_no_attitude(
    toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    await wait_for(lambda: ready_entry.runtime_data.session.motion.streaming)
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
    assert not ready_entry.runtime_data.session.motion.streaming


async def test_motion_entities_never_connect_an_on_demand_toy(hass: HomeAssistant, toy: SimulatedBB8) -> None:
    entry = await set_up_toy(hass, toy, connection_mode="on_demand")
    await hass.async_block_till_done()
    assert not toy.connected
    assert toy.commands_received == []
    assert state_of(hass, SPEED).state == STATE_UNKNOWN
    assert entry.runtime_data.session.motion.wanted.mask2 == LOCATION_MASK2, "wanted, not sent"


# ---------------------------------------------------------------------------------------------
# Values, and what a person sees without a link
# ---------------------------------------------------------------------------------------------


async def test_stream_frames_show_as_speed_distance_and_moving(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry, loop_clock: LoopClock
) -> None:
    await wait_for(lambda: ready_entry.runtime_data.session.motion.streaming)
    assert state_of(hass, SPEED).state == STATE_UNKNOWN, "nothing streamed yet"
    inject(toy, location(0, 0))
    await loop_clock.advance(1.1)
    inject(toy, location(0, 40, 0, 400))
    await loop_clock.advance(1.1)
    assert state_of(hass, SPEED).state == "40"
    assert state_of(hass, DISTANCE).state == "40"
    assert state_of(hass, MOVING).state == "on"
    inject(toy, location(30, 40, 0, 0))
    await loop_clock.advance(1.1)
    assert state_of(hass, SPEED).state == "0"
    assert state_of(hass, DISTANCE).state == "70"
    assert state_of(hass, MOVING).state == "off"


async def test_while_the_link_is_down_motion_sensors_are_unknown(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    await wait_for(lambda: ready_entry.runtime_data.session.motion.streaming)
    inject(toy, location(10, 10, 100, 0))
    await wait_for(lambda: state_of(hass, SPEED).state == "10")
    await make_unreachable(ready_entry, toy)
    await hass.async_block_till_done()
    for entity_id in (SPEED, DISTANCE, MOVING):
        assert state_of(hass, entity_id).state == STATE_UNKNOWN, entity_id


async def test_position_is_in_cm_from_where_reset_position_was_pressed(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    await enable(hass, ready_entry, POSITION_X, POSITION_Y)
    await wait_for(toy_is_set_up(ready_entry, toy))
    await wait_for(lambda: ready_entry.runtime_data.session.motion.streaming)
    await hass.services.async_call("button", "press", {"entity_id": RESET_POSITION}, blocking=True)
    inject(toy, location(-12, 34))
    await wait_for(lambda: state_of(hass, POSITION_Y).state == "34")
    assert state_of(hass, POSITION_X).state == "-12"
    assert state_of(hass, POSITION_X).attributes[ATTR_UNIT_OF_MEASUREMENT] == "cm"


async def test_the_distance_is_kept_across_link_losses(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    session = ready_entry.runtime_data.session
    await wait_for(lambda: session.motion.streaming)
    inject(toy, location(0, 0))
    inject(toy, location(0, 80))
    await wait_for(lambda: state_of(hass, DISTANCE).state == "80")
    await make_unreachable(ready_entry, toy)
    await bring_back(hass, ready_entry, toy, after=3)
    await wait_for(lambda: session.motion.streaming)
    inject(toy, location(0, 0))  # the toy's odometer may have restarted: not a move
    inject(toy, location(0, 20))
    await wait_for(lambda: state_of(hass, DISTANCE).state == "100")


async def test_streaming_never_wakes_a_sleeping_toy(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    session = ready_entry.runtime_data.session
    await wait_for(lambda: session.motion.streaming)
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
# Pacing: a 10 Hz stream never floods Home Assistant
# ---------------------------------------------------------------------------------------------


async def test_a_10_hz_stream_writes_each_state_at_most_once_a_second_and_the_last_value_lands(
    hass: HomeAssistant,
    toy: SimulatedBB8,
    ready_entry: MockConfigEntry,
    loop_clock: LoopClock,
    writes: dict[str, list[str]],
) -> None:
    await wait_for(lambda: ready_entry.runtime_data.session.motion.streaming)
    inject(toy, location(0, 0))
    await loop_clock.advance(2)
    writes.clear()
    # Five seconds of rolling along Y at 25 cm/s, 10 frames a second.
    for tenth in range(1, 51):
        inject(toy, location(0, round(tenth * 2.5), 0, 250))
        await loop_clock.advance(0.1, step=0.1)
    await loop_clock.advance(1.5)
    assert state_of(hass, DISTANCE).state == "125", "the trailing write landed the last value"
    assert len(writes[DISTANCE]) <= 6, writes[DISTANCE]
    assert len(writes[DISTANCE]) >= 4, "it kept moving, so it kept being written"
    assert writes[SPEED] == ["25"], "written once: the value did not change after"
    assert writes[MOVING] == ["on"]


async def test_a_change_within_the_second_is_written_when_the_second_ends(
    hass: HomeAssistant,
    toy: SimulatedBB8,
    ready_entry: MockConfigEntry,
    loop_clock: LoopClock,
    writes: dict[str, list[str]],
) -> None:
    await wait_for(lambda: ready_entry.runtime_data.session.motion.streaming)
    await loop_clock.advance(1.1)  # since the last write (unknown, at set-up)
    inject(toy, location(0, 0, 0, 100))
    await loop_clock.advance(0.1, step=0.1)
    assert writes[SPEED] == ["10"], "a change a second after the last write is written at once"
    inject(toy, location(0, 1, 0, 200))
    await loop_clock.advance(0.1, step=0.1)
    inject(toy, location(0, 2, 0, 300))
    await loop_clock.advance(0.5, step=0.1)
    assert writes[SPEED] == ["10"], "not yet: a second has not passed"
    await loop_clock.advance(0.5, step=0.1)
    assert writes[SPEED] == ["10", "30"], "the newest value, once"


# ---------------------------------------------------------------------------------------------
# Reset position
# ---------------------------------------------------------------------------------------------


async def test_reset_position_moves_the_locator_to_the_origin_facing_the_heading_and_restarts_the_distance(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry, device_id: str
) -> None:
    await wait_for(lambda: ready_entry.runtime_data.session.motion.streaming)
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


async def test_aim_on_an_unreachable_toy_says_it_is_not_connected(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    from homeassistant.exceptions import HomeAssistantError

    await make_unreachable(ready_entry, toy)
    with pytest.raises(HomeAssistantError) as caught:
        await hass.services.async_call("number", "set_value", {"entity_id": AIM, "value": 90}, blocking=True)
    assert caught.value.translation_key == "not_connected"
    assert state_of(hass, AIM).state == "0", "an aim that did not happen is not shown"


# ---------------------------------------------------------------------------------------------
# Diagnostics
# ---------------------------------------------------------------------------------------------


async def test_diagnostics_show_the_streaming_state_masks_and_frame_counts(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    await wait_for(lambda: ready_entry.runtime_data.session.motion.streaming)
    inject(toy, location(1, 2))
    inject(toy, b"\x00\x01")  # cut short
    await wait_for(lambda: ready_entry.runtime_data.session.motion.malformed_packets == 1)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, ready_entry)
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
