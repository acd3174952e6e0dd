"""The command pipeline: a paced, latest-wins queue whose answers are matched by sequence number.

Its one job is ordering and timing writes and pairing answers with the commands that asked. It
is given a ``write`` coroutine per link (``attach``) and an ``encode`` function from the toy
model, so it never touches Bluetooth, never frames a packet itself (a v2 toy's framing plugs in
through ``encode``), never connects, and never decides what a failure means for the link: a
failed write is reported through ``on_broken`` and the session decides.

Latest wins: a command with a ``slot`` (LED colour, tail light, motion, heading, stabilization)
replaces one of the same slot still waiting to be written, keeping its place, so a burst of
changes ends at the newest within a couple of pacing intervals, while queries are never dropped.

Speed: nothing runs between commands. A command that finds the link idle (``send``) is written
by its caller's own task, in the caller's own loop turn: no writer task is made for it. Work that
must wait (pacing, a write in progress, a queue) goes to a writer task, which starts eagerly and
ends when the queue is empty.
Per-command timeouts share one loop timer (``deadlines.Deadlines``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
import logging
from typing import Final

from .commands import Command, Slot
from .deadlines import Deadlines
from .errors import BB8Error, CommandRejectedError, NotConnectedError
from .models import Purpose, SessionCounters
from .protocol import Response

_LOGGER = logging.getLogger(__name__)

SEQUENCE_NUMBERS: Final = 256

type Write = Callable[[bytes], Awaitable[None]]
type Encode = Callable[[Command, int, bool], bytes]


@dataclass(slots=True, eq=False)
class Pending:
    """A queued command and everyone waiting for its answer (several, once coalesced)."""

    command: Command
    reset_timeout: bool
    waiters: list[asyncio.Future[Response]] = field(default_factory=list)
    use: bool = True
    """Someone asked for it (``Purpose.USE``): writing it restarts the on-demand idle time."""
    internal: bool = False
    """Only the session's own set-up: its answer does not reset the reconnect backoff."""

    def alive(self) -> bool:
        """Whether anyone still waits for the answer."""
        return any(not waiter.done() for waiter in self.waiters)

    def resolve(self, response: Response) -> None:
        """Hand the answer to everyone still waiting."""
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(response)

    def fail(self, error: BaseException) -> None:
        """Hand ``error`` to everyone still waiting."""
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_exception(error)


def _ignore(_pending: Pending) -> None:
    """Do nothing (the default hook)."""


