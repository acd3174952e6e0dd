"""The command pipeline: a paced, latest-wins queue whose answers are matched by sequence number.

It orders and times the writes to one toy and pairs each answer with the command that asked. It
is given a ``write`` coroutine per link (``attach``) and the toy model's ``encode``, so it never
touches Bluetooth, never frames a packet itself, never connects, and never decides what a failed
write means for the link (it reports it through ``on_broken``; the session decides).

While a link is attached, one writer task drains the queue, one command per pacing interval. A
caller only queues its command and awaits its own future under ``asyncio.timeout``; one that
leaves (timed out or cancelled) withdraws its command unless someone else waits for it, and no
other task is disturbed. The queue maps a command's ``slot`` (LED colour, tail light, motion,
heading, stabilization) to the command waiting in it: a newer one replaces it in its place (latest
wins), so a burst ends at its newest within a couple of intervals. A query, having no slot, gets
a key of its own and is never dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
import itertools
import logging
from typing import Final

from .commands import Command, Slot
from .errors import BB8Error, CommandRejectedError, NotConnectedError
from .models import Purpose, SessionCounters
from .protocol import Response

_LOGGER = logging.getLogger(__name__)

SEQUENCE_NUMBERS: Final = 256

type Write = Callable[[bytes], Awaitable[None]]
type Encode = Callable[[Command, int, bool], bytes]


@dataclass(slots=True, eq=False)
class Pending:
    """A command on its way and everyone waiting for its answer (several, once coalesced)."""

    command: Command
    reset_timeout: bool
    key: Slot | str | int
    """Its key in the queue: its slot, or a number of its own for a command that has none."""
    waiters: list[asyncio.Future[Response]] = field(default_factory=list)
    use: bool = True
    """Someone asked for it (``Purpose.USE``): writing it restarts the on-demand idle time."""
    internal: bool = False
    """Only the session's own set-up: its answer does not reset the reconnect backoff."""
    seq: int | None = None
    """Its sequence number once written (the key it awaits its answer under)."""

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


def _fail[K](pendings: dict[K, Pending], which: Callable[[Pending], bool], error: BB8Error) -> None:
    """Take the ``which`` commands out of ``pendings``, then fail them (their waiters may react)."""
    for key, pending in [(key, pending) for key, pending in pendings.items() if which(pending)]:
        del pendings[key]
        pending.fail(error)


