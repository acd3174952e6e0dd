"""Simulated time reads only simulated time: a step costs what it says, however long it really took.

The week soak (``soak.week``) and every test that lets hours pass (``loop_clock``) steer Home
Assistant by the event loop's clock and a simulated wall clock. When those read the real clocks
plus an offset, every step also adds the real time it took, so on a loaded machine the world
runs ahead of what the steps say: a timetable event planned 10 s before an automation's time
starts after it. These tests make each step cost real time (``LoadedMachine``: the real clocks
jump, nobody waits) and check that simulated time does not notice.
"""

from __future__ import annotations

from datetime import timedelta

from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.setup import async_setup_component
import pytest

from soak.world import simulated_now, simulated_world, start_the_day_at

from .conftest import LoopClock
from .loaded_machine import LoadedMachine

STEP_COST = 0.5
"""Real seconds each simulated step costs on the loaded machine these tests pretend to be."""


async def test_simulated_time_moves_by_the_steps_taken_however_much_real_time_they_cost(
    hass: HomeAssistant, loop_clock: LoopClock
) -> None:
    machine = LoadedMachine()
    with simulated_world(loop_clock), machine.installed():
        loop_start, wall_start = hass.loop.time(), simulated_now(loop_clock)
        for _ in range(60):
            machine.spend(STEP_COST)
            await loop_clock.advance(60, 60)
        loop_drift = hass.loop.time() - loop_start - 3600
        wall_drift = (simulated_now(loop_clock) - wall_start).total_seconds() - 3600
    assert machine.spent == pytest.approx(30)
    assert (loop_drift, wall_drift) == pytest.approx((0, 0), abs=1e-6), (
        f"an hour of 60 s steps that cost {machine.spent:g} s of real time: the loop's clock drifted "
        f"{loop_drift:.3f} s, the wall clock {wall_drift:.3f} s"
    )


async def test_a_time_trigger_fires_when_the_simulated_clock_reaches_its_time_however_long_the_steps_took(
    hass: HomeAssistant, loop_clock: LoopClock
) -> None:
    machine = LoadedMachine()
    fired_at: list[float] = []

    @callback
    def _fired(_event: Event) -> None:
        fired_at.append(simulated_now(loop_clock).timestamp())

    with simulated_world(loop_clock):
        await start_the_day_at(hass, loop_clock, 16)
        six_pm = simulated_now(loop_clock).replace(hour=18, minute=0, second=0, microsecond=0)
        assert await async_setup_component(
            hass,
            "automation",
            {
                "automation": {
                    "alias": "at six",
                    "triggers": [{"trigger": "time", "at": "18:00:00"}],
                    "actions": [{"event": "six_pm"}],
                }
            },
        )
        await hass.async_block_till_done()
        hass.bus.async_listen("six_pm", _fired)
        with machine.installed():
            # As the week plans its timetable: the time to 10 s before, then steps that add up to it.
            planned = (six_pm - timedelta(seconds=10) - simulated_now(loop_clock)).total_seconds()
            steps, rest = divmod(planned, 60.0)
            for step in [60.0] * int(steps) + [rest]:
                machine.spend(STEP_COST)
                await loop_clock.advance(step, step)
            late = (simulated_now(loop_clock) - (six_pm - timedelta(seconds=10))).total_seconds()
            assert (fired_at, round(late, 3)) == ([], 0.0), (
                f"{planned:.0f} s of steps that cost {machine.spent:g} s of real time: the clock is "
                f"{late:.3f} s past where the steps took it, and the 18:00 automation fired: {fired_at}"
            )
            await loop_clock.advance_until(lambda: bool(fired_at), limit=20, step=1)
        await hass.services.async_call("automation", "turn_off", {"entity_id": "all"}, blocking=True)
    assert fired_at[0] - six_pm.timestamp() == pytest.approx(0.5, abs=0.5), "on the second, by the steps"
