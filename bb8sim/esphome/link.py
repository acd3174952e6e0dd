"""One of the node's BLE connection slots: the link to one toy, in the order the radio carries it."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
import functools
import logging
from typing import TYPE_CHECKING

from bb8sim import registry
from bb8sim.toy import SimulatedBB8
from bb8sim.v2.toy import SimulatedV2Toy

from .api import (
    MessageId,
    make,
)
from .gatt import (
    CONN_FAIL_ESTABLISH,
    CONN_TERMINATE_LOCAL_HOST,
    CONN_TERMINATE_PEER_USER,
    CONN_TIMEOUT,
    GATT_TABLE,
    _GattTable,
    gatt_table_for,
    int_to_address,
)

if TYPE_CHECKING:
    from .connection import _ApiConnection
    from .node import SimulatedESPHomeNode

_LOGGER = logging.getLogger(__name__)


class _BleConnection:
    """One of the node's BLE connection slots, holding (or connecting to) one toy.

    It is the toy's :class:`~bb8sim.toy.ToyLink`: what the toy sends is queued in order and
    forwarded to the API connection that asked for the link, after the delay the toy asked for.
    """

    def __init__(
        self, node: SimulatedESPHomeNode, owner: _ApiConnection, address: int, request_type: int
    ) -> None:
        self.node = node
        self.owner = owner
        self.address = address
        self.address_str = int_to_address(address)
        self.request_type = request_type
        self.toy: SimulatedBB8 | SimulatedV2Toy | None = None
        # The table the node serves on this link: the linked toy's own once it connects.
        self.gatt: _GattTable = GATT_TABLE
        self.connected = False
        self.closed = False
        self.mtu = node.mtu
        self.notify_handles: set[int] = set()
        self.cccd: dict[int, bytes] = {}
        self._pending: asyncio.TimerHandle | None = None
        self._outbox: deque[tuple[float, Callable[[], None]]] = deque()
        self._pump: asyncio.TimerHandle | asyncio.Handle | None = None

    # -- the toy's side (ToyLink) -----------------------------------------------------------

    def deliver(self, char_uuid: str, chunk: bytes, delay: float) -> None:
        """Queue a notification from the toy (in order, after ``delay`` real seconds)."""
        self._enqueue(delay, functools.partial(self._notify, char_uuid, bytes(chunk)))

    def air(self, delay: float, action: Callable[[], None]) -> None:
        """Run ``action`` (a write reaching the toy) after ``delay`` real seconds, in link order."""
        self._enqueue(delay, action)

    def lost(self, reason: str) -> None:
        """Report that the toy dropped the link, after everything it sent before."""
        self._enqueue(0.0, functools.partial(self._toy_dropped, reason))

    # -- connecting -------------------------------------------------------------------------

    def start_connect(self) -> None:
        toy = registry.get(self.address_str)
        latency = self.node.connect_latency + (toy.faults.connect_latency if toy is not None else 0.0)
        if self.node.stall_connects:
            return  # the radio never completes: the client times out and sends DISCONNECT
        self._pending = self.node.loop.call_later(latency, self._establish)

    def _establish(self) -> None:
        self._pending = None
        toy = registry.get(self.address_str)
        if toy is None or not self.node.hears(toy):
            self._pending = self.node.loop.call_later(
                self.node.establish_timeout, self._fail, CONN_FAIL_ESTABLISH
            )
            return
        try:
            toy.open_link(self)
        except TimeoutError:  # deep sleep: the toy never answers the connection request
            self._pending = self.node.loop.call_later(
                self.node.establish_timeout, self._fail, CONN_FAIL_ESTABLISH
            )
            return
        except Exception as err:  # the toy refused (fault plan, another central)
            _LOGGER.debug("%s: connect to %s failed: %s", self.node.name, self.address_str, err)
            self._fail(CONN_FAIL_ESTABLISH)
            return
        self.toy = toy
        self.gatt = gatt_table_for(toy)
        self.connected = True
        self.node.links_opened += 1
        # With cache the client has the services and MTU: report the link as soon as it opens.
        # Without, the firmware first exchanges the MTU and discovers services (both are instant
        # here), then reports it.
        self.owner.send(
            MessageId.BLUETOOTH_DEVICE_CONNECTION_RESPONSE,
            make(
                MessageId.BLUETOOTH_DEVICE_CONNECTION_RESPONSE,
                address=self.address,
                connected=True,
                mtu=self.mtu,
            ),
        )
        self.node.broadcast_connections_free()

    def _fail(self, reason: int) -> None:
        self._pending = None
        self._end(reason)

    # -- GATT -------------------------------------------------------------------------------

    def _notify(self, char_uuid: str, chunk: bytes) -> None:
        handle = next((h for h, (uuid, _) in self.gatt.characteristics.items() if uuid == char_uuid), None)
        cccd = None if handle is None else self.cccd.get(handle + 1, b"\x00\x00")
        if handle is None or handle not in self.notify_handles or not cccd or not cccd[0] & 0x03:
            self.node.notifications_dropped += 1
            return
        self.node.notifications_forwarded += 1
        self.owner.send(
            MessageId.BLUETOOTH_GATT_NOTIFY_DATA_RESPONSE,
            make(
                MessageId.BLUETOOTH_GATT_NOTIFY_DATA_RESPONSE, address=self.address, handle=handle, data=chunk
            ),
        )

    # -- ending -----------------------------------------------------------------------------

    def _toy_dropped(self, reason: str) -> None:
        if self.closed:
            return
        self.toy = None  # the toy already forgot this link
        self._end(CONN_TERMINATE_PEER_USER if "sleep" in reason else CONN_TIMEOUT)

    def disconnect_by_central(self) -> None:
        """End the link because the client asked to (68 DISCONNECT)."""
        self._end(CONN_TERMINATE_LOCAL_HOST)

    def _end(self, reason: int, *, report: bool = True) -> None:
        """Free the slot; tell the owner (69 {connected: false, error}) and every 81 subscriber."""
        if self.closed:
            return
        self.closed = True
        self.connected = False
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self._outbox.clear()
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None
        if self.toy is not None:
            self.toy.close_link("central disconnected", link=self)
            self.toy = None
        self.node._release(self)
        if report:
            self.owner.send(
                MessageId.BLUETOOTH_DEVICE_CONNECTION_RESPONSE,
                make(
                    MessageId.BLUETOOTH_DEVICE_CONNECTION_RESPONSE,
                    address=self.address,
                    connected=False,
                    error=reason,
                ),
            )
            self.node.broadcast_connections_free()

    def drop_silently(self) -> None:
        """End the link with nobody to tell but the toy: its API connection is gone."""
        self._end(CONN_TERMINATE_LOCAL_HOST, report=False)

    # -- ordered delivery -------------------------------------------------------------------

    def _enqueue(self, delay: float, action: Callable[[], None]) -> None:
        if self.closed:
            return
        loop = self.node.loop
        due = loop.time() + max(0.0, delay)
        if self._outbox:
            due = max(due, self._outbox[-1][0])
        self._outbox.append((due, action))
        self._schedule()

    def _schedule(self) -> None:
        if self._pump is not None or not self._outbox:
            return
        loop = self.node.loop
        due = self._outbox[0][0]
        self._pump = loop.call_soon(self._run) if due <= loop.time() else loop.call_at(due, self._run)

    def _run(self) -> None:
        self._pump = None
        now = self.node.loop.time()
        while self._outbox and self._outbox[0][0] <= now and not self.closed:
            _, action = self._outbox.popleft()
            action()
        self._schedule()
