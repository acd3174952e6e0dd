"""Sphero API 1.x framing: requests, responses, asynchronous packets and the stream reassembler.

spherov2 (0.12.1) is the protocol peer: every frame built here must match what spherov2 builds and
must parse with spherov2's own parser and collector.
"""

from __future__ import annotations

from itertools import pairwise
import struct

from hypothesis import given, settings, strategies as st
import pytest
from spherov2.controls import PacketDecodingException
from spherov2.controls.v1 import Packet as V2Packet

from custom_components.bb8.sphero.const import MAX_CHUNK, AsyncId
from custom_components.bb8.sphero.protocol import (
    MAX_ASYNC_DLEN,
    AsyncPacket,
    MrspCode,
    Packet,
    Response,
    StreamReassembler,
    checksum,
    encode_request,
    mrsp_name,
)

from .framing import Request, chunk, parse_packet

# Deterministic and database-less, so CI explores the same examples on every run.
PROPERTY = settings(max_examples=300, derandomize=True, database=None, deadline=None)

# ---------------------------------------------------------------------------------------------
# Strategies and helpers
# ---------------------------------------------------------------------------------------------

bytes_values = st.integers(min_value=0, max_value=0xFF)
# The toy only answers with the spec's MRSP codes (spherov2's parser refuses any other).
mrsp_codes = st.sampled_from([int(code) for code in MrspCode])
plain_responses = st.builds(
    Response, mrsp=mrsp_codes, seq=bytes_values, data=st.binary(max_size=MAX_CHUNK * 2)
)
plain_asyncs = st.builds(AsyncPacket, id_code=bytes_values, data=st.binary(max_size=MAX_CHUNK * 2))
plain_packets = st.one_of(plain_responses, plain_asyncs)

# Payloads that carry a complete, valid frame inside them: sensor values such as -1 (FF FF) or
# -2 (FF FE) make this happen on the real toy. A reader must not cut such a packet in two.
payloads_with_embedded_frame = st.tuples(
    st.binary(max_size=8), plain_packets.map(lambda packet: packet.encode()), st.binary(max_size=8)
).map(b"".join)
payloads = st.one_of(st.binary(max_size=MAX_CHUNK * 3), payloads_with_embedded_frame)
responses = st.builds(Response, mrsp=mrsp_codes, seq=bytes_values, data=payloads)
asyncs = st.builds(
    AsyncPacket,
    id_code=bytes_values,
    data=st.one_of(payloads, st.binary(min_size=250, max_size=320)),  # two-byte DLEN
)
packets = st.one_of(responses, asyncs)

# Garbage that holds no 0xFF byte can never look like the start of a packet.
garbage_without_sop = st.lists(st.integers(min_value=0, max_value=0xFE), max_size=12).map(bytes)


def split_at(stream: bytes, cuts: list[int]) -> list[bytes]:
    """Cut ``stream`` at the given offsets (sorted, deduplicated) into notification fragments."""
    bounds = [0, *sorted(set(cuts)), len(stream)]
    return [stream[start:end] for start, end in pairwise(bounds)]


def cut_points(stream: bytes) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(min_value=0, max_value=len(stream)), max_size=12)


class Reader:
    """A reassembler plus everything it reported, for assertions."""

    def __init__(self) -> None:
        self.drops: list[tuple[bytes, str]] = []
        self.reassembler = StreamReassembler(
            on_drop=lambda dropped, reason: self.drops.append((dropped, reason))
        )

    def feed_all(self, fragments: list[bytes]) -> list[Packet]:
        delivered: list[Packet] = []
        for fragment in fragments:
            delivered.extend(self.reassembler.feed(fragment))
        return delivered

    @property
    def dropped(self) -> bytes:
        return b"".join(dropped for dropped, _ in self.drops)

    @property
    def reasons(self) -> list[str]:
        return [reason for _, reason in self.drops]


