"""What one bench run measured, as plain data the report turns into tables and a plot.

All times are seconds (the report converts); CPU figures are thread CPU seconds of the event-loop
thread unless a field says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
import math
from typing import Any


def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the ``fraction`` quantile of ``values`` by linear interpolation (NaN when empty)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True, slots=True)
class Distribution:
    """Median and 99th percentile of a set of samples."""

    median: float
    p99: float
    count: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Distribution:
        """Summarise ``samples``."""
        return cls(percentile(samples, 0.5), percentile(samples, 0.99), len(samples))


@dataclass(frozen=True, slots=True)
class BurstSide:
    """One side's burst: until the toy showed the last colour, how many LED writes, host CPU."""

    settle: float
    writes: int
    cpu_per_change: float
    """Process CPU (all threads; simulator and idle polling excluded) per colour change asked."""
    dropped_for_pacing: int


@dataclass(frozen=True, slots=True)
class BurstRow:
    """A burst of ``size`` colour changes on each side."""

    size: int
    spherov2: BurstSide
    session: BurstSide
    home_assistant: BurstSide | None


@dataclass(frozen=True, slots=True)
class Stall:
    """The longest loop-lag probe lateness, and the part of it the loop spent running code."""

    wall: float
    busy: float
    integration: float | None = None
    """The most the integration's own code ran in one loop iteration of the phase, measured under a
    profiler less its calibrated cost per event (:class:`bench.rig.LoopIterationProfile`), or None
    where not measured. Where set, issue 7's "no stall above 5 ms" judges this: the rest of the
    stall is Home Assistant's own work (setting up an entry's platforms and entities)."""
    integration_profiled: float | None = None
    """The same as measured under the profiler, its cost included: an upper bound."""

    @property
    def judged(self) -> float:
        """What the 5 ms target holds to this phase: the integration's part if measured, else the loop's."""
        return self.busy if self.integration is None else self.integration


@dataclass(frozen=True, slots=True)
class RecoveryResult:
    """Drop to first successful command, against the reconnect policy's first delay."""

    first_delay: Distribution
    recovery: Distribution
    overhead: Distribution
    """Recovery minus the delay: connect, handshake, readiness ping, restoring the toy's state."""
    trials: int
    failed: int
    """Trials whose first command after the link came back failed (the time is then to the failure)."""


@dataclass(frozen=True, slots=True)
class ScaleRow:
    """``toys`` sessions driven at once on one loop."""

    toys: int
    cpu_per_command: float
    """Loop-thread CPU per written command (toy and idle polling excluded), all toys together."""
    settle_median: float
    settle_max: float
    """Per toy: a burst of ``burst`` colour changes sent to every toy at once."""
    burst: int


@dataclass(frozen=True, slots=True)
class MemoryResult:
    """Python heap (tracemalloc) after a few and after many commands, the simulator's own left out."""

    few_commands: int
    many_commands: int
    traced_after_few: int
    traced_after_many: int
    integration_after_few: int
    """Bytes still alive that were allocated with ``custom_components/`` code on the stack."""
    integration_after_many: int
    frames: int
    """Stack frames tracemalloc kept per allocation."""


@dataclass(frozen=True, slots=True)
class MotionPhase:
    """One measured window: the stream off (motion entities disabled) or on (all enabled)."""

    toys: int
    streaming: bool
    seconds: float
    frames_per_second: float
    """Stream frames the integration decoded per second, all toys together."""
    state_writes_per_second: float
    """State writes of the toys' entities per second (every entity of the integration)."""
    motion_writes_per_second: float
    """Of those, the writes of the motion entities."""
    loop_cpu: float
    """Event-loop CPU per second of wall time (1.0 = one core), the simulated toys' part left out."""
    toy_cpu: float
    """CPU per second the simulated toys spent on their own clock (motion model, stream packets)."""
    stall_busy: float
    """Longest loop-lag probe lateness spent running code, in a window of its own (s)."""
    stall_wall: float
    stall_host: float = 0.0
    """The same busy lateness less the simulated nodes' and toys' own work (an ESP32's and a
    BB-8's, in a home): what Home Assistant's loop itself ran."""
    busiest: list[str] = field(default_factory=list)
    """What ran in the busiest loop iterations of a profiled window (``bench.stall_profile``)."""
    busiest_host: float = 0.0
    """The busiest profiled iteration's CPU less the simulated nodes' and toys' work (s)."""


@dataclass(frozen=True, slots=True)
class MotionRow:
    """Both phases for one number of toys."""

    off: MotionPhase
    on: MotionPhase

    @property
    def added_cpu(self) -> float:
        """Loop CPU the stream added (cores), toys' own work excluded."""
        return self.on.loop_cpu - self.off.loop_cpu

    @property
    def cpu_per_frame(self) -> float:
        """Loop CPU the stream added per decoded frame (s)."""
        return self.added_cpu / self.on.frames_per_second if self.on.frames_per_second else math.nan


@dataclass(slots=True)
class BenchResults:
    """Everything one run measured, in one place."""

    write_latency: float
    pacing_interval: float
    bursts: list[BurstRow] = field(default_factory=list)
    cpu: dict[str, Distribution] = field(default_factory=dict)
    stalls: dict[str, Stall] = field(default_factory=dict)
    recovery: dict[str, RecoveryResult] = field(default_factory=dict)
    scale: list[ScaleRow] = field(default_factory=list)
    memory: MemoryResult | None = None
    unit_costs: dict[str, Distribution] = field(default_factory=dict)
    """Thread CPU of single steps on the command path (and a bare loop turn), warm."""
    state_writes: dict[str, float] = field(default_factory=dict)
    """Entity states Home Assistant computes and writes per ``light.turn_on``, by light."""
    motion: list[MotionRow] = field(default_factory=list)
    """Streaming at 10 Hz in Home Assistant, off against on, per number of toys (issue 15)."""
    esphome: Any = None
    """The real proxy stack's rows (``bench.esphome_side.EsphomeResults``), when measured (issue 22)."""
    household: Any = None
    """The mixed household's rows (``bench.household_side.HouseholdResults``), when measured (issue 25)."""
    run_seconds: float = math.nan
    notes: list[str] = field(default_factory=list)


def numbers(value: Any) -> Iterator[float]:
    """Every number inside ``value`` (dataclasses, dicts, lists), for the smoke test's finiteness check."""
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield float(value)
    elif is_dataclass(value) and not isinstance(value, type):
        for item in fields(value):
            yield from numbers(getattr(value, item.name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from numbers(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from numbers(item)
