"""Charging (pushed by the toy's power notifications) and connected (following the link)."""

from __future__ import annotations

from datetime import timedelta

from homeassistant.components.binary_sensor import BinarySensorDeviceClass
from homeassistant.const import ATTR_DEVICE_CLASS, STATE_OFF, STATE_ON, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from bb8sim import SimulatedBB8

from .conftest import state_of, toy_is_set_up, wait_for

BOTH_PROXY_PATHS = True  # run through the project's scanner and through the real esphome stack

CHARGING = "binary_sensor.bb_b54a_charging"
CONNECTED = "binary_sensor.bb_b54a_connected"

pytestmark = pytest.mark.usefixtures("ready_entry")


async def test_charging_starts_from_the_power_state_read_at_connect(hass: HomeAssistant) -> None:
    assert state_of(hass, CHARGING).state == STATE_OFF
    state = state_of(hass, CHARGING)
    assert state.attributes[ATTR_DEVICE_CLASS] == BinarySensorDeviceClass.BATTERY_CHARGING


async def test_charging_is_pushed_by_a_power_notification_without_a_poll(
    hass: HomeAssistant, toy: SimulatedBB8
) -> None:
    queries = toy.command_counts["get_power_state"]
    sent = toy.power_notifications_sent

    toy.set_charging(True)  # on the charger: the toy notifies the change by itself
    assert toy.power_notifications_sent == sent + 1
    await wait_for(lambda: state_of(hass, CHARGING).state == STATE_ON)

    toy.set_charging(False)
    await wait_for(lambda: state_of(hass, CHARGING).state == STATE_OFF)
    assert toy.command_counts["get_power_state"] == queries, "no poll was needed"


async def test_connected_follows_the_link(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    assert state_of(hass, CONNECTED).state == STATE_ON
    registry_entry = er.async_get(hass).async_get(CONNECTED)
    assert registry_entry is not None
    assert registry_entry.entity_category is EntityCategory.DIAGNOSTIC
    state = state_of(hass, CONNECTED)
    assert state.attributes[ATTR_DEVICE_CLASS] == BinarySensorDeviceClass.CONNECTIVITY

    toy.disconnect_now()
    await wait_for(lambda: state_of(hass, CONNECTED).state == STATE_OFF)

    # The reconnect policy's first delay passes: the link, and the sensor, come back.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=3))
    await wait_for(lambda: state_of(hass, CONNECTED).state == STATE_ON)
    await wait_for(toy_is_set_up(ready_entry, toy))
