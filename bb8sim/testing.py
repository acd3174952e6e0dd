"""Helpers for driving the simulator from tests without Home Assistant.

Nothing here is needed at run time; it keeps the tests short and the same across test files.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
import contextlib
from dataclasses import dataclass, field
import inspect
from typing import Any, Final, cast

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice

from . import registry
from .backend import SimBleakBackend
from .protocol import (
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
from .toy import SimulatedBB8

HANDSHAKE: Final = (
    (ANTI_DOS_CHAR, ANTI_DOS_UNLOCK),
    (TX_POWER_CHAR, TX_POWER_LEVEL),
    (WAKE_CHAR, WAKE_VALUE),
)
"""The three writes that unlock a BB-8, in order."""

_BLE_DEVICE_TAKES_RSSI: Final = "rssi" in inspect.signature(BLEDevice.__init__).parameters


def make_ble_device(address: str, name: str | None = None, details: Any = None, rssi: int = -60) -> BLEDevice:
    """Build a ``BLEDevice`` for bleak 0.22 (which requires ``rssi``) and bleak 2.x (which dropped it)."""
    device_class: Any = BLEDevice  # constructor differs between bleak 0.22 and 2.x
    if _BLE_DEVICE_TAKES_RSSI:
        return cast(BLEDevice, device_class(address, name, details, rssi))
    return cast(BLEDevice, device_class(address, name, details))


def frame_request(
    did: int, cid: int, seq: int, data: bytes = b"", *, answer: bool = True, reset_timeout: bool = True
) -> bytes:
    """Frame a v1 command as the spec does (SOP2 0xFC | reset << 1 | answer).

    Deliberately independent of the integration's codec, so tests of the simulator do not lean
    on the code the simulator is there to check.
    """
    sop2 = 0xFC | (0x02 if reset_timeout else 0) | (0x01 if answer else 0)
    body = bytes([did, cid, seq, len(data) + 1]) + bytes(data)
    return bytes([0xFF, sop2]) + body + bytes([0xFF - (sum(body) & 0xFF)])


def chunks(payload: bytes, size: int = MAX_CHUNK) -> list[bytes]:
    """Split a framed packet into GATT writes of at most ``size`` bytes."""
    return [payload[start : start + size] for start in range(0, len(payload), size)]


@dataclass
class RecordingLink:
    """A synchronous :class:`~bb8sim.toy.ToyLink` that keeps what the toy sent."""

    chunks: list[bytes] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    lost_reasons: list[str] = field(default_factory=list)

    def deliver(self, char_uuid: str, chunk: bytes, delay: float) -> None:
        """Keep the chunk (the toy only notifies on the response characteristic)."""
        assert char_uuid == RESPONSE_CHAR
        self.chunks.append(chunk)
        self.delays.append(delay)

    def lost(self, reason: str) -> None:
        """Keep why the toy dropped the link."""
        self.lost_reasons.append(reason)

    def take(self) -> bytes:
        """Every byte received since the last call, joined."""
        data = b"".join(self.chunks)
        self.chunks.clear()
        self.delays.clear()
        return data


def connect_toy(toy: SimulatedBB8, *, handshake: bool = True) -> RecordingLink:
    """Open a recording link to ``toy`` and (by default) write the handshake on it."""
    link = RecordingLink()
    toy.open_link(link)
    if handshake:
        for uuid, value in HANDSHAKE:
            toy.write(uuid, value)
    return link


async def settle(rounds: int = 5) -> None:
    """Let the event loop deliver queued notifications (they arrive via ``call_soon``)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


@dataclass
class SimClientSession:
    """A connected ``BleakClient`` on the simulator, and every notification it received."""

    client: BleakClient
    toy: SimulatedBB8
    received: list[bytes] = field(default_factory=list)
    disconnects: int = 0

    async def send(self, frame: bytes, *, response: bool = True) -> None:
        """Write a framed packet to the commands characteristic in 20-byte chunks."""
        for piece in chunks(frame):
            await self.client.write_gatt_char(COMMANDS_CHAR, piece, response=response)

    def take(self) -> bytes:
        """Every notified byte since the last call, joined."""
        data = b"".join(self.received)
        self.received.clear()
        return data


@contextlib.asynccontextmanager
async def sim_client(
    toy: SimulatedBB8,
    *,
    handshake: bool = True,
    on_notify: Callable[[bytes], None] | None = None,
) -> AsyncIterator[SimClientSession]:
    """Register ``toy``, connect a ``BleakClient`` through :class:`SimBleakBackend`, subscribe, unlock.

    On exit the client disconnects and the toy is unregistered, so nothing is left scheduled.
    """
    registry.register(toy)
    session: SimClientSession | None = None

    def _disconnected(_client: BleakClient) -> None:
        if session is not None:
            session.disconnects += 1

    client = BleakClient(
        make_ble_device(toy.address, toy.name), disconnected_callback=_disconnected, backend=SimBleakBackend
    )
    session = SimClientSession(client, toy)

    def _notified(_char: BleakGATTCharacteristic, data: bytearray) -> None:
        session.received.append(bytes(data))
        if on_notify is not None:
            on_notify(bytes(data))

    try:
        await client.connect()
        await client.start_notify(RESPONSE_CHAR, _notified)
        if handshake:
            for uuid, value in HANDSHAKE:
                await client.write_gatt_char(uuid, value, response=True)
        yield session
    finally:
        await client.disconnect()
        registry.unregister(toy.address)


def spherov2_adapter(
    loop: asyncio.AbstractEventLoop,
    *,
    backend: type[SimBleakBackend] = SimBleakBackend,
    bridge_timeout: float = 10.0,
) -> type:
    """Build an adapter class in spherov2's shape (``write``, ``set_callback``, ``close``) onto the simulator.

    spherov2's own ``BleakAdapter`` runs bleak on a private thread and event loop; this one keeps
    the bleak client on ``loop`` (the test's or the bench's, where the simulator lives) and
    bridges spherov2's threads to it with ``run_coroutine_threadsafe``. ``bridge_timeout`` is a
    hang guard in real seconds, not a timing. Used by the spherov2 peer tests and the benchmark,
    so both drive spherov2 the same way.
    """

    class SimSpheroV2Adapter:
        """What spherov2's ``BleakAdapter`` does, minus its private thread and event loop."""

        def __init__(self, address: str) -> None:
            self._client = BleakClient(make_ble_device(address), backend=backend)
            self._run(self._client.connect())

        def _run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
            return asyncio.run_coroutine_threadsafe(coroutine, loop).result(bridge_timeout)

        def write(self, uuid: str, data: bytearray) -> None:
            self._run(self._client.write_gatt_char(uuid, data, True))

        def set_callback(
            self, uuid: str, callback: Callable[[BleakGATTCharacteristic, bytearray], None]
        ) -> None:
            self._run(self._client.start_notify(uuid, callback))

        def close(self) -> None:
            self._run(self._client.disconnect())

    return SimSpheroV2Adapter
