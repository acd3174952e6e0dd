"""Typed builders for the v1 toys' commands (``decoders`` reads what the toy reports).

A builder validates its arguments and returns a ``Command``: what to send, and how the session
may schedule it (a latest-wins slot for commands where only the newest setting matters). Where
spherov2 and the Sphero API 1.x specification disagree, the specification wins and the builder's
docstring says how they differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
import struct

from .const import (
    DEEP_SLEEP_INTERVAL,
    MIN_INACTIVITY_TIMEOUT,
    CoreCommand,
    DeviceId,
    RollMode,
    SpheroCommand,
)


class Slot(StrEnum):
    """Latest-wins slots: a newer command in a slot replaces one still waiting to be sent."""

    MAIN_LED = "main_led"
    TAIL_LIGHT = "tail_light"
    MOTION = "motion"  # roll and stop share a slot: only the newest motion counts
    HEADING = "heading"
    STABILIZATION = "stabilization"
    DOME = "dome"  # an R2 unit's dome angle (v2)


@dataclass(frozen=True, slots=True)
class Command:
    """One command (v1 or v2), not yet given a sequence number."""

    name: str
    did: int
    cid: int
    data: bytes = b""
    slot: Slot | str | None = None
    """Its latest-wins key: a ``Slot``, or a builder's own string (a v2 LED command's, by mask)."""


def _core(cid: CoreCommand, data: bytes = b"") -> Command:
    """Return the core device's command ``cid``, named as the specification names it."""
    return Command(cid.name.lower(), DeviceId.CORE, cid, data)


def _sphero(cid: SpheroCommand, data: bytes = b"", slot: Slot | None = None) -> Command:
    """Return the Sphero device's command ``cid``, named as the specification names it."""
    return Command(cid.name.lower(), DeviceId.SPHERO, cid, data, slot)


def _check_range(name: str, value: int, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}")
    return value


def _check_bool(name: str, value: bool) -> int:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return int(value)


def ping() -> Command:
    """Ask the toy to answer, proving the link works end to end (spherov2's is never sent)."""
    return _core(CoreCommand.PING)


def get_versions() -> Command:
    """Ask for the model, hardware and firmware versions."""
    return _core(CoreCommand.GET_VERSIONS)


def get_power_state() -> Command:
    """Ask for the battery voltage and the toy's own power state."""
    return _core(CoreCommand.GET_POWER_STATE)


def set_power_notifications(enabled: bool) -> Command:
    """Turn on the asynchronous power reports (every 10 s and on change)."""
    return _core(CoreCommand.SET_POWER_NOTIFICATIONS, bytes([_check_bool("enabled", enabled)]))


def sleep(wakeup: int = 0, macro: int = 0, orb_basic_line: int = 0) -> Command:
    """Put the toy to sleep now (all zeros). Deep sleep (wake-up 0xFFFF) is refused.

    From deep sleep only the charger wakes a v1 toy, so nothing in this project may send it.
    """
    _check_range("wakeup", wakeup, 0, 0xFFFF)
    if wakeup == DEEP_SLEEP_INTERVAL:
        raise ValueError("deep sleep is refused: only the charger would wake the toy")
    _check_range("macro", macro, 0, 0xFF)
    _check_range("orb_basic_line", orb_basic_line, 0, 0xFFFF)
    return _core(CoreCommand.SLEEP, struct.pack(">HBH", wakeup, macro, orb_basic_line))


def set_inactivity_timeout(seconds: int) -> Command:
    """Set how long the toy stays awake without commands (the spec's minimum is 60 s)."""
    _check_range("seconds", seconds, MIN_INACTIVITY_TIMEOUT, 0xFFFF)
    return _core(CoreCommand.SET_INACTIVITY_TIMEOUT, struct.pack(">H", seconds))


def set_heading(degrees: int) -> Command:
    """Declare the current direction to be ``degrees`` (0 re-zeroes the heading)."""
    _check_range("degrees", degrees, 0, 359)
    return _sphero(SpheroCommand.SET_HEADING, struct.pack(">H", degrees), Slot.HEADING)


def set_stabilization(enabled: bool) -> Command:
    """Turn the control system that keeps the body upright on or off."""
    enabled_byte = bytes([_check_bool("enabled", enabled)])
    return _sphero(SpheroCommand.SET_STABILIZATION, enabled_byte, Slot.STABILIZATION)


def self_level(
    *,
    start: bool = True,
    keep_heading: bool = True,
    sleep_after: bool = False,
    control_system_on: bool = True,
    angle_limit: int = 0,
    timeout: int = 0,
    true_time: int = 0,
) -> Command:
    """Level the body (on BB-8 this centres the head); zeros ask for the firmware's defaults."""
    options = (
        _check_bool("start", start)
        | _check_bool("keep_heading", keep_heading) << 1
        | _check_bool("sleep_after", sleep_after) << 2
        | _check_bool("control_system_on", control_system_on) << 3
    )
    for name, value in (("angle_limit", angle_limit), ("timeout", timeout), ("true_time", true_time)):
        _check_range(name, value, 0, 0xFF)
    return _sphero(SpheroCommand.SELF_LEVEL, bytes([options, angle_limit, timeout, true_time]))


