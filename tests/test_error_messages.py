"""Errors a person reads say what they can do: the words on the set-up form and in a failed action.

Each sentence here is read as Home Assistant shows it: a config flow error is looked up in the
integration's translations the way the frontend renders the form; a failed action's message is
the ``HomeAssistantError`` Home Assistant raises to the caller (a script, the dashboard, the
action's developer tool), translated.
"""

from __future__ import annotations

import re

from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_ADDRESS
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.translation import async_get_translations
import pytest

from bb8sim import ConnectFailure, SimulatedBB8
from custom_components.bb8.const import CONF_CONNECTION_MODE, DOMAIN, MODE_ON_DEMAND
from custom_components.bb8.sphero.const import DeviceId, SpheroCommand

from .conftest import TOY_ADDRESS, LoopClock, device_id_of, set_up_toy

WAKE_CLOSER_NO_APP = (
    "Wake it",
    "bring it closer to a Bluetooth adapter or ESPHome Bluetooth proxy",
    "close the Sphero app",
)


async def form_error(hass: HomeAssistant, loop_clock: LoopClock) -> str:
    """Pick the toy in the user step (it refuses to connect); return the form's error as shown.

    bleak-retry-connector waits between its attempts (seconds when a proxy is out of slots):
    simulated time lets those waits pass.
    """
    form = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    submit = hass.async_create_task(
        hass.config_entries.flow.async_configure(form["flow_id"], {CONF_ADDRESS: TOY_ADDRESS})
    )
    await loop_clock.advance_until(submit.done, limit=120)
    result = submit.result()
    assert result["type"] is FlowResultType.FORM
    assert not hass.config_entries.async_entries(DOMAIN), "nothing is created"
    hass.config_entries.flow.async_abort(result["flow_id"])
    translations = await async_get_translations(hass, "en", "config", [DOMAIN])
    return translations[f"component.{DOMAIN}.config.error.{result['errors']['base']}"]


def address_forms(toy: SimulatedBB8) -> list[str]:
    pairs = toy.address.split(":")
    return [separator.join(pairs).lower() for separator in (":", "-", "_", "")]


async def test_a_toy_that_does_not_connect_at_set_up_asks_to_wake_it_bring_it_closer_and_close_the_sphero_app(
    hass: HomeAssistant, toy: SimulatedBB8, loop_clock: LoopClock
) -> None:
    toy.faults.refuse_connect = True
    shown = await form_error(hass, loop_clock)
    for advice in WAKE_CLOSER_NO_APP:
        assert advice in shown, advice


async def test_a_proxy_without_a_free_slot_at_set_up_asks_to_check_and_free_its_slots(
    hass: HomeAssistant, toy: SimulatedBB8, loop_clock: LoopClock
) -> None:
    toy.faults.refuse_connect = True
    toy.faults.connect_failure = ConnectFailure.OUT_OF_SLOTS
    shown = await form_error(hass, loop_clock)
    assert "has no free connection slot" in shown
    assert "Check its free slots, free one or add a proxy near the toy" in shown


async def test_an_action_that_cannot_connect_says_what_to_do_and_never_shows_the_address(
    hass: HomeAssistant, toy: SimulatedBB8
) -> None:
    entry = await set_up_toy(hass, toy, **{CONF_CONNECTION_MODE: MODE_ON_DEMAND})
    toy.faults.refuse_connect = True
    with pytest.raises(HomeAssistantError) as caught:
        await hass.services.async_call(
            DOMAIN, "roll", {"device_id": device_id_of(hass, entry), "heading": 0, "speed": 50}, blocking=True
        )
    shown = str(caught.value)
    assert shown.startswith(f"Could not connect to {toy.name}.")
    for advice in WAKE_CLOSER_NO_APP:
        assert advice in shown, advice
    assert "Failed to connect" not in shown, "the library's text is for the log, not for a person"
    for form in address_forms(toy):
        assert form not in shown.lower(), form


REFUSALS = {
    # The toy's code: what the message says it means, and what it says to try.
    "failed to execute": (
        0x08,
        "(error code 0x08: it cannot carry it out right now)",
        "Take it off its charger if it is on it, wake it and try again",
    ),
    "non-specific": (0x01, "(error code 0x01: it cannot carry it out right now)", "wake it and try again"),
    "checksum": (
        0x02,
        "received the set_heading command incomplete or garbled (error code 0x02)",
        "Try again",
    ),
    "message timeout": (
        0x35,
        "received the set_heading command incomplete or garbled (error code 0x35)",
        "Try again",
    ),
    "invalid parameter": (
        0x07,
        "does not accept the set_heading command as sent (error code 0x07: its firmware does not know",
        "Trying again will not help: please report it",
    ),
    "unknown command": (
        0x04,
        "does not accept the set_heading command as sent (error code 0x04",
        "report it",
    ),
    "voltage too low": (
        0x31,
        "refused the set_heading command because its battery voltage is too low (error code 0x31)",
        "Put it on its charger",
    ),
}


@pytest.mark.parametrize(("meaning", "advice"), [(m, a) for _, m, a in REFUSALS.values()], ids=list(REFUSALS))
async def test_a_refused_command_says_what_the_toys_code_means_and_what_to_try(
    hass: HomeAssistant, toy: SimulatedBB8, device_id: str, meaning: str, advice: str
) -> None:
    code = next(code for code, m, _ in REFUSALS.values() if m == meaning)
    with (
        toy.refusing(DeviceId.SPHERO, SpheroCommand.SET_HEADING, code),
        pytest.raises(HomeAssistantError) as caught,
    ):
        await hass.services.async_call(
            DOMAIN, "set_heading", {"device_id": device_id, "heading": 90}, blocking=True
        )
    shown = str(caught.value)
    assert shown.startswith(toy.name), shown
    assert meaning in shown
    assert advice in shown
    assert not re.search(r"\{[a-z_]+\}", shown), "every placeholder is filled"
