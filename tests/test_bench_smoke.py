"""The benchmark machinery, run end to end with tiny sizes so it cannot rot.

Structure only: every section and row of the report is there and every number is finite. Never
timing: the figures of a seconds-long run on a shared machine mean nothing, and a timed
assertion would only make the suite flaky. The real run is ``scripts/bench`` (docs/bench.md).
"""

from __future__ import annotations

import asyncio
import gc
import math
from pathlib import Path
import re
import time

import pytest
import pytest_socket

from bench.cli import main
from bench.esphome_report import SECTION_TITLE as ESPHOME_SECTION
from bench.esphome_side import WRITE_MODES
from bench.report import (
    CPU_ROWS,
    RECOVERY_ROWS,
    SECTION_TITLES,
    TURN_HISTORY,
    TURN_ROWS,
    UNIT_ROWS,
    evaluate_targets,
    plot,
    render_markdown,
)
from bench.results import BenchResults, numbers
from bench.rig import instrument_residues
from bench.runner import BenchPlan, run_bench
from bench.stall_profile import SlowIterations
from bench.vloop import IdleMode, run_on_new_loop

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_results() -> BenchResults:
    """One quick run (about fifteen seconds) shared by the tests below.

    The real proxy stack's rows talk to the simulated ESPHome node over 127.0.0.1: sockets are
    let through for the run (the harness allows only 127.0.0.1), as ``socket_enabled`` does for
    one test, and blocked again after it.
    """
    pytest_socket.enable_socket()
    try:
        return run_bench(BenchPlan.quick())
    finally:
        pytest_socket.disable_socket(allow_unix_socket=True)


def test_quick_bench_measures_every_part(quick_results: BenchResults) -> None:
    plan = BenchPlan.quick()
    results = quick_results
    assert [row.size for row in results.bursts] == list(plan.burst_sizes)
    assert all(row.home_assistant is not None for row in results.bursts)
    assert {key for key, _ in CPU_ROWS} <= results.cpu.keys()
    assert {key for key, _ in UNIT_ROWS} <= results.unit_costs.keys()
    assert {key for key, _ in RECOVERY_ROWS} <= results.recovery.keys()
    assert [row.toys for row in results.scale] == list(plan.scale_toys)
    assert results.memory is not None
    assert {"bb8_writes", "bb8_cpu", "noop_writes", "noop_cpu"} <= results.state_writes.keys()
    assert len(results.stalls) == 5
    assert [row.on.toys for row in results.motion] == list(plan.motion_toys)
    for row in results.motion:
        assert row.off.frames_per_second == 0, "with every motion entity disabled nothing streams"
        assert row.on.frames_per_second > 0, "with the motion entities enabled the toys stream"
        for phase in (row.off, row.on):
            assert phase.busiest, "the profiled window kept its busiest iterations"
            assert 0 < phase.busiest_host <= max(phase.stall_busy, phase.busiest_host)
    setting_up = [stall for stall in results.stalls.values() if stall.integration is not None]
    assert len(setting_up) == 1, "the entry's set-up is judged by the integration's own part, not left out"
    assert (setting_up[0].integration_profiled or 0.0) > 0, "the integration ran some code while set up"
    values = list(numbers(results))
    assert values
    assert all(math.isfinite(value) for value in values)


def test_quick_report_has_every_section_row_and_target(quick_results: BenchResults) -> None:
    targets = evaluate_targets(quick_results)
    assert len(targets) == 6
    assert all(target.measured for target in targets)
    report = render_markdown(quick_results, command="scripts/bench --quick", environment=["test"])
    for title in SECTION_TITLES:
        assert title in report
    for _, label in (*CPU_ROWS, *UNIT_ROWS, *RECOVERY_ROWS):
        assert label in report
    for target in targets:
        assert target.name in report
    for name in quick_results.stalls:
        assert name in report
    for row in quick_results.scale:
        assert f"| {row.toys} |" in report
    motion = report[report.index(SECTION_TITLES[9]) :]
    assert "Through the real proxy stack" in motion
    assert "What ran in the busiest iterations of the profiled windows:" in motion
    for row in quick_results.motion:
        assert f"{row.on.busiest[0]}." in motion
    assert "n/a" not in report


def test_quick_plot_is_a_png(quick_results: BenchResults, tmp_path: Path) -> None:
    image = tmp_path / "bench.png"
    plot(quick_results, image)
    assert image.read_bytes().startswith(PNG_SIGNATURE)


def test_the_virtual_loop_skips_idle_time_but_not_cpu_time() -> None:
    async def wait_a_minute() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        started_loop, started_wall = loop.time(), time.monotonic()
        await asyncio.sleep(60.0)
        return loop.time() - started_loop, time.monotonic() - started_wall

    loop_elapsed, wall_elapsed = run_on_new_loop(wait_a_minute(), IdleMode.SKIP)
    assert loop_elapsed >= 60.0
    assert wall_elapsed < loop_elapsed


def test_quick_report_shows_the_loop_turns_of_earlier_runs_beside_this_one(
    quick_results: BenchResults,
) -> None:
    report = render_markdown(quick_results, command="scripts/bench --quick", environment=["test"])
    section = report[report.index(SECTION_TITLES[8]) :]
    for label, figures in TURN_HISTORY:
        assert label in section
        for turns, seconds in figures.values():
            assert f"{turns} ({seconds * 1e6:.0f} µs)" in section
    for _, label in TURN_ROWS:
        assert f"| {label} |" in section
    assert "≤ 6: " in section
    assert "**No whole-command target.** Issue 24 withdrew the 12-turn target" in section
    assert "**The floor:" in section
    assert "**The integration's own:" in section


