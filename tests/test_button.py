"""Wake, sleep, stop, heading reset and head centring buttons, each seen on the simulator."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import ATTR_ENTITY_ID, STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from bb8sim import SimulatedBB8
from custom_components.bb8.const import DOMAIN

from .conftest import state_of, toy_is_set_up, wait_for

BOTH_PROXY_PATHS = True  # run through the project's scanner and through the real esphome stack

WAKE = "button.bb_b54a_wake"
SLEEP = "button.bb_b54a_sleep"
STOP = "button.bb_b54a_stop"
RESET_HEADING = "button.bb_b54a_reset_heading"
CENTER_HEAD = "button.bb_b54a_center_head"
CONNECTED = "binary_sensor.bb_b54a_connected"

pytestmark = pytest.mark.usefixtures("ready_entry")


async def _press(hass: HomeAssistant, entity_id: str) -> None:
    await hass.services.async_call("button", "press", {ATTR_ENTITY_ID: entity_id}, blocking=True)


async def _roll(hass: HomeAssistant, device_id: str, heading: int, speed: int) -> None:
    await hass.services.async_call(
        DOMAIN, "roll", {"device_id": device_id, "heading": heading, "speed": speed}, blocking=True
    )


async def test_every_button_exists(hass: HomeAssistant) -> None:
    for entity_id in (WAKE, SLEEP, STOP, RESET_HEADING, CENTER_HEAD):
        state_of(hass, entity_id)


async def test_sleep_puts_the_toy_to_sleep_and_it_stays_disconnected(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    session = ready_entry.runtime_data.session
    connects = toy.connect_count
    await _press(hass, SLEEP)
    assert toy.asleep
    assert toy.sleep_requests == [(0, 0, 0)], "sleep now, never the charger-only deep sleep"
    assert toy.deep_sleep_requests == 0
    await wait_for(lambda: not session.is_connected)
    await hass.async_block_till_done()
    state = state_of(hass, CONNECTED)
    assert state.state == STATE_OFF

    # Minutes pass (every reconnect delay and poll is due): nobody used the toy, so no reconnect
    # wakes it up again.
    for minutes in (1, 5, 30):
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=minutes))
        await hass.async_block_till_done()
    assert toy.asleep
    assert toy.connect_count == connects
    assert not session.is_connected


async def test_using_a_sleeping_toy_wakes_and_reconnects_it(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    await _press(hass, SLEEP)
    await wait_for(lambda: not ready_entry.runtime_data.session.is_connected)
    await hass.services.async_call(
        "light",
        "turn_on",
        {ATTR_ENTITY_ID: "light.bb_b54a_main_led", "rgb_color": (0, 0, 255)},
        blocking=True,
    )
    assert toy.awake
    assert toy.main_led == (0, 0, 255)
    await wait_for(toy_is_set_up(ready_entry, toy))
    state = state_of(hass, CONNECTED)
    assert state.state == STATE_ON


async def test_wake_reconnects_a_sleeping_toy(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    await _press(hass, SLEEP)
    await wait_for(lambda: not ready_entry.runtime_data.session.is_connected)
    await _press(hass, WAKE)
    assert toy.awake
    assert toy.handshake_complete
    await wait_for(toy_is_set_up(ready_entry, toy))


async def test_wake_on_a_connected_toy_writes_wake_again(hass: HomeAssistant, toy: SimulatedBB8) -> None:
    wakes = [entry for entry in toy.handshake_log if entry[0] == "wake"]
    await _press(hass, WAKE)
    assert [entry for entry in toy.handshake_log if entry[0] == "wake"] == [*wakes, ("wake", b"\x01")]
    assert toy.awake


async def test_stop_stops_a_rolling_toy(hass: HomeAssistant, toy: SimulatedBB8, device_id: str) -> None:
    await _roll(hass, device_id, heading=90, speed=120)
    assert toy.rolling
    await _press(hass, STOP)
    assert not toy.rolling
    assert toy.speed == 0


async def test_reset_heading_sets_heading_zero(
    hass: HomeAssistant, toy: SimulatedBB8, device_id: str
) -> None:
    await hass.services.async_call(
        DOMAIN, "set_heading", {"device_id": device_id, "heading": 135}, blocking=True
    )
    assert toy.heading == 135
    await _press(hass, RESET_HEADING)
    assert toy.heading == 0
    last = toy.commands_received[-1]
    assert (last.kind, last.data) == ("set_heading", b"\x00\x00")


async def test_center_head_asks_the_toy_to_self_level(hass: HomeAssistant, toy: SimulatedBB8) -> None:
    assert toy.self_level_requests == []
    await _press(hass, CENTER_HEAD)
    assert len(toy.self_level_requests) == 1


async def test_button_press_records_the_time_in_its_state(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """The state is the ISO time of the last press: this press's, to the microsecond."""
    first = dt_util.parse_datetime("2026-11-30T07:30:00.250000+00:00")
    second = first + timedelta(minutes=5, microseconds=1)
    for pressed_at in (first, second):
        freezer.move_to(pressed_at)
        await _press(hass, CENTER_HEAD)
        state = state_of(hass, CENTER_HEAD).state
        assert dt_util.parse_datetime(state) == pressed_at, (state, pressed_at)
