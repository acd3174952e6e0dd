"""How a Sphero API 1.x toy (BB-8) is spoken to: GATT layout, framing, handshake, readiness probe.

A ``models.ToyModel`` with no state of its own; the v2 toys' models (``sphero_v2``) have the
same shape and are given to the session as ``model`` instead.
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
from .errors import NotSupportedError
from .motion_stream import V1_STREAM
from .protocol import StreamReassembler, encode_request
from .toy_state import ToyState, setting_command


class SpheroV1:
    """BB-8: commands on one characteristic, answers on another, unlocked and woken by writes."""

    commands_char = COMMANDS_CHAR
    notify_char = RESPONSE_CHAR
    max_chunk = MAX_CHUNK
    sequence_numbers = 256
    speaks_v1 = True
    stops_on_disconnect = True
    """Every connect sets the toy's "stop on disconnect" option (``ToyState.setup_commands``)."""
    sensor_stream = V1_STREAM
    """SetDataStreaming and its async 0x03 packets (``motion_stream.SensorStreamV1``)."""

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

    def roll(self, speed: int, heading: int) -> cmd.Command:
        """Roll (02/30) at ``speed`` towards ``heading``."""
        return cmd.roll(speed, heading)

    def stop(self, heading: int) -> cmd.Command:
        """Roll in mode stop, keeping ``heading``."""
        return cmd.stop(heading)

    def sleep(self) -> cmd.Command:
        """Sleep now (never deep sleep: see ``commands.sleep``)."""
        return cmd.sleep()

    def setup_commands(self, toy: ToyState) -> list[cmd.Command]:
        """Return what ``ToyState`` names for a BB-8: options, sleep time, notifications, queries, motion."""
        return toy.setup_commands()

    def poll_commands(self) -> list[cmd.Command]:
        """Read the power state: voltage, charging, and the state the toy names."""
        return [cmd.get_power_state()]

    def setting_command(self, name: str, setting: Any) -> cmd.Command:
        """Show the main LED, tail light or stabilization: a v1 toy has all three (and no head light)."""
        if name == "head_light":
            raise NotSupportedError("a v1 toy has no head light")
        return setting_command(name, setting)


SPHERO_V1 = SpheroV1()
