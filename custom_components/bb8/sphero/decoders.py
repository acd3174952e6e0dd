"""Typed values from what the toys report: versions, power, battery, collisions, animations.

A decoder raises ``ValueError`` on data of the wrong shape (the caller logs and drops it).
Where spherov2 already decodes a packet (the collision), its decoder is used, so the two
implementations cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
import struct
from typing import Any

from spherov2.commands.async_ import Async as _SpheroV2Async
from spherov2.commands.power import ChargerStates as _SpheroV2ChargerStates
from spherov2.commands.sensor import Sensor as _SpheroV2Sensor
from spherov2.listeners.core import PowerStates as _SpheroV2PowerStates

PowerStateCode = _SpheroV2PowerStates
"""spherov2's power states: 1 charging, 2 ok, 3 low, 4 critical (0 unknown)."""


@dataclass(frozen=True, slots=True)
class Versions:
    """The toy's answer to get versions (record version 1 or later carries at least 8 bytes)."""

    record_version: int
    model: int
    hardware: int
    main_app_version: int
    main_app_revision: int
    bootloader: str
    orb_basic: str
    macro_executive: str

    @property
    def firmware(self) -> str:
        """Main application version as people write it, e.g. ``4.69``."""
        return f"{self.main_app_version}.{self.main_app_revision}"


def _nibbles(value: int) -> str:
    return f"{value >> 4}.{value & 0x0F}"


def decode_versions(data: bytes) -> Versions:
    """Decode get versions; newer firmware appends API version bytes, which are ignored."""
    if len(data) < 8:
        raise ValueError(f"versions need 8 bytes, got {len(data)}")
    rec, model, hw, msa_ver, msa_rev, bl, bas, macro = data[:8]
    return Versions(rec, model, hw, msa_ver, msa_rev, _nibbles(bl), _nibbles(bas), _nibbles(macro))


@dataclass(frozen=True, slots=True)
class PowerState:
    """The toy's power report (``>2B3H``)."""

    record_version: int
    state: int
    voltage: float
    charge_count: int
    seconds_since_charge: int

    @property
    def charging(self) -> bool:
        """Whether the toy says it is on its charger and charging."""
        return self.state == int(PowerStateCode.CHARGING)

    @property
    def state_name(self) -> str:
        """Lower-case state name (``charging``, ``ok``, ``low``, ``critical``, ``unknown``)."""
        try:
            return str(PowerStateCode(self.state).name).lower()
        except ValueError:
            return "unknown"


def decode_power_state(data: bytes) -> PowerState:
    """Decode get power state: record version, state, voltage (1/100 V), charges, seconds."""
    if len(data) != 8:
        raise ValueError(f"power state needs 8 bytes, got {len(data)}")
    rec, state, centivolts, charges, seconds = struct.unpack(">2B3H", data)
    return PowerState(rec, state, centivolts / 100, charges, seconds)


def decode_power_notification(data: bytes) -> int:
    """Decode the asynchronous power notification: one byte, the power state."""
    if len(data) != 1:
        raise ValueError(f"power notification needs 1 byte, got {len(data)}")
    return data[0]


@dataclass(frozen=True, slots=True)
class Collision:
    """A collision report: acceleration in g, axes, magnitudes, speed, toy time in seconds."""

    acceleration_x: float
    acceleration_y: float
    acceleration_z: float
    x_axis: bool
    y_axis: bool
    magnitude_x: int
    magnitude_y: int
    speed: int
    timestamp: float

    @property
    def intensity(self) -> int:
        """The larger of the two impact magnitudes, a single number for automations."""
        return max(abs(self.magnitude_x), abs(self.magnitude_y))


# The fields of ``Collision`` that spherov2's CollisionDetected names otherwise (its power_x and
# power_y are the spec's magnitudes).
_SPHEROV2_NAMES = {"magnitude_x": "power_x", "magnitude_y": "power_y", "timestamp": "time"}
_FIELDS = tuple(Collision.__dataclass_fields__)


def decode_collision(data: bytes) -> Collision:
    """Decode an asynchronous collision packet with spherov2's own decoder (``>3hB2hBL``)."""
    if len(data) != 16:
        raise ValueError(f"collision needs 16 bytes, got {len(data)}")
    return _spherov2_collision(_SpheroV2Async.collision_detected_notify[1], data)


def decode_collision_v2(data: bytes) -> Collision:
    """Decode a v2 collision packet (18/12, ``>3hB3hBL``) with spherov2's decoder; its Z magnitude is not kept."""
    if len(data) != 18:
        raise ValueError(f"v2 collision needs 18 bytes, got {len(data)}")
    return _spherov2_collision(_SpheroV2Sensor.collision_detected_notify[1], data)


def _spherov2_collision(decoder: Any, data: bytes) -> Collision:
    captured: list[Collision] = []

    def _capture(event: object) -> None:
        fields = event._asdict()  # type: ignore[attr-defined]
        captured.append(Collision(**{name: fields[_SPHEROV2_NAMES.get(name, name)] for name in _FIELDS}))

    decoder(_capture, _FramedData(data))
    return captured[0]


def decode_battery_voltage(data: bytes) -> float:
    """Decode a v2 battery voltage answer (13/03): u16, hundredths of a volt."""
    if len(data) != 2:
        raise ValueError(f"battery voltage needs 2 bytes, got {len(data)}")
    return int.from_bytes(data, "big") / 100


def decode_battery_percentage(data: bytes) -> int:
    """Decode a v2 battery percentage answer (13/10): one byte, 0-100."""
    if len(data) != 1 or data[0] > 100:
        raise ValueError(f"battery percentage needs one byte of 0-100, got {data.hex()}")
    return data[0]


def decode_charger_state(data: bytes) -> str:
    """Decode a v2 charger state answer (13/1F) to spherov2's name, lower case (``charging``, ...)."""
    if len(data) != 1:
        raise ValueError(f"charger state needs 1 byte, got {len(data)}")
    try:
        return str(_SpheroV2ChargerStates(data[0]).name).lower()
    except ValueError:
        return "unknown"


def decode_animation_complete(data: bytes) -> int | None:
    """Decode a v2 animation-complete packet (17/11): the animation's number when it carries one.

    No capture shows its payload; the simulator sends the number as a u16, and an empty packet
    (as spherov2 registers it, with no decoder) is taken as "an animation ended".
    """
    if len(data) == 2:
        return int.from_bytes(data, "big")
    if not data:
        return None
    raise ValueError(f"animation complete needs 0 or 2 bytes, got {len(data)}")


class _FramedData:
    """The one attribute spherov2's asynchronous decoders read from a packet."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data
