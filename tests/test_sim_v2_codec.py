"""The simulator's v2 codec, from the rule: escaping, checksum, framing, resynchronising reader.

No public capture exercises escaping, so it is tested from the rule (every 0xAB, 0x8D and 0xD8
between SOP and EOP, the checksum included, goes as 0xAB then 0x23, 0x05 or 0x50) and against
spherov2 0.12.1's independent codec. The simulator's ids are held against spherov2's enums.
"""

from __future__ import annotations

from hypothesis import given, strategies as st
import pytest
from spherov2.controls.v2 import Packet

from bb8sim.v2 import FrameReader, V2Packet, checksum, decode, escape, unescape
from bb8sim.v2.protocol import EOP, ESC, SOP, ErrorCode, Flags

FLAG_BYTES = st.integers(0, 0x7F)
IDS = st.integers(0, 0xFF)


@st.composite
def packets(draw: st.DrawFn) -> V2Packet:
    flags = draw(FLAG_BYTES)
    tid = draw(IDS) if flags & Flags.HAS_TARGET else None
    sid = draw(IDS) if flags & Flags.HAS_SOURCE else None
    err = draw(IDS) if flags & Flags.IS_RESPONSE else None
    data = draw(st.binary(max_size=40))
    return V2Packet(flags, draw(IDS), draw(IDS), draw(IDS), data, tid, sid, err)


def test_escape_rule_by_hand() -> None:
    assert escape(bytes([0xAB, 0x8D, 0xD8, 0x00])) == bytes([0xAB, 0x23, 0xAB, 0x05, 0xAB, 0x50, 0x00])
    assert unescape(bytes([0xAB, 0x23, 0xAB, 0x05, 0xAB, 0x50, 0x00])) == bytes([0xAB, 0x8D, 0xD8, 0x00])
    assert unescape(bytes([0xAB, 0x00])) is None  # not one of the three codes
    assert unescape(bytes([0x01, 0xAB])) is None  # an escape with nothing after it


def test_the_checksum_is_escaped_too() -> None:
    # FLAGS..DATA summing to 0x72 gives CHK 0x8D, which must go on the air as AB 05.
    packet = V2Packet(0x0A, 0x13, 0x0D, 0x48)
    assert checksum(packet.body()) == 0x8D
    assert packet.encode() == bytes([SOP, 0x0A, 0x13, 0x0D, 0x48, ESC, 0x05, EOP])


@given(st.binary(max_size=64))
def test_escaped_bytes_never_hold_a_delimiter_and_round_trip(body: bytes) -> None:
    escaped = escape(body)
    assert SOP not in escaped
    assert EOP not in escaped
    assert len(escaped) == len(body) + sum(body.count(byte) for byte in (SOP, EOP, ESC))
    assert unescape(escaped) == body


@given(packets())
def test_encode_decode_round_trip(packet: V2Packet) -> None:
    frame = packet.encode()
    assert frame[0] == SOP
    assert frame[-1] == EOP
    assert SOP not in frame[1:-1]
    assert EOP not in frame[1:-1]
    assert decode(frame) == packet


@given(packets())
def test_encoding_agrees_with_spherov2(packet: V2Packet) -> None:
    theirs = Packet(
        Packet.Flags(packet.flags),
        packet.did,
        packet.cid,
        packet.seq,
        packet.tid,
        packet.sid,
        bytearray(packet.data),
        packet.err,
    )
    assert bytes(theirs.build()) == packet.encode()
    if packet.err is None or packet.err <= max(Packet.Error):
        parsed = Packet.parse_response(bytearray(packet.encode()))
        assert (parsed.did, parsed.cid, parsed.seq, bytes(parsed.data)) == (
            packet.did,
            packet.cid,
            packet.seq,
            packet.data,
        )
        assert (parsed.tid, parsed.sid) == (packet.tid, packet.sid)


@given(st.lists(packets(), min_size=1, max_size=5), st.integers(1, 25), st.binary(max_size=8))
def test_reader_splits_joins_and_resynchronises(packets_: list[V2Packet], size: int, noise: bytes) -> None:
    noise = bytes(byte for byte in noise if byte != SOP)  # noise that cannot start a frame
    stream = noise + b"".join(packet.encode() for packet in packets_)
    reader = FrameReader()
    out: list[V2Packet] = []
    for start in range(0, len(stream), size):
        out.extend(reader.feed(stream[start : start + size]))
    assert out == packets_
    assert reader.pending == 0


