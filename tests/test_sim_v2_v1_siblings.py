"""The v1 siblings in the simulator: SPRK+ and Ollie, the BB-8's protocol under their own names.

spherov2's own ``Sprk2`` and ``Ollie`` toys drive them (the peer check the BB-8 has), and the
model table's prefixes are held against spherov2's ``ToyType``s.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from spherov2.commands.sphero import ReverseFlags, RollModes
from spherov2.controls.v1 import Packet
from spherov2.toy.bb8 import BB8
from spherov2.toy.ollie import Ollie
from spherov2.toy.sprk2 import Sprk2

from bb8sim import SimulatedBB8, registry
from bb8sim.testing import spherov2_adapter
from bb8sim.v1models import V1_MODELS

ADDRESS = "C4:1B:2A:3D:B5:4A"


@pytest.mark.parametrize(("key", "toy_class"), [("bb8", BB8), ("sprk2", Sprk2), ("ollie", Ollie)])
def test_each_v1_model_is_named_by_spherov2s_prefix(key: str, toy_class: type) -> None:
    toy = SimulatedBB8(ADDRESS, toy_model=key)
    assert toy.name == f"{toy_class.toy_type.prefix}B54A"
    assert toy.advertisement.local_name == toy.name
    assert toy.toy_model is V1_MODELS[key]


def test_only_the_bb8_has_a_head() -> None:
    assert {key for key, model in V1_MODELS.items() if model.has_head} == {"bb8"}
    assert all(model.has_tail_light for model in V1_MODELS.values())


@pytest.mark.parametrize(("key", "toy_class"), [("sprk2", Sprk2), ("ollie", Ollie)])
async def test_spherov2_drives_the_v1_sibling(key: str, toy_class: type) -> None:
    toy = registry.register(SimulatedBB8(ADDRESS, toy_model=key, battery_voltage=7.9))
    adapter = spherov2_adapter(asyncio.get_running_loop(), bridge_timeout=10.0)

    def run() -> Any:
        with toy_class(toy, adapter) as peer:
            peer.wake()
            peer.set_main_led(0, 255, 0)
            peer.set_back_led_brightness(255)
            peer.roll(90, 45, RollModes.GO, ReverseFlags.OFF)
            return peer.get_power_state()

    try:
        power = await asyncio.to_thread(run)
    finally:
        registry.unregister(ADDRESS)
    assert power.voltage == pytest.approx(7.9)
    assert (toy.main_led, toy.back_led, toy.speed, toy.heading) == ((0, 255, 0), 255, 90, 45)
    parsed: list[Any] = []
    collector = Packet.Collector(parsed.append)
    for chunk in toy.notifications:
        collector.add(bytearray(chunk))
    assert len(parsed) == len(toy.sent_packets)
