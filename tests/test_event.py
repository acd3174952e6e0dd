"""Collisions reach the event entity as soon as the toy reports them, with their data."""

from __future__ import annotations

from homeassistant.components.event import ATTR_EVENT_TYPE, ATTR_EVENT_TYPES
from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import HomeAssistant
import pytest

from bb8sim import SimClock, SimulatedBB8

from .conftest import state_of, wait_for

BOTH_PROXY_PATHS = True  # run through the project's scanner and through the real esphome stack

COLLISION = "event.bb_b54a_collision"

pytestmark = pytest.mark.usefixtures("ready_entry")


async def test_collision_event_waits_for_the_first_collision(hass: HomeAssistant, toy: SimulatedBB8) -> None:
    state = state_of(hass, COLLISION)
    assert state.state == STATE_UNKNOWN
    assert state.attributes[ATTR_EVENT_TYPES] == ["collision"]
    assert toy.collision_detection_enabled, "the session armed collision detection after connecting"


async def test_collision_reaches_the_event_entity_without_a_poll(
    hass: HomeAssistant, toy: SimulatedBB8
) -> None:
    queries = toy.command_counts["get_power_state"]
    assert toy.trigger_collision(x_magnitude=300, y_magnitude=40)
    await wait_for(lambda: state_of(hass, COLLISION).state != STATE_UNKNOWN)
    state = state_of(hass, COLLISION)
    attributes = state.attributes
    assert attributes[ATTR_EVENT_TYPE] == "collision"
    assert attributes["intensity"] == 300
    assert attributes["x_axis"] is True
    assert attributes["y_axis"] is False  # 40 is under the y threshold
    assert attributes["magnitude_x"] == 300
    assert attributes["magnitude_y"] == 40
    # The simulator's default acceleration follows the magnitude (x * 8 / 4096 g), 1 g on Z.
    assert attributes["acceleration_x"] == pytest.approx(300 * 8 / 4096, abs=0.001)
    assert attributes["acceleration_z"] == pytest.approx(1.0)
    assert attributes["speed"] == 0
    assert toy.command_counts["get_power_state"] == queries


async def test_each_collision_fires_a_new_event(
    hass: HomeAssistant, toy: SimulatedBB8, sim_clock: SimClock
) -> None:
    assert toy.trigger_collision(x_magnitude=200)
    await wait_for(lambda: state_of(hass, COLLISION).state != STATE_UNKNOWN)
    first = state_of(hass, COLLISION).state

    sim_clock.advance(1.0)  # past the toy's dead time between two reports
    assert toy.trigger_collision(x_magnitude=0, y_magnitude=-450)
    await wait_for(lambda: state_of(hass, COLLISION).state != first)
    state = state_of(hass, COLLISION)
    assert state.attributes["intensity"] == 450
    assert state.attributes["x_axis"] is False
    assert state.attributes["y_axis"] is True
    assert state.attributes["magnitude_y"] == -450
