"""A simulated ESPHome Bluetooth proxy node that Home Assistant's own ``esphome`` integration drives.

The project's other path to a simulated toy (:mod:`bb8sim.proxy`, :mod:`bb8sim.backend`) stands
in for the proxy inside Home Assistant; this one is a real native-API server on 127.0.0.1, so
aioesphomeapi, bleak-esphome and Home Assistant's ``esphome`` integration carry every command.

:mod:`.api` frames the native API with the installed aioesphomeapi's classes; :mod:`.gatt` is the
toy's GATT table and the ESP-IDF codes; :mod:`.link` is one BLE connection slot; :mod:`.connection`
one API client and its requests; :mod:`.node` the node itself (slots, advertising, faults).
"""

from __future__ import annotations

from .gatt import (
    CONN_FAIL_ESTABLISH,
    CONN_TERMINATE_LOCAL_HOST,
    CONN_TERMINATE_PEER_USER,
    CONN_TIMEOUT,
    GATT_ERROR,
    GATT_INVALID_HANDLE,
    GATT_NOT_CONNECTED,
    GATT_READ_NOT_PERMITTED,
    GATT_WRITE_NOT_PERMITTED,
    address_to_int,
    advertisement_bytes,
    int_to_address,
)
from .node import API_VERSION, DEFAULT_FEATURE_FLAGS, STATE_AND_MODE_SUPPORTED, SimulatedESPHomeNode

__all__ = [
    "API_VERSION",
    "CONN_FAIL_ESTABLISH",
    "CONN_TERMINATE_LOCAL_HOST",
    "CONN_TERMINATE_PEER_USER",
    "CONN_TIMEOUT",
    "DEFAULT_FEATURE_FLAGS",
    "GATT_ERROR",
    "GATT_INVALID_HANDLE",
    "GATT_NOT_CONNECTED",
    "GATT_READ_NOT_PERMITTED",
    "GATT_WRITE_NOT_PERMITTED",
    "STATE_AND_MODE_SUPPORTED",
    "SimulatedESPHomeNode",
    "address_to_int",
    "advertisement_bytes",
    "int_to_address",
]
