"""Each toy's GATT table as the node serves it, the codes it answers with, its advertisement on air.

Handles, properties and CCCDs come from the toy's own table, the one the bleak backend serves for
it: a v2 toy's model carries its table (:attr:`bb8sim.v2.SimulatedV2Toy.gatt_layout`), a v1 toy
serves the BB-8's (:data:`bb8sim.backend.GATT_LAYOUT`); the codes are ESP-IDF's (``esp_gatt_status_t``,
``esp_gatt_conn_reason_t``), as the firmware passes them on in 82 and 69.
"""

from __future__ import annotations

from typing import Final
import uuid as uuid_module

from google.protobuf.message import Message

from bb8sim.backend import CCCD_UUID, GATT_LAYOUT, GattLayout
from bb8sim.toy import Advertisement, SimulatedBB8
from bb8sim.v2.toy import SimulatedV2Toy

from .api import (
    MessageId,
    make,
)

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

PROPERTY_BITS: Final = {
    "read": 0x02,
    "write-without-response": 0x04,
    "write": 0x08,
    "notify": 0x10,
    "indicate": 0x20,
}


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
    """One toy's GATT table by handle (the same layout the bleak backend serves for that toy)."""

    def __init__(self, layout: GattLayout = GATT_LAYOUT) -> None:
        self.services: list[tuple[str, int, list[tuple[str, int, int, int | None]]]] = []
        self.characteristics: dict[int, tuple[str, int]] = {}  # handle -> (uuid, properties)
        self.cccds: dict[int, int] = {}  # CCCD handle -> characteristic handle
        for service_uuid, service_handle, characteristics in layout:
            entries: list[tuple[str, int, int, int | None]] = []
            for char_uuid, handle, properties, has_cccd in characteristics:
                bits = 0
                for name in properties:
                    bits |= PROPERTY_BITS[name]
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
"""The BB-8's table, which every v1 toy (BB-8, SPRK+, Ollie) serves."""

_TABLES: dict[GattLayout, _GattTable] = {GATT_LAYOUT: GATT_TABLE}


def gatt_table_for(toy: SimulatedBB8 | SimulatedV2Toy) -> _GattTable:
    """Return the table the node serves for ``toy``: its v2 model's, or the BB-8's for a v1 toy.

    Tables are built once per layout and shared by every toy with that layout, so a service
    discovery or a write does not rebuild one.
    """
    layout = toy.gatt_layout if isinstance(toy, SimulatedV2Toy) else GATT_LAYOUT
    table = _TABLES.get(layout)
    if table is None:
        table = _TABLES[layout] = _GattTable(layout)
    return table
