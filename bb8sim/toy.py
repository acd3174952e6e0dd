"""The simulated Sphero BB-8: GATT writes in, notifications out, state a test can read.

:class:`SimulatedBB8` knows nothing about bleak clients or event loops. A transport (the bleak
backend in :mod:`bb8sim.backend`, or a test's recording link) opens a link with
:meth:`SimulatedBB8.open_link`, hands it GATT writes with :meth:`SimulatedBB8.write`, and receives
notification chunks through the :class:`ToyLink` it passed in. Toy time comes from a
:class:`~bb8sim.clock.SimClock`. The toy is single-threaded: drive it (and advance its clock)
from the thread that runs its transport, i.e. the event loop when the bleak backend is in use.

The request parser and the framing of everything the toy sends are the simulator's own
(:mod:`bb8sim.protocol`, from the spec and real captures); they share no code with the
integration's codec, so a bug in one cannot hide in the other, and every packet the toy sends is
checked in the tests to parse with spherov2's parser, an implementation independent of both.

Simulator assumptions (not measured on a BB-8, chosen to be plausible and documented here):

* Battery: two Li-ion cells, 8.4 V full. Power state 1 charging while on the charger, else
  2 ok at or above the low trip point (default 7.40 V), 3 low below it, 4 critical below the
  critical trip point (default 7.00 V). Drain 0.15 mV/s awake and idle, up to 0.8 mV/s more at
  full speed; charge 0.5 mV/s up to 8.4 V; nothing while asleep off the charger.
* Voltage trip points (0x23) are accepted from 6.00 V to 8.40 V with critical below low.
* The handshake is per connection and in order: the radio service ignores the wake write until
  anti-DoS has been unlocked on that connection; commands are ignored (no response) until both
  happened. TX power is recorded, not enforced.
* Deep sleep (sleep with wake-up 0xFFFF) is accepted, as the spec says the toy does; from it
  only :meth:`SimulatedBB8.wake_by_charger` wakes the toy and connects time out meanwhile.
  ``deep_sleep_requests`` counts it so tests can assert it never happens.
* Sleep forgets LED colour (back to the persisted colour, white by default), tail light,
  stabilization (on), heading, motion, rotation rate, collision detection, data streaming,
  power notifications and temporary options. Inactivity timeout, voltage trip points and motion
  timeout are kept.
* A partial command packet is discarded when the next write comes more than 1 s (link time)
  later; pacing (when enabled) is measured between complete packets, from the last accepted one.
* Rolling mode 2 (spherov2's "calibrate", the spec's fast-turn "go") is recorded as a roll with
  the given speed; spherov2 sends it with speed 0 to aim.
* Data streaming (0x11) streams sensor packets (:mod:`bb8sim.streaming`) from a motion model
  (:mod:`bb8sim.motion`); both modules say which behaviour comes from the spec, which from a
  capture and which is assumed. The stream stops when the link drops and when the toy sleeps;
  a packet that would not fit the async packet's 16-bit length is refused with 0x07.
* A bump (:meth:`SimulatedBB8.trigger_collision`) stops the toy whether or not collision
  detection is armed; armed, it is also reported.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
import contextlib
from dataclasses import dataclass
import logging
import struct
import time
from typing import Final, Protocol

from bleak.exc import BleakError

from .clock import SimClock, SimTimerHandle
from .faults import FaultPlan
from .motion import MotionModel, wrap180
from .protocol import (
    ADVERTISED_TX_POWER,
    ANTI_DOS_CHAR,
    ANTI_DOS_UNLOCK,
    COMMANDS_CHAR,
    DEEP_SLEEP_INTERVAL,
    DEFAULT_INACTIVITY_TIMEOUT,
    MANUFACTURER_ID,
    MANUFACTURER_PAYLOAD,
    MAX_CHUNK,
    MIN_INACTIVITY_TIMEOUT,
    RESPONSE_CHAR,
    SERIAL_NUMBER_CHAR,
    SOP1,
    SOP2_ANSWER,
    SOP2_COMMAND_MIN,
    SOP2_RESET_TIMEOUT,
    STATIC_READ_VALUES,
    TX_POWER_CHAR,
    WAKE_CHAR,
    WAKE_VALUE,
    AsyncId,
    CoreCommand,
    DeviceId,
    Mrsp,
    PowerState,
    RollMode,
    SpheroCommand,
    build_async,
    build_response,
    checksum,
)
from .streaming import MASK2_VALUE_BITS, MASK_VALUE_BITS, SensorStream, StreamSettings
from .v1models import V1_MODELS, V1Model

_LOGGER = logging.getLogger(__name__)

# -- framing -----------------------------------------------------------------------------------
HEADER_LENGTH: Final = 6  # FF SOP2 DID CID SEQ DLEN
FRAGMENT_TIMEOUT: Final = 1.0  # seconds of link time a partial packet waits for its rest

MRSP_OK: Final = int(Mrsp.OK)
MRSP_BAD_CHECKSUM: Final = int(Mrsp.BAD_CHECKSUM)
MRSP_UNKNOWN_CID: Final = int(Mrsp.UNKNOWN_CID)
MRSP_BAD_PARAMETER: Final = int(Mrsp.BAD_PARAMETER)
MRSP_UNKNOWN_DID: Final = int(Mrsp.UNKNOWN_DID)

# -- timing -------------------------------------------------------------------------------------
WILL_SLEEP_LEAD: Final = 10.0  # the will-sleep warning comes this long before an inactivity sleep
POWER_NOTIFICATION_INTERVAL: Final = 10.0
BATTERY_TICK: Final = 1.0

# -- battery assumptions (see the module docstring) ----------------------------------------------
FULL_VOLTAGE: Final = 8.4
FLOOR_VOLTAGE: Final = 6.0
DEFAULT_LOW_TRIP_CENTIVOLTS: Final = 740
DEFAULT_CRITICAL_TRIP_CENTIVOLTS: Final = 700
TRIP_POINT_RANGE: Final = (600, 840)
IDLE_DRAIN_PER_SECOND: Final = 0.00015
FULL_SPEED_EXTRA_DRAIN_PER_SECOND: Final = 0.0008
CHARGE_PER_SECOND: Final = 0.0005

# -- power-on defaults (assumptions) ---------------------------------------------------------------
DEFAULT_MAIN_LED: Final = (255, 255, 255)
DEFAULT_ROTATION_RATE: Final = 200
DEFAULT_MOTION_TIMEOUT_MS: Final = 2000

# Placeholder identity (record version 1 = the 8-byte layout spherov2 unpacks with '>8B').
VERSIONS_RECORD: Final = 1
DEFAULT_MODEL: Final = 0x30
DEFAULT_HARDWARE: Final = 0x01
DEFAULT_BOOTLOADER: Final = 0x41  # nibbles: 4.1
DEFAULT_ORB_BASIC: Final = 0x22  # 2.2
DEFAULT_MACRO_EXECUTIVE: Final = 0x35  # 3.5


@dataclass(frozen=True, slots=True)
class Advertisement:
    """The fields of a BB-8's advertisement: no service UUID, so centrals match on the name."""

    local_name: str
    manufacturer_data: dict[int, bytes]
    tx_power: int
    service_uuids: list[str]


