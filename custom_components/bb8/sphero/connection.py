"""The link's life in one toy's session: connect, keep the link up or drop it when idle, close.

``Connection`` holds the state machine, the ``link.Link``, the ``pipeline.CommandPipeline`` and
the always-connected ``reconnect.Reconnector``. ``state_version`` makes a connect that completes
after ``disconnect()`` or ``close()`` stale, so it is undone rather than bringing a link back.
A lost link has one teardown (``_teardown``), which fails what the lost link strands. What the
toy is told after a connect is not decided here: the session's ``after_connect`` callback does.
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
    IllegalTransitionError,
    LinkLostError,
    NotConnectedError,
    SessionClosedError,
)
from .link import CONNECT_ERRORS, Link, classify
from .models import ConnectionMode, SessionCounters, SessionState, ToyModel
from .pipeline import CommandPipeline, Pending
from .policy import FailureReason, ReconnectPolicy
from .protocol import Packet, Response
from .reconnect import Reconnector
from .toy_state import ToyState

_LOGGER = logging.getLogger(__name__)

CONNECT_TIMEOUT: Final = 45.0
READY_TIMEOUT: Final = 4.0
CONNECT_ATTEMPTS: Final = 3
"""bleak-retry-connector's own retries inside one connect."""

type AfterConnect = Callable[[int], Coroutine[Any, Any, None]]

_S = SessionState
ALLOWED_TRANSITIONS: Final[dict[SessionState, frozenset[SessionState]]] = {
    _S.DISCONNECTED: frozenset({_S.CONNECTING, _S.CLOSING}),
    _S.CONNECTING: frozenset({_S.CONNECTED, _S.DISCONNECTING, _S.DISCONNECTED, _S.CLOSING}),
    _S.CONNECTED: frozenset({_S.DISCONNECTING, _S.DISCONNECTED, _S.CLOSING}),
    _S.DISCONNECTING: frozenset({_S.DISCONNECTED, _S.CLOSING}),
    _S.CLOSING: frozenset({_S.CLOSED}),
    _S.CLOSED: frozenset(),
}

CLOSED_STATES: Final = frozenset({SessionState.CLOSING, SessionState.CLOSED})


class _Stale(Exception):
    """The session moved on while a connect was in flight."""


class StateMachine:
    """One link's state, with a version bumped on every move.

    A completion carrying an older version is stale and must not act. The machine tells nobody
    of a move (``Connection._transition`` announces each).
    """

    __slots__ = ("_name", "state", "version")

    def __init__(self, name: str) -> None:
        """Start disconnected, at version 0."""
        self._name = name
        self.state = SessionState.DISCONNECTED
        self.version = 0

    def move(self, new: SessionState, reason: str) -> bool:
        """Move to ``new``: False for a same-state move (nothing changes), True for a move made.

        Raises ``IllegalTransitionError`` for a move ``ALLOWED_TRANSITIONS`` does not list,
        changing nothing.
        """
        old = self.state
        if new is old:
            return False
        if new not in ALLOWED_TRANSITIONS[old]:
            raise IllegalTransitionError(f"{self._name}: {old} -> {new} is not allowed ({reason})")
        self.state = new
        self.version += 1
        return True


