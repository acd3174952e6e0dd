"""The battery poll's failure, in the words Home Assistant logs, for every kind of poll.

The coordinator's poll reads what the toy's model reports about its battery: a v1 toy's power
state (its state and voltage), a v2 toy's voltage, and the Mini's percentage or the BOLT's
charger state beside it. ``strings.json`` ``poll_failed`` says "Reading the battery failed:
{error}" for all of them, so no v2 toy is said to have a power state it never reported. Each toy
is set up through Home Assistant against the simulator, its poll is made to fail the way a real
one can (a v1 toy refuses the command; a v2 toy's answer to the poll's first command, the
voltage, is lost and the command times out), and the sentence is read from the coordinator's
error and from Home Assistant's log.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers.update_coordinator import UpdateFailed
import pytest

from bb8sim import SimClock, SimulatedBB8
from bb8sim.proxy import SimProxy
from custom_components.bb8.sphero.const import CoreCommand, DeviceId

from .conftest import TOY_ADDRESS, set_up_toy, toy_is_set_up, wait_for
from .esphome_support import NodePath
from .test_family_v2 import add_through_discovery, advertised

SENTENCE = "Reading the battery failed: "


@pytest.mark.parametrize("model", ["bb8", "r2d2", "mini", "bolt"])
async def test_a_failed_poll_says_reading_the_battery_failed_for_a_v1_and_a_v2_toy(
    hass: HomeAssistant,
    proxy: SimProxy | NodePath,
    sim_clock: SimClock,
    caplog: pytest.LogCaptureFixture,
    model: str,
) -> None:
    """strings.json: "Reading the battery failed: {error}" (``poll_failed``), v1 and v2 alike."""
    if model == "bb8":
        toy = SimulatedBB8(TOY_ADDRESS, clock=sim_clock, seed=1)
        proxy.advertise(toy)
        entry = await set_up_toy(hass, toy)
        await wait_for(toy_is_set_up(entry, toy))
        coordinator = entry.runtime_data
        with toy.refusing(DeviceId.CORE, CoreCommand.GET_POWER_STATE, 0x08):
            await coordinator.async_refresh()
        error = "get_power_state was rejected by the toy"
    else:
        v2toy = await advertised(hass, proxy, sim_clock, model)
        v2entry = await add_through_discovery(hass, v2toy)
        coordinator = v2entry.runtime_data
        coordinator.session.command_timeout = 0.2  # the session's public knob; 5 s in production
        v2toy.faults.drop_next_responses = 1  # the poll's first answer is lost on the air
        await coordinator.async_refresh()
        error = "got no answer within 0.2 s"

    assert not coordinator.last_update_success
    assert isinstance(coordinator.last_exception, UpdateFailed)
    shown = str(coordinator.last_exception)
    assert shown.startswith(SENTENCE), shown
    assert error in shown
    logged = [record.getMessage() for record in caplog.records if SENTENCE in record.getMessage()]
    assert logged, "Home Assistant logs the failed update"
    assert not any("power state" in message for message in logged)
