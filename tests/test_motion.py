"""The sensor stream in ``sphero/``: the decoder on a real captured frame, the tracker, streaming on demand.

Packets are built here from the Sphero API 1.50 specification (``FF FE 03 DLEN <frames> CHK``,
one big-endian int16 per set mask bit, mask 1 then mask 2, bit 31 first) with the simulator's
own framing (``bb8sim.protocol.build_async``), never with the integration's encoder, and
injected into the simulated toy's notifications.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import logging
import math
import struct

import pytest

from bb8sim import SimulatedBB8
from bb8sim.protocol import build_async
from custom_components.bb8.sphero.commands import ping
from custom_components.bb8.sphero.motion import (
    DISTANCE_STEP_CM,
    MASK1_DEFINED,
    MASK2_DEFINED,
    MOVING_THRESHOLD_CM_S,
    MotionSample,
    MotionTracker,
    StreamLayout,
    decode_frames,
)
from custom_components.bb8.sphero.motion_stream import MotionGroup
from custom_components.bb8.sphero.session import BB8Session, ConnectionMode, SessionState

from .captures import sensor_stream
from .conftest import connected_session, started_session, wait_for

SENSOR_STREAM = 0x03
SET_DATA_STREAMING = (0x02, 0x11)
# The specification's mask bits, spelled here independently of sphero/motion.py.
SPEC_PITCH_ROLL_YAW = 0x00070000
SPEC_ODOMETER_XY = 0x0C000000
SPEC_VELOCITY_XY = 0x01800000


def captured_packet() -> bytes:
    """gobot's recorded stream packet, its notifications joined (``tests/captures/sensor_stream.py``)."""
    return b"".join(sensor_stream.NOTIFICATIONS)


def location_frame(x: int, y: int, vx: int, vy: int) -> bytes:
    """One frame of mask 2 odometer X, Y then velocity X, Y (bits 27, 26, 24, 23)."""
    return struct.pack(">4h", x, y, vx, vy)


def streaming_records(toy: SimulatedBB8) -> list[tuple[int, int, int, int]]:
    """Every SetDataStreaming the toy read on this link: (N, M, MASK, MASK2)."""
    records = []
    for record in toy.commands_this_link:
        if (record.did, record.cid) == SET_DATA_STREAMING:
            n, m, mask, _count = struct.unpack(">HHIB", record.data[:9])
            mask2 = struct.unpack(">I", record.data[9:13])[0] if len(record.data) == 13 else 0
            records.append((n, m, mask, mask2))
    return records


# ---------------------------------------------------------------------------------------------
# The decoder, on the captured frame
# ---------------------------------------------------------------------------------------------


def test_captured_packet_is_one_sensor_stream_packet_of_41_values() -> None:
    """Source: gobot ollie_driver_test.go TestDataStreaming (see tests/captures/sensor_stream.py)."""
    packet = captured_packet()
    assert packet[:3] == bytes([0xFF, 0xFE, SENSOR_STREAM])
    dlen = int.from_bytes(packet[3:5], "big")
    assert len(packet) == 5 + dlen
    assert (dlen - 1) // 2 == sensor_stream.VALUES


def test_capture_layout_is_29_values_for_mask_1_and_12_for_mask_2() -> None:
    """All bits set gave 41 values: mask 1 bits 31..3 (29) and 12 from mask 2 (9 defined + 3).

    Which three reserved bits of mask 2 sent the last three is unknown; all of them lie below
    bit 23, so any three give the defined fields the same positions.
    """
    layout = StreamLayout(0xFFFFFFF8, 0xFFF00000)
    assert layout.values_per_frame == sensor_stream.VALUES
    assert layout.names.count(None) == 8 + 3, "reserved positions of mask 1 (8) and mask 2 (3)"


