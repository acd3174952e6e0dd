"""Where the simulated BB-8 is, how fast it goes and which way it leans, on the simulated clock.

The model is integrated lazily, in steps of :data:`STEP` (10 ms) of simulated time: a command
(and a sleep or a bump) first integrates up to its own time with :meth:`MotionModel.advance_to`,
and whoever only looks (a stream sample, a test reading the toy's position) asks
:meth:`MotionModel.state_at`, which integrates whole steps and works out the last part of a step
on a copy. Looking therefore never changes where the toy goes: the same commands at the same
times give the same path however often it is read. Nothing is scheduled on the clock for motion,
so a toy at rest costs nothing and ``SimClock.run_until_idle`` is not kept busy by a toy that
merely exists. While the toy sleeps time passes without motion.

Frames (all angles in degrees):

* The world: fixed in the room, ``x`` to the right and ``y`` forward of where the toy first woke,
  positions in cm. :attr:`MotionModel.facing` is the toy's direction in the world, clockwise from
  world +y (the same sense as a Sphero heading: 90 is to the right).
* The heading frame: a roll's heading ``h`` means world direction ``heading_zero + h``.
  SetHeading(``d``) declares the current direction to be ``d`` (``heading_zero = facing - d``);
  waking declares it 0 (the toy forgets its heading when it sleeps).
* The locator frame (ConfigureLocator, Sphero API 1.50 and Sphero's "Locator" note): +Y is the
  direction of heading ``yaw tare``, +X is 90° clockwise from it, and the toy's current position
  is set to the command's (X, Y). Flag bit 0 "auto-correct yaw tare": set, SetHeading corrects
  the tare so the locator's axes stay where they are in the room; clear, the spec's "the positive
  Y axis coincides with heading 0" holds after a SetHeading too, so the axes turn (about the
  locator's origin) with the new heading frame. On waking the locator is (0, 0) at the toy with
  tare 0 and the flag clear.

Sign conventions pinned by the captured stream packet (``tests/captures/sensor_stream.py``,
gobot's Ollie/BB-8 test frame: pitch -5, roll 1, filtered accelerometer X 75, Y 445, Z 4148 in
1/4096 g, quaternion 9985, -539, 86, 0): a negative pitch puts gravity on +Y (nose up), a
positive roll puts it on +X, Q0 is the scalar part and Q1/Q2 carry pitch/roll with their own
signs (Q1 = sin(pitch/2), Q2 = sin(roll/2)). Streamed yaw is not pinned by any capture; it is
taken to turn the same way as the heading (clockwise positive), which is the sense the captured
pitch and roll imply (both are the negatives of right-handed angles about X and Y, so yaw, the
negative of a right-handed angle about +Z up, is clockwise).

Assumed (plausible, not measured on a BB-8): top speed 195 cm/s at speed 255 (BB-8's published
~7 km/h), reached along a ramp of 150 cm/s² and lost at 200 cm/s² (0 to full speed in 1.3 s);
the toy turns toward a roll's heading at the rotation rate (the spec's 0.784 °/s per unit,
255 = 400 °/s), and rolls in the direction it faces, so a heading change while rolling is an arc;
it leans 15° per g of its own acceleration (forward acceleration dips the nose: positive pitch;
turning right leans it right: negative roll); a collision stops it dead and adds the impact's
acceleration to the accelerometer for 150 ms. Raw motor commands (0x33), the reverse flag and
stabilization off do not move the model: the toy coasts to a stop under them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
import math
from typing import Final

STEP: Final = 0.01  # seconds of simulated time per integration step
TIME_EPSILON: Final = 1e-9  # seconds: closer than this counts as the same time

# -- assumptions (see the module docstring) ------------------------------------------------------
TOP_SPEED_CM_S: Final = 195.0
ACCELERATION_CM_S2: Final = 150.0
DECELERATION_CM_S2: Final = 200.0
ROTATION_RATE_UNIT_DEG_S: Final = 0.784  # Sphero API 1.50, Set Rotation Rate
MAX_ROTATION_RATE_DEG_S: Final = 400.0  # the spec's value for a rotation rate of 255
LEAN_DEG_PER_G: Final = 15.0
COLLISION_SPIKE_SECONDS: Final = 0.15
WHEEL_HALF_TRACK_CM: Final = 3.0  # half the distance between the two drive wheels

STANDARD_GRAVITY_CM_S2: Final = 980.665
ACCEL_FILTERED_PER_G: Final = 4096  # spec: filtered accelerometer in 1/4096 g
ACCEL_RAW_PER_G: Final = 250  # spec: raw accelerometer in 4 mG
GYRO_RAW_DEG_S: Final = 0.068  # spec: raw gyro unit
GYRO_FILTERED_PER_DEG_S: Final = 10  # spec: filtered gyro in 0.1 °/s
QUATERNION_SCALE: Final = 10_000  # spec: quaternion in 1/10000
ACCEL_ONE_PER_G: Final = 100  # the capture's 101 at rest: 0.01 g, not the spec's mG
MOTOR_PWM_FULL: Final = 2047  # spec: PWM raw -2048..2047 (duty cycle)


def wrap180(angle: float) -> float:
    """Wrap an angle to (-180, 180], the range the toy streams its angles in."""
    wrapped = math.fmod(angle, 360.0)
    if wrapped > 180.0:
        wrapped -= 360.0
    elif wrapped <= -180.0:
        wrapped += 360.0
    return wrapped


def rotation_rate_deg_s(rate: int) -> float:
    """Degrees per second for a Set Rotation Rate byte (255 is the toy's maximum)."""
    if rate >= 255:
        return MAX_ROTATION_RATE_DEG_S
    return max(1, rate) * ROTATION_RATE_UNIT_DEG_S


def _duty(wheel_speed: float) -> float:
    """Return a motor's duty cycle, taken as its wheel's share of top speed (signed, at most 1)."""
    return max(-1.0, min(1.0, wheel_speed / TOP_SPEED_CM_S))


def tilt_acceleration(pitch: float, roll: float) -> tuple[float, float, float]:
    """Gravity as the accelerometer feels it (in g) at this pitch and roll (Sphero's signs)."""
    p, r = math.radians(pitch), math.radians(roll)
    return (math.sin(r) * math.cos(p), -math.sin(p), math.cos(p) * math.cos(r))


def attitude_quaternion(pitch: float, roll: float, yaw: float) -> tuple[float, float, float, float]:
    """Q0..Q3 for these angles: yaw about Z, then pitch about X, then roll about Y (Q0 scalar)."""
    hp, hr, hy = (math.radians(angle) / 2 for angle in (pitch, roll, yaw))
    # q = q_yaw(Z) * q_pitch(X) * q_roll(Y), each (w, x, y, z) with the angle's own sign.
    wz, zz = math.cos(hy), math.sin(hy)
    wx, xx = math.cos(hp), math.sin(hp)
    wy, yy = math.cos(hr), math.sin(hr)
    # q_yaw * q_pitch
    w1, x1, y1, z1 = wz * wx, wz * xx, zz * xx, zz * wx
    # (q_yaw * q_pitch) * q_roll
    return (
        w1 * wy - y1 * yy,
        x1 * wy - z1 * yy,
        w1 * yy + y1 * wy,
        z1 * wy + x1 * yy,
    )


@dataclass(frozen=True, slots=True)
class SensorSample:
    """Everything the toy can stream at one instant, in the spec's physical units (floats).

    Angles in degrees, accelerations in g, angular rates in °/s, positions in cm and velocities
    in cm/s in the locator's frame, motor PWM as a signed fraction of full duty.
    """

    accel: tuple[float, float, float]
    gyro: tuple[float, float, float]
    pitch: float
    roll: float
    yaw: float
    quaternion: tuple[float, float, float, float]
    odometer: tuple[float, float]
    velocity: tuple[float, float]
    motor_duty: tuple[float, float]  # left, right
    wheel_speed: tuple[float, float]  # left, right, cm/s


class MotionModel:
    """The toy's body: position, speed, direction, lean, and the locator that reports them."""

    def __init__(self, now: float) -> None:
        """Start at rest at the world's origin, facing world +y, asleep (nothing integrates)."""
        self.awake = False
        self.updated_at = now
        self.x = 0.0
        self.y = 0.0
        self.facing = 0.0
        self.speed = 0.0  # cm/s along the facing direction
        self.distance = 0.0  # cm travelled since the model was created
        self.target_speed = 0.0
        self.target_facing = 0.0
        self.rotation_rate = rotation_rate_deg_s(200)
        self.heading_zero = 0.0
        self.acceleration = 0.0  # cm/s², along the facing direction, over the last step
        self.turn_rate = 0.0  # °/s over the last step (clockwise positive)
        self.pitch = 0.0
        self.roll = 0.0
        self.pitch_rate = 0.0
        self.roll_rate = 0.0
        self.locator_flags = 0
        self.locator_tare = 0.0
        self.locator_yaw = 0.0  # world direction of the locator's +Y
        self.locator_origin = (0.0, 0.0)  # world point of the locator's (0, 0)
        self._spike: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self._spike_until = -math.inf

    # -- what the toy's firmware would know ------------------------------------------------------

    @property
    def yaw(self) -> float:
        """The IMU yaw: the current direction in the heading frame, wrapped to (-180, 180]."""
        return wrap180(self.facing - self.heading_zero)

    @property
    def locator_position(self) -> tuple[float, float]:
        """The odometer: the toy's position in the locator's frame, cm."""
        return self._to_locator(self.x - self.locator_origin[0], self.y - self.locator_origin[1])

    @property
    def locator_velocity(self) -> tuple[float, float]:
        """The velocity in the locator's frame, cm/s."""
        direction = math.radians(self.facing)
        return self._to_locator(self.speed * math.sin(direction), self.speed * math.cos(direction))

    # -- lifecycle ----------------------------------------------------------------------------------

    def wake(self, now: float) -> None:
        """Wake at rest: the current direction becomes heading 0 and the locator restarts here."""
        self.awake = True
        self.updated_at = now
        self._halt()
        self.heading_zero = self.facing
        self.rotation_rate = rotation_rate_deg_s(200)
        self.configure_locator(0, 0, 0, 0)

    def sleep(self, now: float) -> None:
        """Stop where the toy is; nothing moves until it wakes."""
        self.advance_to(now)
        self.awake = False
        self._halt()

    def _halt(self) -> None:
        self.speed = self.target_speed = 0.0
        self.target_facing = self.facing
        self.acceleration = self.turn_rate = 0.0
        self.pitch = self.roll = self.pitch_rate = self.roll_rate = 0.0
        self._spike_until = -math.inf

    # -- commands -----------------------------------------------------------------------------------

    def drive(self, speed: int, heading: int, go: bool) -> None:
        """Roll (0x30): drive toward ``heading`` at ``speed``/255 of top speed; stop slows to 0."""
        self.target_facing = self.heading_zero + heading
        self.target_speed = speed / 255 * TOP_SPEED_CM_S if go else 0.0

    def coast(self) -> None:
        """Stop driving (raw motors, which the model does not steer): slow to a stop in place."""
        self.target_speed = 0.0
        self.target_facing = self.facing

    def set_heading(self, heading: int) -> None:
        """SetHeading (0x01): the current direction is ``heading`` from now on; the toy holds it."""
        self.heading_zero = self.facing - heading
        self.target_facing = self.facing
        if not self.locator_flags & 0x01:
            self.locator_yaw = self.heading_zero + self.locator_tare

    def set_rotation_rate(self, rate: int) -> None:
        """Set Rotation Rate (0x03)."""
        self.rotation_rate = rotation_rate_deg_s(rate)

    def configure_locator(self, flags: int, x: int, y: int, yaw_tare: int) -> None:
        """ConfigureLocator (0x13): the toy is at (x, y) and +Y is the direction of heading ``yaw_tare``."""
        self.locator_flags = flags
        self.locator_tare = float(yaw_tare)
        self.locator_yaw = self.heading_zero + yaw_tare
        world_dx, world_dy = self._to_world(float(x), float(y))
        self.locator_origin = (self.x - world_dx, self.y - world_dy)

    def collide(self, now: float, acceleration_g: tuple[float, float, float]) -> None:
        """Hit something: stop dead, and feel ``acceleration_g`` (body frame, g) for a moment."""
        self.advance_to(now)
        self.speed = self.target_speed = 0.0
        self.target_facing = self.facing
        self._spike = acceleration_g
        self._spike_until = now + COLLISION_SPIKE_SECONDS

    # -- integration ----------------------------------------------------------------------------

    def at_rest(self) -> bool:
        """Whether integrating would change nothing."""
        return (
            self.speed == 0.0
            and self.target_speed == 0.0
            and wrap180(self.target_facing - self.facing) == 0.0
            and self.acceleration == 0.0
            and self.turn_rate == 0.0
        )

    def advance_to(self, now: float, *, partial: bool = True) -> None:
        """Integrate from the last update to ``now``: whole steps, then (``partial``) the rest."""
        if now <= self.updated_at:
            return
        if not self.awake or self.at_rest():
            self.updated_at = now
            return
        while now - self.updated_at >= STEP - TIME_EPSILON:
            self._step(STEP)
            self.updated_at += STEP
            if self.at_rest():
                self.updated_at = now
                return
        if partial and now - self.updated_at > TIME_EPSILON:
            self._step(now - self.updated_at)
            self.updated_at = now

    def state_at(self, now: float) -> MotionModel:
        """Return the toy as it is at ``now``, for reading only: the model itself, or a copy."""
        self.advance_to(now, partial=False)
        remainder = now - self.updated_at
        if remainder <= TIME_EPSILON:
            return self
        probe = copy.copy(self)
        probe._step(remainder)
        probe.updated_at = now
        return probe

    def _step(self, dt: float) -> None:
        # Turn toward the target direction, the short way, at the rotation rate.
        remaining = wrap180(self.target_facing - self.facing)
        turn = max(-self.rotation_rate * dt, min(self.rotation_rate * dt, remaining))
        self.facing = self.facing + turn
        if abs(wrap180(self.target_facing - self.facing)) < 1e-9:
            self.facing = self.target_facing
        self.turn_rate = turn / dt
        # Ramp the speed toward the target.
        change = self.target_speed - self.speed
        limit = (ACCELERATION_CM_S2 if change > 0 else DECELERATION_CM_S2) * dt
        change = max(-limit, min(limit, change))
        previous = self.speed
        self.speed = previous + change
        self.acceleration = change / dt
        # Move along the direction faced, at the step's mean speed.
        travelled = (previous + self.speed) / 2 * dt
        direction = math.radians(self.facing)
        self.x += travelled * math.sin(direction)
        self.y += travelled * math.cos(direction)
        self.distance += travelled
        # Lean with the toy's own acceleration: forward dips the nose, turning right leans right.
        lateral = self.speed * math.radians(self.turn_rate)
        pitch = LEAN_DEG_PER_G * self.acceleration / STANDARD_GRAVITY_CM_S2
        roll = -LEAN_DEG_PER_G * lateral / STANDARD_GRAVITY_CM_S2
        self.pitch_rate, self.roll_rate = (pitch - self.pitch) / dt, (roll - self.roll) / dt
        self.pitch, self.roll = pitch, roll

    # -- sensors --------------------------------------------------------------------------------

    def sample(self, now: float) -> SensorSample:
        """Read the sensors at ``now``."""
        body = self.state_at(now)
        return body._read_sensors(now)

    def _read_sensors(self, now: float) -> SensorSample:
        gx, gy, gz = tilt_acceleration(self.pitch, self.roll)
        ax = gx + self.speed * math.radians(self.turn_rate) / STANDARD_GRAVITY_CM_S2
        ay = gy + self.acceleration / STANDARD_GRAVITY_CM_S2
        az = gz
        if now < self._spike_until:
            sx, sy, sz = self._spike
            ax, ay, az = ax + sx, ay + sy, az + sz
        # A BB-8 drives with two wheels; turning in place runs them in opposite directions.
        half_track_speed = math.radians(self.turn_rate) * WHEEL_HALF_TRACK_CM
        left, right = self.speed + half_track_speed, self.speed - half_track_speed
        return SensorSample(
            accel=(ax, ay, az),
            gyro=(self.pitch_rate, self.roll_rate, self.turn_rate),
            pitch=wrap180(self.pitch),
            roll=wrap180(self.roll),
            yaw=self.yaw,
            quaternion=attitude_quaternion(self.pitch, self.roll, self.yaw),
            odometer=self.locator_position,
            velocity=self.locator_velocity,
            motor_duty=(_duty(left), _duty(right)),
            wheel_speed=(left, right),
        )

    # -- frames -----------------------------------------------------------------------------------

    def _to_locator(self, world_dx: float, world_dy: float) -> tuple[float, float]:
        theta = math.radians(self.locator_yaw)
        cos, sin = math.cos(theta), math.sin(theta)
        return (world_dx * cos - world_dy * sin, world_dx * sin + world_dy * cos)

    def _to_world(self, locator_x: float, locator_y: float) -> tuple[float, float]:
        theta = math.radians(self.locator_yaw)
        cos, sin = math.cos(theta), math.sin(theta)
        return (locator_x * cos + locator_y * sin, -locator_x * sin + locator_y * cos)
