"""The report's section for the real proxy stack (issue 22): :mod:`bench.esphome_side`'s figures.

Kept apart from :mod:`bench.report` (one hook there appends this section when a run has it).
"""

from __future__ import annotations

from typing import Final

from .esphome_side import WITH_RESPONSE, WITHOUT_RESPONSE, EsphomeResults, MessageCount, WriteModeResult
from .results import Distribution

TIMES: Final = "\u00d7"
MINUS: Final = "\u2212"
SECTION_TITLE: Final = "## Through the real proxy stack: Home Assistant's esphome integration (issue 22)"


def _us(value: float) -> str:
    return f"{value * 1e6:.0f} µs"


def _ms(value: float) -> str:
    return f"{value * 1e3:.1f} ms"


def _count(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value else "0"


def _messages(count: MessageCount) -> str:
    parts = ", ".join(f"{label} {_count(value)}" for label, value in count.by_id.items())
    return f"{_count(count.into_node)} in, {_count(count.out_of_node)} out ({parts})"


def _dist(value: Distribution, unit: str = "µs") -> str:
    if unit == "µs":
        return f"{_us(value.median)} (p99 {_us(value.p99)})"
    return f"{value.median:.0f} (p99 {value.p99:.0f})"


def _bursts(mode: WriteModeResult) -> str:
    shown = sum(burst.shown for burst in mode.bursts)
    dropped = sum(burst.dropped_for_pacing for burst in mode.bursts)
    settles = ", ".join(
        f"{burst.size}: {_ms(burst.settle)}" + ("" if burst.shown else " (last colour never shown)")
        for burst in mode.bursts
    )
    return f"{settles}; last colour shown in {shown} of {len(mode.bursts)}; {dropped} dropped for pacing"


def _mode(results: EsphomeResults, name: str) -> WriteModeResult:
    return next(mode for mode in results.modes if mode.mode == name)


def render_section(results: EsphomeResults, baseline_ratio: float | None) -> list[str]:
    """Return the section's lines: the two write modes side by side, and what they mean for the default."""
    versions = ", ".join(f"{package} {version}" for package, version in results.versions.items())
    modes = [_mode(results, WITH_RESPONSE), _mode(results, WITHOUT_RESPONSE)]
    header = "| Row | " + " | ".join(f"write {mode.mode}" for mode in modes) + " |"
    rows = [
        ("API messages on the node's socket per colour change", lambda m: _messages(m.colour_messages)),
        ("API messages per roll", lambda m: _messages(m.roll_messages)),
        (
            "Background over the same windows, per command (the toy's sensor stream and power reports, advertisements, pings)",
            lambda m: f"{_count(m.colour_messages.async_out)} / {_count(m.roll_messages.async_out)}",
        ),
        (
            "Event-loop iterations per `light.turn_on`: BB-8 / no-op light, median (p99)",
            lambda m: f"{_dist(m.iterations_bb8, 'n')} / {_dist(m.iterations_noop, 'n')}",
        ),
        ("Loop CPU per BB-8 `light.turn_on`, warm (node, toy, idle left out)", lambda m: _dist(m.cpu_bb8)),
        (
            "Loop CPU per no-op `light.turn_on` (Home Assistant's own action), warm",
            lambda m: _dist(m.cpu_noop),
        ),
        (f"**Integration's own share** (BB-8 {MINUS} no-op, paired), warm", lambda m: _dist(m.cpu_share)),
        ("**Share ÷ Home Assistant's own action**", lambda m: f"**{m.share_ratio:.2f}{TIMES}**"),
        ("Burst settle (N colour changes until the toy shows the last)", _bursts),
        (
            "`bb8.roll` until the toy rolls at that speed, median (p99)",
            lambda m: f"{_ms(m.roll_settle.median)} ({_ms(m.roll_settle.p99)})",
        ),
    ]
    table = [header, "|---|---|---|"]
    for label, cell in rows:
        table.append(f"| {label} | " + " | ".join(cell(mode) for mode in modes) + " |")
    with_response, without_response = modes
    baseline = (
        f" On the project's own fake scanner in the same run the share is {baseline_ratio:.2f}{TIMES} "
        "(the Home Assistant rows above): through the real stack Home Assistant's loop also runs "
        "aioesphomeapi and bleak-esphome for every command."
        if baseline_ratio is not None
        else ""
    )
    dropped = sum(burst.dropped_for_pacing for burst in without_response.bursts)
    dropped_with = sum(burst.dropped_for_pacing for burst in with_response.bursts)
    return [
        SECTION_TITLE,
        "",
        f"Home Assistant's own `esphome` integration ({versions}) set up through its config flow against "
        "the simulated ESPHome node (`bb8sim/esphome/`) on 127.0.0.1, the BB-8 entry behind it, and the "
        "no-op light beside it, in one Home Assistant (real time, a spinning loop). The node and the toy "
        "share Home Assistant's loop, as in developer mode; their CPU (an ESP32's and a BB-8's work) is "
        f"timed apart and left out. The node holds each write for the link's {_ms(results.write_latency)} "
        "of air time before the toy gets it (the write response follows); the toy drops a command that "
        "reaches it sooner than the 60 ms pacing interval after the last. Write without response is the "
        "bench making bleak-esphome's client write the command characteristic without response; the "
        "integration writes with response. Messages counted on the node's socket while commands ran one "
        "at a time, paced; iterations and CPU warm, back to back (no pacing, 0.1 ms per write).",
        "",
        *table,
        "",
        f"**Write mode: the integration keeps write with response.** Without response a command is one "
        f"API message each way ({_messages(without_response.colour_messages)}) against one in and two "
        f"out, and the share is {without_response.share_ratio:.2f}{TIMES} against {with_response.share_ratio:.2f}{TIMES}. "
        f"But the bursts dropped {dropped} command(s) for pacing without response and {dropped_with} with "
        "it: the session spaces its writes 60 ms apart at the host, and only a write response tells it "
        "when a write reached the toy. Without one, a write that travels slower than the next (Wi-Fi to "
        "the proxy, a busy loop, a later connection event) reaches the toy less than 60 ms after the one "
        "before; the toy drops it and never answers, and the caller learns of it only when the command "
        "times out, 5 s later (through the node a write error never reaches the caller either). With a "
        "response the next write is timed from the toy's receipt, so the gap at the toy is never below "
        f"the interval.{baseline}",
    ]
