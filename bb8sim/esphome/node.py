"""A simulated ESPHome Bluetooth proxy node: the native API on 127.0.0.1, simulated BB-8s behind it.

Home Assistant's own ``esphome`` integration (aioesphomeapi's ``APIClient``, bleak-esphome's
``ESPHomeClient``, habluetooth's slot accounting) drives it exactly as it drives an ESP32 running
ESPHome's ``bluetooth_proxy`` with active connections: nothing on the Home Assistant side is
simulated. Behind the node sit the toys of :mod:`bb8sim.registry` (:class:`~bb8sim.toy.SimulatedBB8`),
reached through the same :class:`~bb8sim.toy.ToyLink` interface the bleak backend uses.

What it does, and where that comes from (ESPHome's ``bluetooth_proxy`` and ``api`` components,
and the client side in aioesphomeapi and bleak-esphome):

* Hello (1 → 2) answers with the lower of the client's API version and :data:`API_VERSION`;
  Connect/Authentication (3 → 4) is answered with ``invalid_password=False`` (29.x waits for it,
  46.x does not); DeviceInfo (9 → 10) names the node, its MAC and the proxy's feature flags;
  ListEntities (11 → 19) lists nothing (the node has no entities of its own); Ping and
  Disconnect work both ways. Unknown messages are ignored, as the firmware ignores what it was
  not built with.
* Advertisements: after a subscription (66) every heard toy is sent as a raw advertisement (93:
  uint64 address, RSSI, address type 1 = random, AD bytes) at once and then every
  ``advertise_interval`` seconds, well inside habluetooth's 195 s stale limit. A client that does
  not ask for raw ones (flags 0) gets parsed ones (67).
* Connection slots: ``slots`` of them, reported on subscription (80 → 81 {free, limit,
  allocated}) and again after every change, as the firmware does: a slot is taken when a connect
  request arrives and given back when the link ends or the connect fails.
* Connect (68): with cache (the client has the services and MTU) the node reports connected
  (69 {connected, mtu}) as soon as the link opens; without cache it first discovers services. No
  free slot: 69 {connected: false}. A toy that does not answer: 69 with
  ``ESP_GATT_CONN_FAIL_ESTABLISH`` after ``establish_timeout``.
* GATT: services (70 → 71 per service, 72), reads (73/76 → 74), writes (75 → 83 only when a
  response was asked), descriptor writes (77 → 83), notify (78 → 84) and notifications (79).
  A notification leaves the toy only while the client both registered for it (78) and enabled the
  CCCD (0x2902) — with remote caching the client writes the CCCD itself, as bleak-esphome does.
  Errors are the ESP-IDF GATT status codes (82 {address, handle, error}; -1 = not connected).
* Disconnects: the central's (68 DISCONNECT → 69 with 0x16, local host), the toy's (0x13, peer
  user, when it sleeps; 0x08, supervision timeout, for a radio loss), and every link of an API
  connection dropped when that connection closes (the firmware disconnects all BLE clients when
  the API goes away).

Faults a test or developer mode can inject: :meth:`drop_api_connections` (Wi-Fi loss),
:meth:`reboot`, :attr:`slots_taken_by_others`, :meth:`fail_next_write` (a GATT error mid-write),
:attr:`stall_connects` (a connect that times out at the node).
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable
import functools
import logging
from typing import Any, Final
import uuid as uuid_module

from google.protobuf.message import Message

from bb8sim import registry
from bb8sim.backend import CCCD_UUID, DEFAULT_MTU, GATT_LAYOUT
from bb8sim.toy import Advertisement, SimulatedBB8

from .api import (
    SUBSCRIPTION_RAW_ADVERTISEMENTS,
    BluetoothDeviceRequestType,
    FrameReader,
    MessageId,
    ProtocolError,
    ProxyFeature,
    ScannerMode,
    ScannerState,
    decode,
    encode_frame,
    knows,
    make,
)

_LOGGER = logging.getLogger(__name__)

# The API version the node reports. 1.10 is the lowest that carries both feature-flag fields
# (proxy 1.9, voice 1.10) and below 1.15, from which 46.x would ask DeviceCapabilities (149), a
# message 29.x does not have: one version both pinned clients handle the same way.
API_VERSION: Final = (1, 10)
# ESPHome release the node claims (Home Assistant raises a repair issue for proxies older than
# its STABLE_BLE_VERSION: 2025.2.2 in 2025.4, 2026.5.1 in 2026.10).
ESPHOME_VERSION: Final = "2026.5.1"
# State-and-mode (64) came with ESPHome 2025.5: a proxy that reports it answers every advertisement
# subscription with its scanner's state (126) and takes mode changes (127). Reported only where
# the installed aioesphomeapi has those messages (46.x): 29.x knows neither, and its bleak-esphome
# never looks at the bit.
STATE_AND_MODE_SUPPORTED: Final = knows(MessageId.BLUETOOTH_SCANNER_STATE_RESPONSE)
DEFAULT_FEATURE_FLAGS: Final = (
    ProxyFeature.PASSIVE_SCAN
    | ProxyFeature.ACTIVE_CONNECTIONS
    | ProxyFeature.REMOTE_CACHING
    | ProxyFeature.PAIRING
    | ProxyFeature.CACHE_CLEARING
    | ProxyFeature.RAW_ADVERTISEMENTS
    | (ProxyFeature.STATE_AND_MODE if STATE_AND_MODE_SUPPORTED else 0)
)
DEFAULT_SLOTS: Final = 3  # ESPHome's default bluetooth_proxy connection_slots
DEFAULT_ADVERTISE_INTERVAL: Final = 10.0
RANDOM_ADDRESS_TYPE: Final = 1  # a BB-8 has a random static address

# ESP-IDF GATT status codes (esp_gatt_status_t) and the firmware's own "not connected".
GATT_NOT_CONNECTED: Final = -1
GATT_INVALID_HANDLE: Final = 0x01
GATT_READ_NOT_PERMITTED: Final = 0x02
GATT_WRITE_NOT_PERMITTED: Final = 0x03
GATT_REQUEST_NOT_SUPPORTED: Final = 0x06
GATT_ERROR: Final = 0x85
# ESP-IDF connection reasons (esp_gatt_conn_reason_t) carried in 69's ``error``.
CONN_TIMEOUT: Final = 0x08
CONN_TERMINATE_PEER_USER: Final = 0x13
CONN_TERMINATE_LOCAL_HOST: Final = 0x16
CONN_FAIL_ESTABLISH: Final = 0x3E

_PROPERTY_BITS: Final = {
    "read": 0x02,
    "write-without-response": 0x04,
    "write": 0x08,
    "notify": 0x10,
    "indicate": 0x20,
}
_CONNECT_TYPES: Final = (
    BluetoothDeviceRequestType.CONNECT,
    BluetoothDeviceRequestType.CONNECT_V3_WITH_CACHE,
    BluetoothDeviceRequestType.CONNECT_V3_WITHOUT_CACHE,
)


def address_to_int(address: str) -> int:
    """Read ``AA:BB:CC:DD:EE:FF`` as the uint64 the API carries."""
    return int(address.replace(":", ""), 16)


def int_to_address(value: int) -> str:
    """Write the uint64 the API carries as ``AA:BB:CC:DD:EE:FF``."""
    text = f"{value:012X}"
    return ":".join(text[i : i + 2] for i in range(0, 12, 2))


def _split_uuid(uuid: str) -> list[int]:
    value = uuid_module.UUID(uuid).int
    return [value >> 64, value & 0xFFFF_FFFF_FFFF_FFFF]


def advertisement_bytes(advertisement: Advertisement) -> bytes:
    """Build the AD structures of a toy's advertisement and scan response, as the radio hears them.

    Flags (LE general discoverable, no BR/EDR), the complete local name, the TX power, any
    128-bit service UUIDs, then manufacturer data (company id little-endian, then the payload).
    The capture does not show the toy's order. Manufacturer data goes last because a BB-8's has
    no payload, and bluetooth-data-tools (which bleak-esphome parses raw advertisements with)
    stops reading at such a structure: Home Assistant never sees it, and put first it would hide
    everything after it.
    """
    data = bytearray(b"\x02\x01\x06")
    name = advertisement.local_name.encode()
    data += bytes((len(name) + 1, 0x09)) + name
    data += bytes((2, 0x0A, advertisement.tx_power & 0xFF))
    if advertisement.service_uuids:
        uuids = b"".join(uuid_module.UUID(uuid).bytes[::-1] for uuid in advertisement.service_uuids)
        data += bytes((len(uuids) + 1, 0x07)) + uuids
    for company, payload in advertisement.manufacturer_data.items():
        body = company.to_bytes(2, "little") + payload
        data += bytes((len(body) + 1, 0xFF)) + body
    return bytes(data)


class _GattTable:
    """The simulated BB-8's GATT table by handle (the same layout the bleak backend serves)."""

    def __init__(self) -> None:
        self.services: list[tuple[str, int, list[tuple[str, int, int, int | None]]]] = []
        self.characteristics: dict[int, tuple[str, int]] = {}  # handle -> (uuid, properties)
        self.cccds: dict[int, int] = {}  # CCCD handle -> characteristic handle
        for service_uuid, service_handle, characteristics in GATT_LAYOUT:
            entries: list[tuple[str, int, int, int | None]] = []
            for char_uuid, handle, properties, has_cccd in characteristics:
                bits = 0
                for name in properties:
                    bits |= _PROPERTY_BITS[name]
                cccd = handle + 1 if has_cccd else None
                entries.append((char_uuid, handle, bits, cccd))
                self.characteristics[handle] = (char_uuid, bits)
                if cccd is not None:
                    self.cccds[cccd] = handle
            self.services.append((service_uuid, service_handle, entries))

    def service_messages(self, address: int) -> list[Message]:
        """One GetServicesResponse (71) per service, as the firmware sends them."""
        messages = []
        for service_uuid, service_handle, entries in self.services:
            characteristics = [
                {
                    "uuid": _split_uuid(char_uuid),
                    "handle": handle,
                    "properties": bits,
                    "descriptors": (
                        [{"uuid": _split_uuid(CCCD_UUID), "handle": cccd}] if cccd is not None else []
                    ),
                }
                for char_uuid, handle, bits, cccd in entries
            ]
            messages.append(
                make(
                    MessageId.BLUETOOTH_GATT_GET_SERVICES_RESPONSE,
                    address=address,
                    services=[
                        {
                            "uuid": _split_uuid(service_uuid),
                            "handle": service_handle,
                            "characteristics": characteristics,
                        }
                    ],
                )
            )
        return messages


