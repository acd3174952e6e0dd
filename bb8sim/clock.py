"""Simulated time for the toy, and a ticker that ties it to the event loop for developer mode.

Everything the simulated BB-8 does on its own (battery drain and charge, the inactivity sleep
with its will-sleep warning ten seconds ahead, the power notifications every ten seconds,
collision timestamps) runs off a :class:`SimClock`. Tests move that clock by hand with
:meth:`SimClock.advance`, so ten minutes of toy time cost no real time and happen in a known
order. Only link latency (delays a fault plan asks for) uses the event loop's clock instead: real
time, or a test's simulated loop time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import heapq
import itertools
import logging
from typing import Any

_LOGGER = logging.getLogger(__name__)


class SimTimerHandle:
    """A timer scheduled on a :class:`SimClock`; :meth:`cancel` stops it from firing."""

    __slots__ = ("_args", "_callback", "_cancelled", "when")

    def __init__(self, when: float, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        """Remember what to call and when; the clock owns the ordering."""
        self.when = when
        self._callback = callback
        self._args = args
        self._cancelled = False

    def cancel(self) -> None:
        """Stop the timer from firing; cancelling twice, or after it fired, is harmless."""
        self._cancelled = True

    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._cancelled

    def _run(self) -> None:
        self._callback(*self._args)

    def __repr__(self) -> str:
        """Show when and what, for failing test output."""
        state = " cancelled" if self._cancelled else ""
        return f"<SimTimerHandle when={self.when:.3f} {self._callback!r}{state}>"


class SimClock:
    """A manual clock: time only moves when :meth:`advance` (or :meth:`set_time`) is called.

    Timers fire synchronously inside :meth:`advance`, in order of their due time (ties in the
    order they were scheduled), and the clock reads each timer's own due time while it fires, so
    a callback that schedules another timer inside the same window sees it fire too.
    """

    def __init__(self, start: float = 0.0) -> None:
        """Start at ``start`` seconds with no timers."""
        self._now = float(start)
        self._heap: list[tuple[float, int, SimTimerHandle]] = []
        self._counter = itertools.count()
        self._advancing = False

    def now(self) -> float:
        """Return the simulated time in seconds."""
        return self._now

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> SimTimerHandle:
        """Schedule ``callback(*args)`` at simulated time ``when`` (past times fire on next advance)."""
        handle = SimTimerHandle(float(when), callback, args)
        heapq.heappush(self._heap, (handle.when, next(self._counter), handle))
        return handle

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> SimTimerHandle:
        """Schedule ``callback(*args)`` ``delay`` simulated seconds from now."""
        return self.call_at(self._now + max(0.0, float(delay)), callback, *args)

    @property
    def pending(self) -> int:
        """Number of timers that are scheduled and not cancelled."""
        return sum(1 for _, _, handle in self._heap if not handle.cancelled())

    def next_due(self) -> float | None:
        """Due time of the earliest live timer, or None."""
        self._discard_cancelled_head()
        return self._heap[0][0] if self._heap else None

    def advance(self, seconds: float) -> int:
        """Move time forward by ``seconds``, firing every timer that falls due, in order.

        Returns how many timers fired. A callback that raises is logged and does not stop the
        others: one broken listener must not freeze the toy's sense of time.
        """
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        return self.set_time(self._now + seconds)

    def set_time(self, target: float) -> int:
        """Move time forward to ``target`` (not backwards), firing due timers; see :meth:`advance`."""
        if target < self._now:
            raise ValueError("a clock cannot go backwards")
        if self._advancing:
            raise RuntimeError("advance() called from a timer callback")
        fired = 0
        self._advancing = True
        try:
            while True:
                self._discard_cancelled_head()
                if not self._heap or self._heap[0][0] > target:
                    break
                when, _, handle = heapq.heappop(self._heap)
                self._now = max(self._now, when)
                fired += 1
                try:
                    handle._run()
                except Exception:
                    _LOGGER.exception("Simulated clock timer %r failed", handle)
            self._now = target
        finally:
            self._advancing = False
        return fired

    def run_until_idle(self, limit: float = 86_400.0) -> int:
        """Fire timers until none is left within ``limit`` seconds from now; returns how many fired."""
        fired = 0
        horizon = self._now + limit
        while (due := self.next_due()) is not None and due <= horizon:
            fired += self.set_time(max(due, self._now))
        return fired

    def _discard_cancelled_head(self) -> None:
        while self._heap and self._heap[0][2].cancelled():
            heapq.heappop(self._heap)


class RealtimeTicker:
    """Advance a :class:`SimClock` with the event loop's real time (developer mode).

    Every ``interval`` seconds the clock moves by the real time elapsed since the last tick, so
    the simulated toy drains its battery and falls asleep at the speed a real one would.
    ``start`` and ``stop`` are idempotent; after ``stop`` nothing of the ticker is left running.
    """

    def __init__(self, clock: SimClock, interval: float = 0.1, *, speed: float = 1.0) -> None:
        """Tick every ``interval`` seconds; ``speed`` > 1 runs toy time faster than real time."""
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.clock = clock
        self.interval = interval
        self.speed = speed
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the ticking task is alive."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start ticking on the running loop (no-op if already running)."""
        if self.running:
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="bb8sim-realtime-ticker")

    async def stop(self) -> None:
        """Stop ticking and wait until the task has finished."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def __aenter__(self) -> RealtimeTicker:
        """Start on entry."""
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop on exit."""
        await self.stop()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(self.interval)
            now = loop.time()
            self.clock.advance((now - last) * self.speed)
            last = now
