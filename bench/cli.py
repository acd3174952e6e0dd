"""Command line: run the bench, print the Markdown report, write it and the plot to docs/."""

from __future__ import annotations

import argparse
from importlib import metadata
import logging
import os
from pathlib import Path
import platform
import sys

from . import motion_side
from .report import plot, render_markdown, render_turns
from .rig import LinkSettings
from .runner import BenchPlan, run_bench, run_turns

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs"


def _environment() -> list[str]:
    """Describe what the numbers were measured on, for the report's first line."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return [
        f"{cpu}, {os.cpu_count()} cores, load average {load} at the start",
        f"Python {platform.python_version()}",
        f"Home Assistant {metadata.version('homeassistant')}",
        f"bleak {metadata.version('bleak')}",
        f"aioesphomeapi {metadata.version('aioesphomeapi')}, bleak-esphome {metadata.version('bleak-esphome')}",
        f"spherov2 {metadata.version('spherov2')}",
    ]


def _esphome_only(args: argparse.Namespace, environment: list[str]) -> int:
    """Run and print only the real proxy stack's section (docs/bench.md keeps the rest)."""
    from .esphome_report import render_section
    from .esphome_side import run
    from .vloop import IdleMode, run_on_new_loop

    plan = BenchPlan.quick() if args.quick else BenchPlan()
    print("bench: the real proxy stack's rows only...", file=sys.stderr)
    results = run_on_new_loop(
        run(
            LinkSettings(write_latency=args.write_latency),
            samples=plan.esphome_samples,
            commands=plan.esphome_commands,
            burst_sizes=list(plan.esphome_bursts),
        ),
        IdleMode.SPIN,
    )
    command = "scripts/bench --esphome-only" + (" --quick" if args.quick else "")
    print(f"Made by `{command}` ({', '.join(environment)}).\n")
    print("\n".join(render_section(results, None)))
    return 0


def _household_only(args: argparse.Namespace, environment: list[str]) -> int:
    """Run the mixed household's rows, print their section and put it in docs/bench.md (unless --no-write)."""
    from . import household_report
    from .household_side import run
    from .vloop import IdleMode, run_on_new_loop

    plan = BenchPlan.quick() if args.quick else BenchPlan()
    print("bench: the mixed household's rows only...", file=sys.stderr)
    results = run_on_new_loop(
        run(
            LinkSettings(write_latency=args.write_latency),
            samples=plan.household_samples,
            commands=plan.household_commands,
            burst_sizes=list(plan.household_bursts),
        ),
        IdleMode.SPIN,
    )
    command = "scripts/bench --household-only" + (" --quick" if args.quick else "")
    section = household_report.render_section(results)
    made = f"Made by `{command}` ({', '.join(environment)})."
    section = [*section[:2], made, "", *section[2:]]
    print("\n".join(section))
    if not args.no_write:
        target = args.out / "bench.md"
        existing = target.read_text(encoding="utf-8") if target.exists() else "# Benchmarks\n"
        args.out.mkdir(parents=True, exist_ok=True)
        target.write_text(household_report.splice(existing, section), encoding="utf-8")
        print(f"bench: wrote the household's section of {target}", file=sys.stderr)
    return 0


def _motion_only(args: argparse.Namespace, environment: list[str]) -> int:
    """Run and print only the motion streaming section (docs/bench.md keeps the rest)."""
    from .report import SECTION_TITLES, motion_busiest, motion_summary, motion_table
    from .vloop import IdleMode, run_on_new_loop

    plan = BenchPlan.quick() if args.quick else BenchPlan()
    print("bench: the motion streaming rows only...", file=sys.stderr)
    rows = run_on_new_loop(
        motion_side.motion_rows(
            list(plan.motion_toys), plan.motion_seconds, lambda line: print(f"bench: {line}", file=sys.stderr)
        ),
        IdleMode.BLOCK,
    )
    command = "scripts/bench --motion-only" + (" --quick" if args.quick else "")
    print(f"{SECTION_TITLES[9]}\n\nMade by `{command}` ({', '.join(environment)}).\n")
    print("\n".join([*motion_table(rows), "", *motion_summary(rows), "", *motion_busiest(rows)]))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, report; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes (seconds): checks the machinery only"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where bench.md and bench.png go")
    parser.add_argument("--no-write", action="store_true", help="print the report, write nothing")
    parser.add_argument(
        "--write-latency",
        type=float,
        default=LinkSettings().write_latency,
        help="seconds one GATT write takes on the simulated link (default: %(default)s)",
    )
    parser.add_argument(
        "--esphome-only",
        action="store_true",
        help="only the real proxy stack's rows (Home Assistant's esphome integration); print their section",
    )
    parser.add_argument(
        "--motion-only",
        action="store_true",
        help="only the motion streaming rows (through the real proxy stack); print their section",
    )
    parser.add_argument(
        "--household-only",
        action="store_true",
        help="only the mixed household's rows (a BB-8, an R2-D2 and a Mini on one node); print their "
        "section and put it in place in bench.md (unless --no-write)",
    )
    parser.add_argument(
        "--turns-only",
        action="store_true",
        help="only the per-command rows (loop turns, burst CPU, several toys); print them, write nothing",
    )
    args = parser.parse_args(argv)
    # Home Assistant's loader warns about every custom integration; nothing else here logs.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")

    environment = _environment()
    if args.esphome_only:
        return _esphome_only(args, environment)
    if args.motion_only:
        return _motion_only(args, environment)
    if args.household_only:
        return _household_only(args, environment)
    plan = BenchPlan.quick() if args.quick else BenchPlan()
    if args.turns_only:
        results = run_turns(plan, LinkSettings(write_latency=args.write_latency))
        command = "scripts/bench --turns-only" + (" --quick" if args.quick else "")
        print(f"Made by `{command}` ({', '.join(environment)}).\n")
        print("\n".join(render_turns(results)))
        return 0
    print(
        f"bench: running ({'quick plan' if args.quick else 'full plan, a few minutes'})...", file=sys.stderr
    )
    results = run_bench(plan, LinkSettings(write_latency=args.write_latency))
    command = "scripts/bench --quick" if args.quick else "scripts/bench"
    report = render_markdown(results, command=command, environment=environment)
    print(report)
    if not args.no_write:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bench.md").write_text(report, encoding="utf-8")
        plot(results, args.out / "bench.png")
        print(f"bench: wrote {args.out / 'bench.md'} and {args.out / 'bench.png'}", file=sys.stderr)
    return 0
