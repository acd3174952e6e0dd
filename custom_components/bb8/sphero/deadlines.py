"""Deadlines: many futures timed out by one event-loop timer.

Its one job is failing a future with ``TimeoutError`` once its deadline has passed, unless it is
done by then. The command pipeline times every command's answer this way: a timer per command
(a ``TimerHandle`` made, pushed on the loop's heap and cancelled again) was the largest single
cost of a command's path after the Bluetooth write itself. Here the deadlines sit on a heap and
one timer is set for the earliest. It knows nothing of commands, links or toys, and never waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import heapq
import itertools
import math
from typing import Any


def _ignore(_waiter: asyncio.Future[Any]) -> None:
    """Do nothing (the default hook)."""


class Deadlines[T]:
    """Futures and the loop times by which they must be done, served by one timer."""

    def __init__(self, on_expired: Callable[[asyncio.Future[T]], None] = _ignore) -> None:
        """Start empty; ``on_expired`` hears of each future just failed with ``TimeoutError``."""
        self._on_expired = on_expired
        self._heap: list[tuple[float, int, asyncio.Future[T]]] = []
        """(deadline, tie-breaker, future): a future already done stays until it comes on top."""
        self._ids = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        """When the timer fires (infinity while none is set)."""

    def add(self, waiter: asyncio.Future[T], deadline: float) -> None:
        """Fail ``waiter`` with ``TimeoutError`` at loop time ``deadline`` unless it is done."""
        heap = self._heap
        while heap and heap[0][2].done():
            # Done meanwhile: let go of it now rather than when the timer passes it, so the heap
            # holds about as many entries as futures are outstanding.
            heapq.heappop(heap)
        heapq.heappush(heap, (deadline, next(self._ids), waiter))
        if deadline < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = waiter.get_loop().call_at(deadline, self._expire_due, deadline)
            self._timer_at = deadline

    def clear(self) -> None:
        """Forget every deadline and cancel the timer: nothing stays scheduled."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = math.inf
        self._heap.clear()

    def _expire_due(self, due: float) -> None:
        """Time out every future whose deadline is ``due`` or earlier; set the timer for the next."""
        self._timer = None
        self._timer_at = math.inf
        heap = self._heap
        while heap and (heap[0][0] <= due or heap[0][2].done()):
            waiter = heapq.heappop(heap)[2]
            if not waiter.done():
                waiter.set_exception(TimeoutError())
                self._on_expired(waiter)
        if heap:
            deadline = self._timer_at = heap[0][0]
            self._timer = heap[0][2].get_loop().call_at(deadline, self._expire_due, deadline)
