"""The session: the one object the Home Assistant layer talks to about one BB-8.

Its job is deciding: when to connect and let go (a guarded state machine with a
``state_version``, so a connect that completes after ``disconnect()`` or ``close()`` is undone
instead of resurrecting a link), the connection modes (always connected with a reconnect
policy, or on demand with an idle timeout, kinder to an ESPHome proxy's few connection slots),
what is use and what is not (``Purpose``), the wishes it re-applies after every connect or wake
because the toy forgets them, sleep and wake, listeners and diagnostics.

It never touches bytes: the link (``link.Link``) owns the connection and reads notifications,
the pipeline (``pipeline.CommandPipeline``) queues, paces and matches, and the toy model
(``sphero_v1.SPHERO_V1`` for BB-8, a v2 model later) frames and hand-shakes. It runs entirely
on the caller's event loop: waiting is ``asyncio.sleep`` or ``loop.call_later``, never a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import logging
import random
from typing import Any, Final

from bleak.backends.device import BLEDevice

from . import commands as cmd
from .errors import (
    BB8ConnectionError,
    BB8Error,
    CommandRejectedError,
    CommandTimeoutError,
    IllegalTransitionError,
    NotConnectedError,
    SessionClosedError,
)
from .link import CONNECT_ERRORS, PARTIAL_PACKET_TIMEOUT, Link, classify
from .models import (
    ALLOWED_TRANSITIONS,
    CLOSED_STATES,
    ConnectionMode,
    Listener,
    Listeners,
    Purpose,
    SessionCounters,
    SessionState,
    StateListener,
    Subscription,
    ToyModel,
)
from .pipeline import CommandPipeline, Pending
from .policy import Backoff, FailureReason, ReconnectHooks, ReconnectPolicy
from .protocol import Packet, Response
from .sphero_v1 import SPHERO_V1
from .toy_state import ToyState, wish_command

__all__ = [
    "PACING_INTERVAL",
    "PARTIAL_PACKET_TIMEOUT",
    "BB8Session",
    "ConnectionMode",
    "Purpose",
    "SessionState",
]

_LOGGER = logging.getLogger(__name__)

PACING_INTERVAL: Final = 0.06
"""Seconds between command writes. spherov2 waits 60 ms and bb8-esphome 50 ms because the toy is
believed to drop commands that arrive faster; not measured on hardware here."""
COMMAND_TIMEOUT: Final = 5.0
CONNECT_TIMEOUT: Final = 45.0
READY_TIMEOUT: Final = 4.0
CONNECT_ATTEMPTS: Final = 3
"""bleak-retry-connector's own retries inside one connect."""


class _Stale(Exception):
    """The session moved on while a connect was in flight."""


