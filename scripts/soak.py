"""Run the long reliability checks and write their summary to docs/reliability.md.

Each check is the test suite's own test, run by pytest in a subprocess with bigger numbers in the
environment (warnings are errors there too, and Home Assistant's harness still fails a test that
leaves a task, timer or thread behind):

* tests/test_soak.py's chaos soak, once per connection mode (``BB8_SOAK_*``);
* tests/test_lifecycle.py: the setup/use/unload cycles (``BB8_CYCLES``) and Home Assistant
  stopping during a connect, a backoff and a command;
* tests/test_fuzz.py with ``BB8_FUZZ_EXAMPLES`` hypothesis examples per property;
* tests/test_week_soak.py: a simulated week of sleep cycles, node reboots and restarts behind two
  simulated ESPHome nodes (``BB8_WEEK_TOYS`` toys, ``BB8_WEEK_DAYS`` days; see ``soak/week.py``);
* tests/test_node_faults_soak.py: the ESPHome node's faults through Home Assistant's own esphome
  integration (``BB8_NODE_ROUNDS`` rounds, ``BB8_NODE_TOYS`` toys; see ``soak/node_faults.py``),
  and the same faults on a mixed household, a BB-8, an R2-D2 and a Mini on the one node
  (``BB8_HOUSE_ROUNDS`` rounds).

``--parts week``, ``--parts node``, ``--parts household`` or any of them together run only those
and replace only their sections of the output file.

Started by ``scripts/soak`` (which sets up .venv first); ``--help`` lists the knobs.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
import datetime as dt
import json
import os
from pathlib import Path
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from typing import Any
import xml.etree.ElementTree as ET

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    """One pytest invocation and what it left behind."""

    name: str
    args: list[str]
    env: dict[str, str]
    report: Path | None = None
    junit: Path | None = None
    returncode: int = -1
    seconds: float = 0.0

    def execute(self, python: str) -> None:
        command = [
            python,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-o",
            "console_output_style=classic",
            "--timeout=0",  # the soaks are as long as their knobs make them
        ]
        command += ["--junitxml", str(self.junit)] if self.junit else []
        command += self.args
        print(f"\n== {self.name}: {' '.join(shlex.quote(a) for a in command)}", flush=True)
        started = time.monotonic()
        result = subprocess.run(command, cwd=ROOT, env={**os.environ, **self.env}, check=False)
        self.seconds = time.monotonic() - started
        self.returncode = result.returncode

    def data(self) -> dict[str, Any] | None:
        if self.report is None or not self.report.exists():
            return None
        loaded: dict[str, Any] = json.loads(self.report.read_text())
        return loaded

    def junit_cases(self) -> list[tuple[str, str, float]]:
        """(test name, outcome, seconds) from the JUnit XML."""
        if self.junit is None or not self.junit.exists():
            return []
        cases = []
        for case in ET.parse(self.junit).getroot().iter("testcase"):
            outcome = "passed"
            for child in case:
                if child.tag in ("failure", "error"):
                    outcome = "FAILED"
                elif child.tag == "skipped":
                    outcome = "xfailed" if "xfail" in (child.get("type") or "") else "skipped"
            cases.append((case.get("name", "?"), outcome, float(case.get("time", 0.0))))
        return cases


def versions(python: str) -> str:
    out = subprocess.run(
        [python, "scripts/_versions.py"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return out.stdout.strip() or f"Python {platform.python_version()}"


def thousands(value: int | float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def failed_by_reason(failed: dict[str, int]) -> str:
    if not failed:
        return "none"
    return ", ".join(
        f"{reason} {thousands(count)}" for reason, count in sorted(failed.items(), key=lambda kv: -kv[1])
    )


def soak_table(reports: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| mode | calls | completed | failed, by reason | reconnects | max outage | "
        "max recovery after faults stop (bound) | invariant violations | leaks found |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in reports:
        lines.append(
            f"| {r['mode']} | {thousands(r['commands'])} | {thousands(r['completed'])} | "
            f"{failed_by_reason(r['failed'])} | {r['reconnects']} | {r['max_outage']:.1f} s | "
            f"{r['recovery_time']:.2f} s ({r['recovery_bound']:g} s) | {len(r['violations'])} | {len(r['leaks'])} |"
        )
    return lines


def promises_table(reports: list[dict[str, Any]]) -> list[str]:
    """The checks after each soak: an unused on-demand link is let go; a use after give-up connects."""
    lines = [
        "| mode | invariant | measured |",
        "|---|---|---|",
    ]
    for r in reports:
        if r.get("idle_release") is not None:
            lines.append(
                f"| {r['mode']} | used once, then unused: the link is gone within the idle timeout "
                f"(15 s) + 3 s, though polls go on | gone after {r['idle_release']:.2f} s; "
                f"{r['polls_while_idle']} poll(s) answered meanwhile |"
            )
        if r.get("cancelled_rolls"):
            lines.append(
                f"| {r['mode']} | no toy rolls on after its caller is cancelled: timed rolls whose call is "
                f"cancelled mid-way stop within 1 s | {r['cancelled_rolls']} cancelled, slowest stop "
                f"{r['max_stop_after_cancel']:.2f} s |"
            )
        if r.get("use_after_give_up") is not None:
            lines.append(
                f"| {r['mode']} | after the 3 reconnect attempts are spent, a use connects again | "
                f"connected and done in {r['use_after_give_up']:.2f} s |"
            )
    return lines


def soak_details(reports: list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for r in reports:
        faults = ", ".join(f"{name} {count}" for name, count in sorted(r["faults"].items()))
        lines += [
            f"* **{r['mode']}** (seed {r['seed']}, {r['duration']:.0f} s): {thousands(r['writes'])} command "
            f"writes for {thousands(r['commands'])} calls ({thousands(r['coalesced'])} coalesced by latest-wins); "
            f"{r['drops']} link drops seen by the session; longest CONNECTING {r['max_connecting']:.2f} s; "
            f"slowest call {r['max_call_latency']:.2f} s; failed polls logged by the coordinator (expected "
            f"under chaos): {r['expected_error_logs']}; faults injected: {faults}.",
        ]
        lines += [f"  * violation: {v}" for v in r["violations"]]
        lines += [f"  * leak: {leak}" for leak in r["leaks"]]
    return lines


WEEK_BEGIN = "<!-- week soak: begin -->"
WEEK_END = "<!-- week soak: end -->"


def week_section(week: dict[str, Any] | None, run: Run | None, command: str) -> list[str]:
    """The week's table, between markers so ``--parts week`` can replace it alone."""
    lines = [WEEK_BEGIN, "## A simulated week", ""]
    if week is None:
        outcome = f"exit code {run.returncode}" if run is not None else "not run"
        return [*lines, f"No report ({outcome}).", "", WEEK_END]
    modes = ", ".join(f"{count} {mode}" for mode, count in sorted(week["modes"].items()))
    warnings = sum(week["warnings"].values())
    ok = not week["violations"] and not week["leaks"]
    lines += [
        f"Produced by `{command}` (seed {week['seed']}, {week['seconds']:.0f} s of real time): "
        f"**{'all invariants held' if ok else 'FAILURES, see below'}**.",
        "",
        f"{week['toys']} toys ({modes}) behind {week['nodes']} simulated ESPHome nodes with "
        f"{week['slots_per_node']} connection slots each,",
        "on the real proxy stack: each node added through Home Assistant's own esphome config flow,",
        "so aioesphomeapi, bleak-esphome and habluetooth carry every advertisement, connect and",
        f"command; {week['simulated_hours']:.0f} hours of simulated time through Home Assistant (config",
        "entries, entities, actions, an automation, its Bluetooth stack).",
        "Each day: at 07:30 every toy is used by action calls (main LED colour, tail light), at 18:00",
        "an automation turns every main LED blue, at 18:05 a node reboots for 2-10 minutes (its API",
        "connection closes, every link it held drops), at 21:30 every toy is rolled by `bb8.roll`;",
        "Home Assistant restarts at 21:33 on even days (toys connected) and at 04:00 after odd days",
        "(toys asleep), unloading and setting up the bb8 and esphome entries; the night after an even",
        "day the other node reboots at 03:00. In between nobody touches the toys: they fall asleep",
        "by inactivity and sleep for hours until the next use wakes them (see `soak/week.py`).",
        "",
        "| invariant | measured | bound |",
        "|---|---:|---:|",
        f"| uses (action calls and the automation) that worked, of which on a sleeping toy | "
        f"{thousands(week['uses_succeeded'])} of {thousands(week['uses'])} ({thousands(week['uses_on_sleeping_toys'])} asleep) | all |",
        f"| slowest use, from the call (or the trigger) to the toy showing it | {week['max_use_seconds']:.1f} s | "
        f"{week['use_bound']:g} s (wake time) |",
        f"| connect requests reaching a node for one toy during one sleep window with no restart in it "
        f"(of {thousands(week['sleep_windows'])} windows) | {week['max_connects_asleep_without_start']} | 0 |",
        f"| the same, in a window in which Home Assistant started ({week['sleep_windows_with_start']} windows; "
        f"sleep is stored, so a start does not wake the toy) | {week['max_connects_asleep']} | "
        f"{week['connects_per_start_bound']} per start |",
        f"| INFO-and-above lines per outage about a toy whose link a node reboot cut | "
        f"{week.get('max_log_lines_per_outage', 0)} | 2 |",
        f"| links moved to the other node after a reboot ({week['node_reboots']} reboots): slowest | "
        f"{week['links_moved']} links, {week['max_reconnect_after_reboot']:.1f} s | {week['reconnect_bound']:.1f} s |",
        f"| a rebooted node back in Home Assistant (its scanner registered), from listening again: slowest | "
        f"{week['max_node_back_after_reboot']:.1f} s | {week['node_back_bound']:g} s |",
        f"| after a start ({week['restarts']} restarts), always-connected toys showing their restored wishes: "
        f"slowest | {week['restores_timed']} starts of a toy, {week['max_restore_after_start']:.1f} s | "
        f"{week['restore_bound']:.1f} s |",
        f"| exceptions reaching the event loop; records logged at ERROR | {week['loop_exceptions']}; "
        f"{week['error_logs']} | 0; 0 |",
        f"| leaks after each of {week['leak_checks']} unloads of every bb8 and esphome entry (tasks, timers, "
        f"listeners, Bluetooth callbacks; slots, links, API connections on the nodes) | {len(week['leaks'])} | 0 |",
        "",
        "The bounds are the README's numbers (soak/promises.py), not the integration's constants. The",
        "reconnect and restore bound is the README's first reconnect wait with its +20 % jitter",
        "(2 s x 1.2) plus 1 s for the connect, handshake and restore writes. The bound while asleep:",
        "the always-connected reconnect loop pauses while the toy sleeps, a poll never connects,",
        "on demand only use connects, and the sleep is stored, so no connect at all (the README:",
        '"0, a start of Home Assistant during the sleep included"). An outage is logged in at most',
        f"2 lines (the README's words). WARNING records from the integration: {warnings}. A node back",
        "in Home Assistant: aioesphomeapi's longest wait between two reconnects (60 s) + 2 s.",
        "",
        f"The nodes accepted {week['api_connections_accepted']} API connections, received "
        f"{thousands(week['connect_requests'])} connect requests",
        f"and opened {thousands(week['links_opened'])} links. Not counted: ERROR lines of the test "
        f"environment ({week['environment_error_logs']}):",
        "no `ffmpeg` binary for Home Assistant's ffmpeg integration (an esphome dependency), no BlueZ",
        "behind the harness's local adapter.",
        "",
        "A toy holding a link is silent; one without is passed on by each node in range once a",
        "minute, and at once when its link ends (Home Assistant's Bluetooth stack called a linked toy",
        f"gone {thousands(week.get('gone_while_linked', 0))} times in this run). In each round a seeded "
        "coin decides which node Home",
        "Assistant hears first. The farther one first used to leave a toy that Home Assistant had",
        "called gone while linked unavailable although both nodes heard it; availability now asks",
        "Home Assistant's Bluetooth stack whether the toy is heard, and `tests/test_week_soak.py`",
        "runs that order.",
    ]
    lines += [f"* violation: {v}" for v in week["violations"]]
    lines += [f"* leak: {leak}" for leak in week["leaks"]]
    return [*lines, WEEK_END]


