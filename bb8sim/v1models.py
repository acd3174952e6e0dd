"""The v1 family the simulated BB-8 also plays: BB-8, SPRK+ and Ollie, by name prefix and parts.

All three speak the Sphero API 1.x over the same GATT services and handshake (spherov2 0.12.1:
``Sprk2`` subclasses ``BB8``, which subclasses ``Ollie``, which subclasses ``Sphero``; one
command set, only the name and ``ToyType`` differ). What sets them apart is the body:

* BB-8 (``BB-``): a head on a magnet, which self level (0x09) centres (bb8-esphome's "center
  head"); the blue tail light (back LED, 0x21).
* SPRK+ (``SK-``): a clear ball with the same blue aiming light; no head.
* Ollie (``2B-``): a two-wheeled cylinder; spherov2 gives it the Sphero's back LED command and
  the API 1.x has no model switch for it, so the simulator keeps it (no capture of an Ollie says
  otherwise); no head.

The simulator serves each with the BB-8's captured GATT table and advertisement: no capture of a
SPRK+ or an Ollie was found, so beyond the name prefix and these parts nothing is known to differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class V1Model:
    """One v1 model as the simulator plays it."""

    key: str
    display_name: str
    name_prefix: str
    has_head: bool
    has_tail_light: bool

    def default_name(self, address: str) -> str:
        """Return the advertised name: the prefix and the last four hex digits of the address."""
        digits = "".join(ch for ch in address.upper() if ch in "0123456789ABCDEF")
        return f"{self.name_prefix}{digits[-4:]}"


BB8: Final = V1Model("bb8", "BB-8", "BB-", has_head=True, has_tail_light=True)
SPRK_PLUS: Final = V1Model("sprk2", "Sphero SPRK+", "SK-", has_head=False, has_tail_light=True)
OLLIE: Final = V1Model("ollie", "Ollie", "2B-", has_head=False, has_tail_light=True)

V1_MODELS: Final[dict[str, V1Model]] = {model.key: model for model in (BB8, SPRK_PLUS, OLLIE)}
"""Every simulated v1 model by key."""