class ToyLink(Protocol):
    """What the toy needs from whoever carries its notifications (the bleak backend, or a test)."""

    def deliver(self, char_uuid: str, chunk: bytes, delay: float) -> None:
        """Carry one notification chunk (<= 20 bytes), after ``delay`` seconds of the event loop's clock, in order."""

    def lost(self, reason: str) -> None:
        """Report that the toy dropped the link (sleep or a fault), after every chunk sent before."""


@dataclass(frozen=True, slots=True)
class CollisionConfig:
    """Configure collision detection (0x12) in the spec's field order."""

    method: int
    x_threshold: int
    x_speed: int
    y_threshold: int
    y_speed: int
    dead_time: int  # in 10 ms units

    @property
    def enabled(self) -> bool:
        """Whether reports are armed (method 0 turns the service off)."""
        return self.method != 0


@dataclass(frozen=True, slots=True)
class DataStreamingConfig:
    """Set data streaming (0x11): rate divisor, frames per packet, masks, packet count."""

    divisor: int
    frames_per_packet: int
    mask: int
    count: int
    mask2: int | None


@dataclass(frozen=True, slots=True)
class LocatorConfig:
    """Configure locator (0x13)."""

    flags: int
    x: int
    y: int
    yaw_tare: int


@dataclass(frozen=True, slots=True)
class SelfLevelRequest:
    """Self level (0x09): option bits, angle limit, timeout, true time."""

    options: int
    angle_limit: int
    timeout: int
    true_time: int


class CommandRecord(tuple[int, int, bytes]):
    """One complete command packet the toy read (good checksum), and what it answered.

    It is the tuple ``(did, cid, data)`` (so tests can compare and unpack it as one), with the
    sequence number, SOP2 flags, the answer code and the simulated time as attributes.
    """

    seq: int
    answer: bool
    reset_timeout: bool
    mrsp: int
    at: float

    def __new__(
        cls,
        did: int,
        cid: int,
        data: bytes,
        *,
        seq: int = 0,
        answer: bool = True,
        reset_timeout: bool = True,
        mrsp: int = 0,
        at: float = 0.0,
    ) -> CommandRecord:
        """Build the record; only ``did``, ``cid`` and ``data`` take part in equality."""
        record = super().__new__(cls, (did, cid, data))
        record.seq = seq
        record.answer = answer
        record.reset_timeout = reset_timeout
        record.mrsp = mrsp
        record.at = at
        return record

    @property
    def did(self) -> int:
        """Device id."""
        return self[0]

    @property
    def cid(self) -> int:
        """Command id."""
        return self[1]

    @property
    def data(self) -> bytes:
        """Payload (without the checksum)."""
        return self[2]

    @property
    def kind(self) -> str:
        """The command's name, e.g. ``set_main_led``; ``unknown_02_7f`` if not known."""
        return command_kind(self.did, self.cid)

    def __repr__(self) -> str:
        """Readable in failing test output."""
        return (
            f"CommandRecord({self.kind}, data={self.data.hex()}, seq={self.seq}, "
            f"mrsp=0x{self.mrsp:02x}, at={self.at:.3f})"
        )


def command_kind(did: int, cid: int) -> str:
    """Name a command by its DID and CID the way the integration's codec names them."""
    try:
        if did == DeviceId.CORE:
            return CoreCommand(cid).name.lower()
        if did == DeviceId.SPHERO:
            return SpheroCommand(cid).name.lower()
    except ValueError:
        pass
    return f"unknown_{did:02x}_{cid:02x}"


def default_name(address: str) -> str:
    """Return the name a BB-8 advertises: ``BB-`` and the last four hex digits of its address."""
    digits = "".join(ch for ch in address.upper() if ch in "0123456789ABCDEF")
    return f"BB-{digits[-4:]}"


@dataclass(slots=True)
class _Outcome:
    mrsp: int = MRSP_OK
    data: bytes = b""
    after: Callable[[], None] | None = None


_BAD = _Outcome(MRSP_BAD_PARAMETER)


class _LinkState:
    """Per-connection state: the handshake and the reassembly buffer."""

    __slots__ = ("anti_dos", "buffer", "last_accepted_at", "last_write_at", "link", "tx_power", "woken")

    def __init__(self, link: ToyLink) -> None:
        self.link = link
        self.anti_dos = False
        self.woken = False
        self.tx_power: bytes | None = None
        self.buffer = bytearray()
        self.last_write_at: float | None = None
        self.last_accepted_at: float | None = None