def collision_payload(
    ax: int = 100, ay: int = -200, az: int = 4096, axis: int = 1, mx: int = 50, my: int = 60, speed: int = 80
) -> bytes:
    return struct.pack(">3hB2hBL", ax, ay, az, axis, mx, my, speed, 123456)


# ---------------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------------


# Sphero API 1.20, "SOP2 bitfield encoding": bits 7-2 are 1, bit 1 = reset timeout, bit 0 = answer.
# sphero.js names the same four values: none 0xFC, answer 0xFD, resetTimeout 0xFE, both 0xFF.
@pytest.mark.parametrize(
    ("answer", "reset_timeout", "sop2"),
    [(True, True, 0xFF), (True, False, 0xFD), (False, True, 0xFE), (False, False, 0xFC)],
)
def test_request_sop2_carries_answer_and_reset_inactivity_bits(
    answer: bool, reset_timeout: bool, sop2: int
) -> None:
    frame = Request(0x02, 0x20, 7, b"\x01\x02\x03", answer=answer, reset_timeout=reset_timeout).encode()
    assert frame[0] == 0xFF
    assert frame[1] == sop2


def test_request_defaults_ask_for_an_answer_and_reset_the_inactivity_timer() -> None:
    assert Request(0x00, 0x01, 0).encode()[1] == 0xFF


def test_ping_request_frame_matches_the_spec_byte_for_byte() -> None:
    # FF FF DID=00 CID=01 SEQ=00 DLEN=01 CHK: 0xFF - (0+1+0+1) = 0xFD
    assert Request(0x00, 0x01, 0x00).encode() == bytes.fromhex("ffff00010001fd")


def test_request_checksum_is_ones_complement_of_low_byte_of_sum_after_sop2() -> None:
    # body 02 20 05 05 FF 00 00 00: sum 0x12B, low byte 0x2B, checksum 0xFF - 0x2B = 0xD4.
    frame = Request(0x02, 0x20, 0x05, bytes([0xFF, 0x00, 0x00, 0x00])).encode()
    assert frame[2:] == bytes.fromhex("02200505ff000000d4")


def test_request_checksum_ignores_sop2_flags() -> None:
    with_answer = Request(0x02, 0x21, 9, b"\x80", answer=True, reset_timeout=True).encode()
    without = Request(0x02, 0x21, 9, b"\x80", answer=False, reset_timeout=False).encode()
    assert with_answer[2:] == without[2:]


@pytest.mark.parametrize("length", [0, 1, 13, 254])
def test_request_dlen_counts_payload_plus_checksum(length: int) -> None:
    frame = Request(0x02, 0x11, 1, bytes(length)).encode()
    assert frame[5] == length + 1
    assert len(frame) == 6 + length + 1


@pytest.mark.parametrize("seq", [0, 1, 127, 255])
def test_request_accepts_every_one_byte_sequence_number(seq: int) -> None:
    assert Request(0x00, 0x01, seq).encode()[4] == seq


@pytest.mark.parametrize("seq", [-1, 256, 1000])
def test_request_refuses_sequence_number_outside_one_byte(seq: int) -> None:
    with pytest.raises(ValueError, match="sequence"):
        Request(0x00, 0x01, seq).encode()


def test_request_refuses_payload_too_long_for_dlen() -> None:
    with pytest.raises(ValueError, match="too long"):
        Request(0x02, 0x11, 0, bytes(255)).encode()


@PROPERTY
@given(did=bytes_values, cid=bytes_values, seq=bytes_values, data=st.binary(max_size=254))
def test_request_frame_equals_spherov2_request(did: int, cid: int, seq: int, data: bytes) -> None:
    ours = Request(did, cid, seq, data, answer=True, reset_timeout=True).encode()
    assert ours == bytes(V2Packet.Request(did, cid, seq, bytearray(data)).build())


@PROPERTY
@given(body=st.binary(max_size=300))
def test_checksum_is_0xff_minus_low_byte_of_sum(body: bytes) -> None:
    assert checksum(body) == 0xFF - (sum(body) & 0xFF)