NODE_BEGIN = "<!-- node faults soak: begin -->"
NODE_END = "<!-- node faults soak: end -->"


def node_section(node: dict[str, Any] | None, run: Run | None, command: str) -> list[str]:
    """The node-faults soak's table, between markers so ``--parts node`` can replace it alone."""
    lines = [NODE_BEGIN, "## The ESPHome node's faults, through Home Assistant's esphome integration", ""]
    if node is None:
        outcome = "not run" if run is None else f"no report (exit code {run.returncode})"
        return [*lines, f"Not measured in this run: {outcome}.", NODE_END]
    ok = not node["violations"] and not node["leaks"] and run is not None and run.returncode == 0
    faults = ", ".join(f"{name} {count}" for name, count in sorted(node["faults"].items()))
    modes = ", ".join(f"{count} {mode}" for mode, count in sorted(node["modes"].items()))
    by_fault = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in node["recovery_by_fault"].items())
    lines += [
        f"Produced by `{command}` (seed {node['seed']}, {node['seconds']:.0f} s of real time): "
        f"{node['toys']} toys ({modes}) behind the simulated ESPHome node ({node['slots']} slots), which "
        "Home Assistant's own esphome integration drives (aioesphomeapi, bleak-esphome, habluetooth), "
        f"{node['rounds']} rounds in {node['simulated_minutes']:.0f} minutes of simulated time. Each round one "
        "fault (Wi-Fi drop: every API connection ends; reboot for 1 to 30 s; other devices take every slot "
        "for 5 to 60 s; the next write fails with GATT error 0x85; connects stall at the node for 5 to 40 s), "
        "then each toy is asked for the round's colour, again every second as a person would, until it shows "
        f"it (see `soak/node_faults.py`). Result: **{'all checks passed' if ok else 'FAILURES, see below'}**.",
        "",
        "| check | measured | bound |",
        "|---|---:|---:|",
        f"| faults | {faults} | |",
        f"| uses whose colour reached the toy | {node['uses_shown']} of {node['uses']} | all |",
        f"| slowest recovery, from the fault's end to the toy showing the colour | {node['max_recovery']:.1f} s | "
        f"{node['recovery_bound']:.1f} s |",
        f"| slowest recovery by fault | {by_fault} | |",
        f"| tries again (failed with a translated error; or skipped: Home Assistant leaves out an "
        f"unavailable entity) | {node['translated_errors']}; {node['retries'] - node['translated_errors']} | |",
        f"| API connections the node accepted; BLE links it opened; GATT errors it sent | "
        f"{node['api_connections_accepted']}; {node['links_opened']}; {node['gatt_errors_sent']} | |",
        f"| exceptions reaching the event loop; records logged at ERROR | {node['loop_exceptions']}; "
        f"{node['error_logs']} | 0; 0 |",
        f"| left behind after unload (slots, links, API connections, sessions) | {len(node['leaks'])} | 0 |",
        "",
        "The bound is aioesphomeapi's longest wait between two reconnects to a node that cannot be reached "
        "(60 s), the README's first reconnect wait with its jitter (2.4 s) and its wake time (4 s). "
        f"Not counted: ERROR lines of the test environment ({node['environment_error_logs']}) "
        "(no `ffmpeg` binary for Home Assistant's ffmpeg integration, an esphome dependency).",
    ]
    lines += [f"* violation: {v}" for v in node["violations"]]
    lines += [f"* leak: {leak}" for leak in node["leaks"]]
    return [*lines, NODE_END]


