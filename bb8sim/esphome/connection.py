"""One native-API client of the node: the plaintext handshake, and every request a client sends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import functools
import logging
from typing import TYPE_CHECKING, Any, Final

from google.protobuf.message import Message

from .api import (
    BluetoothDeviceRequestType,
    FrameReader,
    MessageId,
    ProtocolError,
    ScannerMode,
    decode,
    encode_frame,
    make,
)
from .gatt import (
    GATT_ERROR,
    GATT_INVALID_HANDLE,
    GATT_NOT_CONNECTED,
    GATT_READ_NOT_PERMITTED,
    GATT_REQUEST_NOT_SUPPORTED,
    GATT_WRITE_NOT_PERMITTED,
    PROPERTY_BITS,
    int_to_address,
)
from .link import _BleConnection

if TYPE_CHECKING:
    from .node import SimulatedESPHomeNode

_LOGGER = logging.getLogger(__name__)

# ESPHome release the node claims (Home Assistant raises a repair issue for proxies older than
# its STABLE_BLE_VERSION: 2025.2.2 in 2025.4, 2026.5.1 in 2026.10).
ESPHOME_VERSION: Final = "2026.5.1"
_CONNECT_TYPES: Final = (
    BluetoothDeviceRequestType.CONNECT,
    BluetoothDeviceRequestType.CONNECT_V3_WITH_CACHE,
    BluetoothDeviceRequestType.CONNECT_V3_WITHOUT_CACHE,
)


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
            # Every connect request the node receives, whatever comes of it (a slot, a refusal).
            node.connect_requests_by_address[int_to_address(address)] += 1
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
        if (link := self._connected_link(address, 0)) is None:
            return
        self.node.service_discoveries += 1
        for response in link.gatt.service_messages(address):
            self.send(MessageId.BLUETOOTH_GATT_GET_SERVICES_RESPONSE, response)
        self.send(
            MessageId.BLUETOOTH_GATT_GET_SERVICES_DONE_RESPONSE,
            make(MessageId.BLUETOOTH_GATT_GET_SERVICES_DONE_RESPONSE, address=address),
        )

    def _on_read(self, message: Any) -> None:
        address, handle = int(message.address), int(message.handle)
        if (link := self._connected_link(address, handle)) is None or link.toy is None:
            return
        characteristic = link.gatt.characteristics.get(handle)
        if characteristic is None:
            self._gatt_error(address, handle, GATT_INVALID_HANDLE)
            return
        uuid, bits = characteristic
        if not bits & PROPERTY_BITS["read"]:
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
        if handle not in link.gatt.cccds:
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
        characteristic = link.gatt.characteristics.get(handle)
        if characteristic is None:
            self._gatt_error(address, handle, GATT_INVALID_HANDLE)
            return
        uuid, bits = characteristic
        needed = PROPERTY_BITS["write"] if response else PROPERTY_BITS["write-without-response"]
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
        if handle not in link.gatt.cccds:
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
        characteristic = link.gatt.characteristics.get(handle)
        if characteristic is None:
            self._gatt_error(address, handle, GATT_INVALID_HANDLE)
            return
        if not characteristic[1] & (PROPERTY_BITS["notify"] | PROPERTY_BITS["indicate"]):
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
