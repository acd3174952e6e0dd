"""The v2 toys' sensor stream: which mask bit streams what, the commands, and the packets.

A ``motion_stream.StreamCodec`` for the BB-9E, R2-D2, R2-Q5, Mini and BOLT. Taken from spherov2
0.12.1 (no capture of a v2 sensor stream was found): ``commands/sensor.py`` for the commands and
the data packet, ``controls/v2.py`` ``SensorControl`` for the order it sends them in and how it
reads a packet, and the ``sensors`` tables of ``toy/bb9e.py`` (the R2-D2 and R2-Q5 inherit it),
``toy/mini.py`` and ``toy/bolt.py``, which agree bit for bit on the main mask:

* 18/00 sets the main mask with an interval in ms (u16) and a count (u8, 0: forever); interval 0
  stops the stream. 18/0C sets the extended mask (u32). spherov2 changes a layout by pausing
  (18/00 with interval 0), setting the extended mask, then starting again (18/00 with the
  interval), so no packet mixes two layouts; so does this.
* 18/02 arrives on SEQ 0xFF with one big-endian float32 per set bit: the main mask's from bit 31
  down, then the extended mask's.
* The locator's position and velocity come in metres and metres a second (spherov2 multiplies
  them by 100 into its Edu API's cm and cm/s), the attitude in degrees.

Every value an entity shows is in the main mask (attitude, locator, velocity); the extended mask
holds only the gyroscope, an R2 unit's dome angle and a BOLT's ambient light, so it is always
written 0, which also ends an extended stream another app may have left. The toy's own "speed"
value (bit 2) is not asked for: spherov2 marks it as not working on a BOLT, and the speed is the
velocity's length, as on a v1 toy.
"""

from __future__ import annotations

from collections.abc import Mapping
import math
import struct
from typing import Final

from . import commands_v2 as v2
from .commands import Command
from .motion import STOPPED, Masks, MotionSample
from .motion_stream import MotionGroup
from .protocol_v2 import AsyncId

# The main mask's bits (spherov2's ``sensors`` tables), bit 31 first: only those read here.
PITCH: Final = 0x00040000
ROLL: Final = 0x00020000
YAW: Final = 0x00010000
LOCATOR_X: Final = 0x00000040
LOCATOR_Y: Final = 0x00000020
VELOCITY_X: Final = 0x00000010
VELOCITY_Y: Final = 0x00000008

ATTITUDE_MASK: Final = PITCH | ROLL | YAW
LOCATION_MASK: Final = LOCATOR_X | LOCATOR_Y | VELOCITY_X | VELOCITY_Y

STREAM_INTERVAL_MS: Final = 100
"""10 packets a second, the rate a v1 toy streams at here."""
MINI_STREAM_INTERVAL_MS: Final = 200
"""5 packets a second for the Mini, which notifies its packets one byte at a time (Sphero_mini's
notes): a locator and velocity packet (23 bytes framed) every 100 ms is 230 notifications a second
in the simulator, each one ESPHome API message through a Bluetooth proxy; every 200 ms it is 115.
Slower would cut more, but the distance is summed in chords between packets, and a turn at full
speed cut in longer chords comes out short: every 250 ms the simulated Mini's drive of
``tests/test_every_entity.py`` (9.4 m with a turn) counted 2.3 cm too little, every 500 ms 7 cm,
every second 33 cm; every 200 ms it stays within 2 cm."""
CM_PER_M: Final = 100.0

_NAMES: Final[dict[int, str]] = {
    PITCH: "pitch",
    ROLL: "roll",
    YAW: "yaw",
    LOCATOR_X: "x",
    LOCATOR_Y: "y",
    VELOCITY_X: "velocity_x",
    VELOCITY_Y: "velocity_y",
}


def _bits_descending(mask: int) -> list[int]:
    return [1 << shift for shift in range(31, -1, -1) if mask >> shift & 1]


class SensorStreamV2:
    """The v2 sensor stream (18/00, 18/0C, 18/02; the locator reset 18/13) at one model's interval."""

    group_masks: Mapping[MotionGroup, Masks] = {
        MotionGroup.ATTITUDE: Masks(ATTITUDE_MASK, 0),
        MotionGroup.LOCATION: Masks(LOCATION_MASK, 0),
    }
    async_id: int = AsyncId.SENSOR_STREAM

    def __init__(self, interval_ms: int = STREAM_INTERVAL_MS) -> None:
        """Stream every ``interval_ms`` (the model's: see ``MINI_STREAM_INTERVAL_MS``)."""
        if not 0 < interval_ms <= 0xFFFF:
            raise ValueError(f"a v2 stream interval is 1-65535 ms, got {interval_ms}")
        self.interval_ms = interval_ms
        self.rate_hz: float = 1000 / interval_ms

    def commands(self, masks: Masks) -> list[Command]:
        """Pause, clear the extended mask, stream ``masks`` (or, with no bit set, pause and clear)."""
        if masks.mask2:
            raise ValueError(f"the v2 stream asks for no extended value, got 0x{masks.mask2:08x}")
        pause = v2.set_sensor_streaming_mask(0, 0, masks.mask)
        clear = v2.set_extended_sensor_streaming_mask(0)
        if not masks.streams:
            return [pause, clear]
        return [pause, clear, v2.set_sensor_streaming_mask(self.interval_ms, 0, masks.mask)]

    def masks_of(self, command: Command) -> Masks | None:
        """18/00 with an interval: its mask is streamed; with interval 0: nothing is. Else None."""
        if command.name != "set_sensor_streaming_mask" or len(command.data) != 7:
            return None
        interval, _count, mask = struct.unpack(">HBI", command.data)
        return Masks(mask, 0) if interval else STOPPED

    def decode(self, masks: Masks, data: bytes) -> list[MotionSample]:
        """One sample from one packet of float32s; ``ValueError`` for a length or value that does not fit."""
        bits = _bits_descending(masks.mask)
        count = len(bits) + masks.mask2.bit_count()
        if not count or len(data) != 4 * count:
            raise ValueError(
                f"sensor stream of {len(data)} bytes does not hold {count} float32 values ({masks!r})"
            )
        values = struct.unpack(f">{count}f", data)
        if not all(math.isfinite(value) for value in values):
            raise ValueError(f"sensor stream values that are no number: {values!r}")
        named = {_NAMES[bit]: value for bit, value in zip(bits, values, strict=False) if bit in _NAMES}
        x, y = named.get("x"), named.get("y")
        velocity_x, velocity_y = named.get("velocity_x"), named.get("velocity_y")
        speed = None
        if velocity_x is not None and velocity_y is not None:
            speed = math.hypot(velocity_x, velocity_y) * CM_PER_M
        return [
            MotionSample(
                x=None if x is None else x * CM_PER_M,
                y=None if y is None else y * CM_PER_M,
                speed=speed,
                pitch=named.get("pitch"),
                roll=named.get("roll"),
                yaw=named.get("yaw"),
            )
        ]

    def reset_locator(self, heading: int) -> Command:
        """18/13: the toy's position becomes 0,0; the axes stay (a v2 toy is given no yaw tare)."""
        return v2.reset_locator()


V2_STREAM: Final = SensorStreamV2()
"""10 packets a second: the BB-9E, R2-D2, R2-Q5 and BOLT."""
MINI_STREAM: Final = SensorStreamV2(MINI_STREAM_INTERVAL_MS)
"""5 packets a second: the Mini (``MINI_STREAM_INTERVAL_MS``)."""
