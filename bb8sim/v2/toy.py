"""A simulated Sphero v2 toy (BB-9E, R2-D2, R2-Q5, Mini, BOLT): GATT writes in, notifications out.

:class:`SimulatedV2Toy` plugs into the same seams as the BB-8 (:class:`bb8sim.toy.SimulatedBB8`):
:mod:`bb8sim.registry` finds it by address, :class:`bb8sim.backend.SimBleakBackend` serves its
GATT table (:attr:`SimulatedV2Toy.gatt_layout`) and hands it writes, and it sends notification
chunks through the transport's :class:`bb8sim.toy.ToyLink`. Toy time is a
:class:`~bb8sim.clock.SimClock`; drive the toy from the thread that runs its transport.

Where each behaviour comes from.

From real captures (the design brief's list; ``tests/test_sim_v2_captures.py`` replays each):
the R2-D2 answers an untargeted wake with flags 0x09 (answer + activity) and ERR 0, takes the
dome angle as a big-endian float32 and, after waking, sends an async 13/11 with no data that
arrives between the next request and its answer; the Mini answers its Edu-app requests likewise.

From Sphero_mini's notes (sniffing the Sphero app with a Mini): the Mini sends one byte per
notification, and the anti-DoS unlock keeps a connected toy from going back to sleep after 10 s.
The simulator applies the 10 s to every model: without the unlock on 00020005 the toy reads
commands but drops the link (and sleeps) 10 s after the connection.

From spherov2 0.12.1's sources and the v2 API notes (no capture): the packet layout, flags,
error codes and escaping; the command ids and payloads; which BOLT commands take a target
(drive, sensors and the matrix on the secondary processor 0x12, the LEDs on the primary 0x11);
the animation-complete async 17/11; will-sleep 13/19 and did-sleep 13/1A; the sensor stream
(18/00 and 18/0C masks, 18/02 big-endian float32 values in descending mask-bit order);
collisions (18/11 configure, 18/12 report as ``>3hB3hBL``).

The simulator's assumptions (not documented anywhere it could find):

* Answers: swapped TID/SID on a targeted request (the answer goes back to its source). A
  command the model lacks answers ERR 2 (ERR 1 when the whole device is missing); a command
  meant for the BOLT's secondary processor answers ERR 10 (target unavailable) without a target
  and ERR 9 (bad TID) aimed at the other processor; any TID other than 0x11/0x12 is ERR 9.
  A packet with a bad checksum or escape is dropped unanswered (v2 has no checksum error code).
* Asleep, the toy reads only power commands (DID 0x13): the wake among them wakes it; anything
  else is ignored. Sleep (13/01) and deep sleep (13/00) answer, send did-sleep and drop the
  link; only the charger wakes a deep sleep, and connects time out meanwhile.
* Inactivity: 600 s without an activity-flagged command, with will-sleep 10 s ahead.
* Battery: the model's voltage range (two cells for the R2 units and BB-9E, one for the Mini
  and BOLT), moved only by the test controls; percentage (Mini) is linear in voltage; the
  voltage state is low under 20 % and critical under 5 %.
* An animation plays 3 s on every model (the BB-9E's as the R2 units'; no duration is
  published), a scrolling text 0.5 s per character (then 1A/3C with reason 0); a newer animation
  replaces a playing one without its completion; an animation number that is not in the model's
  spherov2 enum answers ERR 7 (bad parameter) and plays nothing; the dome accepts -160..180
  degrees (the Edu API's range), a stance 0..3 (0 stops a waddle, legs stay in bipod).
* Motion: the BB-8's motion model (:mod:`bb8sim.motion`, its assumed top speed, ramps, rotation
  rate and lean) moves a v2 toy too. A drive (16/07) rolls it toward the heading at
  speed/255 of top speed (its flags are kept but move nothing, as the BB-8's reverse flag);
  a v2 toy at rest turns to a new heading at once (no v2 rotation rate is published), one
  that rolls turns at the model's rotation rate (an arc); raw
  motors coast it to a stop; a yaw reset (16/06) makes the current direction heading 0; a
  collision stops it dead. The locator's axes are heading 0's (+Y forward, +X to the right,
  spherov2's Edu API), 18/13 moves its origin to the toy and keeps its axes, and waking puts
  it at 0,0. Streamed (18/02, spherov2's units): the locator's position in m and velocity in
  m/s, the attitude in degrees with yaw turning the way the heading does, the accelerometer in
  g, the quaternion, the gyroscope in °/s, and "speed" taken as the velocity's length in m/s
  (its unit is not published). A v2 toy rolls on when its link drops.
* Answers and async packets produced by one write leave in one notification stream, so one
  notification may carry several packets (cut at the model's notification size).
* Of the BB-8's fault plan (:class:`~bb8sim.faults.FaultPlan`) the v2 toy honours refused and
  slow connects, dropped and delayed answers, corrupted notifications and a link lost on a
  write; pacing (commands dropped for coming too fast) is not modelled for v2 toys.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
import logging
import math
import struct
from typing import Final

from bleak.exc import BleakError

from bb8sim.clock import SimClock, SimTimerHandle
from bb8sim.faults import FaultPlan
from bb8sim.motion import MotionModel, SensorSample, wrap180
from bb8sim.toy import Advertisement, ToyLink

from .codec import FrameReader, V2Packet
from .models import MODELS, GattLayout, V2Model
from .protocol import (
    ANTI_DOS_CHAR,
    ANTI_DOS_GRACE,
    ANTI_DOS_UNLOCK,
    API_CHAR,
    API_SERVICE,
    ASYNC_SEQ,
    BATTERY_LEVEL_CHAR,
    PRIMARY,
    SECONDARY,
    AnimatronicCid,
    ChargerState,
    Did,
    DriveCid,
    ErrorCode,
    Flags,
    IoCid,
    PowerCid,
    SensorCid,
    Stance,
    VoltageState,
)

_LOGGER = logging.getLogger(__name__)

DEFAULT_INACTIVITY_TIMEOUT: Final = 600.0
WILL_SLEEP_LEAD: Final = 10.0
ANIMATION_SECONDS: Final = 3.0
TEXT_SECONDS_PER_CHARACTER: Final = 0.5
WAKE_NOTICE_DELAY: Final = 0.5
"""Toy seconds after a wake before the 13/11 notice goes out if no request carried it sooner."""
DOME_RANGE: Final = (-160.0, 180.0)
CM_PER_M: Final = 100.0
"""The locator streams metres (spherov2 multiplies by 100 into its Edu API's cm); the model keeps cm."""
_GYRO_BITS: Final = (0x2000000, 0x1000000, 0x800000)
"""The extended mask's gyroscope x, y, z (spherov2's tables)."""
MATRIX_SIZE: Final = 8

type Rgb = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class V2CollisionConfig:
    """18/11 in spherov2's field order: method, X and Y thresholds, X and Y speeds, dead time (10 ms)."""

    method: int
    x_threshold: int
    y_threshold: int
    x_speed: int
    y_speed: int
    dead_time: int


@dataclass(frozen=True, slots=True)
class V2Request:
    """One request the toy read, with the ERR it answered (None: ignored while asleep)."""

    packet: V2Packet
    err: int | None
    at: float

    @property
    def key(self) -> tuple[int, int]:
        """(DID, CID)."""
        return (self.packet.did, self.packet.cid)


@dataclass(slots=True)
class _Result:
    err: int = ErrorCode.SUCCESS
    data: bytes = b""
    after: Callable[[], None] | None = None


_LENGTH = _Result(ErrorCode.BAD_DATA_LENGTH)
_PARAM = _Result(ErrorCode.BAD_PARAMETER)


class _Link:
    __slots__ = ("anti_dos", "grace_timer", "link", "reader")

    def __init__(self, link: ToyLink) -> None:
        self.link = link
        self.anti_dos = False
        self.reader = FrameReader()
        self.grace_timer: SimTimerHandle | None = None


class SimulatedV2Toy:
    """A v2 Sphero toy at the level of GATT writes and notifications.

    Read the attributes freely in tests; change state through the protocol or the test controls.
    """

    def __init__(
        self,
        address: str,
        model: str | V2Model = "r2d2",
        *,
        name: str | None = None,
        clock: SimClock | None = None,
        seed: int = 0,
        faults: FaultPlan | None = None,
        battery_voltage: float | None = None,
        charging: bool = False,
        awake: bool = False,
    ) -> None:
        """Create a toy that is asleep (unless ``awake``) and not connected."""
        self.model = MODELS[model] if isinstance(model, str) else model
        self.address = address.upper()
        self.name = name if name is not None else self.model.default_name(address)
        self.clock = clock if clock is not None else SimClock()
        self.faults = faults if faults is not None else FaultPlan(seed=seed)

        self.writes: list[tuple[str, bytes]] = []
        self.handshake_log: list[tuple[str, bytes]] = []
        self.requests: list[V2Request] = []
        self.command_counts: Counter[str] = Counter()
        self.sent_packets: list[V2Packet] = []
        self.notifications: list[bytes] = []
        self.garbage_bytes = 0
        self.bad_frames = 0

        self._link: _Link | None = None
        self._outbox: list[tuple[V2Packet, bool]] = []
        self._batching = 0
        self.connect_count = 0
        self.disconnect_count = 0
        self.last_disconnect_reason: str | None = None

        self.awake = False
        self.deep_asleep = False
        self.sleep_count = 0
        self.will_sleep_sent = 0
        self.inactivity_timeout = DEFAULT_INACTIVITY_TIMEOUT
        self._will_sleep_timer: SimTimerHandle | None = None
        self._sleep_timer: SimTimerHandle | None = None
        self._wake_notice_pending = False
        self._wake_notice_timer: SimTimerHandle | None = None
        self.wake_notices_sent = 0

        model_ = self.model
        self.battery_voltage = model_.battery_default if battery_voltage is None else float(battery_voltage)
        self.charging = charging

        self.leds: dict[str, int] = dict.fromkeys(model_.leds, 0)
        self.speed = 0
        self.heading = 0
        self.drive_flags = 0
        self.stabilization = 1
        self.yaw_resets = 0
        self.raw_motors: tuple[int, int, int, int] | None = None
        self.dome_angle = 0.0
        self.stance = Stance.BIPOD
        self.animation_playing: int | None = None
        self.animations_played: list[int] = []
        self.animations_completed: list[int] = []
        self._animation_timer: SimTimerHandle | None = None
        self.sounds_played: list[tuple[int, int]] = []
        self.audio_volume = 255
        self.matrix: list[list[Rgb]] = [[(0, 0, 0)] * MATRIX_SIZE for _ in range(MATRIX_SIZE)]
        self.matrix_rotation = 0
        self.matrix_text: tuple[str, Rgb, int, bool] | None = None
        self._text_timer: SimTimerHandle | None = None
        self.collision_config: V2CollisionConfig | None = None
        self.gyro_max_notify = False
        self.locator_auto_calibrate = False
        self.collisions_sent = 0
        self._collision_quiet_until = 0.0
        self.stream_interval_ms = 0
        self.stream_count = 0
        self.stream_mask = 0
        self.stream_extended_mask = 0
        self.stream_packets_sent = 0
        self._stream_timer: SimTimerHandle | None = None
        self._stream_remaining = 0
        self.motion = MotionModel(self.clock.now())

        self._handlers: dict[tuple[int, int], Callable[[bytes], _Result]] = {
            (Did.POWER, PowerCid.DEEP_SLEEP): self._deep_sleep,
            (Did.POWER, PowerCid.SLEEP): self._sleep,
            (Did.POWER, PowerCid.BATTERY_VOLTAGE): self._battery_voltage,
            (Did.POWER, PowerCid.WAKE): self._wake_command,
            (Did.POWER, PowerCid.BATTERY_PERCENTAGE): self._battery_percentage,
            (Did.POWER, PowerCid.BATTERY_VOLTAGE_STATE): self._voltage_state,
            (Did.POWER, PowerCid.CHARGER_STATE): self._charger_state,
            (Did.DRIVE, DriveCid.RAW_MOTORS): self._raw_motors,
            (Did.DRIVE, DriveCid.RESET_YAW): self._reset_yaw,
            (Did.DRIVE, DriveCid.DRIVE_WITH_HEADING): self._drive,
            (Did.DRIVE, DriveCid.SET_STABILIZATION): self._stabilization,
            (Did.ANIMATRONIC, AnimatronicCid.PLAY_ANIMATION): self._play_animation,
            (Did.ANIMATRONIC, AnimatronicCid.STOP_ANIMATION): self._stop_animation,
            (Did.ANIMATRONIC, AnimatronicCid.PERFORM_LEG_ACTION): self._leg_action,
            (Did.ANIMATRONIC, AnimatronicCid.SET_HEAD_POSITION): self._set_dome,
            (Did.ANIMATRONIC, AnimatronicCid.GET_HEAD_POSITION): self._get_dome,
            (Did.SENSOR, SensorCid.SET_STREAMING_MASK): self._streaming_mask,
            (Did.SENSOR, SensorCid.SET_EXTENDED_STREAMING_MASK): self._extended_mask,
            (Did.SENSOR, SensorCid.CONFIGURE_COLLISION_DETECTION): self._configure_collisions,
            (Did.SENSOR, SensorCid.RESET_LOCATOR): self._reset_locator,
            (Did.SENSOR, SensorCid.ENABLE_GYRO_MAX_NOTIFY): self._gyro_max_notify,
            (Did.SENSOR, SensorCid.SET_LOCATOR_FLAGS): self._locator_flags,
            (Did.IO, IoCid.PLAY_AUDIO_FILE): self._play_audio,
            (Did.IO, IoCid.SET_AUDIO_VOLUME): self._audio_volume,
            (Did.IO, IoCid.STOP_ALL_AUDIO): lambda data: _LENGTH if data else _Result(),
            (Did.IO, IoCid.SET_LEDS_16_BIT_MASK): lambda data: self._set_leds(data, 2),
            (Did.IO, IoCid.SET_LEDS_8_BIT_MASK): lambda data: self._set_leds(data, 1),
            (Did.IO, IoCid.MATRIX_PIXEL): self._matrix_pixel,
            (Did.IO, IoCid.MATRIX_ONE_COLOUR): self._matrix_one_colour,
            (Did.IO, IoCid.MATRIX_ROTATION): self._matrix_rotation,
            (Did.IO, IoCid.MATRIX_TEXT_SCROLLING): self._matrix_text,
            (Did.IO, IoCid.MATRIX_LINE): lambda data: self._matrix_shape(data, fill=False),
            (Did.IO, IoCid.MATRIX_FILL): lambda data: self._matrix_shape(data, fill=True),
        }
        if awake:
            self._wake("created awake")

    def __repr__(self) -> str:
        """Model, name, address and the two states people ask about first."""
        state = "awake" if self.awake else ("deep asleep" if self.deep_asleep else "asleep")
        link = "connected" if self.connected else "not connected"
        return f"<SimulatedV2Toy {self.model.display_name} {self.name} {self.address} {state}, {link}>"

    # =========================================================================================
    # Observable state
    # =========================================================================================

    @property
    def gatt_layout(self) -> GattLayout:
        """The GATT table the bleak backend serves for this toy."""
        return self.model.gatt_layout

    @property
    def connected(self) -> bool:
        """Whether a central holds the link."""
        return self._link is not None

    @property
    def anti_dos_unlocked(self) -> bool:
        """Whether this connection wrote ``usetheforce...band`` to 00020005."""
        return self._link is not None and self._link.anti_dos

    @property
    def rolling(self) -> bool:
        """Whether the motors are driving."""
        if self.raw_motors is not None:
            return self.raw_motors[1] > 0 or self.raw_motors[3] > 0
        return self.speed > 0

    @property
    def battery_percentage(self) -> int:
        """The charge the Mini reports (13/10): linear between the model's empty and full voltages."""
        span = self.model.battery_full - self.model.battery_empty
        fraction = (self.battery_voltage - self.model.battery_empty) / span
        return max(0, min(100, round(fraction * 100)))

    @property
    def voltage_state(self) -> VoltageState:
        """What 13/17 answers."""
        percent = self.battery_percentage
        if percent < 5:
            return VoltageState.CRITICAL
        if percent < 20:
            return VoltageState.LOW
        return VoltageState.OK

    @property
    def charger_state(self) -> ChargerState:
        """What 13/1F answers (the BOLT)."""
        if not self.charging:
            return ChargerState.NOT_CHARGING
        return (
            ChargerState.CHARGED if self.battery_voltage >= self.model.battery_full else ChargerState.CHARGING
        )

    def led_group(self, prefix: str) -> Rgb:
        """Return the (red, green, blue) of an LED group, e.g. ``front`` or ``body``."""
        return (self.leds[f"{prefix}_red"], self.leds[f"{prefix}_green"], self.leds[f"{prefix}_blue"])

    @property
    def position(self) -> tuple[float, float]:
        """Where the toy truly is, in cm, in the room's frame (x right, y forward of where it first woke)."""
        body = self.motion.state_at(self.clock.now())
        return (body.x, body.y)

    @property
    def true_yaw(self) -> float:
        """The direction the toy truly faces in the room, degrees clockwise from the room's +y, (-180, 180]."""
        return wrap180(self.motion.state_at(self.clock.now()).facing)

    @property
    def true_speed(self) -> float:
        """How fast the toy truly rolls, cm/s (``speed`` is what it was told)."""
        return self.motion.state_at(self.clock.now()).speed

    @property
    def distance_travelled(self) -> float:
        """Every cm the toy has rolled since it was created (sleep and reconnects included)."""
        return self.motion.state_at(self.clock.now()).distance

    @property
    def odometer(self) -> tuple[float, float]:
        """What the locator would report now, cm in its own frame (streamed in metres)."""
        return self.motion.state_at(self.clock.now()).locator_position

    @property
    def streaming(self) -> bool:
        """Whether sensor packets are still to come."""
        return self._stream_timer is not None

    @property
    def advertisement(self) -> Advertisement:
        """What the toy advertises: its name and the API service (assumed; no scan record seen)."""
        return Advertisement(
            local_name=self.name, manufacturer_data={}, tx_power=-10, service_uuids=[API_SERVICE]
        )

    def snapshot(self) -> dict[str, object]:
        """Plain-data view of the toy, for developer-mode logs and failing test output."""
        return {
            "model": self.model.key,
            "name": self.name,
            "address": self.address,
            "awake": self.awake,
            "deep_asleep": self.deep_asleep,
            "connected": self.connected,
            "anti_dos_unlocked": self.anti_dos_unlocked,
            "speed": self.speed,
            "heading": self.heading,
            "leds": dict(self.leds),
            "dome_angle": self.dome_angle,
            "stance": int(self.stance),
            "animation_playing": self.animation_playing,
            "battery_voltage": round(self.battery_voltage, 3),
            "charging": self.charging,
            "streaming": self.streaming,
            "command_counts": dict(self.command_counts),
        }

    # =========================================================================================
    # Link (called by the transport)
    # =========================================================================================

    def open_link(self, link: ToyLink) -> None:
        """Accept a central's connection, or raise what the connect fails with."""
        if self.deep_asleep:
            raise TimeoutError(f"Simulated {self.model.display_name} {self.address} is in deep sleep")
        if self._link is not None:
            raise BleakError(f"Simulated {self.model.display_name} {self.address} is already connected")
        if (failure := self.faults.take_connect_failure(self.address)) is not None:
            raise failure
        state = _Link(link)
        state.grace_timer = self.clock.call_later(ANTI_DOS_GRACE, self._anti_dos_expired, state)
        self._link = state
        self.connect_count += 1

    def close_link(self, reason: str = "central disconnected", *, link: ToyLink | None = None) -> None:
        """Close the link because the central disconnected (``link`` names which connection, as on the BB-8)."""
        if self._link is None or (link is not None and self._link.link is not link):
            return
        state, self._link = self._link, None
        self._after_link_down(state, reason)

    def disconnect_now(self, reason: str = "simulated link loss") -> bool:
        """Drop the link from the toy's side, as a radio fault would; False if not connected."""
        return self._drop_link(reason)

    def write(self, char_uuid: str, data: bytes | bytearray, *, now: float | None = None) -> None:
        """Receive a GATT write from the central."""
        if self._link is None:
            raise BleakError(f"Simulated {self.model.display_name} {self.address} is not connected")
        uuid = char_uuid.lower()
        payload = bytes(data)
        self.writes.append((uuid, payload))
        if uuid == ANTI_DOS_CHAR:
            self.handshake_log.append(("anti_dos", payload))
            if payload == ANTI_DOS_UNLOCK:
                self._link.anti_dos = True
                if self._link.grace_timer is not None:
                    self._link.grace_timer.cancel()
                    self._link.grace_timer = None
            return
        if uuid != API_CHAR:
            return  # DFU characteristics take writes and do nothing here
        if self.faults.take_disconnect_on_write():
            self._drop_link("fault: link lost during a command write")
            raise BleakError(
                f"Simulated {self.model.display_name} {self.address} disconnected during the write"
            )
        link = self._link
        self._batching += 1
        try:
            for packet in link.reader.feed(payload):
                if self._link is not link:
                    break
                self._receive(packet)
        finally:
            self._batching -= 1
            self.garbage_bytes = link.reader.garbage
            self.bad_frames = link.reader.bad_frames
            self._flush()

    def read(self, char_uuid: str) -> bytes:
        """Answer a GATT read (the anti-DoS value echoes this connection; battery level in %)."""
        if self._link is None:
            raise BleakError(f"Simulated {self.model.display_name} {self.address} is not connected")
        uuid = char_uuid.lower()
        if uuid == ANTI_DOS_CHAR:
            return ANTI_DOS_UNLOCK if self._link.anti_dos else b""
        if uuid == BATTERY_LEVEL_CHAR:
            return bytes([self.battery_percentage])
        return b""

    # =========================================================================================
    # Test controls
    # =========================================================================================

    def set_charging(self, charging: bool) -> None:
        """Put the toy on (True) or take it off (False) its charger."""
        self.charging = charging

    def wake_by_charger(self) -> None:
        """Place the toy on its charger: it wakes from any sleep, deep sleep included."""
        self.charging = True
        self.deep_asleep = False
        self._wake("charger")

    def set_battery_voltage(self, volts: float) -> None:
        """Jump the battery to ``volts``."""
        self.battery_voltage = float(volts)

    def sleep_now(self) -> None:
        """Fall asleep as the inactivity timer would (did-sleep, then the link drops)."""
        self._enter_sleep("test asked")

    def trigger_collision(self, x_power: int = 200, y_power: int = 0) -> bool:
        """Bump into something; report it (18/12) if detection is armed and the bump exceeds a threshold."""
        if self.awake:
            self.speed = 0
            self.raw_motors = None
            self.motion.collide(self.clock.now(), (x_power * 8 / 4096, y_power * 8 / 4096, 0.0))
        config = self.collision_config
        if not self.awake or self._link is None or config is None or config.method == 0:
            return False
        now = self.clock.now()
        if now < self._collision_quiet_until:
            return False
        axis = (0x01 if x_power > config.x_threshold else 0) | (0x02 if y_power > config.y_threshold else 0)
        if not axis:
            return False
        self._collision_quiet_until = now + config.dead_time / 100
        self.collisions_sent += 1
        timestamp = int(now * 1000) & 0xFFFFFFFF
        data = struct.pack(
            ">3hB3hBL", x_power * 8, y_power * 8, 4096, axis, x_power, y_power, 0, 0, timestamp
        )
        self._send_async(Did.SENSOR, SensorCid.COLLISION_DETECTED, data)
        return True

    def inject_notification(self, data: bytes) -> None:
        """Send raw bytes as one notification (e.g. garbage)."""
        if self._link is None:
            raise BleakError(f"Simulated {self.model.display_name} {self.address} is not connected")
        self.notifications.append(bytes(data))
        self._link.link.deliver(API_CHAR, bytes(data), 0.0)

    # =========================================================================================
    # Dispatch
    # =========================================================================================

    def _receive(self, packet: V2Packet) -> None:
        if packet.is_response:
            self.command_counts["answer_from_central"] += 1
            return
        if not self.awake and packet.did != Did.POWER:
            self.requests.append(V2Request(packet, None, self.clock.now()))
            self.command_counts["ignored_asleep"] += 1
            return
        self.motion.advance_to(self.clock.now())
        result = self._dispatch(packet)
        self.requests.append(V2Request(packet, result.err, self.clock.now()))
        self.command_counts[f"{packet.did:02x}/{packet.cid:02x}"] += 1
        if packet.flags & Flags.IS_ACTIVITY and self.awake:
            self._arm_inactivity()
        wants_answer = bool(packet.flags & Flags.REQUESTS_RESPONSE) or (
            bool(packet.flags & Flags.REQUESTS_ONLY_ERROR_RESPONSE) and result.err != ErrorCode.SUCCESS
        )
        if wants_answer:
            self._answer(packet, result)
        if result.after is not None:
            result.after()

    def _dispatch(self, packet: V2Packet) -> _Result:
        model = self.model
        did, cid, tid = packet.did, packet.cid, packet.tid
        if tid is not None and tid not in model.targets:
            return _Result(ErrorCode.BAD_TID)
        if not model.has_device(did):
            return _Result(ErrorCode.BAD_DID)
        if not model.has(did, cid):
            return _Result(ErrorCode.BAD_CID)
        if model.needs_secondary(did, cid):
            if tid is None:
                return _Result(ErrorCode.TARGET_UNAVAILABLE)
            if tid != SECONDARY:
                return _Result(ErrorCode.BAD_TID)
        elif model.secondary_only and tid == SECONDARY:
            return _Result(ErrorCode.BAD_TID)  # a two-processor toy: this one lives on the primary
        return self._handlers[(did, cid)](packet.data)

    def _answer(self, request: V2Packet, result: _Result) -> None:
        if self._wake_notice_pending:
            self._send_wake_notice()
        flags = Flags.IS_RESPONSE | (request.flags & Flags.IS_ACTIVITY)
        tid = sid = None
        if request.sid is not None:
            flags |= Flags.HAS_TARGET
            tid = request.sid
        if request.tid is not None:
            flags |= Flags.HAS_SOURCE
            sid = request.tid
        answer = V2Packet(
            int(flags), request.did, request.cid, request.seq, result.data, tid, sid, int(result.err)
        )
        if self.faults.take_response_drop():
            self.sent_packets.append(answer)
            return
        self._send(answer, is_answer=True)

    # =========================================================================================
    # Sending
    # =========================================================================================

    def _send_async(self, did: int, cid: int, data: bytes = b"") -> None:
        if self._link is None:
            return
        self._send(V2Packet(int(Flags.IS_ACTIVITY), did, cid, ASYNC_SEQ, data), is_answer=False)

    def _send(self, packet: V2Packet, *, is_answer: bool) -> None:
        self.sent_packets.append(packet)
        self._outbox.append((packet, is_answer))
        if not self._batching:
            self._flush()

    def _flush(self) -> None:
        outbox, self._outbox = self._outbox, []
        if self._link is None or not outbox:
            return
        stream = b"".join(packet.encode() for packet, _ in outbox)
        delay = self.faults.response_delay if any(is_answer for _, is_answer in outbox) else 0.0
        size = self.model.notification_chunk
        for start in range(0, len(stream), size):
            chunk = self.faults.corrupt(stream[start : start + size])
            self.notifications.append(chunk)
            self._link.link.deliver(API_CHAR, chunk, delay)

    # =========================================================================================
    # Power
    # =========================================================================================

    def _deep_sleep(self, data: bytes) -> _Result:
        if len(data) > 1:
            return _LENGTH
        return _Result(after=lambda: self._enter_sleep("deep sleep command", deep=True))

    def _sleep(self, data: bytes) -> _Result:
        if data:
            return _LENGTH
        return _Result(after=lambda: self._enter_sleep("sleep command"))

    def _battery_voltage(self, data: bytes) -> _Result:
        if data:
            return _LENGTH
        return _Result(data=struct.pack(">H", round(self.battery_voltage * 100)))

    def _wake_command(self, data: bytes) -> _Result:
        if data:
            return _LENGTH
        if self.awake:
            return _Result()
        return _Result(after=lambda: self._wake("wake command"))

    def _battery_percentage(self, data: bytes) -> _Result:
        return _LENGTH if data else _Result(data=bytes([self.battery_percentage]))

    def _voltage_state(self, data: bytes) -> _Result:
        return _LENGTH if data else _Result(data=bytes([int(self.voltage_state)]))

    def _charger_state(self, data: bytes) -> _Result:
        return _LENGTH if data else _Result(data=bytes([int(self.charger_state)]))

    def _wake(self, reason: str) -> None:
        if self.awake:
            return
        self.awake = True
        self.deep_asleep = False
        self.motion.wake(self.clock.now())
        _LOGGER.debug("%s: awake (%s)", self.name, reason)
        self._arm_inactivity()
        if self.model.wake_notice and self._link is not None:
            self._wake_notice_pending = True
            self._wake_notice_timer = self.clock.call_later(WAKE_NOTICE_DELAY, self._on_wake_notice_due)

    def _on_wake_notice_due(self) -> None:
        self._wake_notice_timer = None
        if self._wake_notice_pending:
            self._send_wake_notice()

    def _send_wake_notice(self) -> None:
        self._wake_notice_pending = False
        if self._wake_notice_timer is not None:
            self._wake_notice_timer.cancel()
            self._wake_notice_timer = None
        if self._link is not None and self.awake:
            self.wake_notices_sent += 1
            self._send_async(Did.POWER, PowerCid.WAKE_NOTICE)

    def _enter_sleep(self, reason: str, *, deep: bool = False) -> None:
        if not self.awake and not deep:
            return
        if self.awake:
            self._send_async(Did.POWER, PowerCid.DID_SLEEP)
            self._flush()
            self.motion.sleep(self.clock.now())
        self.awake = False
        self.deep_asleep = deep
        self.sleep_count += 1
        _LOGGER.debug("%s: asleep (%s)", self.name, reason)
        for timer in (
            self._will_sleep_timer,
            self._sleep_timer,
            self._animation_timer,
            self._text_timer,
            self._stream_timer,
            self._wake_notice_timer,
        ):
            if timer is not None:
                timer.cancel()
        self._will_sleep_timer = self._sleep_timer = self._animation_timer = None
        self._text_timer = self._stream_timer = self._wake_notice_timer = None
        self._wake_notice_pending = False
        self.speed = 0
        self.raw_motors = None
        self.animation_playing = None
        self.collision_config = None
        self.stream_interval_ms = self.stream_mask = self.stream_extended_mask = 0
        self._drop_link(f"asleep: {reason}")

    def _arm_inactivity(self) -> None:
        for timer in (self._will_sleep_timer, self._sleep_timer):
            if timer is not None:
                timer.cancel()
        self._will_sleep_timer = self.clock.call_later(
            self.inactivity_timeout - WILL_SLEEP_LEAD, self._on_will_sleep
        )
        self._sleep_timer = self.clock.call_later(self.inactivity_timeout, self._enter_sleep, "inactivity")

    def _on_will_sleep(self) -> None:
        self._will_sleep_timer = None
        if self.awake and self._link is not None:
            self.will_sleep_sent += 1
            self._send_async(Did.POWER, PowerCid.WILL_SLEEP)

    def _anti_dos_expired(self, state: _Link) -> None:
        state.grace_timer = None
        if self._link is not state or state.anti_dos:
            return
        if self.awake:
            self._enter_sleep("no anti-DoS unlock")
        else:
            self._drop_link("no anti-DoS unlock")

    def _drop_link(self, reason: str) -> bool:
        state, self._link = self._link, None
        if state is None:
            return False
        state.link.lost(reason)
        self._after_link_down(state, reason)
        return True

    def _after_link_down(self, state: _Link, reason: str) -> None:
        if state.grace_timer is not None:
            state.grace_timer.cancel()
            state.grace_timer = None
        self._outbox.clear()
        self.disconnect_count += 1
        self.last_disconnect_reason = reason
        if self._stream_timer is not None:
            self._stream_timer.cancel()
            self._stream_timer = None
        _LOGGER.debug("%s: disconnected (%s)", self.name, reason)

    # =========================================================================================
    # Drive
    # =========================================================================================

    def _raw_motors(self, data: bytes) -> _Result:
        if len(data) != 4:
            return _LENGTH
        if data[0] > 2 or data[2] > 2:
            return _PARAM
        self.raw_motors = (data[0], data[1], data[2], data[3])
        self.speed = 0
        self.motion.coast()
        return _Result()

    def _reset_yaw(self, data: bytes) -> _Result:
        if data:
            return _LENGTH
        self.yaw_resets += 1
        self.heading = 0
        self.motion.set_heading(0)
        return _Result()

    def _drive(self, data: bytes) -> _Result:
        if len(data) != 4:
            return _LENGTH
        speed, heading, flags = struct.unpack(">BHB", data)
        if heading > 359 or flags > 0x3F:
            return _PARAM
        self.speed, self.heading, self.drive_flags = speed, heading, flags
        self.raw_motors = None
        at_rest = self.motion.speed == 0.0
        self.motion.drive(speed, heading, go=True)
        if at_rest:
            # A v2 toy at rest faces the new heading at once, then rolls (see the docstring).
            self.motion.facing = self.motion.target_facing
        return _Result()

    def _stabilization(self, data: bytes) -> _Result:
        if len(data) != 1:
            return _LENGTH
        if data[0] > 5:
            return _PARAM
        self.stabilization = data[0]
        return _Result()

    # =========================================================================================
    # Animatronics
    # =========================================================================================

    def _play_animation(self, data: bytes) -> _Result:
        if len(data) != 2:
            return _LENGTH
        (animation,) = struct.unpack(">H", data)
        if animation not in self.model.animations:
            return _PARAM
        if self._animation_timer is not None:
            self._animation_timer.cancel()
        self.animation_playing = animation
        self.animations_played.append(animation)
        self._animation_timer = self.clock.call_later(ANIMATION_SECONDS, self._animation_done, animation)
        return _Result()

    def _animation_done(self, animation: int) -> None:
        self._animation_timer = None
        self.animation_playing = None
        self.animations_completed.append(animation)
        self._send_async(Did.ANIMATRONIC, AnimatronicCid.ANIMATION_COMPLETE, struct.pack(">H", animation))

    def _stop_animation(self, data: bytes) -> _Result:
        if data:
            return _LENGTH
        if self._animation_timer is not None:
            self._animation_timer.cancel()
            self._animation_timer = None
        self.animation_playing = None
        return _Result()

    def _leg_action(self, data: bytes) -> _Result:
        if len(data) != 1:
            return _LENGTH
        if data[0] > Stance.WADDLE:
            return _PARAM
        action = Stance(data[0])
        if action == Stance.STOP:
            if self.stance == Stance.WADDLE:
                self.stance = Stance.BIPOD
        else:
            self.stance = action
        return _Result()

    def _set_dome(self, data: bytes) -> _Result:
        if len(data) != 4:
            return _LENGTH
        (angle,) = struct.unpack(">f", data)
        low, high = DOME_RANGE
        if math.isnan(angle) or not low <= angle <= high:
            return _PARAM
        self.dome_angle = angle
        return _Result()

    def _get_dome(self, data: bytes) -> _Result:
        return _LENGTH if data else _Result(data=struct.pack(">f", self.dome_angle))

    # =========================================================================================
    # Sensors
    # =========================================================================================

    def _streaming_mask(self, data: bytes) -> _Result:
        if len(data) != 7:
            return _LENGTH
        interval, count, mask = struct.unpack(">HBI", data)
        self.stream_interval_ms, self.stream_count, self.stream_mask = interval, count, mask
        return _Result(after=self._restart_stream)

    def _extended_mask(self, data: bytes) -> _Result:
        if len(data) != 4:
            return _LENGTH
        (self.stream_extended_mask,) = struct.unpack(">I", data)
        return _Result()

    def _restart_stream(self) -> None:
        if self._stream_timer is not None:
            self._stream_timer.cancel()
            self._stream_timer = None
        if self.stream_interval_ms and (self.stream_mask or self.stream_extended_mask):
            self._stream_remaining = self.stream_count
            self._stream_timer = self.clock.call_later(self.stream_interval_ms / 1000, self._stream_tick)

    def _stream_tick(self) -> None:
        self._stream_timer = None
        if not self.awake or self._link is None:
            return
        sample = self.motion.sample(self.clock.now())
        values = [
            self._sensor_value(sample, bit, extended=False) for bit in _bits_descending(self.stream_mask)
        ]
        values += [
            self._sensor_value(sample, bit, extended=True)
            for bit in _bits_descending(self.stream_extended_mask)
        ]
        self.stream_packets_sent += 1
        self._send_async(Did.SENSOR, SensorCid.STREAMING_DATA, struct.pack(f">{len(values)}f", *values))
        if self._stream_remaining:
            self._stream_remaining -= 1
            if not self._stream_remaining:
                return
        self._stream_timer = self.clock.call_later(self.stream_interval_ms / 1000, self._stream_tick)

    def _sensor_value(self, sample: SensorSample, bit: int, *, extended: bool) -> float:
        """Return one mask bit's reading (spherov2's bit tables) from the motion model, in its units."""
        if extended:
            gyro = dict(zip(_GYRO_BITS, sample.gyro, strict=True))
            if bit == 0x4000000:  # an R2 unit's head angle
                return self.dome_angle
            return gyro.get(bit, 0.0)  # the ambient light (BOLT) reads 0: a dark room
        w, qx, qy, qz = sample.quaternion
        (ax, ay, az), (vx, vy) = sample.accel, sample.velocity
        x, y = sample.odometer
        values = {
            0x2000000: qx,
            0x1000000: qy,
            0x800000: qz,
            0x400000: w,
            0x40000: sample.pitch,
            0x20000: sample.roll,
            0x10000: sample.yaw,
            0x8000: ax,
            0x4000: ay,
            0x2000: az,
            0x200: math.sqrt(ax * ax + ay * ay + az * az),
            0x40: x / CM_PER_M,
            0x20: y / CM_PER_M,
            0x10: vx / CM_PER_M,
            0x8: vy / CM_PER_M,
            0x4: math.hypot(vx, vy) / CM_PER_M,
            0x2: self.clock.now() * 1000,
        }
        return values.get(bit, 0.0)

    def _reset_locator(self, data: bytes) -> _Result:
        """18/13: the locator's origin moves to where the toy is; its axes stay heading 0's."""
        if data:
            return _LENGTH
        self.motion.configure_locator(0, 0, 0, 0)
        return _Result()

    def _gyro_max_notify(self, data: bytes) -> _Result:
        if len(data) != 1:
            return _LENGTH
        if data[0] > 1:
            return _PARAM
        self.gyro_max_notify = bool(data[0])
        return _Result()

    def _locator_flags(self, data: bytes) -> _Result:
        if len(data) != 1:
            return _LENGTH
        if data[0] > 1:
            return _PARAM
        self.locator_auto_calibrate = bool(data[0])
        return _Result()

    def _configure_collisions(self, data: bytes) -> _Result:
        if len(data) != 6:
            return _LENGTH
        if data[0] > 3:
            return _PARAM
        self.collision_config = V2CollisionConfig(*data)
        self._collision_quiet_until = 0.0
        return _Result()

    # =========================================================================================
    # IO: sounds, LEDs, matrix
    # =========================================================================================

    def _play_audio(self, data: bytes) -> _Result:
        if len(data) != 3:
            return _LENGTH
        sound, mode = struct.unpack(">HB", data)
        if mode > 2:
            return _PARAM
        self.sounds_played.append((sound, mode))
        return _Result()

    def _audio_volume(self, data: bytes) -> _Result:
        if len(data) != 1:
            return _LENGTH
        self.audio_volume = data[0]
        return _Result()

    def _set_leds(self, data: bytes, mask_size: int) -> _Result:
        if len(data) < mask_size:
            return _LENGTH
        mask = int.from_bytes(data[:mask_size], "big")
        values = data[mask_size:]
        bits = [bit for bit in range(mask_size * 8) if mask >> bit & 1]
        if len(values) != len(bits):
            return _LENGTH
        by_bit = {bit: name for name, bit in self.model.leds.items()}
        if any(bit not in by_bit for bit in bits):
            return _PARAM
        for bit, value in zip(bits, values, strict=True):
            self.leds[by_bit[bit]] = value
        return _Result()

    def _matrix_pixel(self, data: bytes) -> _Result:
        if len(data) != 5:
            return _LENGTH
        x, y, r, g, b = data
        if x >= MATRIX_SIZE or y >= MATRIX_SIZE:
            return _PARAM
        self.matrix[y][x] = (r, g, b)
        return _Result()

    def _matrix_one_colour(self, data: bytes) -> _Result:
        if len(data) != 3:
            return _LENGTH
        colour = (data[0], data[1], data[2])
        self.matrix = [[colour] * MATRIX_SIZE for _ in range(MATRIX_SIZE)]
        return _Result()

    def _matrix_rotation(self, data: bytes) -> _Result:
        if len(data) != 1:
            return _LENGTH
        if data[0] > 3:
            return _PARAM
        self.matrix_rotation = data[0]
        return _Result()

    def _matrix_shape(self, data: bytes, *, fill: bool) -> _Result:
        if len(data) != 7:
            return _LENGTH
        x1, y1, x2, y2, r, g, b = data
        if max(x1, y1, x2, y2) >= MATRIX_SIZE:
            return _PARAM
        colour = (r, g, b)
        if fill:
            for y in range(min(y1, y2), max(y1, y2) + 1):
                for x in range(min(x1, x2), max(x1, x2) + 1):
                    self.matrix[y][x] = colour
        else:
            steps = max(abs(x2 - x1), abs(y2 - y1))
            for step in range(steps + 1):
                t = step / steps if steps else 0.0
                self.matrix[round(y1 + (y2 - y1) * t)][round(x1 + (x2 - x1) * t)] = colour
        return _Result()

    def _matrix_text(self, data: bytes) -> _Result:
        if len(data) < 6 or data[-1] != 0:
            return _LENGTH
        r, g, b, speed, repeat = data[:5]
        if repeat > 1:
            return _PARAM
        text = data[5:-1].decode("latin-1")
        self.matrix_text = (text, (r, g, b), speed, bool(repeat))
        if self._text_timer is not None:
            self._text_timer.cancel()
            self._text_timer = None
        if not repeat:
            self._text_timer = self.clock.call_later(
                max(1, len(text)) * TEXT_SECONDS_PER_CHARACTER, self._text_done
            )
        return _Result()

    def _text_done(self) -> None:
        self._text_timer = None
        self._send_async(Did.IO, IoCid.MATRIX_TEXT_SCROLLING_DONE, bytes([0]))


def _bits_descending(mask: int) -> list[int]:
    return [1 << bit for bit in range(31, -1, -1) if mask >> bit & 1]


__all__ = ["PRIMARY", "SECONDARY", "SimulatedV2Toy", "V2CollisionConfig", "V2Request"]