# ---------------------------------------------------------------------------------------------
# Responses and asynchronous packets
# ---------------------------------------------------------------------------------------------


def test_response_frame_matches_the_spec_byte_for_byte() -> None:
    # FF FF MRSP=00 SEQ=03 DLEN=03 'a' 'b' CHK: 0xFF - (0+3+3+0x61+0x62) & 0xFF = 0x36
    assert Response(0x00, 0x03, b"ab").encode() == bytes.fromhex("ffff000303616236")


def test_async_frame_carries_a_two_byte_dlen() -> None:
    frame = AsyncPacket(AsyncId.SENSOR_STREAM, bytes(300)).encode()
    assert frame[:5] == bytes([0xFF, 0xFE, 0x03, 0x01, 0x2D])  # 301 = 0x012D
    assert len(frame) == 5 + 301


def test_response_ok_only_for_mrsp_zero() -> None:
    assert Response(0x00, 1).ok
    assert not Response(int(MrspCode.parameter_value_invalid), 1).ok


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (0x00, "command_succeeded"),
        (0x07, "parameter_value_invalid"),
        (0x31, "voltage_too_low"),
        (0x99, "unknown_0x99"),
    ],
)
def test_mrsp_name_names_known_codes_and_tolerates_unknown_ones(code: int, name: str) -> None:
    assert mrsp_name(code) == name


@PROPERTY
@given(packet=packets)
def test_encoded_packet_parses_back_to_itself(packet: Packet) -> None:
    assert parse_packet(packet.encode()) == packet


@PROPERTY
@given(response=plain_responses)
def test_response_frame_equals_spherov2_response_build(response: Response) -> None:
    theirs = V2Packet.Response(V2Packet.Error(response.mrsp), response.seq, bytearray(response.data)).build()
    assert response.encode() == bytes(theirs)


@PROPERTY
@given(packet=plain_asyncs)
def test_async_frame_equals_spherov2_async_build(packet: AsyncPacket) -> None:
    assert packet.encode() == bytes(V2Packet.Async(packet.id_code, bytearray(packet.data)).build())


@PROPERTY
@given(response=responses)
def test_our_response_parses_with_spherov2_parse_response(response: Response) -> None:
    # spherov2 takes everything after the two SOP bytes and pops the checksum itself.
    parsed = V2Packet.parse_response(bytearray(response.encode()[2:]))
    assert (int(parsed.mrsp), parsed.seq, bytes(parsed.data)) == (response.mrsp, response.seq, response.data)


@PROPERTY
@given(packet=asyncs)
def test_our_async_packet_parses_with_spherov2_parse_async(packet: AsyncPacket) -> None:
    parsed = V2Packet.parse_async(bytearray(packet.encode()[2:]))
    assert (parsed.id_code, bytes(parsed.data)) == (packet.id_code, packet.data)


def test_spherov2_parser_rejects_our_frame_with_a_flipped_checksum() -> None:
    # The peer agrees with us on what a bad checksum is, so the cross-checks above are meaningful.
    frame = bytearray(Response(0, 1, b"\x10").encode())
    frame[-1] ^= 0x01
    with pytest.raises(PacketDecodingException):
        V2Packet.parse_response(frame[2:])


