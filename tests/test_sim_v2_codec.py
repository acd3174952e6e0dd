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
