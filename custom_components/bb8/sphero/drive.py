"""Driving: which motion is the latest, whether the toy rolls, and the stop that ends a timed roll.

A rolling toy rolls off tables. The stop that ends a timed roll must happen whatever becomes of the task
that asked for the roll: Home Assistant cancels a blocking action's task when its script is
stopped, an automation in ``mode: restart`` is triggered again, a ``wait`` times out or the
entry unloads. So the end of a timed roll is a timer of the session's own, not a sleep in the
caller's task, and a caller cancelled while its roll is the latest motion stops the toy at once.
Each roll, stop or aim is a new motion; a newer motion supersedes an older one (its pending
stop is dropped: the newer motion decides).

The stop itself is sent by the ``send_stop`` it is given, over a link that is up only: without a
link a v1 toy has already stopped (the session sets the toy's "stop on disconnect" option on every
connect), and connecting just to stop would wake a toy that is asleep. A v2 toy has no such
option: a stop due while its link is down is owed (``stop_owed``) and sent when the link is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
import logging
from typing import Any

from .background import Background

_LOGGER = logging.getLogger(__name__)

ROLL_END_TIMER = "roll end"


class Drive:
    """One toy's motions: the latest one, whether it rolls, and a timed roll's end."""

    def __init__(
        self,
        name: str,
        background: Background,
        send_stop: Callable[[str], Coroutine[Any, Any, None]],
    ) -> None:
        """Start still; ``send_stop(reason)`` sends a stop over the link that is up, if any."""
        self._name = name
        self._background = background
        self._send_stop = send_stop
        self.motion = 0
        """Bumped by every roll, stop and aim: the newest one decides what the toy does."""
        self.rolling = False
        """The latest roll asked for a speed above 0 and nothing stopped it since."""
        self.stop_owed = False
        """A stop fell due while the link was down, on a toy that rolls on without its link
        (v2): the session sends it when the link is back, unless a newer motion came first."""
        self._closed = False
        """The session is closing: a roll answered after that holds nothing (closing stops it)."""
        self._timed_end: asyncio.Future[None] | None = None
        """Resolved when the latest timed roll ends (its stop went out, or a newer motion came)."""

    @property
    def still(self) -> bool:
        """Whether the toy stands still as far as the session knows: not rolling, no stop owed.

        A toy that rolls on without its link (v2) counts as rolling until a stop is answered, so
        this is never True for a toy that may still be rolling unlinked.
        """
        return not self.rolling and not self.stop_owed

    def begin(self) -> int:
        """Start a new motion (a roll, a stop, an aim) and return its number.

        The previous motion is superseded: its pending timed stop is dropped and whoever waits
        for it is released, because the new motion decides what the toy does next.
        """
        self.motion += 1
        self.stop_owed = False
        self._background.cancel_timer(ROLL_END_TIMER)
        self._release()
        return self.motion

    def rolled(self, motion: int, speed: int) -> None:
        """Note that the toy took motion ``motion``'s roll at ``speed``."""
        if motion == self.motion:
            self.rolling = speed > 0

    def stopped(self) -> None:
        """Note that the toy stands still (a stop was taken, the link went, it fell asleep)."""
        self.rolling = False
        self.stop_owed = False

    async def hold(self, motion: int, duration: float) -> None:
        """Wait until timed roll ``motion`` ends: ``duration`` seconds, then its stop goes out.

        The stop is the session's timer, not this wait: if the caller is cancelled, the timer
        still fires (and ``abandon`` stops the toy sooner). Returns early when a newer motion
        supersedes this one, or when the session closes (closing drops the link: the toy stops).
        """
        if motion != self.motion or self._closed:
            return  # a close that came between the roll's answer and this wait: no timer fires now
        ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._timed_end = ended
        self._background.set_timer(ROLL_END_TIMER, duration, lambda: self._end(motion, "its duration ended"))
        await ended

    def abandon(self, motion: int) -> None:
        """Stop now if motion ``motion``, whose caller was cancelled, is still the latest.

        A script stopped in the middle of a timed roll, or while its roll was on its way, must
        not leave the toy rolling at the script's speed.
        """
        if motion == self.motion:
            self._end(motion, "its caller was cancelled")

    def close(self) -> None:
        """Release a waiting timed roll, and any that would wait later: the session is closing."""
        self._closed = True
        self._background.cancel_timer(ROLL_END_TIMER)
        self._release()

    def _end(self, motion: int, reason: str) -> None:
        """End motion ``motion`` with a stop the session sends (it is no longer anyone's task)."""
        if motion != self.motion:
            return
        self.motion += 1  # the stop is the newest motion: a second end of this roll is a no-op
        self._background.cancel_timer(ROLL_END_TIMER)
        ended, self._timed_end = self._timed_end, None
        _LOGGER.debug("%s: stopping, the roll is over (%s)", self._name, reason)
        self._background.spawn(self._stop(self.motion, reason, ended), f"bb8 {self._name} stop")

    async def _stop(self, motion: int, reason: str, ended: asyncio.Future[None] | None) -> None:
        """Send the stop of motion ``motion`` unless a newer motion came first, then release."""
        try:
            if motion == self.motion:
                await self._send_stop(reason)
        finally:
            if ended is not None and not ended.done():
                ended.set_result(None)

    def _release(self) -> None:
        ended, self._timed_end = self._timed_end, None
        if ended is not None and not ended.done():
            ended.set_result(None)