HOUSE_BEGIN = "<!-- household soak: begin -->"
HOUSE_END = "<!-- household soak: end -->"


def household_section(house: dict[str, Any] | None, run: Run | None, command: str) -> list[str]:
    """The mixed household's table, between markers so ``--parts household`` can replace it alone."""
    lines = [HOUSE_BEGIN, "## A mixed household on one ESPHome node: a BB-8, an R2-D2 and a Mini", ""]
    if house is None:
        outcome = "not run" if run is None else f"no report (exit code {run.returncode})"
        return [*lines, f"Not measured in this run: {outcome}.", HOUSE_END]
    ok = not house["violations"] and not house["leaks"] and run is not None and run.returncode == 0
    faults = ", ".join(f"{name} {count}" for name, count in sorted(house["faults"].items()))
    modes = house.get("connection_modes", {})
    toys = ", ".join(
        f"{name} ({model}, {modes.get(name, 'mode not reported')})" for name, model in house["models"].items()
    )
    by_fault = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in house["recovery_by_fault"].items())
    lines += [
        f"Produced by `{command}` (seed {house['seed']}, {house['seconds']:.0f} s of real time): "
        f"{toys} behind the one simulated ESPHome node ({house['slots']} slots: one each), which Home "
        f"Assistant's own esphome integration drives, {house['rounds']} rounds in {house['simulated_minutes']:.0f} minutes of simulated time. "
        "Each round one of the node's faults, as in the section above, then the BB-8 and the Mini are asked "
        "for the round's colour (their Main LED light) and the R2-D2, which has no main LED, to roll on the "
        "round's heading (`bb8.roll`) and then to stop (`bb8.stop`), each again every second until the toy "
        "gets there (see `soak/node_faults.py`, `household`). "
        f"Result: **{'all checks passed' if ok else 'FAILURES, see below'}**.",
        "",
        "| check | measured | bound |",
        "|---|---:|---:|",
        f"| faults | {faults} | |",
    ]
    for model, uses in house["uses_by_model"].items():
        shown = house["uses_shown_by_model"].get(model, 0)
        slowest = house["recovery_by_model"].get(model, 0.0)
        lines.append(
            f"| {model}: uses that got there; slowest, from the fault's end | {shown} of {uses}; {slowest:.1f} s | "
            f"all; {house['recovery_bound']:.1f} s |"
        )
    lines += [
        f"| rounds that ended with a toy still rolling | {house['left_rolling']} | 0 |",
        f"| slowest recovery by fault | {by_fault} | |",
        f"| tries again (failed with a translated error; or skipped: Home Assistant leaves out an "
        f"unavailable entity) | {house['translated_errors']}; {house['retries'] - house['translated_errors']} | |",
        f"| API connections the node accepted; BLE links it opened; GATT errors it sent | "
        f"{house['api_connections_accepted']}; {house['links_opened']}; {house['gatt_errors_sent']} | |",
        f"| exceptions reaching the event loop; records logged at ERROR | {house['loop_exceptions']}; "
        f"{house['error_logs']} | 0; 0 |",
        f"| left behind after unload (slots, links, API connections, sessions) | {len(house['leaks'])} | 0 |",
    ]
    # A violation's first line: a logged traceback would break the list (pytest's output has it whole).
    lines += [f"* violation: {v.splitlines()[0] if v else v}" for v in house["violations"]]
    lines += [f"* leak: {leak}" for leak in house["leaks"]]
    return [*lines, HOUSE_END]