def test_decoder_reads_the_captured_frame_in_the_spec_units() -> None:
    """Source: gobot's recorded packet; a toy at rest, tilted about 6 degrees about X."""
    data = captured_packet()[5:-1]
    (frame,) = decode_frames(StreamLayout(0xFFFFFFF8, 0xFFF00000), data)
    assert frame["accel_x_raw"] == 4 * sensor_stream.FIRST_VALUE_RAW_ACCEL_X, "raw accel in 4 mG steps"
    assert (frame["accel_y_raw"], frame["accel_z_raw"]) == (4 * 57, 4 * 250)
    assert (frame["pitch"], frame["roll"], frame["yaw"]) == (-5, 1, 0)
    assert frame["accel_z"] == pytest.approx(4148 / 4096)  # filtered, 1/4096 g: 1.01 g at rest
    assert frame["accel_y"] == pytest.approx(445 / 4096)
    quaternion = [frame[f"quaternion_{i}"] for i in range(4)]
    assert quaternion == pytest.approx([0.9985, -0.0539, 0.0086, 0.0])
    assert math.sqrt(sum(q * q for q in quaternion)) == pytest.approx(1.0, abs=0.001), "a unit quaternion"
    tilt = math.degrees(2 * math.asin(abs(quaternion[1])))
    assert tilt == pytest.approx(6.2, abs=0.2), "the quaternion's tilt about X matches the accel's"
    assert (frame["odometer_x"], frame["odometer_y"]) == (0, 0)
    assert (frame["velocity_x"], frame["velocity_y"]) == (0, 0)
    assert frame["motor_right_pwm_raw"] == -20


def test_capture_wins_over_the_spec_for_accel_one_in_hundredths_of_g() -> None:
    """The spec says accelOne is in mG; the captured toy at rest sent 101, i.e. 1.01 g in 0.01 g.

    Read as mG it would be 0.1 g for a toy standing still, against 1.01 g on the filtered
    accelerometer of the same frame.
    """
    (frame,) = decode_frames(StreamLayout(0xFFFFFFF8, 0xFFF00000), captured_packet()[5:-1])
    assert frame["accel_one"] == pytest.approx(1.01)
    assert frame["accel_one"] == pytest.approx(frame["accel_z"], abs=0.01)


def test_sample_from_the_captured_frame_is_at_rest_at_the_origin() -> None:
    (frame,) = decode_frames(StreamLayout(0xFFFFFFF8, 0xFFF00000), captured_packet()[5:-1])
    sample = MotionSample.from_frame(frame)
    assert sample == MotionSample(x=0, y=0, speed=0, pitch=-5, roll=1, yaw=0)
    assert sample.moving is False


def test_mask_bits_match_the_spec_and_sphero_js() -> None:
    """sphero.js lib/devices/custom.js: streamImuAngles, streamOdometer, streamVelocity."""
    assert StreamLayout(SPEC_PITCH_ROLL_YAW).names == ("pitch", "roll", "yaw")
    assert StreamLayout(0, SPEC_ODOMETER_XY | SPEC_VELOCITY_XY).names == (
        "odometer_x",
        "odometer_y",
        "velocity_x",
        "velocity_y",
    )
    assert StreamLayout(0x00000060).names == ("motor_right_emf", "motor_left_emf")
    assert StreamLayout(0x00600000 | 0x00180000).names == (
        "motor_right_emf_raw",
        "motor_left_emf_raw",
        "motor_left_pwm_raw",
        "motor_right_pwm_raw",
    )


def test_frames_are_read_mask_1_first_then_mask_2_most_significant_bit_first() -> None:
    layout = StreamLayout(SPEC_PITCH_ROLL_YAW, SPEC_ODOMETER_XY | SPEC_VELOCITY_XY)
    two_frames = struct.pack(">7h7h", 10, -20, 179, 100, -50, 300, -400, 0, 0, 0, 0, 0, 0, 0)
    first, second = decode_frames(layout, two_frames, frames_per_packet=2)
    assert first == {
        "pitch": 10,
        "roll": -20,
        "yaw": 179,
        "odometer_x": 100,
        "odometer_y": -50,
        "velocity_x": 300,
        "velocity_y": -400,
    }
    assert MotionSample.from_frame(first).speed == pytest.approx(50.0), "500 mm/s is 50 cm/s"
    assert set(second.values()) == {0}


