"""An asyncio event loop whose clock can skip the time it would spend idle.

Why: the link waits (60 ms pacing, 15 ms per write, 2 s reconnect backoff) dominate wall-clock
time, and spherov2's 60 ms sleep per write would make a burst of 1000 cost over a minute of real
waiting. On this loop, ``loop.time()`` is ``time.monotonic()`` plus every idle gap skipped so far.
In :attr:`IdleMode.SKIP`, when nothing is ready and the next timer is in the future, the loop
polls its selector once (without blocking) and, if no I/O or thread wake-up is pending, jumps its
clock to that timer instead of sleeping. CPU work still takes the real time it takes, so a
callback that hogs the loop shows up in every time measured on it (settle times, loop lag); only
idle waiting is free.

Idle waiting also changes CPU figures: a thread that sleeps for 100 ms wakes up to cold caches
and, on a shared virtual machine, often a slower core, and the same code then costs two to three
times as much CPU. :attr:`IdleMode.SPIN` waits in real time (for Home Assistant, whose timers mix
loop time and wall-clock time) but keeps the core busy polling, so its figures are comparable with
SKIP's; :attr:`IdleMode.BLOCK` is an ordinary loop, for the "cold" figures. ``idle_cpu`` counts the
CPU the loop spends going idle in every mode, so CPU-per-command figures can leave it out.

Threads (spherov2's writer thread, ``asyncio.to_thread``) reach this loop only through
``call_soon_threadsafe``; when no timer is scheduled the loop blocks in its selector for real, so
a thread's wake-up is never missed. :class:`VirtualClockThreadSleep` gives a thread a ``sleep``
that waits on this loop's clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
import contextlib
from enum import StrEnum
import selectors
import time
from typing import Any, Final

# How long a thread-side sleep may wait for the loop to answer (real seconds): a guard against a
# loop that stopped, never a timing.
_THREAD_BRIDGE_TIMEOUT: Final = 60.0


class IdleMode(StrEnum):
    """What the loop does when nothing is ready and the next timer is in the future."""

    SKIP = "skip"
    """Jump the clock to the next timer: simulated time, no real waiting."""
    SPIN = "spin"
    """Wait in real time, but by polling (keeps the CPU and its caches warm, as SKIP does)."""
    BLOCK = "block"
    """Wait in real time in the selector, as an ordinary loop does (the CPU may go cold)."""


SPIN_LIMIT: Final = 1.0
"""Waits longer than this (real seconds) block even in SPIN mode, so nothing burns a core long."""
SPIN_POLL_EVERY: Final = 0.001
"""How often a spinning wait looks at its selector (real seconds)."""


class _IdleSelector:
    """Wraps the loop's selector to apply the loop's :class:`IdleMode` and count idle CPU."""

    def __init__(self, inner: selectors.BaseSelector) -> None:
        self._inner = inner
        self.loop: VirtualTimeLoop | None = None

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        loop = self.loop
        if loop is None or timeout == 0:
            return self._inner.select(timeout)
        # The loop has nothing ready: whatever CPU this costs is going idle, not anyone's work.
        start = time.thread_time()
        try:
            if timeout is None or loop.idle_mode is IdleMode.BLOCK:
                return self._inner.select(timeout)
            if loop.idle_mode is IdleMode.SKIP:
                events = self._inner.select(0)
                if not events:
                    loop.skipped += timeout
                return events
            if timeout > SPIN_LIMIT:
                return self._inner.select(timeout)
            # Busy-wait on the clock (no system call), polling the selector once a millisecond:
            # a loop of polls through the kernel would itself cool the caches down.
            deadline = time.monotonic() + timeout
            next_poll = 0.0
            while True:
                now = time.monotonic()
                if now >= next_poll:
                    if events := self._inner.select(0):
                        return events
                    next_poll = now + SPIN_POLL_EVERY
                if now >= deadline:
                    return []
        finally:
            loop.idle_cpu += time.thread_time() - start

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop on real time plus the idle time it skipped (see the module docstring)."""

    def __init__(self, idle_mode: IdleMode = IdleMode.SKIP) -> None:
        """Start with nothing skipped; ``idle_mode`` may be changed at any time."""
        self.skipped = 0.0
        self.idle_mode = idle_mode
        self.idle_cpu = 0.0
        """Thread CPU seconds the loop spent going idle (polling or blocking with nothing ready)."""
        selector = _IdleSelector(selectors.DefaultSelector())
        super().__init__(selector)  # type: ignore[arg-type]  # duck-typed selector
        selector.loop = self

    def time(self) -> float:
        """Real monotonic time plus every idle wait skipped so far."""
        return time.monotonic() + self.skipped


class VirtualClockThreadSleep:
    """A ``time`` module stand-in for a thread: ``sleep`` waits on a loop's (virtual) clock.

    spherov2's writer thread calls ``time.sleep(0.06)`` after every write. Given this object in
    place of the ``time`` module, that sleep becomes an ``asyncio.sleep`` on the bench loop, so it
    costs simulated time like every other link wait, and the comparison stays on one clock.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        """Sleep on ``loop``, which must be running in another thread."""
        self._loop = loop

    def sleep(self, seconds: float) -> None:
        """Block the calling thread until ``seconds`` of loop time have passed."""
        asyncio.run_coroutine_threadsafe(asyncio.sleep(seconds), self._loop).result(_THREAD_BRIDGE_TIMEOUT)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@contextlib.contextmanager
def idle_mode(mode: IdleMode) -> Iterator[None]:
    """Run the block with the running loop in ``mode`` (no-op on another kind of loop)."""
    loop = asyncio.get_running_loop()
    if not isinstance(loop, VirtualTimeLoop):
        yield
        return
    previous, loop.idle_mode = loop.idle_mode, mode
    try:
        yield
    finally:
        loop.idle_mode = previous


def live_timers(loop: asyncio.AbstractEventLoop) -> int:
    """Count the timers scheduled on ``loop`` and not cancelled.

    While a thread drives the link (spherov2), an idle jump must only ever go to that thread's
    own timers; a stray timer left by earlier work would be jumped to while the thread computes,
    and its time would be charged to the thread.
    """
    scheduled: list[asyncio.TimerHandle] = getattr(loop, "_scheduled", [])
    return sum(1 for handle in scheduled if not handle.cancelled())


def idle_cpu(loop: asyncio.AbstractEventLoop) -> float:
    """CPU ``loop`` has spent going idle so far (0 on a loop that does not count it)."""
    return loop.idle_cpu if isinstance(loop, VirtualTimeLoop) else 0.0


def run_on_new_loop[T](coroutine: Coroutine[Any, Any, T], idle_mode: IdleMode = IdleMode.SKIP) -> T:
    """Run ``coroutine`` to completion on a fresh :class:`VirtualTimeLoop`, then close it cleanly.

    Async generators and the default executor (``asyncio.to_thread``) are shut down, so no thread
    outlives the run (the test harness checks for that).
    """
    loop = VirtualTimeLoop(idle_mode)
    try:
        return loop.run_until_complete(coroutine)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()