@PROPERTY
@given(stream=st.lists(st.one_of(plain_responses, plain_asyncs), min_size=1, max_size=5))
def test_our_stream_in_toy_sized_notifications_parses_with_spherov2_collector(stream: list[Packet]) -> None:
    received: list[V2Packet.Response | V2Packet.Async] = []
    collector = V2Packet.Collector(received.append)
    for fragment in chunk(b"".join(packet.encode() for packet in stream)):
        collector.add(bytearray(fragment))
    as_theirs = [
        (int(p.mrsp), p.seq, bytes(p.data))
        if isinstance(p, V2Packet.Response)
        else (p.id_code, bytes(p.data))
        for p in received
    ]
    as_ours = [(p.mrsp, p.seq, p.data) if isinstance(p, Response) else (p.id_code, p.data) for p in stream]
    assert as_theirs == as_ours


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(b"", id="empty"),
        pytest.param(bytes.fromhex("ffff000303616237"), id="bad checksum"),
        pytest.param(bytes.fromhex("ffff0003036162"), id="truncated"),
        pytest.param(bytes.fromhex("ffff000303616236") + b"\x00", id="trailing byte"),
        pytest.param(bytes.fromhex("ffff000303616236") + b"\xff", id="trailing SOP1"),
        pytest.param(b"\x00" + bytes.fromhex("ffff000303616236"), id="leading garbage"),
        pytest.param(bytes.fromhex("ffff000303616236") * 2, id="two packets"),
        pytest.param(bytes.fromhex("fff8000303616236"), id="request SOP2, not a response"),
    ],
)
def test_parse_packet_refuses_anything_but_exactly_one_valid_packet(frame: bytes) -> None:
    with pytest.raises(ValueError, match="not exactly one valid packet"):
        parse_packet(frame)