GATT_TABLE: Final = _GattTable()


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
        self.toy: SimulatedBB8 | None = None
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
        handle = next((h for h, (uuid, _) in GATT_TABLE.characteristics.items() if uuid == char_uuid), None)
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


class _ApiConnection(asyncio.Protocol):
    """One native-API client (Home Assistant's entry, its config flow, or any other client)."""

    def __init__(self, node: SimulatedESPHomeNode) -> None:
        self.node = node
        self.transport: asyncio.Transport | None = None
        self.reader = FrameReader()
        self.api_version: tuple[int, int] | None = None
        self.advertisements: int | None = None  # subscription flags, None = not subscribed
        self.connections_free = False
        self.links: dict[int, _BleConnection] = {}

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.node._api_connections.add(self)
        self.node._no_api_connections.clear()
        self.node.api_connections_accepted += 1

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.reader.feed(data)
        except ProtocolError as err:
            _LOGGER.debug("%s: closing an API connection: %s", self.node.name, err)
            self.close(abort=True)
            return
        for message_id, payload in frames:
            self.node.frames_received[message_id] += 1
            if self.transport is None or self.transport.is_closing():
                return
            self._dispatch(message_id, payload)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.node._api_connection_lost(self)

    # -- sending ----------------------------------------------------------------------------

    def send(self, message_id: MessageId, message: Message) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.node.frames_sent[message_id] += 1
        self.transport.write(encode_frame(message_id, message))

    def close(self, *, abort: bool = False) -> None:
        if self.transport is None:
            return
        if abort:
            self.transport.abort()
        else:
            self.transport.close()

    # -- dispatch ---------------------------------------------------------------------------

    def _dispatch(self, message_id: int, payload: bytes) -> None:
        message = decode(message_id, payload)
        if message is None:
            return
        handler = self._handlers.get(message_id)
        if handler is None:
            _LOGGER.debug("%s: ignoring message %s", self.node.name, message_id)
            return
        handler(self, message)

    def _on_hello(self, message: Any) -> None:
        client = (message.api_version_major, message.api_version_minor)
        self.api_version = min(client, self.node.api_version)
        major, minor = self.api_version
        self.send(
            MessageId.HELLO_RESPONSE,
            make(
                MessageId.HELLO_RESPONSE,
                api_version_major=major,
                api_version_minor=minor,
                server_info=f"{self.node.name} (bb8sim ESPHome {ESPHOME_VERSION})",
                name=self.node.name,
            ),
        )

    def _on_connect(self, message: Any) -> None:
        self.send(MessageId.CONNECT_RESPONSE, make(MessageId.CONNECT_RESPONSE, invalid_password=False))

    def _on_disconnect_request(self, message: Any) -> None:
        self.send(MessageId.DISCONNECT_RESPONSE, make(MessageId.DISCONNECT_RESPONSE))
        self.close()

    def _on_disconnect_response(self, message: Any) -> None:
        self.close()

    def _on_ping(self, message: Any) -> None:
        self.send(MessageId.PING_RESPONSE, make(MessageId.PING_RESPONSE))

    def _on_device_info(self, message: Any) -> None:
        node = self.node
        self.send(
            MessageId.DEVICE_INFO_RESPONSE,
            make(
                MessageId.DEVICE_INFO_RESPONSE,
                uses_password=False,
                name=node.name,
                friendly_name=node.friendly_name,
                mac_address=node.mac_address,
                bluetooth_mac_address=node.bluetooth_mac_address,
                esphome_version=ESPHOME_VERSION,
                compilation_time="Jan  1 2026, 00:00:00",
                model="esp32dev",
                manufacturer="Espressif",
                bluetooth_proxy_feature_flags=node.feature_flags,
            ),
        )

    def _on_list_entities(self, message: Any) -> None:
        self.send(MessageId.LIST_ENTITIES_DONE_RESPONSE, make(MessageId.LIST_ENTITIES_DONE_RESPONSE))

    def _on_subscribe_advertisements(self, message: Any) -> None:
        self.advertisements = int(message.flags)
        # The firmware answers a subscription with its scanner's state at once (bleak-esphome
        # takes that answer as proof the subscription landed, and resubscribes without it).
        self.node._send_scanner_state(self)
        self.node.loop.call_soon(self.node._advertise_to, self)

    def _on_scanner_set_mode(self, message: Any) -> None:
        self.node.set_scanner_mode(ScannerMode(int(message.mode)))

    def _on_unsubscribe_advertisements(self, message: Any) -> None:
        self.advertisements = None

    def _on_subscribe_connections_free(self, message: Any) -> None:
        self.connections_free = True
        self.send(MessageId.BLUETOOTH_CONNECTIONS_FREE_RESPONSE, self.node._connections_free_message())

    def _on_device_request(self, message: Any) -> None:
        address = int(message.address)
        request_type = int(message.request_type)
        node = self.node
        if request_type in _CONNECT_TYPES:
            existing = node._links.get(address)
            if existing is not None:
                if existing.connected:  # already connected: say so again
                    self.send(
                        MessageId.BLUETOOTH_DEVICE_CONNECTION_RESPONSE,
                        make(
                            MessageId.BLUETOOTH_DEVICE_CONNECTION_RESPONSE,
                            address=address,
                            connected=True,
                            mtu=existing.mtu,
                        ),
                    )
                return
            if node.slots_free <= 0:
                node.connects_refused_no_slot += 1
                self.send(
                    MessageId.BLUETOOTH_DEVICE_CONNECTION_RESPONSE,
                    make(MessageId.BLUETOOTH_DEVICE_CONNECTION_RESPONSE, address=address, connected=False),
                )
                return
            link = _BleConnection(node, self, address, request_type)
            node._links[address] = link
            self.links[address] = link
            node.connect_requests += 1
            node.connect_requests_by_type[BluetoothDeviceRequestType(request_type).name] += 1
            node.broadcast_connections_free()
            link.start_connect()
            return
        link_or_none = node._links.get(address)
        match request_type:
            case BluetoothDeviceRequestType.DISCONNECT:
                if link_or_none is None:
                    self.send(
                        MessageId.BLUETOOTH_DEVICE_CONNECTION_RESPONSE,
                        make(
                            MessageId.BLUETOOTH_DEVICE_CONNECTION_RESPONSE, address=address, connected=False
                        ),
                    )
                    self.send(MessageId.BLUETOOTH_CONNECTIONS_FREE_RESPONSE, node._connections_free_message())
                    return
                link_or_none.disconnect_by_central()
            case BluetoothDeviceRequestType.PAIR:
                self.send(
                    MessageId.BLUETOOTH_DEVICE_PAIRING_RESPONSE,
                    make(
                        MessageId.BLUETOOTH_DEVICE_PAIRING_RESPONSE,
                        address=address,
                        paired=link_or_none is not None,
                    ),
                )
            case BluetoothDeviceRequestType.UNPAIR:
                self.send(
                    MessageId.BLUETOOTH_DEVICE_UNPAIRING_RESPONSE,
                    make(MessageId.BLUETOOTH_DEVICE_UNPAIRING_RESPONSE, address=address, success=True),
                )
            case BluetoothDeviceRequestType.CLEAR_CACHE:
                self.send(
                    MessageId.BLUETOOTH_DEVICE_CLEAR_CACHE_RESPONSE,
                    make(MessageId.BLUETOOTH_DEVICE_CLEAR_CACHE_RESPONSE, address=address, success=True),
                )

    def _connected_link(self, address: int, handle: int) -> _BleConnection | None:
        link = self.node._links.get(address)
        if link is None or not link.connected or link.toy is None:
            self._gatt_error(address, handle, GATT_NOT_CONNECTED)
            return None
        return link

    def _gatt_error(self, address: int, handle: int, error: int) -> None:
        self.node.gatt_errors_sent += 1
        self.send(
            MessageId.BLUETOOTH_GATT_ERROR_RESPONSE,
            make(MessageId.BLUETOOTH_GATT_ERROR_RESPONSE, address=address, handle=handle, error=error),
        )

    def _on_get_services(self, message: Any) -> None:
        address = int(message.address)
        if self._connected_link(address, 0) is None:
            return
        self.node.service_discoveries += 1
        for response in GATT_TABLE.service_messages(address):
            self.send(MessageId.BLUETOOTH_GATT_GET_SERVICES_RESPONSE, response)
        self.send(
            MessageId.BLUETOOTH_GATT_GET_SERVICES_DONE_RESPONSE,
            make(MessageId.BLUETOOTH_GATT_GET_SERVICES_DONE_RESPONSE, address=address),
        )

    def _on_read(self, message: Any) -> None:
        address, handle = int(message.address), int(message.handle)
        if (link := self._connected_link(address, handle)) is None or link.toy is None:
            return
        characteristic = GATT_TABLE.characteristics.get(handle)
        if characteristic is None:
            self._gatt_error(address, handle, GATT_INVALID_HANDLE)
            return
        uuid, bits = characteristic
        if not bits & _PROPERTY_BITS["read"]:
            self._gatt_error(address, handle, GATT_READ_NOT_PERMITTED)
            return
        self.send(
            MessageId.BLUETOOTH_GATT_READ_RESPONSE,
            make(
                MessageId.BLUETOOTH_GATT_READ_RESPONSE,
                address=address,
                handle=handle,
                data=link.toy.read(uuid),
            ),
        )

    def _on_read_descriptor(self, message: Any) -> None:
        address, handle = int(message.address), int(message.handle)
        if (link := self._connected_link(address, handle)) is None:
            return
        if handle not in GATT_TABLE.cccds:
            self._gatt_error(address, handle, GATT_INVALID_HANDLE)
            return
        self.send(
            MessageId.BLUETOOTH_GATT_READ_RESPONSE,
            make(
                MessageId.BLUETOOTH_GATT_READ_RESPONSE,
                address=address,
                handle=handle,
                data=link.cccd.get(handle, b"\x00\x00"),
            ),
        )

    def _on_write(self, message: Any) -> None:
        address, handle = int(message.address), int(message.handle)
        response = bool(message.response)
        data = bytes(message.data)
        node = self.node
        node.gatt_writes[("with" if response else "without") + " response"] += 1
        if (link := self._connected_link(address, handle)) is None or link.toy is None:
            return
        characteristic = GATT_TABLE.characteristics.get(handle)
        if characteristic is None:
            self._gatt_error(address, handle, GATT_INVALID_HANDLE)
            return
        uuid, bits = characteristic
        needed = _PROPERTY_BITS["write"] if response else _PROPERTY_BITS["write-without-response"]
        if not bits & needed:
            self._gatt_error(address, handle, GATT_WRITE_NOT_PERMITTED)
            return
        if (error := node._take_write_error()) is not None:
            self._gatt_error(address, handle, error)
            return
        deliver = functools.partial(self._deliver_write, link, address, handle, uuid, data, response)
        if (latency := link.toy.faults.write_latency) > 0:
            # The air time of the toy's fault plan (a BLE connection interval), in order with
            # everything else on this link; the write response (83) follows the toy's receipt.
            link.air(latency, deliver)
        else:
            deliver()

    def _deliver_write(
        self, link: _BleConnection, address: int, handle: int, uuid: str, data: bytes, response: bool
    ) -> None:
        node = self.node
        if link.closed or link.toy is None:
            return
        try:
            link.toy.write(uuid, data, now=node.loop.time())
        except Exception as err:  # the toy refused the write or dropped the link
            _LOGGER.debug("%s: write to %s failed at the toy: %s", node.name, link.address_str, err)
            if not link.closed and link.toy is not None and link.toy.connected:
                self._gatt_error(address, handle, GATT_ERROR)
            # A dropped link is reported by the toy's lost(): its 69 ends the client's wait.
            return
        if response:
            self.send(
                MessageId.BLUETOOTH_GATT_WRITE_RESPONSE,
                make(MessageId.BLUETOOTH_GATT_WRITE_RESPONSE, address=address, handle=handle),
            )

    def _on_write_descriptor(self, message: Any) -> None:
        address, handle = int(message.address), int(message.handle)
        if (link := self._connected_link(address, handle)) is None:
            return
        if handle not in GATT_TABLE.cccds:
            self._gatt_error(address, handle, GATT_INVALID_HANDLE)
            return
        link.cccd[handle] = bytes(message.data)
        self.send(
            MessageId.BLUETOOTH_GATT_WRITE_RESPONSE,
            make(MessageId.BLUETOOTH_GATT_WRITE_RESPONSE, address=address, handle=handle),
        )

    def _on_notify(self, message: Any) -> None:
        address, handle = int(message.address), int(message.handle)
        enable = bool(message.enable)
        if (link := self._connected_link(address, handle)) is None:
            return
        characteristic = GATT_TABLE.characteristics.get(handle)
        if characteristic is None:
            self._gatt_error(address, handle, GATT_INVALID_HANDLE)
            return
        if not characteristic[1] & (_PROPERTY_BITS["notify"] | _PROPERTY_BITS["indicate"]):
            self._gatt_error(address, handle, GATT_REQUEST_NOT_SUPPORTED)
            return
        if enable:
            link.notify_handles.add(handle)
            if link.request_type == BluetoothDeviceRequestType.CONNECT:
                # Before remote caching the firmware wrote the CCCD itself.
                link.cccd[handle + 1] = b"\x01\x00"
        else:
            link.notify_handles.discard(handle)
        self.send(
            MessageId.BLUETOOTH_GATT_NOTIFY_RESPONSE,
            make(MessageId.BLUETOOTH_GATT_NOTIFY_RESPONSE, address=address, handle=handle),
        )

    _handlers: Final[dict[int, Callable[[_ApiConnection, Any], None]]] = {
        MessageId.HELLO_REQUEST: _on_hello,
        MessageId.CONNECT_REQUEST: _on_connect,
        MessageId.DISCONNECT_REQUEST: _on_disconnect_request,
        MessageId.DISCONNECT_RESPONSE: _on_disconnect_response,
        MessageId.PING_REQUEST: _on_ping,
        MessageId.DEVICE_INFO_REQUEST: _on_device_info,
        MessageId.LIST_ENTITIES_REQUEST: _on_list_entities,
        MessageId.SUBSCRIBE_BLUETOOTH_LE_ADVERTISEMENTS_REQUEST: _on_subscribe_advertisements,
        MessageId.UNSUBSCRIBE_BLUETOOTH_LE_ADVERTISEMENTS_REQUEST: _on_unsubscribe_advertisements,
        MessageId.SUBSCRIBE_BLUETOOTH_CONNECTIONS_FREE_REQUEST: _on_subscribe_connections_free,
        MessageId.BLUETOOTH_DEVICE_REQUEST: _on_device_request,
        MessageId.BLUETOOTH_GATT_GET_SERVICES_REQUEST: _on_get_services,
        MessageId.BLUETOOTH_GATT_READ_REQUEST: _on_read,
        MessageId.BLUETOOTH_GATT_READ_DESCRIPTOR_REQUEST: _on_read_descriptor,
        MessageId.BLUETOOTH_GATT_WRITE_REQUEST: _on_write,
        MessageId.BLUETOOTH_GATT_WRITE_DESCRIPTOR_REQUEST: _on_write_descriptor,
        MessageId.BLUETOOTH_GATT_NOTIFY_REQUEST: _on_notify,
        MessageId.BLUETOOTH_SCANNER_SET_MODE_REQUEST: _on_scanner_set_mode,
    }