class Connection:
    """One toy's link through its life: connect, keep, lose, tear down, close."""

    def __init__(
        self,
        ble_device: BLEDevice,
        *,
        name: str,
        mode: ConnectionMode,
        policy: ReconnectPolicy,
        idle_timeout: float,
        pacing_interval: float,
        connect_timeout: float,
        ready_timeout: float,
        connect_attempts: int,
        rng: random.Random,
        client_kwargs: dict[str, Any],
        model: ToyModel,
        toy: ToyState,
        counters: SessionCounters,
        on_packets: Callable[[list[Packet]], None],
        on_transition: Callable[[SessionState, str], None],
        after_connect: AfterConnect,
        in_use: Callable[[], bool],
        is_heard: Callable[[], bool],
    ) -> None:
        """Prepare the lifecycle; nothing connects until ``start()`` or ``connect()``.

        ``on_packets`` gets every packet the link reads; ``on_transition(state, reason)`` hears
        of every move of the state machine; ``after_connect(generation)`` runs as a tracked task
        after each connect (and after a wake over a live link). ``in_use()`` says whether the
        toy is busy with what someone asked (rolling): an on-demand link is not idle then,
        however long ago the last command went out. ``is_heard()`` says whether any adapter or
        proxy hears the toy: always connected, nothing connects while it is False. ``toy`` is
        where the toy's sleep is kept.
        """
        self.ble_device = ble_device
        """The freshest known path to the toy (adapter or proxy); the next connect uses it."""
        self.name = name
        self.mode = mode
        self.policy = policy
        self.idle_timeout = idle_timeout
        self.connect_timeout = connect_timeout
        self.ready_timeout = ready_timeout
        self.counters = counters
        self._model = model
        self._toy = toy
        self._set_up_toy = after_connect
        self._in_use = in_use
        self._on_transition = on_transition
        self.machine = StateMachine(name)
        self.link = Link(
            name,
            model,
            counters,
            on_packets=on_packets,
            on_lost=self._on_link_lost,
            connect_attempts=connect_attempts,
            client_kwargs=client_kwargs,
        )
        self.pipeline = CommandPipeline(
            name,
            model.encode,
            counters,
            pacing_interval=pacing_interval,
            sequence_numbers=model.sequence_numbers,
            on_written=self._on_written,
            on_answered=self._on_answered,
            on_broken=self._drop_broken_link,
        )
        self._connect_task: asyncio.Task[None] | None = None
        self._disconnect_task: asyncio.Task[None] | None = None
        self.background = Background(name, counters)
        self.expected_disconnect = False
        """The coming disconnected callback is no drop (set before a deliberate disconnect)."""
        self.reconnector = Reconnector(
            name,
            policy,
            rng,
            counters,
            connect=self.connect,
            is_connected=lambda: self.is_connected,
            is_closed=lambda: self.closed,
            is_heard=is_heard,
            fell_asleep=self._fell_asleep_unlinked,
        )

    # ------------------------------------------------------------------ observation

    @property
    def is_connected(self) -> bool:
        """Whether commands can be written now."""
        return self.machine.state is SessionState.CONNECTED

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called."""
        return self.machine.state in CLOSED_STATES

    # ------------------------------------------------------------------ state machine

    def _transition(self, new: SessionState, reason: str) -> bool:
        """Move the state machine to ``new`` and announce the move (a same-state move: False)."""
        old = self.machine.state
        if not self.machine.move(new, reason):
            return False
        _LOGGER.debug("%s: %s -> %s (%s)", self.name, old, new, reason)
        self._on_transition(new, reason)
        return True

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Begin work: in always-connected mode, connect now and keep the link up after."""
        self.check_open()
        if self.mode is ConnectionMode.ALWAYS and self.reconnector.task is None:
            # A toy put to sleep stays asleep through reloads and restarts: only use wakes it.
            if not self._toy.asleep:
                self._begin_connect()
            self.reconnector.start()
            if self._toy.asleep:
                self.reconnector.pause()

    async def connect(self) -> None:
        """Connect and hand-shake now (or join a connect already under way)."""
        self.check_open()
        if self._disconnect_task is not None:
            await join(self._disconnect_task)
            self.check_open()
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
            self.check_open()
            raise BB8ConnectionError(
                FailureReason.ABORTED, f"{self.name}: the connect was called off (disconnect requested)"
            ) from None

    def _begin_connect(self) -> asyncio.Task[None]:
        """Start a connect (moving to CONNECTING at once), or return the one under way."""
        if self._connect_task is not None and not self._connect_task.done():
            return self._connect_task
        self._transition(SessionState.CONNECTING, "connect")
        task = asyncio.get_running_loop().create_task(
            self._connect(self.machine.version, self.link.next_generation()),
            name=f"bb8 {self.name} connect",
        )
        task.add_done_callback(retrieve_outcome)
        self._connect_task = task
        return task

    async def disconnect(self, reason: str = "requested") -> None:
        """Drop the link on purpose. Idempotent, bounded in time, never raises."""
        if self.machine.state is SessionState.DISCONNECTED or self.closed:
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
        self.reconnector.wanted.set()
        await self.background.cancel_all(self.reconnector.task, self._connect_task)
        if self._disconnect_task is not None and not self._disconnect_task.done():
            await join(self._disconnect_task)
        self.pipeline.fail_all(SessionClosedError(f"{self.name}: session closed"))
        await self._release("closed")
        self._transition(SessionState.CLOSED, "closed")

    def check_open(self) -> None:
        """Refuse new work once ``close()`` has begun (``SessionClosedError``)."""
        if self.closed:
            raise SessionClosedError(f"{self.name}: session closed")

    # ------------------------------------------------------------------ connecting

    async def _connect(self, version: int, generation: int) -> None:
        """One connect: establish the link, hand-shake, wait until ready, then mark it connected."""
        self.expected_disconnect = False
        link = self.link
        client: Any = None
        try:
            async with asyncio.timeout(self.connect_timeout):
                client = await link.establish(lambda: self.ble_device, generation)
                if self.machine.version != version:
                    raise _Stale
                await link.handshake(client, generation)
                self._toy.woke(asyncio.get_running_loop().time())
                commands_char = await link.await_ready(client, self._probe, self.ready_timeout)
        except _Stale:
            _LOGGER.debug("%s: connect finished after the session moved on; undoing", self.name)
            self.expected_disconnect = True
            await link.close_client(client)
            return
        except BaseException as err:
            # Undoing a failed connect is deliberate: its disconnected callback is not a drop.
            self.expected_disconnect = True
            await link.close_client(client)
            if self.machine.version == version and self.machine.state is SessionState.CONNECTING:
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
        if self.machine.version != version:
            _LOGGER.debug("%s: handshake finished after the session moved on; undoing", self.name)
            await link.close_client(client)
            return
        self.counters.connects += 1
        self.reconnector.connected()
        self._transition(SessionState.CONNECTED, "handshake complete")
        # The probe was this link's first write: the pipeline keeps its pacing, so the first
        # queued command still waits an interval after it (the toy would drop it otherwise).
        self.pipeline.attach(link.adopt(client, commands_char))
        self.background.set_timer(
            "stable", self.policy.stable_window, lambda: self.reconnector.backoff.reset("stable connection")
        )
        self.arm_idle_timer()
        self.background.spawn(self._set_up_toy(generation), f"bb8 {self.name} restore")

    async def _probe(self, write: Callable[[bytes], Any]) -> asyncio.Future[Response]:
        return await self.pipeline.write_now(self._model.ready_probe(), write)

    # ------------------------------------------------------------------ teardown

    async def _disconnect(self, reason: str) -> None:
        try:
            self.expected_disconnect = True
            connect_task = self._connect_task
            if self.machine.state is SessionState.CONNECTING or self.machine.state is SessionState.CONNECTED:
                self._transition(SessionState.DISCONNECTING, reason)
            if connect_task is not None and not connect_task.done():
                connect_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, BB8Error):
                    await connect_task
            await self._release(reason)
            if self.machine.state is SessionState.DISCONNECTING:
                self._transition(SessionState.DISCONNECTED, reason)
        finally:
            self._disconnect_task = None

    def _teardown(self, reason: str) -> tuple[Any, asyncio.Task[None] | None]:
        """Forget the link (the one teardown): timers, writer, client, commands bound to it.

        Commands already written fail (the toy may or may not have acted on them), queued polls
        and set-up fail; queued use waits for the next link. Returns the client to disconnect
        and the cancelled writer, for the caller to await when it may wait.
        """
        self.background.cancel_timer("stable")
        self.background.cancel_timer("idle")
        writer = self.pipeline.detach()
        client = self.link.forget()
        self.pipeline.fail_inflight(LinkLostError(f"{self.name}: {reason} before the toy answered"))
        self.pipeline.fail_link_bound(NotConnectedError(f"{self.name}: {reason}"))
        self.reconnector.link_lost.set()
        return client, writer

    async def _release(self, reason: str) -> None:
        """Tear the link down on purpose, waiting for the writer and the disconnect."""
        client, writer = self._teardown(f"link closed ({reason})")
        if writer is not None:
            try:
                await writer
            except asyncio.CancelledError:
                if (current := asyncio.current_task()) is not None and current.cancelling():
                    raise
        await self.link.close_client(client)

    def _on_link_lost(self, generation: int) -> None:
        """Handle bleak's disconnected callback: the link went away (on purpose or not)."""
        if generation != self.link.generation or self.expected_disconnect:
            return
        if self.machine.state not in (SessionState.CONNECTED, SessionState.CONNECTING):
            return
        if self._toy.asleep:
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
        client, _writer = self._teardown(reason)
        self._transition(SessionState.DISCONNECTED, reason)
        if self.mode is ConnectionMode.ON_DEMAND and self.pipeline.has_use_pending():
            self.background.spawn(self._connect_for_queued(), f"bb8 {self.name} connect for queued use")
        return client

    async def _connect_for_queued(self) -> None:
        try:
            await self.connect()
        except BB8Error as err:
            self.pipeline.fail_queued(err)

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
            if self.mode is ConnectionMode.ALWAYS or self.pipeline.has_use_pending()
            else "it connects again when used",
        )
        if (client := self._lose_link(reason)) is not None:
            self.background.spawn(self.link.close_client(client), f"bb8 {self.name} drop broken link")

    # ------------------------------------------------------------------ use and idleness

    @property
    def presumed_asleep(self) -> bool:
        """Whether the toy sleeps as far as anyone can tell (see ``ToyState.presumed_asleep``)."""
        return self._toy.presumed_asleep(self.is_connected, asyncio.get_running_loop().time())

    def _fell_asleep_unlinked(self) -> bool:
        """Note a sleep nobody heard: no link, and the toy's inactivity time ran out meanwhile."""
        if (
            self.machine.state is not SessionState.DISCONNECTED
            or self._toy.asleep
            or not self.presumed_asleep
        ):
            return False  # linked, or a connect someone asked for is under way (use wakes it)
        _LOGGER.debug("%s: its sleep time ran out while it had no link; it sleeps until used", self.name)
        self._toy.mark_asleep()
        return True

    def _on_written(self, pending: Pending) -> None:
        if pending.reset_timeout:
            self._toy.timer_reset(asyncio.get_running_loop().time())
        if pending.use:
            self.arm_idle_timer()

    def _on_answered(self, pending: Pending) -> None:
        if not pending.internal:
            self.reconnector.backoff.reset("command succeeded")

    def arm_idle_timer(self) -> None:
        """On demand, (re)start the idle time after which the link is dropped."""
        if self.mode is ConnectionMode.ON_DEMAND and self.is_connected:
            self.background.set_timer("idle", self.idle_timeout, self._on_idle)

    def _on_idle(self) -> None:
        # Someone's command still on its way keeps the link, and so does a toy still rolling
        # as someone asked (dropping the link would stop it: stop on disconnect); a poll or the
        # set-up traffic does not (it fails as "not connected", which it would meet anyway).
        if self.pipeline.has_use_pending() or self._in_use():
            self.arm_idle_timer()
            return
        _LOGGER.debug("%s: idle for %.0f s, disconnecting", self.name, self.idle_timeout)
        self.background.spawn(self.disconnect("idle"), f"bb8 {self.name} idle disconnect")
