"""One bench run: every measurement, side by side, in one process.

The order matters a little: the stall probe runs first, so "first connect (cold)" really is the
first use of bleak, bleak-retry-connector and the session's connect path in the process; Home
Assistant runs last, because its Bluetooth integration replaces
``bleak_retry_connector.BleakClientWithServiceCache`` process-wide while it is loaded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
import sys
import time

from bb8sim import build_services
from custom_components.bb8.sphero import commands as cmd
from custom_components.bb8.sphero.const import COMMANDS_CHAR
from custom_components.bb8.sphero.protocol import Response, StreamReassembler, encode_request

from . import esphome_side, ha_side, household_side, motion_side, session_side, spherov2_side
from .results import BenchResults, BurstRow, Distribution
from .rig import LinkSettings, instrument_residues
from .vloop import IdleMode, run_on_new_loop


@dataclass(frozen=True, slots=True)
class BenchPlan:
    """How much of everything to measure. :meth:`quick` is the smoke test's seconds-long plan."""

    burst_sizes: tuple[int, ...] = (10, 100, 1000)
    cpu_samples: int = 500
    cold_samples: int = 100
    ha_samples: int = 200
    ha_cold_samples: int = 60
    recovery_trials: int = 5
    ha_recovery_trials: int = 2
    storm_toys: int = 8
    scale_toys: tuple[int, ...] = (1, 4, 8)
    scale_commands: int = 480
    """Commands per CPU measurement, spread over the toys (the same total for every count)."""
    scale_rounds: int = 3
    scale_burst: int = 100
    memory_few: int = 100
    memory_many: int = 10_000
    calibration_turns: int = 20_000
    motion_toys: tuple[int, ...] = (1, 8)
    motion_seconds: float = 8.0
    """Real seconds each streaming phase is measured (the stall probe runs half as long again)."""
    esphome_samples: int = 200
    esphome_commands: int = 20
    esphome_bursts: tuple[int, ...] = (10, 10, 10, 10, 100, 100, 100, 1000)
    """Bursts through the real proxy stack, per write mode (issue 22)."""
    household_samples: int = 100
    household_commands: int = 20
    household_bursts: tuple[int, ...] = (10, 10, 100, 100)
    """The mixed household's rows, per model (issue 25)."""

    @classmethod
    def quick(cls) -> BenchPlan:
        """Tiny numbers: every code path once or twice, in seconds (structure, never timing)."""
        return cls(
            burst_sizes=(3, 5, 8),
            cpu_samples=6,
            cold_samples=2,
            ha_samples=3,
            ha_cold_samples=2,
            recovery_trials=1,
            ha_recovery_trials=1,
            storm_toys=2,
            scale_toys=(1, 2),
            scale_commands=4,
            scale_rounds=1,
            scale_burst=4,
            memory_few=5,
            memory_many=20,
            calibration_turns=200,
            motion_toys=(1,),
            motion_seconds=1.5,
            esphome_samples=3,
            esphome_commands=2,
            esphome_bursts=(3,),
            household_samples=3,
            household_commands=2,
            household_bursts=(3,),
        )


