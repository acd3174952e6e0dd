"""Simulated Sphero v2 toys (BB-9E, R2-D2, R2-Q5, Mini, BOLT) beside the v1 BB-8.

:mod:`.protocol` and :mod:`.codec` are the simulator's own reading of the v2 API (framing,
checksum, escaping, ids), :mod:`.models` what each model has, :mod:`.toy` the toy. They share
the BB-8's transport seams (registry, bleak backend, simulated proxy) and nothing with
``custom_components``. ``docs/family.md`` says, per model, what came from captures and what from
the spec alone.
"""

from __future__ import annotations

from .codec import FrameReader, V2Packet, checksum, decode, escape, unescape
from .models import MODELS, V2Model, model_for_name
from .toy import SimulatedV2Toy, V2CollisionConfig, V2Request

__all__ = [
    "MODELS",
    "FrameReader",
    "SimulatedV2Toy",
    "V2CollisionConfig",
    "V2Model",
    "V2Packet",
    "V2Request",
    "checksum",
    "decode",
    "escape",
    "model_for_name",
    "unescape",
]
