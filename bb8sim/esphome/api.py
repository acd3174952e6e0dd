"""The ESPHome native API as the node speaks it: plaintext frames and the installed message classes.

A plaintext frame is ``0x00``, a varint payload length, a varint message id, then the protobuf
payload. ``0x01`` as the first byte means Noise encryption, which this node does not offer (it has
no pre-shared key, as a node built without ``api: encryption:``).

The message classes come from the installed ``aioesphomeapi`` (its ``api_pb2`` through
``core.MESSAGE_TYPE_TO_PROTO``), so the node speaks exactly the protocol of the client beside it
on each test leg (29.9.0 on the floor, 46.x on the current leg). Messages are named here by id,
never by class: the ids are the wire protocol and are stable, while class names moved between
releases (id 3 is ``ConnectRequest`` in 29.x and ``AuthenticationRequest`` in 46.x).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Final

from aioesphomeapi.core import MESSAGE_TYPE_TO_PROTO
from google.protobuf.message import Message

PLAINTEXT_PREAMBLE: Final = 0x00
NOISE_PREAMBLE: Final = 0x01
# A frame longer than this is a broken or hostile peer (the firmware's own buffers are smaller).
MAX_FRAME: Final = 64 * 1024


class MessageId(IntEnum):
    """The message ids the node handles or sends (``api.proto``'s ``option (id)``)."""

    HELLO_REQUEST = 1
    HELLO_RESPONSE = 2
    CONNECT_REQUEST = 3  # "AuthenticationRequest" in 46.x
    CONNECT_RESPONSE = 4
    DISCONNECT_REQUEST = 5
    DISCONNECT_RESPONSE = 6
    PING_REQUEST = 7
    PING_RESPONSE = 8
    DEVICE_INFO_REQUEST = 9
    DEVICE_INFO_RESPONSE = 10
    LIST_ENTITIES_REQUEST = 11
    LIST_ENTITIES_DONE_RESPONSE = 19
    SUBSCRIBE_STATES_REQUEST = 20
    SUBSCRIBE_LOGS_REQUEST = 28
    SUBSCRIBE_HOMEASSISTANT_SERVICES_REQUEST = 34
    GET_TIME_REQUEST = 36
    GET_TIME_RESPONSE = 37
    SUBSCRIBE_HOME_ASSISTANT_STATES_REQUEST = 38
    SUBSCRIBE_BLUETOOTH_LE_ADVERTISEMENTS_REQUEST = 66
    BLUETOOTH_LE_ADVERTISEMENT_RESPONSE = 67
    BLUETOOTH_DEVICE_REQUEST = 68
    BLUETOOTH_DEVICE_CONNECTION_RESPONSE = 69
    BLUETOOTH_GATT_GET_SERVICES_REQUEST = 70
    BLUETOOTH_GATT_GET_SERVICES_RESPONSE = 71
    BLUETOOTH_GATT_GET_SERVICES_DONE_RESPONSE = 72
    BLUETOOTH_GATT_READ_REQUEST = 73
    BLUETOOTH_GATT_READ_RESPONSE = 74
    BLUETOOTH_GATT_WRITE_REQUEST = 75
    BLUETOOTH_GATT_READ_DESCRIPTOR_REQUEST = 76
    BLUETOOTH_GATT_WRITE_DESCRIPTOR_REQUEST = 77
    BLUETOOTH_GATT_NOTIFY_REQUEST = 78
    BLUETOOTH_GATT_NOTIFY_DATA_RESPONSE = 79
    SUBSCRIBE_BLUETOOTH_CONNECTIONS_FREE_REQUEST = 80
    BLUETOOTH_CONNECTIONS_FREE_RESPONSE = 81
    BLUETOOTH_GATT_ERROR_RESPONSE = 82
    BLUETOOTH_GATT_WRITE_RESPONSE = 83
    BLUETOOTH_GATT_NOTIFY_RESPONSE = 84
    BLUETOOTH_DEVICE_PAIRING_RESPONSE = 85
    BLUETOOTH_DEVICE_UNPAIRING_RESPONSE = 86
    UNSUBSCRIBE_BLUETOOTH_LE_ADVERTISEMENTS_REQUEST = 87
    BLUETOOTH_DEVICE_CLEAR_CACHE_RESPONSE = 88
    BLUETOOTH_LE_RAW_ADVERTISEMENTS_RESPONSE = 93
    BLUETOOTH_SCANNER_STATE_RESPONSE = 126  # 46.x only (ESPHome 2025.5's state-and-mode feature)
    BLUETOOTH_SCANNER_SET_MODE_REQUEST = 127  # 46.x only


class BluetoothDeviceRequestType(IntEnum):
    """``BluetoothDeviceRequest.request_type`` (api.proto's enum, the same in both releases)."""

    CONNECT = 0
    DISCONNECT = 1
    PAIR = 2
    UNPAIR = 3
    CONNECT_V3_WITH_CACHE = 4
    CONNECT_V3_WITHOUT_CACHE = 5
    CLEAR_CACHE = 6


class ProxyFeature(IntEnum):
    """``DeviceInfoResponse.bluetooth_proxy_feature_flags`` bits (firmware ``BluetoothProxyFeature``)."""

    PASSIVE_SCAN = 1 << 0
    ACTIVE_CONNECTIONS = 1 << 1
    REMOTE_CACHING = 1 << 2
    PAIRING = 1 << 3
    CACHE_CLEARING = 1 << 4
    RAW_ADVERTISEMENTS = 1 << 5
    STATE_AND_MODE = 1 << 6


class ScannerState(IntEnum):
    """``BluetoothScannerState`` (api.proto, 46.x): the firmware's BLE scanner."""

    IDLE = 0
    STARTING = 1
    RUNNING = 2
    FAILED = 3
    STOPPING = 4
    STOPPED = 5


class ScannerMode(IntEnum):
    """``BluetoothScannerMode`` (api.proto, 46.x): passive listens, active also asks for scan responses."""

    PASSIVE = 0
    ACTIVE = 1


# SubscribeBluetoothLEAdvertisementsRequest.flags: raw advertisements (93) instead of parsed (67).
SUBSCRIPTION_RAW_ADVERTISEMENTS: Final = 1 << 0


class ProtocolError(Exception):
    """The peer sent something that is not a plaintext ESPHome frame: the node closes the socket."""


def knows(message_id: int) -> bool:
    """Whether the installed aioesphomeapi has message ``message_id`` (126/127 arrived in 46.x)."""
    return message_id in MESSAGE_TYPE_TO_PROTO


def message_class(message_id: int) -> type[Message]:
    """Return the installed aioesphomeapi's class for ``message_id``."""
    cls: type[Message] = MESSAGE_TYPE_TO_PROTO[message_id]
    return cls


def make(message_id: MessageId, **fields: Any) -> Message:
    """Build message ``message_id`` with ``fields`` (field names are the same in both releases)."""
    return message_class(message_id)(**fields)


def decode(message_id: int, payload: bytes) -> Message | None:
    """Parse a payload, or None for an id this release of aioesphomeapi does not know."""
    cls = MESSAGE_TYPE_TO_PROTO.get(message_id)
    if cls is None:
        return None
    message: Message = cls.FromString(payload)
    return message


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_frame(message_id: int, message: Message) -> bytes:
    """One plaintext frame carrying ``message``."""
    payload = bytes(message.SerializeToString())
    return bytes((PLAINTEXT_PREAMBLE,)) + _varint(len(payload)) + _varint(message_id) + payload


class FrameReader:
    """Splits a byte stream into ``(message id, payload)`` frames, keeping partial frames."""

    def __init__(self) -> None:
        """Start with an empty buffer."""
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Add received bytes; return every complete frame, or raise :class:`ProtocolError`."""
        self._buffer += data
        frames: list[tuple[int, bytes]] = []
        while self._buffer:
            preamble = self._buffer[0]
            if preamble == NOISE_PREAMBLE:
                raise ProtocolError("the client asked for Noise encryption; this node is plaintext")
            if preamble != PLAINTEXT_PREAMBLE:
                raise ProtocolError(f"bad preamble byte 0x{preamble:02x}")
            parsed = self._read_varint(1)
            if parsed is None:
                break
            length, position = parsed
            if length > MAX_FRAME:
                raise ProtocolError(f"frame of {length} bytes")
            parsed = self._read_varint(position)
            if parsed is None:
                break
            message_id, position = parsed
            if len(self._buffer) < position + length:
                break
            frames.append((message_id, bytes(self._buffer[position : position + length])))
            del self._buffer[: position + length]
        return frames

    def _read_varint(self, position: int) -> tuple[int, int] | None:
        value = 0
        shift = 0
        while position < len(self._buffer):
            byte = self._buffer[position]
            position += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value, position
            shift += 7
            if shift > 35:
                raise ProtocolError("varint too long")
        return None