def test_turns_only_prints_only_the_per_command_rows_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``scripts/bench --turns-only``: "only the per-command rows (loop turns, burst CPU, several
    toys); print them, write nothing"."""
    assert main(["--turns-only", "--quick", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    for _, label in TURN_ROWS:
        assert f"| {label} | " in printed
    plan = BenchPlan.quick()
    for size in plan.burst_sizes:
        assert re.search(rf"^\| {size} \| [\d,]+ µs \| [\d,]+ µs \|$", printed, re.MULTILINE), size
    for toys in plan.scale_toys:
        assert re.search(rf"^\| {toys} \| [\d,]+ µs \| [\d.]+ ms \|$", printed, re.MULTILINE), toys
    assert SECTION_TITLES[0] not in printed, "not the whole report"
    assert list(tmp_path.iterdir()) == [], "nothing written"


def test_instrument_residues_gives_one_positive_figure_per_batch_of_100() -> None:
    residues = instrument_residues(300)
    assert len(residues) == 3, "one figure per batch of 100"
    assert all(math.isfinite(residue) and residue > 0 for residue in residues)


REPO = Path(__file__).resolve().parent.parent


def test_readme_benchmarks_quote_the_figures_docs_bench_md_shows() -> None:
    """Every time, ratio and loop-turn figure the README's Benchmarks section gives is in docs/bench.md."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Benchmarks") : readme.index("### Reliability")]
    report = (REPO / "docs" / "bench.md").read_text(encoding="utf-8")
    turns_section = report[report.index(SECTION_TITLES[8]) :]
    quoted = re.findall(r"(\d[\d,]*(?:\.\d+)?) ?(ms|µs|s|\u00d7)(?![\w])", section)
    assert len(quoted) >= 10
    for number, unit in quoted:
        assert f"{number} {unit}" in report or f"{number}{unit}" in report, f"{number} {unit}"
    for number in re.findall(r"(\d+) bare loop turns", section):
        assert f"{number} bare loop turns" in report, number
    for number in re.findall(r"(\d+(?:\.\d)?) loop turns \(", section):
        assert f"| {number} (" in turns_section, number
    for number in re.findall(r"(\d+\.\d) turns", section):
        assert f"{number} turns" in turns_section, number


def test_quick_bench_measures_both_write_modes_through_the_real_proxy_stack(
    quick_results: BenchResults,
) -> None:
    """Messages on the node's socket, loop iterations, CPU against Home Assistant's own action,
    bursts and rolls, for write with and without response, and the report's section for them."""
    esphome = quick_results.esphome
    assert esphome is not None
    assert [mode.mode for mode in esphome.modes] == list(WRITE_MODES)
    with_response, without_response = esphome.modes
    for mode in esphome.modes:
        assert mode.colour_messages.into_node == 1, "one write (75) per colour change"
        assert mode.roll_messages.into_node == 1, "one write (75) per roll"
        assert mode.iterations_bb8.median > 0
        assert mode.cpu_noop.median > 0
        assert [burst.size for burst in mode.bursts] == list(BenchPlan.quick().esphome_bursts)
    # The write response (83) is the one message the modes differ by.
    assert with_response.colour_messages.by_id.get("out 83 write response") == 1
    assert "out 83 write response" not in without_response.colour_messages.by_id
    report = render_markdown(quick_results, command="scripts/bench --quick", environment=["test"])
    section = report[report.index(ESPHOME_SECTION) :]
    assert "| API messages on the node's socket per colour change |" in section
    assert "Share ÷ Home Assistant's own action" in section
    assert "keeps write with response" in section


def test_the_stall_profile_names_the_callback_the_collection_and_the_writes_of_the_busiest_iteration() -> (
    None
):
    """A callback that burns 3 ms and runs a full collection is the busiest iteration, by name."""

    def burn_three_milliseconds() -> None:
        gc.collect()
        started = time.thread_time()
        while time.thread_time() - started < 0.003:
            pass

    async def profiled() -> SlowIterations:
        slow = SlowIterations(keep=2)
        with slow.installed():
            for _ in range(5):
                await asyncio.sleep(0)
            asyncio.get_running_loop().call_soon(burn_three_milliseconds)
            for _ in range(5):
                await asyncio.sleep(0)
        return slow

    slow = run_on_new_loop(profiled(), IdleMode.SPIN)
    busiest = slow.longest()[0]
    assert busiest.busy >= 0.003
    assert busiest.callbacks[0][0].startswith(
        "test_the_stall_profile_names_the_callback_the_collection_and_the_writes_of_the_busiest_iteration."
        "<locals>.burn_three_milliseconds"
    )
    assert [generation for generation, _ in busiest.collections] == [2], (
        "the full collection, in its iteration"
    )
    assert "garbage collection generation 2" in busiest.summary()
    assert "0 state write(s)" in busiest.summary()


def test_motion_only_prints_the_streaming_section_through_the_real_proxy_stack(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``scripts/bench --motion-only --quick``: the motion section alone, its command, rows and profile."""
    pytest_socket.enable_socket()
    try:
        assert main(["--motion-only", "--quick"]) == 0
    finally:
        pytest_socket.disable_socket(allow_unix_socket=True)
    printed = capsys.readouterr().out
    assert printed.startswith(SECTION_TITLES[9])
    assert "Made by `scripts/bench --motion-only --quick`" in printed
    assert "| 1 | off |" in printed
    assert "| 1 | on, 10 Hz |" in printed
    assert "toy(s), stream on, #1: " in printed
