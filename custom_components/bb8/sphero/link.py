"""One BLE connection to the toy at a time: connect, hand-shake, prove it answers, move bytes.

A connect goes through bleak-retry-connector's ``establish_connection``; the toy model supplies
the handshake, the readiness probe, the framing and the reader. Writes are cut to the radio's
20 bytes; notifications are reassembled into packets and handed on. Each connection gets a new
generation, and bleak callbacks from an older one are ignored. Whether to connect at all is
decided elsewhere (``connection``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import logging
from typing import Any, Final

from bleak.backends.device import BLEDevice
from bleak.exc import BleakError
import bleak_retry_connector
from bleak_retry_connector import (
    BleakAbortedError,
    BleakNotFoundError,
    BleakOutOfConnectionSlotsError,
    establish_connection,
)

from .errors import BB8ConnectionError, BB8Error, CommandRejectedError, LinkLostError, NotConnectedError
from .models import SessionCounters, ToyModel
from .policy import FailureReason
from .protocol import Packet, Response

_LOGGER = logging.getLogger(__name__)

DISCONNECT_TIMEOUT: Final = 8.0
"""Longer than bleak-esphome's own wait (5 s) for a proxy's slot to be reported free after a
disconnect, so that wait ends by itself: cut short as it fell due, bleak-esphome 2.12 set an
exception on the cancelled wait, which Home Assistant logged at ERROR."""
READY_PROBE_INTERVAL: Final = 0.5
"""Other implementations wait a blind 1-2 s after the wake write before the first command. The
link instead probes every ``READY_PROBE_INTERVAL`` until the toy answers (at most the ready
timeout): as fast as the toy allows, and still correct if it needs longer. Taken from the spec's
request/response contract, not timed on hardware."""
PARTIAL_PACKET_TIMEOUT: Final = 1.0
"""Seconds an incomplete packet may wait for the rest of its bytes. The toy sends one packet's
notifications back to back, so a head still incomplete after this long is a false start (noise,
or a corrupt length byte claiming hundreds of bytes); the reader then gives up on it, so the real
answers behind it are not held until that many bytes have arrived."""

CONNECT_ERRORS: Final = (BleakError, TimeoutError, OSError, EOFError, BB8Error)
"""What a connect may raise because of the radio, the proxy or the toy (as opposed to a bug)."""
_WRITE_ERRORS: Final = (BleakError, OSError, EOFError, TimeoutError, AttributeError)

type Write = Callable[[bytes], Awaitable[None]]
type Probe = Callable[[Write], Awaitable[asyncio.Future[Response]]]


def classify(err: BaseException) -> BB8ConnectionError:
    """Tell bleak-retry-connector's errors apart for the policy and for people."""
    if isinstance(err, BB8ConnectionError):
        return err
    if isinstance(err, BleakOutOfConnectionSlotsError):
        return BB8ConnectionError(FailureReason.OUT_OF_SLOTS, f"no free Bluetooth connection slot: {err}")
    if isinstance(err, BleakNotFoundError):
        return BB8ConnectionError(FailureReason.NOT_FOUND, f"toy not found: {err}")
    if isinstance(err, BleakAbortedError):
        return BB8ConnectionError(FailureReason.ABORTED, f"connection aborted: {err}")
    if isinstance(err, TimeoutError):
        return BB8ConnectionError(FailureReason.TIMEOUT, "connection timed out")
    return BB8ConnectionError(FailureReason.CONNECTION, f"connection failed: {err!r}")


