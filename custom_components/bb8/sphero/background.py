"""The tasks and named timers a session starts, kept so that ``close()`` can end every one.

A connect's set-up, a restore, an idle disconnect, the stable-link window, a timed roll's end:
each runs here, so closing cancels them all and a leak check can see that none is left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
import logging
from typing import Any

from .models import SessionCounters

_LOGGER = logging.getLogger(__name__)


class Background:
    """One session's tracked tasks and named timers."""

    def __init__(self, name: str, counters: SessionCounters) -> None:
        """Start with nothing running; a task's failure is logged under ``name`` and counted."""
        self._name = name
        self._counters = counters
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}

    @property
    def timer_names(self) -> tuple[str, ...]:
        """Names of the timers still set, sorted."""
        return tuple(sorted(self._timers))

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Run ``coro`` as a task that ``cancel_all`` cancels; its failure is logged, not raised."""
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            self._counters.last_error = repr(error)
            # Not a Bluetooth failure (those are handled where they happen) but a bug: in full.
            _LOGGER.warning(
                "%s: background task %s failed: %r", self._name, task.get_name(), error, exc_info=error
            )

    def set_timer(self, key: str, delay: float, callback: Callable[[], None]) -> None:
        """Call ``callback`` in ``delay`` seconds, replacing the timer named ``key`` if set.

        The timer is forgotten as it fires, so ``timer_names`` lists only timers still to come.
        """
        self.cancel_timer(key)

        def fire() -> None:
            self._timers.pop(key, None)
            callback()

        self._timers[key] = asyncio.get_running_loop().call_later(delay, fire)

    def cancel_timer(self, key: str) -> None:
        """Cancel the timer named ``key``, if it is set."""
        if (timer := self._timers.pop(key, None)) is not None:
            timer.cancel()

    async def cancel_all(self, *others: asyncio.Task[Any] | None) -> None:
        """Cancel every timer and tracked task, and ``others``; wait for each task to end.

        A task that ends with an error is logged, not raised: closing must finish. A
        cancellation of the caller itself propagates.
        """
        for key in list(self._timers):
            self.cancel_timer(key)
        tasks = [task for task in (*others, *self._tasks) if task is not None and not task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                if (current := asyncio.current_task()) is not None and current.cancelling():
                    raise
            except Exception:
                _LOGGER.debug("%s: task ended with an error during close", self._name, exc_info=True)


async def join(task: asyncio.Task[None]) -> None:
    """Wait for a task other callers share, without cancelling it if this caller is cancelled.

    Not ``asyncio.shield``: since Python 3.14, a shielded task that fails after one of its
    callers was cancelled is reported to the loop's exception handler as an unhandled error,
    even though the session expects and handles that failure (a connect given up, say).
    """
    await asyncio.wait((task,))
    task.result()


def retrieve_outcome(task: asyncio.Task[Any]) -> None:
    """Mark a shared task's failure as seen: its callers may all have been cancelled."""
    if not task.cancelled():
        task.exception()
