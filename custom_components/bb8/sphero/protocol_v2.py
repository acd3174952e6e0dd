"""Sphero API v2 framing (BB-9E, R2-D2, R2-Q5, Mini, BOLT): requests, answers, async packets, a reader.

``8D FLAGS [TID] [SID] DID CID SEQ [ERR] DATA... CHK D8``: CHK is 0xFF minus the low byte of the
sum of the unescaped FLAGS..DATA; then every 0xAB, 0x8D or 0xD8 between SOP and EOP (the checksum
included) is sent as 0xAB followed by 0x23, 0x05 or 0x50. Answers carry the response flag and an
ERR; async packets carry SEQ 0xFF and no response flag.

From spherov2 0.12.1 (``spherov2.controls.v2.Packet``), already a dependency, this module takes
the flag, escape and error enums, the checksum (``spherov2.helper.packet_chk``, v1's as well) and
``Packet.build``, which frames and escapes a request exactly as the rule says (the codec tests
hold it to the real captures). Decoding is written here instead: spherov2's ``parse_response``
raises on an error code outside its table (a newer firmware's code would lose the answer, and
the command would time out instead of failing with the toy's code), and its ``Collector`` keeps
every byte before a stray EOP, raises from inside the Bluetooth callback on a short or corrupt
frame, and never resynchronises on the next SOP.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import Final

from spherov2.controls.v2 import Packet as _SpheroV2Packet
from spherov2.helper import packet_chk as _spherov2_packet_chk

from .protocol import AsyncPacket, Packet, Response

Flags = _SpheroV2Packet.Flags
"""The FLAGS byte's bits, spherov2's enum (``is_response``, ``requests_response``, ...)."""
ErrorCode = _SpheroV2Packet.Error
"""ERR, the toy's answer code: spherov2's enum, 0 success, 1 bad DID ... 10 target unavailable."""
_Encoding = _SpheroV2Packet.Encoding

SOP: Final = int(_Encoding.start)
EOP: Final = int(_Encoding.end)
ESC: Final = int(_Encoding.escape)
_UNESCAPE: Final = {
    int(_Encoding.escaped_escape): ESC,
    int(_Encoding.escaped_start): SOP,
    int(_Encoding.escaped_end): EOP,
}
ASYNC_SEQ: Final = 0xFF
PRIMARY: Final = 0x11
"""TID of the primary processor (port 1, node 1): Bluetooth, power, the BOLT's LEDs."""
SECONDARY: Final = 0x12
"""TID of the secondary processor (port 1, node 2): the BOLT's motors, sensors and matrix."""
CENTRAL: Final = 0x01
"""The SID a targeted request names as its source (spherov2's)."""
MAX_FRAME: Final = 1024
"""The most bytes a frame may hold before its EOP: a lost EOP cannot make the reader hoard."""


class Did(IntEnum):
    """The v2 devices (DID) this package speaks to."""

    POWER = 0x13
    DRIVE = 0x16
    ANIMATRONIC = 0x17
    SENSOR = 0x18
    IO = 0x1A


class AsyncId(IntEnum):
    """Unasked v2 packets, as ``AsyncPacket.id_code``: DID in the high byte, CID in the low one.

    v1 id codes are one byte, so the two generations' ids never collide in ``ToyState``.
    """

    WAKE_NOTICE = 0x1311
    """Sent by an R2-D2 after waking (capture); its meaning is not published."""
    WILL_SLEEP = 0x1319
    DID_SLEEP = 0x131A
    ANIMATION_COMPLETE = 0x1711
    SENSOR_STREAM = 0x1802
    """Sensor stream values (18/02): big-endian float32s, one per set mask bit (``motion_v2``)."""
    COLLISION = 0x1812
    MATRIX_TEXT_DONE = 0x1A3C
    """A BOLT's scrolling text has ended (spherov2's ``..._text_scrolling_notify``, 1A/3C)."""


def checksum(body: bytes | bytearray) -> int:
    """Return the v2 checksum of the unescaped FLAGS..DATA bytes (spherov2's function)."""
    return int(_spherov2_packet_chk(body))


def error_name(code: int) -> str:
    """Name an ERR code for logs and errors, tolerating codes outside spherov2's table."""
    try:
        return str(ErrorCode(code).name)
    except ValueError:
        return f"unknown_0x{code:02x}"


def encode_request(
    did: int, cid: int, seq: int, data: bytes, *, target: int | None, activity: bool, answer: bool = True
) -> bytes:
    """Frame a request; ``activity`` resets the toy's inactivity timer, ``answer`` asks for an answer.

    A targeted request names ``CENTRAL`` as its source, so the answer comes back addressed to it.
    """
    flags = Flags.requests_response if answer else Flags(0)
    if activity:
        flags |= Flags.is_activity
    source = None
    if target is not None:
        flags |= Flags.has_target_id | Flags.has_source_id
        source = CENTRAL
    packet = _SpheroV2Packet(flags, did, cid, seq, target, source, bytearray(data))
    return bytes(packet.build())


