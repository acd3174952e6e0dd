"""The simulated toy's sensor stream: Set Data Streaming (DID 0x02, CID 0x11) and its packets.

Sources, in order of authority:

* The captured packet in ``tests/captures/sensor_stream.py`` (gobot's Ollie/BB-8 test frame,
  streamed with every bit of MASK and MASK2 set): 41 values, the quaternion (a unit one, 9985,
  -539, 86, 0) starting at value 29. So with every bit set the toy sent 29 values for MASK, bits
  31 down to 3 (the spec's defined bits and the reserved bits 25-23, 9-7, 4 and 3 among them),
  and 12 for MASK2, bits 31 down to 20 (the reserved bits 22-20 among them, 22 being what
  spherov2 calls "speed", unit undocumented). MASK bits 2-0 and MASK2 bits 19-0 produced
  nothing, and produce nothing here. Reserved bits that produce a value stream 0: the capture,
  taken at rest, shows 0 in every one of them.
* The Sphero API 1.50 specification (N divides the 400 Hz sample rate, M frames per packet, PCNT
  packets then stop with 0 = forever, MASK2 optional, both masks 0 stop the stream; each frame is
  one big-endian int16 per set bit, MASK from bit 31 down, then MASK2 from bit 31 down) for the
  meaning and unit of every defined bit, except where the capture disagrees: accelOne (MASK2 bit
  25) reads 101 at rest, so it is in 0.01 g, not the spec's mG.
* The motor bits, where drivers disagree: gobot's ``DataStreamingPacket`` and sphero.js's
  ``streamMotorsBackEmf`` (mask 0x60, fields right then left) put the right motor's back-EMF on
  bits 22 (raw) and 6 (filtered) and the left's on 21 and 5; the left PWM on 20 and the right on
  19. spherov2's ``Sphero.sensors`` names bit 6 left and 5 right; the two others agree with each
  other and with the spec, and are followed.

Assumed: back-EMF is streamed as the wheel's speed in cm/s (the spec gives no unit a simulator
could use), and a motor's PWM as its wheel's share of top speed times 2047.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import math
import struct
from typing import Final

from .clock import SimClock, SimTimerHandle
from .motion import (
    ACCEL_FILTERED_PER_G,
    ACCEL_ONE_PER_G,
    ACCEL_RAW_PER_G,
    GYRO_FILTERED_PER_DEG_S,
    GYRO_RAW_DEG_S,
    MOTOR_PWM_FULL,
    QUATERNION_SCALE,
    SensorSample,
)

BASE_RATE_HZ: Final = 400
SCHEDULING_SLACK: Final = 1e-9  # seconds
MASK_VALUE_BITS: Final = tuple(range(31, 2, -1))  # 29 values with every bit set (the capture)
MASK2_VALUE_BITS: Final = tuple(range(31, 19, -1))  # 12 values with every bit set (the capture)


def _i16(value: float) -> int:
    return max(-0x8000, min(0x7FFF, round(value)))


def mask_values(sample: SensorSample) -> dict[int, float]:
    """MASK bit -> value in the unit the toy streams it in (before rounding)."""
    ax, ay, az = sample.accel
    gx, gy, gz = sample.gyro
    left_duty, right_duty = sample.motor_duty
    left_wheel, right_wheel = sample.wheel_speed
    return {
        31: ax * ACCEL_RAW_PER_G,
        30: ay * ACCEL_RAW_PER_G,
        29: az * ACCEL_RAW_PER_G,
        28: gx / GYRO_RAW_DEG_S,
        27: gy / GYRO_RAW_DEG_S,
        26: gz / GYRO_RAW_DEG_S,
        22: right_wheel,
        21: left_wheel,
        20: left_duty * MOTOR_PWM_FULL,
        19: right_duty * MOTOR_PWM_FULL,
        18: sample.pitch,
        17: sample.roll,
        16: sample.yaw,
        15: ax * ACCEL_FILTERED_PER_G,
        14: ay * ACCEL_FILTERED_PER_G,
        13: az * ACCEL_FILTERED_PER_G,
        12: gx * GYRO_FILTERED_PER_DEG_S,
        11: gy * GYRO_FILTERED_PER_DEG_S,
        10: gz * GYRO_FILTERED_PER_DEG_S,
        6: right_wheel,
        5: left_wheel,
    }


def mask2_values(sample: SensorSample) -> dict[int, float]:
    """MASK2 bit -> value in the unit the toy streams it in (before rounding)."""
    q0, q1, q2, q3 = sample.quaternion
    odometer_x, odometer_y = sample.odometer
    velocity_x, velocity_y = sample.velocity
    return {
        31: q0 * QUATERNION_SCALE,
        30: q1 * QUATERNION_SCALE,
        29: q2 * QUATERNION_SCALE,
        28: q3 * QUATERNION_SCALE,
        27: odometer_x,
        26: odometer_y,
        25: math.hypot(*sample.accel) * ACCEL_ONE_PER_G,
        24: velocity_x * 10,  # mm/s
        23: velocity_y * 10,
    }


def frame_values(sample: SensorSample, mask: int, mask2: int) -> list[int]:
    """One frame: a value per set bit that produces one, MASK from bit 31 down, then MASK2."""
    first, second = mask_values(sample), mask2_values(sample)
    values = [_i16(first.get(bit, 0.0)) for bit in MASK_VALUE_BITS if mask >> bit & 1]
    values += [_i16(second.get(bit, 0.0)) for bit in MASK2_VALUE_BITS if mask2 >> bit & 1]
    return values


def encode_frame(sample: SensorSample, mask: int, mask2: int) -> bytes:
    """One frame's bytes: the values as big-endian int16."""
    values = frame_values(sample, mask, mask2)
    return struct.pack(f">{len(values)}h", *values)


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """What a Set Data Streaming command asked for."""

    divisor: int
    frames_per_packet: int
    mask: int
    count: int
    mask2: int

    @property
    def period(self) -> float:
        """Seconds between two samples (frames)."""
        return self.divisor / BASE_RATE_HZ

    @property
    def stops(self) -> bool:
        """Both masks zero: the spec's way to stop the stream."""
        return self.mask == 0 and self.mask2 == 0


