"""The always-connected loop: connect, wait for the link to go, rest as the policy says, repeat.

bleak-retry-connector retries inside one connect; ``Reconnector`` decides between connects. It
runs ``ReconnectPolicy`` through ``policy.Backoff``, gives up when the policy's attempts are
spent, pauses while the toy sleeps, waits without trying while nobody hears the toy, and logs
each outage once (the out-of-slots advice once per episode, not once per attempt).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import logging
import random
from typing import Final

from .errors import BB8ConnectionError, BB8Error
from .models import SessionCounters
from .policy import Backoff, FailureReason, ReconnectPolicy

_LOGGER = logging.getLogger(__name__)

HEARD_RECHECK: Final = 30.0
"""Seconds between two looks at whether a toy nobody heard is heard now (see ``_wait_to_hear``)."""


class Reconnector:
    """The always-connected loop of one toy, and its backoff state."""

    def __init__(
        self,
        name: str,
        policy: ReconnectPolicy,
        rng: random.Random,
        counters: SessionCounters,
        *,
        connect: Callable[[], Awaitable[None]],
        is_connected: Callable[[], bool],
        is_closed: Callable[[], bool],
        is_heard: Callable[[], bool],
        fell_asleep: Callable[[], bool],
    ) -> None:
        """Prepare the loop; it runs once ``start()`` is called.

        ``is_heard()`` says whether any adapter or proxy hears the toy now: nobody connects to a
        toy nobody hears, so the loop waits for ``reachable_again`` instead of trying.
        ``fell_asleep()`` says whether the toy has fallen asleep by itself while it had no link
        (its inactivity time ran out); it then notes the sleep, and the loop stops until the
        toy is used, because connecting would wake it.
        """
        self._name = name
        self._counters = counters
        self._connect = connect
        self._is_connected = is_connected
        self._is_closed = is_closed
        self._is_heard = is_heard
        self._fell_asleep = fell_asleep
        self.wanted = asyncio.Event()
        """Someone wants the link: cleared while the toy sleeps or after giving up."""
        self.link_lost = asyncio.Event()
        """The link that was up has gone (set by the connection's teardown, cleared on connect)."""
        self.gave_up = False
        """The policy's attempts are spent; the next use connects."""
        self.task: asyncio.Task[None] | None = None
        self._heard = asyncio.Event()
        """Set by ``reachable_again`` to end the wait between two connects early."""
        self._slot_advice_logged = False
        """The out-of-slots advice was logged in this episode (until a connect succeeds)."""
        self.backoff = Backoff(policy, rng, name)

    def start(self) -> None:
        """Run the loop as a task (the caller's ``close`` cancels ``task``)."""
        self.wanted.set()
        self.task = asyncio.get_running_loop().create_task(
            self._run(), name=f"bb8 {self._name} keep connected"
        )

    def pause(self) -> None:
        """Stop reconnecting until ``resume`` (the toy sleeps)."""
        self.wanted.clear()

    def resume(self, why: str) -> None:
        """Someone wants the toy again: forget giving up, start the backoff afresh, reconnect."""
        self.gave_up = False
        self.backoff.reset(why)
        self.wanted.set()

    def reachable_again(self) -> None:
        """End a wait between connects now, so the connect is tried: the toy can be reached again.

        Only the wait of a loop that wants the link ends; a toy asleep or given up on stays
        alone until used. Its caller decides what counts as reachable again (a toy Home Assistant
        had called gone advertising once more), so one wait ends per return, never a stream of
        connects per advertisement.
        """
        self._heard.set()

    def connected(self) -> None:
        """End the episode: a connect succeeded."""
        self.link_lost.clear()
        if self._slot_advice_logged:
            self._slot_advice_logged = False
            _LOGGER.info("%s: connected again; it found a free connection slot again", self._name)
        elif self._counters.connects > 1:
            _LOGGER.debug("%s: connected again", self._name)

    async def _run(self) -> None:
        reason = FailureReason.DROPPED
        while not self._is_closed():
            await self.wanted.wait()
            if self._is_closed():
                return
            if not self._is_connected() and self._fell_asleep():
                continue  # asleep now: the loop waits until someone wants the toy again
            if not self._is_connected() and not self._is_heard():
                await self._wait_to_hear(HEARD_RECHECK)
                continue  # then look again: closed, asleep, connected by a use meanwhile, heard
            if not self._is_connected():
                try:
                    await self._connect()
                except BB8ConnectionError as err:
                    reason = err.reason
                    if reason is FailureReason.OUT_OF_SLOTS and not self._is_heard():
                        # Home Assistant's Bluetooth stack says "no free slot" when no adapter
                        # or proxy hears the toy at all: it is gone, and no slot would help.
                        reason = FailureReason.NOT_FOUND
                except BB8Error as err:
                    reason = FailureReason.CONNECTION
                    self._counters.last_error = str(err)
                except Exception:
                    # Keep the toy's link alive through a bug: log it in full and back off.
                    _LOGGER.exception("%s: unexpected error while connecting", self._name)
                    reason = FailureReason.CONNECTION
            if self._is_connected():
                await self.link_lost.wait()
                reason = FailureReason.DROPPED
                if self._is_closed():
                    return
            if not self.wanted.is_set():
                continue  # asleep or given up: wait until someone wants the toy again
            delay = self.backoff.next_delay(reason)
            if delay is None:
                _LOGGER.warning(
                    "%s: giving up after %d reconnect attempts (%s); it will connect again when used",
                    self._name,
                    self.backoff.attempts,
                    reason,
                )
                self.gave_up = True
                self.wanted.clear()
                continue
            self._counters.reconnect_attempts += 1
            self._log_attempt(self.backoff.attempts, delay, reason)
            if await self._wait_to_hear(delay):
                _LOGGER.debug("%s: reachable again; reconnecting now instead of in %.1f s", self._name, delay)

    async def _wait_to_hear(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for ``reachable_again``; return whether it came.

        Between connects it cuts the backoff's rest short. While nobody hears the toy, no
        connect is tried and no attempt counted: a toy carried out of range or asleep out of
        reach costs nothing until it is back. ``reachable_again`` comes from Home Assistant's
        side when the toy is heard after being gone; looking again every ``HEARD_RECHECK``
        covers a return the Bluetooth stack files without telling anyone.
        """
        self._heard.clear()
        try:
            async with asyncio.timeout(seconds):
                await self._heard.wait()
        except TimeoutError:
            return False
        return True

    def _log_attempt(self, attempt: int, delay: float, reason: FailureReason) -> None:
        # The advice is given once per episode: repeating it on every attempt of a long wait for
        # a slot only buries it (an episode ends when a connect succeeds).
        if reason is FailureReason.OUT_OF_SLOTS and not self._slot_advice_logged:
            self._slot_advice_logged = True
            _LOGGER.warning(
                "%s: the Bluetooth adapter or proxy has no free connection slot; retrying in "
                "%.0f s (attempt %d). Free a slot or add an ESPHome Bluetooth proxy near the toy, "
                "or use the on-demand connection mode",
                self._name,
                delay,
                attempt,
            )
        else:
            # Each attempt at DEBUG: an outage is logged once each way (availability), not once
            # per attempt (hundreds a day with the defaults).
            _LOGGER.debug("%s: reconnecting in %.1f s (attempt %d, %s)", self._name, delay, attempt, reason)
