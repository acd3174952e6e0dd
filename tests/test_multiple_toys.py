"""Two BB-8s in one Home Assistant: two entries, two devices, nothing shared."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, STATE_OFF, STATE_ON, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bb8sim import SimulatedBB8
from custom_components.bb8.const import DOMAIN

from .conftest import device_id_of, state_of, wait_for

BOTH_PROXY_PATHS = True  # run through the project's scanner and through the real esphome stack

FIRST_LED = "light.bb_b54a_main_led"
SECOND_LED = "light.bb_c0de_main_led"
SECOND_COLLISION = "event.bb_c0de_collision"
FIRST_COLLISION = "event.bb_b54a_collision"


@dataclass
class TwoToys:
    """Both toys and their entries, each set up and connected."""

    toy: SimulatedBB8
    second_toy: SimulatedBB8
    first: MockConfigEntry
    second: MockConfigEntry


@pytest.fixture
def both(
    toy: SimulatedBB8, second_toy: SimulatedBB8, two_entries: tuple[MockConfigEntry, MockConfigEntry]
) -> TwoToys:
    """The two set-up toys of ``two_entries``, with their entries."""
    return TwoToys(toy, second_toy, *two_entries)


async def test_each_toy_is_its_own_device_and_link(hass: HomeAssistant, both: TwoToys) -> None:
    assert both.first.runtime_data.session is not both.second.runtime_data.session
    assert device_id_of(hass, both.first) != device_id_of(hass, both.second)
    assert both.toy.connected
    assert both.second_toy.connected
    registry = dr.async_get(hass)
    for entry, sim in ((both.first, both.toy), (both.second, both.second_toy)):
        device = registry.async_get(device_id_of(hass, entry))
        assert device is not None
        assert device.connections == {(dr.CONNECTION_BLUETOOTH, sim.address)}
        assert device.name == sim.name
        assert (device.manufacturer, device.model) == ("Sphero", "BB-8")
        assert device.sw_version == "4.69", "the firmware version the toy reported"
    for entity_id in (FIRST_LED, SECOND_LED):
        state_of(hass, entity_id)


async def test_light_command_reaches_only_its_toy(hass: HomeAssistant, both: TwoToys) -> None:
    second_commands = len(both.second_toy.commands_received)
    await hass.services.async_call(
        "light", "turn_on", {ATTR_ENTITY_ID: FIRST_LED, "rgb_color": (255, 0, 0)}, blocking=True
    )
    assert both.toy.main_led == (255, 0, 0)
    assert both.second_toy.main_led == (0, 0, 0), "as set up: off"
    assert len(both.second_toy.commands_received) == second_commands
    assert state_of(hass, SECOND_LED).state == STATE_OFF


async def test_action_reaches_only_the_targeted_toy(hass: HomeAssistant, both: TwoToys) -> None:
    await hass.services.async_call(
        DOMAIN,
        "roll",
        {"device_id": device_id_of(hass, both.second), "heading": 90, "speed": 70},
        blocking=True,
    )
    assert both.second_toy.rolling
    assert not both.toy.rolling
    assert not any(record.kind == "roll" for record in both.toy.commands_received)


async def test_collision_of_one_toy_fires_only_its_event(hass: HomeAssistant, both: TwoToys) -> None:
    assert both.second_toy.trigger_collision(x_magnitude=400)

    def _fired() -> bool:
        state = hass.states.get(SECOND_COLLISION)
        return state is not None and state.state != STATE_UNKNOWN

    await wait_for(_fired)
    assert state_of(hass, FIRST_COLLISION).state == STATE_UNKNOWN


async def test_unloading_one_toy_leaves_the_other_working(hass: HomeAssistant, both: TwoToys) -> None:
    first_session = both.first.runtime_data.session
    assert await hass.config_entries.async_unload(both.first.entry_id)
    await hass.async_block_till_done()
    assert first_session.closed
    assert not both.second.runtime_data.session.closed
    assert not both.toy.connected
    assert both.second.state is ConfigEntryState.LOADED
    assert both.second_toy.connected

    await hass.services.async_call(
        "light", "turn_on", {ATTR_ENTITY_ID: SECOND_LED, "rgb_color": (0, 255, 0)}, blocking=True
    )
    assert both.second_toy.main_led == (0, 255, 0)
    assert state_of(hass, SECOND_LED).state == STATE_ON
    await hass.services.async_call(
        DOMAIN, "set_heading", {"device_id": device_id_of(hass, both.second), "heading": 200}, blocking=True
    )
    assert both.second_toy.heading == 200
