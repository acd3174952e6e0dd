"""Typed builders for the v2 toys' commands (BB-9E, R2-D2, R2-Q5, Mini, BOLT).

Each validates its arguments before anything is sent and returns a ``commands.Command``, the
same value the pipeline queues for a BB-8. No builder names a processor: where a command goes on
a toy with two (the BOLT) is its ``sphero_v2`` model's business, so one builder serves every
model that has the command. Ids and payloads follow spherov2 0.12.1's ``commands/*.py`` and the
design brief; the LED bits follow each model's ``LEDs`` enum in spherov2's ``toy/*.py``.
"""

from __future__ import annotations

from enum import IntEnum
import struct
from typing import Final

from .commands import Command, Slot, _check_range
from .protocol_v2 import Did

type Rgb = tuple[int, int, int]

MATRIX_TEXT_LENGTH: Final = 25
"""The most characters a BOLT's matrix scrolls (spherov2 cuts a longer text there)."""
MATRIX_TEXT_SPEED: Final = (1, 30)
"""Frames per second a text scrolls at (spherov2 sends ``speed % 0x1f``: 0-30; 0 would not move)."""
DOME_RANGE: Final = (-160.0, 180.0)
"""Degrees the R2 units' dome turns to (the Sphero Edu API's range; no capture shows the ends)."""


class Stance(IntEnum):
    """The R2 units' leg actions (17/0D); STOP ends a waddle on two legs."""

    STOP = 0
    TRIPOD = 1
    BIPOD = 2
    WADDLE = 3


class SoundMode(IntEnum):
    """How a sound is played (spherov2's ``AudioPlaybackModes``)."""

    NOW = 0
    IF_NOT_PLAYING = 1
    AFTER_CURRENT = 2


def _check_rgb(name: str, colour: Rgb) -> Rgb:
    if not isinstance(colour, tuple) or len(colour) != 3:
        raise ValueError(f"{name} must be (red, green, blue), got {colour!r}")
    for part, value in zip(("red", "green", "blue"), colour, strict=True):
        _check_range(f"{name} {part}", value, 0, 0xFF)
    return colour


def _leds(name: str, cid: int, mask_bytes: int, values: dict[int, int]) -> Command:
    """Set LEDs by bit: the mask, then one value per set bit in ascending bit order.

    Latest wins per mask: a newer colour for the same LEDs replaces one still queued, and a
    command for other LEDs keeps its own place.
    """
    if not values:
        raise ValueError(f"{name}: no LED to set")
    mask = sum(1 << bit for bit in values)
    data = mask.to_bytes(mask_bytes, "big") + bytes(values[bit] for bit in sorted(values))
    return Command(name, Did.IO, cid, data, f"leds {cid:02x} {mask:04x}")


def _rgb_bits(first_bit: int, colour: Rgb) -> dict[int, int]:
    return dict(zip(range(first_bit, first_bit + 3), colour, strict=True))


def r2_leds(
    *, front: Rgb | None = None, back: Rgb | None = None, logic: int | None = None, holo: int | None = None
) -> Command:
    """Light an R2-D2's or R2-Q5's front (bits 0-2), logic displays (3), back (4-6), holo projector (7)."""
    values: dict[int, int] = {}
    if front is not None:
        values |= _rgb_bits(0, _check_rgb("front", front))
    if logic is not None:
        values[3] = _check_range("logic", logic, 0, 0xFF)
    if back is not None:
        values |= _rgb_bits(4, _check_rgb("back", back))
    if holo is not None:
        values[7] = _check_range("holo", holo, 0, 0xFF)
    return _leds("set_leds", 0x0E, 2, values)


def mini_leds(*, body: Rgb | None = None, aiming: int | None = None) -> Command:
    """Light a Mini's body (bits 1-3) and aiming light (bit 0)."""
    values: dict[int, int] = {}
    if aiming is not None:
        values[0] = _check_range("aiming", aiming, 0, 0xFF)
    if body is not None:
        values |= _rgb_bits(1, _check_rgb("body", body))
    return _leds("set_leds", 0x0E, 2, values)


def bb9e_leds(*, body: Rgb | None = None, aiming: int | None = None, head: int | None = None) -> Command:
    """Light a BB-9E's body (bits 0-2), aiming light (3) and head (4)."""
    values: dict[int, int] = {}
    if body is not None:
        values |= _rgb_bits(0, _check_rgb("body", body))
    if aiming is not None:
        values[3] = _check_range("aiming", aiming, 0, 0xFF)
    if head is not None:
        values[4] = _check_range("head", head, 0, 0xFF)
    return _leds("set_leds", 0x0E, 2, values)


def bolt_leds(*, front: Rgb | None = None, back: Rgb | None = None) -> Command:
    """Light a BOLT's front (bits 0-2) and back (3-5) with its 8-bit mask command (1A/1C)."""
    values: dict[int, int] = {}
    if front is not None:
        values |= _rgb_bits(0, _check_rgb("front", front))
    if back is not None:
        values |= _rgb_bits(3, _check_rgb("back", back))
    return _leds("set_leds", 0x1C, 1, values)


def matrix_fill(colour: Rgb) -> Command:
    """Light a BOLT's whole 8x8 matrix in one colour (1A/2F); a newer matrix command replaces it."""
    return Command("matrix_fill", Did.IO, 0x2F, bytes(_check_rgb("colour", colour)), "matrix")


