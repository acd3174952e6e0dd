"""The simulator's own reading of the Sphero v2 API: UUIDs, packet fields, ids and error codes.

Written from the design brief's "The Sphero family" facts (Sphero's published v2 API notes as
spherov2, spherov2.js and pysphero read them) and from real captures, never from
``custom_components``: the simulator is a witness, and sharing the integration's constants would
let one wrong number hide in both. ``tests/test_sim_v2_codec.py`` holds these against
spherov2's own v2 enums.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag
from typing import Final


def v2_uuid(short: str) -> str:
    """Expand a v2 toy's short id (``00010002``) to its 128-bit UUID (ASCII "WOO Sphero!!")."""
    return f"{short}-574f-4f20-5370-6865726f2121"


# -- GATT --------------------------------------------------------------------------------------
API_SERVICE: Final = v2_uuid("00010001")
API_CHAR: Final = v2_uuid("00010002")
"""Commands are written here and answers and async packets notified from here."""
API_UNKNOWN_CHAR: Final = v2_uuid("00010003")
DFU_SERVICE: Final = v2_uuid("00020001")
DFU_CONTROL_CHAR: Final = v2_uuid("00020002")
DFU_UNKNOWN_CHAR: Final = v2_uuid("00020003")
DFU_INFO_CHAR: Final = v2_uuid("00020004")
ANTI_DOS_CHAR: Final = v2_uuid("00020005")
BATTERY_SERVICE: Final = "0000180f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL_CHAR: Final = "00002a19-0000-1000-8000-00805f9b34fb"

ANTI_DOS_UNLOCK: Final = b"usetheforce...band"
ANTI_DOS_GRACE: Final = 10.0
"""Seconds a connected toy waits for the unlock before it goes back to sleep (Sphero_mini's notes)."""

MAX_CHUNK: Final = 20
"""Bytes per notification on a link that never negotiated a bigger MTU."""

# -- packet ------------------------------------------------------------------------------------
SOP: Final = 0x8D
EOP: Final = 0xD8
ESC: Final = 0xAB
ESCAPED: Final[dict[int, int]] = {ESC: 0x23, SOP: 0x05, EOP: 0x50}
"""A special byte between SOP and EOP is sent as ESC followed by this byte."""
UNESCAPED: Final[dict[int, int]] = {value: key for key, value in ESCAPED.items()}
ASYNC_SEQ: Final = 0xFF


class Flags(IntFlag):
    """The FLAGS byte."""

    IS_RESPONSE = 0x01
    REQUESTS_RESPONSE = 0x02
    REQUESTS_ONLY_ERROR_RESPONSE = 0x04
    IS_ACTIVITY = 0x08
    HAS_TARGET = 0x10
    HAS_SOURCE = 0x20
    EXTENDED = 0x80


class ErrorCode(IntEnum):
    """ERR, only in answers."""

    SUCCESS = 0x00
    BAD_DID = 0x01
    BAD_CID = 0x02
    NOT_IMPLEMENTED = 0x03
    RESTRICTED = 0x04
    BAD_DATA_LENGTH = 0x05
    FAILED = 0x06
    BAD_PARAMETER = 0x07
    BUSY = 0x08
    BAD_TID = 0x09
    TARGET_UNAVAILABLE = 0x0A


def node(port: int, processor: int) -> int:
    """Build a TID or SID: the port in the high nibble, the node (processor) in the low one."""
    return (port << 4) | processor


PRIMARY: Final = node(1, 1)
"""0x11: the primary processor (Nordic: Bluetooth, power, LEDs of the BOLT's body)."""
SECONDARY: Final = node(1, 2)
"""0x12: the secondary processor (ST: motors, sensors, the BOLT's matrix)."""
CENTRAL: Final = 0x01
"""The source id spherov2 puts on a targeted request (port 0, node 1: the app)."""


class Did(IntEnum):
    """Device ids (spherov2.js's DeviceId table)."""

    API = 0x10
    SYSTEM_INFO = 0x11
    POWER = 0x13
    DRIVE = 0x16
    ANIMATRONIC = 0x17
    SENSOR = 0x18
    IO = 0x1A


class PowerCid(IntEnum):
    """Power (0x13)."""

    DEEP_SLEEP = 0x00
    SLEEP = 0x01
    BATTERY_VOLTAGE = 0x03
    WAKE = 0x0D
    BATTERY_PERCENTAGE = 0x10
    WAKE_NOTICE = 0x11
    """An async the R2-D2 sent after waking (capture); its name and meaning are not published."""
    BATTERY_VOLTAGE_STATE = 0x17
    WILL_SLEEP = 0x19
    DID_SLEEP = 0x1A
    CHARGER_STATE = 0x1F


class DriveCid(IntEnum):
    """Drive (0x16)."""

    RAW_MOTORS = 0x01
    RESET_YAW = 0x06
    DRIVE_WITH_HEADING = 0x07
    SET_STABILIZATION = 0x0C


class AnimatronicCid(IntEnum):
    """Animatronic (0x17), the R2 units' dome, legs and animations (BB-9E: animations)."""

    PLAY_ANIMATION = 0x05
    PERFORM_LEG_ACTION = 0x0D
    SET_HEAD_POSITION = 0x0F
    ANIMATION_COMPLETE = 0x11
    GET_HEAD_POSITION = 0x14
    STOP_ANIMATION = 0x2B


class SensorCid(IntEnum):
    """Sensor (0x18)."""

    SET_STREAMING_MASK = 0x00
    STREAMING_DATA = 0x02
    SET_EXTENDED_STREAMING_MASK = 0x0C
    ENABLE_GYRO_MAX_NOTIFY = 0x0F
    CONFIGURE_COLLISION_DETECTION = 0x11
    COLLISION_DETECTED = 0x12
    RESET_LOCATOR = 0x13
    SET_LOCATOR_FLAGS = 0x17


class IoCid(IntEnum):
    """User IO (0x1A): sounds, LEDs and the BOLT's 8x8 matrix."""

    PLAY_AUDIO_FILE = 0x07
    SET_AUDIO_VOLUME = 0x08
    STOP_ALL_AUDIO = 0x0A
    SET_LEDS_16_BIT_MASK = 0x0E
    SET_LEDS_8_BIT_MASK = 0x1C
    MATRIX_PIXEL = 0x2D
    MATRIX_ONE_COLOUR = 0x2F
    MATRIX_ROTATION = 0x3A
    MATRIX_TEXT_SCROLLING = 0x3B
    MATRIX_TEXT_SCROLLING_DONE = 0x3C
    MATRIX_LINE = 0x3D
    MATRIX_FILL = 0x3E


class Stance(IntEnum):
    """The R2 units' leg actions (17/0D): 0 stops a waddle."""

    STOP = 0
    TRIPOD = 1
    BIPOD = 2
    WADDLE = 3


class ChargerState(IntEnum):
    """13/1F's answer (spherov2's ChargerStates)."""

    UNKNOWN = 0
    NOT_CHARGING = 1
    CHARGING = 2
    CHARGED = 3


class VoltageState(IntEnum):
    """13/17's answer (spherov2's BatteryVoltageStates)."""

    UNKNOWN = 0
    OK = 1
    LOW = 2
    CRITICAL = 3
