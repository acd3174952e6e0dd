"""Lights and stabilization across restarts: restored as the wish, applied on connect, never unknown.

The toy cannot be asked its colour or stabilization, and forgets them when it sleeps or is
switched off. So Home Assistant keeps each entity's last state (RestoreEntity), the session
applies it when it connects, and a toy Home Assistant has never set gets a defined state
written on its first connect (main LED off, tail light off, stabilization on), so that what the
entities show and what the toy shows always agree.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from homeassistant.components.light import ATTR_BRIGHTNESS, ATTR_RGB_COLOR
from homeassistant.const import ATTR_ENTITY_ID, STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant, State
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_mock_restore_state_shutdown_restart,
    mock_restore_cache_with_extra_data,
)

from bb8sim import SimulatedBB8
from custom_components.bb8.const import CONF_CONNECTION_MODE, MODE_ON_DEMAND
from custom_components.bb8.sphero.session import BB8Session, ConnectionMode, SessionState

from .conftest import (
    connected_session,
    light_colour,
    set_up_toy,
    setup_finished,
    state_of,
    toy_is_set_up,
    wait_for,
)

MAIN_LED = "light.bb_b54a_main_led"
TAIL_LIGHT = "light.bb_b54a_tail_light"
STABILIZATION = "switch.bb_b54a_stabilization"


async def set_up(hass: HomeAssistant, toy: SimulatedBB8, **options: Any) -> MockConfigEntry:
    """Set the toy up; in always-connected mode, wait until its after-connect setup is done."""
    entry = await set_up_toy(hass, toy, **options)
    if not options:
        await wait_for(toy_is_set_up(entry, toy))
    return entry


@pytest.fixture
def restored_before_restart(hass: HomeAssistant) -> None:
    """What Home Assistant kept of the three entities when it last stopped.

    The states themselves were "unavailable" (the toy was asleep when Home Assistant stopped):
    the wishes live in the entities' extra restore data, which does not depend on availability.
    """
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(MAIN_LED, STATE_UNAVAILABLE),
                {"is_on": True, "rgb_color": [255, 128, 0], "brightness": 128},
            ),
            (State(TAIL_LIGHT, STATE_UNAVAILABLE), {"is_on": True, "brightness": 90}),
            (State(STABILIZATION, STATE_UNAVAILABLE), {"is_on": False}),
        ],
    )


async def test_a_toy_never_set_gets_the_defaults_written_on_first_connect_so_nothing_is_unknown(
    hass: HomeAssistant, toy: SimulatedBB8
) -> None:
    """Main LED off, tail light off, stabilization on: written to the toy, shown by the entities."""
    assert toy.main_led == (255, 255, 255), "the simulated toy powers on lit"
    entry = await set_up(hass, toy)
    assert entry.runtime_data.session.is_connected
    assert toy.main_led == (0, 0, 0)
    assert toy.back_led == 0
    assert toy.stabilization
    kinds = [record.kind for record in toy.commands_this_link]
    assert {"set_main_led", "set_back_led", "set_stabilization"} <= set(kinds), "written, not assumed"
    assert state_of(hass, MAIN_LED).state == STATE_OFF
    assert state_of(hass, TAIL_LIGHT).state == STATE_OFF
    assert state_of(hass, STABILIZATION).state == STATE_ON


@pytest.mark.usefixtures("restored_before_restart")
async def test_after_a_restart_the_last_states_are_the_wishes_applied_on_connect(
    hass: HomeAssistant, toy: SimulatedBB8
) -> None:
    await set_up(hass, toy)
    assert toy.main_led == (128, 64, 0), "rgb x brightness/255"
    assert toy.back_led == 90
    assert not toy.stabilization
    assert state_of(hass, MAIN_LED).state == STATE_ON
    assert light_colour(hass, MAIN_LED) == ((255, 128, 0), 128)
    tail = state_of(hass, TAIL_LIGHT)
    assert tail.state == STATE_ON
    assert tail.attributes[ATTR_BRIGHTNESS] == 90
    assert state_of(hass, STABILIZATION).state == STATE_OFF


@pytest.mark.usefixtures("restored_before_restart")
async def test_restoring_an_on_demand_toy_does_not_connect_and_applies_at_first_use(
    hass: HomeAssistant, toy: SimulatedBB8
) -> None:
    entry = await set_up(hass, toy, **{CONF_CONNECTION_MODE: MODE_ON_DEMAND})
    assert not toy.connected, "restoring is not use: a sleeping toy is not woken for it"
    assert state_of(hass, MAIN_LED).state == STATE_ON
    assert state_of(hass, STABILIZATION).state == STATE_OFF

    await hass.services.async_call("button", "press", {ATTR_ENTITY_ID: "button.bb_b54a_stop"}, blocking=True)
    await wait_for(toy_is_set_up(entry, toy))
    assert toy.main_led == (128, 64, 0)
    assert toy.back_led == 90
    assert not toy.stabilization


async def test_a_light_restored_off_keeps_its_colour_for_the_next_turn_on(
    hass: HomeAssistant, toy: SimulatedBB8
) -> None:
    mock_restore_cache_with_extra_data(
        hass, [(State(MAIN_LED, STATE_OFF), {"is_on": False, "rgb_color": [0, 0, 255], "brightness": 100})]
    )
    await set_up(hass, toy)
    assert toy.main_led == (0, 0, 0)
    assert state_of(hass, MAIN_LED).state == STATE_OFF
    await hass.services.async_call("light", "turn_on", {ATTR_ENTITY_ID: MAIN_LED}, blocking=True)
    assert toy.main_led == (0, 0, 100)


async def test_wishes_survive_home_assistant_saving_and_loading_its_restore_state(
    hass: HomeAssistant, hass_storage: dict[str, Any], toy: SimulatedBB8
) -> None:
    """The whole round trip: the entities' own saved data, through storage, onto a toy that forgot."""
    entry = await set_up(hass, toy)
    await hass.services.async_call(
        "light",
        "turn_on",
        {ATTR_ENTITY_ID: MAIN_LED, ATTR_RGB_COLOR: (0, 255, 0), ATTR_BRIGHTNESS: 51},
        blocking=True,
    )
    await hass.services.async_call(
        "light", "turn_on", {ATTR_ENTITY_ID: TAIL_LIGHT, ATTR_BRIGHTNESS: 7}, blocking=True
    )
    await hass.services.async_call("switch", "turn_off", {ATTR_ENTITY_ID: STABILIZATION}, blocking=True)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    await async_mock_restore_state_shutdown_restart(hass)

    toy.sleep_now()  # the toy forgets everything
    assert (toy.main_led, toy.back_led, toy.stabilization) == ((255, 255, 255), 0, True)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await wait_for(toy_is_set_up(entry, toy))
    assert toy.main_led == (0, 51, 0)
    assert toy.back_led == 7
    assert not toy.stabilization
    assert light_colour(hass, MAIN_LED) == ((0, 255, 0), 51)