def matrix_text(text: str, colour: Rgb, speed: int = 10, *, repeat: bool = False) -> Command:
    """Scroll ``text`` across a BOLT's matrix (1A/3B); without ``repeat`` its end comes as 1A/3C.

    Refused rather than cut: up to ``MATRIX_TEXT_LENGTH`` printable ASCII characters (the toy's
    font is not published beyond them, and spherov2 sends each character as one byte).
    """
    if not isinstance(text, str) or not 1 <= len(text) <= MATRIX_TEXT_LENGTH:
        raise ValueError(f"text must be 1 to {MATRIX_TEXT_LENGTH} characters, got {text!r}")
    if not (text.isascii() and text.isprintable()):
        raise ValueError(f"text must be printable ASCII characters, got {text!r}")
    _check_range("speed", speed, *MATRIX_TEXT_SPEED)
    if not isinstance(repeat, bool):
        raise ValueError(f"repeat must be True or False, got {repeat!r}")
    data = bytes([*_check_rgb("colour", colour), speed, int(repeat)]) + text.encode("ascii") + b"\x00"
    return Command("matrix_text", Did.IO, 0x3B, data, "matrix")


def drive(speed: int, heading: int) -> Command:
    """Drive forwards at ``speed`` (0-255) towards ``heading`` (0-359 degrees): 16/07, flags 0."""
    _check_range("speed", speed, 0, 0xFF)
    _check_range("heading", heading, 0, 359)
    return Command("drive", Did.DRIVE, 0x07, struct.pack(">BHB", speed, heading, 0), Slot.MOTION)


def stop(heading: int) -> Command:
    """Stop, keeping ``heading`` (a drive at speed 0: heading 0 would turn the toy)."""
    command = drive(0, heading)
    return Command("stop", command.did, command.cid, command.data, Slot.MOTION)


def set_dome(degrees: float) -> Command:
    """Turn an R2 unit's dome to ``degrees`` (17/0F, a big-endian float32)."""
    low, high = DOME_RANGE
    # NaN fails the range test as well: every comparison with it is false.
    if not isinstance(degrees, int | float) or isinstance(degrees, bool) or not low <= degrees <= high:
        raise ValueError(f"degrees must be a number from {low:g} to {high:g}, got {degrees!r}")
    return Command("set_dome", Did.ANIMATRONIC, 0x0F, struct.pack(">f", degrees), Slot.DOME)


def set_stance(stance: Stance) -> Command:
    """Stand an R2 unit on three legs, on two, or waddle (17/0D); STOP ends a waddle."""
    _check_range("stance", int(stance), 0, 3)
    return Command("set_stance", Did.ANIMATRONIC, 0x0D, bytes([int(stance)]))


def play_animation(animation: int) -> Command:
    """Play animation number ``animation`` (17/05, u16); its end comes as async 17/11."""
    _check_range("animation", animation, 0, 0xFFFF)
    return Command("play_animation", Did.ANIMATRONIC, 0x05, struct.pack(">H", animation))


def play_sound(sound: int, mode: SoundMode = SoundMode.NOW) -> Command:
    """Play sound number ``sound`` (1A/07: u16 sound, playback mode)."""
    _check_range("sound", sound, 0, 0xFFFF)
    _check_range("mode", int(mode), 0, 2)
    return Command("play_sound", Did.IO, 0x07, struct.pack(">HB", sound, int(mode)))


def get_battery_voltage() -> Command:
    """Ask for the battery voltage (13/03: u16, hundredths of a volt)."""
    return Command("get_battery_voltage", Did.POWER, 0x03)


def get_battery_percentage() -> Command:
    """Ask for the charge in percent (13/10; the Mini and RVR report it)."""
    return Command("get_battery_percentage", Did.POWER, 0x10)


def get_charger_state() -> Command:
    """Ask whether the toy charges (13/1F; the BOLT reports it)."""
    return Command("get_charger_state", Did.POWER, 0x1F)


def sleep() -> Command:
    """Put the toy to sleep (13/01, soft sleep: the next connect wakes it). Deep sleep is never sent."""
    return Command("sleep", Did.POWER, 0x01)


def wake() -> Command:
    """Wake the toy (13/0D)."""
    return Command("wake", Did.POWER, 0x0D)


def configure_collision_detection(
    *, threshold: int = 100, speed: int = 100, dead_time_10ms: int = 10
) -> Command:
    """Arm collision reports (18/11, method 1) in spherov2's field order: Xt, Yt, Xspd, Yspd, dead time."""
    for name, value in (("threshold", threshold), ("speed", speed), ("dead_time_10ms", dead_time_10ms)):
        _check_range(name, value, 0, 0xFF)
    data = bytes([1, threshold, threshold, speed, speed, dead_time_10ms])
    return Command("configure_collision_detection", Did.SENSOR, 0x11, data)


def set_sensor_streaming_mask(interval_ms: int, count: int, mask: int) -> Command:
    """Stream the values of ``mask`` every ``interval_ms`` (18/00: u16 interval, u8 count, u32 mask).

    Count 0 streams until told otherwise, interval 0 stops the stream (spherov2's
    ``SensorControl`` pauses with interval 0 before it changes the extended mask).
    """
    _check_range("interval_ms", interval_ms, 0, 0xFFFF)
    _check_range("count", count, 0, 0xFF)
    _check_range("mask", mask, 0, 0xFFFFFFFF)
    return Command(
        "set_sensor_streaming_mask", Did.SENSOR, 0x00, struct.pack(">HBI", interval_ms, count, mask)
    )


def set_extended_sensor_streaming_mask(mask: int) -> Command:
    """Stream the values of the extended ``mask`` too (18/0C, u32), after those of the main mask."""
    _check_range("mask", mask, 0, 0xFFFFFFFF)
    return Command("set_extended_sensor_streaming_mask", Did.SENSOR, 0x0C, struct.pack(">I", mask))


def reset_locator() -> Command:
    """Move the locator's position to 0,0 (18/13, spherov2's ``reset_locator_x_and_y``)."""
    return Command("reset_locator", Did.SENSOR, 0x13)
