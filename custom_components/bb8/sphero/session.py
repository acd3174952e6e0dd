"""The session: the one object the Home Assistant layer talks to about one BB-8.

Its one job is the façade over a toy's link: what is use and what is not (``Purpose``), sending
commands and waiting for their answers, the wishes it re-applies after every connect or wake
because the toy forgets them, sleep and wake, the toy's verbs, listeners and diagnostics. The
link's life (state machine, connection modes, reconnects, idle timer, teardown, close) is
``connection.Connection``, which it builds on; what it knows of the toy is ``toy_state.ToyState``.

It never touches bytes or the radio: the link (``link.Link``) owns the connection and reads
notifications, the pipeline (``pipeline.CommandPipeline``) queues, paces and matches, and the
toy model (``sphero_v1.SPHERO_V1`` for BB-8; a v2 model would be another ``models.ToyModel``
given as ``toy``) frames and hand-shakes. It may import every module of the package, bleak's
``BLEDevice`` type, and nothing of Home Assistant. It runs entirely on the caller's event loop:
waiting is awaiting a future or ``loop.call_later``, never a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import asdict
from functools import partial
import logging
import random
from typing import Any, Final

from bleak.backends.device import BLEDevice

from . import commands as cmd, decoders as dec
from .connection import CONNECT_ATTEMPTS, CONNECT_TIMEOUT, READY_TIMEOUT, Connection
from .const import DEFAULT_INACTIVITY_TIMEOUT
from .drive import Drive
from .errors import (
    BB8Error,
    CommandRejectedError,
    CommandTimeoutError,
    NotConnectedError,
    SessionClosedError,
)
from .link import PARTIAL_PACKET_TIMEOUT, Link
from .models import (
    ConnectionMode,
    Listener,
    Purpose,
    SessionState,
    StateListener,
    Subscription,
    ToyModel,
)
from .policy import ReconnectPolicy
from .protocol import Packet, Response
from .sphero_v1 import SPHERO_V1
from .toy_state import wish_command

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
CLOSE_STOP_TIMEOUT: Final = 1.0
"""Seconds closing waits for the stop of a toy still rolling before it closes the link anyway."""


class BB8Session(Connection):
    """The link to one BB-8, on the running event loop."""

    def __init__(
        self,
        ble_device: BLEDevice,
        *,
        name: str | None = None,
        mode: ConnectionMode = ConnectionMode.ALWAYS,
        policy: ReconnectPolicy | None = None,
        idle_timeout: float = 60.0,
        inactivity_timeout: int = DEFAULT_INACTIVITY_TIMEOUT,
        inactivity_timeout_on_toy: int | None = None,
        asleep: bool = False,
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
        ``toy`` is how the toy is spoken to (its codec and handshake). ``inactivity_timeout``
        (seconds, 60-65535) is set on the toy on connect unless ``inactivity_timeout_on_toy``
        (what was last written, kept by the caller) says it is the factory default already there. ``asleep`` says the toy was
        put to sleep before this session (a reload or restart): nothing connects until use.
        """
        super().__init__(
            ble_device,
            name=name,
            mode=mode,
            policy=policy,
            idle_timeout=idle_timeout,
            inactivity_timeout=inactivity_timeout,
            inactivity_timeout_on_toy=inactivity_timeout_on_toy,
            asleep=asleep,
            pacing_interval=pacing_interval,
            connect_timeout=connect_timeout,
            ready_timeout=ready_timeout,
            connect_attempts=connect_attempts,
            rng=rng,
            client_kwargs=client_kwargs,
            toy=toy,
            on_packets=self._on_packets,
            after_connect=self._after_connect,
            in_use=lambda: self._drive.rolling,
        )
        self._drive = Drive(self.name, self._background, self._safety_stop)
        self.command_timeout = command_timeout
        self._set_up_generation: int | None = None
        """The link generation whose after-connect setup has finished (see is_set_up)."""
        self._state_listeners.add(lambda state, _reason: self._link_changed())

    def _link_changed(self) -> None:
        self.motion.link_changed(self.is_connected)
        if self._machine.state is not SessionState.CONNECTING and not self.is_connected:
            # The toy stops when its link goes (stop on disconnect). Not on CONNECTING: a roll
            # that connects first counts as rolling from the start.
            self._drive.stopped()

    # ------------------------------------------------------------------ observation

    @property
    def state(self) -> SessionState:
        """The state machine's current state."""
        return self._machine.state

    @property
    def state_version(self) -> int:
        """Bumped on every transition; a completion carrying an older one is stale."""
        return self._machine.version

    @property
    def generation(self) -> int:
        """Bumped on every connect; notifications from an older link are ignored."""
        return self._link.generation

    @property
    def link(self) -> Link:
        """The connection itself (its commands characteristic, its notification handler)."""
        return self._link

    @property
    def gave_up(self) -> bool:
        """Whether the reconnect policy spent its attempts; the next use connects again."""
        return self._reconnector.gave_up

    @property
    def ble_device(self) -> BLEDevice:
        """The freshest known path to the toy (adapter or proxy)."""
        return self._ble_device

    def set_ble_device(self, ble_device: BLEDevice) -> None:
        """Take a fresher ``BLEDevice`` from an advertisement; the next connect uses it."""
        self._ble_device = ble_device

    @property
    def backoff_attempts(self) -> int:
        """Reconnect attempts since the last reset of the policy."""
        return self._reconnector.backoff.attempts

    @property
    def listener_count(self) -> int:
        """How many listeners are registered, of every kind (leak checks)."""
        return len(self._state_listeners) + super().listener_count

    def on_state_change(self, callback: StateListener) -> Subscription:
        """Call ``callback(state, reason)`` on every transition."""
        return self._state_listeners.add(callback)

    @property
    def is_set_up(self) -> bool:
        """Whether the link is up and its after-connect setup has run to its end.

        The setup is queued by a task spawned at connect, so "connected with nothing pending"
        can hold for a moment before it is queued; this cannot. Failed setup commands count as
        run: they are logged and the session goes on.
        """
        return self.is_connected and self._set_up_generation == self._link.generation

    @property
    def pacing_interval(self) -> float:
        """Seconds between command writes."""
        return self._pipeline.pacing_interval

    @pacing_interval.setter
    def pacing_interval(self, seconds: float) -> None:
        self._pipeline.pacing_interval = seconds

    @property
    def pending_commands(self) -> int:
        """Commands queued or waiting for an answer (diagnostics, leak checks)."""
        return self._pipeline.pending

    @property
    def writer_stalled(self) -> bool:
        """Whether commands wait for a link that is up with no writer for them (leak checks)."""
        return self._pipeline.stalled

    def add_update_listener(self, callback: Listener) -> Subscription:
        """Call ``callback()`` whenever anything observable changes (push to Home Assistant)."""
        return self._update_listeners.add(callback)

    def diagnostics(self) -> dict[str, Any]:
        """Return a snapshot for Home Assistant's diagnostics download (no address: callers add it)."""
        return {
            "state": str(self._machine.state),
            "state_version": self._machine.version,
            "generation": self._link.generation,
            "mode": str(self.mode),
            "asleep": self.asleep,
            "gave_up": self.gave_up,
            "set_up": self.is_set_up,
            "backoff_attempts": self.backoff_attempts,
            "pending_commands": self.pending_commands,
            "pacing_interval": self.pacing_interval,
            "policy": asdict(self.policy),
            "counters": asdict(self.counters),
            **self.toy_diagnostics(),
        }

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
        if purpose is Purpose.USE and self.asleep and self.is_connected and command.name != "sleep":
            # Told it will sleep, then used within its last 10 s: the command (which resets
            # its inactivity timer) keeps it awake.
            self.wake_requested()
        if self._machine.state is not SessionState.CONNECTED:
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
                await self._ensure_link()
            except BB8Error as err:
                self._count_failure(err)
                raise
        timeout = self.command_timeout if timeout is None else timeout
        try:
            return await self._pipeline.send(command, reset_timeout, purpose, timeout)
        except TimeoutError:
            self.counters.commands_timed_out += 1
            error = CommandTimeoutError(command.name, timeout)
            self._count_failure(error)
            raise error from None
        except BB8Error as err:
            self._count_failure(err)
            raise

    def _count_failure(self, error: BB8Error) -> None:
        self.counters.commands_failed += 1
        self.counters.last_error = str(error)

    async def _ensure_link(self) -> None:
        """Connect for someone's command: use connects in every mode (led_ble's rule).

        On demand that is how links are made; always connected, a command during the reconnect
        loop's wait (its backoff, or waiting to hear the toy) does not fail for hours: it ends
        that wait and connects, and the loop's own next try joins this connect. After the toy
        slept or the policy gave up, it also resumes the loop ("it connects again when used").
        """
        if self.asleep or self.gave_up:
            self.wake_requested()
        elif self.mode is ConnectionMode.ALWAYS:
            self._reconnector.heard_again()
        # connect() joins a connect already under way rather than starting a second one.
        await self.connect()

    def _on_packets(self, packets: list[Packet]) -> None:
        for packet in packets:
            if isinstance(packet, Response):
                self._pipeline.answer(packet)
            else:
                self.absorb_async(packet)

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
            elif isinstance(result, NotConnectedError | SessionClosedError):
                # The link went (or the session closed) meanwhile: the next connect sets up anew.
                _LOGGER.debug("%s: %s after connect failed: %s", self.name, command.name, result)
            elif isinstance(result, BB8Error):
                # Over a link that stays up: the toy may lack what this set (stop on
                # disconnect, collisions, power notifications, its sleep time, a wish) until
                # the next connect, so a person must be able to see it in the log.
                _LOGGER.warning(
                    "%s: setting the toy up after connecting failed at %s (%s); what it sets may not "
                    "work until the toy reconnects",
                    self.name,
                    command.name,
                    result,
                )
            elif isinstance(result, BaseException):
                raise result
        self._motion_demand_changed()  # wanted while the set-up was on its way

    def _motion_demand_changed(self) -> None:
        """Tell a set-up toy the stream wanted now, as set-up traffic (never use, never connects)."""
        if self.is_set_up:
            send = partial(self.send, reset_timeout=False, purpose=Purpose.SETUP)
            self._background.spawn(self.motion.update(send), f"bb8 {self.name} stream")

    # ------------------------------------------------------------------ sleep and wake

    def _mark_asleep(self) -> None:
        """Note that the toy sleeps: stop reconnecting until someone uses it again."""
        if self.mode is ConnectionMode.ALWAYS:
            self._reconnector.pause()
        super()._mark_asleep()

    def wake_requested(self) -> None:
        """Someone wants the toy: resume the always-connected loop (after sleep or give-up)."""
        self.asleep = False
        self._awake_until = float("inf")  # the connect that follows wakes it (and sets the time)
        self._reconnector.resume("woken")
        self._update_listeners.notify()

    async def sleep(self) -> None:
        """Put the toy to sleep now; the link closes and is not re-opened until it is used.

        Sleep is the person's decision, from the moment it is asked: the link lost before the
        toy answered is the toy going to sleep, not a drop to reconnect after. A toy with no
        link is not connected to (connecting wakes it): one presumed asleep stays so, and
        always connected, one out of reach is no longer reconnected to until it is used.
        """
        self._check_open()
        if not self.is_connected and (self.presumed_asleep or self.mode is ConnectionMode.ALWAYS):
            _LOGGER.debug("%s: sleep asked with no link; not connecting (that would wake it)", self.name)
            self._mark_asleep()
            return
        if not self.is_connected:
            await self.connect()  # on demand, idle but still awake: put it to sleep now
        self._mark_asleep()
        try:
            await self.send(cmd.sleep())
        except NotConnectedError:
            _LOGGER.debug("%s: the link went before the sleep was answered; taken as asleep", self.name)
        self._expected_disconnect = True
        await self.disconnect("asleep")

    async def wake(self) -> None:
        """Wake the toy: connect (which wakes it) or wake it again over the link that is up."""
        self._check_open()
        self.wake_requested()
        if self.is_connected and self._link.client is not None:
            await self._link.wake()
            self._background.spawn(self._after_connect(self._link.generation), f"bb8 {self.name} restore")
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
            self._background.spawn(self._apply_restored(command), f"bb8 {self.name} restore {name}")

    async def _apply_restored(self, command: cmd.Command) -> None:
        if not self.is_connected:
            return  # the next connect's setup applies it; sending now could connect
        try:
            await self.send(command, reset_timeout=False, purpose=Purpose.SETUP)
        except BB8Error as err:
            _LOGGER.debug("%s: restoring %s failed: %s", self.name, command.name, err)

    @property
    def charging(self) -> bool | None:
        """Whether the toy charges, as it last said over the link that is up; None without one.

        Its power state is only heard over a link: once the link is gone the toy may have been
        put on its charger or taken off it (it sleeps on its charger most of the day), so the
        last answer is not kept as if it still held. The battery voltage is kept: it is a last
        reading, and says so.
        """
        power = self.power_state
        return None if power is None or not self.is_connected else power.charging

    @property
    def rolling(self) -> bool:
        """Whether the toy rolls as the latest roll asked (nothing stopped it since)."""
        return self._drive.rolling

    async def roll(self, speed: int, heading: int, duration: float | None = None) -> None:
        """Roll at ``speed`` towards ``heading``; with ``duration`` (s), stop after it.

        With a duration this returns when the roll is over: after its stop went out, or sooner
        when a newer roll, stop or aim superseded it. The stop is the session's own timer, so it
        happens whatever becomes of the caller; a caller cancelled while its roll is still the
        latest motion stops the toy at once (a stopped script must not leave it rolling).
        """
        motion = self._drive.begin()
        try:
            self._last_heading = heading
            # Rolling from the moment the command may reach the toy, not from its answer: a
            # caller cancelled before the answer must still find a toy to stop.
            self._drive.rolled(motion, speed)
            try:
                await self.send(cmd.roll(speed, heading))
            except CommandTimeoutError:
                raise  # it may have arrived: still counted as rolling, so it is stopped later
            except BB8Error:
                self._drive.stopped()  # never arrived, refused, or the link (and motion) went
                raise
            if duration is not None:
                await self._drive.hold(motion, duration)
        except asyncio.CancelledError:
            self._drive.abandon(motion)
            raise

    async def stop(self) -> None:
        """Stop rolling, keeping the last roll's heading (stop's heading 0 would turn the toy)."""
        motion = self._drive.begin()
        try:
            await self.send(cmd.stop(self._last_heading))
        except asyncio.CancelledError:
            self._drive.abandon(motion)  # its queued stop is withdrawn: the session's own stops the toy
            raise
        self._drive.stopped()

    async def close(self) -> None:
        """Stop for good (see ``Connection.close``); a toy still rolling is stopped first.

        The toy's own "stop on disconnect" stops it when the link closes anyway; the explicit
        stop (bounded by ``CLOSE_STOP_TIMEOUT``) also covers a link set up too recently for that
        option to have been set.
        """
        if not self.closed:
            self._drive.close()
            if self._drive.rolling and self.is_connected:
                with contextlib.suppress(BB8Error, TimeoutError):
                    async with asyncio.timeout(CLOSE_STOP_TIMEOUT):
                        await self.send(cmd.stop(self._last_heading), purpose=Purpose.SAFETY)
        await super().close()

    async def _safety_stop(self, reason: str) -> None:
        """Stop the toy for the session's own reasons, over the link that is up (never connects)."""
        if not self.is_connected:
            self._drive.stopped()  # no link: the toy stopped when it went (stop on disconnect)
            return
        try:
            await self.send(cmd.stop(self._last_heading), purpose=Purpose.SAFETY)
        except NotConnectedError:
            self._drive.stopped()  # the link went first, and with it the toy stopped
        except BB8Error as err:
            _LOGGER.warning("%s: could not stop the toy after %s: %s", self.name, reason, err)
        else:
            self._drive.stopped()
            # The roll was someone's use until now: the on-demand idle time starts from its end.
            self._arm_idle_timer()

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

    async def refresh_power_state(self) -> dec.PowerState:
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
