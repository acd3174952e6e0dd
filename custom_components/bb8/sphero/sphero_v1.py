"""How a Sphero API 1.x toy (BB-8) is spoken to: GATT layout, framing, handshake, readiness probe.

A ``models.ToyModel`` with no state of its own. A v2 toy (BB-9E, R2-D2, Mini, BOLT: another
framing, one characteristic for commands and answers, no anti-DoS unlock) would be a sibling
module with the same shape, given to the session as ``model``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import commands as cmd
from .const import (
    ANTI_DOS_CHAR,
    ANTI_DOS_UNLOCK,
    COMMANDS_CHAR,
    MAX_CHUNK,
    RESPONSE_CHAR,
    TX_POWER_CHAR,
    TX_POWER_LEVEL,
    WAKE_CHAR,
    WAKE_VALUE,
)
from .protocol import StreamReassembler, encode_request


class SpheroV1:
    """BB-8: commands on one characteristic, answers on another, unlocked and woken by writes."""

    commands_char = COMMANDS_CHAR
    notify_char = RESPONSE_CHAR
    max_chunk = MAX_CHUNK

    def encode(self, command: cmd.Command, seq: int, reset_timeout: bool) -> bytes:
        """Frame ``command`` as a request that asks for an answer."""
        return encode_request(command.did, command.cid, seq, command.data, reset_timeout)

    def reader(self, on_drop: Callable[[bytes, str], None]) -> StreamReassembler:
        """Return a reader that resynchronises on garbage (see ``protocol.StreamReassembler``)."""
        return StreamReassembler(on_drop)

    async def handshake(self, client: Any) -> None:
        """Unlock anti-DoS, set the TX power, wake: each a write with response."""
        await client.write_gatt_char(ANTI_DOS_CHAR, ANTI_DOS_UNLOCK, response=True)
        await client.write_gatt_char(TX_POWER_CHAR, TX_POWER_LEVEL, response=True)
        await self.wake(client)

    async def wake(self, client: Any) -> None:
        """Write the wake characteristic."""
        await client.write_gatt_char(WAKE_CHAR, WAKE_VALUE, response=True)

    def ready_probe(self) -> cmd.Command:
        """Ping: answered by any awake toy, changes nothing."""
        return cmd.ping()


SPHERO_V1 = SpheroV1()