class SensorStream:
    """Samples the toy every N/400 s and sends a packet of M frames, PCNT times (0: forever).

    ``sample`` reads the sensors at a simulated time; ``send`` sends one packet's data as an
    async 0x03 packet. The stream runs on the toy's :class:`SimClock`; :meth:`stop` leaves
    nothing scheduled.
    """

    def __init__(
        self, clock: SimClock, sample: Callable[[float], SensorSample], send: Callable[[bytes], None]
    ) -> None:
        """Idle until :meth:`start`."""
        self._clock = clock
        self._sample = sample
        self._send = send
        self._settings: StreamSettings | None = None
        self._timer: SimTimerHandle | None = None
        self._started_at = 0.0
        self._samples = 0
        self._pending: list[bytes] = []
        self._packets_left = 0
        self.frames_sent = 0
        self.packets_sent = 0

    @property
    def running(self) -> bool:
        """Whether packets are still to come."""
        return self._settings is not None

    def start(self, settings: StreamSettings) -> None:
        """Replace any running stream with ``settings`` (zero masks just stop it)."""
        self.stop()
        if settings.stops:
            return
        self._settings = settings
        self._started_at = self._clock.now()
        self._samples = 0
        self._packets_left = settings.count
        self._schedule()

    def stop(self) -> None:
        """Stop sending (frames not yet sent in a packet are dropped)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._settings = None
        self._pending.clear()

    def _schedule(self) -> None:
        settings = self._settings
        assert settings is not None
        # Due times from the start, not from the previous sample, so the rate does not drift; a
        # nanosecond early, so a clock moved in float steps of the period does not miss one.
        due = self._started_at + (self._samples + 1) * settings.period - SCHEDULING_SLACK
        self._timer = self._clock.call_at(due, self._on_sample)

    def _on_sample(self) -> None:
        self._timer = None
        settings = self._settings
        if settings is None:
            return
        self._samples += 1
        sample = self._sample(self._clock.now())
        self._pending.append(encode_frame(sample, settings.mask, settings.mask2))
        if len(self._pending) >= settings.frames_per_packet:
            data = b"".join(self._pending)
            self._pending.clear()
            self.frames_sent += settings.frames_per_packet
            self.packets_sent += 1
            self._send(data)
            if settings.count:
                self._packets_left -= 1
                if self._packets_left <= 0:
                    self.stop()
                    return
        if self._settings is settings:
            self._schedule()
