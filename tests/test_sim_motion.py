"""The simulator's sensor stream and motion model, driven through its GATT surface.

Every request here is built by spherov2's own ``Packet.Request`` from payloads packed in this file
from the Sphero API 1.50 specification (SetDataStreaming DID 0x02 CID 0x11: N, M, MASK, PCNT,
MASK2; Roll 0x30; SetHeading 0x01; ConfigureLocator 0x13), and everything the toy sends is read
back with spherov2's ``Packet.Collector``: neither side leans on the integration or on the
simulator's own framing. Mask bits are spelled here from the spec's table.

The README's "The simulator" paragraphs on streaming and motion, sentence by sentence: the stream's
rate, M, PCNT, zero masks, link drop, sleep and asking again (``test_stream_at_n40_m1_...`` to
``test_stream_stops_when_the_toy_sleeps``); the 10 ms integration that schedules nothing at rest
(``test_a_toy_at_rest_schedules_nothing_for_motion``); each motion behaviour in the test named
after it; developer mode's clock (``test_stream_runs_in_developer_mode_on_the_realtime_ticker``);
the capture's bits, accelOne and signs (``test_captured_configuration_...``,
``test_capture_pins_the_signs_...``); the motor bits (``test_motor_fields_follow_...``); raw
motors (``test_raw_motors_do_not_drive_...``).
"""

from __future__ import annotations

import math
import struct

import pytest
from spherov2.controls.v1 import Packet as SpheroV2Packet

from bb8sim import RealtimeTicker, SimClock, SimulatedBB8
from bb8sim.motion import attitude_quaternion, tilt_acceleration
from bb8sim.testing import RecordingLink, connect_toy, settle, sim_client

from .captures import sensor_stream
from .conftest import wait_for

ADDRESS = "C4:1B:2A:3D:B5:4A"

SPHERO = 0x02
SET_HEADING = 0x01
SET_ROTATION_RATE = 0x03
SET_DATA_STREAMING = 0x11
CONFIGURE_COLLISION = 0x12
CONFIGURE_LOCATOR = 0x13
ROLL = 0x30
CORE = 0x00
SLEEP = 0x22
SENSOR_STREAM = 0x03

# MASK bits (Sphero API 1.50, SetDataStreaming)
ACCEL_RAW = 0xE0000000
IMU_PITCH, IMU_ROLL, IMU_YAW = 0x00040000, 0x00020000, 0x00010000
IMU = IMU_PITCH | IMU_ROLL | IMU_YAW
ACCEL_X, ACCEL_Y, ACCEL_Z = 0x00008000, 0x00004000, 0x00002000
ACCEL = ACCEL_X | ACCEL_Y | ACCEL_Z
GYRO = 0x00001C00
# MASK2 bits
QUATERNION = 0xF0000000
ODOMETER = 0x0C000000
ACCEL_ONE = 0x02000000
VELOCITY = 0x01800000


