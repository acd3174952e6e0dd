"""Availability follows the link or recent advertisements; a long absence raises no repairs issue.

Home Assistant's Bluetooth stack declares a device gone when it has not advertised for a while
(checked every ``UNAVAILABLE_TRACK_SECONDS``). The tests move habluetooth's clock forward the
way Home Assistant core's own Bluetooth tests do, and fire the time-changed timers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
import logging
from unittest.mock import patch

from bluetooth_data_tools import monotonic_time_coarse
from habluetooth.const import UNAVAILABLE_TRACK_SECONDS
from homeassistant.components import bluetooth
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from bb8sim import SimClock, SimulatedBB8
from bb8sim.proxy import SimProxy
from custom_components.bb8.const import CONF_POLL_INTERVAL, DOMAIN

from .conftest import (
    SECOND_ADDRESS,
    TOY_ADDRESS,
    make_entry,
    make_unreachable,
    set_up_toy,
    state_of,
    toy_is_set_up,
    wait_for,
)
from .esphome_support import NodePath

BOTH_PROXY_PATHS = True  # run through the project's scanner and through the real esphome stack

LOGGER = "custom_components.bb8.coordinator"
GONE = "is unavailable"
BACK = "is available again"

# Entities that follow availability, and the one that stays available to show the link is down.
FOLLOWING = (
    "light.bb_b54a_main_led",
    "light.bb_b54a_tail_light",
    "switch.bb_b54a_stabilization",
    "button.bb_b54a_stop",
    "sensor.bb_b54a_battery_estimate",
    "binary_sensor.bb_b54a_charging",
    "event.bb_b54a_collision",
)
CONNECTED = "binary_sensor.bb_b54a_connected"


@pytest.fixture
async def entry(hass: HomeAssistant, toy: SimulatedBB8, caplog: pytest.LogCaptureFixture) -> MockConfigEntry:
    """The toy set up and connected; polls rare enough that no fired timer starts one mid-test."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    config_entry = await set_up_toy(hass, toy, **{CONF_POLL_INTERVAL: 3600})
    await wait_for(toy_is_set_up(config_entry, toy))
    return config_entry


def bluetooth_forgets_the_toy(
    hass: HomeAssistant, proxy: SimProxy | NodePath | None = None, toy: SimulatedBB8 | None = None
) -> None:
    """Let habluetooth's unavailability check find no advertisement for longer than it allows.

    With the node as ``proxy``, ``toy`` first leaves its range: the node re-advertises every toy
    it hears on a timer, and the time fired here would run that timer too.
    """
    if isinstance(proxy, NodePath) and toy is not None:
        proxy.stop_hearing(toy)
    later = monotonic_time_coarse() + UNAVAILABLE_TRACK_SECONDS
    with (
        patch("habluetooth.base_scanner.monotonic_time_coarse", return_value=later),
        patch("habluetooth.manager.monotonic_time_coarse", return_value=later),
    ):
        # Twice: the proxy's own expiry and the manager's check must both have run, in this order.
        for _ in range(2):
            async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=UNAVAILABLE_TRACK_SECONDS))
    assert not bluetooth.async_address_present(hass, TOY_ADDRESS, connectable=True)


async def drop_the_link(hass: HomeAssistant, toy: SimulatedBB8, entry: MockConfigEntry) -> None:
    """The toy goes out of reach (the link drops, reconnects fail) and the entities show it."""
    await make_unreachable(entry, toy)
    await hass.async_block_till_done()


async def let_time_pass_until(hass: HomeAssistant, predicate: Callable[[], bool]) -> None:
    """Fire every timer of the next half minute, again and again, until ``predicate()`` holds.

    Reconnects wait twice: the session's policy between connects, and bleak-retry-connector's
    own backoff between the attempts inside one connect.
    """
    for _ in range(50):
        if predicate():
            return
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=30))
        await asyncio.sleep(0.02)
    pytest.fail("condition not met while time passed")