async def _unit_costs(operations: int) -> dict[str, Distribution]:
    """Thread CPU of a few single steps on the command path, each in batches of 100 (warm).

    A yardstick for this machine at this moment (the other CPU figures divided by the loop turn
    travel better between machines than microseconds do), and the prices of the steps the notes
    in docs/bench.md point at.
    """
    services = build_services()
    request_data = cmd.set_main_led(1, 2, 3).data
    reader = StreamReassembler()
    answer = Response(0x00, 5).encode()

    async def loop_turn() -> None:
        await asyncio.sleep(0)

    async def timeout_scope() -> None:
        async with asyncio.timeout(5.0):  # noqa: ASYNC100 - the scope's own cost is what is measured
            pass

    async_steps = {"loop_turn": loop_turn, "asyncio_timeout": timeout_scope}
    sync_steps: dict[str, Callable[[], object]] = {
        "bleak_uuid_lookup": lambda: services.get_characteristic(COMMANDS_CHAR),
        "command_builder": lambda: cmd.set_main_led(1, 2, 3),
        "request_encode": lambda: encode_request(0x02, 0x20, 5, request_data, True),
        "reader_one_answer": lambda: reader.feed(bytearray(answer)),
    }
    batch_count = max(1, operations // 100)
    costs: dict[str, Distribution] = {}
    for name, async_step in async_steps.items():
        batches: list[float] = []
        for _ in range(batch_count):
            start = time.thread_time()
            for _ in range(100):
                await async_step()
            batches.append((time.thread_time() - start) / 100)
        costs[name] = Distribution.of(batches)
    for name, sync_step in sync_steps.items():
        batches = []
        for _ in range(batch_count):
            start = time.thread_time()
            for _ in range(100):
                sync_step()
            batches.append((time.thread_time() - start) / 100)
        costs[name] = Distribution.of(batches)
    costs["instrument_residue"] = Distribution.of(instrument_residues(operations))
    return costs


async def _link_phase(settings: LinkSettings, plan: BenchPlan, results: BenchResults) -> None:
    """Everything that runs on the virtual-time loop: spherov2 and the session alone."""
    sizes = list(plan.burst_sizes)
    results.stalls.update(await session_side.stalls(settings, plan.storm_toys))
    spherov2 = await spherov2_side.run_bursts(settings, sizes)
    session = await session_side.run_bursts(settings, sizes)
    results.bursts = [BurstRow(size, spherov2[size], session[size], None) for size in sizes]
    results.unit_costs = await _unit_costs(plan.calibration_turns)
    for key, value in (await session_side.command_cpu(settings, plan.cpu_samples)).items():
        results.cpu[f"session_{key}"] = value
    results.cpu["bare_whole"] = await session_side.bare_command_cpu(settings, plan.cpu_samples)
    results.cpu["minimal_whole"] = await session_side.minimal_command_cpu(settings, plan.cpu_samples)
    for key, value in (await session_side.command_cpu(settings, plan.cold_samples, cold=True)).items():
        results.cpu[f"session_{key}_cold"] = value
    recoveries = await session_side.reconnect_recovery(settings, plan.recovery_trials)
    for caller, recovery in recoveries.items():
        results.recovery[f"session_{caller}"] = recovery
    results.scale = await session_side.scale(
        settings, list(plan.scale_toys), plan.scale_commands, plan.scale_burst, plan.scale_rounds
    )
    results.memory = await session_side.memory(settings, plan.memory_few, plan.memory_many)


async def _home_assistant_phase(settings: LinkSettings, plan: BenchPlan, results: BenchResults) -> None:
    """Everything that needs Home Assistant (real-time waits, on a spinning loop)."""
    measured = await ha_side.run(
        settings,
        samples=plan.ha_samples,
        cold_samples=plan.ha_cold_samples,
        burst_sizes=list(plan.burst_sizes),
        recovery_trials=plan.ha_recovery_trials,
    )
    results.cpu.update(measured.cpu)
    results.state_writes = dict(measured.state_writes)
    results.bursts = [
        BurstRow(row.size, row.spherov2, row.session, measured.bursts[row.size]) for row in results.bursts
    ]
    results.recovery["home_assistant_retrying"] = measured.recovery
    results.stalls.update(measured.stalls)


async def _esphome_phase(settings: LinkSettings, plan: BenchPlan, results: BenchResults) -> None:
    """Measure the integration through Home Assistant's esphome integration and the node."""
    results.esphome = await esphome_side.run(
        settings,
        samples=plan.esphome_samples,
        commands=plan.esphome_commands,
        burst_sizes=list(plan.esphome_bursts),
    )


async def _household_phase(settings: LinkSettings, plan: BenchPlan, results: BenchResults) -> None:
    """Measure a BB-8, an R2-D2 and a Mini behind one node through Home Assistant's esphome integration."""
    results.household = await household_side.run(
        settings,
        samples=plan.household_samples,
        commands=plan.household_commands,
        burst_sizes=list(plan.household_bursts),
    )


async def _motion_phase(plan: BenchPlan, results: BenchResults) -> None:
    """Motion streaming in Home Assistant: real-time waits on an ordinary (blocking) loop."""
    results.motion = await motion_side.motion_rows(
        list(plan.motion_toys), plan.motion_seconds, lambda line: print(f"bench: {line}", file=sys.stderr)
    )


def run_bench(plan: BenchPlan, settings: LinkSettings | None = None) -> BenchResults:
    """Run every measurement (each phase on its own fresh loop) and return what was measured."""
    settings = settings or LinkSettings()
    results = BenchResults(write_latency=settings.write_latency, pacing_interval=settings.pacing_interval)
    started = time.monotonic()
    run_on_new_loop(_link_phase(settings, plan, results), IdleMode.SKIP)
    run_on_new_loop(_home_assistant_phase(settings, plan, results), IdleMode.SPIN)
    run_on_new_loop(_esphome_phase(settings, plan, results), IdleMode.SPIN)
    run_on_new_loop(_household_phase(settings, plan, results), IdleMode.SPIN)
    run_on_new_loop(_motion_phase(plan, results), IdleMode.BLOCK)
    results.run_seconds = time.monotonic() - started
    return results


def run_turns(plan: BenchPlan, settings: LinkSettings | None = None) -> BenchResults:
    """Run only what the per-command rows need: the session alone, then through Home Assistant.

    The part of ``run_bench`` a change to the command path is judged by (loop turns, burst CPU,
    several toys), in a minute rather than the whole bench's few.
    """
    settings = settings or LinkSettings()
    results = BenchResults(write_latency=settings.write_latency, pacing_interval=settings.pacing_interval)
    started = time.monotonic()
    run_on_new_loop(_link_phase(settings, plan, results), IdleMode.SKIP)
    run_on_new_loop(_home_assistant_phase(settings, plan, results), IdleMode.SPIN)
    results.run_seconds = time.monotonic() - started
    return results
