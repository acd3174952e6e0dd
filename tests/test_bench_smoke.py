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
from bench.household_report import SECTION_TITLE as HOUSEHOLD_SECTION
from bench.household_side import HOUSEHOLD, NotificationsByToy
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


def test_quick_bench_measures_each_model_of_a_mixed_household_on_one_node(
    quick_results: BenchResults,
) -> None:
    """A BB-8, an R2-D2 and a Mini behind one node: messages, iterations and CPU per `bb8.roll`
    beside Home Assistant's own action, bursts per model, and the report's section for them."""
    household = quick_results.household
    assert household is not None
    assert [model.model for model in household.models] == [label for label, _, _ in HOUSEHOLD]
    notifications = {}
    for model in household.models:
        assert model.messages.into_node == 1, "one write (75) per roll"
        assert model.messages.by_id.get("out 83 write response") == 1
        assert model.iterations.median > 0
        assert model.cpu_noop.median > 0
        assert [burst.size for burst in model.bursts] == list(BenchPlan.quick().household_bursts)
        assert all(burst.reached for burst in model.bursts)
        notifications[model.model] = model.messages.by_id.get("out 79 notification")
    # The BB-8 and the R2-D2 answer in one notification; the Mini sends one byte per notification
    # (its 8-byte answer, more when a byte is escaped).
    assert notifications["BB-8"] == notifications["R2-D2"] == 1
    assert (notifications["Mini"] or 0) >= 8
    report = render_markdown(quick_results, command="scripts/bench --quick", environment=["test"])
    section = report[report.index(HOUSEHOLD_SECTION) :]
    assert "| Row | BB-8 | R2-D2 | Mini |" in section
    assert "| **Share ÷ Home Assistant's own action** |" in section
    assert "| Burst settle (N rolls, a new heading each, until the toy rolls on the last) |" in section


def test_notifications_are_counted_per_toy_a_v2_packet_by_its_flags_when_it_ends() -> None:
    counter = NotificationsByToy()
    counter.count("BB", False, b"\xff\xff\x00\x01\x01\xfd")  # a v1 answer
    counter.count("BB", False, b"\xff\xfe\x03\x00\x05")  # a v1 async packet
    answer = bytes([0x8D, 0x01 | 0x08, 0x16, 0x07, 0x05, 0x00, 0xC6, 0xD8])  # IS_RESPONSE
    for byte in answer:  # one byte per notification, as the Mini sends
        counter.count("MINI", True, bytes([byte]))
    async_packet = bytes([0x8D, 0x08, 0x13, 0x10, 0xFF, 0xC5, 0xD8])  # no IS_RESPONSE
    counter.count("R2", True, async_packet[:4])
    assert counter.counts[("R2", "async")] == 0, "counted when the packet ends"
    counter.count("R2", True, async_packet[4:])
    assert dict(counter.counts) == {
        ("BB", "answer"): 1,
        ("BB", "async"): 1,
        ("MINI", "answer"): 8,
        ("R2", "async"): 2,
    }


def test_household_only_prints_its_section_and_puts_it_in_place_in_bench_md(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``scripts/bench --household-only``: "only the mixed household's rows ...; print their section
    and put it in place in bench.md (unless --no-write)"."""
    before = "# Benchmarks\n\n## Motion\n\nkept\n\n"
    after = "## Notes\n\n- kept too\n"
    (tmp_path / "bench.md").write_text(f"{before}{HOUSEHOLD_SECTION}\n\nan older run\n\n{after}")
    pytest_socket.enable_socket()
    try:
        assert main(["--household-only", "--quick", "--out", str(tmp_path)]) == 0
    finally:
        pytest_socket.disable_socket(allow_unix_socket=True)
    printed = capsys.readouterr().out
    assert printed.startswith(HOUSEHOLD_SECTION)
    assert "Made by `scripts/bench --household-only --quick`" in printed
    written = (tmp_path / "bench.md").read_text()
    assert written.startswith(before + HOUSEHOLD_SECTION)
    assert written.endswith("\n\n" + after)
    assert "an older run" not in written
    assert written.count(HOUSEHOLD_SECTION) == 1
    assert "| Row | BB-8 | R2-D2 | Mini |" in written


def test_readme_household_bench_sentences_quote_the_household_section_of_docs_bench_md() -> None:
    """README: "out of it 2 for the BB-8 and the R2-D2 (`1 in, 2 out`) but 9 for the Mini (`1 in, 9
    out`)", the share per model, and "ends on its last heading within 96.1 ms for every model"."""
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    paragraph = readme[
        readme.index("A mixed household on one node (a BB-8") : readme.index("### Reliability")
    ]
    report = (REPO / "docs" / "bench.md").read_text(encoding="utf-8")
    section = report[report.index(HOUSEHOLD_SECTION) :]
    rows = {
        line.split(" | ")[0].strip("| *"): line.split(" | ")[1:]
        for line in section.splitlines()
        if " | " in line
    }
    labels = rows["Row"]
    labels[-1] = labels[-1].rstrip(" |")
    assert labels == ["BB-8", "R2-D2", "Mini"]
    messages = [cell.split(" (")[0] for cell in rows["API messages on the node's socket per `bb8.roll`"]]
    match = re.search(r"\(`(1 in, \d+ out)`\) but \d+ for the Mini \(`(1 in, \d+ out)`\)", paragraph)
    assert match is not None
    assert messages == [match[1], match[1], match[2]]
    shares = [cell.strip(" |*") for cell in rows["Share ÷ Home Assistant's own action"]]
    quoted = re.search(
        r"is (\S+) Home Assistant's own action .* for the BB-8, (\S+) for the R2-D2 and (\S+) for", paragraph
    )
    assert quoted is not None
    assert shares == list(quoted.groups())
    slowest = re.search(r"within (\d+\.\d) ms for every model", paragraph)
    assert slowest is not None
    bursts = " ".join(rows["Burst settle (N rolls, a new heading each, until the toy rolls on the last)"])
    settles = [float(ms) for ms in re.findall(r"\d+: (\d+\.\d) ms", bursts)]
    assert len(settles) >= 3
    assert max(settles) == float(slowest[1])
    assert "never reached" not in section