@pytest.mark.parametrize(
    ("length", "frames"), [(0, 1), (5, 1), (6, 1), (13, 1), (16, 1), (14, 2), (2 * 14 + 2, 2)]
)
def test_malformed_lengths_raise_value_error(length: int, frames: int) -> None:
    layout = StreamLayout(SPEC_PITCH_ROLL_YAW, SPEC_ODOMETER_XY | SPEC_VELOCITY_XY)
    with pytest.raises(ValueError, match="does not hold"):
        decode_frames(layout, bytes(length), frames_per_packet=frames)


def test_an_empty_layout_decodes_nothing() -> None:
    with pytest.raises(ValueError):
        decode_frames(StreamLayout(0, 0), b"")


def test_the_session_only_ever_asks_for_defined_bits() -> None:
    """Reserved bits send values of unknown number; only defined ones are ever requested."""
    from custom_components.bb8.sphero.models import SessionCounters
    from custom_components.bb8.sphero.motion_stream import MotionStream

    stream = MotionStream("test", SessionCounters(), lambda: None)
    stream.request(MotionGroup)
    wanted = stream.wanted
    assert wanted.mask & ~MASK1_DEFINED == 0
    assert wanted.mask2 & ~MASK2_DEFINED == 0
    assert (wanted.mask, wanted.mask2) == (SPEC_PITCH_ROLL_YAW, SPEC_ODOMETER_XY | SPEC_VELOCITY_XY)


# ---------------------------------------------------------------------------------------------
# The tracker
# ---------------------------------------------------------------------------------------------


def walk(tracker: MotionTracker, points: list[tuple[int, int]]) -> None:
    for x, y in points:
        tracker.add(MotionSample(x=x, y=y, speed=0))


def square(side: int) -> list[tuple[int, int]]:
    points = [(x, 0) for x in range(side + 1)]
    points += [(side, y) for y in range(1, side + 1)]
    points += [(x, side) for x in range(side - 1, -1, -1)]
    points += [(0, y) for y in range(side - 1, -1, -1)]
    return points


def test_distance_of_a_square_is_four_sides_though_the_toy_ends_where_it_started() -> None:
    tracker = MotionTracker()
    walk(tracker, square(100))
    assert tracker.distance == pytest.approx(400, abs=4)
    assert tracker.sample is not None
    assert (tracker.sample.x, tracker.sample.y) == (0, 0)


def test_a_diagonal_in_whole_centimetres_counts_its_length_not_its_staircase() -> None:
    tracker = MotionTracker()
    points = [(0, 0)]
    for _ in range(100):
        x, y = points[-1]
        points += [(x + 1, y), (x + 1, y + 1)]
    walk(tracker, points)
    assert tracker.distance == pytest.approx(100 * math.sqrt(2), rel=0.02)


def test_wobble_at_rest_adds_no_distance() -> None:
    tracker = MotionTracker()
    walk(tracker, [(0, 0), (1, 0), (0, 1), (-1, 0), (0, -1), (1, 1)] * 100)
    assert tracker.distance == 0


def test_a_roll_that_ends_between_two_chords_counts_its_last_centimetres_when_the_toy_comes_to_rest() -> None:
    tracker = MotionTracker()
    for y in (0, 2, 4, 6, 8):  # rolling at 20 cm/s: one chord of 6 cm, then 2 cm still open
        tracker.add(MotionSample(x=0, y=y, speed=20))
    assert tracker.distance == 6
    tracker.add(MotionSample(x=0, y=9, speed=0))  # at rest: the open chord counts, all 3 cm of it
    assert tracker.distance == 9
    walk(tracker, [(0, 10), (0, 9), (1, 9), (0, 8)] * 50)  # and wobble at rest still adds nothing
    assert tracker.distance == 9


def test_a_link_lost_forgets_the_sample_and_the_jump_to_a_restarted_odometer_is_not_counted() -> None:
    tracker = MotionTracker()
    walk(tracker, [(0, 0), (50, 0)])
    assert tracker.distance == 50
    tracker.link_lost()
    assert tracker.sample is None
    walk(tracker, [(0, 0), (0, 20)])  # the toy slept: its odometer restarted at 0,0
    assert tracker.distance == 70


def test_reset_restarts_the_distance_at_zero() -> None:
    tracker = MotionTracker()
    walk(tracker, [(0, 0), (30, 40)])
    assert tracker.distance == 50
    tracker.reset()
    walk(tracker, [(0, 0), (0, DISTANCE_STEP_CM)])  # the locator moved to 0,0
    assert tracker.distance == DISTANCE_STEP_CM


