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
* The v2 toys (BB-9E, R2-D2, R2-Q5, Mini, BOLT) speak the second protocol (``sphero_v2``):
  each model's ``toy_model`` is how the session speaks to it. Their features are what the
  integration drives of them so far: drive, battery, sleep and wake, collisions, motion, the
  body's colour and the aiming and head LEDs where they have them, the R2 units' parts (LEDs,
  dome, stance, animations, sounds) and the BB-9E's animations (spherov2's ``BB9E`` plays them
  with the R2's command, its own numbers: each model's names are in ``droid_names``; spherov2
  gives it no sounds). The v1 verbs (aim, heading, stabilization) are not built for them, so they
  are not listed.
* Motion: every v2 model's ``sensors`` table in spherov2 (the BB-9E's, which the R2-D2 and R2-Q5
  inherit; the Mini's; the BOLT's) streams the attitude (pitch, roll, yaw), the locator's
  position and its velocity on the same bits (``motion_v2``), so all five have it. None lacks
  one of the values the motion entities show.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from . import sphero_v2
from .models import ToyModel
from .sphero_v1 import SPHERO_V1


class Feature(StrEnum):
    """A part or report of a toy that the Home Assistant layer shows as an entity or an action."""

    MAIN_LED = "main_led"
    """The body's RGB LED."""
    AIMING_LIGHT = "aiming_light"
    """A single-colour light marking the back, used to aim (v1: the back LED, 0x21; a Mini's and a
    BB-9E's aiming LED): the Tail light."""
    HEAD_LIGHT = "head_light"
    """A single-colour LED in the head (a BB-9E's): the Head light."""
    HEAD = "head"
    """A head that self level (0x09) centres."""
    HEADING = "heading"
    """Aim (turn in place, tail light on) and set heading (v1's 0x01): the aim number, the Reset
    heading button, the ``bb8.aim`` and ``bb8.set_heading`` actions."""
    BATTERY_ESTIMATE = "battery_estimate"
    """A two-cell pack whose charge is estimated from its voltage (``battery_percent_from_voltage``)."""
    STABILIZATION = "stabilization"
    COLLISIONS = "collisions"
    MOTION = "motion"
    """The sensor stream: locator (position, speed) and attitude; the Reset position button."""
    CHARGING = "charging"
    BATTERY_PERCENT = "battery_percent"
    """A battery percentage the toy reports itself (v2 13/10); without it, one estimated from volts."""
    FRONT_BACK_LEDS = "front_back_leds"
    HOLO_PROJECTOR = "holo_projector"
    LOGIC_DISPLAYS = "logic_displays"
    DOME = "dome"
    STANCE = "stance"
    ANIMATIONS = "animations"
    """Animations (17/05, their end 17/11), named by the model's own table (``droid_names``)."""
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
    toy_model: ToyModel
    """How the session speaks to it (``sphero_v1.SPHERO_V1`` or its ``sphero_v2`` model)."""

    @property
    def supported(self) -> bool:
        """Whether this package drives the model: every model listed here (RVR is not listed)."""
        return self.protocol in ("v1", "v2")

    def has(self, feature: Feature) -> bool:
        """Whether the model has ``feature``."""
        return feature in self.features


_V1_COMMON: Final = frozenset(
    {
        Feature.MAIN_LED,
        Feature.AIMING_LIGHT,
        Feature.HEADING,
        Feature.STABILIZATION,
        Feature.COLLISIONS,
        Feature.MOTION,
        Feature.CHARGING,
        Feature.BATTERY_ESTIMATE,
    }
)
_V2_DRIVING: Final = frozenset({Feature.COLLISIONS, Feature.MOTION})
"""Every v2 toy streams collisions (18/11 arms them, 18/12 reports) and motion (18/00, 18/02)."""
_DROID: Final = _V2_DRIVING | {
    Feature.FRONT_BACK_LEDS,
    Feature.HOLO_PROJECTOR,
    Feature.LOGIC_DISPLAYS,
    Feature.DOME,
    Feature.STANCE,
    Feature.ANIMATIONS,
    Feature.SOUNDS,
}

BB8: Final = CatalogEntry("bb8", "BB-8", "BB-", "v1", _V1_COMMON | {Feature.HEAD}, SPHERO_V1)
SPRK_PLUS: Final = CatalogEntry("sprk2", "SPRK+", "SK-", "v1", _V1_COMMON, SPHERO_V1)
OLLIE: Final = CatalogEntry("ollie", "Ollie", "2B-", "v1", _V1_COMMON, SPHERO_V1)

CATALOG: Final[tuple[CatalogEntry, ...]] = (
    BB8,
    SPRK_PLUS,
    OLLIE,
    CatalogEntry(
        "bb9e",
        "BB-9E",
        "GB-",
        "v2",
        _V2_DRIVING | {Feature.MAIN_LED, Feature.AIMING_LIGHT, Feature.HEAD_LIGHT, Feature.ANIMATIONS},
        sphero_v2.BB9E,
    ),
    CatalogEntry("r2d2", "R2-D2", "D2-", "v2", _DROID, sphero_v2.R2D2),
    CatalogEntry("r2q5", "R2-Q5", "Q5-", "v2", _DROID, sphero_v2.R2Q5),
    CatalogEntry(
        "mini",
        "Sphero Mini",
        "SM-",
        "v2",
        _V2_DRIVING | {Feature.MAIN_LED, Feature.AIMING_LIGHT, Feature.BATTERY_PERCENT},
        sphero_v2.MINI,
    ),
    CatalogEntry(
        "bolt",
        "BOLT",
        "SB-",
        "v2",
        _V2_DRIVING | {Feature.MAIN_LED, Feature.MATRIX, Feature.CHARGING},
        sphero_v2.BOLT,
    ),
)
"""Every model, v1 first."""

BY_KEY: Final[dict[str, CatalogEntry]] = {entry.key: entry for entry in CATALOG}


def model_for_name(name: str | None) -> CatalogEntry | None:
    """Return the model whose prefix ``name`` (an advertised name) starts with, or None."""
    return next((entry for entry in CATALOG if name and name.startswith(entry.prefix)), None)
