"""The connection lifecycle: keeping one toy's link up, or not, as the connection mode wants.

Its one job is the life of the link: the guarded state machine (``state_version`` makes a
completion that arrives after ``disconnect()`` or ``close()`` stale, so it is undone instead of
resurrecting a link), connecting and joining a connect under way, the always-connected loop that
``ReconnectPolicy`` paces, the on-demand idle timer, letting go (the one teardown), and closing.
``session.BB8Session`` builds on it and adds what the link is for: sending, wishes, sleep and
wake, the toy's verbs, diagnostics.

It never frames bytes or reads them (``link.Link`` and the toy model do), never queues or
matches commands (``pipeline.CommandPipeline`` does; this only attaches it to a link and fails
what a lost link strands), and never decides what the toy is told: after each connect it hands
over to the ``after_connect`` it is given. A v2 toy changes nothing here. It may import the
package's ``background``, ``link``, ``pipeline``, ``policy``, ``reconnect``, ``models``,
``errors``, ``protocol`` (types) and ``toy_state``, plus bleak's ``BLEDevice`` type; never Home
Assistant, never ``session``. Its tasks and timers are kept by ``background.Background``; it
waits with ``asyncio`` only, never a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
import contextlib
import logging
import random
from typing import Any, Final

from bleak.backends.device import BLEDevice

from .background import Background, join, retrieve_outcome
from .errors import (
    BB8ConnectionError,
    BB8Error,
    LinkLostError,
    NotConnectedError,
    SessionClosedError,
)
from .link import CONNECT_ERRORS, Link, classify
from .models import (
    CLOSED_STATES,
    ConnectionMode,
    Listeners,
    SessionCounters,
    SessionState,
    ToyModel,
)
from .pipeline import CommandPipeline, Pending
from .policy import FailureReason, ReconnectPolicy
from .protocol import Packet, Response
from .reconnect import Reconnector
from .state_machine import StateMachine
from .toy_state import ToyState

_LOGGER = logging.getLogger(__name__)

CONNECT_TIMEOUT: Final = 45.0
READY_TIMEOUT: Final = 4.0
CONNECT_ATTEMPTS: Final = 3
"""bleak-retry-connector's own retries inside one connect."""

type AfterConnect = Callable[[int], Coroutine[Any, Any, None]]


class _Stale(Exception):
    """The session moved on while a connect was in flight."""