def splice_section(existing: str, section: list[str], begin: str, end: str) -> str:
    """Replace the section between ``begin`` and ``end`` (or add it before "Every test run")."""
    text = "\n".join(section)
    if begin in existing and end in existing:
        head, rest = existing.split(begin, 1)
        tail = rest.split(end, 1)[1]
        return head + text + tail
    marker = "## Every test run"
    if marker in existing:
        head, tail = existing.split(marker, 1)
        return head + text + "\n\n" + marker + tail
    return existing.rstrip("\n") + "\n\n" + text + "\n"


def splice_week(existing: str, section: list[str]) -> str:
    """Replace the week's section of ``existing`` (or add it before "Every test run")."""
    text = "\n".join(section)
    if WEEK_BEGIN in existing and WEEK_END in existing:
        head, rest = existing.split(WEEK_BEGIN, 1)
        tail = rest.split(WEEK_END, 1)[1]
        return head + text + tail
    marker = "## Every test run"
    if marker in existing:
        head, tail = existing.split(marker, 1)
        return head + text + "\n\n" + marker + tail
    return existing.rstrip("\n") + "\n\n" + text + "\n"


def test_rows(run: Run) -> list[str]:
    """The "Every test run" rows of one run: each test's name, outcome and time."""
    rows = [
        f"| {run.name} | `{name}` | {outcome} | {seconds:.1f} s |"
        for name, outcome, seconds in run.junit_cases()
    ]
    return rows or [f"| {run.name} | (no report) | exit code {run.returncode} | {run.seconds:.1f} s |"]


