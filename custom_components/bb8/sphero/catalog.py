"""The Sphero family: each model's name prefix, the name people know it by, protocol and parts.

A toy says which model it is only by the prefix of the name it advertises (``BB-B54A``); the
prefixes and names are spherov2 0.12.1's ``ToyType``s. What each model has is read from
spherov2's toy classes and the design brief's protocol notes:

* The v1 toys speak one command set: spherov2's ``Sprk2`` subclasses ``BB8``, which subclasses
  ``Ollie``, which subclasses ``Sphero``, and none of them adds or removes a driving, light or
  sensor command. So all three have the RGB main LED, the blue aiming light (back LED),
  stabilization, the sensor stream (locator, attitude) and collision and power notifications.
  They differ in body only: the BB-8's head rides on a magnet and self level (0x09) brings it
  upright (bb8-esphome's "center head"); the SPRK+ is a clear ball and the Ollie a two-wheeled
  cylinder, so self level centres nothing a person can see. The v1 API sets one pair of
  voltage trip points for all of them (a two-cell pack).
* The v2 toys are listed so that a name can be told apart from a stranger's, and so that what
  they will need is written down once; nothing drives them yet (``supported`` is False), so the
  integration neither discovers nor offers them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Feature(StrEnum):
    """A part or report of a toy that the Home Assistant layer shows as an entity or an action."""

    MAIN_LED = "main_led"
    """The body's RGB LED."""
    AIMING_LIGHT = "aiming_light"
    """A single-colour light marking the back, used to aim (v1: the back LED, 0x21)."""
    HEAD = "head"
    """A head that self level (0x09) centres."""
    STABILIZATION = "stabilization"
    COLLISIONS = "collisions"
    MOTION = "motion"
    """The sensor stream: locator (position, speed) and attitude."""
    CHARGING = "charging"
    BATTERY_PERCENT = "battery_percent"
    """A battery percentage the toy reports itself (v2 13/10); without it, one estimated from volts."""
    FRONT_BACK_LEDS = "front_back_leds"
    HOLO_PROJECTOR = "holo_projector"
    LOGIC_DISPLAYS = "logic_displays"
    DOME = "dome"
    STANCE = "stance"
    ANIMATIONS = "animations"
    SOUNDS = "sounds"
    MATRIX = "matrix"


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One Sphero model."""

    key: str
    """Stable id (spherov2's class name in lower case); kept in config entries."""
    name: str
    """The model's name as people know it (the device page's model)."""
    prefix: str
    """How its advertised name starts."""
    protocol: str
    """``v1`` (Sphero API 1.x) or ``v2``."""
    features: frozenset[Feature]

    @property
    def supported(self) -> bool:
        """Whether this package drives the model (the v1 protocol only, so far)."""
        return self.protocol == "v1"

    def has(self, feature: Feature) -> bool:
        """Whether the model has ``feature``."""
        return feature in self.features


_V1_COMMON: Final = frozenset(
    {
        Feature.MAIN_LED,
        Feature.AIMING_LIGHT,
        Feature.STABILIZATION,
        Feature.COLLISIONS,
        Feature.MOTION,
        Feature.CHARGING,
    }
)
_V2_DRIVING: Final = frozenset({Feature.COLLISIONS, Feature.MOTION})
_DROID: Final = _V2_DRIVING | {
    Feature.FRONT_BACK_LEDS,
    Feature.HOLO_PROJECTOR,
    Feature.LOGIC_DISPLAYS,
    Feature.DOME,
    Feature.STANCE,
    Feature.ANIMATIONS,
    Feature.SOUNDS,
}

BB8: Final = CatalogEntry("bb8", "BB-8", "BB-", "v1", _V1_COMMON | {Feature.HEAD})
SPRK_PLUS: Final = CatalogEntry("sprk2", "SPRK+", "SK-", "v1", _V1_COMMON)
OLLIE: Final = CatalogEntry("ollie", "Ollie", "2B-", "v1", _V1_COMMON)

CATALOG: Final[tuple[CatalogEntry, ...]] = (
    BB8,
    SPRK_PLUS,
    OLLIE,
    CatalogEntry(
        "bb9e", "BB-9E", "GB-", "v2", _V2_DRIVING | {Feature.MAIN_LED, Feature.ANIMATIONS, Feature.SOUNDS}
    ),
    CatalogEntry("r2d2", "R2-D2", "D2-", "v2", _DROID),
    CatalogEntry("r2q5", "R2-Q5", "Q5-", "v2", _DROID),
    CatalogEntry(
        "mini", "Sphero Mini", "SM-", "v2", _V2_DRIVING | {Feature.MAIN_LED, Feature.BATTERY_PERCENT}
    ),
    CatalogEntry(
        "bolt", "BOLT", "SB-", "v2", _V2_DRIVING | {Feature.MAIN_LED, Feature.MATRIX, Feature.CHARGING}
    ),
)
"""Every model, v1 first."""

BY_KEY: Final[dict[str, CatalogEntry]] = {entry.key: entry for entry in CATALOG}


def model_for_name(name: str | None) -> CatalogEntry | None:
    """Return the model whose prefix ``name`` (an advertised name) starts with, or None."""
    return next((entry for entry in CATALOG if name and name.startswith(entry.prefix)), None)