class SimulatedBB8:
    """A protocol-faithful Sphero BB-8 at the level of GATT writes and notifications.

    Read the attributes freely in tests; change state only through the methods (or the
    protocol), so timers and notifications stay consistent.
    """

    def __init__(
        self,
        address: str,
        *,
        name: str | None = None,
        clock: SimClock | None = None,
        seed: int = 0,
        faults: FaultPlan | None = None,
        firmware: tuple[int, int] = (4, 69),
        model: int = DEFAULT_MODEL,
        hardware: int = DEFAULT_HARDWARE,
        battery_voltage: float = 8.0,
        charging: bool = False,
        awake: bool = False,
        power_on_led: tuple[int, int, int] = DEFAULT_MAIN_LED,
        toy_model: str | V1Model = "bb8",
    ) -> None:
        """Create a toy that is asleep (unless ``awake``) and not connected.

        ``toy_model`` plays a v1 sibling (``sprk2``, ``ollie``: :mod:`bb8sim.v1models`): its name
        prefix by default; the protocol is the same.

        ``seed`` seeds the fault plan created when ``faults`` is not given; ``clock`` defaults to
        a private :class:`SimClock` (share one with the test to move toy time).
        """
        self.address = address.upper()
        self.toy_model = V1_MODELS[toy_model] if isinstance(toy_model, str) else toy_model
        self.name = name if name is not None else self.toy_model.default_name(address)
        self.clock = clock if clock is not None else SimClock()
        self.faults = faults if faults is not None else FaultPlan(seed=seed)
        self.firmware = firmware
        self.model = model
        self.hardware = hardware

        # Record of everything that reached the toy, in order.
        self.writes: list[tuple[str, bytes]] = []
        self.handshake_log: list[tuple[str, bytes]] = []
        self.commands_received: list[CommandRecord] = []
        self._link_first_command = 0
        self.command_counts: Counter[str] = Counter()
        self.command_writes = 0
        self.ignored_writes = 0
        self.garbage_bytes = 0
        # Everything the toy sent: whole packets before faults, and the chunks handed to the link.
        self.sent_packets: list[bytes] = []
        self.notifications: list[bytes] = []

        # Link bookkeeping.
        self._link: _LinkState | None = None
        self.connect_count = 0
        self.disconnect_count = 0
        self.last_disconnect_reason: str | None = None

        # Sleep.
        self.awake = False
        self.deep_asleep = False
        self.awake_since: float | None = None
        self.sleep_count = 0
        self.will_sleep_sent = 0
        self.sleep_requests: list[tuple[int, int, int]] = []
        self.deep_sleep_requests = 0
        self.inactivity_timeout = DEFAULT_INACTIVITY_TIMEOUT
        self._will_sleep_timer: SimTimerHandle | None = None
        self._sleep_timer: SimTimerHandle | None = None
        self._auto_wake_timer: SimTimerHandle | None = None

        # Battery.
        self.battery_voltage = float(battery_voltage)
        self.charging = charging
        self.charge_count = 0
        self._last_charge_end = self.clock.now()
        self.low_trip_centivolts = DEFAULT_LOW_TRIP_CENTIVOLTS
        self.critical_trip_centivolts = DEFAULT_CRITICAL_TRIP_CENTIVOLTS
        self._battery_updated_at = self.clock.now()
        self._battery_timer: SimTimerHandle | None = None
        self.power_state = self._compute_power_state()
        self.power_notifications_enabled = False
        self.power_notifications_sent = 0
        self._power_timer: SimTimerHandle | None = None

        # Settings kept across sleep.
        self.motion_timeout_ms = DEFAULT_MOTION_TIMEOUT_MS
        self.persisted_led = power_on_led
        self.persist_writes = 0

        # Volatile state (forgotten on sleep).
        self.main_led: tuple[int, int, int] = power_on_led
        self.back_led = 0
        self.stabilization = True
        self.heading = 0
        self.speed = 0
        self.roll_mode = RollMode.STOP
        self.reverse = False
        self.raw_motors: tuple[int, int, int, int] | None = None
        self.rotation_rate = DEFAULT_ROTATION_RATE
        self.collision_config: CollisionConfig | None = None
        self.data_streaming: DataStreamingConfig | None = None
        self.locator: LocatorConfig | None = None
        self.temporary_options = 0
        self.self_level_requests: list[SelfLevelRequest] = []
        self.collisions_sent = 0
        self._collision_quiet_until = 0.0

        # The body and its sensors: position, speed, lean, and the stream that reports them.
        self.motion = MotionModel(self.clock.now())
        self._stream = SensorStream(self.clock, self.motion.sample, self._send_sensor_packet)

        self._handlers: dict[tuple[int, int], Callable[[bytes], _Outcome]] = {
            (DeviceId.CORE, CoreCommand.PING): self._cmd_ping,
            (DeviceId.CORE, CoreCommand.GET_VERSIONS): self._cmd_versions,
            (DeviceId.CORE, CoreCommand.GET_POWER_STATE): self._cmd_power_state,
            (DeviceId.CORE, CoreCommand.SET_POWER_NOTIFICATIONS): self._cmd_power_notifications,
            (DeviceId.CORE, CoreCommand.SLEEP): self._cmd_sleep,
            (DeviceId.CORE, CoreCommand.SET_VOLTAGE_TRIP_POINTS): self._cmd_voltage_trip_points,
            (DeviceId.CORE, CoreCommand.SET_INACTIVITY_TIMEOUT): self._cmd_inactivity_timeout,
            (DeviceId.SPHERO, SpheroCommand.SET_HEADING): self._cmd_heading,
            (DeviceId.SPHERO, SpheroCommand.SET_STABILIZATION): self._cmd_stabilization,
            (DeviceId.SPHERO, SpheroCommand.SET_ROTATION_RATE): self._cmd_rotation_rate,
            (DeviceId.SPHERO, SpheroCommand.SELF_LEVEL): self._cmd_self_level,
            (DeviceId.SPHERO, SpheroCommand.SET_DATA_STREAMING): self._cmd_data_streaming,
            (DeviceId.SPHERO, SpheroCommand.CONFIGURE_COLLISION_DETECTION): self._cmd_collision,
            (DeviceId.SPHERO, SpheroCommand.CONFIGURE_LOCATOR): self._cmd_locator,
            (DeviceId.SPHERO, SpheroCommand.SET_MAIN_LED): self._cmd_main_led,
            (DeviceId.SPHERO, SpheroCommand.SET_BACK_LED): self._cmd_back_led,
            (DeviceId.SPHERO, SpheroCommand.ROLL): self._cmd_roll,
            (DeviceId.SPHERO, SpheroCommand.SET_RAW_MOTORS): self._cmd_raw_motors,
            (DeviceId.SPHERO, SpheroCommand.SET_MOTION_TIMEOUT): self._cmd_motion_timeout,
            (DeviceId.SPHERO, SpheroCommand.SET_TEMPORARY_OPTIONS): self._cmd_temporary_options,
        }

        if charging:
            self._start_charging()
        if awake:
            self._wake("created awake")

    def __repr__(self) -> str:
        """Name, address and the two states people ask about first."""
        state = "awake" if self.awake else ("deep asleep" if self.deep_asleep else "asleep")
        link = "connected" if self.connected else "not connected"
        return f"<SimulatedBB8 {self.name} {self.address} {state}, {link}>"

    # =========================================================================================
    # Observable state
    # =========================================================================================

    @property
    def connected(self) -> bool:
        """Whether a central holds the link."""
        return self._link is not None

    @property
    def commands_this_link(self) -> list[CommandRecord]:
        """The commands read since the latest connection opened (all of them while it lasts)."""
        return self.commands_received[self._link_first_command :]

    @property
    def asleep(self) -> bool:
        """The opposite of :attr:`awake`."""
        return not self.awake

    @property
    def anti_dos_unlocked(self) -> bool:
        """Whether this connection wrote the anti-DoS unlock."""
        return self._link is not None and self._link.anti_dos

    @property
    def handshake_complete(self) -> bool:
        """Whether this connection unlocked anti-DoS and wrote wake, so commands are read."""
        return self._link is not None and self._link.anti_dos and self._link.woken

    @property
    def tx_power(self) -> bytes | None:
        """What this connection wrote to the TX power characteristic."""
        return None if self._link is None else self._link.tx_power

    @property
    def stop_on_disconnect(self) -> bool:
        """Temporary option bit 0 (the spec's layout): stop the motors when the link drops."""
        return bool(self.temporary_options & 0x01)

    @property
    def rolling(self) -> bool:
        """Whether the motors are driving."""
        if self.raw_motors is not None:
            left_mode, left_power, right_mode, right_power = self.raw_motors
            return (left_mode in (1, 2) and left_power > 0) or (right_mode in (1, 2) and right_power > 0)
        return self.speed > 0 and self.roll_mode != RollMode.STOP

    @property
    def collision_detection_enabled(self) -> bool:
        """Whether collision reports are armed."""
        return self.collision_config is not None and self.collision_config.enabled

    @property
    def battery_centivolts(self) -> int:
        """Battery voltage as the toy reports it, in 1/100 V."""
        self._update_battery()
        return round(self.battery_voltage * 100)

    @property
    def seconds_since_charge(self) -> int:
        """Seconds since the toy last left its charger (0 while charging), capped to 16 bits."""
        if self.charging:
            return 0
        return min(0xFFFF, int(self.clock.now() - self._last_charge_end))

    @property
    def dropped_for_pacing(self) -> int:
        """Commands dropped because they came sooner than the pacing interval."""
        return self.faults.stats["dropped_for_pacing"]

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
        """What the locator would report now, cm in its own frame (unrounded)."""
        return self.motion.state_at(self.clock.now()).locator_position

    @property
    def streaming(self) -> bool:
        """Whether sensor stream packets are still to come."""
        return self._stream.running

    @property
    def stream_frames_sent(self) -> int:
        """Sensor frames sent since the toy was created."""
        return self._stream.frames_sent

    @property
    def stream_packets_sent(self) -> int:
        """Sensor stream packets (async 0x03) sent since the toy was created."""
        return self._stream.packets_sent

    @property
    def advertisement(self) -> Advertisement:
        """What the toy advertises, as a real BB-8's scan record shows it (tests/captures/bb8_gatt.py)."""
        return Advertisement(
            local_name=self.name,
            manufacturer_data={MANUFACTURER_ID: MANUFACTURER_PAYLOAD},
            tx_power=ADVERTISED_TX_POWER,
            service_uuids=[],
        )

    def snapshot(self) -> dict[str, object]:
        """Plain-data view of the toy, for developer-mode logs and failing test output."""
        return {
            "name": self.name,
            "address": self.address,
            "awake": self.awake,
            "deep_asleep": self.deep_asleep,
            "connected": self.connected,
            "handshake_complete": self.handshake_complete,
            "main_led": self.main_led,
            "back_led": self.back_led,
            "stabilization": self.stabilization,
            "heading": self.heading,
            "speed": self.speed,
            "roll_mode": int(self.roll_mode),
            "battery_voltage": round(self.battery_voltage, 3),
            "power_state": int(self.power_state),
            "charging": self.charging,
            "power_notifications_enabled": self.power_notifications_enabled,
            "collision_config": self.collision_config,
            "position_cm": tuple(round(value, 1) for value in self.position),
            "true_yaw": round(self.true_yaw, 1),
            "true_speed_cm_s": round(self.true_speed, 1),
            "distance_travelled_cm": round(self.distance_travelled, 1),
            "streaming": self.streaming,
            "stream_frames_sent": self.stream_frames_sent,
            "temporary_options": self.temporary_options,
            "inactivity_timeout": self.inactivity_timeout,
            "command_counts": dict(self.command_counts),
            "faults": dict(self.faults.stats),
        }

    # =========================================================================================
    # Link (called by the transport)
    # =========================================================================================

    def open_link(self, link: ToyLink) -> None:
        """Accept a central's connection, or raise what the connect fails with."""
        if self.deep_asleep:
            raise TimeoutError(f"Simulated BB-8 {self.address} is in deep sleep and does not answer")
        if self._link is not None:
            raise BleakError(f"Simulated BB-8 {self.address} is already connected to another central")
        if (failure := self.faults.take_connect_failure(self.address)) is not None:
            raise failure
        self._link = _LinkState(link)
        self.connect_count += 1
        self._link_first_command = len(self.commands_received)
        _LOGGER.debug("%s: connected", self.name)

    def close_link(self, reason: str = "central disconnected", *, link: ToyLink | None = None) -> None:
        """Close the link because the central disconnected (nothing is sent: the link is gone).

        ``link`` names the connection the central is closing. A central that hears of a drop late
        may disconnect after another central has connected; its disconnect must leave that newer
        link alone, as a real toy's does (the old connection no longer exists on its side).
        """
        if self._link is None or (link is not None and self._link.link is not link):
            return
        self._link = None
        self._after_link_down(reason)

    def disconnect_now(self, reason: str = "simulated link loss") -> bool:
        """Drop the link from the toy's side, as a radio fault would; False if not connected."""
        return self._drop_link(reason)

    def write(self, char_uuid: str, data: bytes | bytearray, *, now: float | None = None) -> None:
        """Receive a GATT write from the central; ``now`` is the link's time (the event loop's clock)."""
        if self._link is None:
            raise BleakError(f"Simulated BB-8 {self.address} is not connected")
        uuid = char_uuid.lower()
        payload = bytes(data)
        link_time = time.monotonic() if now is None else now
        if uuid == COMMANDS_CHAR:
            if self.faults.take_disconnect_on_write():
                self._drop_link("fault: link lost during a command write")
                raise BleakError(f"Simulated BB-8 {self.address} disconnected during the write")
            self.writes.append((uuid, payload))
            self.command_writes += 1
            self._receive_command_bytes(payload, link_time)
            return
        if uuid in (ANTI_DOS_CHAR, TX_POWER_CHAR, WAKE_CHAR):
            self.writes.append((uuid, payload))
            self._receive_radio_write(uuid, payload)
            return
        raise BleakError(f"Writes to {char_uuid} are not modelled by the simulated BB-8")

    def read(self, char_uuid: str) -> bytes:
        """Answer a GATT read: handshake characteristics echo this connection, others what a real BB-8 read."""
        if self._link is None:
            raise BleakError(f"Simulated BB-8 {self.address} is not connected")
        uuid = char_uuid.lower()
        if uuid == TX_POWER_CHAR:
            return self._link.tx_power or b""
        if uuid == ANTI_DOS_CHAR:
            return ANTI_DOS_UNLOCK if self._link.anti_dos else b""
        if uuid == WAKE_CHAR:
            return WAKE_VALUE if self._link.woken else b"\x00"
        if uuid == SERIAL_NUMBER_CHAR:
            return self.address.encode()
        return STATIC_READ_VALUES.get(uuid, b"")

    # =========================================================================================
    # Test controls
    # =========================================================================================

    def set_charging(self, charging: bool) -> None:
        """Put the toy on (True) or take it off (False) its charger; it does not wake by this alone."""
        if charging == self.charging:
            return
        self._update_battery()
        if charging:
            self._start_charging()
        else:
            self.charging = False
            self._last_charge_end = self.clock.now()
            self._schedule_battery_tick()
        self._check_power_state()

    def wake_by_charger(self) -> None:
        """Place the toy on its charger: it charges and wakes from any sleep, deep sleep included."""
        self.set_charging(True)
        self.deep_asleep = False
        self._wake("charger")

    def set_battery_voltage(self, volts: float) -> None:
        """Jump the battery to ``volts`` (and notify a power state change if there is one)."""
        self._update_battery()
        self.battery_voltage = max(FLOOR_VOLTAGE, min(FULL_VOLTAGE, float(volts)))
        self._check_power_state()

    def trigger_collision(
        self,
        x_magnitude: int = 512,
        y_magnitude: int = 0,
        *,
        acceleration: tuple[int, int, int] | None = None,
        speed: int | None = None,
    ) -> bool:
        """Bump into something: send a collision packet if the toy would report this impact.

        The toy reports only when awake, connected and armed (method != 0), outside the dead
        time after the last report, and for an axis whose threshold is non-zero and exceeded by
        the magnitude; the threshold grows with speed (the spec's ``Xt + Xspd * speed / 255``).
        ``acceleration`` is in 1/4096 g; by default it follows the magnitudes, with 1 g on Z.
        Returns whether a packet was sent.
        """
        current_speed = self.speed if speed is None else speed
        if acceleration is None:
            acceleration = (_clamp_i16(x_magnitude * 8), _clamp_i16(y_magnitude * 8), 4096)
        if self.awake:
            self._bump(acceleration)
        config = self.collision_config
        if not self.awake or self._link is None or config is None or not config.enabled:
            return False
        now = self.clock.now()
        if now < self._collision_quiet_until:
            return False
        axis = 0
        if (
            config.x_threshold
            and abs(x_magnitude) > config.x_threshold + config.x_speed * current_speed / 255
        ):
            axis |= 0x01
        if (
            config.y_threshold
            and abs(y_magnitude) > config.y_threshold + config.y_speed * current_speed / 255
        ):
            axis |= 0x02
        if not axis:
            return False
        timestamp = int((now - (self.awake_since or 0.0)) * 1000) & 0xFFFFFFFF
        data = struct.pack(
            ">3hB2hBL",
            *(_clamp_i16(value) for value in acceleration),
            axis,
            _clamp_i16(x_magnitude),
            _clamp_i16(y_magnitude),
            max(0, min(0xFF, current_speed)),
            timestamp,
        )
        self._collision_quiet_until = now + config.dead_time / 100
        self.collisions_sent += 1
        self._send_async(AsyncId.COLLISION, data)
        return True

    def _bump(self, acceleration: tuple[int, int, int]) -> None:
        """Stop dead against an obstacle; the accelerometer feels the impact (1 g on Z is gravity)."""
        ax, ay, az = acceleration
        self.motion.collide(self.clock.now(), (ax / 4096, ay / 4096, (az - 4096) / 4096))
        self._update_battery()
        self.speed = 0
        self.roll_mode = RollMode.STOP
        self.raw_motors = None

    def inject_notification(self, data: bytes, *, chunked: bool = False) -> None:
        """Send raw bytes as a notification (e.g. garbage), whole or in 20-byte chunks."""
        if self._link is None:
            raise BleakError(f"Simulated BB-8 {self.address} is not connected")
        pieces = [data[i : i + MAX_CHUNK] for i in range(0, len(data), MAX_CHUNK)] if chunked else [data]
        for piece in pieces:
            self.notifications.append(bytes(piece))
            self._link.link.deliver(RESPONSE_CHAR, bytes(piece), 0.0)

    @contextlib.contextmanager
    def refusing(self, did: int, cid: int, mrsp: int) -> Iterator[None]:
        """Refuse one command with ``mrsp`` (and leave the toy's state alone) while inside.

        The simulator by itself refuses only what the spec says it refuses (bad parameters,
        unknown ids); a real toy may refuse anything (e.g. 0x05 "busy").
        """
        key = (did, cid)
        original = self._handlers[key]
        self._handlers[key] = lambda _data: _Outcome(mrsp)
        try:
            yield
        finally:
            self._handlers[key] = original

    def sleep_now(self) -> None:
        """Fall asleep as the inactivity timer would (did-sleep, then the link drops)."""
        if self.awake:
            self._enter_sleep("test asked", send_did_sleep=True)

    # =========================================================================================
    # Radio service (handshake)
    # =========================================================================================

    def _receive_radio_write(self, uuid: str, payload: bytes) -> None:
        link = self._link
        assert link is not None
        if uuid == ANTI_DOS_CHAR:
            self.handshake_log.append(("anti_dos", payload))
            if payload == ANTI_DOS_UNLOCK:
                link.anti_dos = True
        elif uuid == TX_POWER_CHAR:
            self.handshake_log.append(("tx_power", payload))
            link.tx_power = payload
        else:
            self.handshake_log.append(("wake", payload))
            # The radio service stays locked until anti-DoS is unlocked on this connection.
            if payload == WAKE_VALUE and link.anti_dos and not self.deep_asleep:
                link.woken = True
                self._wake("wake characteristic")

    # =========================================================================================
    # Command stream: reassembly, pacing, checksum, dispatch
    # =========================================================================================

    def _receive_command_bytes(self, payload: bytes, now: float) -> None:
        link = self._link
        assert link is not None
        if not (link.anti_dos and link.woken and self.awake):
            # As the toy does before the handshake: the bytes are simply not read.
            self.ignored_writes += 1
            return
        if link.buffer and link.last_write_at is not None and now - link.last_write_at > FRAGMENT_TIMEOUT:
            self.garbage_bytes += len(link.buffer)
            link.buffer.clear()
        link.last_write_at = now
        link.buffer.extend(payload)
        while self._link is link and (frame := self._next_frame(link.buffer)) is not None:
            self._receive_frame(frame, now)

    def _next_frame(self, buffer: bytearray) -> bytes | None:
        """Cut the next complete frame off ``buffer``, discarding bytes that cannot start one."""
        while buffer:
            start = _find_command_start(buffer)
            if start < 0:
                keep = 1 if buffer[-1] == SOP1 else 0
                self.garbage_bytes += len(buffer) - keep
                del buffer[: len(buffer) - keep]
                return None
            if start:
                self.garbage_bytes += start
                del buffer[:start]
            if len(buffer) < HEADER_LENGTH:
                return None
            dlen = buffer[5]
            if dlen == 0:
                self.garbage_bytes += 1
                del buffer[:1]
                continue
            length = HEADER_LENGTH + dlen
            if len(buffer) < length:
                return None
            frame = bytes(buffer[:length])
            del buffer[:length]
            return frame
        return None

    def _receive_frame(self, frame: bytes, now: float) -> None:
        link = self._link
        assert link is not None
        sop2, did, cid, seq = frame[1], frame[2], frame[3], frame[4]
        answer = bool(sop2 & SOP2_ANSWER)
        plan = self.faults
        if (
            plan.pacing
            and link.last_accepted_at is not None
            and now - link.last_accepted_at < plan.min_interval
        ):
            plan.stats["dropped_for_pacing"] += 1
            return
        link.last_accepted_at = now
        body, frame_checksum = frame[2:-1], frame[-1]
        if checksum(body) != frame_checksum:
            self.command_counts["bad_checksum"] += 1
            if answer:
                self._send_response(MRSP_BAD_CHECKSUM, seq)
            return
        data = frame[HEADER_LENGTH:-1]
        reset_timeout = bool(sop2 & SOP2_RESET_TIMEOUT)
        if did not in (DeviceId.CORE, DeviceId.SPHERO):
            outcome = _Outcome(MRSP_UNKNOWN_DID)
        elif (handler := self._handlers.get((did, cid))) is None:
            outcome = _Outcome(MRSP_UNKNOWN_CID)
        else:
            self._update_battery()
            self.motion.advance_to(self.clock.now())
            outcome = handler(data)
        record = CommandRecord(
            did,
            cid,
            data,
            seq=seq,
            answer=answer,
            reset_timeout=reset_timeout,
            mrsp=outcome.mrsp,
            at=self.clock.now(),
        )
        self.commands_received.append(record)
        self.command_counts[record.kind] += 1
        if reset_timeout and self.awake:
            self._arm_inactivity()
        if answer:
            self._send_response(outcome.mrsp, seq, outcome.data)
        if outcome.after is not None:
            outcome.after()

    # =========================================================================================
    # Core commands (DID 0x00)
    # =========================================================================================

    def _cmd_ping(self, data: bytes) -> _Outcome:
        return _Outcome() if not data else _BAD

    def _cmd_versions(self, data: bytes) -> _Outcome:
        if data:
            return _BAD
        major, minor = self.firmware
        return _Outcome(
            data=bytes(
                [
                    VERSIONS_RECORD,
                    self.model,
                    self.hardware,
                    major & 0xFF,
                    minor & 0xFF,
                    DEFAULT_BOOTLOADER,
                    DEFAULT_ORB_BASIC,
                    DEFAULT_MACRO_EXECUTIVE,
                ]
            )
        )

    def _cmd_power_state(self, data: bytes) -> _Outcome:
        if data:
            return _BAD
        return _Outcome(data=self.power_state_record())

    def power_state_record(self) -> bytes:
        """Build the 8-byte get power state answer (``>2B3H``)."""
        self._update_battery()
        return struct.pack(
            ">2B3H",
            1,
            int(self._compute_power_state()),
            self.battery_centivolts,
            self.charge_count & 0xFFFF,
            self.seconds_since_charge,
        )

    def _cmd_power_notifications(self, data: bytes) -> _Outcome:
        if len(data) != 1 or data[0] > 1:
            return _BAD
        self._set_power_notifications(bool(data[0]))
        return _Outcome()

    def _cmd_sleep(self, data: bytes) -> _Outcome:
        if len(data) != 5:
            return _BAD
        wakeup, macro, line = struct.unpack(">HBH", data)
        self.sleep_requests.append((wakeup, macro, line))
        deep = wakeup == DEEP_SLEEP_INTERVAL
        if deep:
            self.deep_sleep_requests += 1

        def _sleep() -> None:
            self._enter_sleep(
                "sleep command", send_did_sleep=True, deep=deep, wakeup_after=0 if deep else wakeup
            )

        return _Outcome(after=_sleep)

    def _cmd_voltage_trip_points(self, data: bytes) -> _Outcome:
        if len(data) != 4:
            return _BAD
        low, critical = struct.unpack(">HH", data)
        lowest, highest = TRIP_POINT_RANGE
        if not (lowest <= critical < low <= highest):
            return _BAD
        self.low_trip_centivolts, self.critical_trip_centivolts = low, critical
        return _Outcome(after=self._check_power_state)

    def _cmd_inactivity_timeout(self, data: bytes) -> _Outcome:
        if len(data) != 2:
            return _BAD
        (seconds,) = struct.unpack(">H", data)
        if seconds < MIN_INACTIVITY_TIMEOUT:
            return _BAD
        self.inactivity_timeout = seconds
        return _Outcome(after=self._arm_inactivity)

    # =========================================================================================
    # Sphero commands (DID 0x02)
    # =========================================================================================

    def _cmd_heading(self, data: bytes) -> _Outcome:
        if len(data) != 2:
            return _BAD
        (heading,) = struct.unpack(">H", data)
        if heading > 359:
            return _BAD
        self.heading = heading
        self.motion.set_heading(heading)
        return _Outcome()

    def _cmd_stabilization(self, data: bytes) -> _Outcome:
        if len(data) != 1 or data[0] > 1:
            return _BAD
        self.stabilization = bool(data[0])
        return _Outcome()

    def _cmd_rotation_rate(self, data: bytes) -> _Outcome:
        if len(data) != 1:
            return _BAD
        self.rotation_rate = data[0]
        self.motion.set_rotation_rate(data[0])
        return _Outcome()

    def _cmd_self_level(self, data: bytes) -> _Outcome:
        if len(data) != 4:
            return _BAD
        self.self_level_requests.append(SelfLevelRequest(*data))
        return _Outcome()

    def _cmd_data_streaming(self, data: bytes) -> _Outcome:
        if len(data) not in (9, 13):
            return _BAD
        divisor, frames, mask, count = struct.unpack(">HHIB", data[:9])
        mask2 = struct.unpack(">I", data[9:])[0] if len(data) == 13 else None
        if divisor == 0 or frames == 0:
            return _BAD
        values = sum(mask >> bit & 1 for bit in MASK_VALUE_BITS)
        values += sum((mask2 or 0) >> bit & 1 for bit in MASK2_VALUE_BITS)
        if frames * values * 2 + 1 > 0xFFFF:
            return _BAD  # the packet's DLEN is 16 bits
        self.data_streaming = DataStreamingConfig(divisor, frames, mask, count, mask2)
        settings = StreamSettings(divisor, frames, mask, count, mask2 or 0)
        return _Outcome(after=lambda: self._stream.start(settings))

    def _cmd_collision(self, data: bytes) -> _Outcome:
        if len(data) != 6 or data[0] > 1:
            return _BAD
        self.collision_config = CollisionConfig(*data)
        self._collision_quiet_until = 0.0
        return _Outcome()

    def _cmd_locator(self, data: bytes) -> _Outcome:
        if len(data) != 7:
            return _BAD
        flags, x, y, yaw_tare = struct.unpack(">BhhH", data)
        if yaw_tare > 359:
            return _BAD
        self.locator = LocatorConfig(flags, x, y, yaw_tare)
        self.motion.configure_locator(flags, x, y, yaw_tare)
        return _Outcome()

    def _cmd_main_led(self, data: bytes) -> _Outcome:
        # spherov2 sends R, G, B only; the spec adds FLAG (1 = persist as the power-on colour).
        if len(data) not in (3, 4):
            return _BAD
        flag = data[3] if len(data) == 4 else 0
        if flag > 1:
            return _BAD
        self.main_led = (data[0], data[1], data[2])
        if flag:
            self.persisted_led = self.main_led
            self.persist_writes += 1
        return _Outcome()

    def _cmd_back_led(self, data: bytes) -> _Outcome:
        if len(data) != 1:
            return _BAD
        self.back_led = data[0]
        return _Outcome()

    def _cmd_roll(self, data: bytes) -> _Outcome:
        # The spec's roll is speed, heading, state; spherov2 appends a reverse flag.
        if len(data) not in (4, 5):
            return _BAD
        speed, heading, mode = struct.unpack(">BHB", data[:4])
        reverse = data[4] if len(data) == 5 else 0
        if heading > 359 or mode > RollMode.CALIBRATE or reverse > 1:
            return _BAD
        self.heading = heading
        self.roll_mode = RollMode(mode)
        self.speed = 0 if mode == RollMode.STOP else speed
        self.reverse = bool(reverse)
        self.raw_motors = None
        self.motion.drive(speed, heading, go=mode != RollMode.STOP)
        self._schedule_battery_tick()
        return _Outcome()

    def _cmd_raw_motors(self, data: bytes) -> _Outcome:
        if len(data) != 4 or data[0] > 4 or data[2] > 4:
            return _BAD
        self.raw_motors = (data[0], data[1], data[2], data[3])
        self.speed = 0
        self.roll_mode = RollMode.STOP
        self.motion.coast()
        return _Outcome()

    def _cmd_motion_timeout(self, data: bytes) -> _Outcome:
        if len(data) != 2:
            return _BAD
        (self.motion_timeout_ms,) = struct.unpack(">H", data)
        return _Outcome()

    def _cmd_temporary_options(self, data: bytes) -> _Outcome:
        # The spec's temporary layout: bit 0 = stop on disconnect (spherov2 sends its persistent
        # layout here, where bit 0 means "disable sleep in charger").
        if len(data) != 4:
            return _BAD
        (self.temporary_options,) = struct.unpack(">I", data)
        return _Outcome()

    # =========================================================================================
    # Sending
    # =========================================================================================

    def _send_response(self, mrsp: int, seq: int, data: bytes = b"") -> None:
        packet = build_response(mrsp, seq, data)
        self.sent_packets.append(packet)
        if self.faults.take_response_drop():
            return
        self._send_chunks(packet, self.faults.response_delay)

    def _send_async(self, id_code: int, data: bytes = b"") -> None:
        if self._link is None:
            return
        packet = build_async(int(id_code), data)
        self.sent_packets.append(packet)
        self._send_chunks(packet, 0.0)

    def _send_sensor_packet(self, data: bytes) -> None:
        if self.awake and self._link is not None:
            self._send_async(AsyncId.SENSOR_STREAM, data)
        else:
            self._stream.stop()

    def _send_chunks(self, packet: bytes, delay: float) -> None:
        if self._link is None:
            return
        for start in range(0, len(packet), MAX_CHUNK):
            chunk = self.faults.corrupt(packet[start : start + MAX_CHUNK])
            self.notifications.append(chunk)
            self._link.link.deliver(RESPONSE_CHAR, chunk, delay)

    # =========================================================================================
    # Sleep and wake
    # =========================================================================================

    def _wake(self, reason: str) -> None:
        if self._auto_wake_timer is not None:
            self._auto_wake_timer.cancel()
            self._auto_wake_timer = None
        if self.awake:
            return
        self._update_battery()
        self.awake = True
        self.deep_asleep = False
        self.awake_since = self.clock.now()
        self.motion.wake(self.clock.now())
        _LOGGER.debug("%s: awake (%s)", self.name, reason)
        self._arm_inactivity()
        self._schedule_battery_tick()

    def _enter_sleep(
        self, reason: str, *, send_did_sleep: bool, deep: bool = False, wakeup_after: int = 0
    ) -> None:
        if not self.awake:
            return
        if send_did_sleep:
            self._send_async(AsyncId.DID_SLEEP)
        self._update_battery()
        self.motion.sleep(self.clock.now())
        self.awake = False
        self.deep_asleep = deep
        self.awake_since = None
        self.sleep_count += 1
        _LOGGER.debug("%s: asleep (%s)", self.name, reason)
        for timer in (self._will_sleep_timer, self._sleep_timer, self._power_timer):
            if timer is not None:
                timer.cancel()
        self._will_sleep_timer = self._sleep_timer = self._power_timer = None
        self._reset_volatile_state()
        self._drop_link(f"asleep: {reason}")
        if wakeup_after > 0:
            self._auto_wake_timer = self.clock.call_later(wakeup_after, self._wake, "wake-up interval")
        self._schedule_battery_tick()

    def _reset_volatile_state(self) -> None:
        self.main_led = self.persisted_led
        self.back_led = 0
        self.stabilization = True
        self.heading = 0
        self.speed = 0
        self.roll_mode = RollMode.STOP
        self.reverse = False
        self.raw_motors = None
        self.rotation_rate = DEFAULT_ROTATION_RATE
        self.collision_config = None
        self.data_streaming = None
        self._stream.stop()
        self.locator = None
        self.temporary_options = 0
        self.power_notifications_enabled = False
        self._collision_quiet_until = 0.0

    def _arm_inactivity(self) -> None:
        for timer in (self._will_sleep_timer, self._sleep_timer):
            if timer is not None:
                timer.cancel()
        if not self.awake:
            self._will_sleep_timer = self._sleep_timer = None
            return
        self._will_sleep_timer = self.clock.call_later(
            self.inactivity_timeout - WILL_SLEEP_LEAD, self._on_will_sleep
        )
        self._sleep_timer = self.clock.call_later(self.inactivity_timeout, self._on_inactivity_sleep)

    def _on_will_sleep(self) -> None:
        self._will_sleep_timer = None
        if self.awake and self._link is not None:
            self.will_sleep_sent += 1
            self._send_async(AsyncId.WILL_SLEEP)

    def _on_inactivity_sleep(self) -> None:
        self._sleep_timer = None
        self._enter_sleep("inactivity timeout", send_did_sleep=True)

    # =========================================================================================
    # Link loss
    # =========================================================================================

    def _drop_link(self, reason: str) -> bool:
        link, self._link = self._link, None
        if link is None:
            return False
        link.link.lost(reason)
        self._after_link_down(reason)
        return True

    def _after_link_down(self, reason: str) -> None:
        self.disconnect_count += 1
        self.last_disconnect_reason = reason
        _LOGGER.debug("%s: disconnected (%s)", self.name, reason)
        self._stream.stop()
        if self.stop_on_disconnect and self.rolling:
            self._update_battery()
            self.motion.advance_to(self.clock.now())
            self.motion.coast()
            self.speed = 0
            self.roll_mode = RollMode.STOP
            self.raw_motors = None

    # =========================================================================================
    # Battery and power notifications
    # =========================================================================================

    def _compute_power_state(self) -> PowerState:
        if self.charging:
            return PowerState.CHARGING
        centivolts = round(self.battery_voltage * 100)
        if centivolts < self.critical_trip_centivolts:
            return PowerState.CRITICAL
        if centivolts < self.low_trip_centivolts:
            return PowerState.LOW
        return PowerState.OK

    def _battery_rate(self) -> float:
        if self.charging:
            return CHARGE_PER_SECOND
        if not self.awake:
            return 0.0
        load = 0.0
        if self.rolling:
            if self.raw_motors is not None:
                load = max(self.raw_motors[1], self.raw_motors[3]) / 255
            else:
                load = self.speed / 255
        return -(IDLE_DRAIN_PER_SECOND + FULL_SPEED_EXTRA_DRAIN_PER_SECOND * load)

    def _update_battery(self) -> None:
        """Integrate the voltage up to now at the current rate (called before any rate change)."""
        now = self.clock.now()
        elapsed = now - self._battery_updated_at
        self._battery_updated_at = now
        if elapsed > 0:
            volts = self.battery_voltage + self._battery_rate() * elapsed
            self.battery_voltage = max(FLOOR_VOLTAGE, min(FULL_VOLTAGE, volts))

    def _start_charging(self) -> None:
        self.charging = True
        self.charge_count += 1
        self._schedule_battery_tick()

    def _schedule_battery_tick(self) -> None:
        if self._battery_timer is not None and not self._battery_timer.cancelled():
            return
        if self._battery_rate() == 0.0:
            self._battery_timer = None
            return
        self._battery_timer = self.clock.call_later(BATTERY_TICK, self._on_battery_tick)

    def _on_battery_tick(self) -> None:
        self._battery_timer = None
        self._update_battery()
        self._check_power_state()
        self._schedule_battery_tick()

    def _check_power_state(self) -> None:
        state = self._compute_power_state()
        if state == self.power_state:
            return
        self.power_state = state
        _LOGGER.debug("%s: power state %s", self.name, state.name)
        if self.power_notifications_enabled:
            self._send_power_notification()

    def _set_power_notifications(self, enabled: bool) -> None:
        self.power_notifications_enabled = enabled
        if self._power_timer is not None:
            self._power_timer.cancel()
            self._power_timer = None
        if enabled:
            self._power_timer = self.clock.call_later(POWER_NOTIFICATION_INTERVAL, self._on_power_tick)

    def _on_power_tick(self) -> None:
        self._power_timer = None
        if not (self.awake and self.power_notifications_enabled):
            return
        self._update_battery()
        # One report per tick, carrying the current state even if it changed just now.
        self.power_state = self._compute_power_state()
        self._send_power_notification()
        self._power_timer = self.clock.call_later(POWER_NOTIFICATION_INTERVAL, self._on_power_tick)

    def _send_power_notification(self) -> None:
        if self.awake and self._link is not None:
            self.power_notifications_sent += 1
            self._send_async(AsyncId.POWER_STATE, bytes([int(self.power_state)]))


def _find_command_start(buffer: bytearray) -> int:
    """Index of the first ``FF`` followed by a command SOP2 (0xFC..0xFF), or -1."""
    index = buffer.find(SOP1)
    while 0 <= index < len(buffer) - 1:
        if buffer[index + 1] >= SOP2_COMMAND_MIN:
            return index
        index = buffer.find(SOP1, index + 1)
    return -1


def _clamp_i16(value: int) -> int:
    return max(-0x8000, min(0x7FFF, int(value)))
