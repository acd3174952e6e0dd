"""A simulated week through Home Assistant: sleep cycles, node reboots, restarts (soak.week).

The week runs on the real proxy stack: two simulated ESPHome nodes on 127.0.0.1, each added
through Home Assistant's own esphome config flow, the toys behind them. The suite runs a small week (``BB8_WEEK_TOYS`` toys, default 3; ``BB8_WEEK_DAYS`` days,
default 2: each restart, reboot and use of the timetable happens at least once, in both
connection modes); ``scripts/soak`` runs the big one and writes the report
(``BB8_WEEK_REPORT``) that becomes docs/reliability.md's table.
"""

from __future__ import annotations

import os
from pathlib import Path

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
import pytest

from bb8sim import SimClock
from custom_components.bb8.const import DOMAIN
from soak.week import WeekConfig, WeekReport, run_week
from soak.world import simulated_world

from .conftest import LoopClock, make_entry
from .loaded_machine import LoadedMachine

WEEK_TOYS = int(os.environ.get("BB8_WEEK_TOYS", "3"))
WEEK_DAYS = int(os.environ.get("BB8_WEEK_DAYS", "2"))
WEEK_SEED = int(os.environ.get("BB8_WEEK_SEED", "7"))
WEEK_REPORT = os.environ.get("BB8_WEEK_REPORT")

pytestmark = pytest.mark.usefixtures("enable_bluetooth", "socket_enabled", "mock_async_zeroconf")
"""The nodes listen on 127.0.0.1 (sockets allowed); the esphome integration finds no mDNS here."""


async def run_the_week(
    hass: HomeAssistant, sim_clock: SimClock, loop_clock: LoopClock, config: WeekConfig
) -> WeekReport:
    """Run ``config``'s week in simulated time, leaving nothing loaded behind even if it fails."""
    with simulated_world(loop_clock):
        try:
            return await run_week(
                hass,
                clock=loop_clock,
                sim_clock=sim_clock,
                config=config,
                make_entry=lambda toy, options: make_entry(toy, **options),
            )
        finally:
            # Still in simulated time: a week that failed half-way leaves no entry loaded, so
            # Home Assistant's shutdown does not wait, in real time, for timers hours ahead
            # (run_week unloads its own entries and stops its nodes; this is the second net).
            if hass.services.has_service("automation", "turn_off"):
                await hass.services.async_call(
                    "automation", "turn_off", {ATTR_ENTITY_ID: "all"}, blocking=True
                )
            for entry in hass.config_entries.async_entries():
                if entry.domain in (DOMAIN, "esphome") and entry.state is ConfigEntryState.LOADED:
                    await hass.config_entries.async_unload(entry.entry_id)
            await loop_clock.advance(2, 0.5)


async def test_week_of_sleep_cycles_node_reboots_and_restarts_keeps_every_promise(
    hass: HomeAssistant, sim_clock: SimClock, loop_clock: LoopClock
) -> None:
    report = await run_the_week(
        hass, sim_clock, loop_clock, WeekConfig(toys=WEEK_TOYS, days=WEEK_DAYS, seed=WEEK_SEED)
    )
    if WEEK_REPORT:
        report.write(Path(WEEK_REPORT))
    print(report.to_json())
    assert report.violations == []
    assert report.leaks == []
    assert report.loop_exceptions == 0
    assert report.error_logs == 0
    assert report.uses_succeeded == report.uses
    assert report.max_connects_asleep_without_start == 0
    # Measured in fine steps, so up to one step (0.1 s) late: see ``Week.over``.
    assert report.max_reconnect_after_reboot - 0.1 <= report.reconnect_bound + 1e-9
    assert report.max_restore_after_start - 0.1 <= report.restore_bound + 1e-9
    assert report.max_node_back_after_reboot <= report.node_back_bound
    # The timetable happened: otherwise the figures above would hold vacuously.
    assert report.uses >= 4 * WEEK_TOYS * WEEK_DAYS
    assert report.uses_on_sleeping_toys >= report.uses // 2
    assert report.sleep_windows >= WEEK_TOYS * WEEK_DAYS
    assert report.sleep_windows_with_start >= 1
    assert report.links_moved >= 1
    assert report.node_reboots >= 2
    # Home Assistant's esphome entries connected at the start, after each restart and each reboot.
    assert report.api_connections_accepted >= 2 + 2 * report.restarts + report.node_reboots
    assert report.restarts >= 2
    assert report.restores_timed >= 1
    assert report.leak_checks == report.restarts + 1


async def test_a_toy_heard_first_through_the_farther_node_after_being_called_gone_is_available_for_use(
    hass: HomeAssistant, sim_clock: SimClock, loop_clock: LoopClock
) -> None:
    report = await run_the_week(
        hass, sim_clock, loop_clock, WeekConfig(toys=3, days=1, seed=WEEK_SEED, nearer_proxy_first=False)
    )
    assert report.uses_succeeded == report.uses, report.violations
    # The case happened: a linked toy is silent, so Home Assistant called one gone while linked.
    assert report.gone_while_linked >= 1


async def test_the_week_keeps_its_timetable_when_each_simulated_step_costs_real_time(
    hass: HomeAssistant, sim_clock: SimClock, loop_clock: LoopClock
) -> None:
    """A loaded machine (the floor leg with coverage, after hundreds of tests) is slow in real time.

    Every step of the week costs 50 ms of real time here, at once (``LoadedMachine``): a day's
    quiet hours alone are hundreds of steps, so a clock that read real time would reach 18:00
    long before the evening's timed step began (its automation "did not fire", and the toys it
    woke counted as connected while asleep). Simulated time must not notice.
    """
    machine = LoadedMachine()
    machine.costly_steps(loop_clock, cost=0.05)
    with machine.installed():
        report = await run_the_week(hass, sim_clock, loop_clock, WeekConfig(toys=3, days=1, seed=WEEK_SEED))
    assert machine.spent > 60, "the steps cost more than a minute of real time"
    assert report.violations == [], "\n".join(report.violations)
    assert report.uses_succeeded == report.uses
