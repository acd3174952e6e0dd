"""Sphero API 1.x framing: requests, responses, asynchronous packets and a resynchronising reader.

The checksum and the toy's response codes are spherov2's own (``spherov2.helper.packet_chk`` and
``spherov2.controls.v1.Packet.Error``), so this module and the project's protocol peer cannot
drift apart on them (the two hot spots, ``encode_request`` and the reader's one-answer fast
path, compute the same sum inline, and tests hold each to the general path). Framing is written
here because spherov2's ``Packet.Request`` always sends SOP2 0xFF (it cannot ask for a response
without also resetting the inactivity timer), and its ``Collector`` clears its whole buffer and
raises on the first stray byte, which would lose a good packet that shares a notification with
garbage and would raise into the Bluetooth callback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from spherov2.controls.v1 import Packet as _SpheroV2Packet
from spherov2.helper import packet_chk as _spherov2_packet_chk

SOP1: Final = 0xFF
# Sphero API 1.20, "SOP2 bitfield encoding": bits 7-2 are 1, bit 1 resets the inactivity timer,
# bit 0 asks for an answer (0xFC none, 0xFD answer, 0xFE reset, 0xFF both). The design brief's
# "0xF8 |" cannot give 0xFF for both flags; the spec (and spherov2's fixed 0xFF) is followed.
SOP2_BASE: Final = 0xFC
SOP2_ANSWER: Final = 0x01
SOP2_RESET_TIMEOUT: Final = 0x02
SOP2_RESPONSE: Final = 0xFF
SOP2_ASYNC: Final = 0xFE

# Responses carry a one-byte DLEN (1..255). Asynchronous packets carry a 16-bit DLEN; the largest
# the toy sends is a sensor stream frame, far below this bound. A claimed length above it is
# treated as garbage, so a corrupt header cannot make the reader wait for 64 KiB that never come.
MAX_ASYNC_DLEN: Final = 1024

MrspCode = _SpheroV2Packet.Error
"""The toy's response codes (MRSP), spherov2's enum: 0x00 success, others are errors."""


def checksum(body: bytes | bytearray) -> int:
    """Return the v1 checksum of ``body`` (every byte after SOP2, before CHK).

    It is the one's complement of the low byte of the sum; spherov2 computes it the same way.
    """
    return int(_spherov2_packet_chk(body))


def mrsp_name(code: int) -> str:
    """Name a response code for logs and errors, tolerating codes outside the spec's table."""
    try:
        return str(MrspCode(code).name)
    except ValueError:
        return f"unknown_0x{code:02x}"


