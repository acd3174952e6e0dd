"""Battery (estimate and voltage) and signal strength sensors, fed by the toy and its advertisements."""

from __future__ import annotations

from datetime import timedelta

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.const import ATTR_DEVICE_CLASS, ATTR_UNIT_OF_MEASUREMENT, PERCENTAGE, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from bb8sim import SimulatedBB8
from bb8sim.proxy import SimProxy
from custom_components.bb8.const import CONF_POLL_INTERVAL, OPTION_DEFAULTS, battery_percent_from_voltage

from .conftest import state_of, toy_is_set_up, wait_for

DEFAULT_POLL_INTERVAL = OPTION_DEFAULTS[CONF_POLL_INTERVAL]

BOTH_PROXY_PATHS = True  # run through the project's scanner and through the real esphome stack

BATTERY = "sensor.bb_b54a_battery_estimate"
VOLTAGE = "sensor.bb_b54a_battery_voltage"
RSSI = "sensor.bb_b54a_signal_strength"


def _power_queries(toy: SimulatedBB8) -> int:
    return toy.command_counts["get_power_state"]


async def _poll(hass: HomeAssistant, toy: SimulatedBB8) -> None:
    """Let the poll interval pass and wait until the toy answered the power state query."""
    queries = _power_queries(toy)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=DEFAULT_POLL_INTERVAL + 1))
    await wait_for(lambda: _power_queries(toy) > queries)
    await hass.async_block_till_done(wait_background_tasks=True)


def test_battery_estimate_is_a_straight_line_from_7_to_8_4_volts() -> None:
    # The documented mapping (const.py): 2S Li-ion, 7.0 V empty, 8.4 V full, clamped.
    assert battery_percent_from_voltage(7.0) == 0
    assert battery_percent_from_voltage(7.7) == 50
    assert battery_percent_from_voltage(8.4) == 100
    assert battery_percent_from_voltage(6.2) == 0
    assert battery_percent_from_voltage(9.0) == 100


@pytest.mark.usefixtures("ready_entry")
async def test_battery_sensors_show_what_the_toy_reported_at_connect(hass: HomeAssistant) -> None:
    # The simulated toy starts at 8.00 V: (8.0 - 7.0) / 1.4 = 71 %.
    assert state_of(hass, VOLTAGE).state == "8.0"
    assert state_of(hass, BATTERY).state == "71"
    battery = state_of(hass, BATTERY)
    assert battery.attributes[ATTR_UNIT_OF_MEASUREMENT] == PERCENTAGE
    assert battery.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.BATTERY
    voltage = state_of(hass, VOLTAGE)
    assert voltage.attributes[ATTR_UNIT_OF_MEASUREMENT] == "V"
    assert voltage.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.VOLTAGE
    registry = er.async_get(hass)
    voltage_entry = registry.async_get(VOLTAGE)
    assert voltage_entry is not None
    assert voltage_entry.entity_category is EntityCategory.DIAGNOSTIC


@pytest.mark.usefixtures("ready_entry")
async def test_poll_follows_the_battery_voltage(hass: HomeAssistant, toy: SimulatedBB8) -> None:
    for volts, percent in ((7.7, "50"), (7.35, "25"), (8.4, "100"), (6.5, "0")):
        toy.set_battery_voltage(volts)
        await _poll(hass, toy)
        assert float(state_of(hass, VOLTAGE).state) == pytest.approx(volts)
        assert state_of(hass, BATTERY).state == percent
        assert state_of(hass, BATTERY).state == str(battery_percent_from_voltage(volts))


async def test_failed_poll_keeps_the_last_values_and_the_entities_available(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    coordinator = ready_entry.runtime_data
    toy.faults.drop_next_responses = 1
    queries = _power_queries(toy)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=DEFAULT_POLL_INTERVAL + 1))
    await wait_for(lambda: _power_queries(toy) > queries)
    # The answer was lost: let the command's own timeout pass, and only that. A jump past the
    # proxy's own 30 s GATT timeout would also expire the query's write if its acknowledgement
    # is still on its way back from the node, and a failed write is a lost link.
    async_fire_time_changed(
        hass, dt_util.utcnow() + timedelta(seconds=coordinator.session.command_timeout + 1)
    )
    await wait_for(lambda: not coordinator.last_update_success)
    assert isinstance(coordinator.last_exception, Exception)
    assert coordinator.session.is_connected
    assert state_of(hass, VOLTAGE).state == "8.0"
    assert state_of(hass, BATTERY).state == "71"

    toy.set_battery_voltage(7.7)
    await _poll(hass, toy)
    assert coordinator.last_update_success
    assert state_of(hass, BATTERY).state == "50"


async def test_poll_does_not_connect_to_a_sleeping_toy(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    await hass.services.async_call("button", "press", {"entity_id": "button.bb_b54a_sleep"}, blocking=True)
    await wait_for(lambda: not ready_entry.runtime_data.session.is_connected)
    connects = toy.connect_count
    queries = _power_queries(toy)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=DEFAULT_POLL_INTERVAL + 1))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert toy.asleep
    assert toy.connect_count == connects
    assert _power_queries(toy) == queries
    assert ready_entry.runtime_data.last_update_success
    assert state_of(hass, VOLTAGE).state == "8.0", "the last reading stays while the toy sleeps"


@pytest.mark.usefixtures("ready_entry")
async def test_signal_strength_is_disabled_by_default(hass: HomeAssistant) -> None:
    entry = er.async_get(hass).async_get(RSSI)
    assert entry is not None
    assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert entry.entity_category is EntityCategory.DIAGNOSTIC
    assert hass.states.get(RSSI) is None


async def test_enabled_signal_strength_follows_advertisements(
    hass: HomeAssistant, proxy: SimProxy, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    er.async_get(hass).async_update_entity(RSSI, disabled_by=None)
    assert await hass.config_entries.async_reload(ready_entry.entry_id)
    await hass.async_block_till_done()
    await wait_for(toy_is_set_up(ready_entry, toy))
    assert state_of(hass, RSSI).state == "-60"
    rssi = state_of(hass, RSSI)
    assert rssi.attributes[ATTR_UNIT_OF_MEASUREMENT] == "dBm"
    assert rssi.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.SIGNAL_STRENGTH

    # The toy's advertisement never changes, so Home Assistant calls no callback for a new
    # signal strength alone: the next update of the toy's entities (here a poll) shows it.
    proxy.advertise(toy, rssi=-77)
    await _poll(hass, toy)
    assert state_of(hass, RSSI).state == "-77"
