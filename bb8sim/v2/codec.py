"""The v2 packet codec the simulated toys speak: framing, checksum, escaping, a resynchronising reader.

``8D FLAGS [TID] [SID] DID CID SEQ [ERR] DATA... CHK D8``. CHK is 0xFF minus the low byte of the
sum of the unescaped bytes from FLAGS to the end of DATA; every byte between SOP and EOP (the
checksum included) that is 0xAB, 0x8D or 0xD8 is then sent as 0xAB followed by 0x23, 0x05 or
0x50. The simulator's own code, not spherov2's: the tests hold each against the other and
against real captures.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .protocol import ASYNC_SEQ, EOP, ESC, ESCAPED, SOP, UNESCAPED, Flags


def checksum(body: bytes | bytearray) -> int:
    """0xFF minus the low byte of the sum of the unescaped FLAGS..DATA bytes."""
    return 0xFF - (sum(body) & 0xFF)


def escape(body: bytes | bytearray) -> bytes:
    """Escape every SOP, EOP and ESC byte of ``body`` (which holds neither delimiter)."""
    out = bytearray()
    for byte in body:
        if byte in ESCAPED:
            out += bytes((ESC, ESCAPED[byte]))
        else:
            out.append(byte)
    return bytes(out)


def unescape(body: bytes | bytearray) -> bytes | None:
    """Undo :func:`escape`; None when an ESC is followed by anything but its three codes."""
    out = bytearray()
    pending = False
    for byte in body:
        if pending:
            if byte not in UNESCAPED:
                return None
            out.append(UNESCAPED[byte])
            pending = False
        elif byte == ESC:
            pending = True
        else:
            out.append(byte)
    return None if pending else bytes(out)


@dataclass(frozen=True, slots=True)
class V2Packet:
    """One v2 packet, unescaped. ``err`` is None unless ``flags`` has IS_RESPONSE."""

    flags: int
    did: int
    cid: int
    seq: int
    data: bytes = b""
    tid: int | None = None
    sid: int | None = None
    err: int | None = None

    @property
    def is_response(self) -> bool:
        """Whether this is an answer (it then carries ERR)."""
        return bool(self.flags & Flags.IS_RESPONSE)

    @property
    def is_async(self) -> bool:
        """Whether this is an async packet: not an answer, and SEQ 0xFF."""
        return not self.is_response and self.seq == ASYNC_SEQ

    def body(self) -> bytes:
        """Return FLAGS through DATA, unescaped, without the checksum."""
        out = bytearray([self.flags & 0xFF])
        if self.flags & Flags.HAS_TARGET:
            out.append(0 if self.tid is None else self.tid)
        if self.flags & Flags.HAS_SOURCE:
            out.append(0 if self.sid is None else self.sid)
        out += bytes((self.did, self.cid, self.seq))
        if self.flags & Flags.IS_RESPONSE:
            out.append(0 if self.err is None else self.err)
        out += self.data
        return bytes(out)

    def encode(self) -> bytes:
        """Return the bytes on the air: SOP, the escaped body and checksum, EOP."""
        body = self.body()
        return bytes([SOP]) + escape(body + bytes([checksum(body)])) + bytes([EOP])


def decode(frame: bytes | bytearray) -> V2Packet:
    """Parse one whole frame (SOP..EOP). Raises ``ValueError`` saying what is wrong."""
    if len(frame) < 2 or frame[0] != SOP or frame[-1] != EOP:
        raise ValueError("not delimited by SOP and EOP")
    raw = unescape(frame[1:-1])
    if raw is None:
        raise ValueError("bad escape sequence")
    if len(raw) < 5:
        raise ValueError("too short")
    body, chk = raw[:-1], raw[-1]
    if checksum(body) != chk:
        raise ValueError("bad checksum")
    flags = body[0]
    index = 1
    tid = sid = None
    if flags & Flags.HAS_TARGET:
        tid = body[index]
        index += 1
    if flags & Flags.HAS_SOURCE:
        sid = body[index]
        index += 1
    if len(body) < index + 3:
        raise ValueError("too short")
    did, cid, seq = body[index], body[index + 1], body[index + 2]
    index += 3
    err = None
    if flags & Flags.IS_RESPONSE:
        if len(body) <= index:
            raise ValueError("answer without ERR")
        err = body[index]
        index += 1
    return V2Packet(flags, did, cid, seq, bytes(body[index:]), tid, sid, err)


class FrameReader:
    """Cut frames out of a byte stream that may split or join them, resynchronising on SOP.

    Bytes before a SOP are dropped (counted in :attr:`garbage`); a SOP inside an unfinished
    frame starts the frame again, since an escaped body never holds one. A frame that fails to
    decode is counted in :attr:`bad_frames` and skipped, never raised: a toy (and a central) must
    keep reading after noise.
    """

    def __init__(self) -> None:
        """Start with an empty buffer."""
        self._buffer = bytearray()
        self.garbage = 0
        self.bad_frames = 0
        self.errors: list[str] = []

    @property
    def pending(self) -> int:
        """Bytes held waiting for the rest of a frame."""
        return len(self._buffer)

    def clear(self) -> None:
        """Drop a partial frame (counted as garbage)."""
        self.garbage += len(self._buffer)
        self._buffer.clear()

    def feed(self, data: bytes | bytearray) -> Iterator[V2Packet]:
        """Add ``data`` and yield every packet it completes, in order."""
        for byte in data:
            if byte == SOP:
                self.garbage += len(self._buffer)
                self._buffer = bytearray([SOP])
                continue
            if not self._buffer:
                self.garbage += 1
                continue
            self._buffer.append(byte)
            if byte == EOP:
                frame, self._buffer = bytes(self._buffer), bytearray()
                try:
                    yield decode(frame)
                except ValueError as err:
                    self.bad_frames += 1
                    self.errors.append(str(err))
