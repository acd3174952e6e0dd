"""Framing the tests need and the integration does not: a general request, chunks, one-packet parse.

The integration frames requests in one step (``protocol.encode_request``), writes in chunks
inside the link and reads with ``protocol.StreamReassembler``; these general forms are the
tests' own yardsticks for those paths.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from custom_components.bb8.sphero.const import MAX_CHUNK
from custom_components.bb8.sphero.protocol import (
    SOP1,
    SOP2_ANSWER,
    SOP2_BASE,
    SOP2_RESET_TIMEOUT,
    Packet,
    StreamReassembler,
    checksum,
)


@dataclass(frozen=True, slots=True)
class Request:
    """A command to the toy: ``FF SOP2 DID CID SEQ DLEN <data> CHK``."""

    did: int
    cid: int
    seq: int
    data: bytes = b""
    answer: bool = True
    reset_timeout: bool = True

    def encode(self) -> bytes:
        """Frame the request, checking every field fits its byte."""
        if not 0 <= self.seq <= 0xFF:
            raise ValueError(f"sequence number {self.seq} does not fit one byte")
        if len(self.data) > 0xFE:
            raise ValueError(f"payload of {len(self.data)} bytes is too long for DLEN")
        sop2 = SOP2_BASE
        if self.answer:
            sop2 |= SOP2_ANSWER
        if self.reset_timeout:
            sop2 |= SOP2_RESET_TIMEOUT
        body = bytes([self.did, self.cid, self.seq, len(self.data) + 1]) + self.data
        return bytes([SOP1, sop2]) + body + bytes([checksum(body)])


def chunk(payload: bytes, size: int = MAX_CHUNK) -> Iterator[bytes]:
    """Split a framed packet into GATT writes of at most ``size`` bytes."""
    for start in range(0, len(payload), size):
        yield payload[start : start + size]


def parse_packet(frame: bytes) -> Packet:
    """Decode exactly one framed packet, raising ``ValueError`` if it is not one."""
    reader = StreamReassembler()
    packets = reader.feed(frame)
    if len(packets) != 1 or reader.pending or reader.dropped_bytes:
        raise ValueError(f"not exactly one valid packet: {frame.hex()}")
    return packets[0]