def unescape(body: bytes | bytearray) -> bytes | None:
    """Undo the escaping of the bytes between SOP and EOP; None for an ESC not followed by a code."""
    out = bytearray()
    escaped = False
    for byte in body:
        if escaped:
            if (plain := _UNESCAPE.get(byte)) is None:
                return None
            out.append(plain)
            escaped = False
        elif byte == ESC:
            escaped = True
        else:
            out.append(byte)
    return None if escaped else bytes(out)


def decode_frame(frame: bytes | bytearray) -> Packet | str:
    """Decode one frame (SOP..EOP) to an answer or an async packet, or say why it is no packet."""
    raw = unescape(frame[1:-1])
    if raw is None:
        return "bad escape"
    if len(raw) < 5:
        return "frame too short"
    body, chk = raw[:-1], raw[-1]
    if checksum(body) != chk:
        return "bad checksum"
    flags = body[0]
    index = 1 + bool(flags & Flags.has_target_id) + bool(flags & Flags.has_source_id)
    is_response = bool(flags & Flags.is_response)
    if len(body) < index + 3 + is_response:
        return "frame too short"
    did, cid, seq = body[index : index + 3]
    index += 3
    if is_response:
        code = body[index]
        return Response(code, seq, body[index + 1 :], None if code == 0 else error_name(code))
    if seq == ASYNC_SEQ:
        return AsyncPacket((did << 8) | cid, body[index:])
    return "a request from the toy"


type DropReporter = Callable[[bytes, str], None]


class FrameReader:
    """Turn notification fragments into packets, resynchronising on SOP; never raises.

    One packet may come over many notifications (the Mini sends a byte per notification) and one
    notification may hold several packets. An escaped frame never holds SOP or EOP, so a SOP
    always starts a frame: bytes outside a frame, a frame cut short by a new SOP, and a frame that
    fails to decode (bad checksum, bad escape, too short) are dropped and reported to ``on_drop``
    with a reason, as the v1 reader reports its drops.
    """

    def __init__(self, on_drop: DropReporter | None = None) -> None:
        """Start with an empty buffer; ``on_drop`` hears about every discarded run of bytes."""
        self._buffer = bytearray()
        self._on_drop = on_drop
        self.dropped_bytes = 0

    @property
    def pending(self) -> int:
        """Bytes held while waiting for the rest of a frame."""
        return len(self._buffer)

    def feed(self, fragment: bytes | bytearray) -> list[Packet]:
        """Add one notification's bytes and return every packet they complete, in order."""
        packets: list[Packet] = []
        buffer = self._buffer
        start = 0
        while start < len(fragment):
            if not buffer:
                sop = fragment.find(SOP, start)
                if sop < 0:
                    self._drop(bytes(fragment[start:]), "no start of packet")
                    break
                if sop > start:
                    self._drop(bytes(fragment[start:sop]), "bytes before start of packet")
                buffer.append(SOP)
                start = sop + 1
                continue
            eop = fragment.find(EOP, start)
            sop = fragment.find(SOP, start)
            if sop >= 0 and (eop < 0 or sop < eop):
                buffer += fragment[start:sop]
                self._drop_buffer("start of packet inside a frame")
                start = sop
                continue
            if eop < 0:
                buffer += fragment[start:]
                if len(buffer) > MAX_FRAME:
                    self._drop_buffer("frame too long")
                break
            buffer += fragment[start : eop + 1]
            start = eop + 1
            decoded = decode_frame(buffer)
            if isinstance(decoded, str):
                self._drop_buffer(decoded)
            else:
                buffer.clear()
                packets.append(decoded)
        return packets

    def skip_stale_head(self) -> list[Packet]:
        """Give up on a frame whose rest never came; nothing can follow it in the buffer."""
        self._drop_buffer("incomplete packet timed out")
        return []

    def reset(self) -> None:
        """Forget a partial frame, e.g. when the link drops mid-packet."""
        self._drop_buffer("partial packet discarded on reset")

    def _drop_buffer(self, reason: str) -> None:
        if self._buffer:
            dropped = bytes(self._buffer)
            self._buffer.clear()
            self._drop(dropped, reason)

    def _drop(self, dropped: bytes, reason: str) -> None:
        self.dropped_bytes += len(dropped)
        if self._on_drop is not None:
            self._on_drop(dropped, reason)