def splice_test_rows(existing: str, run: Run) -> str:
    """Replace ``run``'s rows of the "Every test run" table (a partial run's tests were renamed or retimed).

    Rows of other checks stay as the last full run wrote them; the run's rows go where its old
    ones were, or at the end of the table when it had none.
    """
    lines = existing.split("\n")
    prefix = f"| {run.name} | "
    at = [n for n, line in enumerate(lines) if line.startswith(prefix)]
    if at:
        lines[at[0] : at[-1] + 1] = test_rows(run)
        return "\n".join(lines)
    header = "| check | test | outcome | time |"
    if header not in lines:
        return existing
    end = lines.index(header)
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    lines[end:end] = test_rows(run)
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--commands", type=int, default=10_000, help="calls per chaos soak (default 10,000)")
    parser.add_argument("--seed", type=int, default=2025, help="seed of the soaks and cycles (default 2025)")
    parser.add_argument(
        "--modes", default="always,on_demand", help="connection modes to soak, comma-separated (default both)"
    )
    parser.add_argument("--cycles", type=int, default=1_000, help="setup/use/unload cycles (default 1,000)")
    parser.add_argument(
        "--examples", type=int, default=10_000, help="hypothesis examples per fuzz property (default 10,000)"
    )
    parser.add_argument("--toys", type=int, default=8, help="toys in the simulated week (default 8)")
    parser.add_argument("--days", type=int, default=7, help="days in the simulated week (default 7)")
    parser.add_argument(
        "--rounds", type=int, default=200, help="rounds of the node-faults soak (default 200)"
    )
    parser.add_argument("--node-toys", type=int, default=2, help="toys behind the node (default 2)")
    parser.add_argument(
        "--house-rounds",
        type=int,
        default=100,
        help="rounds of the mixed household's soak, a BB-8, an R2-D2 and a Mini on one node (default 100)",
    )
    parser.add_argument(
        "--parts",
        default="chaos,lifecycle,fuzz,week,node,household",
        help="parts to run, comma-separated (default all: chaos,lifecycle,fuzz,week,node,household); "
        "'week', 'node' and 'household' alone replace only their sections of the output",
    )
    parser.add_argument(
        "--output", type=Path, default=ROOT / "docs" / "reliability.md", help="where to write the summary"
    )
    args = parser.parse_args()

    python = sys.executable
    work = Path(tempfile.mkdtemp(prefix="bb8-soak-"))
    parts = {part.strip() for part in args.parts.split(",") if part.strip()}
    unknown = parts - {"chaos", "lifecycle", "fuzz", "week", "node", "household"}
    if unknown:
        parser.error(f"unknown parts: {sorted(unknown)}")
    runs: list[Run] = []
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()] if "chaos" in parts else []:
        runs.append(
            Run(
                f"chaos soak ({mode})",
                ["tests/test_soak.py", "-k", "chaos_soak"],
                {
                    "BB8_SOAK_COMMANDS": str(args.commands),
                    "BB8_SOAK_SEED": str(args.seed),
                    "BB8_SOAK_MODE": mode,
                    "BB8_SOAK_REPORT": str(work / f"soak-{mode}.json"),
                },
                report=work / f"soak-{mode}.json",
                junit=work / f"soak-{mode}.xml",
            )
        )
    if "lifecycle" in parts:
        runs.append(
            Run(
                "lifecycle",
                ["tests/test_lifecycle.py"],
                {
                    "BB8_CYCLES": str(args.cycles),
                    "BB8_CYCLE_SEED": str(args.seed),
                    "BB8_CYCLE_REPORT": str(work / "cycles.json"),
                },
                report=work / "cycles.json",
                junit=work / "lifecycle.xml",
            )
        )
    if "fuzz" in parts:
        runs.append(
            Run(
                "fuzz",
                ["tests/test_fuzz.py"],
                {"BB8_FUZZ_EXAMPLES": str(args.examples)},
                junit=work / "fuzz.xml",
            )
        )
    if "week" in parts:
        runs.append(
            Run(
                "week",
                ["tests/test_week_soak.py"],
                {
                    "BB8_WEEK_TOYS": str(args.toys),
                    "BB8_WEEK_DAYS": str(args.days),
                    "BB8_WEEK_SEED": str(args.seed),
                    "BB8_WEEK_REPORT": str(work / "week.json"),
                },
                report=work / "week.json",
                junit=work / "week.xml",
            )
        )

    if "node" in parts:
        runs.append(
            Run(
                "node faults",
                [
                    "tests/test_node_faults_soak.py::"
                    "test_node_faults_lose_nothing_raise_only_translated_errors_and_recover_within_the_bound"
                ],
                {
                    "BB8_NODE_ROUNDS": str(args.rounds),
                    "BB8_NODE_TOYS": str(args.node_toys),
                    "BB8_NODE_SEED": str(args.seed),
                    "BB8_NODE_REPORT": str(work / "node.json"),
                },
                report=work / "node.json",
                junit=work / "node.xml",
            )
        )

    if "household" in parts:
        runs.append(
            Run(
                "household",
                [
                    "tests/test_node_faults_soak.py::"
                    "test_a_mixed_household_on_one_node_loses_nothing_and_leaves_no_droid_rolling"
                ],
                {
                    "BB8_HOUSE_ROUNDS": str(args.house_rounds),
                    "BB8_NODE_SEED": str(args.seed),
                    "BB8_HOUSE_REPORT": str(work / "household.json"),
                },
                report=work / "household.json",
                junit=work / "household.xml",
            )
        )

    started = time.monotonic()
    for run in runs:
        run.execute(python)
    total = time.monotonic() - started

    soaks = [data for run in runs if run.name.startswith("chaos") and (data := run.data()) is not None]
    cycles = next(
        (data for run in runs if run.name == "lifecycle" and (data := run.data()) is not None), None
    )
    ok = all(run.returncode == 0 for run in runs)
    argv = " ".join(shlex.quote(a) for a in sys.argv[1:])
    command = "scripts/soak" + (f" {argv}" if argv else "")
    week_run = next((run for run in runs if run.name == "week"), None)
    week = week_run.data() if week_run is not None else None
    section = week_section(week, week_run, command)
    node_run = next((run for run in runs if run.name == "node faults"), None)
    node_lines = node_section(node_run.data() if node_run is not None else None, node_run, command)
    house_run = next((run for run in runs if run.name == "household"), None)
    house_lines = household_section(house_run.data() if house_run is not None else None, house_run, command)
    if parts <= {"week", "node", "household"}:
        text = args.output.read_text() if args.output.exists() else "# Reliability\n"
        shown: list[str] = []
        if "week" in parts:
            text = splice_week(text, section)
            shown += section
        if "node" in parts:
            text = splice_section(text, node_lines, NODE_BEGIN, NODE_END)
            shown += node_lines
        if "household" in parts:
            text = splice_section(text, house_lines, HOUSE_BEGIN, HOUSE_END)
            shown += house_lines
        for run in runs:
            text = splice_test_rows(text, run)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
        print("\n" + "\n".join(shown))
        print(f"\nwritten to {args.output}")
        return 0 if ok else 1

    lines = [
        "# Reliability",
        "",
        "What `scripts/soak` measured on the integration, the session and the simulator together",
        "(see `soak/chaos.py` for the fault model and the invariants, and `tests/test_soak.py`,",
        "`tests/test_lifecycle.py`, `tests/test_fuzz.py` and `tests/test_bad_input.py` for the",
        "suite's shorter versions of the same checks).",
        "",
        f"Produced by `{command}` on {dt.date.today().isoformat()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, in {total / 60:.1f} minutes; {versions(python)}. "
        f"Result: **{'all checks passed' if ok else 'FAILURES, see below'}**.",
        "",
        "## Chaos soak",
        "",
        "Calls (lights with colours, tail light, stabilization switch, buttons, `bb8.roll`,",
        "`bb8.stop`, `bb8.set_heading`) go through Home Assistant's service registry, one every 8 ms,",
        "each in its own task, while the simulated link drops answers, corrupts notifications, delays",
        "answers (now and then beyond the command timeout), drops the link, refuses connects, injects",
        "garbage, reports collisions, and the simulated proxy runs out of connection slots. A call",
        "must complete or fail with a translated error within its bound; the state machine must",
        "never stay CONNECTING past its bound nor stay connected with a dead writer or a stalled",
        "queue; no exception may reach the event loop and nothing may be logged at ERROR (except the",
        "coordinator's own line for a failed poll). When the faults stop, the link must be back",
        "within the reconnect policy's longest delay plus one connect attempt, the toy must show",
        "the last wish for the main LED, the tail light and stabilization, and so must the entities.",
        "After unload nothing may be left behind.",
        "",
        *soak_table(soaks),
        "",
        "Then, with the faults stopped, each mode checks one promise of its options (a violation",
        "above if it fails): on demand, the toy is used once and left alone while the battery poll",
        "(every 10 s) goes on; always connected with 3 reconnect attempts, the toy goes out of reach",
        "until the policy gives up, then is used.",
        "",
        *promises_table(soaks),
        "",
        *soak_details(soaks),
        "",
    ]
    if cycles is not None:
        variants = ", ".join(f"{name} {count}" for name, count in cycles["variants"].items())
        outcomes = ", ".join(f"{name} {count}" for name, count in cycles["call_outcomes"].items())
        lines += [
            "## Lifecycle cycling",
            "",
            "| cycles | leaks found | cycles that needed a moment to settle | slowest cycle | time |",
            "|---:|---:|---:|---:|---:|",
            f"| {thousands(cycles['cycles'])} | {cycles['leaks']} | {cycles.get('settled', 0)} | "
            f"{cycles['slowest_cycle']:.2f} s | {cycles['seconds']:.0f} s |",
            "",
            f"Variants (seed {cycles['seed']}): {variants}. Calls made during the cycles ended: {outcomes}.",
            "After every cycle: no task, live timer, thread, event bus listener, Bluetooth callback for",
            "the toy or proxy slot more than before the first; the session closed with no listener,",
            "pending command or timer; every few cycles, no simulator bleak backend with a link, a",
            "notify callback or a delivery timer. While loaded, the session's listeners and Home",
            "Assistant's Bluetooth callbacks are the same number every cycle. (A cycle whose counts",
            "are above the baseline right after unload gets up to a second to settle, for a task of",
            "Home Assistant's or bleak's own that is still finishing; a count still above it then is",
            "a leak and fails the run, naming every unfinished task.)",
            "",
        ]
    lines += [*section, "", *node_lines, "", *house_lines, ""]
    lines += ["## Every test run", "", "| check | test | outcome | time |", "|---|---|---|---:|"]
    for run in runs:
        lines += test_rows(run)
    lines += [
        "",
        f"Fuzzing ran {thousands(args.examples)} hypothesis examples per property (the decoders, the",
        "reassembler's memory bound and resynchronisation, and hostile notifications into a live",
        "session inside Home Assistant), plus hostile notifications through the simulated radio",
        "between real commands.",
        "",
    ]

    text = "\n".join(lines)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print("\n" + text)
    print(f"\nwritten to {args.output}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