def messages(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(1 for record in caplog.records if record.name == LOGGER and text in record.getMessage())


async def test_linked_toy_stays_available_after_bluetooth_calls_it_gone(
    hass: HomeAssistant, entry: MockConfigEntry, caplog: pytest.LogCaptureFixture
) -> None:
    bluetooth_forgets_the_toy(hass)
    await hass.async_block_till_done()
    assert entry.runtime_data.session.is_connected
    for entity_id in FOLLOWING:
        assert state_of(hass, entity_id).state != STATE_UNAVAILABLE, entity_id
    assert state_of(hass, CONNECTED).state == STATE_ON
    assert messages(caplog, GONE) == 0


async def test_toy_that_still_advertises_stays_available_without_a_link(
    hass: HomeAssistant, toy: SimulatedBB8, entry: MockConfigEntry, caplog: pytest.LogCaptureFixture
) -> None:
    await drop_the_link(hass, toy, entry)
    for entity_id in FOLLOWING:
        assert state_of(hass, entity_id).state != STATE_UNAVAILABLE, entity_id
    assert state_of(hass, CONNECTED).state == STATE_OFF
    assert messages(caplog, GONE) == 0


async def test_without_link_or_advertisements_entities_go_unavailable_and_come_back(
    hass: HomeAssistant,
    proxy: SimProxy,
    toy: SimulatedBB8,
    entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bluetooth_forgets_the_toy(hass, proxy, toy)
    await drop_the_link(hass, toy, entry)
    for entity_id in FOLLOWING:
        assert state_of(hass, entity_id).state == STATE_UNAVAILABLE, entity_id
    assert state_of(hass, CONNECTED).state == STATE_OFF, "the connected sensor stays to show the link is down"

    # Minutes pass with nobody hearing it (no reconnect is tried meanwhile): still logged once.
    for _ in range(4):
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=30))
        await asyncio.sleep(0.02)
    await hass.async_block_till_done()
    assert messages(caplog, GONE) == 1
    assert messages(caplog, BACK) == 0

    # The toy is heard again: available at once (before any reconnect), logged once.
    proxy.advertise(toy)
    await wait_for(lambda: bluetooth.async_address_present(hass, TOY_ADDRESS, connectable=True))
    await hass.async_block_till_done()
    for entity_id in FOLLOWING:
        assert state_of(hass, entity_id).state != STATE_UNAVAILABLE, entity_id
    assert messages(caplog, BACK) == 1

    # Reachable again. A reconnect may be under way, refused before this line and waiting out
    # bleak-retry-connector's backoff (through the node a refused connect is a transient
    # 0x3E, retried): time passes until the link is back.
    toy.faults.refuse_connect = False
    await let_time_pass_until(hass, lambda: entry.runtime_data.session.is_connected)
    await wait_for(toy_is_set_up(entry, toy))
    await hass.async_block_till_done()
    assert state_of(hass, CONNECTED).state == STATE_ON
    assert messages(caplog, GONE) == 1
    assert messages(caplog, BACK) == 1


async def test_a_toy_heard_again_after_being_gone_reconnects_at_once_not_after_its_grown_wait(
    hass: HomeAssistant, proxy: SimProxy, toy: SimulatedBB8, entry: MockConfigEntry
) -> None:
    """README: "When Home Assistant hears the toy again after calling it gone ..., it reconnects at once"."""
    await drop_the_link(hass, toy, entry)
    session = entry.runtime_data.session
    # Heard but refusing for a while: the waits between reconnects grow (2, 4, 8, 16 s ...).
    await let_time_pass_until(hass, lambda: session.counters.reconnect_attempts >= 5)
    assert session.diagnostics()["backoff_attempts"] >= 5
    bluetooth_forgets_the_toy(hass, proxy, toy)  # then the proxy goes away: nobody hears the toy
    await hass.async_block_till_done()
    toy.faults.refuse_connect = False
    connects = toy.connect_count

    # The proxy is back and hears the toy: no time passes, yet it is connected and set up again.
    proxy.advertise(toy)
    await wait_for(lambda: bluetooth.async_address_present(hass, TOY_ADDRESS, connectable=True))
    await hass.async_block_till_done()
    await wait_for(toy_is_set_up(entry, toy))
    assert toy.connect_count == connects + 1
    assert state_of(hass, CONNECTED).state == STATE_ON


@pytest.mark.scanner_path_only(
    "a day of fired timers with no time passing also fires aioesphomeapi's ping and connect "
    "timeouts before the node can answer: the esphome entry would be told its node went away"
)
async def test_a_toy_asleep_all_day_raises_no_repair_issue_its_availability_shows_it(
    hass: HomeAssistant, proxy: SimProxy, toy: SimulatedBB8, entry: MockConfigEntry
) -> None:
    """A BB-8 sleeps most of the day out of sight: nothing for a person to repair."""
    bluetooth_forgets_the_toy(hass, proxy, toy)
    await drop_the_link(hass, toy, entry)
    for hours in range(1, 25):
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(hours=hours))
        await hass.async_block_till_done()
    issues = [key for key in ir.async_get(hass).issues if key[0] == DOMAIN]
    assert issues == []
    for entity_id in FOLLOWING:
        assert state_of(hass, entity_id).state == STATE_UNAVAILABLE, entity_id
    assert state_of(hass, CONNECTED).state == STATE_OFF

    proxy.advertise(toy)
    await wait_for(lambda: bluetooth.async_address_present(hass, TOY_ADDRESS, connectable=True))
    await hass.async_block_till_done()
    for entity_id in FOLLOWING:
        assert state_of(hass, entity_id).state != STATE_UNAVAILABLE, entity_id


async def test_toy_out_of_range_at_setup_is_retried_and_set_up_when_seen(
    hass: HomeAssistant, proxy: SimProxy, sim_clock: SimClock
) -> None:
    absent = SimulatedBB8(SECOND_ADDRESS, clock=sim_clock, seed=4)
    entry = make_entry(absent)
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason is not None
    assert "is not in Bluetooth range" in entry.reason, "a sentence a person can act on"
    assert absent.connect_count == 0

    # Home Assistant's Bluetooth discovery of the configured toy retries the setup at once.
    proxy.advertise(absent)
    await hass.async_block_till_done(wait_background_tasks=True)
    await wait_for(lambda: entry.state is ConfigEntryState.LOADED)
    await wait_for(toy_is_set_up(entry, absent))


async def test_renaming_the_entry_keeps_the_link(
    hass: HomeAssistant, toy: SimulatedBB8, entry: MockConfigEntry
) -> None:
    session = entry.runtime_data.session
    connects = toy.connect_count
    hass.config_entries.async_update_entry(entry, title="Kitchen BB-8")
    await hass.async_block_till_done()
    assert entry.runtime_data.session is session, "only an options change reloads"
    assert session.is_connected
    assert toy.connect_count == connects