def set_data_streaming(
    divisor: int, frames_per_packet: int, mask: int, count: int = 0, mask2: int | None = None
) -> Command:
    """Ask for sensor stream packets (rate = 400 Hz / divisor); count 0 streams forever."""
    _check_range("divisor", divisor, 1, 0xFFFF)
    _check_range("frames_per_packet", frames_per_packet, 1, 0xFFFF)
    _check_range("mask", mask, 0, 0xFFFFFFFF)
    _check_range("count", count, 0, 0xFF)
    data = struct.pack(">HHIB", divisor, frames_per_packet, mask, count)
    if mask2 is not None:
        data += struct.pack(">I", _check_range("mask2", mask2, 0, 0xFFFFFFFF))
    return _sphero(SpheroCommand.SET_DATA_STREAMING, data)


def configure_collision_detection(
    *,
    enabled: bool = True,
    x_threshold: int = 100,
    x_speed: int = 100,
    y_threshold: int = 100,
    y_speed: int = 100,
    dead_time_10ms: int = 10,
) -> Command:
    """Arm collision reports, in the spec's field order: Meth, Xt, Xspd, Yt, Yspd, Dead.

    spherov2 sends Xt, Yt, Xspd, Yspd; the specification (and sphero.js) is followed here.
    """
    fields = (x_threshold, x_speed, y_threshold, y_speed, dead_time_10ms)
    for name, value in zip(
        ("x_threshold", "x_speed", "y_threshold", "y_speed", "dead_time_10ms"), fields, strict=True
    ):
        _check_range(name, value, 0, 0xFF)
    return _sphero(SpheroCommand.CONFIGURE_COLLISION_DETECTION, bytes([1 if enabled else 0, *fields]))


def configure_locator(*, auto_correct_yaw: bool = True, x: int = 0, y: int = 0, yaw_tare: int = 0) -> Command:
    """Reset the locator's position and its relation to the heading."""
    for name, value in (("x", x), ("y", y)):
        _check_range(name, value, -0x8000, 0x7FFF)
    _check_range("yaw_tare", yaw_tare, 0, 359)
    data = struct.pack(">BhhH", int(auto_correct_yaw), x, y, yaw_tare)
    return _sphero(SpheroCommand.CONFIGURE_LOCATOR, data)


def set_main_led(red: int, green: int, blue: int, *, persist: bool = False) -> Command:
    """Colour the main LED. FLAG 0 keeps it temporary, which spares the toy's flash.

    spherov2 sends only R, G, B; the spec's FLAG byte is sent here, always 0 unless asked.
    """
    # Every colour change comes through here: three plain ints in range pass one expression;
    # anything else gets the per-field check, which names the field and raises.
    if not (
        type(red) is type(green) is type(blue) is int
        and 0 <= red <= 0xFF
        and 0 <= green <= 0xFF
        and 0 <= blue <= 0xFF
    ):
        for name, value in (("red", red), ("green", green), ("blue", blue)):
            _check_range(name, value, 0, 0xFF)
    return _sphero(SpheroCommand.SET_MAIN_LED, bytes([red, green, blue, int(persist)]), Slot.MAIN_LED)


def set_tail_light(brightness: int) -> Command:
    """Set the tail light's brightness (0 turns it off)."""
    _check_range("brightness", brightness, 0, 0xFF)
    return Command(
        "set_tail_light", DeviceId.SPHERO, SpheroCommand.SET_BACK_LED, bytes([brightness]), Slot.TAIL_LIGHT
    )


def roll(speed: int, heading: int, mode: RollMode = RollMode.GO) -> Command:
    """Roll at ``speed`` (0-255) towards ``heading`` (0-359 degrees).

    The spec's four bytes; spherov2 appends a fifth "reverse" byte.
    """
    _check_range("speed", speed, 0, 0xFF)
    _check_range("heading", heading, 0, 359)
    _check_range("mode", int(mode), 0, 2)
    return _sphero(SpheroCommand.ROLL, struct.pack(">BHB", speed, heading, int(mode)), Slot.MOTION)


def stop(heading: int = 0) -> Command:
    """Stop rolling, keeping ``heading``."""
    command = roll(0, heading, RollMode.STOP)
    return Command("stop", command.did, command.cid, command.data, Slot.MOTION)


def set_temporary_options(*, stop_on_disconnect: bool) -> Command:
    """Set the options that last until the toy sleeps; bit 0 stops the motors on disconnect.

    spherov2 encodes these with the persistent options' layout; the spec's layout is used here.
    """
    return _sphero(SpheroCommand.SET_TEMPORARY_OPTIONS, struct.pack(">I", int(stop_on_disconnect)))
