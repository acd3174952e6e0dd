"""The simulator's own reading of the BB-8's GATT layout and the Sphero API 1.x framing.

The simulator is a witness against the integration: every UUID, id and framing rule here is
written from the Sphero API 1.20 specification and from captures of real BB-8s (see
``tests/captures/``), never imported from ``custom_components``. If the integration spelled a
number wrong, sharing its constants would make the simulator wrong the same way and no test could
see it. ``tests/test_witness.py`` holds both this module and the integration's constants against
spherov2's own.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final


def sphero_uuid(short: str) -> str:
    """Expand a Sphero short id (``2ba1``) to the 128-bit UUID a v1 toy exposes."""
    return f"22bb746f-{short}-7554-2d6f-726568705327"


# -- GATT (the services and characteristics a real BB-8 shows; the table is in backend.py) ----
ROBOT_CONTROL_SERVICE: Final = sphero_uuid("2ba0")
COMMANDS_CHAR: Final = sphero_uuid("2ba1")
RESPONSE_CHAR: Final = sphero_uuid("2ba6")
RADIO_SERVICE: Final = sphero_uuid("2bb0")
TX_POWER_CHAR: Final = sphero_uuid("2bb2")
ANTI_DOS_CHAR: Final = sphero_uuid("2bbd")
WAKE_CHAR: Final = sphero_uuid("2bbf")

# The rest of a real BB-8's table (tests/captures/bb8_gatt.py): radio characteristics the
# integration never touches, a CSR over-the-air update service, and Device Information.
CSR_OTA_SERVICE: Final = "00001016-d102-11e1-9b23-00025b00a5a5"
DEVICE_INFORMATION_SERVICE: Final = "0000180a-0000-1000-8000-00805f9b34fb"


def csr_uuid(short: str) -> str:
    """Expand a CSR over-the-air update id (``1013``) to its 128-bit UUID."""
    return f"0000{short}-d102-11e1-9b23-00025b00a5a5"


def sig_uuid(short: str) -> str:
    """Expand a Bluetooth SIG 16-bit id (``2a24``) to its 128-bit UUID."""
    return f"0000{short}-0000-1000-8000-00805f9b34fb"


# What a real BB-8 answered when its static characteristics were read (the capture's values;
# their meaning is not documented). The serial number (2a25) is the toy's address.
STATIC_READ_VALUES: Final[dict[str, bytes]] = {
    sphero_uuid("2bb6"): bytes.fromhex("d1"),
    sphero_uuid("2bb8"): bytes.fromhex("2c"),
    sphero_uuid("2bb9"): bytes.fromhex("0900"),
    sphero_uuid("2bba"): bytes.fromhex("c800"),
    sphero_uuid("2bbe"): bytes.fromhex("1e"),
    "22bb746f-3bba-7554-2d6f-726568705327": bytes.fromhex("0100"),
    csr_uuid("1013"): bytes.fromhex("01"),
    csr_uuid("1014"): b"",
    sig_uuid("2a27"): bytes.fromhex("410000000000"),
    sig_uuid("2a24"): b"30\x00",
    sig_uuid("2a29"): b"Sphero",
    sig_uuid("2a26"): b"1.47",
}
SERIAL_NUMBER_CHAR: Final = sig_uuid("2a25")

# The handshake a central writes, in this order, before the toy reads commands.
ANTI_DOS_UNLOCK: Final = b"011i3"
TX_POWER_LEVEL: Final = bytes([7])
WAKE_VALUE: Final = bytes([1])

# A BLE 4.0 link without an MTU exchange: 23-byte ATT MTU, so 20-byte writes and notifications.
MAX_CHUNK: Final = 20

# -- advertisement (from a real BB-8's scan record, tests/captures/bb8_gatt.py) ------------------
LOCAL_NAME_PREFIX: Final = "BB-"
# The toy advertises manufacturer data "33 30": company id 0x3033, little-endian, no payload.
MANUFACTURER_ID: Final = 0x3033
MANUFACTURER_PAYLOAD: Final = b""
ADVERTISED_TX_POWER: Final = -10

# -- framing (Sphero API 1.20, "Packet structures") ----------------------------------------------
SOP1: Final = 0xFF
SOP2_RESPONSE: Final = 0xFF
SOP2_ASYNC: Final = 0xFE
SOP2_COMMAND_MIN: Final = 0xFC  # a command's SOP2 has bits 7..2 set
SOP2_ANSWER: Final = 0x01  # bit 0: answer this command
SOP2_RESET_TIMEOUT: Final = 0x02  # bit 1: reset the inactivity timer


def checksum(body: bytes | bytearray) -> int:
    """One's complement of the low byte of the sum of every byte after SOP2 (the spec's CHK)."""
    return 0xFF - (sum(body) & 0xFF)


def build_response(mrsp: int, seq: int, data: bytes = b"") -> bytes:
    """Frame a simple response: ``FF FF MRSP SEQ DLEN <data> CHK``."""
    body = bytes([mrsp & 0xFF, seq & 0xFF, len(data) + 1]) + bytes(data)
    return bytes([SOP1, SOP2_RESPONSE]) + body + bytes([checksum(body)])


def build_async(id_code: int, data: bytes = b"") -> bytes:
    """Frame an asynchronous packet: ``FF FE ID DLEN_MSB DLEN_LSB <data> CHK``."""
    dlen = len(data) + 1
    body = bytes([id_code & 0xFF, dlen >> 8, dlen & 0xFF]) + bytes(data)
    return bytes([SOP1, SOP2_ASYNC]) + body + bytes([checksum(body)])


class Mrsp(IntEnum):
    """Response codes (MRSP) the simulated toy answers with (Sphero API 1.20, table of codes)."""

    OK = 0x00
    BAD_CHECKSUM = 0x02
    UNKNOWN_CID = 0x04
    BAD_PARAMETER = 0x07
    UNKNOWN_DID = 0x09


class DeviceId(IntEnum):
    """Virtual device ids (DID)."""

    CORE = 0x00
    SPHERO = 0x02


class CoreCommand(IntEnum):
    """Command ids of the core device."""

    PING = 0x01
    GET_VERSIONS = 0x02
    GET_POWER_STATE = 0x20
    SET_POWER_NOTIFICATIONS = 0x21
    SLEEP = 0x22
    SET_VOLTAGE_TRIP_POINTS = 0x23
    SET_INACTIVITY_TIMEOUT = 0x25


class SpheroCommand(IntEnum):
    """Command ids of the Sphero device."""

    SET_HEADING = 0x01
    SET_STABILIZATION = 0x02
    SET_ROTATION_RATE = 0x03
    SELF_LEVEL = 0x09
    SET_DATA_STREAMING = 0x11
    CONFIGURE_COLLISION_DETECTION = 0x12
    CONFIGURE_LOCATOR = 0x13
    SET_MAIN_LED = 0x20
    SET_BACK_LED = 0x21
    ROLL = 0x30
    SET_RAW_MOTORS = 0x33
    SET_MOTION_TIMEOUT = 0x34
    SET_TEMPORARY_OPTIONS = 0x37


class AsyncId(IntEnum):
    """Id codes of asynchronous packets."""

    POWER_STATE = 0x01
    SENSOR_STREAM = 0x03
    WILL_SLEEP = 0x05
    COLLISION = 0x07
    DID_SLEEP = 0x14


class RollMode(IntEnum):
    """Roll's state byte: stop, go, and (spherov2's name) calibrate, the spec's fast-turn go."""

    STOP = 0
    GO = 1
    CALIBRATE = 2


class PowerState(IntEnum):
    """The toy's power states (get power state, byte 2; power notification, byte 1)."""

    CHARGING = 1
    OK = 2
    LOW = 3
    CRITICAL = 4


# Inactivity timeout: the spec refuses under 60 s; 600 s is the toy's default.
MIN_INACTIVITY_TIMEOUT: Final = 60
DEFAULT_INACTIVITY_TIMEOUT: Final = 600
# Sleep's wake-up interval 0xFFFF is deep sleep: only the charger wakes the toy from it.
DEEP_SLEEP_INTERVAL: Final = 0xFFFF