class Link:
    """The connection to one toy: a bleak client per generation, its writes and its notifications."""

    def __init__(
        self,
        name: str,
        toy: ToyModel,
        counters: SessionCounters,
        *,
        on_packets: Callable[[list[Packet]], None],
        on_lost: Callable[[int], None],
        connect_attempts: int,
        client_kwargs: dict[str, Any],
    ) -> None:
        """Prepare; ``on_packets`` gets decoded packets, ``on_lost(generation)`` bleak's disconnects."""
        self._name = name
        self._toy = toy
        self._counters = counters
        self._on_packets = on_packets
        self._on_lost = on_lost
        self._connect_attempts = connect_attempts
        self._client_kwargs = client_kwargs
        self._reader = toy.reader(self._on_garbage)
        self._partial_timer: asyncio.TimerHandle | None = None
        self.generation = 0
        self.client: Any = None
        self.commands_char: Any = toy.commands_char
        """The commands characteristic of the current link, looked up once per link: given the
        UUID string, bleak searches the service collection on every write. The UUID string
        until a link is up, or when the client cannot answer."""

    def next_generation(self) -> int:
        """Start a new generation: everything registered under the old one is now stale."""
        self.generation += 1
        return self.generation

    # ------------------------------------------------------------------ connecting

    async def establish(self, ble_device: Callable[[], BLEDevice], generation: int) -> Any:
        """Connect through bleak-retry-connector; return the client (not yet this link's)."""
        self._reader.reset()
        # Looked up at call time: Home Assistant swaps this class for its own wrapper when its
        # Bluetooth component starts, after this module may already have been imported.
        client_class = bleak_retry_connector.BleakClientWithServiceCache

        def _on_disconnected(_client: Any) -> None:
            self._on_lost(generation)

        return await establish_connection(
            client_class,
            ble_device(),
            self._name,
            disconnected_callback=_on_disconnected,
            max_attempts=self._connect_attempts,
            ble_device_callback=ble_device,
            **self._client_kwargs,
        )

    async def handshake(self, client: Any, generation: int) -> None:
        """Subscribe to the toy's notifications, then run the toy model's handshake."""

        def _on_notify(_char: Any, data: bytearray) -> None:
            self.on_notification(generation, data)

        await client.start_notify(self._toy.notify_char, _on_notify)
        await self._toy.handshake(client)

    async def await_ready(self, client: Any, probe: Probe, ready_timeout: float) -> Any:
        """Probe until the woken toy answers; return the commands characteristic to adopt."""
        commands_char = _commands_characteristic(client, self._toy.commands_char)
        write = self._writer(client, commands_char)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ready_timeout
        while True:
            waiter = await probe(write)
            try:
                async with asyncio.timeout(max(0.0, min(READY_PROBE_INTERVAL, deadline - loop.time()))):
                    await waiter
                return commands_char
            except TimeoutError:
                if loop.time() >= deadline:
                    raise BB8ConnectionError(
                        FailureReason.HANDSHAKE,
                        f"the toy did not answer within {ready_timeout:g} s of waking",
                    ) from None
            except CommandRejectedError:
                return commands_char  # it answered: it is awake, whatever it thinks of the probe
            finally:
                if not waiter.done():
                    waiter.cancel()

    def adopt(self, client: Any, commands_char: Any) -> Write:
        """Make ``client`` this link's; return the coroutine that writes commands over it."""
        self.client = client
        self.commands_char = commands_char
        return self._writer(client, commands_char)

    def _writer(self, client: Any, commands_char: Any) -> Write:
        size = self._toy.max_chunk

        async def write(frame: bytes) -> None:
            try:
                if len(frame) <= size:
                    await client.write_gatt_char(commands_char, frame, response=True)
                    return
                for start in range(0, len(frame), size):
                    await client.write_gatt_char(commands_char, frame[start : start + size], response=True)
            except _WRITE_ERRORS as err:
                raise LinkLostError(f"{self._name}: write failed: {err}") from err

        return write

    async def wake(self) -> None:
        """Wake the toy over the link that is up."""
        try:
            await self._toy.wake(self.client)
        except (BleakError, OSError, EOFError, AttributeError) as err:
            raise NotConnectedError(f"{self._name}: wake failed: {err}") from err

    # ------------------------------------------------------------------ teardown

    def forget(self) -> Any:
        """Forget the current connection (new generation, no client, no partial packet).

        Returns the client, for the caller to disconnect (``close_client``) when it may wait.
        """
        client, self.client = self.client, None
        self.next_generation()
        self._reader.reset()
        self._cancel_partial_timer()
        return client

    async def close_client(self, client: Any) -> None:
        """Disconnect a bleak client within a bound; errors are logged, never raised."""
        if client is None:
            return
        try:
            async with asyncio.timeout(DISCONNECT_TIMEOUT):
                await client.disconnect()
        except (BleakError, TimeoutError, OSError, EOFError) as err:
            _LOGGER.debug("%s: disconnect error ignored: %r", self._name, err)

    # ------------------------------------------------------------------ inbound

    def on_notification(self, generation: int, data: bytes | bytearray) -> None:
        """Handle a notification from bleak: read packets, hand them on, time a partial one."""
        if generation != self.generation:
            self._counters.stale_notifications += 1
            return
        self._counters.notifications += 1
        reader = self._reader
        dropped = self._counters.dropped_bytes
        packets = reader.feed(data)
        if packets:
            self._on_packets(packets)
        if reader.pending or self._partial_timer is not None:
            self._watch_partial(generation, bool(packets) or self._counters.dropped_bytes != dropped)

    def _watch_partial(self, generation: int, head_moved: bool) -> None:
        """Time the incomplete packet at the head of the reader (see PARTIAL_PACKET_TIMEOUT)."""
        if not self._reader.pending:
            self._cancel_partial_timer()
        elif head_moved or self._partial_timer is None:
            self._cancel_partial_timer()
            self._partial_timer = asyncio.get_running_loop().call_later(
                PARTIAL_PACKET_TIMEOUT, self._on_partial_timeout, generation
            )

    def _on_partial_timeout(self, generation: int) -> None:
        self._partial_timer = None
        if generation != self.generation or not self._reader.pending:
            return
        if packets := self._reader.skip_stale_head():
            self._on_packets(packets)
        self._watch_partial(generation, head_moved=True)

    def _cancel_partial_timer(self) -> None:
        if self._partial_timer is not None:
            self._partial_timer.cancel()
            self._partial_timer = None

    def _on_garbage(self, dropped: bytes, reason: str) -> None:
        self._counters.dropped_bytes += len(dropped)
        _LOGGER.debug(
            "%s: dropped %d bytes from the toy (%s): %s", self._name, len(dropped), reason, dropped.hex()
        )


def _commands_characteristic(client: Any, uuid: str) -> Any:
    """Return the commands characteristic object from the link's services, else its UUID string."""
    try:
        found = client.services.get_characteristic(uuid)
    except (BleakError, AttributeError):
        found = None
    return uuid if found is None else found
