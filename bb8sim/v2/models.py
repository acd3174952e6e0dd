"""What each simulated v2 model has: name prefix, GATT table, LEDs, parts, targets, battery.

Sources, model by model (``docs/family.md`` has the same table for people):

* Name prefixes, LED mask bits, which commands each model implements and which take a target:
  spherov2 0.12.1's ``toy/*.py`` (a capture shows its R2-D2 framing on hardware; it marks the
  BOLT's 8-bit LED command untested), spherov2.js and pysphero.
* R2-D2: the wake, dome and animation captures (gobot PR #1189, the Edu app) in the design brief,
  including the untargeted framing and the async 13/11 after waking.
* Mini: the Edu app captures (spherov2.js ``sphero-mini.ts``) and Sphero_mini's notes from
  sniffing the app: one byte per notification, the unlock that stops it sleeping after 10 s,
  the characteristics a bluepy query listed (a Battery Service among them).
* Animation numbers: spherov2's ``Animations`` enum of each model (``R2D2``, ``R2Q5``,
  ``BB9E``); the same animation has another number on a BB-9E than on an R2 unit.
* Everything else (voltages, battery curve, characteristic properties, what a command lacking
  on a model answers, what an animation number the model lacks answers) is the simulator's
  assumption, said so where it is defined.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from .protocol import (
    ANTI_DOS_CHAR,
    API_CHAR,
    API_SERVICE,
    API_UNKNOWN_CHAR,
    BATTERY_LEVEL_CHAR,
    BATTERY_SERVICE,
    DFU_CONTROL_CHAR,
    DFU_INFO_CHAR,
    DFU_SERVICE,
    DFU_UNKNOWN_CHAR,
    PRIMARY,
    SECONDARY,
    AnimatronicCid,
    Did,
    DriveCid,
    IoCid,
    PowerCid,
    SensorCid,
)

_W = "write"
_WNR = "write-without-response"
_READ = "read"
_NOTIFY = "notify"

type CharacteristicRow = tuple[str, int, tuple[str, ...], bool]
type GattLayout = tuple[tuple[str, int, tuple[CharacteristicRow, ...]], ...]

# The v2 table, in the bleak backend's layout (service uuid, handle, [(uuid, handle, properties,
# has CCCD)]). Which characteristics exist: spherov2's, spherov2.js's and Sphero_mini's lists
# (the last from a bluepy query of a real Mini). Properties and handles are assumptions: the API
# characteristic takes writes (with and without response) and notifies, anti-DoS takes writes.
_API_V2_LAYOUT: Final[GattLayout] = (
    (
        API_SERVICE,
        0x0010,
        (
            (API_CHAR, 0x0012, (_READ, _WNR, _W, _NOTIFY), True),
            (API_UNKNOWN_CHAR, 0x0015, (_READ, _WNR, _W, _NOTIFY), True),
        ),
    ),
    (
        DFU_SERVICE,
        0x0020,
        (
            (DFU_CONTROL_CHAR, 0x0022, (_W, _NOTIFY), True),
            (DFU_UNKNOWN_CHAR, 0x0025, (_READ, _WNR, _W, _NOTIFY), True),
            (DFU_INFO_CHAR, 0x0028, (_READ, _WNR, _W, _NOTIFY), True),
            (ANTI_DOS_CHAR, 0x002B, (_READ, _WNR, _W), False),
        ),
    ),
)
_BATTERY_LAYOUT: Final[GattLayout] = (
    (BATTERY_SERVICE, 0x0030, ((BATTERY_LEVEL_CHAR, 0x0032, (_READ, _NOTIFY), True),)),
)

# The BOLT's commands that live on its secondary processor (spherov2's toy/bolt.py passes
# proc=SECONDARY to every drive and sensor command and to the matrix); None = the whole device.
_BOLT_SECONDARY: Final[frozenset[tuple[int, int | None]]] = frozenset(
    {
        (Did.DRIVE, None),
        (Did.SENSOR, None),
        (Did.IO, IoCid.MATRIX_PIXEL),
        (Did.IO, IoCid.MATRIX_ONE_COLOUR),
        (Did.IO, IoCid.MATRIX_ROTATION),
        (Did.IO, IoCid.MATRIX_TEXT_SCROLLING),
        (Did.IO, IoCid.MATRIX_LINE),
        (Did.IO, IoCid.MATRIX_FILL),
    }
)

_COMMON: Final[frozenset[tuple[int, int]]] = frozenset(
    {
        (Did.POWER, PowerCid.DEEP_SLEEP),
        (Did.POWER, PowerCid.SLEEP),
        (Did.POWER, PowerCid.BATTERY_VOLTAGE),
        (Did.POWER, PowerCid.WAKE),
        (Did.POWER, PowerCid.BATTERY_VOLTAGE_STATE),
        (Did.DRIVE, DriveCid.RAW_MOTORS),
        (Did.DRIVE, DriveCid.RESET_YAW),
        (Did.DRIVE, DriveCid.DRIVE_WITH_HEADING),
        (Did.DRIVE, DriveCid.SET_STABILIZATION),
        (Did.SENSOR, SensorCid.SET_STREAMING_MASK),
        (Did.SENSOR, SensorCid.SET_EXTENDED_STREAMING_MASK),
        (Did.SENSOR, SensorCid.CONFIGURE_COLLISION_DETECTION),
        (Did.SENSOR, SensorCid.RESET_LOCATOR),
        (Did.SENSOR, SensorCid.ENABLE_GYRO_MAX_NOTIFY),
        (Did.SENSOR, SensorCid.SET_LOCATOR_FLAGS),
    }
)
_ANIMATIONS: Final = frozenset(
    {(Did.ANIMATRONIC, AnimatronicCid.PLAY_ANIMATION), (Did.ANIMATRONIC, AnimatronicCid.STOP_ANIMATION)}
)
_SOUNDS: Final = frozenset(
    {(Did.IO, IoCid.PLAY_AUDIO_FILE), (Did.IO, IoCid.SET_AUDIO_VOLUME), (Did.IO, IoCid.STOP_ALL_AUDIO)}
)
_R2_PARTS: Final = frozenset(
    {
        (Did.ANIMATRONIC, AnimatronicCid.PERFORM_LEG_ACTION),
        (Did.ANIMATRONIC, AnimatronicCid.SET_HEAD_POSITION),
        (Did.ANIMATRONIC, AnimatronicCid.GET_HEAD_POSITION),
    }
)
_MATRIX: Final = frozenset(
    {
        (Did.IO, IoCid.MATRIX_PIXEL),
        (Did.IO, IoCid.MATRIX_ONE_COLOUR),
        (Did.IO, IoCid.MATRIX_ROTATION),
        (Did.IO, IoCid.MATRIX_TEXT_SCROLLING),
        (Did.IO, IoCid.MATRIX_LINE),
        (Did.IO, IoCid.MATRIX_FILL),
    }
)


@dataclass(frozen=True, slots=True)
class V2Model:
    """One v2 toy model as the simulator plays it."""

    key: str
    display_name: str
    name_prefix: str
    leds: dict[str, int]
    """LED name -> bit in the LED mask (spherov2's ``LEDs`` enum of the model)."""
    led_command: int
    """1A/0E (16-bit mask) or 1A/1C (8-bit mask, the BOLT's)."""
    commands: frozenset[tuple[int, int]]
    """(DID, CID) pairs this model implements; others answer ERR 2 (bad CID) or 1 (bad DID)."""
    secondary_only: frozenset[tuple[int, int | None]] = frozenset()
    """Commands that must be targeted at the secondary processor (0x12)."""
    led_target: int | None = None
    """Where the LED command is served when the model has two targets (the BOLT's primary)."""
    battery_full: float = 4.2
    battery_empty: float = 3.5
    battery_default: float = 3.95
    notification_chunk: int = 20
    """Bytes per notification the toy sends (the Mini: one)."""
    wake_notice: bool = False
    """Whether the toy sends async 13/11 after waking (seen in an R2-D2 capture)."""
    extra_gatt: tuple[tuple[str, int, tuple[CharacteristicRow, ...]], ...] = ()
    targets: frozenset[int] = field(default_factory=lambda: frozenset({PRIMARY, SECONDARY}))
    """Nodes a targeted request may name; any other TID answers ERR 9 (bad TID)."""
    animations: frozenset[int] = frozenset()
    """The animation numbers the model plays (17/05); another answers ERR 7 (bad parameter), an
    assumption: which error a real toy gives, or whether it answers at all, is not published."""

    @property
    def gatt_layout(self) -> GattLayout:
        """The GATT table this model serves through the bleak backend."""
        return _API_V2_LAYOUT + self.extra_gatt

    def default_name(self, address: str) -> str:
        """Return the advertised name: the model's prefix and the last four hex digits of the address."""
        digits = "".join(ch for ch in address.upper() if ch in "0123456789ABCDEF")
        return f"{self.name_prefix}{digits[-4:]}"

    def has(self, did: int, cid: int) -> bool:
        """Whether this model implements the command."""
        return (did, cid) in self.commands

    def has_device(self, did: int) -> bool:
        """Whether this model implements any command of the device."""
        return any(known == did for known, _ in self.commands)

    def needs_secondary(self, did: int, cid: int) -> bool:
        """Whether the command must name the secondary processor."""
        return (did, None) in self.secondary_only or (did, cid) in self.secondary_only


_R2_LEDS: Final = {
    "front_red": 0,
    "front_green": 1,
    "front_blue": 2,
    "logic_displays": 3,
    "back_red": 4,
    "back_green": 5,
    "back_blue": 6,
    "holo_projector": 7,
}
# spherov2 0.12.1's R2D2.Animations (toy/r2d2.py), by value: CHARGER_1..7 are 0-6, the EMOTE_*
# ones 7-19, 21, 22 and 24 (no 20 or 23), IDLE_1..3 25-27, the WWM_* ones 31-54 (no 28-30), MOTOR
# 55. Its R2Q5.Animations (toy/r2q5.py) is the same without MOTOR.
_R2Q5_ANIMATIONS: Final = frozenset({*range(0, 20), 21, 22, *range(24, 28), *range(31, 55)})
_R2D2_ANIMATIONS: Final = _R2Q5_ANIMATIONS | {55}
# spherov2 0.12.1's BB9E.Animations (toy/bb9e.py), by value: EMOTE_ALARM 0 .. EMOTE_NERVOUS 12,
# EMOTE_SLEEP 14 .. WWM_BOW 20, WWM_CURIOUS 22 .. EYE_4 48 (no 13 or 21). WWM_HAPPY, for one, is
# 26 here and 40 on an R2 unit.
_BB9E_ANIMATIONS: Final = frozenset({*range(0, 13), *range(14, 21), *range(22, 49)})
_R2_COMMANDS: Final = _COMMON | _ANIMATIONS | _SOUNDS | _R2_PARTS | {(Did.IO, IoCid.SET_LEDS_16_BIT_MASK)}

R2D2: Final = V2Model(
    key="r2d2",
    display_name="R2-D2",
    name_prefix="D2-",
    leds=_R2_LEDS,
    led_command=IoCid.SET_LEDS_16_BIT_MASK,
    commands=_R2_COMMANDS,
    battery_full=8.4,
    battery_empty=7.0,
    battery_default=7.9,
    wake_notice=True,
    animations=_R2D2_ANIMATIONS,
)
R2Q5: Final = V2Model(
    key="r2q5",
    display_name="R2-Q5",
    name_prefix="Q5-",
    leds=_R2_LEDS,
    led_command=IoCid.SET_LEDS_16_BIT_MASK,
    commands=_R2_COMMANDS,
    battery_full=8.4,
    battery_empty=7.0,
    battery_default=7.9,
    wake_notice=True,
    animations=_R2Q5_ANIMATIONS,
)
BB9E: Final = V2Model(
    key="bb9e",
    display_name="BB-9E",
    name_prefix="GB-",
    leds={"body_red": 0, "body_green": 1, "body_blue": 2, "aiming": 3, "head": 4},
    led_command=IoCid.SET_LEDS_16_BIT_MASK,
    commands=_COMMON | _ANIMATIONS | _SOUNDS | {(Did.IO, IoCid.SET_LEDS_16_BIT_MASK)},
    battery_full=8.4,
    battery_empty=7.0,
    battery_default=7.9,
    animations=_BB9E_ANIMATIONS,
)
MINI: Final = V2Model(
    key="mini",
    display_name="Sphero Mini",
    name_prefix="SM-",
    leds={
        "aiming": 0,
        "body_red": 1,
        "body_green": 2,
        "body_blue": 3,
        "user_body_red": 4,
        "user_body_green": 5,
        "user_body_blue": 6,
    },
    led_command=IoCid.SET_LEDS_16_BIT_MASK,
    commands=_COMMON | {(Did.IO, IoCid.SET_LEDS_16_BIT_MASK), (Did.POWER, PowerCid.BATTERY_PERCENTAGE)},
    notification_chunk=1,
    extra_gatt=_BATTERY_LAYOUT,
)
BOLT: Final = V2Model(
    key="bolt",
    display_name="Sphero BOLT",
    name_prefix="SB-",
    leds={"front_red": 0, "front_green": 1, "front_blue": 2, "back_red": 3, "back_green": 4, "back_blue": 5},
    led_command=IoCid.SET_LEDS_8_BIT_MASK,
    commands=_COMMON | _MATRIX | {(Did.IO, IoCid.SET_LEDS_8_BIT_MASK), (Did.POWER, PowerCid.CHARGER_STATE)},
    secondary_only=_BOLT_SECONDARY,
    led_target=PRIMARY,
)

MODELS: Final[dict[str, V2Model]] = {model.key: model for model in (R2D2, R2Q5, BB9E, MINI, BOLT)}
"""Every simulated v2 model by key."""


def model_for_name(name: str) -> V2Model | None:
    """Return the model whose prefix ``name`` starts with (how a central tells them apart), or None."""
    for model in MODELS.values():
        if name.startswith(model.name_prefix):
            return model
    return None