@pytest.mark.parametrize(("velocity", "moving"), [((30, 40), False), ((0, 51), True), ((0, 0), False)])
def test_moving_means_faster_than_the_threshold(velocity: tuple[int, int], moving: bool) -> None:
    sample = MotionSample.from_frame({"velocity_x": velocity[0], "velocity_y": velocity[1]})
    assert MOVING_THRESHOLD_CM_S == 5.0
    assert sample.moving is moving


# ---------------------------------------------------------------------------------------------
# Streaming on the session (bleak onto the simulated toy, no Home Assistant)
# ---------------------------------------------------------------------------------------------


def inject(toy: SimulatedBB8, *frames: bytes) -> None:
    """Notify one sensor stream packet per frame, split in 20-byte pieces as the toy does."""
    for frame in frames:
        toy.inject_notification(build_async(SENSOR_STREAM, frame), chunked=True)


async def test_with_nothing_wanted_a_connect_stops_any_stream_the_toy_kept(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    await connected_session(make_session)
    assert streaming_records(bare_toy) == [(40, 1, 0, 0)]


async def test_wanting_location_streams_odometer_and_velocity_at_10_hz(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    session = await connected_session(make_session)
    session.toy.motion.request([MotionGroup.LOCATION])
    await wait_for(lambda: session.toy.motion.streaming)
    assert streaming_records(bare_toy)[-1] == (40, 1, 0, SPEC_ODOMETER_XY | SPEC_VELOCITY_XY)
    record = [r for r in bare_toy.commands_this_link if (r.did, r.cid) == SET_DATA_STREAMING][-1]
    assert record.reset_timeout is False, "streaming does not keep the toy from its own sleep"


async def test_stream_packets_become_samples_and_reach_motion_listeners(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    session = await connected_session(make_session)
    heard: list[object] = []
    session.toy.motion.add_listener(lambda: heard.append(session.toy.motion.sample))
    session.toy.motion.request([MotionGroup.LOCATION])
    await wait_for(lambda: session.toy.motion.streaming)
    inject(bare_toy, location_frame(0, 0, 0, 0), location_frame(0, 30, 0, 400), location_frame(0, 70, 0, 400))
    await wait_for(lambda: len(heard) == 3)
    assert session.toy.motion.sample == MotionSample(x=0, y=70, speed=40.0)
    assert session.toy.motion.distance == 70
    assert session.toy.motion.frames_received == 3


async def test_both_groups_stream_in_one_frame_attitude_first(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    session = await connected_session(make_session)
    session.toy.motion.request([MotionGroup.LOCATION])
    session.toy.motion.request([MotionGroup.ATTITUDE])
    await wait_for(lambda: session.toy.motion.streaming and session.pending_commands == 0)
    assert streaming_records(bare_toy)[-1] == (
        40,
        1,
        SPEC_PITCH_ROLL_YAW,
        SPEC_ODOMETER_XY | SPEC_VELOCITY_XY,
    )
    inject(bare_toy, struct.pack(">3h", 3, -4, 90) + location_frame(12, 34, 0, 0))
    await wait_for(lambda: session.toy.motion.sample is not None)
    assert session.toy.motion.sample == MotionSample(x=12, y=34, speed=0, pitch=3, roll=-4, yaw=90)


async def test_the_stream_stops_with_zero_masks_when_nothing_wants_it(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    session = await connected_session(make_session)
    first = session.toy.motion.request([MotionGroup.ATTITUDE])
    second = session.toy.motion.request([MotionGroup.ATTITUDE])
    await wait_for(lambda: session.toy.motion.streaming)
    first.cancel()
    await wait_for(lambda: session.pending_commands == 0)
    assert session.toy.motion.streaming, "still wanted by the second"
    second.cancel()
    await wait_for(lambda: not session.toy.motion.streaming)
    assert streaming_records(bare_toy)[-1] == (40, 1, 0, 0)


async def test_the_stream_is_started_again_after_every_reconnect(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    session = make_session()
    session.toy.motion.request([MotionGroup.LOCATION])
    await session.start()
    await wait_for(lambda: session.toy.motion.streaming)
    inject(bare_toy, location_frame(5, 5, 0, 0))
    await wait_for(lambda: session.toy.motion.sample is not None)
    bare_toy.disconnect_now()
    await wait_for(lambda: session.state is not SessionState.CONNECTED)
    assert session.toy.motion.sample is None, "no motion value while the link is down"
    assert not session.toy.motion.streaming
    await wait_for(lambda: session.toy.motion.streaming)
    assert streaming_records(bare_toy) == [(40, 1, 0, SPEC_ODOMETER_XY | SPEC_VELOCITY_XY)]


async def test_wanting_motion_never_connects_a_toy(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    session = make_session(mode=ConnectionMode.ON_DEMAND)
    session.toy.motion.request([MotionGroup.LOCATION, MotionGroup.ATTITUDE])
    await wait_for(lambda: True)
    assert session.state is SessionState.DISCONNECTED
    assert not bare_toy.connected
    assert bare_toy.commands_received == []


async def test_a_stream_does_not_keep_an_on_demand_link_up(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    session = make_session(mode=ConnectionMode.ON_DEMAND, idle_timeout=0.3)
    session.toy.motion.request([MotionGroup.LOCATION])
    await session.send(ping())  # use: connects
    await wait_for(lambda: session.toy.motion.streaming)
    while session.is_connected:
        inject(bare_toy, location_frame(1, 1, 0, 0))
        await wait_for(lambda: True)
        await asyncio.sleep(0.05)
    assert session.toy.motion.frames_received > 0
    assert session.counters.drops == 0, "let go as idle"


async def test_a_malformed_stream_packet_is_dropped_counted_and_logged_at_debug(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.bb8.sphero")
    session = await connected_session(make_session)
    session.toy.motion.request([MotionGroup.LOCATION])
    await wait_for(lambda: session.toy.motion.streaming)
    inject(bare_toy, location_frame(1, 2, 0, 0)[:-2], location_frame(3, 4, 0, 0))
    await wait_for(lambda: session.toy.motion.sample is not None)
    assert session.toy.motion.malformed_packets == 1
    assert session.toy.motion.sample == MotionSample(x=3, y=4, speed=0)
    assert session.is_connected
    assert any("malformed sensor stream packet" in r.getMessage() for r in caplog.records)
    assert all(r.levelno <= logging.DEBUG for r in caplog.records if "sensor stream" in r.getMessage())
    assert session.diagnostics()["motion"]["malformed_packets"] == 1


async def test_a_stream_packet_nobody_asked_for_is_dropped_and_counted(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.bb8.sphero")
    session = await connected_session(make_session)  # nothing wanted: the stream was stopped
    inject(bare_toy, location_frame(1, 2, 0, 0))
    await wait_for(lambda: session.toy.motion.unexpected_packets == 1)
    assert session.toy.motion.malformed_packets == 0
    assert session.toy.motion.sample is None
    assert any("sensor stream packet nobody asked for" in r.getMessage() for r in caplog.records)


async def test_a_stream_change_the_toy_refuses_is_logged_at_debug_and_retried_at_the_next_connect(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.bb8.sphero")
    session = await started_session(make_session)
    with bare_toy.refusing(*SET_DATA_STREAMING, 0x05):
        session.toy.motion.request([MotionGroup.ATTITUDE])
        await wait_for(
            lambda: any("changing the sensor stream failed" in r.getMessage() for r in caplog.records)
        )
    assert not session.toy.motion.streaming
    assert session.is_connected
    bare_toy.disconnect_now()
    await wait_for(lambda: session.state is not SessionState.CONNECTED)
    await wait_for(lambda: session.toy.motion.streaming)
    assert streaming_records(bare_toy)[-1] == (40, 1, SPEC_PITCH_ROLL_YAW, 0)


async def test_closing_the_session_forgets_motion_listeners_and_requests(
    make_session: Callable[..., BB8Session],
) -> None:
    session = await connected_session(make_session)
    session.toy.motion.request([MotionGroup.LOCATION])
    session.toy.motion.add_listener(lambda: None)
    assert session.toy.motion.listener_count == 2
    await session.close()
    assert session.toy.listener_count == 0