class Connection(ToyState):
    """One toy's link through its life: connect, keep, lose, let go, close."""

    def __init__(
        self,
        ble_device: BLEDevice,
        *,
        name: str | None,
        mode: ConnectionMode,
        policy: ReconnectPolicy | None,
        idle_timeout: float,
        inactivity_timeout: int,
        inactivity_timeout_on_toy: int | None,
        asleep: bool,
        pacing_interval: float,
        connect_timeout: float,
        ready_timeout: float,
        connect_attempts: int,
        rng: random.Random | None,
        client_kwargs: dict[str, Any] | None,
        toy: ToyModel,
        on_packets: Callable[[list[Packet]], None],
        after_connect: AfterConnect,
        in_use: Callable[[], bool],
    ) -> None:
        """Prepare the lifecycle; nothing connects until ``start()`` or ``connect()``.

        ``on_packets`` gets every packet the link reads; ``after_connect(generation)`` runs as a
        tracked task after each connect (and after a wake over a live link). ``in_use()`` says
        whether the toy is busy with what someone asked (rolling): an on-demand link is not
        idle then, however long ago the last command went out.
        """
        self._ble_device = ble_device
        self.name = name or ble_device.name or ble_device.address
        self.mode = mode
        self.policy = policy or ReconnectPolicy()
        self.idle_timeout = idle_timeout
        self.connect_timeout = connect_timeout
        self.ready_timeout = ready_timeout
        self._toy = toy
        self.is_heard: Callable[[], bool] = lambda: True
        """Whether any adapter or proxy hears the toy now (the caller's Bluetooth stack knows;
        Home Assistant's layer sets it). Always connected, nothing connects while it is False."""
        self._set_up_toy = after_connect
        self._in_use = in_use
        self.counters = SessionCounters()
        super().__init__(self.name, self.counters, inactivity_timeout, inactivity_timeout_on_toy)
        self.asleep = asleep
        self._awake_until = float("inf")
        """Loop time at which the toy falls asleep by itself unless a command resets its timer
        (unknown, so never, until this session has connected)."""

        self._machine = StateMachine(self.name)
        self._link = Link(
            self.name,
            toy,
            self.counters,
            on_packets=on_packets,
            on_lost=self._on_link_lost,
            connect_attempts=connect_attempts,
            client_kwargs=dict(client_kwargs or {}),
        )
        self._pipeline = CommandPipeline(
            self.name,
            toy.encode,
            self.counters,
            pacing_interval=pacing_interval,
            on_written=self._on_written,
            on_answered=self._on_answered,
            on_broken=self._drop_broken_link,
        )
        self._connect_task: asyncio.Task[None] | None = None
        self._disconnect_task: asyncio.Task[None] | None = None
        self._background = Background(self.name, self.counters)
        self._expected_disconnect = False
        self._reconnector = Reconnector(
            self.name,
            self.policy,
            rng or random.Random(),
            self.counters,
            connect=self.connect,
            is_connected=lambda: self.is_connected,
            is_closed=lambda: self.closed,
            is_heard=lambda: self.is_heard(),
            fell_asleep=self._fell_asleep_unlinked,
        )
        self._state_listeners: Listeners[[SessionState, str]] = Listeners(self.name, "state", self.counters)

    # ------------------------------------------------------------------ observation

    @property
    def is_connected(self) -> bool:
        """Whether commands can be written now."""
        return self._machine.state is SessionState.CONNECTED

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called."""
        return self._machine.state in CLOSED_STATES

    @property
    def writer_busy(self) -> bool:
        """Whether the command writer has work: commands wait to be written, or one is being written."""
        return not self._pipeline.writer_idle

    @property
    def timers_set(self) -> tuple[str, ...]:
        """Names of the lifecycle's timers still set (leak checks: none after ``close()``)."""
        return self._background.timer_names

    # ------------------------------------------------------------------ state machine

    def _transition(self, new: SessionState, reason: str) -> bool:
        """Move the state machine to ``new`` and announce the move (a same-state move: False)."""
        old = self._machine.state
        if not self._machine.move(new, reason):
            return False
        _LOGGER.debug("%s: %s -> %s (%s)", self.name, old, new, reason)
        self._state_listeners.notify(new, reason)
        self._update_listeners.notify()
        return True

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Begin work: in always-connected mode, connect now and keep the link up after."""
        self._check_open()
        if self.mode is ConnectionMode.ALWAYS and self._reconnector.task is None:
            # A toy put to sleep stays asleep through reloads and restarts: only use wakes it.
            if not self.asleep:
                self._begin_connect()
            self._reconnector.start()
            if self.asleep:
                self._reconnector.pause()

    def heard_again(self) -> None:
        """Reconnect now if waiting: the toy is reachable again (advertising after it was gone).

        Always connected, a reconnect waiting out its backoff is tried at once rather than after
        up to the longest wait. Nothing else changes: on demand nothing connects until used, and
        a toy asleep, or given up on, stays so until used.
        """
        if self.mode is ConnectionMode.ALWAYS and not self.is_connected:
            self._reconnector.heard_again()

    async def connect(self) -> None:
        """Connect and hand-shake now (or join a connect already under way)."""
        self._check_open()
        if self._disconnect_task is not None:
            await join(self._disconnect_task)
            self._check_open()
        if self.is_connected:
            return
        try:
            await join(self._begin_connect())
        except asyncio.CancelledError:
            # The shared connect was called off by close() or disconnect(): unless this caller
            # is itself being cancelled, say so with a typed error, so neither a waiting
            # command nor the always-connected loop ends on a bare cancellation.
            if (current := asyncio.current_task()) is not None and current.cancelling():
                raise
            self._check_open()
            raise BB8ConnectionError(
                FailureReason.ABORTED, f"{self.name}: the connect was called off (disconnect requested)"
            ) from None

    def _begin_connect(self) -> asyncio.Task[None]:
        """Start a connect (moving to CONNECTING at once), or return the one under way."""
        if self._connect_task is not None and not self._connect_task.done():
            return self._connect_task
        self._transition(SessionState.CONNECTING, "connect")
        task = asyncio.get_running_loop().create_task(
            self._connect(self._machine.version, self._link.next_generation()),
            name=f"bb8 {self.name} connect",
        )
        task.add_done_callback(retrieve_outcome)
        self._connect_task = task
        return task

    async def disconnect(self, reason: str = "requested") -> None:
        """Drop the link on purpose. Idempotent, bounded in time, never raises."""
        if self._machine.state is SessionState.DISCONNECTED or self.closed:
            return
        if self._disconnect_task is None:
            self._disconnect_task = asyncio.get_running_loop().create_task(
                self._disconnect(reason), name=f"bb8 {self.name} disconnect"
            )
        await join(self._disconnect_task)

    async def close(self) -> None:
        """Stop for good: drop the link, cancel every task and timer, clear every listener.

        Idempotent and bounded; from its first step new work is refused with
        ``SessionClosedError``.
        """
        if self.closed:
            return
        self._transition(SessionState.CLOSING, "closed")
        self._reconnector.wanted.set()
        await self._background.cancel_all(self._reconnector.task, self._connect_task)
        if self._disconnect_task is not None and not self._disconnect_task.done():
            await join(self._disconnect_task)
        self._pipeline.fail_all(SessionClosedError(f"{self.name}: session closed"))
        await self._release("closed")
        self._transition(SessionState.CLOSED, "closed")
        self._state_listeners.clear()
        self.clear_listeners()

    def _check_open(self) -> None:
        if self.closed:
            raise SessionClosedError(f"{self.name}: session closed")

    # ------------------------------------------------------------------ connecting

    async def _connect(self, version: int, generation: int) -> None:
        """One connect: establish the link, hand-shake, wait until ready, then mark it connected."""
        self._expected_disconnect = False
        link = self._link
        client: Any = None
        try:
            async with asyncio.timeout(self.connect_timeout):
                client = await link.establish(lambda: self._ble_device, generation)
                if self._machine.version != version:
                    raise _Stale
                await link.handshake(client, generation)
                self.asleep = False
                self._awake_until = asyncio.get_running_loop().time() + self.inactivity_timeout
                commands_char = await link.await_ready(client, self._probe, self.ready_timeout)
        except _Stale:
            _LOGGER.debug("%s: connect finished after the session moved on; undoing", self.name)
            self._expected_disconnect = True
            await link.close_client(client)
            return
        except BaseException as err:
            # Undoing a failed connect is deliberate: its disconnected callback is not a drop.
            self._expected_disconnect = True
            await link.close_client(client)
            if self._machine.version == version and self._machine.state is SessionState.CONNECTING:
                reason = classify(err).reason if isinstance(err, CONNECT_ERRORS) else "unexpected error"
                self._transition(SessionState.DISCONNECTED, f"connect failed: {reason}")
            if isinstance(err, asyncio.CancelledError):
                raise
            self.counters.connect_failures += 1
            if not isinstance(err, CONNECT_ERRORS):
                # Not a Bluetooth failure but a bug somewhere: do not disguise it as one.
                self.counters.last_error = repr(err)
                raise
            failure = classify(err)
            self.counters.last_error = str(failure)
            _LOGGER.debug("%s: connect failed: %s", self.name, failure)
            raise failure from err
        if self._machine.version != version:
            _LOGGER.debug("%s: handshake finished after the session moved on; undoing", self.name)
            await link.close_client(client)
            return
        self.counters.connects += 1
        self._reconnector.connected()
        self._transition(SessionState.CONNECTED, "handshake complete")
        # The probe was this link's first write: the pipeline keeps its pacing, so the first
        # queued command still waits an interval after it (the toy would drop it otherwise).
        self._pipeline.attach(link.adopt(client, commands_char))
        self._background.set_timer(
            "stable", self.policy.stable_window, lambda: self._reconnector.backoff.reset("stable connection")
        )
        self._arm_idle_timer()
        self._background.spawn(self._set_up_toy(generation), f"bb8 {self.name} restore")

    async def _probe(self, write: Callable[[bytes], Any]) -> asyncio.Future[Response]:
        return await self._pipeline.write_now(self._toy.ready_probe(), write)

    # ------------------------------------------------------------------ letting go

    async def _disconnect(self, reason: str) -> None:
        try:
            self._expected_disconnect = True
            connect_task = self._connect_task
            if (
                self._machine.state is SessionState.CONNECTING
                or self._machine.state is SessionState.CONNECTED
            ):
                self._transition(SessionState.DISCONNECTING, reason)
            if connect_task is not None and not connect_task.done():
                connect_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, BB8Error):
                    await connect_task
            await self._release(reason)
            if self._machine.state is SessionState.DISCONNECTING:
                self._transition(SessionState.DISCONNECTED, reason)
        finally:
            self._disconnect_task = None

    def _let_go(self, reason: str) -> tuple[Any, asyncio.Task[None] | None]:
        """Forget the link (the one teardown): timers, writer, client, commands bound to it.

        Commands already written fail (the toy may or may not have acted on them), queued polls
        and set-up fail; queued use waits for the next link. Returns the client to disconnect
        and the cancelled writer, for the caller to await when it may wait.
        """
        self._background.cancel_timer("stable")
        self._background.cancel_timer("idle")
        writer = self._pipeline.detach()
        client = self._link.forget()
        self._pipeline.fail_inflight(LinkLostError(f"{self.name}: {reason} before the toy answered"))
        self._pipeline.fail_link_bound(NotConnectedError(f"{self.name}: {reason}"))
        self._reconnector.link_lost.set()
        return client, writer

    async def _release(self, reason: str) -> None:
        """Let go of the link on purpose, waiting for the writer and the disconnect."""
        client, writer = self._let_go(f"link closed ({reason})")
        if writer is not None:
            try:
                await writer
            except asyncio.CancelledError:
                if (current := asyncio.current_task()) is not None and current.cancelling():
                    raise
        await self._link.close_client(client)

    def _on_link_lost(self, generation: int) -> None:
        """Handle bleak's disconnected callback: the link went away (on purpose or not)."""
        if generation != self._link.generation or self._expected_disconnect:
            return
        if (
            self._machine.state is not SessionState.CONNECTED
            and self._machine.state is not SessionState.CONNECTING
        ):
            return
        if self.asleep:
            self._lose_link("toy went to sleep")
        else:
            self.counters.drops += 1
            # DEBUG: a person hears of an outage once, from Home Assistant's side, when the toy
            # becomes unavailable (no link and nobody hears it) and again when it is back.
            _LOGGER.debug("%s: Bluetooth link lost", self.name)
            self._lose_link("link lost")

    def _lose_link(self, reason: str) -> Any:
        """Forget a link that is gone and go DISCONNECTED; returns its client.

        Someone's commands still queued wait for the next link. Always connected, the
        reconnect loop brings it; on demand nothing else would (only use connects), so the
        link is made for them here, and if that connect fails they fail with its error rather
        than waiting out their timeout as if the toy had not answered.
        """
        client, _writer = self._let_go(reason)
        self._transition(SessionState.DISCONNECTED, reason)
        if self.mode is ConnectionMode.ON_DEMAND and self._pipeline.has_use_pending():
            self._background.spawn(self._connect_for_queued(), f"bb8 {self.name} connect for queued use")
        return client

    async def _connect_for_queued(self) -> None:
        try:
            await self.connect()
        except BB8Error as err:
            self._pipeline.fail_queued(err)

    def _drop_broken_link(self, reason: str) -> None:
        """Give up on a link that cannot carry commands any more, and let the policy reconnect.

        A failed write means the link is unusable, whatever bleak's disconnected callback says
        yet: that callback may come seconds later (after the radio's supervision timeout), or
        never from a confused proxy, and staying CONNECTED meanwhile would fail every command.
        The client is disconnected in the background so a proxy's connection slot is freed;
        its late callback carries the old generation and is ignored.
        """
        if not self.is_connected:
            return
        self.counters.drops += 1
        _LOGGER.debug(
            "%s: Bluetooth link broken (%s); %s",
            self.name,
            reason,
            "reconnecting"
            if self.mode is ConnectionMode.ALWAYS or self._pipeline.has_use_pending()
            else "it connects again when used",
        )
        if (client := self._lose_link(reason)) is not None:
            self._background.spawn(self._link.close_client(client), f"bb8 {self.name} drop broken link")

    # ------------------------------------------------------------------ use and idleness

    @property
    def presumed_asleep(self) -> bool:
        """Whether the toy sleeps as far as anyone can tell: put to sleep, or idle too long.

        Without a link nobody hears its sleep, but its inactivity timer is known: a toy whose
        last command is longer ago than its inactivity timeout has fallen asleep.
        """
        if self.asleep:
            return True
        return not self.is_connected and asyncio.get_running_loop().time() >= self._awake_until

    def _fell_asleep_unlinked(self) -> bool:
        """Note a sleep nobody heard: no link, and the toy's inactivity time ran out meanwhile."""
        if self._machine.state is not SessionState.DISCONNECTED or self.asleep or not self.presumed_asleep:
            return False  # linked, or a connect someone asked for is under way (use wakes it)
        _LOGGER.debug("%s: its sleep time ran out while it had no link; it sleeps until used", self.name)
        self._mark_asleep()
        return True

    def _on_written(self, pending: Pending) -> None:
        if pending.reset_timeout:
            self._awake_until = asyncio.get_running_loop().time() + self.inactivity_timeout
        if pending.use:
            self._arm_idle_timer()

    def _on_answered(self, pending: Pending) -> None:
        if not pending.internal:
            self._reconnector.backoff.reset("command succeeded")

    def _arm_idle_timer(self) -> None:
        if self.mode is ConnectionMode.ON_DEMAND and self.is_connected:
            self._background.set_timer("idle", self.idle_timeout, self._on_idle)

    def _on_idle(self) -> None:
        # Someone's command still on its way keeps the link, and so does a toy still rolling
        # as someone asked (dropping the link would stop it: stop on disconnect); a poll or the
        # set-up traffic does not (it fails as "not connected", which it would meet anyway).
        if self._pipeline.has_use_pending() or self._in_use():
            self._arm_idle_timer()
            return
        _LOGGER.debug("%s: idle for %.0f s, disconnecting", self.name, self.idle_timeout)
        self._background.spawn(self.disconnect("idle"), f"bb8 {self.name} idle disconnect")