def test_reader_drops_a_bad_checksum_and_reads_on() -> None:
    good = V2Packet(0x0A, 0x13, 0x0D, 1).encode()
    bad = bytearray(good)
    bad[-2] ^= 0x01
    reader = FrameReader()
    assert list(reader.feed(bytes(bad) + good)) == [decode(good)]
    assert reader.bad_frames == 1
    assert reader.errors == ["bad checksum"]


def test_reader_restarts_on_a_sop_inside_an_unfinished_frame() -> None:
    good = V2Packet(0x0A, 0x13, 0x0D, 2).encode()
    reader = FrameReader()
    assert list(reader.feed(good[:4] + good)) == [decode(good)]
    assert reader.garbage == 4


@pytest.mark.parametrize("flag", list(Flags))
def test_flags_match_spherov2(flag: Flags) -> None:
    assert int(flag) == int(Packet.Flags[_SPHEROV2_FLAG_NAMES[flag.name]])


_SPHEROV2_FLAG_NAMES = {
    "IS_RESPONSE": "is_response",
    "REQUESTS_RESPONSE": "requests_response",
    "REQUESTS_ONLY_ERROR_RESPONSE": "requests_only_error_response",
    "IS_ACTIVITY": "is_activity",
    "HAS_TARGET": "has_target_id",
    "HAS_SOURCE": "has_source_id",
    "EXTENDED": "extended_flags",
}


def test_error_codes_match_spherov2() -> None:
    assert [int(code) for code in ErrorCode] == [int(code) for code in Packet.Error]
    assert [int(Packet.Encoding.start), int(Packet.Encoding.end), int(Packet.Encoding.escape)] == [
        SOP,
        EOP,
        ESC,
    ]


class _Recorder:
    """Stands in for a spherov2 toy: its command functions hand the packet they built to ``_execute``."""

    _require_target = False

    def __init__(self) -> None:
        self._packet_manager = Packet.Manager()
        self.ids: list[tuple[int, int]] = []

    def _execute(self, packet: Packet) -> Packet:
        self.ids.append((packet.did, packet.cid))
        return Packet(packet.flags, packet.did, packet.cid, packet.seq, None, None, bytearray(4))


