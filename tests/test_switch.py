"""Stabilization as a switch, driven through Home Assistant's switch actions."""

from __future__ import annotations

from homeassistant.const import ATTR_ENTITY_ID, STATE_OFF, STATE_ON, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bb8sim import SimulatedBB8

from .conftest import state_of, toy_is_set_up, wait_for

BOTH_PROXY_PATHS = True  # run through the project's scanner and through the real esphome stack

STABILIZATION = "switch.bb_b54a_stabilization"

pytestmark = pytest.mark.usefixtures("ready_entry")


async def _switch(hass: HomeAssistant, action: str) -> None:
    await hass.services.async_call("switch", action, {ATTR_ENTITY_ID: STABILIZATION}, blocking=True)


async def test_stabilization_starts_on_like_the_toy(hass: HomeAssistant, toy: SimulatedBB8) -> None:
    state = state_of(hass, STABILIZATION)
    assert state.state == STATE_ON
    assert toy.stabilization
    entry = er.async_get(hass).async_get(STABILIZATION)
    assert entry is not None
    assert entry.entity_category is EntityCategory.CONFIG


async def test_turning_stabilization_off_and_on_reaches_the_toy(
    hass: HomeAssistant, toy: SimulatedBB8
) -> None:
    await _switch(hass, "turn_off")
    assert not toy.stabilization
    state = state_of(hass, STABILIZATION)
    assert state.state == STATE_OFF

    await _switch(hass, "turn_on")
    assert toy.stabilization
    state = state_of(hass, STABILIZATION)
    assert state.state == STATE_ON


async def test_stabilization_off_is_restored_after_the_toy_wakes(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    await _switch(hass, "turn_off")
    toy.sleep_now()  # sleep turns stabilization back on
    assert toy.stabilization
    await wait_for(lambda: not ready_entry.runtime_data.session.is_connected)
    await hass.services.async_call("button", "press", {ATTR_ENTITY_ID: "button.bb_b54a_wake"}, blocking=True)
    await wait_for(toy_is_set_up(ready_entry, toy))
    assert not toy.stabilization
    state = state_of(hass, STABILIZATION)
    assert state.state == STATE_OFF


@pytest.mark.usefixtures("unreachable_toy")
async def test_switch_on_an_unreachable_toy_raises_a_translated_error(hass: HomeAssistant) -> None:
    with pytest.raises(HomeAssistantError) as caught:
        await _switch(hass, "turn_off")
    assert caught.value.translation_key == "cannot_connect"
    with pytest.raises(HomeAssistantError) as caught:
        await _switch(hass, "turn_on")
    assert caught.value.translation_key == "cannot_connect"
