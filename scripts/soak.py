"""Run the long reliability checks and write their summary to docs/reliability.md.

Each check is the test suite's own test, run by pytest in a subprocess with bigger numbers in the
environment (warnings are errors there too, and Home Assistant's harness still fails a test that
leaves a task, timer or thread behind):

* tests/test_soak.py's chaos soak, once per connection mode (``BB8_SOAK_*``);
* tests/test_lifecycle.py: the setup/use/unload cycles (``BB8_CYCLES``) and Home Assistant
  stopping during a connect, a backoff and a command;
* tests/test_fuzz.py with ``BB8_FUZZ_EXAMPLES`` hypothesis examples per property.

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
    parser.add_argument(
        "--output", type=Path, default=ROOT / "docs" / "reliability.md", help="where to write the summary"
    )
    args = parser.parse_args()

    python = sys.executable
    work = Path(tempfile.mkdtemp(prefix="bb8-soak-"))
    runs: list[Run] = []
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
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
    runs.append(
        Run(
            "fuzz",
            ["tests/test_fuzz.py"],
            {"BB8_FUZZ_EXAMPLES": str(args.examples)},
            junit=work / "fuzz.xml",
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
    lines += ["## Every test run", "", "| check | test | outcome | time |", "|---|---|---|---:|"]
    for run in runs:
        for name, outcome, seconds in run.junit_cases():
            lines.append(f"| {run.name} | `{name}` | {outcome} | {seconds:.1f} s |")
        if not run.junit_cases():
            lines.append(f"| {run.name} | (no report) | exit code {run.returncode} | {run.seconds:.1f} s |")
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