def test_command_ids_match_spherov2s_command_functions() -> None:
    from spherov2.commands.animatronic import Animatronic
    from spherov2.commands.drive import Drive
    from spherov2.commands.io import IO, FrameRotationOptions
    from spherov2.commands.power import Power
    from spherov2.commands.sensor import Sensor

    from bb8sim.v2.protocol import AnimatronicCid, Did, DriveCid, IoCid, PowerCid, SensorCid

    calls = {
        (Did.POWER, PowerCid.DEEP_SLEEP): lambda t: Power.enter_deep_sleep(t, 0),
        (Did.POWER, PowerCid.SLEEP): Power.sleep,
        (Did.POWER, PowerCid.BATTERY_VOLTAGE): Power.get_battery_voltage,
        (Did.POWER, PowerCid.WAKE): Power.wake,
        (Did.POWER, PowerCid.BATTERY_PERCENTAGE): Power.get_battery_percentage,
        (Did.POWER, PowerCid.BATTERY_VOLTAGE_STATE): Power.get_battery_voltage_state,
        (Did.POWER, PowerCid.CHARGER_STATE): Power.get_charger_state,
        (Did.DRIVE, DriveCid.RAW_MOTORS): lambda t: Drive.set_raw_motors(t, 0, 0, 0, 0),
        (Did.DRIVE, DriveCid.RESET_YAW): Drive.reset_yaw,
        (Did.DRIVE, DriveCid.DRIVE_WITH_HEADING): lambda t: Drive.drive_with_heading(t, 0, 0, 0),
        (Did.DRIVE, DriveCid.SET_STABILIZATION): lambda t: Drive.set_stabilization(t, 0),
        (Did.ANIMATRONIC, AnimatronicCid.PLAY_ANIMATION): lambda t: Animatronic.play_animation(t, 1),
        (Did.ANIMATRONIC, AnimatronicCid.PERFORM_LEG_ACTION): lambda t: Animatronic.perform_leg_action(t, 1),
        (Did.ANIMATRONIC, AnimatronicCid.SET_HEAD_POSITION): lambda t: Animatronic.set_head_position(t, 0.0),
        (Did.ANIMATRONIC, AnimatronicCid.GET_HEAD_POSITION): Animatronic.get_head_position,
        (Did.ANIMATRONIC, AnimatronicCid.STOP_ANIMATION): Animatronic.stop_animation,
        (Did.SENSOR, SensorCid.SET_STREAMING_MASK): lambda t: Sensor.set_sensor_streaming_mask(t, 0, 0, 0),
        (
            Did.SENSOR,
            SensorCid.SET_EXTENDED_STREAMING_MASK,
        ): lambda t: Sensor.set_extended_sensor_streaming_mask(t, 0),
        (Did.SENSOR, SensorCid.ENABLE_GYRO_MAX_NOTIFY): lambda t: Sensor.enable_gyro_max_notify(t, True),
        (Did.SENSOR, SensorCid.CONFIGURE_COLLISION_DETECTION): lambda t: Sensor.configure_collision_detection(
            t, 1, 0, 0, 0, 0, 0
        ),
        (Did.SENSOR, SensorCid.RESET_LOCATOR): Sensor.reset_locator_x_and_y,
        (Did.SENSOR, SensorCid.SET_LOCATOR_FLAGS): lambda t: Sensor.set_locator_flags(t, False),
        (Did.IO, IoCid.PLAY_AUDIO_FILE): lambda t: IO.play_audio_file(t, 1, 0),
        (Did.IO, IoCid.SET_AUDIO_VOLUME): lambda t: IO.set_audio_volume(t, 1),
        (Did.IO, IoCid.STOP_ALL_AUDIO): IO.stop_all_audio,
        (Did.IO, IoCid.SET_LEDS_16_BIT_MASK): lambda t: IO.set_all_leds_with_16_bit_mask(t, 1, [0]),
        (Did.IO, IoCid.SET_LEDS_8_BIT_MASK): lambda t: IO.set_all_leds_with_8_bit_mask(t, 1, [0]),
        (Did.IO, IoCid.MATRIX_PIXEL): lambda t: IO.set_compressed_frame_player_pixel(t, 0, 0, 0, 0, 0),
        (Did.IO, IoCid.MATRIX_ONE_COLOUR): lambda t: IO.set_compressed_frame_player_one_color(t, 0, 0, 0),
        (Did.IO, IoCid.MATRIX_ROTATION): lambda t: IO.set_compressed_frame_player_frame_rotation(
            t, FrameRotationOptions.NORMAL
        ),
        (Did.IO, IoCid.MATRIX_TEXT_SCROLLING): lambda t: IO.set_compressed_frame_player_text_scrolling(
            t, "A", 0, 0, 0, 1, False
        ),
        (Did.IO, IoCid.MATRIX_LINE): lambda t: IO.draw_compressed_frame_player_line(t, 0, 0, 0, 0, 0, 0, 0),
        (Did.IO, IoCid.MATRIX_FILL): lambda t: IO.draw_compressed_frame_player_fill(t, 0, 0, 0, 0, 0, 0, 0),
    }
    for expected, call in calls.items():
        recorder = _Recorder()
        call(recorder)
        assert recorder.ids == [expected], expected
    asyncs = {
        (Did.POWER, PowerCid.WILL_SLEEP): Power.will_sleep_notify[0],
        (Did.POWER, PowerCid.DID_SLEEP): Power.did_sleep_notify[0],
        (Did.ANIMATRONIC, AnimatronicCid.ANIMATION_COMPLETE): Animatronic.play_animation_complete_notify,
        (Did.SENSOR, SensorCid.STREAMING_DATA): Sensor.sensor_streaming_data_notify[0],
        (Did.SENSOR, SensorCid.COLLISION_DETECTED): Sensor.collision_detected_notify[0],
        (Did.IO, IoCid.MATRIX_TEXT_SCROLLING_DONE): IO.set_compressed_frame_player_text_scrolling_notify[0],
    }
    for (did, cid), key in asyncs.items():
        assert key == (did, cid, 0xFF)