@dataclass(frozen=True, slots=True)
class Response:
    """The toy's answer to a request: ``FF FF MRSP SEQ DLEN <data> CHK`` (or a v2 answer).

    ``mrsp`` is the toy's answer code, 0x00 for success in both generations; a v2 answer's
    reader names its code in ``code_name``, since v2 numbers its errors otherwise.
    """

    mrsp: int
    seq: int
    data: bytes = b""
    code_name: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the toy reports success (MRSP 0x00)."""
        return self.mrsp == 0x00

    def encode(self) -> bytes:
        """Frame the response (the simulator and the tests build packets with it)."""
        body = bytes([self.mrsp, self.seq, len(self.data) + 1]) + self.data
        return bytes([SOP1, SOP2_RESPONSE]) + body + bytes([checksum(body)])


@dataclass(frozen=True, slots=True)
class AsyncPacket:
    """A packet the toy sends unasked: ``FF FE ID DLEN_MSB DLEN_LSB <data> CHK`` (or a v2 one).

    A v2 packet's ``id_code`` is its DID and CID as one number (``protocol_v2.AsyncId``).
    """

    id_code: int
    data: bytes = b""

    def encode(self) -> bytes:
        """Frame the asynchronous packet."""
        dlen = len(self.data) + 1
        body = bytes([self.id_code, dlen >> 8, dlen & 0xFF]) + self.data
        return bytes([SOP1, SOP2_ASYNC]) + body + bytes([checksum(body)])


type Packet = Response | AsyncPacket


def encode_request(did: int, cid: int, seq: int, data: bytes, reset_timeout: bool) -> bytes:
    """Frame a request that asks for an answer, in one step (the command path's hot spot).

    The fields come from a validated ``Command`` and the pipeline's sequence numbers, so only
    the payload length needs checking.
    """
    if len(data) > 0xFE:
        raise ValueError(f"payload of {len(data)} bytes is too long for DLEN")
    body = bytes((did, cid, seq, len(data) + 1)) + data
    sop2 = SOP2_BASE | SOP2_ANSWER | SOP2_RESET_TIMEOUT if reset_timeout else SOP2_BASE | SOP2_ANSWER
    return bytes((SOP1, sop2)) + body + bytes((0xFF - (sum(body) & 0xFF),))


type DropReporter = Callable[[bytes, str], None]


class StreamReassembler:
    """Turn a stream of notification fragments into packets, resynchronising on garbage.

    Packets may be split across notifications, several may share one, and an asynchronous packet
    may sit between a request and its response. Bytes that cannot belong to a valid packet are
    dropped and reported through ``on_drop`` (with a reason), never raised: this runs inside the
    Bluetooth notification callback, where an exception would only be logged by the stack and the
    rest of the stream lost.
    """

    def __init__(self, on_drop: DropReporter | None = None) -> None:
        """Start with an empty buffer; ``on_drop`` hears about every discarded run of bytes."""
        self._buffer = bytearray()
        self._on_drop = on_drop
        self.dropped_bytes = 0

    @property
    def pending(self) -> int:
        """Bytes held while waiting for the rest of a packet."""
        return len(self._buffer)

    def skip_stale_head(self) -> list[Packet]:
        """Give up on the incomplete packet at the head of the buffer; return what follows.

        Only a complete valid packet inside the head's first five bytes may cut the wait for a
        head short (one further in may be part of a real packet's payload), so noise that looks
        like a header claiming 200 bytes would hold every real answer behind it until 200 more
        bytes arrived. The owner calls this once the head has waited longer than any packet in
        transit could. Reading resumes at the first complete, valid packet buffered behind it
        (the answers the false start swallowed), else at the next possible start.
        """
        first = self._find_start(1)
        valid = self._valid_start(len(self._buffer))
        skip = valid if valid is not None else first if first > 0 else len(self._buffer)
        if skip:
            self._drop(skip, "incomplete packet timed out")
        return self.feed(b"")

    def reset(self) -> None:
        """Forget a partial packet, e.g. when the link drops mid-packet."""
        if self._buffer:
            self._drop(len(self._buffer), "partial packet discarded on reset")

    def feed(self, fragment: bytes | bytearray) -> list[Packet]:
        """Add one notification's bytes and return every packet completed by them, in order."""
        if not self._buffer:
            # The usual notification is exactly one whole answer: `FF FF MRSP SEQ DLEN ... CHK`
            # with nothing held before it. Decoded here in one step; anything else (a fragment,
            # several packets, an asynchronous packet, a bad checksum, garbage) takes the full
            # reader below, which handles it the same way it would have anyway.
            length = len(fragment)
            if (
                length >= 6
                and fragment[0] == SOP1
                and fragment[1] == SOP2_RESPONSE
                and fragment[4] == length - 5
                and 0xFF - (sum(fragment[2:-1]) & 0xFF) == fragment[-1]
            ):
                return [Response(fragment[2], fragment[3], bytes(fragment[5:-1]))]
        self._buffer.extend(fragment)
        packets: list[Packet] = []
        while True:
            start = self._find_start(0)
            if start < 0:
                # Keep a trailing 0xFF: it may be the first byte of a packet split after SOP1.
                keep = 1 if self._buffer.endswith(b"\xff") else 0
                if len(self._buffer) > keep:
                    self._drop(len(self._buffer) - keep, "no start of packet")
                return packets
            if start:
                self._drop(start, "bytes before start of packet")
            frame_length = self._frame_length()
            if frame_length is None:
                # The header itself is impossible: skip this SOP1 and look again.
                self._drop(1, "impossible header")
                continue
            if frame_length > len(self._buffer):
                # Incomplete. If a later complete, valid packet is already here, the head was a
                # false start inside garbage: skip to it rather than stall the response behind it.
                later = self._valid_start(5)
                if later is None:
                    return packets
                self._drop(later, "false start before a valid packet")
                continue
            frame = bytes(self._buffer[:frame_length])
            if checksum(frame[2:-1]) != frame[-1]:
                self._drop(1, "bad checksum")
                continue
            del self._buffer[:frame_length]
            packets.append(_decode_frame(frame))

    def _find_start(self, offset: int) -> int:
        """Index of the next ``FF FF`` or ``FF FE`` at or after ``offset``, or -1."""
        buffer = self._buffer
        index = buffer.find(SOP1, offset)
        while index >= 0 and index + 1 < len(buffer):
            if buffer[index + 1] in (SOP2_RESPONSE, SOP2_ASYNC):
                return index
            index = buffer.find(SOP1, index + 1)
        return -1

    def _frame_length(self, offset: int = 0) -> int | None:
        """Whole length of the frame starting at ``offset``.

        While the header itself is still partial, the answer is one more than what is buffered
        (so the caller waits). None means the header cannot be valid (DLEN zero or too large).
        """
        buffer = self._buffer
        if len(buffer) < offset + 5:
            return len(buffer) - offset + 1
        if buffer[offset + 1] == SOP2_RESPONSE:
            dlen = buffer[offset + 4]
            return None if dlen == 0 else 5 + dlen
        dlen = (buffer[offset + 3] << 8) | buffer[offset + 4]
        return None if dlen == 0 or dlen > MAX_ASYNC_DLEN else 5 + dlen

    def _valid_start(self, limit: int) -> int | None:
        """Offset of the first complete packet with a good checksum after the head, before ``limit``.

        While the head may still complete, ``limit`` is 5: only starts inside its header count (a
        false ``FF FF`` whose header never completes). A start further in lies inside the head's
        payload, where a collision's accelerations can spell a valid response: skipping to it
        would cut the real packet and invent a phantom one. Such a head is waited out and
        dropped by its checksum instead.
        """
        offset = self._find_start(1)
        while 0 <= offset < limit:
            length = self._frame_length(offset)
            if length is not None and offset + length <= len(self._buffer):
                frame = self._buffer[offset : offset + length]
                if checksum(frame[2:-1]) == frame[-1]:
                    return offset
            offset = self._find_start(offset + 1)
        return None

    def _drop(self, count: int, reason: str) -> None:
        dropped = bytes(self._buffer[:count])
        del self._buffer[:count]
        self.dropped_bytes += count
        if self._on_drop is not None:
            self._on_drop(dropped, reason)


def _decode_frame(frame: bytes) -> Packet:
    """Decode a complete frame whose checksum has been verified."""
    if frame[1] == SOP2_RESPONSE:
        return Response(mrsp=frame[2], seq=frame[3], data=frame[5:-1])
    return AsyncPacket(id_code=frame[2], data=frame[5:-1])
