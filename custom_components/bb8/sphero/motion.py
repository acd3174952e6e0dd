"""The sensor stream's layout and meaning: masks, frames, and what they say about the toy's motion.

Which value each mask bit sends and in which unit, the decoder from (masks, data) to frames,
the ``MotionSample`` a frame makes, and the ``MotionTracker`` that keeps the latest sample, the
distance travelled since the last reset and whether the toy is moving.

Sources, in the order they were followed: the Sphero API 1.50 specification ("SetDataStreaming",
DID 0x02 CID 0x11, and its mask tables), gobot's ``platforms/sphero/ollie/ollie_packets.go``
(``DataStreamingPacket``: the same bits, and which reserved bits carry a value) and sphero.js's
``lib/devices/custom.js`` (the masks of its ``stream*`` helpers: motor back-EMF filtered 0x60,
IMU angles 0x00070000, odometer 0x0C000000, velocity 0x01800000 in mask 2). All three agree on
every bit named here. Where gobot's recorded packet (``tests/captures/sensor_stream.py``) and
the specification disagree, the capture wins: accelOne arrives in 1/100 g (101 at rest), not
the specification's mG.

A frame holds, for every set bit of MASK from bit 31 down and then of MASK2 from bit 31 down,
one big-endian signed 16-bit value; a packet holds ``frames_per_packet`` frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import math
import struct
from typing import Final, NamedTuple


class Masks(NamedTuple):
    """A sensor stream's layout as its two masks: what a toy is told to stream, or was.

    ``mask2`` is the second mask of the toy's protocol: v1's MASK2, v2's extended mask. A layout
    with no bit set is the stream stopped.
    """

    mask: int
    mask2: int = 0

    @property
    def streams(self) -> bool:
        """Whether any value is asked for (a stopped stream asks for none)."""
        return bool(self.mask or self.mask2)


STOPPED: Final = Masks(0, 0)
"""No bit set in either mask: the toy streams nothing."""


class StreamField(NamedTuple):
    """One streamable value: its name, which mask and bit select it, and its unit."""

    name: str
    mask2: bool
    bit: int
    scale: float
    unit: str


# Mask 1 (the specification's MASK), bit 31 first.
MASK1_FIELDS: Final[tuple[StreamField, ...]] = (
    StreamField("accel_x_raw", False, 0x80000000, 4.0, "mG"),
    StreamField("accel_y_raw", False, 0x40000000, 4.0, "mG"),
    StreamField("accel_z_raw", False, 0x20000000, 4.0, "mG"),
    StreamField("gyro_x_raw", False, 0x10000000, 0.068, "°"),
    StreamField("gyro_y_raw", False, 0x08000000, 0.068, "°"),
    StreamField("gyro_z_raw", False, 0x04000000, 0.068, "°"),
    StreamField("motor_right_emf_raw", False, 0x00400000, 1.0, "raw"),
    StreamField("motor_left_emf_raw", False, 0x00200000, 1.0, "raw"),
    StreamField("motor_left_pwm_raw", False, 0x00100000, 1.0, "raw"),
    StreamField("motor_right_pwm_raw", False, 0x00080000, 1.0, "raw"),
    StreamField("pitch", False, 0x00040000, 1.0, "°"),
    StreamField("roll", False, 0x00020000, 1.0, "°"),
    StreamField("yaw", False, 0x00010000, 1.0, "°"),
    StreamField("accel_x", False, 0x00008000, 1 / 4096, "g"),
    StreamField("accel_y", False, 0x00004000, 1 / 4096, "g"),
    StreamField("accel_z", False, 0x00002000, 1 / 4096, "g"),
    StreamField("gyro_x", False, 0x00001000, 0.1, "°/s"),
    StreamField("gyro_y", False, 0x00000800, 0.1, "°/s"),
    StreamField("gyro_z", False, 0x00000400, 0.1, "°/s"),
    StreamField("motor_right_emf", False, 0x00000040, 1.0, "raw"),
    StreamField("motor_left_emf", False, 0x00000020, 1.0, "raw"),
)
# Mask 2 (the specification's MASK2), bit 31 first.
MASK2_FIELDS: Final[tuple[StreamField, ...]] = (
    StreamField("quaternion_0", True, 0x80000000, 1 / 10000, ""),
    StreamField("quaternion_1", True, 0x40000000, 1 / 10000, ""),
    StreamField("quaternion_2", True, 0x20000000, 1 / 10000, ""),
    StreamField("quaternion_3", True, 0x10000000, 1 / 10000, ""),
    StreamField("odometer_x", True, 0x08000000, 1.0, "cm"),
    StreamField("odometer_y", True, 0x04000000, 1.0, "cm"),
    # The specification says mG; gobot's capture reads 101 for a toy at rest (1.01 g).
    StreamField("accel_one", True, 0x02000000, 1 / 100, "g"),
    StreamField("velocity_x", True, 0x01000000, 1.0, "mm/s"),
    StreamField("velocity_y", True, 0x00800000, 1.0, "mm/s"),
)
FIELDS: Final[dict[str, StreamField]] = {field.name: field for field in MASK1_FIELDS + MASK2_FIELDS}

MASK1_DEFINED: Final = sum(field.bit for field in MASK1_FIELDS)
MASK2_DEFINED: Final = sum(field.bit for field in MASK2_FIELDS)

IMU_ANGLES_MASK: Final = FIELDS["pitch"].bit | FIELDS["roll"].bit | FIELDS["yaw"].bit
"""Mask 1: filtered pitch, roll and yaw (sphero.js's ``streamImuAngles``)."""
ODOMETER_MASK2: Final = FIELDS["odometer_x"].bit | FIELDS["odometer_y"].bit
"""Mask 2: the locator's position in cm (sphero.js's ``streamOdometer``)."""
VELOCITY_MASK2: Final = FIELDS["velocity_x"].bit | FIELDS["velocity_y"].bit
"""Mask 2: the locator's velocity in mm/s (sphero.js's ``streamVelocity``)."""

BASE_RATE_HZ: Final = 400
STREAM_DIVISOR: Final = 40
"""400 Hz / 40 = 10 frames a second: a few dozen bytes a second that a proxy carries easily."""
FRAMES_PER_PACKET: Final = 1

MOVING_THRESHOLD_CM_S: Final = 5.0
"""Speeds above this count as moving. The locator's velocity of a toy at rest wobbles by a few
mm/s (its stabilization keeps correcting); 5 cm/s is well below the slowest roll (speed 20 of
255 moves a BB-8 at roughly 10-20 cm/s, not measured here)."""
DISTANCE_STEP_CM: Final = 5.0
"""The distance grows when the position is this far from where it last grew. The odometer
counts whole centimetres, so summing every 1 cm step would count a diagonal (1,0) then (0,1) as
2 cm instead of 1.4 cm, and the toy's wobble at rest would add up for ever; chords of 5 cm keep
both errors under one percent on a straight run and ignore wobble."""


@dataclass(frozen=True, slots=True)
class StreamLayout:
    """Which value each position of a frame holds, for one pair of masks.

    Every set bit takes one position, MSB first, mask 1 before mask 2. A reserved bit takes a
    position whose value is dropped: gobot's capture (all bits of both masks set) carried 29
    values for mask 1, i.e. bits 31 to 3, reserved ones included, and 12 for mask 2, 3 more than
    its 9 defined bits; how many values the other reserved bits send is not known. The session
    therefore only ever sets defined bits.
    """

    mask: int
    mask2: int = 0
    names: tuple[str | None, ...] = field(init=False, compare=False)
    scales: tuple[float, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        """Lay out the frame that ``mask`` and ``mask2`` select."""
        mask, mask2 = self.mask, self.mask2
        if not 0 <= mask <= 0xFFFFFFFF or not 0 <= mask2 <= 0xFFFFFFFF:
            raise ValueError(f"masks are 32-bit: 0x{mask:x}, 0x{mask2:x}")
        by_bit = {(field.mask2, field.bit): field for field in FIELDS.values()}
        names: list[str | None] = []
        scales: list[float] = []
        for is_mask2, value in ((False, mask), (True, mask2)):
            for shift in range(31, -1, -1):
                bit = 1 << shift
                if value & bit:
                    field = by_bit.get((is_mask2, bit))
                    names.append(None if field is None else field.name)
                    scales.append(1.0 if field is None else field.scale)
        object.__setattr__(self, "names", tuple(names))
        object.__setattr__(self, "scales", tuple(scales))

    @property
    def values_per_frame(self) -> int:
        """How many int16 values one frame holds."""
        return len(self.names)

    def __repr__(self) -> str:
        """Show the masks in hex."""
        return f"StreamLayout(0x{self.mask:08x}, 0x{self.mask2:08x})"


def decode_frames(layout: StreamLayout, data: bytes, frames_per_packet: int = 1) -> list[dict[str, float]]:
    """Decode a sensor-stream packet's data into frames of named values in the spec's units.

    Raises ``ValueError`` when the length is not ``frames_per_packet`` frames of ``layout``
    (e.g. a packet sent under other masks, or cut short).
    """
    count = layout.values_per_frame
    expected = 2 * count * frames_per_packet
    if count == 0 or len(data) != expected:
        raise ValueError(
            f"sensor stream of {len(data)} bytes does not hold {frames_per_packet} frame(s) of "
            f"{count} values ({layout!r})"
        )
    values = struct.unpack(f">{count * frames_per_packet}h", data)
    frames: list[dict[str, float]] = []
    for start in range(0, len(values), count):
        frame = {
            name: raw * scale
            for name, scale, raw in zip(
                layout.names, layout.scales, values[start : start + count], strict=True
            )
            if name is not None
        }
        frames.append(frame)
    return frames


@dataclass(frozen=True, slots=True)
class MotionSample:
    """What one frame says of the toy's motion; None for what was not streamed.

    ``x``/``y`` are the locator's position in cm (odometer), ``speed`` the length of its
    velocity in cm/s, ``pitch``/``roll``/``yaw`` the filtered attitude in degrees.
    """

    x: float | None = None
    y: float | None = None
    speed: float | None = None
    pitch: float | None = None
    roll: float | None = None
    yaw: float | None = None

    @classmethod
    def from_frame(cls, frame: Mapping[str, float]) -> MotionSample:
        """Build a sample from a decoded frame (missing fields stay None)."""
        velocity_x, velocity_y = frame.get("velocity_x"), frame.get("velocity_y")
        speed = None
        if velocity_x is not None and velocity_y is not None:
            speed = math.hypot(velocity_x, velocity_y) / 10  # mm/s -> cm/s
        return cls(
            x=frame.get("odometer_x"),
            y=frame.get("odometer_y"),
            speed=speed,
            pitch=frame.get("pitch"),
            roll=frame.get("roll"),
            yaw=frame.get("yaw"),
        )

    @property
    def moving(self) -> bool | None:
        """Whether the speed is above ``MOVING_THRESHOLD_CM_S``; None without a speed."""
        return None if self.speed is None else self.speed > MOVING_THRESHOLD_CM_S


class MotionTracker:
    """The latest sample, and the distance travelled since the last reset.

    The distance is the sum of the odometer's moves (in chords of ``DISTANCE_STEP_CM``), so a
    toy that rolls a square and comes back has travelled four sides though it stands where it
    started. The chord still open when the toy comes to rest (its first sample not moving after
    one moving) is counted then, whatever its length: otherwise every stop would lose up to a
    chord, while the wobble of a toy at rest never makes such a transition. It survives link
    losses (the toy's own odometer may restart at 0,0 after a sleep: the first position of each
    link starts a new chord instead of counting the jump).
    """

    __slots__ = ("_anchor", "_was_moving", "distance", "sample")

    def __init__(self) -> None:
        """Start with no sample and no distance."""
        self.sample: MotionSample | None = None
        self.distance = 0.0
        self._anchor: tuple[float, float] | None = None
        self._was_moving = False

    def add(self, sample: MotionSample) -> None:
        """Take the newest sample; grow the distance by the position's move."""
        self.sample = sample
        came_to_rest = self._was_moving and sample.moving is False
        if sample.moving is not None:
            self._was_moving = sample.moving
        if sample.x is None or sample.y is None:
            return
        if self._anchor is None:
            self._anchor = (sample.x, sample.y)
            return
        step = math.hypot(sample.x - self._anchor[0], sample.y - self._anchor[1])
        if step >= DISTANCE_STEP_CM or (came_to_rest and step > 0):
            self.distance += step
            self._anchor = (sample.x, sample.y)

    def link_lost(self) -> None:
        """Forget the sample (nothing is known of a toy out of reach) and where the chord began."""
        self.sample = None
        self._anchor = None
        self._was_moving = False

    def reset(self) -> None:
        """Restart the distance at 0 (the locator was just moved to 0,0)."""
        self.distance = 0.0
        self._anchor = None