@pytest.mark.parametrize("length", [0, 1, 19, 20, 21, 40, 41])
def test_chunk_splits_into_writes_of_at_most_twenty_bytes(length: int) -> None:
    payload = bytes(range(length))
    pieces = list(chunk(payload))
    assert b"".join(pieces) == payload
    assert all(0 < len(piece) <= MAX_CHUNK for piece in pieces)
    assert len(pieces) == -(-length // MAX_CHUNK)


# ---------------------------------------------------------------------------------------------
# Stream reassembly: deterministic cases
# ---------------------------------------------------------------------------------------------

COLLISION = AsyncPacket(AsyncId.COLLISION, collision_payload())  # 22 bytes: arrives as 20 + 2
POWER = AsyncPacket(AsyncId.POWER_STATE, b"\x02")
VERSIONS_ANSWER = Response(0x00, 0x11, bytes.fromhex("02030104450001000000"))
OK_ANSWER = Response(0x00, 0x12)


@pytest.mark.parametrize("packet", [COLLISION, VERSIONS_ANSWER, POWER, OK_ANSWER], ids=repr)
def test_packet_split_in_two_at_every_point_is_reassembled(packet: Packet) -> None:
    frame = packet.encode()
    for cut in range(len(frame) + 1):
        reader = Reader()
        assert reader.feed_all([frame[:cut], frame[cut:]]) == [packet], f"cut at {cut}"
        assert reader.drops == []
        assert reader.reassembler.pending == 0


def test_two_packets_split_at_every_pair_of_points_are_reassembled() -> None:
    stream = COLLISION.encode() + VERSIONS_ANSWER.encode()
    for first in range(len(stream) + 1):
        for second in range(first, len(stream) + 1):
            reader = Reader()
            fragments = [stream[:first], stream[first:second], stream[second:]]
            assert reader.feed_all(fragments) == [COLLISION, VERSIONS_ANSWER], f"cuts {first}, {second}"
            assert reader.drops == []


def test_collision_arriving_as_twenty_plus_two_bytes_is_delivered_once_complete() -> None:
    reassembler = StreamReassembler()
    first, second = chunk(COLLISION.encode())
    assert (len(first), len(second)) == (20, 2)
    assert reassembler.feed(first) == []
    assert reassembler.pending == 20
    assert reassembler.feed(second) == [COLLISION]
    assert reassembler.pending == 0


def test_several_packets_in_one_notification_are_all_delivered_in_order() -> None:
    reader = Reader()
    stream = POWER.encode() + OK_ANSWER.encode() + Response(0x00, 0x13, b"\x01").encode()
    assert reader.feed_all([stream]) == [POWER, OK_ANSWER, Response(0x00, 0x13, b"\x01")]
    assert reader.drops == []


def test_async_packet_between_request_and_its_response_is_delivered_first() -> None:
    # The request (seq 0x11) is written; before its answer the toy reports a collision.
    reader = Reader()
    stream = COLLISION.encode() + VERSIONS_ANSWER.encode()
    delivered = reader.feed_all(list(chunk(stream)))
    assert delivered == [COLLISION, VERSIONS_ANSWER]
    assert isinstance(delivered[1], Response)
    assert delivered[1].seq == 0x11


def test_garbage_before_a_packet_is_dropped_and_reported() -> None:
    reader = Reader()
    assert reader.feed_all([b"\x00\x13\xff\x01" + OK_ANSWER.encode()]) == [OK_ANSWER]
    assert reader.dropped == b"\x00\x13\xff\x01"
    assert reader.reasons == ["bytes before start of packet"]
    assert reader.reassembler.dropped_bytes == 4


def test_garbage_between_packets_is_dropped_and_reported() -> None:
    reader = Reader()
    stream = POWER.encode() + b"\x42\xff\x00\x42" + OK_ANSWER.encode()
    assert reader.feed_all([stream]) == [POWER, OK_ANSWER]
    assert reader.dropped == b"\x42\xff\x00\x42"
    assert all(reason for reason in reader.reasons)
    assert reader.reassembler.dropped_bytes == 4


def test_garbage_after_the_last_packet_is_dropped_and_reported() -> None:
    reader = Reader()
    assert reader.feed_all([OK_ANSWER.encode() + b"\x01\x02\x03"]) == [OK_ANSWER]
    assert reader.drops == [(b"\x01\x02\x03", "no start of packet")]
    assert reader.reassembler.pending == 0


def test_trailing_sop1_is_kept_as_the_possible_start_of_the_next_packet() -> None:
    reader = Reader()
    frame = OK_ANSWER.encode()
    assert reader.feed_all([b"\x07" + frame[:1]]) == []
    assert reader.reassembler.pending == 1
    assert reader.dropped == b"\x07"
    assert reader.feed_all([frame[1:]]) == [OK_ANSWER]


def test_corrupt_packet_followed_by_good_one_delivers_the_good_one_and_reports_the_drop() -> None:
    corrupt = bytearray(Response(0x00, 0x20, b"\x01\x02").encode())
    corrupt[-1] ^= 0x55
    reader = Reader()
    assert reader.feed_all([bytes(corrupt) + OK_ANSWER.encode()]) == [OK_ANSWER]
    assert reader.reasons.count("bad checksum") == 1
    assert reader.dropped == bytes(corrupt)
    assert reader.reassembler.dropped_bytes == len(corrupt)


def test_corrupt_packet_split_across_notifications_is_dropped_without_losing_the_next() -> None:
    corrupt = bytearray(COLLISION.encode())
    corrupt[10] ^= 0x01  # a payload byte, so only the checksum can tell
    reader = Reader()
    delivered = reader.feed_all([*chunk(bytes(corrupt)), *chunk(OK_ANSWER.encode())])
    assert delivered == [OK_ANSWER]
    assert reader.reasons.count("bad checksum") == 1
    assert reader.reassembler.dropped_bytes == len(corrupt)


def test_corrupt_length_field_does_not_lose_the_packets_that_follow() -> None:
    # DLEN 0x01 corrupted to 0x30: the head claims 53 bytes. Whenever the reader gives up on it,
    # every good packet after it must still arrive, in order.
    corrupt = bytearray(Response(0x00, 0x20).encode())
    corrupt[4] = 0x30
    good = [Response(0x00, seq, b"\x10\x20\x30") for seq in range(0x21, 0x2B)]
    reader = Reader()
    delivered = reader.feed_all([bytes(corrupt), *(packet.encode() for packet in good)])
    assert delivered == good
    assert reader.reassembler.pending == 0
    assert reader.dropped == bytes(corrupt)


def test_async_header_claiming_more_than_max_dlen_does_not_stall_the_reader() -> None:
    huge = bytes([0xFF, 0xFE, AsyncId.SENSOR_STREAM]) + (MAX_ASYNC_DLEN + 1).to_bytes(2, "big")
    reader = Reader()
    assert reader.feed_all([huge + OK_ANSWER.encode()]) == [OK_ANSWER]
    assert "impossible header" in reader.reasons
    assert reader.reassembler.pending == 0
    assert reader.dropped == huge


def test_async_packet_at_the_largest_accepted_dlen_is_delivered() -> None:
    packet = AsyncPacket(AsyncId.SENSOR_STREAM, bytes(range(256)) * 3 + bytes(MAX_ASYNC_DLEN - 1 - 768))
    reader = Reader()
    assert reader.feed_all(list(chunk(packet.encode()))) == [packet]
    assert reader.drops == []


def test_response_header_with_zero_dlen_is_skipped_as_impossible() -> None:
    reader = Reader()
    assert reader.feed_all([bytes.fromhex("ffff000500") + OK_ANSWER.encode()]) == [OK_ANSWER]
    assert "impossible header" in reader.reasons


@pytest.mark.parametrize(
    "false_start",
    [
        b"\xff\xff",
        b"\xff\xff\x01",
        b"\xff\xff\x01\x02",
        b"\xff\xfe",
        b"\xff\xfe\x07",
        b"\xff\xfe\x07\x00",
        b"\xff",
    ],
    ids=lambda value: value.hex(),
)
def test_false_start_with_incomplete_header_does_not_delay_a_complete_valid_packet(
    false_start: bytes,
) -> None:
    reader = Reader()
    response = Response(0x00, 0x07, b"ab")
    assert reader.feed_all([b"\x01\x02" + false_start + response.encode()]) == [response]
    assert reader.reassembler.pending == 0
    assert reader.dropped == b"\x01\x02" + false_start


def test_collision_whose_payload_looks_like_a_response_is_not_cut_into_a_phantom_response() -> None:
    # accel x = -1 (FF FF), accel y = 5 (00 05), accel z = 505 (01 F9): bytes 5..10 of the packet
    # read FF FF 00 05 01 F9, a complete, valid response with SEQ 5. The toy sends the 22-byte
    # packet as 20 + 2 bytes; after the first 20 the collision is incomplete but not wrong.
    payload = collision_payload(ax=-1, ay=5, az=505)
    collision = AsyncPacket(AsyncId.COLLISION, payload)
    assert Response(0x00, 0x05).encode() in payload
    reader = Reader()
    assert reader.feed_all(list(chunk(collision.encode()))) == [collision]
    assert reader.drops == []


def test_reset_discards_a_partial_packet_and_reports_it() -> None:
    reader = Reader()
    first, second = chunk(COLLISION.encode())
    reader.feed_all([first])
    reader.reassembler.reset()
    assert reader.reassembler.pending == 0
    assert reader.drops == [(first, "partial packet discarded on reset")]
    # The rest of the old packet is now garbage; the next packet still comes through.
    assert reader.feed_all([second, OK_ANSWER.encode()]) == [OK_ANSWER]
    assert reader.reassembler.dropped_bytes == len(first) + len(second)


def test_reset_with_nothing_pending_reports_nothing() -> None:
    reader = Reader()
    reader.feed_all([OK_ANSWER.encode()])
    reader.reassembler.reset()
    assert reader.drops == []
    assert reader.reassembler.dropped_bytes == 0


def test_reassembler_without_drop_callback_still_counts_drops() -> None:
    reassembler = StreamReassembler()
    assert reassembler.feed(b"\x01\x02\x03" + OK_ANSWER.encode()) == [OK_ANSWER]
    assert reassembler.dropped_bytes == 3


def test_reassembler_accepts_bytearray_fragments() -> None:
    assert StreamReassembler().feed(bytearray(OK_ANSWER.encode())) == [OK_ANSWER]


# ---------------------------------------------------------------------------------------------
# Stream reassembly: properties
# ---------------------------------------------------------------------------------------------


@PROPERTY
@given(data=st.data(), stream=st.lists(packets, max_size=6))
def test_any_packets_split_anywhere_come_out_exactly_as_sent(
    data: st.DataObject, stream: list[Packet]
) -> None:
    raw = b"".join(packet.encode() for packet in stream)
    fragments = split_at(raw, data.draw(cut_points(raw), label="cuts"))
    reader = Reader()
    assert reader.feed_all(fragments) == stream
    assert reader.drops == []
    assert reader.reassembler.pending == 0


@PROPERTY
@given(data=st.data(), stream=st.lists(plain_packets, max_size=6))
def test_garbage_without_sop_between_packets_is_dropped_and_packets_come_out_exactly(
    data: st.DataObject, stream: list[Packet]
) -> None:
    garbage = data.draw(st.lists(garbage_without_sop, min_size=len(stream) + 1, max_size=len(stream) + 1))
    raw = garbage[0] + b"".join(
        packet.encode() + junk for packet, junk in zip(stream, garbage[1:], strict=True)
    )
    fragments = split_at(raw, data.draw(cut_points(raw), label="cuts"))
    reader = Reader()
    assert reader.feed_all(fragments) == stream
    assert reader.reassembler.dropped_bytes == sum(len(junk) for junk in garbage)
    assert reader.dropped == b"".join(garbage)
    assert reader.reassembler.pending == 0


@PROPERTY
@given(data=st.data(), raw=st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_and_only_yield_packets_that_were_in_the_stream(
    data: st.DataObject, raw: bytes
) -> None:
    # Bias towards start bytes so headers, false starts and near-misses are common.
    raw = raw.replace(b"\x00", b"\xff").replace(b"\x01", b"\xfe") if data.draw(st.booleans()) else raw
    fragments = split_at(raw, data.draw(cut_points(raw), label="cuts"))
    reader = Reader()
    delivered = reader.feed_all(fragments)
    for packet in delivered:
        frame = packet.encode()
        assert checksum(frame[2:-1]) == frame[-1]
        assert frame in raw
        assert parse_packet(frame) == packet
    # Every byte is accounted for: delivered, dropped (and reported) or still pending.
    delivered_bytes = sum(len(packet.encode()) for packet in delivered)
    assert delivered_bytes + reader.reassembler.dropped_bytes + reader.reassembler.pending == len(raw)
    assert len(reader.dropped) == reader.reassembler.dropped_bytes
    assert all(reason for reason in reader.reasons)


@given(
    did=st.integers(0, 0xFF),
    cid=st.integers(0, 0xFF),
    seq=st.integers(0, 0xFF),
    data=st.binary(max_size=0xFE),
    reset_timeout=st.booleans(),
)
def test_the_command_paths_one_step_framing_is_requests_framing(
    did: int, cid: int, seq: int, data: bytes, reset_timeout: bool
) -> None:
    assert (
        encode_request(did, cid, seq, data, reset_timeout)
        == Request(did, cid, seq, data, reset_timeout=reset_timeout).encode()
    )


@PROPERTY
@given(response=responses)
def test_a_response_whole_in_one_notification_reads_as_it_does_byte_by_byte(response: Response) -> None:
    frame = response.encode()
    whole, byte_by_byte = Reader(), Reader()
    assert whole.feed_all([frame]) == byte_by_byte.feed_all([frame[i : i + 1] for i in range(len(frame))])
    assert whole.feed_all([bytearray(frame)]) == [response]
    assert whole.drops == byte_by_byte.drops == []


@PROPERTY
@given(response=plain_responses, flip=st.integers(min_value=1, max_value=0xFF))
def test_a_whole_response_with_a_bad_checksum_is_dropped_not_delivered(response: Response, flip: int) -> None:
    frame = bytearray(response.encode())
    frame[-1] ^= flip
    reader = Reader()
    assert reader.feed_all([bytes(frame)]) == []
    assert reader.reasons.count("bad checksum") == 1
    assert reader.feed_all([OK_ANSWER.encode()]) == [OK_ANSWER], "the reader reads on afterwards"
