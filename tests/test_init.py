"""Setting up, unloading and reloading a toy's entry against the simulator."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bb8sim import SimulatedBB8
from custom_components.bb8.sphero.session import SessionState

from .conftest import wait_for


async def test_setup_connects_and_hand_shakes(
    hass: HomeAssistant, toy: SimulatedBB8, setup_entry: MockConfigEntry
) -> None:
    session = setup_entry.runtime_data.session
    assert setup_entry.state is ConfigEntryState.LOADED
    assert session.state is SessionState.CONNECTED
    await wait_for(lambda: session.power_state is not None)
    assert toy.awake


async def test_unload_closes_the_session(
    hass: HomeAssistant, toy: SimulatedBB8, setup_entry: MockConfigEntry
) -> None:
    session = setup_entry.runtime_data.session
    assert await hass.config_entries.async_unload(setup_entry.entry_id)
    await hass.async_block_till_done()
    assert session.state is SessionState.CLOSED
    assert setup_entry.state is ConfigEntryState.NOT_LOADED
