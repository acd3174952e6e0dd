"""What is known of the toy and asked of it: requested settings, power, versions, motion, sleep.

``ToyState`` records the settings a person asked for and names the commands that show them,
keeps what answers and unasked packets say, knows whether the toy sleeps (heard, or presumed
from its inactivity timeout), names the after-connect set-up and tells listeners of changes.
It never sends, connects or waits: the session does, with what this names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
import logging
from typing import Any

from . import commands as cmd, decoders as dec
from .const import DEFAULT_INACTIVITY_TIMEOUT, AsyncId
from .models import Listeners, RequestedSettings, SessionCounters, Subscription
from .motion_stream import V1_STREAM, MotionStream, StreamCodec
from .protocol import AsyncPacket, Response
from .protocol_v2 import AsyncId as V2AsyncId

_LOGGER = logging.getLogger(__name__)

SETTING_ORDER = (
    "stabilization",
    "main_led",
    "tail_light",
    "front_led",
    "back_led",
    "logic_displays",
    "holo_projector",
    "head_light",
)
"""Every ``RequestedSettings`` field, in the order a connect re-applies them: stabilization first."""

type CollisionListener = Callable[[dec.Collision], None]
type AnimationListener = Callable[[int | None], None]
type TextDoneListener = Callable[[], None]


def setting_command(name: str, setting: Any) -> cmd.Command:
    """Return the command that shows ``setting`` (of ``RequestedSettings`` field ``name``) on the toy."""
    if name == "main_led":
        red, green, blue = setting
        return cmd.set_main_led(red, green, blue)
    if name == "tail_light":
        return cmd.set_tail_light(setting)
    if name == "stabilization":
        return cmd.set_stabilization(setting)
    raise ValueError(f"no setting {name!r}")


class ToyState:
    """The toy's known state, the settings asked of it, its sleep, and their listeners."""

    def __init__(
        self,
        name: str,
        counters: SessionCounters,
        inactivity_timeout: int,
        inactivity_timeout_on_toy: int | None,
        asleep: bool,
        *,
        on_sleep: Callable[[], None],
        on_motion_demand: Callable[[], None],
        setting_command: Callable[[str, Any], cmd.Command] = setting_command,
        sensor_stream: StreamCodec = V1_STREAM,
    ) -> None:
        """Start knowing nothing and asked nothing.

        ``setting_command(name, setting)`` names the command that shows a requested setting on
        this toy (its model's: a v2 toy colours its body with other commands than a BB-8), and
        ``sensor_stream`` how it streams motion (its model's ``sensor_stream``).

        ``on_sleep()`` is called when the toy is found asleep (it said so, or its inactivity
        time ran out unlinked); ``on_motion_demand()`` when what should be streamed changes.
        """
        self.inactivity_timeout = inactivity_timeout
        """Seconds without a command after which the toy falls asleep."""
        self.inactivity_timeout_on_toy = inactivity_timeout_on_toy
        """The sleep time last written to the toy and answered (None: never, as far as known)."""
        self.requested = RequestedSettings()
        self.power_state: dec.PowerState | None = None
        self.battery_voltage: float | None = None
        """A v2 toy's last voltage answer (a BB-8's is in ``power_state``)."""
        self.battery_percentage: int | None = None
        """A v2 toy's own charge estimate, where it reports one (the Mini)."""
        self.charger_state: str | None = None
        """A v2 toy's charger state, where it reports one (the BOLT): ``charging``, ``charged``, ..."""
        self.versions: dec.Versions | None = None
        self.asleep = asleep
        self.heading = 0
        """The heading the toy was last told to face (a roll's, or the one set with SetHeading)."""
        self.aim = 0
        """The direction the toy was last aimed at; 0 once it is made forward (``set_heading``)."""
        self._awake_until = float("inf")
        """Loop time at which the toy falls asleep by itself unless a command resets its timer
        (unknown, so never, until a link has been made)."""
        self._on_sleep = on_sleep
        self.setting_command = setting_command
        self._name = name
        self._update_listeners: Listeners[[]] = Listeners(name, "update", counters)
        self._collision_listeners: Listeners[[dec.Collision]] = Listeners(name, "collision", counters)
        self._setting_listeners: Listeners[[str]] = Listeners(name, "setting", counters)
        self._animation_listeners: Listeners[[int | None]] = Listeners(name, "animation", counters)
        self._text_done_listeners: Listeners[[]] = Listeners(name, "text done", counters)
        self.motion = MotionStream(name, counters, on_motion_demand, sensor_stream)
        """The sensor stream: who wants motion, what the toy streams, what it says."""

    # ------------------------------------------------------------------ listeners

    def add_update_listener(self, callback: Callable[[], None]) -> Subscription:
        """Call ``callback()`` whenever anything observable changes (push to Home Assistant)."""
        return self._update_listeners.add(callback)

    def notify_update(self) -> None:
        """Tell the update listeners that something observable changed."""
        self._update_listeners.notify()

    def add_setting_listener(self, callback: Callable[[str], None]) -> Subscription:
        """Call ``callback(name)`` when a setting in ``requested`` changes (``main_led``, ...).

        Kept apart from the update listeners so a colour change refreshes only what shows that
        setting, not every entity of the toy.
        """
        return self._setting_listeners.add(callback)

    def add_collision_listener(self, callback: CollisionListener) -> Subscription:
        """Call ``callback(collision)`` for every collision the toy reports."""
        return self._collision_listeners.add(callback)

    def add_animation_listener(self, callback: AnimationListener) -> Subscription:
        """Call ``callback(animation)`` when a v2 toy says an animation ended (None: it did not say which)."""
        return self._animation_listeners.add(callback)

    def add_text_done_listener(self, callback: TextDoneListener) -> Subscription:
        """Call ``callback()`` when a BOLT says the text its matrix scrolled has ended."""
        return self._text_done_listeners.add(callback)

    @property
    def listener_count(self) -> int:
        """How many listeners are registered, of every kind (leak checks)."""
        return (
            len(self._update_listeners)
            + len(self._collision_listeners)
            + len(self._setting_listeners)
            + len(self._animation_listeners)
            + len(self._text_done_listeners)
            + self.motion.listener_count
        )

    def clear_listeners(self) -> None:
        """Forget every listener."""
        for listeners in (
            self._update_listeners,
            self._collision_listeners,
            self._setting_listeners,
            self._animation_listeners,
            self._text_done_listeners,
        ):
            listeners.clear()
        self.motion.clear()

    # ------------------------------------------------------------------ sleep

    def woke(self, now: float) -> None:
        """Note that a handshake woke the toy at loop time ``now``."""
        self.asleep = False
        self._awake_until = now + self.inactivity_timeout

    def timer_reset(self, now: float) -> None:
        """Note that a command reset the toy's inactivity timer at loop time ``now``."""
        self._awake_until = now + self.inactivity_timeout

    def wake_requested(self) -> None:
        """Someone wants the toy: awake from now (the connect that follows wakes it)."""
        self.asleep = False
        self._awake_until = float("inf")
        self._update_listeners.notify()

    def presumed_asleep(self, linked: bool, now: float) -> bool:
        """Whether the toy sleeps as far as anyone can tell: put to sleep, or idle too long.

        Without a link nobody hears its sleep, but its inactivity timer is known: a toy whose
        last command is longer ago than its inactivity timeout has fallen asleep.
        """
        return self.asleep or (not linked and now >= self._awake_until)

    def mark_asleep(self) -> None:
        """Note that the toy sleeps, and say so."""
        self.asleep = True
        self._on_sleep()
        self._update_listeners.notify()

    # ------------------------------------------------------------------ requested settings

    def set_requested(self, name: str, setting: Any) -> Any:
        """Record ``setting``, tell the setting listeners if it changed; return the one it replaced."""
        previous = getattr(self.requested, name)
        setattr(self.requested, name, setting)
        if setting != previous:
            self._setting_listeners.notify(name)
        return previous

    def withdraw_requested(self, name: str, setting: Any, previous: Any) -> None:
        """Put ``previous`` back, unless a newer setting than ``setting`` came meanwhile."""
        if getattr(self.requested, name) == setting and setting != previous:
            setattr(self.requested, name, previous)
            self._setting_listeners.notify(name)

    def requested_commands(self) -> list[cmd.Command]:
        """Return the commands that show every setting made, stabilization first."""
        requested = self.requested
        return [
            self.setting_command(name, value)
            for name in SETTING_ORDER
            if (value := getattr(requested, name)) is not None
        ]

    def setup_commands(self) -> list[cmd.Command]:
        """Return what every connect sends before the requested settings: options, notifications, queries."""
        setup = [cmd.set_temporary_options(stop_on_disconnect=True)]
        # The sleep time is written when it is not the toy's factory default, or not what was
        # last written: a toy left at its default costs no write (nor its time) on every connect.
        # Whether the toy keeps it through a sleep is not known, so a longer one is rewritten.
        if (
            self.inactivity_timeout != DEFAULT_INACTIVITY_TIMEOUT
            or self.inactivity_timeout_on_toy != self.inactivity_timeout
        ):
            setup.append(cmd.set_inactivity_timeout(self.inactivity_timeout))
        setup += [
            cmd.set_power_notifications(True),
            cmd.configure_collision_detection(),
        ]
        if self.versions is None:
            setup.append(cmd.get_versions())
        setup.append(cmd.get_power_state())
        setup += self.motion.setup_commands()
        return setup

    # ------------------------------------------------------------------ what the toy says

    @property
    def voltage(self) -> float | None:
        """The battery voltage last read: a v1 toy's power state, or a v2 toy's voltage answer."""
        return self.battery_voltage if self.power_state is None else self.power_state.voltage

    def absorb(self, command: cmd.Command, response: Response) -> None:
        """Keep what a query answered."""
        try:
            if command.name == "get_power_state":
                self.power_state = dec.decode_power_state(response.data)
            elif command.name == "get_versions":
                self.versions = dec.decode_versions(response.data)
            elif command.name == "set_inactivity_timeout":
                self.inactivity_timeout_on_toy = int.from_bytes(command.data, "big")
            elif self.motion.codec.masks_of(command) is not None:
                self.motion.applied(command)
                return
            elif command.name == "get_battery_voltage":
                self.battery_voltage = dec.decode_battery_voltage(response.data)
            elif command.name == "get_battery_percentage":
                self.battery_percentage = dec.decode_battery_percentage(response.data)
            elif command.name == "get_charger_state":
                self.charger_state = dec.decode_charger_state(response.data)
            else:
                return
        except ValueError as err:
            _LOGGER.warning("%s: ignoring a malformed %s answer: %s", self._name, command.name, err)
            return
        self._update_listeners.notify()

    def absorb_async(self, packet: AsyncPacket) -> None:
        """Keep what an unasked packet says."""
        try:
            if packet.id_code == AsyncId.POWER_STATE:
                state = dec.decode_power_notification(packet.data)
                if self.power_state is not None:
                    self.power_state = replace(self.power_state, state=state)
                self._update_listeners.notify()
            elif packet.id_code == AsyncId.COLLISION:
                self._collision_listeners.notify(dec.decode_collision(packet.data))
            elif packet.id_code == V2AsyncId.COLLISION:
                self._collision_listeners.notify(dec.decode_collision_v2(packet.data))
            elif packet.id_code == self.motion.async_id:
                self.motion.absorb(packet.data)
            elif packet.id_code in (AsyncId.WILL_SLEEP, V2AsyncId.WILL_SLEEP):
                # The toy is going (DID_SLEEP may be lost with the link, through a proxy most
                # of all): asleep from now, so the link's end is its sleep, not a drop to
                # reconnect after (which would wake it). A command in the next 10 s keeps it
                # awake, and is use, which wakes the session's idea of it too.
                _LOGGER.debug("%s: the toy will go to sleep in 10 s (inactivity)", self._name)
                self.mark_asleep()
            elif packet.id_code in (AsyncId.DID_SLEEP, V2AsyncId.DID_SLEEP):
                _LOGGER.debug("%s: the toy went to sleep", self._name)
                self.mark_asleep()
            elif packet.id_code == V2AsyncId.ANIMATION_COMPLETE:
                self._animation_listeners.notify(dec.decode_animation_complete(packet.data))
            elif packet.id_code == V2AsyncId.MATRIX_TEXT_DONE:
                self._text_done_listeners.notify()
            else:
                _LOGGER.debug(
                    "%s: ignoring async packet 0x%02x (%d bytes)",
                    self._name,
                    packet.id_code,
                    len(packet.data),
                )
        except ValueError as err:
            _LOGGER.debug("%s: ignoring a malformed async packet 0x%02x: %s", self._name, packet.id_code, err)

    def toy_diagnostics(self) -> dict[str, Any]:
        """Return the toy's part of the diagnostics (the keys as they have always been)."""
        power = self.power_state
        return {
            "desired": {
                "main_led": self.requested.main_led,
                "back_led": self.requested.tail_light,
                "stabilization": self.requested.stabilization,
            },
            "power_state": None
            if power is None
            else {
                "state": power.state_name,
                "voltage": power.voltage,
                "charge_count": power.charge_count,
                "seconds_since_charge": power.seconds_since_charge,
            },
            "firmware": None if self.versions is None else self.versions.firmware,
            "motion": self.motion.diagnostics(),
        }
