"""``BB8Session``: the one object the Home Assistant layer talks to about one Sphero toy.

A façade over parts it holds: the toy's state (``toy_state.ToyState``), the link's life
(``connection.Connection`` with its link, command pipeline and reconnect loop) and the drive
(``drive.Drive``). It decides what each command is for (``Purpose``: only use connects), sends
and awaits answers, re-applies the requested settings after every connect or wake, puts the toy
to sleep and wakes it, and offers the toy's verbs (roll, stop, aim, heading, lights). It runs on
the caller's event loop: waiting is awaiting a future or a ``loop.call_later`` timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
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
    NotSupportedError,
    SessionClosedError,
)
from .link import PARTIAL_PACKET_TIMEOUT
from .models import (
    ConnectionMode,
    Purpose,
    SessionCounters,
    SessionState,
    ToyModel,
)
from .policy import ReconnectPolicy
from .protocol import Packet, Response
from .sphero_v1 import SPHERO_V1
from .toy_state import ToyState

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
AIM_TAIL_LIGHT: Final = 255
"""The tail light's brightness while aiming: full, so the toy's back is plain to see."""
CLOSE_STOP_TIMEOUT: Final = 1.0
"""Seconds closing waits for the stop of a toy still rolling before it closes the link anyway."""


class BB8Session:
    """The link to one Sphero toy (any model), on the running event loop."""

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
        model: ToyModel = SPHERO_V1,
    ) -> None:
        """Prepare the session; nothing connects until ``start()`` or the first command.

        ``client_kwargs`` reach the bleak client's constructor (a library seam: tests give the
        simulator's bleak backend here when they run without Home Assistant's Bluetooth stack).
        ``model`` is how the toy is spoken to (its codec and handshake). ``inactivity_timeout``
        (seconds, 60-65535) is set on the toy on connect unless ``inactivity_timeout_on_toy``
        (what was last written, kept by the caller) says it is the factory default already
        there. ``asleep`` says the toy was put to sleep before this session (a reload or
        restart): nothing connects until use.
        """
        self.name = name or ble_device.name or ble_device.address
        self.mode = mode
        self.policy = policy or ReconnectPolicy()
        self.idle_timeout = idle_timeout
        self.command_timeout = command_timeout
        self.counters = SessionCounters()
        self.is_heard: Callable[[], bool] = lambda: True
        """Whether any adapter or proxy hears the toy now (the caller's Bluetooth stack knows;
        Home Assistant's layer sets it). Always connected, nothing connects while it is False."""
        self.toy = ToyState(
            self.name,
            self.counters,
            inactivity_timeout,
            inactivity_timeout_on_toy,
            asleep,
            on_sleep=self._on_sleep,
            on_motion_demand=self._motion_demand_changed,
            setting_command=model.setting_command,
            sensor_stream=model.sensor_stream,
        )
        """What is known of the toy and asked of it: settings, power, motion, sleep."""
        self._connection = Connection(
            ble_device,
            name=self.name,
            mode=mode,
            policy=self.policy,
            idle_timeout=idle_timeout,
            pacing_interval=pacing_interval,
            connect_timeout=connect_timeout,
            ready_timeout=ready_timeout,
            connect_attempts=connect_attempts,
            rng=rng or random.Random(),
            client_kwargs=dict(client_kwargs or {}),
            model=model,
            toy=self.toy,
            counters=self.counters,
            on_packets=self._on_packets,
            on_transition=self._on_transition,
            after_connect=self._after_connect,
            in_use=lambda: self._drive.rolling,
            is_heard=lambda: self.is_heard(),
        )
        self._model = model
        self._pipeline = self._connection.pipeline
        self.link = self._connection.link
        """The connection itself (its commands characteristic, its notification handler)."""
        self._background = self._connection.background
        self._reconnector = self._connection.reconnector
        self._drive = Drive(self.name, self._background, self._safety_stop)
        self._sleep_under_way: asyncio.Future[None] | None = None
        """While ``sleep`` runs; done once the toy answered it (or did not) and the link is down."""
        self._set_up_generation: int | None = None
        """The link generation whose after-connect setup has finished (see is_set_up)."""
        self._aiming = False
        """The tail light is lit for aiming (until the heading is set)."""

    def _on_transition(self, state: SessionState, reason: str) -> None:
        """Follow a move of the link's state; the toy's update listeners hear of every move."""
        if not self.is_connected:
            self.toy.motion.link_changed(False)
            if state is not SessionState.CONNECTING and self._model.stops_on_disconnect:
                # The toy stops when its link goes (stop on disconnect). Not on CONNECTING: a
                # roll that connects first counts as rolling from the start. A toy without that
                # option (v2) rolls on: it still counts as rolling, so it is stopped when due.
                self._drive.stopped()
        self.toy.notify_update()

    # ------------------------------------------------------------------ the link's life

    async def start(self) -> None:
        """Begin work: in always-connected mode, connect now and keep the link up after."""
        await self._connection.start()

    async def connect(self) -> None:
        """Connect and hand-shake now (or join a connect already under way)."""
        await self._connection.connect()

    async def disconnect(self, reason: str = "requested") -> None:
        """Drop the link on purpose. Idempotent, bounded in time, never raises."""
        await self._connection.disconnect(reason)

    def reachable_again(self) -> None:
        """Reconnect now if waiting: the toy is reachable again (advertising after it was gone).

        Always connected, a reconnect waiting out its backoff is tried at once rather than after
        up to the longest wait. Nothing else changes: on demand nothing connects until used, and
        a toy asleep, or given up on, stays so until used.
        """
        if self.mode is ConnectionMode.ALWAYS and not self.is_connected:
            self._reconnector.reachable_again()

    def set_ble_device(self, ble_device: BLEDevice) -> None:
        """Take a fresher ``BLEDevice`` from an advertisement; the next connect uses it."""
        self._connection.ble_device = ble_device

    # ------------------------------------------------------------------ observation

    @property
    def is_connected(self) -> bool:
        """Whether commands can be written now."""
        return self._connection.is_connected

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called."""
        return self._connection.closed

    @property
    def state(self) -> SessionState:
        """The state machine's current state."""
        return self._connection.machine.state

    @property
    def gave_up(self) -> bool:
        """Whether the reconnect policy spent its attempts; the next use connects again."""
        return self._reconnector.gave_up

    @property
    def is_set_up(self) -> bool:
        """Whether the link is up and its after-connect setup has run to its end.

        The setup is queued by a task spawned at connect, so "connected with nothing pending"
        can hold for a moment before it is queued; this cannot. Failed setup commands count as
        run: they are logged and the session goes on.
        """
        return self.is_connected and self._set_up_generation == self.link.generation

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

    def diagnostics(self) -> dict[str, Any]:
        """Return a snapshot for Home Assistant's diagnostics download (no address: callers add it)."""
        return {
            "state": str(self.state),
            "state_version": self._connection.machine.version,
            "generation": self.link.generation,
            "mode": str(self.mode),
            "asleep": self.toy.asleep,
            "gave_up": self.gave_up,
            "set_up": self.is_set_up,
            "backoff_attempts": self._reconnector.backoff.attempts,
            "pending_commands": self.pending_commands,
            "pacing_interval": self.pacing_interval,
            "writer": self._pipeline.writer,
            "timers": list(self._background.timer_names),
            "policy": asdict(self.policy),
            "counters": asdict(self.counters),
            **self.toy.toy_diagnostics(),
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
        if purpose is Purpose.USE and command.name != "sleep":
            await self._sleep_settled()
        if purpose is Purpose.USE and self.toy.asleep and self.is_connected and command.name != "sleep":
            # Told it will sleep, then used within its last 10 s: the command (which resets
            # its inactivity timer) keeps it awake.
            self.wake_requested()
        if not self.is_connected:
            self._connection.check_open()
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
        if self.toy.asleep or self.gave_up:
            self.wake_requested()
        elif self.mode is ConnectionMode.ALWAYS:
            self._reconnector.reachable_again()
        # connect() joins a connect already under way rather than starting a second one.
        await self.connect()

    def _on_packets(self, packets: list[Packet]) -> None:
        for packet in packets:
            if isinstance(packet, Response):
                self._pipeline.answer(packet)
            else:
                self.toy.absorb_async(packet)

    async def _after_connect(self, generation: int) -> None:
        """Set up the toy after every connect: options, notifications, then the requested settings.

        A stop that fell due while the link was down, on a toy that rolls on without its link
        (``ToyModel.stops_on_disconnect`` False), goes out first.
        """
        commands = self._model.setup_commands(self.toy) + self.toy.requested_commands()
        if generation != self.link.generation or not self.is_connected:
            return
        if self._drive.stop_owed:
            await self._safety_stop("the link came back after its stop fell due")
        self._set_up_generation = None
        # Queued together (the pipeline paces them), so "nothing pending" means "restored".
        results = await asyncio.gather(
            *(self.send(command, reset_timeout=False, purpose=Purpose.SETUP) for command in commands),
            return_exceptions=True,
        )
        if generation == self.link.generation:
            self._set_up_generation = generation
        for command, result in zip(commands, results, strict=True):
            if isinstance(result, Response):
                self.toy.absorb(command, result)
            elif isinstance(result, NotConnectedError | SessionClosedError):
                # The link went (or the session closed) meanwhile: the next connect sets up anew.
                _LOGGER.debug("%s: %s after connect failed: %s", self.name, command.name, result)
            elif isinstance(result, BB8Error):
                # Over a link that stays up: the toy may lack what this set (stop on
                # disconnect, collisions, power notifications, its sleep time, a setting) until
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
        """Tell a set-up toy the stream wanted now, as set-up traffic (never use, never connects).

        The commands are the toy model's (``ToyModel.sensor_stream``), so v1 and v2 alike.
        """
        if self.is_set_up:
            send = partial(self.send, reset_timeout=False, purpose=Purpose.SETUP)
            self._background.spawn(self.toy.motion.update(send), f"bb8 {self.name} stream")

    # ------------------------------------------------------------------ sleep and wake

    def _on_sleep(self) -> None:
        """Stop reconnecting while the toy sleeps, until someone uses it again."""
        if self.mode is ConnectionMode.ALWAYS:
            self._reconnector.pause()

    def wake_requested(self) -> None:
        """Someone wants the toy: resume the always-connected loop (after sleep or give-up)."""
        self._reconnector.resume("woken")
        self.toy.wake_requested()

    async def sleep(self) -> None:
        """Put the toy to sleep now; the link closes and is not re-opened until it is used.

        Sleep is the person's decision, from the moment it is asked: the link lost before the
        toy answered is the toy going to sleep, not a drop to reconnect after. A toy with no
        link is not connected to (connecting wakes it): one presumed asleep stays so, and
        always connected, one out of reach is no longer reconnected to until it is used.
        """
        self._connection.check_open()
        await self._sleep_settled()  # a second Sleep finds the toy asleep, with no link
        if not self.is_connected and (self._connection.presumed_asleep or self.mode is ConnectionMode.ALWAYS):
            _LOGGER.debug("%s: sleep asked with no link; not connecting (that would wake it)", self.name)
            self.toy.mark_asleep()
            return
        if not self.is_connected:
            await self.connect()  # on demand, idle but still awake: put it to sleep now
        self.toy.mark_asleep()
        under_way = self._sleep_under_way = asyncio.get_running_loop().create_future()
        try:
            try:
                await self.send(self._model.sleep())
                self._drive.stopped()  # asleep, it stands still (also a toy that rolls on unlinked)
            except NotConnectedError:
                _LOGGER.debug("%s: the link went before the sleep was answered; taken as asleep", self.name)
            self._connection.expected_disconnect = True
            await self.disconnect("asleep")
        finally:
            if self._sleep_under_way is under_way:
                self._sleep_under_way = None
            under_way.set_result(None)

    async def wake(self) -> None:
        """Wake the toy: connect (which wakes it) or wake it again over the link that is up."""
        self._connection.check_open()
        await self._sleep_settled()
        self.wake_requested()
        if self.is_connected and self.link.client is not None:
            await self.link.wake()
            self._background.spawn(self._after_connect(self.link.generation), f"bb8 {self.name} restore")
            return
        await self.connect()

    # ------------------------------------------------------------------ the toy's verbs

    async def set_main_led(self, red: int, green: int, blue: int) -> None:
        """Colour the main LED (temporary: the toy's flash is never written)."""
        await self._send_setting("main_led", (red, green, blue))

    async def set_tail_light(self, brightness: int) -> None:
        """Set the tail light's brightness (the spec's "back LED")."""
        await self._send_setting("tail_light", brightness)

    async def set_stabilization(self, enabled: bool) -> None:
        """Turn stabilization on or off."""
        await self._send_setting("stabilization", enabled)

    async def set_part(self, name: str, setting: Any) -> None:
        """Light one of the toy's LEDs by its ``RequestedSettings`` name.

        ``tail_light``, a BB-9E's ``head_light``, an R2 unit's ``front_led``, ``back_led``,
        ``logic_displays`` and ``holo_projector``. Kept like the main LED: re-applied after every connect and wake. A name the toy's model has
        no LED for is refused before anything is sent.
        """
        await self._send_setting(name, setting)

    async def _send_setting(self, name: str, setting: Any) -> None:
        """Record a setting the session re-applies after every reconnect, then send it.

        Its listeners hear of it at once, also when the command then fails: the toy will show it
        (now, or after the next reconnect), so what shows ``requested`` must not lag behind. A
        setting the toy refuses (an MRSP error) is withdrawn, unless a newer one came meanwhile:
        re-applying it would only be refused again.
        """
        command = self.toy.setting_command(name, setting)
        previous = self.toy.set_requested(name, setting)
        try:
            await self.send(command)
        except CommandRejectedError:
            self.toy.withdraw_requested(name, setting, previous)
            raise

    def restore_setting(self, name: str, setting: Any) -> None:
        """Adopt a setting kept from an earlier run (``main_led``, ``tail_light`` or ``stabilization``).

        The toy forgot it; a setting already asked for in this run wins. Restoring is not use:
        over a link that is up it is sent as the session's own traffic, otherwise the next
        connect's set-up applies it; it never connects and never keeps a link up.
        """
        command = self.toy.setting_command(name, setting)
        if getattr(self.toy.requested, name) is not None:
            return
        self.toy.set_requested(name, setting)
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
        if not self.is_connected:
            return None
        if (power := self.toy.power_state) is not None:
            return power.charging
        # A v2 toy's charger state, where its model reports one (the BOLT).
        state = self.toy.charger_state
        return None if state is None else state == "charging"

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

        A roll at speed 0 towards the heading the toy was last told to face neither moves nor
        turns it: it is a stop (as other Sphero libraries send one), and on a sleeping toy that
        stands still it does what ``stop`` does there: nothing, at once, and the toy sleeps on.
        """
        await self._sleep_settled()
        if speed == 0 and heading == self.toy.heading and self._asleep_and_still("roll at speed 0"):
            return
        motion = self._drive.begin()
        try:
            self.toy.heading = heading
            # Rolling from the moment the command may reach the toy, not from its answer: a
            # caller cancelled before the answer must still find a toy to stop.
            self._drive.rolled(motion, speed)
            try:
                await self.send(self._model.roll(speed, heading))
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
        """Stop rolling, keeping the last roll's heading (stop's heading 0 would turn the toy).

        A sleeping toy that the session does not count as rolling stands still already, so the
        stop sends nothing, connects to nothing (connecting would wake it) and succeeds: a Stop
        pressed on a sleeping toy, or an automation's "stop everything" at night, leaves it
        asleep. The toy counts as sleeping when it was put to sleep (Sleep, in either mode; also
        before a reload or restart, as the ``asleep`` the session was made with says), when it
        said so (will sleep: a stop over the link still up would keep it awake another sleep
        time; did sleep), or when it is presumed asleep because its inactivity time ran out with
        no link. That last one is an estimate, and still safe: a toy that stops when its link
        goes (v1) has stopped, and one that rolls on without it (v2) counts as rolling, or owed
        a stop, until a stop is answered. A toy counted as rolling is not taken for asleep,
        whatever it said: whenever the session is unsure, the stop is sent, connecting as any
        use does.
        """
        await self._sleep_settled()
        if self._asleep_and_still("stop"):
            return
        motion = self._drive.begin()
        try:
            await self.send(self._model.stop(self.toy.heading))
        except asyncio.CancelledError:
            self._drive.abandon(motion)  # its queued stop is withdrawn: the session's own stops the toy
            raise
        self._drive.stopped()

    async def _sleep_settled(self) -> None:
        """Wait until a Sleep under way has been answered (or not) and its link is down.

        What is asked meanwhile would otherwise be sent behind the sleep, to a toy gone to sleep
        (no answer: a failed call), over a link about to close. After it, a stop finds the toy
        asleep and standing still, and has nothing to do; a roll, a colour or a Wake is use, and
        wakes the toy to do it (the latest request wins). A timed roll is not begun before, so the
        sleep's "it stands still" cannot end it.
        """
        if (sleep := self._sleep_under_way) is not None:
            await asyncio.shield(sleep)

    def _asleep_and_still(self, verb: str) -> bool:
        """Whether ``verb``, a stop, has nothing to do: the toy sleeps and stands still (logged).

        It is still the newest motion: a timed roll's pending end is dropped, as any stop drops
        it, and whoever waits for that roll is released.
        """
        if not (self._drive.still and self._connection.presumed_asleep):
            return False
        self._drive.begin()
        _LOGGER.debug(
            "%s: %s asked while the toy sleeps: nothing sent (it stands still, and connecting would wake it)",
            self.name,
            verb,
        )
        return True

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
                        await self.send(self._model.stop(self.toy.heading), purpose=Purpose.SAFETY)
        await self._connection.close()
        self.toy.clear_listeners()

    async def _safety_stop(self, reason: str) -> None:
        """Stop the toy for the session's own reasons, over the link that is up (never connects).

        Without a link a v1 toy has stopped already (stop on disconnect); a toy that rolls on
        without its link is owed the stop, which the next connect sends first.
        """
        if not self.is_connected:
            self._unlinked_stop(reason)
            return
        try:
            await self.send(self._model.stop(self.toy.heading), purpose=Purpose.SAFETY)
        except NotConnectedError:
            self._unlinked_stop(reason)  # the link went first
        except BB8Error as err:
            _LOGGER.warning("%s: could not stop the toy after %s: %s", self.name, reason, err)
        else:
            self._drive.stopped()
            # The roll was someone's use until now: the on-demand idle time starts from its end.
            self._connection.arm_idle_timer()

    def _unlinked_stop(self, reason: str) -> None:
        """Settle a stop due with no link: done for a toy that stops without its link, owed otherwise."""
        if self._model.stops_on_disconnect:
            self._drive.stopped()
            return
        _LOGGER.warning(
            "%s: could not stop the toy after %s: it has no link and may still be rolling; "
            "the stop goes out when the link is back",
            self.name,
            reason,
        )
        self._drive.stop_owed = True

    def _require_v1(self, verb: str) -> None:
        """Refuse a verb only the v1 protocol has before anything is sent to a v2 toy."""
        if not self._model.speaks_v1:
            raise NotSupportedError(f"{self.name}: {verb} is a v1 command; this toy speaks v2")

    async def aim(self, heading: int) -> None:
        """Turn in place to face ``heading``, the tail light on full, as the Sphero app aims.

        A roll at speed 0 turns without moving. The tail light shows where the back is (the
        toy's forward is the other way) until ``set_heading`` ends the aim. Aiming is a roll:
        it supersedes a timed roll's pending stop.
        """
        self._require_v1("aim")
        await self.send(cmd.set_tail_light(AIM_TAIL_LIGHT))
        self._aiming = True
        await self.roll(0, heading)
        self.toy.aim = heading
        self.toy.notify_update()

    async def set_heading(self, degrees: int) -> None:
        """Declare the current direction to be ``degrees`` (0 resets the heading); an aim ends.

        After an aim the tail light goes back to what was asked of it, and ``toy.aim`` reads
        ``degrees``: the direction the toy faces is now that heading.
        """
        self._require_v1("set_heading")
        await self.send(cmd.set_heading(degrees))
        self.toy.heading = self.toy.aim = degrees
        if self._aiming:
            self._aiming = False
            await self.send(cmd.set_tail_light(self.toy.requested.tail_light or 0))
        self.toy.notify_update()

    async def reset_position(self) -> None:
        """Move the locator to 0,0; the distance restarts.

        With the toy model's command (``StreamCodec.reset_locator``): a v1 toy's yaw tare turns
        the locator's frame so that the direction the toy faces is the position's +Y axis (the
        spec: yaw tare 0 makes yaw 0 face +Y); a v2 toy's reset (18/13) keeps its axes.
        """
        await self.send(self._model.sensor_stream.reset_locator(self.toy.heading))
        self.toy.motion.reset_distance()

    async def self_level(self) -> None:
        """Level the body; on BB-8 this centres the head."""
        self._require_v1("self_level")
        await self.send(cmd.self_level())

    async def refresh_power_state(self) -> dec.PowerState:
        """Read the power state over the link that is up: a poll, not use.

        It never connects (``NotConnectedError`` without a link: connecting would wake a
        sleeping toy), does not extend an on-demand link's idle time, and does not postpone the
        toy's own inactivity sleep. A v1 toy's only (a v2 toy's battery: ``poll``).
        """
        self._require_v1("get_power_state")
        command = cmd.get_power_state()
        response = await self.send(command, reset_timeout=False, purpose=Purpose.POLL)
        self.toy.absorb(command, response)
        if self.toy.power_state is None:
            raise NotConnectedError(f"{self.name}: the power state answer was malformed")
        return self.toy.power_state

    async def poll(self) -> None:
        """Read what the toy's model polls (its battery) over the link that is up: a poll, not use.

        As ``refresh_power_state`` for every model: it never connects (``NotConnectedError``
        without a link), does not extend an on-demand link's idle time, and does not postpone the
        toy's inactivity sleep. The answers land in ``toy`` (a malformed one is logged and kept out).
        """
        for command in self._model.poll_commands():
            self.toy.absorb(command, await self.send(command, reset_timeout=False, purpose=Purpose.POLL))