class CommandPipeline:
    """One toy's command queue, paced writer and table of commands awaiting answers."""

    def __init__(
        self,
        name: str,
        encode: Encode,
        counters: SessionCounters,
        *,
        pacing_interval: float,
        on_written: Callable[[Pending], None] = _ignore,
        on_answered: Callable[[Pending], None] = _ignore,
        on_broken: Callable[[str], None] = lambda _reason: None,
    ) -> None:
        """Prepare an empty queue; nothing is written until a link is attached.

        ``on_written`` hears of every command written, ``on_answered`` of every success, and
        ``on_broken`` of a write that failed or of sequence numbers run out (the link is
        unusable).
        """
        self._name = name
        self._encode = encode
        self._counters = counters
        self.pacing_interval = pacing_interval
        self._on_written = on_written
        self._on_answered = on_answered
        self._on_broken = on_broken
        self._queue: list[Pending] = []
        self._slots: dict[Slot, Pending] = {}
        self._inflight: dict[int, Pending] = {}
        self._seq = 0
        self._next_write_at = 0.0
        self._write: Write | None = None
        self._writer: asyncio.Task[None] | None = None
        self._draining: Write | None = None
        """The ``write`` the running writer serves; None while no writer runs."""
        self._deadlines: Deadlines[Response] = Deadlines(self._on_timed_out)
        self._inline: asyncio.Task[object] | None = None
        """The caller's task writing its own command (see ``send``); None when none is."""
        self._inline_waiter: asyncio.Future[Response] | None = None
        self._inline_cancelled = False
        """Whether the pipeline itself cancelled the inline write (its deadline or its link ended)."""

    @property
    def pending(self) -> int:
        """Commands queued or waiting for an answer."""
        return len(self._queue) + len(self._inflight)

    @property
    def writer_idle(self) -> bool:
        """Whether no writer runs (nothing to write, or no link attached)."""
        return self._draining is None

    @property
    def stalled(self) -> bool:
        """Whether commands wait in the queue of an attached link with no writer for them (a bug)."""
        return bool(self._queue) and self._write is not None and self._draining is None

    def has_use_pending(self) -> bool:
        """Whether someone's command is still on its way (queued or awaiting its answer)."""
        return any(pending.use and pending.alive() for pending in (*self._queue, *self._inflight.values()))

    # ------------------------------------------------------------------ the queue

    def submit(
        self,
        command: Command,
        waiter: asyncio.Future[Response],
        reset_timeout: bool,
        purpose: Purpose,
        timeout: float | None = None,
    ) -> None:
        """Queue ``command``; ``waiter`` gets its answer or its error.

        With a ``timeout`` (seconds), ``waiter`` fails with ``TimeoutError`` if no answer came by
        then, queued or written.
        """
        if timeout is not None:
            self._deadlines.add(waiter, waiter.get_loop().time() + timeout)
        use = purpose is Purpose.USE
        internal = purpose is Purpose.SETUP
        slot = command.slot
        if slot is not None and (pending := self._slots.get(slot)) is not None and pending.alive():
            # Latest wins: the newer command replaces the one still waiting, keeping its place.
            pending.command = command
            pending.reset_timeout = pending.reset_timeout or reset_timeout
            pending.waiters.append(waiter)
            pending.use = pending.use or use
            pending.internal = pending.internal and internal
            self._counters.commands_coalesced += 1
            return
        pending = Pending(command, reset_timeout, [waiter], use, internal)
        self._queue.append(pending)
        if slot is not None:
            self._slots[slot] = pending
        if self._draining is None and self._write is not None:
            self._start_writer(self._write)

    async def send(
        self,
        command: Command,
        waiter: asyncio.Future[Response],
        reset_timeout: bool,
        purpose: Purpose,
        timeout: float | None = None,  # noqa: ASYNC109 - the answer's deadline, not this call's
    ) -> None:
        """Queue ``command`` as ``submit`` does, but on an idle link write it in the caller's task.

        Returns once the command is written, failed or queued; ``waiter`` then gets its answer or
        its error. Meanwhile the pipeline counts as writing: commands that arrive queue behind
        this one, and a writer task takes them over once it is written. A write that outlasts
        the command's timeout, or its link, is left at once (the pipeline cancels the caller out
        of it, and ``waiter`` says why), so the caller waits no longer than it would for a
        writer task's write. A cancellation from anyone else is the caller's and propagates.
        """
        write = self._write
        if write is None or self._draining is not None or self._queue:
            self.submit(command, waiter, reset_timeout, purpose, timeout)
            return
        loop = waiter.get_loop()
        now = loop.time()
        if self._next_write_at > now:
            self.submit(command, waiter, reset_timeout, purpose, timeout)
            return
        if timeout is not None:
            self._deadlines.add(waiter, now + timeout)
        pending = Pending(command, reset_timeout, [waiter], purpose is Purpose.USE, purpose is Purpose.SETUP)
        if (seq := self._send_off(pending, write)) is None:
            return
        self._draining = write
        self._inline = asyncio.current_task()
        self._inline_waiter = waiter
        error: NotConnectedError | None = None
        try:
            await write(self._encode(command, seq, reset_timeout))
        except NotConnectedError as err:
            error = err
        except asyncio.CancelledError:
            ours = self._inline_cancelled and self._inline is not None and self._inline.uncancel() == 0
            self._end_inline(write, loop)
            if not ours:
                raise
            return  # the waiter already holds the outcome: timed out, or its link is gone
        self._end_inline(write, loop)
        if error is not None:
            self._inflight.pop(seq, None)
            pending.fail(error)
            self._report_broken(write, str(error))
            return
        self._counters.commands_sent += 1
        self._on_written(pending)

    def _end_inline(self, write: Write, loop: asyncio.AbstractEventLoop) -> None:
        """Hand the writing back after an inline write: pace the next, start a writer if needed."""
        self._inline = None
        self._inline_waiter = None
        self._inline_cancelled = False
        self._next_write_at = loop.time() + self.pacing_interval
        if self._draining is write:
            self._draining = None
            if self._queue and self._write is write:
                self._start_writer(write)

    def _cancel_inline(self) -> None:
        """Cancel the caller out of its inline write (see ``send``)."""
        if self._inline is not None and not self._inline_cancelled:
            self._inline_cancelled = True
            self._inline.cancel()

    def forget_abandoned(self) -> None:
        """Drop queued or sent commands nobody waits for any more (all their callers gave up).

        A command whose answer was lost would otherwise hold its sequence number until the link
        dropped; on a lossy link they pile up towards the 256 there are. A late answer to a
        forgotten one is counted as unmatched and ignored.
        """
        for seq, pending in list(self._inflight.items()):
            if not pending.alive():
                del self._inflight[seq]
        if any(not pending.alive() for pending in self._queue):
            self._queue = [pending for pending in self._queue if pending.alive()]
            self._slots = {slot: pending for slot, pending in self._slots.items() if pending.alive()}

    def fail_inflight(self, error: BB8Error) -> None:
        """Fail every written command still awaiting an answer (its link is gone)."""
        inflight = list(self._inflight.values())
        self._inflight.clear()
        for pending in inflight:
            pending.fail(error)

    def fail_link_bound(self, error: BB8Error) -> None:
        """Fail queued polls and set-up: they were for the link that is gone.

        Only use waits in the queue for the next link. A poll left queued would otherwise time
        out there, or go out over a link it did not make; the next link runs its own set-up.
        """
        bound = [pending for pending in self._queue if not pending.use]
        if not bound:
            return
        self._queue = [pending for pending in self._queue if pending.use]
        self._slots = {slot: pending for slot, pending in self._slots.items() if pending.use}
        for pending in bound:
            pending.fail(error)

    def fail_queued(self, error: BB8Error) -> None:
        """Fail every command still queued (none of them was written)."""
        queued = self._queue
        self._queue = []
        self._slots.clear()
        for pending in queued:
            pending.fail(error)

    def fail_all(self, error: BB8Error) -> None:
        """Fail everything, queued or written (the session is closing); no timer stays behind."""
        self._deadlines.clear()
        self.fail_inflight(error)
        self.fail_queued(error)

    # ------------------------------------------------------------------ writing

    def attach(self, write: Write) -> None:
        """Write queued and future commands with ``write`` (one link's), paced."""
        self._write = write
        if self._queue and self._draining is None:
            self._start_writer(write)

    def detach(self) -> asyncio.Task[None] | None:
        """Stop writing; returns the cancelled writer task for the caller to await, if any.

        The writer is not cancelled when it is the caller (a failed write reports it, and the
        writer returns by itself).
        """
        self._write = None
        self._draining = None
        if self._inline is not asyncio.current_task():
            self._cancel_inline()
        writer, self._writer = self._writer, None
        if writer is None or writer.done() or writer is asyncio.current_task():
            return None
        writer.cancel()
        return writer

    async def write_now(self, command: Command, write: Write) -> asyncio.Future[Response]:
        """Write ``command`` at once, outside the queue; return the future of its answer.

        For the link's readiness probe, before the queue may drain. The next queued command
        still waits a pacing interval after it: the toy would drop it otherwise.
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Response] = loop.create_future()
        seq = self._next_sequence()
        pending = Pending(command, False, [waiter], use=False, internal=True)
        self._inflight[seq] = pending

        def _forget_unanswered(_waiter: asyncio.Future[Response]) -> None:
            # A probe given up on (the prober cancels it and probes again) must not hold its
            # sequence number, nor count as pending, for as long as the link lasts.
            if self._inflight.get(seq) is pending:
                del self._inflight[seq]

        waiter.add_done_callback(_forget_unanswered)
        try:
            await write(self._encode(command, seq, False))
        except BaseException:
            self._inflight.pop(seq, None)
            waiter.cancel()
            raise
        finally:
            self._next_write_at = loop.time() + self.pacing_interval
        return waiter

    def _start_writer(self, write: Write) -> None:
        self._draining = write
        # Eager: the first write leaves in this very turn, not after a task switch.
        self._writer = asyncio.Task(
            self._drain(write),
            loop=asyncio.get_running_loop(),
            name=f"bb8 {self._name} writer",
            eager_start=True,
        )

    async def _drain(self, write: Write) -> None:
        """Write queued commands one at a time, no sooner than one pacing interval apart."""
        loop = asyncio.get_running_loop()
        try:
            while self._queue and self._write is write:
                wait = self._next_write_at - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                pending = self._take_next()
                if pending is None:
                    continue
                if (seq := self._send_off(pending, write)) is None:
                    return
                try:
                    await write(self._encode(pending.command, seq, pending.reset_timeout))
                except NotConnectedError as err:
                    self._inflight.pop(seq, None)
                    pending.fail(err)
                    self._next_write_at = loop.time() + self.pacing_interval
                    self._report_broken(write, str(err))
                    return
                self._counters.commands_sent += 1
                self._next_write_at = loop.time() + self.pacing_interval
                self._on_written(pending)
        finally:
            if self._draining is write:
                self._draining = None

    def _send_off(self, pending: Pending, write: Write) -> int | None:
        """Give ``pending`` a sequence number and await its answer; None if none is free.

        Then the command fails and the link is reported broken: 256 commands await answers.
        """
        try:
            seq = self._next_sequence()
        except NotConnectedError as err:
            pending.fail(err)
            self._report_broken(write, str(err))
            return None
        self._inflight[seq] = pending
        return seq

    def _report_broken(self, write: Write, reason: str) -> None:
        if self._write is write:  # not a link that was let go meanwhile
            self._on_broken(reason)

    def _take_next(self) -> Pending | None:
        while self._queue:
            pending = self._queue.pop(0)
            slot = pending.command.slot
            if slot is not None and self._slots.get(slot) is pending:
                del self._slots[slot]
            if pending.alive():
                return pending
        return None

    def _next_sequence(self) -> int:
        seq = self._seq
        if seq not in self._inflight:  # the usual case, without starting the search below
            self._seq = (seq + 1) & 0xFF
            return seq
        for _ in range(SEQUENCE_NUMBERS):
            seq = self._seq
            self._seq = (seq + 1) & 0xFF
            if seq not in self._inflight:
                return seq
        raise NotConnectedError(f"{self._name}: 256 commands await answers; the link is stuck")

    def _on_timed_out(self, waiter: asyncio.Future[Response]) -> None:
        if waiter is self._inline_waiter:
            self._cancel_inline()

    # ------------------------------------------------------------------ answers

    def answer(self, response: Response) -> None:
        """Hand a decoded answer to the command with its sequence number."""
        pending = self._inflight.pop(response.seq, None)
        if pending is None:
            self._counters.unmatched_responses += 1
            _LOGGER.debug("%s: ignoring a response to unknown SEQ %d", self._name, response.seq)
            return
        if response.ok:
            pending.resolve(response)
            self._on_answered(pending)
        else:
            pending.fail(CommandRejectedError(pending.command.name, response.mrsp))
