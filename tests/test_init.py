"""Setting up, unloading and reloading a toy's entry against the simulator."""

from __future__ import annotations

import logging
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bb8sim import SimulatedBB8
from bb8sim.proxy import SimProxy
from custom_components.bb8.sphero.session import SessionState

from .conftest import LoopClock, make_entry, wait_for


async def test_setup_connects_and_hand_shakes(
    hass: HomeAssistant, toy: SimulatedBB8, setup_entry: MockConfigEntry
) -> None:
    session = setup_entry.runtime_data.session
    assert setup_entry.state is ConfigEntryState.LOADED
    assert session.state is SessionState.CONNECTED
    await wait_for(lambda: session.toy.power_state is not None)
    assert toy.awake


async def test_unload_closes_the_session(
    hass: HomeAssistant, toy: SimulatedBB8, setup_entry: MockConfigEntry
) -> None:
    session = setup_entry.runtime_data.session
    assert await hass.config_entries.async_unload(setup_entry.entry_id)
    await hass.async_block_till_done()
    assert session.state is SessionState.CLOSED
    assert setup_entry.state is ConfigEntryState.NOT_LOADED


@pytest.mark.parametrize(
    "failure",
    [ConfigEntryNotReady("simulated: a platform is not ready"), RuntimeError("simulated platform bug")],
    ids=["not_ready", "unexpected_error"],
)
async def test_a_setup_that_fails_after_the_session_started_leaves_nothing_running(
    hass: HomeAssistant, toy: SimulatedBB8, proxy: SimProxy, loop_clock: LoopClock, failure: Exception
) -> None:
    """Nothing of the session (link, tasks, timers) outlives a failed set-up."""
    entry = make_entry(toy)
    entry.add_to_hass(hass)
    with patch.object(hass.config_entries, "async_forward_entry_setups", side_effect=failure):
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state in (ConfigEntryState.SETUP_RETRY, ConfigEntryState.SETUP_ERROR)
        await loop_clock.advance(3)  # longer than any reconnect wait of a session left behind
        assert not toy.connected
        assert proxy.slots_in_use == 0
        assert toy.connect_count <= 1, "the link made before the failure is not re-made"
    # Removing the entry calls off Home Assistant's own retry timer (not the integration's).
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()


@pytest.mark.parametrize("closed_by", ["unload", "home_assistant_stop"])
async def test_a_poll_racing_a_close_logs_nothing_above_debug(
    hass: HomeAssistant,
    closed_by: str,
    toy: SimulatedBB8,
    ready_entry: MockConfigEntry,
    loop_clock: LoopClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Closing while a battery poll waits for its answer is quiet."""
    caplog.set_level(logging.DEBUG)
    toy.faults.drop_next_responses = 1  # the poll's answer never comes
    polls = toy.command_counts["get_power_state"]
    await loop_clock.advance_until(lambda: toy.command_counts["get_power_state"] > polls, limit=70)
    caplog.clear()

    if closed_by == "unload":
        assert await hass.config_entries.async_unload(ready_entry.entry_id)
    else:
        hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    await loop_clock.advance(10)  # past the poll's command timeout
    assert not toy.connected
    loud = [
        f"{record.levelname} {record.name}: {record.getMessage()}"
        for record in caplog.records
        if record.levelno > logging.DEBUG
    ]
    assert not loud
