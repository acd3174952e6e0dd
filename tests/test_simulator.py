"""Behaviour of the simulated BB-8, its clock, its faults and its bleak backend.

Most tests talk to the toy through a synchronous recording link (no event loop, no real time);
the backend tests go through ``bleak.BleakClient(..., backend=SimBleakBackend)``. Packets the
toy sends are read back with the integration's own ``StreamReassembler`` and decoders, so these
tests also pin the codec and the simulator to the same reading of the protocol.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import struct

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import BleakDeviceNotFoundError, BleakError
from bleak_retry_connector import (
    BLEAK_OUT_OF_SLOTS_BACKOFF_TIME,
    BleakClientWithServiceCache,
    calculate_backoff_time,
    establish_connection,
)
import pytest

from bb8sim import (
    ConnectFailure,
    FaultPlan,
    PowerState,
    RealtimeTicker,
    SimBleakBackend,
    SimClock,
    SimulatedBB8,
    registry,
)
from bb8sim.testing import (
    HANDSHAKE,
    RecordingLink,
    chunks,
    connect_toy,
    frame_request,
    make_ble_device,
    settle,
    sim_client,
)
from custom_components.bb8.sphero.const import (
    ANTI_DOS_CHAR,
    COMMANDS_CHAR,
    RADIO_SERVICE,
    RESPONSE_CHAR,
    TX_POWER_CHAR,
    WAKE_CHAR,
    AsyncId,
    CoreCommand,
    DeviceId,
    RollMode,
    SpheroCommand,
)
from custom_components.bb8.sphero.decoders import (
    decode_collision,
    decode_power_notification,
    decode_power_state,
    decode_versions,
)
from custom_components.bb8.sphero.protocol import AsyncPacket, Packet, Response, StreamReassembler
from soak.chaos import live_backends

from .framing import Request

ADDRESS = "F1:2C:3D:4E:B5:4A"
CORE = DeviceId.CORE
SPHERO = DeviceId.SPHERO


@pytest.fixture
def clock() -> SimClock:
    return SimClock()


@pytest.fixture
def toy(clock: SimClock) -> SimulatedBB8:
    return SimulatedBB8(ADDRESS, clock=clock)


@pytest.fixture
def link(toy: SimulatedBB8) -> RecordingLink:
    return connect_toy(toy)


def read_packets(link: RecordingLink) -> list[Packet]:
    """Everything the toy sent since the last read, as packets (garbage would fail the test)."""
    reader = StreamReassembler()
    packets = reader.feed(link.take())
    assert reader.pending == 0
    assert reader.dropped_bytes == 0
    return packets


def send(toy: SimulatedBB8, frame: bytes, *, now: float | None = None) -> None:
    for piece in chunks(frame):
        toy.write(COMMANDS_CHAR, piece, now=now)


def command(
    toy: SimulatedBB8, link: RecordingLink, did: int, cid: int, data: bytes = b"", seq: int = 0x42
) -> Response:
    """Send one command and return its only response."""
    send(toy, frame_request(did, cid, seq, data))
    packets = read_packets(link)
    responses = [packet for packet in packets if isinstance(packet, Response)]
    assert len(responses) == 1, packets
    return responses[0]


def asyncs(packets: list[Packet], id_code: int) -> list[AsyncPacket]:
    return [p for p in packets if isinstance(p, AsyncPacket) and p.id_code == id_code]


# =============================================================================================
# Identity and handshake
# =============================================================================================


def test_name_is_bb_and_last_four_hex_digits_of_the_address() -> None:
    assert SimulatedBB8("F1:2C:3D:4E:B5:4A").name == "BB-B54A"
    assert SimulatedBB8("f1:2c:3d:4e:b5:4a").address == "F1:2C:3D:4E:B5:4A"
    assert SimulatedBB8(ADDRESS, name="Droid").name == "Droid"


def test_commands_before_the_handshake_are_ignored(toy: SimulatedBB8) -> None:
    link = connect_toy(toy, handshake=False)
    ping = frame_request(CORE, CoreCommand.PING, 1)

    send(toy, ping)
    assert link.take() == b""

    toy.write(ANTI_DOS_CHAR, b"011i3")
    toy.write(TX_POWER_CHAR, b"\x07")
    send(toy, ping)
    assert link.take() == b""  # anti-DoS alone is not enough: the toy is still asleep

    toy.write(WAKE_CHAR, b"\x01")
    send(toy, ping)
    assert read_packets(link) == [Response(0x00, 1)]
    assert toy.ignored_writes == 2
    assert toy.commands_received == [(CORE, CoreCommand.PING, b"")]


@pytest.mark.parametrize(
    "writes",
    [
        pytest.param([(WAKE_CHAR, b"\x01"), (ANTI_DOS_CHAR, b"011i3")], id="wake before anti-DoS"),
        pytest.param([(ANTI_DOS_CHAR, b"011i4"), (WAKE_CHAR, b"\x01")], id="wrong anti-DoS value"),
    ],
)
def test_a_wake_without_the_anti_dos_unlock_before_it_does_not_unlock(
    toy: SimulatedBB8, writes: list[tuple[str, bytes]]
) -> None:
    link = connect_toy(toy, handshake=False)
    for uuid, value in writes:
        toy.write(uuid, value)
    send(toy, frame_request(CORE, CoreCommand.PING, 1))
    assert link.take() == b""
    assert not toy.handshake_complete
    assert toy.awake is False


def test_handshake_and_every_write_are_recorded_in_order(toy: SimulatedBB8, link: RecordingLink) -> None:
    ping = frame_request(CORE, CoreCommand.PING, 9)
    send(toy, ping)
    assert toy.handshake_log == [("anti_dos", b"011i3"), ("tx_power", b"\x07"), ("wake", b"\x01")]
    assert toy.writes == [*HANDSHAKE, (COMMANDS_CHAR, ping)]
    assert toy.tx_power == b"\x07"
    assert toy.handshake_complete


def test_handshake_is_needed_again_on_every_connection(toy: SimulatedBB8, link: RecordingLink) -> None:
    toy.close_link()
    again = connect_toy(toy, handshake=False)
    send(toy, frame_request(CORE, CoreCommand.PING, 1))
    assert again.take() == b""
    assert toy.awake  # a plain disconnect does not put it to sleep


# =============================================================================================
# Commands
# =============================================================================================

StateCheck = Callable[[SimulatedBB8], object]

COMMAND_CASES: list[tuple[str, int, int, bytes, StateCheck]] = [
    ("ping", CORE, CoreCommand.PING, b"", lambda t: t.command_counts["ping"] == 1),
    (
        "power_notifications",
        CORE,
        CoreCommand.SET_POWER_NOTIFICATIONS,
        b"\x01",
        lambda t: t.power_notifications_enabled,
    ),
    (
        "voltage_trip_points",
        CORE,
        CoreCommand.SET_VOLTAGE_TRIP_POINTS,
        struct.pack(">HH", 720, 680),
        lambda t: (t.low_trip_centivolts, t.critical_trip_centivolts) == (720, 680),
    ),
    (
        "inactivity_timeout",
        CORE,
        CoreCommand.SET_INACTIVITY_TIMEOUT,
        struct.pack(">H", 90),
        lambda t: t.inactivity_timeout == 90,
    ),
    ("heading", SPHERO, SpheroCommand.SET_HEADING, struct.pack(">H", 359), lambda t: t.heading == 359),
    ("stabilization", SPHERO, SpheroCommand.SET_STABILIZATION, b"\x00", lambda t: t.stabilization is False),
    ("rotation_rate", SPHERO, SpheroCommand.SET_ROTATION_RATE, b"\x10", lambda t: t.rotation_rate == 0x10),
    (
        "self_level",
        SPHERO,
        SpheroCommand.SELF_LEVEL,
        bytes([0x0B, 0, 0, 0]),
        lambda t: t.self_level_requests[-1].options == 0x0B,
    ),
    (
        "data_streaming_9",
        SPHERO,
        SpheroCommand.SET_DATA_STREAMING,
        struct.pack(">HHIB", 40, 1, 0xE000, 0),
        lambda t: t.data_streaming is not None and t.data_streaming.mask2 is None,
    ),
    (
        "data_streaming_13",
        SPHERO,
        SpheroCommand.SET_DATA_STREAMING,
        struct.pack(">HHIBI", 40, 1, 0xE000, 0, 0x400000),
        lambda t: t.data_streaming is not None and t.data_streaming.mask2 == 0x400000,
    ),
    (
        "collision",
        SPHERO,
        SpheroCommand.CONFIGURE_COLLISION_DETECTION,
        bytes([1, 10, 20, 30, 40, 50]),
        lambda t: t.collision_config is not None
        and (t.collision_config.x_threshold, t.collision_config.x_speed) == (10, 20)
        and (t.collision_config.y_threshold, t.collision_config.y_speed, t.collision_config.dead_time)
        == (30, 40, 50),
    ),
    (
        "locator",
        SPHERO,
        SpheroCommand.CONFIGURE_LOCATOR,
        struct.pack(">BhhH", 1, -5, 7, 90),
        lambda t: t.locator is not None and (t.locator.x, t.locator.y, t.locator.yaw_tare) == (-5, 7, 90),
    ),
    (
        "main_led_4",
        SPHERO,
        SpheroCommand.SET_MAIN_LED,
        bytes([1, 2, 3, 0]),
        lambda t: t.main_led == (1, 2, 3) and t.persist_writes == 0,
    ),
    (
        "main_led_3",
        SPHERO,
        SpheroCommand.SET_MAIN_LED,
        bytes([4, 5, 6]),
        lambda t: t.main_led == (4, 5, 6) and t.persist_writes == 0,
    ),
    ("back_led", SPHERO, SpheroCommand.SET_BACK_LED, b"\x80", lambda t: t.back_led == 0x80),
    (
        "roll_4",
        SPHERO,
        SpheroCommand.ROLL,
        struct.pack(">BHB", 120, 270, RollMode.GO),
        lambda t: (t.speed, t.heading, t.roll_mode, t.rolling) == (120, 270, RollMode.GO, True),
    ),
    (
        "roll_5",
        SPHERO,
        SpheroCommand.ROLL,
        struct.pack(">BHBB", 60, 10, RollMode.GO, 1),
        lambda t: (t.speed, t.heading, t.reverse) == (60, 10, True),
    ),
    (
        "raw_motors",
        SPHERO,
        SpheroCommand.SET_RAW_MOTORS,
        bytes([1, 100, 2, 100]),
        lambda t: t.raw_motors == (1, 100, 2, 100) and t.rolling,
    ),
    (
        "motion_timeout",
        SPHERO,
        SpheroCommand.SET_MOTION_TIMEOUT,
        struct.pack(">H", 1500),
        lambda t: t.motion_timeout_ms == 1500,
    ),
    (
        "temporary_options",
        SPHERO,
        SpheroCommand.SET_TEMPORARY_OPTIONS,
        struct.pack(">I", 1),
        lambda t: t.temporary_options == 1 and t.stop_on_disconnect,
    ),
]


@pytest.mark.parametrize(
    ("did", "cid", "data", "check"),
    [case[1:] for case in COMMAND_CASES],
    ids=[case[0] for case in COMMAND_CASES],
)
def test_each_command_changes_state_and_answers_with_its_seq(
    toy: SimulatedBB8, link: RecordingLink, did: int, cid: int, data: bytes, check: StateCheck
) -> None:
    response = command(toy, link, did, cid, data, seq=0xA7)
    assert response == Response(0x00, 0xA7)
    assert check(toy)
    assert toy.commands_received[-1].data == data
    assert toy.commands_received[-1] == (did, cid, data)


def test_stop_rolls_to_speed_zero_keeping_the_heading(toy: SimulatedBB8, link: RecordingLink) -> None:
    command(toy, link, SPHERO, SpheroCommand.ROLL, struct.pack(">BHB", 200, 45, RollMode.GO))
    command(toy, link, SPHERO, SpheroCommand.ROLL, struct.pack(">BHB", 200, 45, RollMode.STOP))
    assert (toy.speed, toy.heading, toy.roll_mode, toy.rolling) == (0, 45, RollMode.STOP, False)


def test_versions_answer_decodes(toy: SimulatedBB8, link: RecordingLink) -> None:
    response = command(toy, link, CORE, CoreCommand.GET_VERSIONS, seq=3)
    assert response.seq == 3
    versions = decode_versions(response.data)
    assert len(response.data) == 8
    assert versions.firmware == "4.69"
    assert versions.bootloader == "4.1"


def test_power_state_answer_decodes(toy: SimulatedBB8, link: RecordingLink) -> None:
    toy.set_battery_voltage(7.85)
    state = decode_power_state(command(toy, link, CORE, CoreCommand.GET_POWER_STATE).data)
    assert (state.record_version, state.state, state.voltage) == (1, PowerState.OK, 7.85)
    assert state.state_name == "ok"


def test_command_without_answer_bit_acts_silently(toy: SimulatedBB8, link: RecordingLink) -> None:
    send(toy, frame_request(SPHERO, SpheroCommand.SET_BACK_LED, 5, b"\x33", answer=False))
    assert link.take() == b""
    assert toy.back_led == 0x33


def test_bad_checksum_answers_0x02_with_the_seq_it_read(toy: SimulatedBB8, link: RecordingLink) -> None:
    frame = bytearray(frame_request(SPHERO, SpheroCommand.SET_BACK_LED, 0x77, b"\x10"))
    frame[-1] ^= 0xFF
    send(toy, bytes(frame))
    assert read_packets(link) == [Response(0x02, 0x77)]
    assert toy.back_led == 0
    assert toy.commands_received == []


@pytest.mark.parametrize(
    ("did", "cid", "mrsp"),
    [(CORE, 0x7E, 0x04), (SPHERO, 0x7F, 0x04), (0x01, 0x01, 0x09), (0x05, 0x01, 0x09)],
    ids=["core_unknown_cid", "sphero_unknown_cid", "bootloader_did", "unknown_did"],
)
def test_unknown_commands_are_refused(
    toy: SimulatedBB8, link: RecordingLink, did: int, cid: int, mrsp: int
) -> None:
    assert command(toy, link, did, cid, seq=0x11) == Response(mrsp, 0x11)


BAD_PARAMETERS: list[tuple[str, int, int, bytes]] = [
    ("ping_with_data", CORE, CoreCommand.PING, b"\x00"),
    ("power_notifications_2", CORE, CoreCommand.SET_POWER_NOTIFICATIONS, b"\x02"),
    ("sleep_short", CORE, CoreCommand.SLEEP, b"\x00\x00"),
    ("trip_points_reversed", CORE, CoreCommand.SET_VOLTAGE_TRIP_POINTS, struct.pack(">HH", 680, 720)),
    ("inactivity_59", CORE, CoreCommand.SET_INACTIVITY_TIMEOUT, struct.pack(">H", 59)),
    ("heading_360", SPHERO, SpheroCommand.SET_HEADING, struct.pack(">H", 360)),
    ("heading_one_byte", SPHERO, SpheroCommand.SET_HEADING, b"\x01"),
    ("stabilization_2", SPHERO, SpheroCommand.SET_STABILIZATION, b"\x02"),
    ("self_level_short", SPHERO, SpheroCommand.SELF_LEVEL, b"\x01"),
    ("streaming_10_bytes", SPHERO, SpheroCommand.SET_DATA_STREAMING, bytes(10)),
    ("collision_method_2", SPHERO, SpheroCommand.CONFIGURE_COLLISION_DETECTION, bytes([2, 1, 1, 1, 1, 1])),
    ("collision_5_bytes", SPHERO, SpheroCommand.CONFIGURE_COLLISION_DETECTION, bytes(5)),
    ("locator_yaw_360", SPHERO, SpheroCommand.CONFIGURE_LOCATOR, struct.pack(">BhhH", 0, 0, 0, 360)),
    ("main_led_flag_2", SPHERO, SpheroCommand.SET_MAIN_LED, bytes([1, 2, 3, 2])),
    ("main_led_2_bytes", SPHERO, SpheroCommand.SET_MAIN_LED, bytes([1, 2])),
    ("roll_heading_360", SPHERO, SpheroCommand.ROLL, struct.pack(">BHB", 10, 360, 1)),
    ("roll_mode_3", SPHERO, SpheroCommand.ROLL, struct.pack(">BHB", 10, 0, 3)),
    ("roll_3_bytes", SPHERO, SpheroCommand.ROLL, bytes(3)),
    ("raw_motor_mode_5", SPHERO, SpheroCommand.SET_RAW_MOTORS, bytes([5, 0, 0, 0])),
    ("temporary_options_short", SPHERO, SpheroCommand.SET_TEMPORARY_OPTIONS, bytes(2)),
]


@pytest.mark.parametrize(
    ("did", "cid", "data"), [case[1:] for case in BAD_PARAMETERS], ids=[case[0] for case in BAD_PARAMETERS]
)
def test_bad_parameters_answer_0x07_and_change_nothing(
    toy: SimulatedBB8, link: RecordingLink, did: int, cid: int, data: bytes
) -> None:
    before = toy.snapshot()
    assert command(toy, link, did, cid, data, seq=0x30) == Response(0x07, 0x30)
    after = toy.snapshot()
    for key in ("main_led", "heading", "speed", "stabilization", "collision_config", "inactivity_timeout"):
        assert after[key] == before[key]
    assert toy.awake


def test_sop2_below_fc_is_not_a_command(toy: SimulatedBB8, link: RecordingLink) -> None:
    frame = bytearray(frame_request(CORE, CoreCommand.PING, 1))
    frame[1] = 0xFB  # bits 2..7 must all be set (Sphero API 1.20, "SOP2 bitfield encoding")
    send(toy, bytes(frame))
    assert link.take() == b""
    assert toy.commands_received == []
    assert toy.garbage_bytes > 0


def test_codec_requests_are_read_like_the_specs(toy: SimulatedBB8, link: RecordingLink) -> None:
    for answer in (True, False):
        for reset_timeout in (True, False):
            request = Request(SPHERO, SpheroCommand.SET_BACK_LED, 5, b"\x09", answer, reset_timeout)
            assert request.encode() == frame_request(
                SPHERO, SpheroCommand.SET_BACK_LED, 5, b"\x09", answer=answer, reset_timeout=reset_timeout
            )
            send(toy, request.encode())
            assert read_packets(link) == ([Response(0x00, 5)] if answer else [])
            assert toy.commands_received[-1].reset_timeout is reset_timeout


def test_garbage_between_commands_is_skipped(toy: SimulatedBB8, link: RecordingLink) -> None:
    stream = (
        b"\x00\x13\x42"
        + frame_request(SPHERO, SpheroCommand.SET_BACK_LED, 1, b"\x05")
        + b"\xfe\xff\x01"
        + frame_request(CORE, CoreCommand.PING, 2)
    )
    send(toy, stream)
    assert read_packets(link) == [Response(0x00, 1), Response(0x00, 2)]
    assert toy.back_led == 5


def test_command_split_across_writes_is_reassembled(toy: SimulatedBB8, link: RecordingLink) -> None:
    frame = frame_request(
        SPHERO, SpheroCommand.SET_DATA_STREAMING, 8, struct.pack(">HHIBI", 4, 1, 0x70, 0, 1)
    )
    assert len(frame) == 20  # the longest command: one full write, here cut into single bytes
    for byte in frame:  # one byte per write, the worst case
        toy.write(COMMANDS_CHAR, bytes([byte]), now=0.0)
    assert read_packets(link) == [Response(0x00, 8)]
    assert toy.command_writes == len(frame)


def test_two_commands_in_one_write_both_answer(toy: SimulatedBB8, link: RecordingLink) -> None:
    both = frame_request(CORE, CoreCommand.PING, 1) + frame_request(CORE, CoreCommand.PING, 2)
    toy.write(COMMANDS_CHAR, both)
    assert read_packets(link) == [Response(0x00, 1), Response(0x00, 2)]


def test_stale_partial_command_is_discarded(toy: SimulatedBB8, link: RecordingLink) -> None:
    frame = frame_request(CORE, CoreCommand.PING, 1)
    toy.write(COMMANDS_CHAR, frame[:3], now=10.0)
    toy.write(COMMANDS_CHAR, frame_request(CORE, CoreCommand.PING, 2), now=12.0)
    assert read_packets(link) == [Response(0x00, 2)]


def test_every_notification_is_at_most_20_bytes(toy: SimulatedBB8, link: RecordingLink) -> None:
    command(toy, link, SPHERO, SpheroCommand.CONFIGURE_COLLISION_DETECTION, bytes([1, 50, 0, 50, 0, 10]))
    assert toy.trigger_collision(x_magnitude=300)
    assert [len(c) for c in link.chunks] == [20, 2]  # a collision packet is 22 bytes
    assert all(len(packet) <= 20 for packet in toy.notifications)


# =============================================================================================
# Sleep
# =============================================================================================


def test_inactivity_sleep_warns_ten_seconds_ahead(
    toy: SimulatedBB8, link: RecordingLink, clock: SimClock
) -> None:
    command(toy, link, CORE, CoreCommand.SET_INACTIVITY_TIMEOUT, struct.pack(">H", 60))
    clock.advance(49.9)
    assert read_packets(link) == []
    clock.advance(0.1)
    assert [p.id_code for p in read_packets(link) if isinstance(p, AsyncPacket)] == [AsyncId.WILL_SLEEP]
    clock.advance(9.9)
    assert toy.awake
    assert toy.connected
    clock.advance(0.1)
    assert asyncs(read_packets(link), AsyncId.DID_SLEEP)
    assert link.lost_reasons == ["asleep: inactivity timeout"]
    assert not toy.awake
    assert not toy.connected


def test_default_inactivity_timeout_is_600_s(toy: SimulatedBB8, link: RecordingLink, clock: SimClock) -> None:
    clock.advance(589.0)
    assert toy.will_sleep_sent == 0
    clock.advance(1.0)
    assert toy.will_sleep_sent == 1
    clock.advance(10.0)
    assert toy.asleep


def test_command_with_reset_bit_postpones_sleep(
    toy: SimulatedBB8, link: RecordingLink, clock: SimClock
) -> None:
    clock.advance(500)
    send(toy, frame_request(CORE, CoreCommand.PING, 1, reset_timeout=True))
    clock.advance(500)
    assert toy.awake
    send(toy, frame_request(CORE, CoreCommand.PING, 2, reset_timeout=False))
    clock.advance(100)
    assert toy.asleep


def test_sleep_command_answers_then_did_sleep_then_drops_link(toy: SimulatedBB8, link: RecordingLink) -> None:
    command(toy, link, SPHERO, SpheroCommand.SET_MAIN_LED, bytes([0, 255, 0, 0]))
    command(toy, link, SPHERO, SpheroCommand.SET_BACK_LED, b"\xff")
    command(toy, link, SPHERO, SpheroCommand.SET_STABILIZATION, b"\x00")
    send(toy, frame_request(CORE, CoreCommand.SLEEP, 0x21, bytes(5)))
    packets = read_packets(link)
    assert packets == [Response(0x00, 0x21), AsyncPacket(AsyncId.DID_SLEEP)]
    assert link.lost_reasons == ["asleep: sleep command"]
    assert toy.asleep
    assert not toy.connected
    assert toy.sleep_requests == [(0, 0, 0)]
    # It forgot what it was told; the handshake's wake is needed again.
    assert (toy.main_led, toy.back_led, toy.stabilization) == ((255, 255, 255), 0, True)
    again = connect_toy(toy, handshake=False)
    send(toy, frame_request(CORE, CoreCommand.PING, 1))
    assert again.take() == b""
    for uuid, value in HANDSHAKE:
        toy.write(uuid, value)
    send(toy, frame_request(CORE, CoreCommand.PING, 2))
    assert read_packets(again) == [Response(0x00, 2)]


def test_persisted_colour_survives_sleep(toy: SimulatedBB8, link: RecordingLink) -> None:
    command(toy, link, SPHERO, SpheroCommand.SET_MAIN_LED, bytes([9, 8, 7, 1]))
    command(toy, link, SPHERO, SpheroCommand.SET_MAIN_LED, bytes([1, 1, 1, 0]))
    assert toy.persist_writes == 1
    toy.sleep_now()
    assert toy.main_led == (9, 8, 7)


def test_deep_sleep_is_accepted_and_only_the_charger_wakes(toy: SimulatedBB8, link: RecordingLink) -> None:
    send(toy, frame_request(CORE, CoreCommand.SLEEP, 1, struct.pack(">HBH", 0xFFFF, 0, 0)))
    assert read_packets(link) == [Response(0x00, 1), AsyncPacket(AsyncId.DID_SLEEP)]
    assert toy.deep_sleep_requests == 1
    assert toy.deep_asleep
    with pytest.raises(TimeoutError):
        toy.open_link(RecordingLink())
    toy.clock.advance(100_000)
    assert toy.deep_asleep
    toy.wake_by_charger()
    assert toy.awake
    assert toy.charging
    connect_toy(toy)


def test_sleep_with_wakeup_interval_wakes_by_itself(
    toy: SimulatedBB8, link: RecordingLink, clock: SimClock
) -> None:
    send(toy, frame_request(CORE, CoreCommand.SLEEP, 1, struct.pack(">HBH", 30, 0, 0)))
    assert toy.asleep
    clock.advance(29)
    assert toy.asleep
    clock.advance(1)
    assert toy.awake


# =============================================================================================
# Power
# =============================================================================================


def test_power_notifications_every_ten_seconds(
    toy: SimulatedBB8, link: RecordingLink, clock: SimClock
) -> None:
    command(toy, link, CORE, CoreCommand.SET_POWER_NOTIFICATIONS, b"\x01")
    clock.advance(9.99)
    assert read_packets(link) == []
    clock.advance(30.01)
    reports = asyncs(read_packets(link), AsyncId.POWER_STATE)
    assert [decode_power_notification(p.data) for p in reports] == [PowerState.OK] * 4
    command(toy, link, CORE, CoreCommand.SET_POWER_NOTIFICATIONS, b"\x00")
    clock.advance(60)
    assert read_packets(link) == []


def test_power_notification_on_state_change(toy: SimulatedBB8, link: RecordingLink) -> None:
    toy.set_battery_voltage(7.2)
    assert read_packets(link) == []  # not enabled yet
    command(toy, link, CORE, CoreCommand.SET_POWER_NOTIFICATIONS, b"\x01")
    toy.set_battery_voltage(6.9)
    toy.set_charging(True)
    states = [decode_power_notification(p.data) for p in asyncs(read_packets(link), AsyncId.POWER_STATE)]
    assert states == [PowerState.CRITICAL, PowerState.CHARGING]


def test_battery_drains_while_awake_and_faster_while_rolling(
    toy: SimulatedBB8, link: RecordingLink, clock: SimClock
) -> None:
    start = toy.battery_voltage
    clock.advance(100)
    idle_drop = start - toy.battery_voltage
    assert idle_drop > 0
    command(toy, link, SPHERO, SpheroCommand.ROLL, struct.pack(">BHB", 255, 0, RollMode.GO))
    before = toy.battery_voltage
    clock.advance(100)
    assert before - toy.battery_voltage > 2 * idle_drop


def test_battery_holds_while_asleep_and_charges_on_the_charger(clock: SimClock) -> None:
    toy = SimulatedBB8(ADDRESS, clock=clock, battery_voltage=7.5)
    clock.advance(1000)
    assert toy.battery_voltage == 7.5
    toy.set_charging(True)
    clock.advance(600)
    assert toy.battery_voltage == pytest.approx(7.8)
    assert toy.power_state == PowerState.CHARGING
    assert toy.charge_count == 1
    clock.advance(10_000)
    assert toy.battery_voltage == 8.4  # full stays full
    toy.set_charging(False)
    clock.advance(42)
    record = decode_power_state(toy.power_state_record())
    assert (record.state, record.charge_count, record.seconds_since_charge) == (PowerState.OK, 1, 42)


def test_power_states_follow_the_trip_points(toy: SimulatedBB8, link: RecordingLink) -> None:
    for volts, state in (
        (8.0, PowerState.OK),
        (7.4, PowerState.OK),
        (7.39, PowerState.LOW),
        (6.99, PowerState.CRITICAL),
    ):
        toy.set_battery_voltage(volts)
        assert decode_power_state(command(toy, link, CORE, CoreCommand.GET_POWER_STATE).data).state == state
    command(toy, link, CORE, CoreCommand.SET_VOLTAGE_TRIP_POINTS, struct.pack(">HH", 700, 650))
    assert (
        decode_power_state(command(toy, link, CORE, CoreCommand.GET_POWER_STATE).data).state == PowerState.LOW
    )


def test_battery_drains_from_ok_to_low_and_notifies(clock: SimClock) -> None:
    toy = SimulatedBB8(ADDRESS, clock=clock, battery_voltage=7.41)
    link = connect_toy(toy)
    command(toy, link, CORE, CoreCommand.SET_POWER_NOTIFICATIONS, b"\x01")
    command(toy, link, CORE, CoreCommand.SET_INACTIVITY_TIMEOUT, struct.pack(">H", 3600))
    clock.advance(9)
    assert read_packets(link) == []
    clock.advance(200)
    states = [decode_power_notification(p.data) for p in asyncs(read_packets(link), AsyncId.POWER_STATE)]
    assert PowerState.LOW in states
    assert toy.power_state == PowerState.LOW


# =============================================================================================
# Collisions, temporary options, injected notifications
# =============================================================================================


def test_collision_is_reported_only_when_enabled(
    toy: SimulatedBB8, link: RecordingLink, clock: SimClock
) -> None:
    assert not toy.trigger_collision(x_magnitude=300)
    command(toy, link, SPHERO, SpheroCommand.CONFIGURE_COLLISION_DETECTION, bytes([1, 100, 0, 100, 0, 50]))
    clock.advance(1.5)
    assert toy.trigger_collision(x_magnitude=300, y_magnitude=-20)
    (packet,) = asyncs(read_packets(link), AsyncId.COLLISION)
    collision = decode_collision(packet.data)
    assert (collision.x_axis, collision.y_axis) == (True, False)
    assert (collision.magnitude_x, collision.magnitude_y) == (300, -20)
    assert collision.acceleration_z == 1.0
    assert collision.timestamp == pytest.approx(1.5)
    command(toy, link, SPHERO, SpheroCommand.CONFIGURE_COLLISION_DETECTION, bytes(6))
    assert not toy.trigger_collision(x_magnitude=300)


def test_collision_thresholds_and_dead_time(toy: SimulatedBB8, link: RecordingLink, clock: SimClock) -> None:
    # Spec order: method, Xt, Xspd, Yt, Yspd, dead time (10 ms units).
    command(toy, link, SPHERO, SpheroCommand.CONFIGURE_COLLISION_DETECTION, bytes([1, 100, 255, 0, 0, 100]))
    assert not toy.trigger_collision(x_magnitude=90)  # under Xt
    assert not toy.trigger_collision(x_magnitude=0, y_magnitude=500)  # Yt 0 disables the Y axis
    assert not toy.trigger_collision(x_magnitude=300, speed=255)  # Xt + Xspd at full speed is 355
    assert toy.trigger_collision(x_magnitude=400, speed=255)
    assert not toy.trigger_collision(x_magnitude=400)  # within the 1 s dead time
    clock.advance(1.0)
    assert toy.trigger_collision(x_magnitude=400)
    assert toy.collisions_sent == 2


def test_stop_on_disconnect_stops_a_rolling_toy(toy: SimulatedBB8, link: RecordingLink) -> None:
    command(toy, link, SPHERO, SpheroCommand.SET_TEMPORARY_OPTIONS, struct.pack(">I", 1))
    command(toy, link, SPHERO, SpheroCommand.ROLL, struct.pack(">BHB", 100, 0, RollMode.GO))
    toy.close_link()
    assert toy.speed == 0
    assert not toy.rolling


def test_without_stop_on_disconnect_it_keeps_rolling(toy: SimulatedBB8, link: RecordingLink) -> None:
    command(toy, link, SPHERO, SpheroCommand.ROLL, struct.pack(">BHB", 100, 0, RollMode.GO))
    toy.close_link()
    assert toy.speed == 100
    assert toy.rolling


def test_injected_notification_reaches_the_link(toy: SimulatedBB8, link: RecordingLink) -> None:
    toy.inject_notification(b"\x00garbage\xff")
    assert link.chunks == [b"\x00garbage\xff"]
    toy.inject_notification(bytes(45), chunked=True)
    assert [len(c) for c in link.chunks[1:]] == [20, 20, 5]


# =============================================================================================
# Faults (seeded, deterministic)
# =============================================================================================


def test_dropped_responses_by_count_and_by_seeded_probability(clock: SimClock) -> None:
    def run(seed: int) -> list[int]:
        plan = FaultPlan(seed=seed, drop_response_probability=0.5)
        toy = SimulatedBB8(ADDRESS, clock=clock, faults=plan)
        link = connect_toy(toy)
        answered = []
        for seq in range(20):
            send(toy, frame_request(CORE, CoreCommand.PING, seq))
            answered += [p.seq for p in read_packets(link) if isinstance(p, Response)]
        return answered

    first = run(7)
    assert first == run(7)  # same seed, same losses
    assert 0 < len(first) < 20
    plan = FaultPlan(drop_next_responses=2)
    toy = SimulatedBB8(ADDRESS, clock=clock, faults=plan)
    link = connect_toy(toy)
    for seq in range(4):
        send(toy, frame_request(SPHERO, SpheroCommand.SET_BACK_LED, seq, bytes([seq])))
    assert [p.seq for p in read_packets(link) if isinstance(p, Response)] == [2, 3]
    assert toy.back_led == 3  # the toy still acted on the commands whose answers were lost
    assert plan.stats["response_dropped"] == 2
    assert len(toy.sent_packets) == 4  # sent_packets keeps what the toy meant to send


def test_corrupted_notifications_are_seeded_and_detected(clock: SimClock) -> None:
    def run() -> tuple[list[bytes], int]:
        toy = SimulatedBB8(ADDRESS, clock=clock, faults=FaultPlan(seed=3, corrupt_probability=0.3))
        link = connect_toy(toy)
        for seq in range(30):
            send(toy, frame_request(CORE, CoreCommand.GET_POWER_STATE, seq))
        reader = StreamReassembler()
        packets = reader.feed(b"".join(link.chunks))
        return list(link.chunks), 30 - len(packets)

    chunks_a, lost_a = run()
    chunks_b, lost_b = run()
    assert chunks_a == chunks_b
    assert lost_a == lost_b > 0


def test_corrupt_next_notification_flips_bytes(toy: SimulatedBB8, link: RecordingLink) -> None:
    toy.faults.corrupt_next_notifications = 1
    send(toy, frame_request(CORE, CoreCommand.PING, 1))
    assert link.chunks[0] != toy.sent_packets[-1]
    assert len(link.chunks[0]) == len(toy.sent_packets[-1])


def test_disconnect_on_the_third_write(toy: SimulatedBB8, link: RecordingLink) -> None:
    toy.faults.disconnect_on_write = 3
    send(toy, frame_request(CORE, CoreCommand.PING, 1))
    send(toy, frame_request(CORE, CoreCommand.PING, 2))
    with pytest.raises(BleakError):
        send(toy, frame_request(CORE, CoreCommand.PING, 3))
    assert [p.seq for p in read_packets(link) if isinstance(p, Response)] == [1, 2]
    assert link.lost_reasons == ["fault: link lost during a command write"]
    assert not toy.connected
    assert toy.faults.disconnect_on_write is None


def test_pacing_drops_a_command_sooner_than_the_interval(toy: SimulatedBB8, link: RecordingLink) -> None:
    toy.faults.pacing = True
    send(toy, frame_request(SPHERO, SpheroCommand.SET_BACK_LED, 1, b"\x01"), now=100.00)
    send(toy, frame_request(SPHERO, SpheroCommand.SET_BACK_LED, 2, b"\x02"), now=100.01)
    send(toy, frame_request(SPHERO, SpheroCommand.SET_BACK_LED, 3, b"\x03"), now=100.06)
    assert [p.seq for p in read_packets(link) if isinstance(p, Response)] == [1, 3]
    assert toy.dropped_for_pacing == 1
    assert toy.back_led == 3
    toy.faults.min_interval = 0.2  # changed at runtime
    send(toy, frame_request(SPHERO, SpheroCommand.SET_BACK_LED, 4, b"\x04"), now=100.16)
    assert read_packets(link) == []
    assert toy.dropped_for_pacing == 2


def test_pacing_is_per_packet_not_per_chunk(toy: SimulatedBB8, link: RecordingLink) -> None:
    toy.faults.pacing = True
    frame = frame_request(SPHERO, SpheroCommand.SET_DATA_STREAMING, 1, struct.pack(">HHIBI", 4, 1, 0, 0, 0))
    first, second = frame[:12], frame[12:]
    toy.write(COMMANDS_CHAR, first, now=5.0)
    toy.write(COMMANDS_CHAR, second, now=5.001)
    assert read_packets(link) == [Response(0x00, 1)]


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        (ConnectFailure.ERROR, BleakError),
        (ConnectFailure.TIMEOUT, TimeoutError),
        (ConnectFailure.OUT_OF_SLOTS, BleakError),
    ],
)
def test_refused_connects(toy: SimulatedBB8, kind: ConnectFailure, error: type[Exception]) -> None:
    toy.faults.connect_failures = 2
    toy.faults.connect_failure = kind
    for _ in range(2):
        with pytest.raises(error):
            toy.open_link(RecordingLink())
    toy.open_link(RecordingLink())
    assert toy.faults.stats[f"connect_{kind.value}"] == 2


def test_out_of_slots_error_is_recognised_by_bleak_retry_connector(toy: SimulatedBB8) -> None:
    toy.faults.refuse_connect = True
    toy.faults.connect_failure = ConnectFailure.OUT_OF_SLOTS
    with pytest.raises(BleakError) as caught:
        toy.open_link(RecordingLink())
    assert calculate_backoff_time(caught.value) == BLEAK_OUT_OF_SLOTS_BACKOFF_TIME
    toy.faults.clear()
    toy.open_link(RecordingLink())


# =============================================================================================
# Clock
# =============================================================================================


def test_clock_fires_timers_in_order_including_ones_scheduled_while_firing() -> None:
    clock = SimClock()
    fired: list[tuple[str, float]] = []

    def first() -> None:
        fired.append(("a", clock.now()))
        clock.call_later(0.5, lambda: fired.append(("a2", clock.now())))

    clock.call_later(2, lambda: fired.append(("b", clock.now())))
    clock.call_later(1, first)
    cancelled = clock.call_later(1.2, lambda: fired.append(("never", clock.now())))
    cancelled.cancel()
    clock.call_at(2, lambda: fired.append(("b-tie", clock.now())))
    assert clock.advance(5) == 4
    assert fired == [("a", 1.0), ("a2", 1.5), ("b", 2.0), ("b-tie", 2.0)]
    assert clock.now() == 5.0
    assert clock.pending == 0
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_clock_keeps_going_when_a_timer_raises(caplog: pytest.LogCaptureFixture) -> None:
    clock = SimClock()
    fired: list[int] = []
    clock.call_later(1, lambda: 1 / 0)
    clock.call_later(2, lambda: fired.append(2))
    clock.advance(3)
    assert fired == [2]
    assert "failed" in caplog.text


async def test_realtime_ticker_moves_the_clock_and_stops_cleanly() -> None:
    clock = SimClock()
    ticker = RealtimeTicker(clock, interval=0.01, speed=10)
    async with ticker:
        await ticker.start()  # idempotent
        reached = asyncio.Event()
        clock.call_at(0.2, reached.set)  # 0.02 s of real time at ten times the speed
        async with asyncio.timeout(5):
            await reached.wait()
        assert ticker.running
    assert not ticker.running
    stopped_at = clock.now()
    await asyncio.sleep(0.03)
    assert clock.now() == stopped_at  # nothing of the ticker is left running
    await ticker.stop()  # idempotent


# =============================================================================================
# The bleak backend
# =============================================================================================


async def test_bleak_client_with_the_sim_backend_talks_to_the_toy(clock: SimClock) -> None:
    toy = SimulatedBB8(ADDRESS, clock=clock)
    async with sim_client(toy) as session:
        client = session.client
        assert client.is_connected
        assert client.mtu_size == 23
        services = client.services
        assert services.get_characteristic(COMMANDS_CHAR) is not None
        response_char = services.get_characteristic(RESPONSE_CHAR)
        assert response_char is not None
        assert response_char.properties == ["notify"]
        # A real BB-8's TX power characteristic is write-only (tests/captures/bb8_gatt.py);
        # its wake characteristic reads back what this connection wrote.
        with pytest.raises(BleakError):
            await client.read_gatt_char(TX_POWER_CHAR)
        assert await client.read_gatt_char(WAKE_CHAR) == bytearray(b"\x01")
        (cccd,) = response_char.descriptors
        assert await client.read_gatt_descriptor(cccd.handle) == bytearray(b"\x01\x00")

        await session.send(frame_request(SPHERO, SpheroCommand.SET_MAIN_LED, 1, bytes([10, 20, 30, 0])))
        await session.send(frame_request(CORE, CoreCommand.GET_POWER_STATE, 2))
        await settle()
        responses = StreamReassembler().feed(session.take())
        assert [r.seq for r in responses if isinstance(r, Response)] == [1, 2]
        assert toy.main_led == (10, 20, 30)
        assert all(len(chunk) <= 20 for chunk in toy.notifications)

        await client.stop_notify(RESPONSE_CHAR)
        await session.send(frame_request(CORE, CoreCommand.PING, 3))
        await settle()
        assert session.take() == b""
        (backend,) = [backend for backend in live_backends() if backend.toy is toy]
        assert backend.notifications_unsubscribed == 1
    assert not client.is_connected
    assert not toy.connected
    assert session.disconnects == 1
    await client.disconnect()  # idempotent
    assert session.disconnects == 1


async def test_backend_built_the_way_habluetooth_builds_it(clock: SimClock) -> None:
    toy = registry.register(SimulatedBB8(ADDRESS, clock=clock))
    calls: list[str] = []
    backend = SimBleakBackend(
        make_ble_device(ADDRESS.lower(), "BB-B54A"),
        disconnected_callback=lambda: calls.append("gone"),
        timeout=10.0,
    )
    assert backend.name == "BB-B54A"
    assert await backend.connect() is True
    assert (await backend.get_services()).get_service(RADIO_SERVICE) is not None
    received: list[bytearray] = []
    response_char = backend.services.get_characteristic(RESPONSE_CHAR) if backend.services else None
    assert response_char is not None
    await backend.start_notify(response_char, received.append)
    for uuid, value in HANDSHAKE:
        await backend.write_gatt_char(uuid, value, True)
    toy.sleep_now()  # toy-side drop: did-sleep first, then the disconnected callback
    assert backend.is_connected  # not yet told: the news arrives through the event loop
    await settle()
    assert not backend.is_connected
    assert calls == ["gone"]
    assert StreamReassembler().feed(b"".join(received)) == [AsyncPacket(AsyncId.DID_SLEEP)]
    with pytest.raises(BleakError):
        await backend.write_gatt_char(COMMANDS_CHAR, b"\x00", True)
    assert await backend.pair()
    assert await backend.unpair()
    assert await backend.clear_cache()


async def test_unknown_address_is_not_found() -> None:
    backend = SimBleakBackend("00:00:00:00:00:01", timeout=1.0)
    with pytest.raises(BleakDeviceNotFoundError):
        await backend.connect()


async def test_second_central_is_refused(clock: SimClock) -> None:
    toy = SimulatedBB8(ADDRESS, clock=clock)
    async with sim_client(toy):
        other = BleakClient(make_ble_device(ADDRESS), backend=SimBleakBackend)
        with pytest.raises(BleakError, match="already connected"):
            await other.connect()


async def test_a_late_disconnect_of_an_old_client_leaves_the_newer_link_alone(clock: SimClock) -> None:
    """The old client has not yet heard of the drop when a new one connects, then disconnects."""
    toy = registry.register(SimulatedBB8(ADDRESS, clock=clock))
    old = BleakClient(make_ble_device(ADDRESS), backend=SimBleakBackend)
    new = BleakClient(make_ble_device(ADDRESS), backend=SimBleakBackend)
    try:
        await old.connect()
        assert toy.disconnect_now("radio gone")
        assert old.is_connected  # the news of the drop is still on its way to the old client
        await new.connect()
        await old.disconnect()
        assert toy.connected
        assert new.is_connected
        assert toy.disconnect_count == 1
    finally:
        await new.disconnect()
        await old.disconnect()
    assert not toy.connected


async def test_establish_connection_retries_a_refused_connect(clock: SimClock) -> None:
    toy = registry.register(SimulatedBB8(ADDRESS, clock=clock, faults=FaultPlan(connect_failures=1)))
    client = await establish_connection(
        BleakClientWithServiceCache,
        make_ble_device(ADDRESS, toy.name),
        toy.name,
        max_attempts=3,
        backend=SimBleakBackend,
    )
    try:
        assert client.is_connected
        assert toy.faults.stats["connect_error"] == 1
        assert toy.connect_count == 1
    finally:
        await client.disconnect()


async def test_delayed_response_arrives_late_and_in_order(clock: SimClock) -> None:
    toy = SimulatedBB8(ADDRESS, clock=clock)
    arrivals: list[float] = []
    loop = asyncio.get_running_loop()
    async with sim_client(toy, on_notify=lambda _data: arrivals.append(loop.time())) as session:
        await session.send(frame_request(CORE, CoreCommand.SET_POWER_NOTIFICATIONS, 1, b"\x01"))
        await settle()
        session.take()
        toy.faults.response_delay = 0.2
        sent_at = loop.time()
        await session.send(frame_request(CORE, CoreCommand.PING, 2))
        toy.set_battery_voltage(7.0)  # an async power notification, sent right after the response
        await settle()
        assert session.take() == b""
        await asyncio.sleep(0.3)
        packets = StreamReassembler().feed(session.take())
        assert packets == [Response(0x00, 2), AsyncPacket(AsyncId.POWER_STATE, bytes([PowerState.LOW]))]
        assert arrivals[-1] - sent_at >= 0.19  # asyncio may fire a timer a hair early


async def test_delayed_response_is_dropped_cleanly_on_disconnect(clock: SimClock) -> None:
    toy = SimulatedBB8(ADDRESS, clock=clock, faults=FaultPlan(response_delay=5.0))
    async with sim_client(toy) as session:
        await session.send(frame_request(CORE, CoreCommand.PING, 1))
    # Leaving the block disconnected the client: no timer may be left behind (the harness checks).
    assert session.take() == b""


async def test_write_latency_and_disconnect_on_write_through_bleak(clock: SimClock) -> None:
    toy = SimulatedBB8(ADDRESS, clock=clock)
    loop = asyncio.get_running_loop()
    async with sim_client(toy) as session:
        toy.faults.write_latency = 0.02
        started = loop.time()
        await session.send(frame_request(CORE, CoreCommand.PING, 1))
        assert loop.time() - started >= 0.019
        toy.faults.write_latency = 0.0
        toy.faults.disconnect_on_write = 1
        with pytest.raises(BleakError):
            await session.send(frame_request(CORE, CoreCommand.PING, 2))
        await settle()
        assert not session.client.is_connected
        assert session.disconnects == 1


async def test_pacing_through_bleak_uses_the_event_loop_clock(clock: SimClock) -> None:
    toy = SimulatedBB8(ADDRESS, clock=clock, faults=FaultPlan(pacing=True, min_interval=0.05))
    async with sim_client(toy) as session:
        await session.send(frame_request(SPHERO, SpheroCommand.SET_BACK_LED, 1, b"\x01"))
        await session.send(frame_request(SPHERO, SpheroCommand.SET_BACK_LED, 2, b"\x02"))
        await asyncio.sleep(0.06)
        await session.send(frame_request(SPHERO, SpheroCommand.SET_BACK_LED, 3, b"\x03"))
        await settle()
        assert [p.seq for p in StreamReassembler().feed(session.take()) if isinstance(p, Response)] == [1, 3]
        assert toy.dropped_for_pacing == 1


async def test_notification_callback_that_raises_does_not_break_the_link(
    clock: SimClock, caplog: pytest.LogCaptureFixture
) -> None:
    toy = SimulatedBB8(ADDRESS, clock=clock)
    seen: list[bytes] = []

    def explode(data: bytes) -> None:
        seen.append(data)
        raise RuntimeError("listener bug")

    async with sim_client(toy, on_notify=explode) as session:
        await session.send(frame_request(CORE, CoreCommand.PING, 1))
        await session.send(frame_request(CORE, CoreCommand.PING, 2))
        await settle()
        assert len(seen) == 2
        assert session.client.is_connected
    assert "notification callback failed" in caplog.text


def test_backend_characteristic_objects_are_bleak_characteristics() -> None:
    from bb8sim import build_services

    services = build_services()
    assert {s.uuid for s in services} == {
        "22bb746f-2ba0-7554-2d6f-726568705327",
        "22bb746f-2bb0-7554-2d6f-726568705327",
        "00001016-d102-11e1-9b23-00025b00a5a5",
        "0000180a-0000-1000-8000-00805f9b34fb",
    }
    for uuid in (COMMANDS_CHAR, RESPONSE_CHAR, ANTI_DOS_CHAR, TX_POWER_CHAR, WAKE_CHAR):
        characteristic = services.get_characteristic(uuid)
        assert isinstance(characteristic, BleakGATTCharacteristic)
        assert characteristic.max_write_without_response_size == 20
    commands = services.get_characteristic(COMMANDS_CHAR)
    assert commands is not None
    assert commands.service_uuid == "22bb746f-2ba0-7554-2d6f-726568705327"
