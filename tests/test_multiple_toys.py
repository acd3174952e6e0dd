"""Two BB-8s in one Home Assistant: two entries, two devices, nothing shared."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, STATE_OFF, STATE_ON, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bb8sim import SimClock, SimulatedBB8
from bb8sim.proxy import SimProxy
from custom_components.bb8.const import DOMAIN

from .conftest import SECOND_ADDRESS, make_entry, toy_is_set_up, wait_for

FIRST_LED = "light.bb_b54a_main_led"
SECOND_LED = "light.bb_c0de_main_led"
SECOND_COLLISION = "event.bb_c0de_collision"
FIRST_COLLISION = "event.bb_b54a_collision"


@pytest.fixture
def second_toy(proxy: SimProxy, sim_clock: SimClock) -> SimulatedBB8:
    """Another BB-8 next to the first, through the same proxy."""
    toy = SimulatedBB8(SECOND_ADDRESS, clock=sim_clock, seed=2)
    proxy.advertise(toy)
    return toy


@pytest.fixture
async def entries(
    hass: HomeAssistant, toy: SimulatedBB8, second_toy: SimulatedBB8
) -> tuple[MockConfigEntry, MockConfigEntry]:
    """Both toys set up, each its own entry, both connected and set up."""
    first, second = make_entry(toy), make_entry(second_toy)
    for entry in (first, second):
        entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(first.entry_id)
    if second.state is ConfigEntryState.NOT_LOADED:
        assert await hass.config_entries.async_setup(second.entry_id)
    await hass.async_block_till_done()
    await wait_for(toy_is_set_up(first, toy))
    await wait_for(toy_is_set_up(second, second_toy))
    return first, second


def _device_id(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert len(devices) == 1
    return devices[0].id


async def test_each_toy_is_its_own_device_and_link(
    hass: HomeAssistant,
    toy: SimulatedBB8,
    second_toy: SimulatedBB8,
    entries: tuple[MockConfigEntry, MockConfigEntry],
) -> None:
    first, second = entries
    assert first.runtime_data.session is not second.runtime_data.session
    assert _device_id(hass, first) != _device_id(hass, second)
    assert toy.connected
    assert second_toy.connected
    registry = dr.async_get(hass)
    for entry, sim in ((first, toy), (second, second_toy)):
        device = registry.async_get(_device_id(hass, entry))
        assert device is not None
        assert device.connections == {(dr.CONNECTION_BLUETOOTH, sim.address)}
        assert device.name == sim.name
        assert (device.manufacturer, device.model) == ("Sphero", "BB-8")
        assert device.sw_version == "4.69", "the firmware version the toy reported"
    for entity_id in (FIRST_LED, SECOND_LED):
        assert hass.states.get(entity_id) is not None, entity_id


async def test_light_command_reaches_only_its_toy(
    hass: HomeAssistant,
    toy: SimulatedBB8,
    second_toy: SimulatedBB8,
    entries: tuple[MockConfigEntry, MockConfigEntry],
) -> None:
    second_commands = len(second_toy.commands_received)
    await hass.services.async_call(
        "light", "turn_on", {ATTR_ENTITY_ID: FIRST_LED, "rgb_color": (255, 0, 0)}, blocking=True
    )
    assert toy.main_led == (255, 0, 0)
    assert second_toy.main_led == (0, 0, 0), "as set up: off"
    assert len(second_toy.commands_received) == second_commands
    state = hass.states.get(SECOND_LED)
    assert state is not None
    assert state.state == STATE_OFF


async def test_action_reaches_only_the_targeted_toy(
    hass: HomeAssistant,
    toy: SimulatedBB8,
    second_toy: SimulatedBB8,
    entries: tuple[MockConfigEntry, MockConfigEntry],
) -> None:
    _, second = entries
    await hass.services.async_call(
        DOMAIN, "roll", {"device_id": _device_id(hass, second), "heading": 90, "speed": 70}, blocking=True
    )
    assert second_toy.rolling
    assert not toy.rolling
    assert not any(record.kind == "roll" for record in toy.commands_received)


async def test_collision_of_one_toy_fires_only_its_event(
    hass: HomeAssistant,
    toy: SimulatedBB8,
    second_toy: SimulatedBB8,
    entries: tuple[MockConfigEntry, MockConfigEntry],
) -> None:
    assert second_toy.trigger_collision(x_magnitude=400)

    def _fired() -> bool:
        state = hass.states.get(SECOND_COLLISION)
        return state is not None and state.state != STATE_UNKNOWN

    await wait_for(_fired)
    state = hass.states.get(FIRST_COLLISION)
    assert state is not None
    assert state.state == STATE_UNKNOWN


async def test_unloading_one_toy_leaves_the_other_working(
    hass: HomeAssistant,
    toy: SimulatedBB8,
    second_toy: SimulatedBB8,
    entries: tuple[MockConfigEntry, MockConfigEntry],
) -> None:
    first, second = entries
    first_session = first.runtime_data.session
    assert await hass.config_entries.async_unload(first.entry_id)
    await hass.async_block_till_done()
    assert first_session.closed
    assert not second.runtime_data.session.closed
    assert not toy.connected
    assert second.state is ConfigEntryState.LOADED
    assert second_toy.connected

    await hass.services.async_call(
        "light", "turn_on", {ATTR_ENTITY_ID: SECOND_LED, "rgb_color": (0, 255, 0)}, blocking=True
    )
    assert second_toy.main_led == (0, 255, 0)
    state = hass.states.get(SECOND_LED)
    assert state is not None
    assert state.state == STATE_ON
    await hass.services.async_call(
        DOMAIN, "set_heading", {"device_id": _device_id(hass, second), "heading": 200}, blocking=True
    )
    assert second_toy.heading == 200
