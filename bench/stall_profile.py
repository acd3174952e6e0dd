"""What runs in the event loop's busiest iterations: the callbacks, the state writes, the collector.

The loop-lag probe (:class:`bench.rig.LoopLagProbe`) says how long the longest stall was; this
says what filled it. While installed, every iteration of the running loop (``_run_once``) is
timed on the loop thread's CPU clock, the selector's idle wait left out, and so is every callback
the iteration runs (``asyncio.Handle._run``: task steps, timers, protocol reads); the garbage
collector's passes (``gc.callbacks``) and Home Assistant's state writes
(``Entity.async_write_ha_state``) are counted against the iteration they fall in. The busiest
iterations are kept whole, so the report can name what ran in the slice instead of guessing.

It costs each callback two clock readings, so the probe's own figures are taken in a window of
their own, without it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
import contextlib
from dataclasses import dataclass, field
import functools
import gc
import heapq
import itertools
import time
from typing import Any, Final
from unittest.mock import patch

from .vloop import idle_cpu

TIMES: Final = "\u00d7"


def callback_label(callback: Any) -> str:
    """Name what a loop handle runs: a task's coroutine, or a function by module and qualified name."""
    while isinstance(callback, functools.partial):
        callback = callback.func
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        name = getattr(coro, "__qualname__", None) or type(coro).__name__
        module = getattr(getattr(coro, "cr_code", None), "co_filename", "")
        return f"task {name}" + (f" ({_short(module)})" if module else "")
    if owner is not None and not isinstance(owner, type):
        name = f"{type(owner).__qualname__}.{getattr(callback, '__name__', '?')}"
        return f"{name} ({type(owner).__module__})"
    name = getattr(callback, "__qualname__", None) or repr(callback)
    module = getattr(callback, "__module__", None) or ""
    return f"{name} ({module})" if module else name


def _short(filename: str) -> str:
    parts = filename.replace("\\", "/").split("/")
    return "/".join(parts[-2:])


@dataclass(slots=True)
class Iteration:
    """One iteration of the loop: its busy CPU and what ran in it."""

    busy: float
    """Thread CPU of the iteration, the selector's idle wait left out (s)."""
    simulated: float
    """Of it, the simulated node's and toys' own work (what an ESP32 and a BB-8 do in a home)."""
    callbacks: list[tuple[str, float]]
    """Each callback the iteration ran and its CPU, the costliest first."""
    state_writes: Counter[str]
    """State writes in the iteration, by the writing entity's platform (``bb8`` or another)."""
    collections: list[tuple[int, float]]
    """Garbage-collector passes in the iteration: (generation, seconds)."""

    @property
    def home_assistant_busy(self) -> float:
        """The iteration's busy CPU less the simulated node's and toys' work."""
        return self.busy - self.simulated

    def summary(self, top: int = 4) -> str:
        """One line: busy time, state writes, collections and the costliest callbacks."""
        grouped: dict[str, float] = {}
        calls: Counter[str] = Counter()
        for label, cpu in self.callbacks:
            grouped[label] = grouped.get(label, 0.0) + cpu
            calls[label] += 1
        parts = [
            f"{self.busy * 1e3:.2f} ms busy ({self.simulated * 1e3:.2f} ms of it the simulated node and toys)"
        ]
        writes = sum(self.state_writes.values())
        parts.append(
            f"{writes} state write(s)"
            + (
                " ("
                + ", ".join(f"{count} {platform}" for platform, count in self.state_writes.most_common())
                + ")"
                if writes
                else ""
            )
        )
        if self.collections:
            parts.append(
                "garbage collection "
                + ", ".join(f"generation {gen} {seconds * 1e3:.2f} ms" for gen, seconds in self.collections)
            )
        else:
            parts.append("no garbage collection")
        parts.append(
            f"{len(self.callbacks)} callback(s), the costliest: "
            + "; ".join(
                f"{label} {TIMES}{calls[label]} {cpu * 1e3:.2f} ms"
                for label, cpu in sorted(grouped.items(), key=lambda item: -item[1])[:top]
            )
        )
        return ", ".join(parts)


@dataclass
class SlowIterations:
    """Keep the ``keep`` busiest iterations of the running loop while :meth:`installed`."""

    keep: int = 3
    simulated_cpu: Callable[[], float] = lambda: 0.0
    """Cumulative CPU of the simulated node and toys, read at each iteration's ends."""
    iterations: int = 0
    busiest: list[tuple[float, int, Iteration]] = field(default_factory=list)
    busy_total: float = 0.0
    _callbacks: list[tuple[str, float]] = field(default_factory=list)
    _writes: Counter[str] = field(default_factory=Counter)
    _collections: list[tuple[int, float]] = field(default_factory=list)
    _gc_started: float | None = None
    _order: Iterator[int] = field(default_factory=itertools.count)

    def longest(self) -> list[Iteration]:
        """Return the busiest iterations kept, the busiest first."""
        return [iteration for _, _, iteration in sorted(self.busiest, key=lambda item: -item[0])]

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.thread_time()
        elif self._gc_started is not None:
            self._collections.append((int(info.get("generation", -1)), time.thread_time() - self._gc_started))
            self._gc_started = None

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Time the running loop's iterations and callbacks, and count writes and collections."""
        from homeassistant.helpers.entity import Entity

        loop = asyncio.get_running_loop()
        recorder = self
        original_run_once = loop._run_once  # type: ignore[attr-defined]
        original_handle_run = asyncio.Handle._run
        original_write = Entity.async_write_ha_state

        def run_once() -> None:
            recorder._callbacks = []
            recorder._writes = Counter()
            recorder._collections = []
            cpu, idle, simulated = time.thread_time(), idle_cpu(loop), recorder.simulated_cpu()
            original_run_once()
            busy = time.thread_time() - cpu - (idle_cpu(loop) - idle)
            recorder.iterations += 1
            recorder.busy_total += busy
            if len(recorder.busiest) < recorder.keep or busy > recorder.busiest[0][0]:
                iteration = Iteration(
                    busy=busy,
                    simulated=recorder.simulated_cpu() - simulated,
                    callbacks=sorted(recorder._callbacks, key=lambda item: -item[1]),
                    state_writes=recorder._writes,
                    collections=recorder._collections,
                )
                entry = (busy, next(recorder._order), iteration)
                if len(recorder.busiest) < recorder.keep:
                    heapq.heappush(recorder.busiest, entry)
                else:
                    heapq.heapreplace(recorder.busiest, entry)

        def handle_run(handle: asyncio.Handle) -> None:
            # Named before it runs: a callback that cancels its own handle clears ``_callback``.
            label = callback_label(handle._callback)  # type: ignore[attr-defined]
            started = time.thread_time()
            try:
                original_handle_run(handle)
            finally:
                recorder._callbacks.append((label, time.thread_time() - started))

        def write(entity: Entity) -> None:
            platform = entity.platform.platform_name if entity.platform is not None else "?"
            platform = f"{platform} {type(entity).__name__}"
            recorder._writes[platform] += 1
            original_write(entity)

        write._hass_callback = True  # type: ignore[attr-defined]  # as @callback marks the original

        loop._run_once = run_once  # type: ignore[attr-defined]
        gc.callbacks.append(self._on_gc)
        try:
            with (
                patch.object(asyncio.Handle, "_run", handle_run),
                patch.object(Entity, "async_write_ha_state", write),
            ):
                yield
        finally:
            gc.callbacks.remove(self._on_gc)
            del loop._run_once  # type: ignore[attr-defined]