class CommandPipeline:
    """One toy's command queue, its writer task, and the commands awaiting answers."""

    def __init__(
        self,
        name: str,
        encode: Encode,
        counters: SessionCounters,
        *,
        pacing_interval: float,
        sequence_numbers: int = SEQUENCE_NUMBERS,
        on_written: Callable[[Pending], None] = lambda _pending: None,
        on_answered: Callable[[Pending], None] = lambda _pending: None,
        on_broken: Callable[[str], None] = lambda _reason: None,
    ) -> None:
        """Prepare an empty queue; nothing is written until a link is attached.

        Requests are numbered 0 to ``sequence_numbers`` - 1 (a v2 toy keeps 0xFF for its async
        packets). ``on_written`` hears of every command written, ``on_answered`` of every success, and
        ``on_broken`` of a write that failed or of sequence numbers run out (the link is
        unusable).
        """
        self._name = name
        self._encode = encode
        self._counters = counters
        self.pacing_interval = pacing_interval
        self._sequence_numbers = sequence_numbers
        self._on_written = on_written
        self._on_answered = on_answered
        self._on_broken = on_broken
        self._queue: dict[Slot | str | int, Pending] = {}
        """The commands waiting to be written, oldest first (dicts keep insertion order)."""
        self._keys = itertools.count()
        self._inflight: dict[int, Pending] = {}
        self._seq = 0
        self._next_write_at = 0.0
        self._write: Write | None = None
        self._writer: asyncio.Task[None] | None = None
        self._writing = False
        self._idle: asyncio.Future[None] | None = None
        """What the writer awaits while the queue is empty; the next command queued resolves it."""

    @property
    def pending(self) -> int:
        """Commands queued or waiting for an answer."""
        return len(self._queue) + len(self._inflight)

    @property
    def writer(self) -> str:
        """``idle`` (no link, or nothing to write), ``writing``, or ``stalled`` (a bug).

        Stalled: commands wait on an attached link whose writer has ended.
        """
        if self._queue and self._write is not None and (self._writer is None or self._writer.done()):
            return "stalled"
        return "idle" if self._write is None or not (self._queue or self._writing) else "writing"

    def has_use_pending(self) -> bool:
        """Whether someone's command is still on its way (queued or awaiting its answer)."""
        return any(
            pending.use and pending.alive() for pending in (*self._queue.values(), *self._inflight.values())
        )

    async def send(
        self,
        command: Command,
        reset_timeout: bool,
        purpose: Purpose,
        timeout: float | None,  # noqa: ASYNC109 - the answer's deadline, queued or written
    ) -> Response:
        """Queue ``command`` and return the toy's answer; ``TimeoutError`` if none came in ``timeout`` s.

        Otherwise it raises what its command was failed with: ``NotConnectedError`` or
        ``SessionClosedError`` (the link or the session went first), or ``CommandRejectedError``.
        """
        waiter: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        pending = self._submit(command, waiter, reset_timeout, purpose)
        try:
            async with asyncio.timeout(timeout):
                return await waiter
        finally:
            # Answered or failed, it has left the pipeline already; given up on (the waiter is
            # cancelled with its caller's task), it goes unless a coalesced caller still waits.
            if waiter.cancelled() and not pending.alive():
                self._withdraw(pending)

    def _submit(
        self, command: Command, waiter: asyncio.Future[Response], reset_timeout: bool, purpose: Purpose
    ) -> Pending:
        use = purpose is Purpose.USE
        internal = purpose is Purpose.SETUP
        slot = command.slot
        if slot is not None and (pending := self._queue.get(slot)) is not None:
            # Latest wins: the newer command replaces the one still waiting, keeping its place.
            pending.command = command
            pending.reset_timeout = pending.reset_timeout or reset_timeout
            pending.waiters.append(waiter)
            pending.use = pending.use or use
            pending.internal = pending.internal and internal
            self._counters.commands_coalesced += 1
            return pending
        pending = Pending(
            command, reset_timeout, next(self._keys) if slot is None else slot, [waiter], use, internal
        )
        self._queue[pending.key] = pending
        if (idle := self._idle) is not None and not idle.done():
            idle.set_result(None)
        return pending

    def _withdraw(self, pending: Pending) -> None:
        """Forget a command nobody waits for any more, queued or awaiting its answer.

        An unanswered one would otherwise hold its sequence number until the link dropped.
        """
        if self._queue.get(pending.key) is pending:
            del self._queue[pending.key]
        elif pending.seq is not None and self._inflight.get(pending.seq) is pending:
            del self._inflight[pending.seq]

    def fail_inflight(self, error: BB8Error) -> None:
        """Fail every written command still awaiting an answer (its link is gone)."""
        _fail(self._inflight, lambda _pending: True, error)

    def fail_link_bound(self, error: BB8Error) -> None:
        """Fail queued polls and set-up: they were for the link that is gone.

        Only use waits in the queue for the next link. A poll left queued would otherwise time
        out there, or go out over a link it did not make; the next link runs its own set-up.
        """
        _fail(self._queue, lambda pending: not pending.use, error)

    def fail_queued(self, error: BB8Error) -> None:
        """Fail every command still queued (none of them was written)."""
        _fail(self._queue, lambda _pending: True, error)

    def fail_all(self, error: BB8Error) -> None:
        """Fail everything, queued or written (the session is closing)."""
        self.fail_inflight(error)
        self.fail_queued(error)

    def attach(self, write: Write) -> None:
        """Start this link's writer: it writes queued and future commands with ``write``, paced."""
        self._write = write
        self._writer = asyncio.get_running_loop().create_task(
            self._drain(write), name=f"bb8 {self._name} writer"
        )
        self._writer.add_done_callback(self._writer_done)

    def detach(self) -> asyncio.Task[None] | None:
        """Stop writing; returns the cancelled writer task for the caller to await, if any.

        The writer is not cancelled when it is the caller (it reported its link broken, and
        returns by itself).
        """
        self._write = None
        self._writing = False
        writer, self._writer = self._writer, None
        if writer is None or writer.done() or writer is asyncio.current_task():
            return None
        writer.cancel()
        return writer

    def _writer_done(self, writer: asyncio.Task[None]) -> None:
        """Log a writer that ended on an error: a bug, not a Bluetooth failure (those are reported)."""
        if not writer.cancelled() and (error := writer.exception()) is not None:
            self._counters.last_error = repr(error)
            _LOGGER.warning("%s: the command writer failed: %r", self._name, error, exc_info=error)

    async def write_now(self, command: Command, write: Write) -> asyncio.Future[Response]:
        """Write ``command`` at once, outside the queue; return the future of its answer.

        For the link's readiness probe, before a writer is attached. The next queued command
        still waits a pacing interval after it: the toy would drop it otherwise.
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Response] = loop.create_future()
        seq = self._next_sequence()
        pending = self._inflight[seq] = Pending(
            command, False, -1, [waiter], use=False, internal=True, seq=seq
        )
        # A probe given up on (the prober cancels it and probes again) must not hold its
        # sequence number, nor count as pending, for as long as the link lasts.
        waiter.add_done_callback(lambda _waiter: self._withdraw(pending))
        try:
            await write(self._encode(command, seq, False))
        except BaseException:
            waiter.cancel()
            raise
        finally:
            self._next_write_at = loop.time() + self.pacing_interval
        return waiter

    async def _drain(self, write: Write) -> None:
        """Write queued commands one at a time, no sooner than one pacing interval apart."""
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._idle = loop.create_future()
                await self._idle
                continue
            if (wait := self._next_write_at - loop.time()) > 0:
                await asyncio.sleep(wait)
                continue
            pending = self._queue.pop(next(iter(self._queue)))
            if not pending.alive():
                continue  # its callers gave up in this very turn, before they could withdraw it
            try:
                seq = pending.seq = self._next_sequence()
            except NotConnectedError as err:
                pending.fail(err)
                self._report_broken(write, str(err))
                return
            self._inflight[seq] = pending
            self._writing = True
            try:
                await write(self._encode(pending.command, seq, pending.reset_timeout))
            except NotConnectedError as err:
                self._inflight.pop(seq, None)
                pending.fail(err)
                self._report_broken(write, str(err))
                return
            finally:
                self._writing = False
                self._next_write_at = loop.time() + self.pacing_interval
            self._counters.commands_sent += 1
            self._on_written(pending)

    def _report_broken(self, write: Write, reason: str) -> None:
        if self._write is write:  # not a link that was let go meanwhile
            self._on_broken(reason)

    def _next_sequence(self) -> int:
        count = self._sequence_numbers
        for _ in range(count):
            seq = self._seq
            self._seq = (seq + 1) % count
            if seq not in self._inflight:
                return seq
        raise NotConnectedError(f"{self._name}: {count} commands await answers; the link is stuck")

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
            pending.fail(CommandRejectedError(pending.command.name, response.mrsp, response.code_name))