class SimulatedESPHomeNode:
    """An ESP32 running ESPHome's Bluetooth proxy, listening on 127.0.0.1 (plaintext API).

    ``await node.start()`` binds (``port=0`` picks a free port: read :attr:`port`);
    ``await node.stop()`` closes every connection and timer. The toys it hears are the registered
    ones (:mod:`bb8sim.registry`) not in :attr:`out_of_range`.
    """

    def __init__(
        self,
        *,
        name: str = "bb8-proxy",
        friendly_name: str = "BB-8 proxy",
        mac_address: str = "AC:0B:FB:00:BB:08",
        host: str = "127.0.0.1",
        port: int = 0,
        slots: int = DEFAULT_SLOTS,
        feature_flags: int = DEFAULT_FEATURE_FLAGS,
        api_version: tuple[int, int] = API_VERSION,
        advertise_interval: float = DEFAULT_ADVERTISE_INTERVAL,
        rssi: int = -60,
        mtu: int = DEFAULT_MTU,
        connect_latency: float = 0.0,
        establish_timeout: float = 1.0,
    ) -> None:
        """Describe the node; nothing listens before :meth:`start`."""
        self.name = name
        self.friendly_name = friendly_name
        self.mac_address = mac_address
        # An ESP32's Bluetooth MAC is its Wi-Fi MAC + 2; Home Assistant names the scanner by it.
        self.bluetooth_mac_address = int_to_address(address_to_int(mac_address) + 2)
        self.host = host
        self._port = port
        self.slots = slots
        self.feature_flags = int(feature_flags)
        self.api_version = api_version
        self.advertise_interval = advertise_interval
        self.rssi = rssi
        self.mtu = mtu
        self.connect_latency = connect_latency
        self.establish_timeout = establish_timeout
        self.out_of_range: set[str] = set()
        """Addresses the node does not hear (no advertisements, connects fail to establish)."""
        self.toy_rssi: dict[str, int] = {}
        """The signal strength the node hears a toy at, by upper-case address (else :attr:`rssi`)."""
        self.stall_connects = False
        """Connect requests take a slot and never complete, as a radio that never gets through."""
        self.slots_taken_by_others = 0
        """Slots held by other devices near the node (they count in 81's ``allocated``)."""
        self.configured_scanner_mode = ScannerMode.ACTIVE
        """The mode the node was built with (``esp32_ble_tracker``'s ``active: true``, its default)."""
        self.scanner_mode = self.configured_scanner_mode
        """The mode the scanner runs in now (a client may switch it with 127)."""

        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._api_connections: set[_ApiConnection] = set()
        self._links: dict[int, _BleConnection] = {}
        self._advertiser: asyncio.TimerHandle | None = None
        self._write_errors: deque[int] = deque()
        self._no_api_connections = asyncio.Event()
        self._no_api_connections.set()

        # What happened, for tests and the bench.
        self.frames_received: Counter[int] = Counter()
        self.frames_sent: Counter[int] = Counter()
        self.api_connections_accepted = 0
        self.connect_requests = 0
        self.connect_requests_by_type: Counter[str] = Counter()
        self.connects_refused_no_slot = 0
        self.links_opened = 0
        self.service_discoveries = 0
        self.gatt_writes: Counter[str] = Counter()
        self.gatt_errors_sent = 0
        self.notifications_forwarded = 0
        self.notifications_dropped = 0
        self.advertisements_sent = 0
        self.reboots = 0

    def __repr__(self) -> str:
        """Name, where it listens and its slots."""
        return f"<SimulatedESPHomeNode {self.name} {self.host}:{self._port} slots {self.slots_free}/{self.slots}>"

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the node runs on (set by :meth:`start`)."""
        if self._loop is None:
            raise RuntimeError("the node is not started")
        return self._loop

    @property
    def port(self) -> int:
        """The TCP port the native API listens on."""
        return self._port

    @property
    def running(self) -> bool:
        """Whether the API listens."""
        return self._server is not None

    async def start(self) -> None:
        """Listen on ``host:port`` and start advertising to subscribers."""
        self._loop = asyncio.get_running_loop()
        self._server = await self._loop.create_server(
            functools.partial(_ApiConnection, self), self.host, self._port, reuse_address=True
        )
        self._port = self._server.sockets[0].getsockname()[1]
        self._schedule_advertising()

    async def stop(self) -> None:
        """Close the API and every connection: every BLE link drops, as at power-off."""
        if self._advertiser is not None:
            self._advertiser.cancel()
            self._advertiser = None
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for connection in list(self._api_connections):
            connection.close(abort=True)
        self._drop_links(list(self._links.values()))
        if server is not None:
            await server.wait_closed()
        # Let the aborted transports run connection_lost before the loop is checked for leftovers.
        await asyncio.sleep(0)

    async def wait_for_api_clients_to_leave(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait up to ``timeout`` s until no API client is connected; returns whether none is.

        For a clean stop: Home Assistant's esphome entry says goodbye (Disconnect 5 → 6) when it
        closes, and a node that stays powered lets it rather than resetting its connection.
        """
        try:
            async with asyncio.timeout(timeout):
                await self._no_api_connections.wait()
        except TimeoutError:
            return False
        return True

    async def reboot(
        self, downtime: float = 0.0, *, wait: Callable[[float], Awaitable[object]] = asyncio.sleep
    ) -> None:
        """Reboot: every API connection and link ends, and the node listens again after ``downtime``.

        ``wait`` lets the downtime pass: real time by default; a soak in simulated time passes its
        clock's ``advance``, since a loop whose clock is moved by hand would never end a long sleep.
        """
        self.reboots += 1
        await self.stop()
        self._write_errors.clear()
        if downtime > 0:
            await wait(downtime)
        await self.start()

    def drop_api_connections(self) -> int:
        """Drop every API connection without a goodbye (Wi-Fi loss); returns how many there were."""
        connections = list(self._api_connections)
        for connection in connections:
            connection.close(abort=True)
        return len(connections)

    # -- faults ---------------------------------------------------------------------------------

    def fail_next_write(self, error: int = GATT_ERROR, count: int = 1) -> None:
        """Make the next ``count`` characteristic writes fail at the node with GATT status ``error``."""
        self._write_errors.extend([error] * count)

    def _take_write_error(self) -> int | None:
        return self._write_errors.popleft() if self._write_errors else None

    def set_slots_taken_by_others(self, count: int) -> None:
        """Let other devices hold ``count`` slots (0 gives them back) and report the change."""
        self.slots_taken_by_others = count
        self.broadcast_connections_free()

    # -- slots ----------------------------------------------------------------------------------

    @property
    def slots_free(self) -> int:
        """Slots neither connecting, connected nor held by other devices."""
        return max(0, self.slots - len(self._links) - self.slots_taken_by_others)

    @property
    def api_connections_open(self) -> int:
        """Native-API connections open now (Home Assistant's entry holds one)."""
        return len(self._api_connections)

    @property
    def linked_addresses(self) -> frozenset[str]:
        """Addresses of the toys the node holds a link to now."""
        return frozenset(link.address_str for link in self._links.values() if link.connected)

    def _connections_free_message(self) -> Message:
        allocated = list(self._links)
        allocated += [0xC0FFEE000000 + index for index in range(self.slots_taken_by_others)]
        return make(
            MessageId.BLUETOOTH_CONNECTIONS_FREE_RESPONSE,
            free=self.slots_free,
            limit=self.slots,
            allocated=allocated[: self.slots],
        )

    def broadcast_connections_free(self) -> None:
        """Send 81 to every subscriber (after every slot change, as the firmware does)."""
        message = self._connections_free_message()
        for connection in self._api_connections:
            if connection.connections_free:
                connection.send(MessageId.BLUETOOTH_CONNECTIONS_FREE_RESPONSE, message)

    def _release(self, link: _BleConnection) -> None:
        if self._links.get(link.address) is link:
            del self._links[link.address]
        link.owner.links.pop(link.address, None)

    def _drop_links(self, links: Iterable[_BleConnection]) -> None:
        for link in links:
            link.drop_silently()

    def _api_connection_lost(self, connection: _ApiConnection) -> None:
        self._api_connections.discard(connection)
        if not self._api_connections:
            self._no_api_connections.set()
        if connection.links:
            _LOGGER.debug("%s: API connection lost; dropping its BLE links", self.name)
            self._drop_links(list(connection.links.values()))
            self.broadcast_connections_free()

    # -- scanner state and mode (46.x) ----------------------------------------------------------

    def _scanner_state_message(self) -> Message:
        return make(
            MessageId.BLUETOOTH_SCANNER_STATE_RESPONSE,
            state=ScannerState.RUNNING,
            mode=self.scanner_mode,
            configured_mode=self.configured_scanner_mode,
        )

    def _send_scanner_state(self, connection: _ApiConnection) -> None:
        """Tell one subscriber the scanner's state, when the node reports state-and-mode."""
        if self.feature_flags & ProxyFeature.STATE_AND_MODE and STATE_AND_MODE_SUPPORTED:
            connection.send(MessageId.BLUETOOTH_SCANNER_STATE_RESPONSE, self._scanner_state_message())

    def set_scanner_mode(self, mode: ScannerMode) -> None:
        """Switch the scanner to ``mode`` and push the new state to every advertisement subscriber."""
        self.scanner_mode = mode
        for connection in list(self._api_connections):
            if connection.advertisements is not None:
                self._send_scanner_state(connection)

    # -- advertising ----------------------------------------------------------------------------

    def hears(self, toy: SimulatedBB8) -> bool:
        """Whether the toy is in range of the node (and not in deep sleep, which silences its radio)."""
        return toy.address not in self.out_of_range and not toy.deep_asleep

    def rssi_of(self, toy: SimulatedBB8) -> int:
        """Return the signal strength the node reports for ``toy`` (a toy farther away reads lower)."""
        return self.toy_rssi.get(toy.address.upper(), self.rssi)

    def heard_toys(self) -> list[SimulatedBB8]:
        """Return the registered toys the node hears now."""
        return [toy for toy in registry.all_toys() if self.hears(toy)]

    def advertise_now(self) -> None:
        """Send every heard toy's advertisement to every subscriber now."""
        for connection in list(self._api_connections):
            self._advertise_to(connection)

    def _schedule_advertising(self) -> None:
        self._advertiser = self.loop.call_later(self.advertise_interval, self._advertise_tick)

    def _advertise_tick(self) -> None:
        self.advertise_now()
        self._schedule_advertising()

    def _advertise_to(self, connection: _ApiConnection) -> None:
        flags = connection.advertisements
        if flags is None:
            return
        toys = self.heard_toys()
        if not toys:
            return
        self.advertisements_sent += len(toys)
        if flags & SUBSCRIPTION_RAW_ADVERTISEMENTS:
            connection.send(
                MessageId.BLUETOOTH_LE_RAW_ADVERTISEMENTS_RESPONSE,
                make(
                    MessageId.BLUETOOTH_LE_RAW_ADVERTISEMENTS_RESPONSE,
                    advertisements=[
                        {
                            "address": address_to_int(toy.address),
                            "rssi": self.rssi_of(toy),
                            "address_type": RANDOM_ADDRESS_TYPE,
                            "data": advertisement_bytes(toy.advertisement),
                        }
                        for toy in toys
                    ],
                ),
            )
            return
        for toy in toys:
            advertisement = toy.advertisement
            connection.send(
                MessageId.BLUETOOTH_LE_ADVERTISEMENT_RESPONSE,
                make(
                    MessageId.BLUETOOTH_LE_ADVERTISEMENT_RESPONSE,
                    address=address_to_int(toy.address),
                    name=advertisement.local_name.encode(),
                    rssi=self.rssi_of(toy),
                    manufacturer_data=[
                        {"uuid": f"0x{company:04X}", "data": payload}
                        for company, payload in advertisement.manufacturer_data.items()
                    ],
                    address_type=RANDOM_ADDRESS_TYPE,
                ),
            )