class BB8Session(ToyState):
    """The link to one BB-8, on the running event loop."""

    def __init__(
        self,
        ble_device: BLEDevice,
        *,
        name: str | None = None,
        mode: ConnectionMode = ConnectionMode.ALWAYS,
        policy: ReconnectPolicy | None = None,
        idle_timeout: float = 60.0,
        pacing_interval: float = PACING_INTERVAL,
        command_timeout: float = COMMAND_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
        ready_timeout: float = READY_TIMEOUT,
        connect_attempts: int = CONNECT_ATTEMPTS,
        rng: random.Random | None = None,
        client_kwargs: dict[str, Any] | None = None,
        toy: ToyModel = SPHERO_V1,
    ) -> None:
        """Prepare the session; nothing connects until ``start()`` or the first command.

        ``client_kwargs`` reach the bleak client's constructor (a library seam: tests give the
        simulator's bleak backend here when they run without Home Assistant's Bluetooth stack).
        ``toy`` is how the toy is spoken to (its codec and handshake).
        """
        self._ble_device = ble_device
        self.name = name or ble_device.name or ble_device.address
        self.mode = mode
        self.policy = policy or ReconnectPolicy()
        self.idle_timeout = idle_timeout
        self.command_timeout = command_timeout
        self.connect_timeout = connect_timeout
        self.ready_timeout = ready_timeout
        self._toy = toy
        self.counters = SessionCounters()
        super().__init__(self.name, self.counters)

        self._state = SessionState.DISCONNECTED
        self._state_version = 0
        self._set_up_generation: int | None = None
        """The link generation whose after-connect setup has finished (see is_set_up)."""
        self._link = Link(
            self.name,
            toy,
            self.counters,
            on_packets=self._on_packets,
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
        self._link_lost = asyncio.Event()
        self._wanted = asyncio.Event()
        self._connect_task: asyncio.Task[None] | None = None
        self._maintain_task: asyncio.Task[None] | None = None
        self._disconnect_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._expected_disconnect = False
        self._given_up = False
        """The always-connected loop ran out of reconnect attempts; the next use connects."""
        self._slot_advice_logged = False
        """The out-of-slots advice was logged in this episode (until a connect succeeds)."""
        self._backoff = Backoff(
            self.policy,
            rng or random.Random(),
            ReconnectHooks(
                on_attempt=self._log_attempt,
                on_give_up=self._log_give_up,
                on_reset=lambda why: _LOGGER.debug("%s: backoff reset (%s)", self.name, why),
            ),
        )
        self._state_listeners: Listeners[[SessionState, str]] = Listeners(self.name, "state", self.counters)

    # ------------------------------------------------------------------ observation

    @property
    def state(self) -> SessionState:
        """The state machine's current state."""
        return self._state

    @property
    def state_version(self) -> int:
        """Bumped on every transition; a completion carrying an older one is stale."""
        return self._state_version

    @property
    def generation(self) -> int:
        """Bumped on every connect; notifications from an older link are ignored."""
        return self._link.generation

    @property
    def link(self) -> Link:
        """The connection itself (its commands characteristic, its notification handler)."""
        return self._link

    @property
    def is_connected(self) -> bool:
        """Whether commands can be written now."""
        return self._state is SessionState.CONNECTED

    @property
    def is_set_up(self) -> bool:
        """Whether the link is up and its after-connect setup has run to its end.

        The setup is queued by a task spawned at connect, so "connected with nothing pending"
        can hold for a moment before it is queued; this cannot. Failed setup commands count as
        run: they are logged and the session goes on.
        """
        return self.is_connected and self._set_up_generation == self._link.generation

    @property
    def gave_up(self) -> bool:
        """Whether the reconnect policy spent its attempts; the next use connects again."""
        return self._given_up

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called."""
        return self._state in CLOSED_STATES

    @property
    def ble_device(self) -> BLEDevice:
        """The freshest known path to the toy (adapter or proxy)."""
        return self._ble_device

    def set_ble_device(self, ble_device: BLEDevice) -> None:
        """Take a fresher ``BLEDevice`` from an advertisement; the next connect uses it."""
        self._ble_device = ble_device

    @property
    def pacing_interval(self) -> float:
        """Seconds between command writes."""
        return self._pipeline.pacing_interval

    @pacing_interval.setter
    def pacing_interval(self, seconds: float) -> None:
        self._pipeline.pacing_interval = seconds

    @property
    def backoff_attempts(self) -> int:
        """Reconnect attempts since the last reset of the policy."""
        return self._backoff.attempts

    @property
    def pending_commands(self) -> int:
        """Commands queued or waiting for an answer (diagnostics, leak checks)."""
        return self._pipeline.pending

    @property
    def writer_stalled(self) -> bool:
        """Whether commands wait for a link that is up with no writer for them (leak checks)."""
        return self._pipeline.stalled

    @property
    def listener_count(self) -> int:
        """How many listeners are registered, of every kind (leak checks)."""
        return len(self._state_listeners) + super().listener_count

    def on_state_change(self, callback: StateListener) -> Subscription:
        """Call ``callback(state, reason)`` on every transition."""
        return self._state_listeners.add(callback)

    def add_update_listener(self, callback: Listener) -> Subscription:
        """Call ``callback()`` whenever anything observable changes (push to Home Assistant)."""
        return self._update_listeners.add(callback)

    def diagnostics(self) -> dict[str, Any]:
        """Return a snapshot for Home Assistant's diagnostics download (no address: callers add it)."""
        return {
            "state": str(self._state),
            "state_version": self._state_version,
            "generation": self._link.generation,
            "mode": str(self.mode),
            "asleep": self.asleep,
            "gave_up": self._given_up,
            "set_up": self.is_set_up,
            "backoff_attempts": self._backoff.attempts,
            "pending_commands": self.pending_commands,
            "pacing_interval": self.pacing_interval,
            "policy": {
                "initial_delay": self.policy.initial_delay,
                "max_delay": self.policy.max_delay,
                "max_attempts": self.policy.max_attempts,
                "stable_window": self.policy.stable_window,
            },
            "counters": {key: getattr(self.counters, key) for key in SessionCounters.__dataclass_fields__},
            **self.toy_diagnostics(),
        }

    # ------------------------------------------------------------------ state machine

    def _transition(self, new: SessionState, reason: str) -> bool:
        """Move to ``new``; a same-state move is a no-op (False), an illegal one raises."""
        old = self._state
        if new is old:
            return False
        if new not in ALLOWED_TRANSITIONS[old]:
            raise IllegalTransitionError(f"{self.name}: {old} -> {new} is not allowed ({reason})")
        self._state = new
        self._state_version += 1
        _LOGGER.debug("%s: %s -> %s (%s)", self.name, old, new, reason)
        self._state_listeners.notify(new, reason)
        self._update_listeners.notify()
        return True

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Begin work: in always-connected mode, connect now and keep the link up after."""
        self._check_open()
        if self.mode is ConnectionMode.ALWAYS and self._maintain_task is None:
            self._wanted.set()
            self._begin_connect()
            self._maintain_task = asyncio.get_running_loop().create_task(
                self._maintain(), name=f"bb8 {self.name} keep connected"
            )

    async def connect(self) -> None:
        """Connect and hand-shake now (or join a connect already under way)."""
        self._check_open()
        if self._disconnect_task is not None:
            await _join(self._disconnect_task)
            self._check_open()
        if self.is_connected:
            return
        try:
            await _join(self._begin_connect())
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
            self._connect(self._state_version, self._link.next_generation()), name=f"bb8 {self.name} connect"
        )
        task.add_done_callback(_retrieve_outcome)
        self._connect_task = task
        return task

    async def disconnect(self, reason: str = "requested") -> None:
        """Drop the link on purpose. Idempotent, bounded in time, never raises."""
        if self._state is SessionState.DISCONNECTED or self.closed:
            return
        if self._disconnect_task is None:
            self._disconnect_task = asyncio.get_running_loop().create_task(
                self._disconnect(reason), name=f"bb8 {self.name} disconnect"
            )
        await _join(self._disconnect_task)

    async def close(self) -> None:
        """Stop for good: drop the link, cancel every task and timer, clear every listener.

        Idempotent and bounded; from its first step new work is refused with
        ``SessionClosedError``.
        """
        if self.closed:
            return
        self._transition(SessionState.CLOSING, "closed")
        self._wanted.set()
        tasks = [
            task
            for task in (self._maintain_task, self._connect_task, *self._tasks)
            if task is not None and not task.done()
        ]
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                if (current := asyncio.current_task()) is not None and current.cancelling():
                    raise
            except Exception:
                _LOGGER.debug("%s: task ended with an error during close", self.name, exc_info=True)
        if self._disconnect_task is not None and not self._disconnect_task.done():
            await _join(self._disconnect_task)
        self._pipeline.fail_all(SessionClosedError(f"{self.name}: session closed"))
        await self._release("closed")
        self._transition(SessionState.CLOSED, "closed")
        self._state_listeners.clear()
        self.clear_listeners()

    def _check_open(self) -> None:
        if self.closed:
            raise SessionClosedError(f"{self.name}: session closed")

    def _spawn(self, coro: Any, name: str) -> None:
        """Run a coroutine as a tracked task that ``close()`` cancels."""
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            self.counters.last_error = repr(error)
            _LOGGER.debug("%s: background task %s failed: %r", self.name, task.get_name(), error)

    def _set_timer(self, key: str, delay: float, callback: Callable[[], None]) -> None:
        self._cancel_timer(key)
        self._timers[key] = asyncio.get_running_loop().call_later(delay, callback)

    def _cancel_timer(self, key: str) -> None:
        if (timer := self._timers.pop(key, None)) is not None:
            timer.cancel()

    # ------------------------------------------------------------------ connecting

    async def _maintain(self) -> None:
        """Always-connected mode: connect, wait for a drop, back off by policy, repeat."""
        reason = FailureReason.DROPPED
        while self._state not in CLOSED_STATES:
            await self._wanted.wait()
            if self._state in CLOSED_STATES:
                return
            if not self.is_connected:
                try:
                    await self.connect()
                except BB8ConnectionError as err:
                    reason = err.reason
                except BB8Error as err:
                    reason = FailureReason.CONNECTION
                    self.counters.last_error = str(err)
                except Exception:
                    # Keep the toy's link alive through a bug: log it in full and back off.
                    _LOGGER.exception("%s: unexpected error while connecting", self.name)
                    reason = FailureReason.CONNECTION
            if self.is_connected:
                await self._link_lost.wait()
                reason = FailureReason.DROPPED
                if self._state in CLOSED_STATES:
                    return
            if not self._wanted.is_set():
                continue  # asleep or given up: wait until someone wants the toy again
            delay = self._backoff.next_delay(reason)
            if delay is None:
                self._given_up = True
                self._wanted.clear()
                continue
            self.counters.reconnect_attempts += 1
            await asyncio.sleep(delay)

    def _log_attempt(self, attempt: int, delay: float, reason: FailureReason) -> None:
        # The advice is given once per episode: repeating it on every attempt of a long wait for
        # a slot only buries it (an episode ends when a connect succeeds).
        if reason is FailureReason.OUT_OF_SLOTS and not self._slot_advice_logged:
            self._slot_advice_logged = True
            _LOGGER.warning(
                "%s: the Bluetooth adapter or proxy has no free connection slot; retrying in "
                "%.0f s (attempt %d). Free a slot or add an ESPHome Bluetooth proxy near the toy, "
                "or use the on-demand connection mode",
                self.name,
                delay,
                attempt,
            )
        else:
            _LOGGER.info("%s: reconnecting in %.1f s (attempt %d, %s)", self.name, delay, attempt, reason)

    def _log_give_up(self, attempts: int, reason: FailureReason) -> None:
        _LOGGER.warning(
            "%s: giving up after %d reconnect attempts (%s); it will connect again when used",
            self.name,
            attempts,
            reason,
        )

    async def _connect(self, version: int, generation: int) -> None:
        """One connect: establish the link, hand-shake, wait until ready, then mark it connected."""
        self._expected_disconnect = False
        link = self._link
        client: Any = None
        try:
            async with asyncio.timeout(self.connect_timeout):
                client = await link.establish(lambda: self._ble_device, generation)
                if self._state_version != version:
                    raise _Stale
                await link.handshake(client, generation)
                self.asleep = False
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
            if self._state_version == version and self._state is SessionState.CONNECTING:
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
        if self._state_version != version:
            _LOGGER.debug("%s: handshake finished after the session moved on; undoing", self.name)
            await link.close_client(client)
            return
        self.counters.connects += 1
        if self._slot_advice_logged:
            self._slot_advice_logged = False
            _LOGGER.info("%s: connected again; it found a free connection slot again", self.name)
        elif self.counters.connects > 1:
            _LOGGER.info("%s: connected again", self.name)
        self._link_lost.clear()
        self._transition(SessionState.CONNECTED, "handshake complete")
        # The probe was this link's first write: the pipeline keeps its pacing, so the first
        # queued command still waits an interval after it (the toy would drop it otherwise).
        self._pipeline.attach(link.adopt(client, commands_char))
        self._set_timer("stable", self.policy.stable_window, lambda: self._backoff.reset("stable connection"))
        self._arm_idle_timer()
        self._spawn(self._after_connect(generation), f"bb8 {self.name} restore")

    async def _probe(self, write: Callable[[bytes], Any]) -> asyncio.Future[Response]:
        return await self._pipeline.write_now(self._toy.ready_probe(), write)

    async def _after_connect(self, generation: int) -> None:
        """Set up the toy after every connect: options, notifications, then the wishes."""
        commands = self.setup_commands() + self.wish_commands()
        if generation != self._link.generation or not self.is_connected:
            return
        self._set_up_generation = None
        # Queued together (the pipeline paces them), so "nothing pending" means "restored".
        results = await asyncio.gather(
            *(self.send(command, reset_timeout=False, purpose=Purpose.SETUP) for command in commands),
            return_exceptions=True,
        )
        if generation == self._link.generation:
            self._set_up_generation = generation
        for command, result in zip(commands, results, strict=True):
            if isinstance(result, Response):
                self.absorb(command, result)
            elif isinstance(result, BB8Error):
                _LOGGER.debug("%s: %s after connect failed: %s", self.name, command.name, result)
            elif isinstance(result, BaseException):
                raise result

    # ------------------------------------------------------------------ letting go

    async def _disconnect(self, reason: str) -> None:
        try:
            self._expected_disconnect = True
            connect_task = self._connect_task
            if self._state is SessionState.CONNECTING or self._state is SessionState.CONNECTED:
                self._transition(SessionState.DISCONNECTING, reason)
            if connect_task is not None and not connect_task.done():
                connect_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, BB8Error):
                    await connect_task
            await self._release(reason)
            if self._state is SessionState.DISCONNECTING:
                self._transition(SessionState.DISCONNECTED, reason)
        finally:
            self._disconnect_task = None

    def _let_go(self, reason: str) -> tuple[Any, asyncio.Task[None] | None]:
        """Forget the link (the one teardown): timers, writer, client, commands bound to it.

        Commands already written fail (the toy may or may not have acted on them), queued polls
        and set-up fail; queued use waits for the next link. Returns the client to disconnect
        and the cancelled writer, for the caller to await when it may wait.
        """
        self._cancel_timer("stable")
        self._cancel_timer("idle")
        writer = self._pipeline.detach()
        client = self._link.forget()
        self._pipeline.fail_inflight(NotConnectedError(f"{self.name}: {reason} before the toy answered"))
        self._pipeline.fail_link_bound(NotConnectedError(f"{self.name}: {reason}"))
        self._link_lost.set()
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
        if self._state is not SessionState.CONNECTED and self._state is not SessionState.CONNECTING:
            return
        if self.asleep:
            self._lose_link("toy went to sleep")
        else:
            self.counters.drops += 1
            _LOGGER.info("%s: Bluetooth link lost", self.name)
            self._lose_link("link lost")

    def _lose_link(self, reason: str) -> Any:
        """Forget a link that is gone and go DISCONNECTED; returns its client."""
        client, _writer = self._let_go(reason)
        self._transition(SessionState.DISCONNECTED, reason)
        return client

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
        _LOGGER.info("%s: Bluetooth link broken (%s); reconnecting", self.name, reason)
        if (client := self._lose_link(reason)) is not None:
            self._spawn(self._link.close_client(client), f"bb8 {self.name} drop broken link")

    # ------------------------------------------------------------------ commands

    async def send(
        self,
        command: cmd.Command,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - per-command timeouts are the contract
        reset_timeout: bool = True,
        purpose: Purpose = Purpose.USE,
    ) -> Response:
        """Queue ``command`` and wait for the toy's answer.

        Raises ``NotConnectedError`` when the toy is out of reach (always-connected mode between
        reconnects, or a link lost after the command was written: the toy may or may not have
        acted on it), ``CommandTimeoutError``, ``CommandRejectedError`` with the toy's code, or
        ``SessionClosedError``. Commands still waiting in the queue when the link drops stay
        queued and go out after the reconnect, if their timeout allows.
        ``reset_timeout`` False keeps a query from postponing the toy's inactivity sleep.
        ``purpose`` says whether someone asked for it (see ``Purpose``): only use connects and
        extends an on-demand link's idle time.
        """
        if self._state is not SessionState.CONNECTED:
            self._check_open()
            if purpose is not Purpose.USE:
                # Only use makes a link. Without one there is nothing to poll or set up, which
                # is not a failed command either (not counted, not the last error).
                raise NotConnectedError(
                    f"{self.name} is not connected; {command.name} ({purpose}) was not sent"
                )
            # A connect made first has its own bound (connect_timeout): a connect slowed by a
            # busy proxy fails as what it is, not as a toy that did not answer.
            try:
                await self._ensure_link(command)
            except BB8Error as err:
                self._count_failure(err)
                raise
        timeout = self.command_timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Response] = loop.create_future()
        # A timer on the answer itself: cheaper than a timeout scope around the await.
        timer = loop.call_later(timeout, _expire, waiter)
        self._pipeline.submit(command, waiter, reset_timeout, purpose)
        try:
            return await waiter
        except TimeoutError:
            self.counters.commands_timed_out += 1
            error = CommandTimeoutError(command.name, timeout)
            self._count_failure(error)
            raise error from None
        except BB8Error as err:
            self._count_failure(err)
            raise
        finally:
            timer.cancel()
            if not waiter.done() or waiter.cancelled() or waiter.exception() is not None:
                waiter.cancel()
                self._pipeline.forget_abandoned()

    def _count_failure(self, error: BB8Error) -> None:
        self.counters.commands_failed += 1
        self.counters.last_error = str(error)

    async def _ensure_link(self, command: cmd.Command) -> None:
        """Make sure a link exists or is coming, by the connection mode's rules.

        Only use makes a link: in on-demand mode, and in always-connected mode once the toy
        slept or the reconnect policy gave up (each says "it connects again when used").
        """
        woken = self.asleep or self._given_up
        if woken:
            self.wake_requested()
        if (
            self.mode is ConnectionMode.ON_DEMAND
            or woken
            or self._state in (SessionState.CONNECTING, SessionState.DISCONNECTING)
        ):
            # connect() joins a connect already under way rather than starting a second one.
            await self.connect()
            return
        raise NotConnectedError(
            f"{self.name} is not connected (reconnecting in the background); {command.name} was not sent"
        )

    def _on_written(self, pending: Pending) -> None:
        if pending.use:
            self._arm_idle_timer()

    def _on_answered(self, pending: Pending) -> None:
        if not pending.internal:
            self._backoff.reset("command succeeded")

    def _arm_idle_timer(self) -> None:
        if self.mode is ConnectionMode.ON_DEMAND and self.is_connected:
            self._set_timer("idle", self.idle_timeout, self._on_idle)

    def _on_idle(self) -> None:
        self._timers.pop("idle", None)
        # Only someone's command still on its way keeps the link; a poll or the set-up traffic
        # does not (it fails as "not connected", which is what it would meet a moment later).
        if self._pipeline.has_use_pending():
            self._arm_idle_timer()
            return
        _LOGGER.debug("%s: idle for %.0f s, disconnecting", self.name, self.idle_timeout)
        self._spawn(self.disconnect("idle"), f"bb8 {self.name} idle disconnect")

    def _on_packets(self, packets: list[Packet]) -> None:
        for packet in packets:
            if isinstance(packet, Response):
                self._pipeline.answer(packet)
            else:
                self.absorb_async(packet)

    # ------------------------------------------------------------------ sleep and wake

    def _mark_asleep(self) -> None:
        """Note that the toy sleeps: stop reconnecting until someone uses it again."""
        if self.mode is ConnectionMode.ALWAYS:
            self._wanted.clear()
        super()._mark_asleep()

    def wake_requested(self) -> None:
        """Someone wants the toy: resume the always-connected loop (after sleep or give-up)."""
        self.asleep = False
        self._given_up = False
        self._backoff.reset("woken")
        self._wanted.set()
        self._update_listeners.notify()

    async def sleep(self) -> None:
        """Put the toy to sleep now; the link closes and is not re-opened until it is used."""
        await self.send(cmd.sleep())
        self._mark_asleep()
        self._expected_disconnect = True
        await self.disconnect("asleep")

    async def wake(self) -> None:
        """Wake the toy: connect (which wakes it) or wake it again over the link that is up."""
        self._check_open()
        self.wake_requested()
        if self.is_connected and self._link.client is not None:
            await self._link.wake()
            self._spawn(self._after_connect(self._link.generation), f"bb8 {self.name} restore")
            return
        await self.connect()

    # ------------------------------------------------------------------ the toy's verbs

    async def set_main_led(self, red: int, green: int, blue: int) -> None:
        """Colour the main LED (temporary: the toy's flash is never written)."""
        await self._send_wish("main_led", (red, green, blue))

    async def set_tail_light(self, brightness: int) -> None:
        """Set the tail light's brightness (the spec's "back LED")."""
        await self._send_wish("tail_light", brightness)

    async def set_stabilization(self, enabled: bool) -> None:
        """Turn stabilization on or off."""
        await self._send_wish("stabilization", enabled)

    async def _send_wish(self, name: str, wish: Any) -> None:
        """Record a wish the session re-applies after every reconnect, then send it.

        The wish is what the toy will show (now, or after the next reconnect if the command
        fails), so wish listeners hear of it at once, also when the command then fails: what
        follows ``wishes`` must not keep showing the old value while the toy is given the new
        one. A wish the toy refuses (an MRSP error) is withdrawn again, unless a newer wish came
        meanwhile: re-applying it would only be refused again. (If the refused command had
        absorbed earlier queued wishes of the same name, the wish before this call is restored,
        which may be one of those; the toy refusing a valid colour is hypothetical, and this
        keeps the rule simple.)
        """
        command = wish_command(name, wish)
        previous = self.make_wish(name, wish)
        try:
            await self.send(command)
        except CommandRejectedError:
            self.withdraw_wish(name, wish, previous)
            raise

    def restore_wish(self, name: str, wish: Any) -> None:
        """Adopt a wish kept from an earlier run (``main_led``, ``tail_light`` or ``stabilization``).

        The caller remembers wishes across restarts (Home Assistant restores its entities); the
        toy forgot them, so they become the wishes this session applies. A wish already made in
        this run wins. Restoring is not use: it never connects and never keeps a link up. Over a
        link that is up it is sent now as the session's own traffic; otherwise the next
        connect's setup applies it with the other wishes.
        """
        command = wish_command(name, wish)
        if getattr(self.wishes, name) is not None:
            return
        self.make_wish(name, wish)
        if self.is_connected:
            self._spawn(self._apply_restored(command), f"bb8 {self.name} restore {name}")

    async def _apply_restored(self, command: cmd.Command) -> None:
        if not self.is_connected:
            return  # the next connect's setup applies it; sending now could connect
        try:
            await self.send(command, reset_timeout=False, purpose=Purpose.SETUP)
        except BB8Error as err:
            _LOGGER.debug("%s: restoring %s failed: %s", self.name, command.name, err)

    async def roll(self, speed: int, heading: int) -> None:
        """Roll at ``speed`` towards ``heading``."""
        self._last_heading = heading
        await self.send(cmd.roll(speed, heading))

    async def stop(self) -> None:
        """Stop rolling, keeping the last roll's heading (stop's heading 0 would turn the toy)."""
        await self.send(cmd.stop(self._last_heading))

    async def set_heading(self, degrees: int) -> None:
        """Declare the current direction to be ``degrees`` (0 resets the heading)."""
        await self.send(cmd.set_heading(degrees))
        self._last_heading = degrees

    async def self_level(self) -> None:
        """Level the body; on BB-8 this centres the head."""
        await self.send(cmd.self_level())

    async def ping(self) -> None:
        """Prove the toy answers."""
        await self.send(cmd.ping())

    async def refresh_power_state(self) -> cmd.PowerState:
        """Read the power state over the link that is up: a poll, not use.

        It never connects (``NotConnectedError`` without a link: connecting would wake a
        sleeping toy), does not extend an on-demand link's idle time, and does not postpone the
        toy's own inactivity sleep.
        """
        command = cmd.get_power_state()
        response = await self.send(command, reset_timeout=False, purpose=Purpose.POLL)
        self.absorb(command, response)
        if self.power_state is None:
            raise NotConnectedError(f"{self.name}: the power state answer was malformed")
        return self.power_state


def _expire(waiter: asyncio.Future[Response]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


async def _join(task: asyncio.Task[None]) -> None:
    """Wait for a task other callers share, without cancelling it if this caller is cancelled.

    Not ``asyncio.shield``: since Python 3.14, a shielded task that fails after one of its
    callers was cancelled is reported to the loop's exception handler as an unhandled error,
    even though the session expects and handles that failure (a connect given up, say).
    """
    await asyncio.wait((task,))
    task.result()


def _retrieve_outcome(task: asyncio.Task[Any]) -> None:
    """Mark a shared task's failure as seen: its callers may all have been cancelled."""
    if not task.cancelled():
        task.exception()
