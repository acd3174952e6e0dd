"""The report's section for the mixed household (issue 25): :mod:`bench.household_side`'s figures.

Kept apart from :mod:`bench.report` (one hook there appends this section when a run has it);
``scripts/bench --household-only`` prints it and puts it in place of the same section of
docs/bench.md (:func:`splice`), leaving the rest of the file as the last full run wrote it.
"""

from __future__ import annotations

from typing import Final

from .esphome_report import TIMES, _count, _dist, _messages, _ms
from .household_side import HouseholdResults, ModelResult

SECTION_TITLE: Final = "## A mixed household on one node: a BB-8, an R2-D2 and a Mini (issue 25)"


def _bursts(model: ModelResult) -> str:
    reached = sum(burst.reached for burst in model.bursts)
    settles = ", ".join(
        f"{burst.size}: {_ms(burst.settle)}" + ("" if burst.reached else " (last heading never reached)")
        for burst in model.bursts
    )
    return f"{settles}; last heading reached in {reached} of {len(model.bursts)}"


def render_section(results: HouseholdResults) -> list[str]:
    """Return the section's lines: one column per model, measured side by side on the one node."""
    versions = ", ".join(f"{package} {version}" for package, version in results.versions.items())
    models = results.models
    header = "| Row | " + " | ".join(model.model for model in models) + " |"
    rows = [
        ("API messages on the node's socket per `bb8.roll`", lambda m: _messages(m.messages)),
        (
            "Background over the same window, per roll (every other toy's notifications, this toy's "
            "async packets, advertisements, pings)",
            lambda m: _count(m.messages.async_out),
        ),
        ("Event-loop iterations per `bb8.roll`, median (p99)", lambda m: _dist(m.iterations, "n")),
        ("Loop CPU per `bb8.roll`, warm (node, toys, idle left out)", lambda m: _dist(m.cpu)),
        (
            "Loop CPU per no-op `light.turn_on` (Home Assistant's own action), beside it",
            lambda m: _dist(m.cpu_noop),
        ),
        ("**Integration's own share** (roll \u2212 no-op, paired), warm", lambda m: _dist(m.cpu_share)),
        ("**Share ÷ Home Assistant's own action**", lambda m: f"**{m.share_ratio:.2f}{TIMES}**"),
        ("Burst settle (N rolls, a new heading each, until the toy rolls on the last)", _bursts),
    ]
    table = [header, "|---|" + "---|" * len(models)]
    for label, cell in rows:
        table.append(f"| {label} | " + " | ".join(cell(model) for model in models) + " |")
    return [
        SECTION_TITLE,
        "",
        f"Home Assistant's own `esphome` integration ({versions}) set up through its config flow against "
        f"one simulated ESPHome node ({results.slots} slots) on 127.0.0.1, and behind it a BB-8 (v1), an "
        "R2-D2 and a Mini (v2: `bb8sim/v2/`), each added as the `bb8` config flow adds it, with the no-op "
        "light beside them, in one Home Assistant (real time, a spinning loop); see "
        "`bench/household_side.py`. All three stay connected while each model is measured in turn, so the "
        "others' polls and streams run alongside (counted as background). The command is `bb8.roll`, the "
        "one action every model has, written with response as the integration writes it. The node's and "
        "the toys' CPU is timed apart and left out; iterations and CPU warm, back to back (no pacing, "
        f"0.1 ms per write); messages and bursts on the real link ({_ms(results.write_latency)} of air "
        "time per write, 60 ms pacing).",
        "",
        *table,
        "",
    ]


def splice(existing: str, section: list[str]) -> str:
    """Put ``section`` in place of the household section of ``existing`` (or before "## Notes", or at the end)."""
    text = "\n".join(section).rstrip("\n") + "\n"
    if SECTION_TITLE in existing:
        head, rest = existing.split(SECTION_TITLE, 1)
        following = rest.find("\n## ")
        tail = "" if following < 0 else rest[following + 1 :]
        return head + text + ("\n" + tail if tail else "")
    if "\n## Notes\n" in existing:
        head, tail = existing.split("\n## Notes\n", 1)
        return head.rstrip("\n") + "\n\n" + text + "\n## Notes\n" + tail
    return existing.rstrip("\n") + "\n\n" + text