class Toy:
    """A simulated BB-8 on a recording link, spoken to in spec-built bytes and heard by spherov2."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.sim = SimulatedBB8(ADDRESS, clock=clock)
        self.link: RecordingLink = connect_toy(self.sim)
        self.seq = 0
        self.heard: list[SpheroV2Packet.Response | SpheroV2Packet.Async] = []
        self._collector = SpheroV2Packet.Collector(self.heard.append)

    def send(self, did: int, cid: int, data: bytes) -> SpheroV2Packet.Response:
        """Write one request and return the toy's answer to it (parsed by spherov2)."""
        self.seq = (self.seq + 1) % 256
        request = SpheroV2Packet.Request(did, cid, self.seq, bytearray(data)).build()
        self.sim.write("22bb746f-2ba1-7554-2d6f-726568705327", bytes(request))
        self.listen()
        answers = [p for p in self.heard if isinstance(p, SpheroV2Packet.Response) and p.seq == self.seq]
        assert len(answers) == 1, self.heard
        self.heard.remove(answers[0])
        return answers[0]

    def listen(self) -> None:
        """Feed spherov2's collector every chunk the toy notified since the last call."""
        for chunk in self.link.chunks:
            self._collector.add(bytearray(chunk))
        self.link.chunks.clear()

    def stream(self, n: int, m: int, mask: int, pcnt: int = 0, mask2: int | None = None) -> None:
        data = struct.pack(">HHIB", n, m, mask, pcnt)
        if mask2 is not None:
            data += struct.pack(">I", mask2)
        assert self.send(SPHERO, SET_DATA_STREAMING, data).mrsp == 0

    def roll(self, speed: int, heading: int, state: int = 1) -> None:
        assert self.send(SPHERO, ROLL, struct.pack(">BHB", speed, heading, state)).mrsp == 0

    def set_heading(self, heading: int) -> None:
        assert self.send(SPHERO, SET_HEADING, struct.pack(">H", heading)).mrsp == 0

    def configure_locator(self, flags: int, x: int, y: int, yaw_tare: int) -> None:
        data = struct.pack(">BhhH", flags, x, y, yaw_tare)
        assert self.send(SPHERO, CONFIGURE_LOCATOR, data).mrsp == 0

    def run(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.listen()

    def packets(self) -> list[tuple[int, ...]]:
        """The sensor stream packets heard since the last call, each as its int16 values."""
        packets = [
            p for p in self.heard if isinstance(p, SpheroV2Packet.Async) and p.id_code == SENSOR_STREAM
        ]
        for packet in packets:
            self.heard.remove(packet)
        return [struct.unpack(f">{len(p.data) // 2}h", p.data) for p in packets]


@pytest.fixture
def clock() -> SimClock:
    return SimClock()


@pytest.fixture
def bb8(clock: SimClock) -> Toy:
    return Toy(clock)


# =============================================================================================
# Streaming
# =============================================================================================


@pytest.mark.parametrize(("m", "packets_sent"), [(1, 100), (5, 20)], ids=["M=1", "M=5"])
def test_stream_at_n40_sends_ten_frames_a_simulated_second_m_frames_to_a_packet(
    bb8: Toy, m: int, packets_sent: int
) -> None:
    bb8.stream(40, m, IMU)
    bb8.run(10.0)
    packets = bb8.packets()
    assert len(packets) == packets_sent
    assert all(len(values) == 3 * m for values in packets), "M frames of three values each"
    assert bb8.sim.stream_frames_sent == 100
    assert bb8.sim.stream_packets_sent == packets_sent


@pytest.mark.parametrize(
    ("mask", "mask2", "values"),
    [
        (IMU, None, 3),
        (ACCEL, 0, 3),
        (ACCEL_RAW | IMU | ACCEL | GYRO, None, 12),
        (0, ODOMETER | VELOCITY, 4),
        (IMU_YAW, QUATERNION | ACCEL_ONE, 6),
        (0xFFFFFFFF, 0xFFFFFFFF, 41),  # the capture's configuration: 29 + 12
        (0x00000007, 0x000FFFFF | ODOMETER, 2),  # bits that produce nothing (the capture)
    ],
)
def test_frame_has_one_value_per_producing_mask_bit(
    bb8: Toy, mask: int, mask2: int | None, values: int
) -> None:
    bb8.stream(40, 1, mask, mask2=mask2)
    bb8.run(0.1)
    assert [len(frame) for frame in bb8.packets()] == [values]


def test_frame_order_is_mask_from_bit_31_down_then_mask2(bb8: Toy) -> None:
    bb8.roll(255, 0)
    bb8.run(3.0)  # at top speed, heading 0: velocity is all on the locator's +Y
    bb8.stream(40, 1, IMU_YAW | ACCEL_Z, mask2=ODOMETER | VELOCITY)
    bb8.run(0.1)
    ((yaw, accel_z, odometer_x, odometer_y, velocity_x, velocity_y),) = bb8.packets()
    assert yaw == 0
    assert accel_z == pytest.approx(4096, abs=40)  # 1 g on Z, rolling steadily
    assert odometer_x == 0
    assert odometer_y == pytest.approx(round(bb8.sim.odometer[1]), abs=1)
    assert odometer_y > 300
    assert velocity_x == 0
    assert velocity_y == 1950  # mm/s at the simulator's top speed


def test_captured_configuration_gives_a_frame_shaped_like_the_capture(bb8: Toy) -> None:
    """gobot's captured frame (every bit of both masks set) against the simulator's, at rest.

    The capture wins over the spec: 29 values for MASK and 12 for MASK2, and accelOne reads 101
    at rest, so it is in 0.01 g rather than the spec's mG. The capture's toy stood tilted about
    6° nose up; the simulator's stands level, so the tilt fields agree within that.
    """
    captured = b"".join(sensor_stream.NOTIFICATIONS)
    capture = struct.unpack(f">{(len(captured) - 6) // 2}h", captured[5:-1])
    bb8.stream(10, 1, 0xFFFFFFFF, mask2=0xFFFFFFFF)
    bb8.run(10 / 400)
    (frame,) = bb8.packets()
    assert len(frame) == len(capture) == sensor_stream.VALUES
    # raw accelerometer Z (4 mG), filtered accelerometer Z (1/4096 g), quaternion Q0, accelOne
    for index, tolerance in ((2, 5), (18, 0.02 * 4096), (29, 30), (35, 2)):
        assert frame[index] == pytest.approx(capture[index], abs=tolerance), index
    # pitch, roll, yaw: the capture's tilt is a few degrees
    for index in (13, 14, 15):
        assert abs(frame[index] - capture[index]) <= 6, index
    # odometer and velocity at rest, and every reserved value: zero in both
    for index in (6, 7, 8, 22, 23, 24, 27, 28, 33, 34, 36, 37, 38, 39, 40):
        assert frame[index] == capture[index] == 0, index


def test_capture_pins_the_signs_of_pitch_roll_and_the_quaternion() -> None:
    """The captured frame's tilt (pitch -5, roll 1; Y 445 and X 75 in 1/4096 g) fixes the signs.

    Its quaternion (9985, -539, 86, 0) is a 6.2° turn about X and 1° about Y: the simulator's
    formulas, fed the tilt the capture's accelerometer shows, give it back.
    """
    values = struct.unpack(">41h", b"".join(sensor_stream.NOTIFICATIONS)[5:-1])
    accel_x, accel_y, accel_z = (value / 4096 for value in values[16:19])
    magnitude = math.hypot(accel_x, accel_y, accel_z)  # 1.01 g: the toy's accelerometer reads a little high
    pitch = -math.degrees(math.asin(accel_y / magnitude))
    roll = math.degrees(math.atan2(accel_x, accel_z))
    assert pitch == pytest.approx(-6.1, abs=0.2)
    # the streamed angles have the accelerometer's signs
    assert values[13] < 0
    assert pitch < 0
    assert values[14] > 0
    assert roll > 0
    gx, gy, _ = tilt_acceleration(pitch, roll)
    assert (gx * 4096 * magnitude, gy * 4096 * magnitude) == pytest.approx((values[16], values[17]), abs=2)
    quaternion = [round(q * 10000) for q in attitude_quaternion(pitch, roll, 0.0)]
    assert quaternion == pytest.approx(values[29:33], abs=20)


def test_pcnt_packets_then_the_stream_stops(bb8: Toy) -> None:
    bb8.stream(40, 2, IMU, pcnt=3)
    bb8.run(10.0)
    assert len(bb8.packets()) == 3
    assert not bb8.sim.streaming
    assert bb8.sim.stream_frames_sent == 6


def test_zero_masks_stop_the_stream(bb8: Toy) -> None:
    bb8.stream(40, 1, IMU, mask2=ODOMETER)
    bb8.run(1.0)
    assert len(bb8.packets()) == 10
    bb8.stream(40, 1, 0, mask2=0)
    bb8.run(5.0)
    assert bb8.packets() == []
    assert not bb8.sim.streaming


def test_a_new_configuration_replaces_the_running_stream(bb8: Toy) -> None:
    bb8.stream(40, 1, IMU)
    bb8.run(1.0)
    bb8.packets()
    bb8.stream(400, 1, ACCEL_Z, mask2=QUATERNION)
    bb8.run(3.0)
    assert [len(frame) for frame in bb8.packets()] == [5, 5, 5]


def test_stream_stops_when_the_toy_drops_the_link_and_stays_stopped_after_reconnect(bb8: Toy) -> None:
    bb8.stream(40, 1, IMU)
    bb8.run(1.0)
    assert len(bb8.packets()) == 10
    assert bb8.sim.disconnect_now("radio fault")
    assert not bb8.sim.streaming
    bb8.clock.advance(5.0)
    bb8.link = connect_toy(bb8.sim)
    bb8.run(5.0)
    assert bb8.packets() == []
    bb8.stream(40, 1, IMU)  # a central must ask again on every connection
    bb8.run(1.0)
    assert len(bb8.packets()) == 10


def test_stream_stops_when_the_central_disconnects(bb8: Toy) -> None:
    bb8.stream(40, 1, IMU)
    bb8.run(0.5)
    bb8.sim.close_link()
    frames = bb8.sim.stream_frames_sent
    bb8.clock.advance(5.0)
    assert bb8.sim.stream_frames_sent == frames == 5
    assert not bb8.sim.streaming


def test_stream_stops_when_the_toy_sleeps(bb8: Toy) -> None:
    bb8.stream(40, 1, IMU)
    bb8.run(1.0)
    assert bb8.send(CORE, SLEEP, struct.pack(">HBH", 0, 0, 0)).mrsp == 0
    bb8.listen()
    assert not bb8.sim.streaming
    assert bb8.sim.data_streaming is None  # forgotten, as sleep forgets it
    assert len(bb8.packets()) == 10
    bb8.clock.advance(5.0)
    assert bb8.sim.stream_frames_sent == 10


def test_a_packet_longer_than_dlen_allows_is_refused(bb8: Toy) -> None:
    data = struct.pack(">HHIBI", 40, 1000, 0xFFFFFFFF, 0, 0xFFFFFFFF)  # 41 000 values a packet
    assert bb8.send(SPHERO, SET_DATA_STREAMING, data).mrsp == 0x07
    assert not bb8.sim.streaming


def test_every_stream_packet_rebuilds_byte_for_byte_with_spherov2(bb8: Toy) -> None:
    bb8.stream(40, 3, 0xFFFFFFFF, mask2=0xFFFFFFFF)
    bb8.roll(200, 45)
    bb8.run(3.0)
    streamed = [p for p in bb8.sim.sent_packets if p[1] == 0xFE and p[2] == SENSOR_STREAM]
    assert len(streamed) == 10
    for packet in streamed:
        reparsed = SpheroV2Packet.parse_async(bytearray(packet[2:]))
        assert bytes(reparsed.build()) == packet
        assert len(reparsed.data) == 3 * 41 * 2


async def test_stream_reaches_a_bleak_client_in_20_byte_notifications(clock: SimClock) -> None:
    toy = SimulatedBB8(ADDRESS, clock=clock)
    heard: list[SpheroV2Packet.Response | SpheroV2Packet.Async] = []
    collector = SpheroV2Packet.Collector(heard.append)
    async with sim_client(toy, on_notify=lambda chunk: collector.add(bytearray(chunk))) as session:
        request = SpheroV2Packet.Request(
            SPHERO, SET_DATA_STREAMING, 1, bytearray(struct.pack(">HHIBI", 40, 1, 0xFFFFFFFF, 0, 0xFFFFFFFF))
        )
        await session.send(bytes(request.build()))
        await settle()
        clock.advance(1.0)
        await settle()
        assert all(len(chunk) <= 20 for chunk in session.received)
    stream = [p for p in heard if isinstance(p, SpheroV2Packet.Async) and p.id_code == SENSOR_STREAM]
    assert len(stream) == 10
    assert all(len(packet.data) == 82 for packet in stream)


async def test_stream_runs_in_developer_mode_on_the_realtime_ticker() -> None:
    """Developer mode moves the clock with the event loop's time; the stream follows it."""
    clock = SimClock()
    toy = SimulatedBB8(ADDRESS, clock=clock)
    frames: list[bytes] = []
    async with (
        sim_client(toy, on_notify=frames.append) as session,
        RealtimeTicker(clock, interval=0.01, speed=20.0),
    ):
        request = SpheroV2Packet.Request(
            SPHERO, SET_DATA_STREAMING, 1, bytearray(struct.pack(">HHIB", 40, 1, IMU, 0))
        )
        await session.send(bytes(request.build()))
        await wait_for(lambda: toy.stream_frames_sent >= 20, timeout=10.0)
    assert toy.stream_frames_sent >= 20
    assert not toy.streaming  # the client disconnected


# =============================================================================================
# Motion
# =============================================================================================

TOP_SPEED = 195.0  # cm/s at speed 255: the simulator's documented assumption (BB-8's ~7 km/h)


def test_roll_ramps_up_to_the_speed_asked_for(bb8: Toy) -> None:
    bb8.roll(255, 0)
    bb8.run(0.5)
    assert bb8.sim.true_speed == pytest.approx(75.0)  # 150 cm/s² ramp
    bb8.run(2.0)
    assert bb8.sim.true_speed == pytest.approx(TOP_SPEED)
    bb8.roll(128, 0)
    bb8.run(2.0)
    assert bb8.sim.true_speed == pytest.approx(128 / 255 * TOP_SPEED)


def test_stop_decelerates_to_zero(bb8: Toy) -> None:
    bb8.roll(255, 0)
    bb8.run(3.0)
    bb8.roll(0, 0, state=0)
    bb8.run(0.25)
    assert bb8.sim.true_speed == pytest.approx(TOP_SPEED - 50.0)  # 200 cm/s² braking
    assert not bb8.sim.rolling  # told to stop, still slowing down
    bb8.run(1.0)
    assert bb8.sim.true_speed == 0.0
    x, y = bb8.sim.position
    bb8.run(10.0)
    assert bb8.sim.position == (x, y)


def test_a_square_returns_near_the_start_after_four_sides(bb8: Toy) -> None:
    """Roll speed 128 at headings 0, 90, 180, 270 for 3 s each, then stop.

    The toy turns at its rotation rate while rolling, so corners are arcs and the square closes
    only roughly; the distance is four sides (speed x time) to within the ramps.
    """
    bb8.stream(40, 1, 0, mask2=ODOMETER)
    side = 128 / 255 * TOP_SPEED * 3.0
    for heading in (0, 90, 180, 270):
        bb8.roll(128, heading)
        bb8.run(3.0)
    bb8.roll(0, 270, state=0)
    bb8.run(3.0)
    x, y = bb8.sim.position
    assert math.hypot(x, y) < 0.1 * side
    assert bb8.sim.distance_travelled == pytest.approx(4 * side, rel=0.03)
    odometer = bb8.packets()
    assert len(odometer) == 150
    assert odometer[-1] == (round(x), round(y))  # the locator started where the toy woke
    assert max(abs(value) for frame in odometer for value in frame) > 0.9 * side


def test_speed_zero_roll_turns_in_place_at_the_rotation_rate(bb8: Toy) -> None:
    bb8.stream(40, 1, IMU_YAW)
    bb8.roll(0, 90)
    bb8.run(0.3)
    assert bb8.sim.true_yaw == pytest.approx(0.3 * 200 * 0.784)  # default rate 200: 157 °/s
    bb8.run(1.0)
    assert bb8.sim.true_yaw == 90.0
    assert bb8.sim.position == (0.0, 0.0)
    assert bb8.sim.distance_travelled == 0.0
    yaws = [frame[0] for frame in bb8.packets()]
    assert yaws[0] == round(0.1 * 200 * 0.784)
    assert yaws[-1] == 90
    assert yaws == sorted(yaws)
    assert bb8.send(SPHERO, SET_ROTATION_RATE, bytes([255])).mrsp == 0
    bb8.roll(0, 0)
    bb8.run(0.125)
    assert bb8.sim.true_yaw == pytest.approx(40.0)  # 400 °/s at rate 255


def test_the_toy_turns_the_short_way(bb8: Toy) -> None:
    bb8.roll(0, 300)
    bb8.run(0.1)
    assert bb8.sim.true_yaw < 0  # 300 is 60° to the left: it turns left
    bb8.run(1.0)
    assert bb8.sim.true_yaw == pytest.approx(-60.0)


def test_set_heading_declares_the_current_direction_and_later_rolls_follow_it(bb8: Toy) -> None:
    bb8.stream(40, 1, IMU_YAW)
    bb8.roll(0, 90)
    bb8.run(1.0)
    assert bb8.packets()[-1] == (90,)
    bb8.set_heading(0)  # aim: "this way is forward"
    bb8.run(0.1)
    assert bb8.packets() == [(0,)]
    assert bb8.sim.true_yaw == 90.0  # the toy did not move
    bb8.roll(100, 0)
    bb8.run(2.0)
    x, y = bb8.sim.position
    assert x > 100.0
    assert y == pytest.approx(0.0, abs=1e-6)  # heading 0 is now the room's +x
    bb8.roll(0, 270)
    bb8.run(2.0)
    assert bb8.sim.true_yaw == pytest.approx(0.0)  # heading 270 is the room's original forward


def test_configure_locator_resets_the_reported_position(bb8: Toy) -> None:
    bb8.stream(40, 1, 0, mask2=ODOMETER)
    bb8.roll(200, 45)
    bb8.run(3.0)
    bb8.roll(0, 45, state=0)
    bb8.run(2.0)
    assert bb8.packets()[-1] != (0, 0)
    bb8.configure_locator(0, 0, 0, 0)
    bb8.run(0.1)
    assert bb8.packets() == [(0, 0)]
    bb8.configure_locator(0, 100, -50, 0)
    bb8.run(0.1)
    assert bb8.packets() == [(100, -50)]
    true_position = bb8.sim.position
    bb8.configure_locator(0, 0, 0, 90)  # +Y is now heading 90
    bb8.roll(100, 90)
    bb8.run(3.0)
    bb8.roll(0, 90, state=0)
    bb8.run(2.0)
    x, y = bb8.packets()[-1]
    assert abs(x) <= 3  # it rolled down the new +Y, after turning there from heading 45
    assert y > 100
    assert bb8.sim.position[0] > true_position[0]  # the room's +x: the locator moved, not the toy


def test_auto_correct_flag_keeps_the_locator_axes_through_set_heading(bb8: Toy) -> None:
    bb8.stream(40, 1, 0, mask2=ODOMETER)
    bb8.configure_locator(1, 0, 0, 0)  # flag set: SetHeading corrects the yaw tare
    bb8.roll(0, 90)
    bb8.run(1.0)
    bb8.set_heading(0)
    bb8.roll(100, 0)  # the room's +x
    bb8.run(2.0)
    x, y = bb8.packets()[-1]
    assert x > 100
    assert y == 0


def test_without_auto_correct_the_locator_y_axis_follows_heading_zero(bb8: Toy) -> None:
    bb8.stream(40, 1, 0, mask2=ODOMETER)
    bb8.configure_locator(0, 0, 0, 0)
    bb8.roll(0, 90)
    bb8.run(1.0)
    bb8.set_heading(0)
    bb8.roll(100, 0)  # the room's +x, the new heading 0
    bb8.run(2.0)
    x, y = bb8.packets()[-1]
    assert x == 0
    assert y > 100


def test_velocity_is_in_mm_per_second_in_the_locator_frame(bb8: Toy) -> None:
    bb8.roll(255, 90)
    bb8.run(3.0)
    bb8.stream(40, 1, 0, mask2=VELOCITY)
    bb8.run(0.1)
    assert bb8.packets() == [(1950, 0)]


def test_attitude_leans_with_acceleration_and_the_accelerometer_feels_it(bb8: Toy) -> None:
    bb8.stream(40, 1, IMU | ACCEL)
    bb8.run(0.1)
    assert bb8.packets() == [(0, 0, 0, 0, 0, 4096)]  # level, 1 g on Z
    bb8.roll(255, 0)
    bb8.run(0.5)
    pitch, roll, yaw, accel_x, accel_y, accel_z = bb8.packets()[-1]
    assert 1 <= pitch <= 5  # the nose dips while speeding up
    assert (roll, yaw, accel_x) == (0, 0, 0)
    assert accel_y > 300  # 150 cm/s² is 0.15 g forward, less the lean's gravity
    assert accel_z == pytest.approx(4096, abs=10)
    bb8.run(2.0)
    assert bb8.packets()[-1] == (0, 0, 0, 0, 0, 4096)  # steady speed: level again
    bb8.roll(255, 90)  # a right turn at speed leans it into the turn
    bb8.run(0.2)
    pitch, roll, yaw, accel_x, accel_y, accel_z = bb8.packets()[-1]
    assert roll < 0
    assert accel_x > 0
    assert 0 < yaw < 90


def test_quaternion_agrees_with_the_streamed_attitude(bb8: Toy) -> None:
    bb8.stream(40, 1, IMU, mask2=QUATERNION)
    bb8.roll(255, 0)
    bb8.run(0.5)
    bb8.roll(255, 120)
    bb8.run(1.5)
    frames = bb8.packets()
    assert any(frame[0] != 0 or frame[1] != 0 for frame in frames)
    for pitch, roll, yaw, *quaternion in frames:
        assert math.hypot(*quaternion) == pytest.approx(10000, abs=3)
        expected = [q * 10000 for q in attitude_quaternion(pitch, roll, yaw)]
        assert quaternion == pytest.approx(expected, abs=120)  # angles are streamed in whole degrees
        q0, _, _, q3 = quaternion
        assert math.degrees(2 * math.atan2(q3, q0)) == pytest.approx(yaw, abs=2)  # nearly level: yaw about Z
    assert frames[-1][2] == 120


def test_collision_spikes_the_accelerometer_and_stops_the_toy(bb8: Toy) -> None:
    assert bb8.send(SPHERO, CONFIGURE_COLLISION, bytes([1, 80, 0, 80, 0, 10])).mrsp == 0
    bb8.roll(200, 0)
    bb8.run(3.0)
    bb8.stream(40, 1, ACCEL, mask2=ACCEL_ONE)
    bb8.run(0.05)
    assert bb8.sim.trigger_collision(x_magnitude=512, y_magnitude=-256)
    assert bb8.sim.true_speed == 0.0
    assert not bb8.sim.rolling
    position = bb8.sim.position
    bb8.run(0.5)
    frames = bb8.packets()
    assert frames[0] == (4096, -2048, 4096, 150)  # 1 g on X, -0.5 g on Y: 1.5 g in all
    assert all(frame == (0, 0, 4096, 100) for frame in frames[2:])
    assert bb8.sim.position == position
    assert [p for p in bb8.heard if isinstance(p, SpheroV2Packet.Async) and p.id_code == 0x07]


def test_a_bump_below_the_threshold_still_stops_the_toy_but_is_not_reported(bb8: Toy) -> None:
    bb8.roll(200, 0)
    bb8.run(2.0)
    assert not bb8.sim.trigger_collision(x_magnitude=50)  # detection not armed
    assert bb8.sim.true_speed == 0.0


def test_the_toy_does_not_move_while_asleep_and_wakes_at_rest_with_a_fresh_locator(bb8: Toy) -> None:
    bb8.roll(200, 90)
    bb8.run(2.0)
    bb8.sim.sleep_now()
    position = bb8.sim.position
    bb8.clock.advance(60.0)
    assert bb8.sim.position == position
    bb8.link = connect_toy(bb8.sim)
    assert bb8.sim.true_speed == 0.0
    assert bb8.sim.odometer == (0.0, 0.0)
    bb8.stream(40, 1, IMU_YAW)
    bb8.run(0.1)
    assert bb8.packets() == [(0,)]  # woken facing heading 0
    assert bb8.sim.true_yaw == 90.0


def test_a_toy_at_rest_schedules_nothing_for_motion(clock: SimClock) -> None:
    toy = SimulatedBB8(ADDRESS, clock=clock)
    connect_toy(toy)
    before = clock.pending
    clock.advance(1.0)
    assert toy.position == (0.0, 0.0)
    assert clock.pending == before


def test_motor_fields_follow_gobot_and_sphero_js_right_then_left(bb8: Toy) -> None:
    """Back-EMF: right on bits 22 (raw) and 6 (filtered), left on 21 and 5; PWM: left 20, right 19."""
    bb8.stream(40, 1, 0x00600000 | 0x00180000 | 0x00000060)
    bb8.roll(0, 90)  # a right turn in place: the left wheel forward, the right wheel back
    bb8.run(0.1)
    raw_right, raw_left, pwm_left, pwm_right, right, left = bb8.packets()[-1]
    assert raw_right == right < 0
    assert raw_left == left > 0
    assert pwm_left == -pwm_right > 0
    bb8.roll(255, 90)
    bb8.run(3.0)
    raw_right, raw_left, pwm_left, pwm_right, right, left = bb8.packets()[-1]
    assert raw_right == raw_left == right == left == round(TOP_SPEED)  # wheel speed in cm/s
    assert pwm_left == pwm_right == 2047


def test_raw_motors_do_not_drive_the_model_it_coasts_to_a_stop(bb8: Toy) -> None:
    bb8.roll(255, 0)
    bb8.run(3.0)
    assert bb8.send(SPHERO, 0x33, bytes([1, 200, 1, 200])).mrsp == 0
    bb8.run(0.5)
    assert bb8.sim.true_speed == pytest.approx(TOP_SPEED - 100.0)
    bb8.run(1.0)
    assert bb8.sim.true_speed == 0.0


def test_looking_at_the_toy_does_not_change_its_path() -> None:
    """Reads between the model's 10 ms steps work on a copy: a watched toy rolls the same square."""
    paths = []
    for looking in (False, True):
        watched = Toy(SimClock())
        watched.stream(7, 1, IMU, mask2=ODOMETER)  # samples every 17.5 ms, between steps
        for heading in (0, 90, 180, 270):
            watched.roll(128, heading)
            for _ in range(1000):
                watched.clock.advance(0.003)
                if looking:
                    _ = watched.sim.position
        watched.roll(0, 0, state=0)
        watched.run(3.0)
        paths.append((watched.sim.position, watched.sim.distance_travelled))
    assert paths[0] == paths[1]
