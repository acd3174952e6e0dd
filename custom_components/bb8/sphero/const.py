"""The v1 toys' GATT layout (BB-8, SPRK+, Ollie) and Sphero API 1.x identifiers.

Every value here comes from the design brief's protocol facts (spherov2's sources and the Sphero
API 1.x specification). They live in one module so the codec, the session and the simulator
agree on a single spelling of each number.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final


def _uuid(short: str) -> str:
    """Expand a Sphero short id (``2ba1``) to the full 128-bit UUID the toy exposes."""
    return f"22bb746f-{short}-7554-2d6f-726568705327"


ROBOT_CONTROL_SERVICE: Final = _uuid("2ba0")
COMMANDS_CHAR: Final = _uuid("2ba1")
RESPONSE_CHAR: Final = _uuid("2ba6")
RADIO_SERVICE: Final = _uuid("2bb0")
TX_POWER_CHAR: Final = _uuid("2bb2")
ANTI_DOS_CHAR: Final = _uuid("2bbd")
WAKE_CHAR: Final = _uuid("2bbf")

ANTI_DOS_UNLOCK: Final = b"011i3"
TX_POWER_LEVEL: Final = bytes([7])
WAKE_VALUE: Final = bytes([1])

LOCAL_NAME_PREFIX: Final = "BB-"
# GATT writes and notifications carry at most 20 bytes on the toy's BLE 4.0 radio.
MAX_CHUNK: Final = 20


class DeviceId(IntEnum):
    """Virtual device ids (DID) of the v1 API."""

    CORE = 0x00
    SPHERO = 0x02


class CoreCommand(IntEnum):
    """Command ids (CID) of the core device."""

    PING = 0x01
    GET_VERSIONS = 0x02
    GET_POWER_STATE = 0x20
    SET_POWER_NOTIFICATIONS = 0x21
    SLEEP = 0x22
    SET_VOLTAGE_TRIP_POINTS = 0x23
    SET_INACTIVITY_TIMEOUT = 0x25


class SpheroCommand(IntEnum):
    """Command ids (CID) of the Sphero device."""

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
    """Id codes of asynchronous packets the toy sends unasked."""

    POWER_STATE = 0x01
    SENSOR_STREAM = 0x03
    WILL_SLEEP = 0x05
    COLLISION = 0x07
    DID_SLEEP = 0x14


class RollMode(IntEnum):
    """Third field of the roll command."""

    STOP = 0
    GO = 1
    CALIBRATE = 2


# Inactivity timeout bounds: the spec refuses values under 60 s; the toy's default is 600 s.
MIN_INACTIVITY_TIMEOUT: Final = 60
DEFAULT_INACTIVITY_TIMEOUT: Final = 600
# Sleep's wake-up interval 0xFFFF means deep sleep, from which only the charger wakes the toy.
DEEP_SLEEP_INTERVAL: Final = 0xFFFF