async def test_kept_data_that_cannot_be_used_gives_the_defaults_not_unknown(
    hass: HomeAssistant, toy: SimulatedBB8
) -> None:
    mock_restore_cache_with_extra_data(
        hass,
        [
            (State(MAIN_LED, STATE_ON), {"is_on": True, "rgb_color": [300, 0, 0], "brightness": 255}),
            (State(TAIL_LIGHT, STATE_ON), {"brightness": 90}),
            (State(STABILIZATION, STATE_OFF), {"is_on": "off"}),
        ],
    )
    await set_up(hass, toy)
    assert (toy.main_led, toy.back_led, toy.stabilization) == ((0, 0, 0), 0, True)
    assert state_of(hass, MAIN_LED).state == STATE_OFF
    assert state_of(hass, TAIL_LIGHT).state == STATE_OFF
    assert state_of(hass, STABILIZATION).state == STATE_ON


# ---------------------------------------------------------------------------------------------
# The session alone: what restoring a wish does to the link.
# ---------------------------------------------------------------------------------------------


async def test_a_restored_wish_goes_out_over_a_link_that_is_up_and_a_newer_wish_wins(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    session = await connected_session(make_session, mode=ConnectionMode.ON_DEMAND)
    session.restore_setting("tail_light", 33)
    await wait_for(lambda: bare_toy.back_led == 33)

    await session.set_main_led(1, 2, 3)
    session.restore_setting("main_led", (9, 9, 9))
    assert session.toy.requested.main_led == (1, 2, 3), "a wish made in this run wins"
    await wait_for(lambda: session.pending_commands == 0)
    assert bare_toy.main_led == (1, 2, 3)


async def test_a_restored_wish_never_connects_and_is_applied_by_the_next_connect(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    session = make_session(mode=ConnectionMode.ON_DEMAND)
    session.restore_setting("stabilization", False)
    await asyncio.sleep(0.05)
    assert not bare_toy.connected
    assert session.state is SessionState.DISCONNECTED
    await session.connect()
    await wait_for(setup_finished(session))
    assert not bare_toy.stabilization
