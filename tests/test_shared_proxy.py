"""One proxy, more on-demand toys than it has connection slots: every toy is still served.

Four BB-8s behind one simulated ESPHome proxy with three connection slots, in on-demand mode,
used one after another for a simulated hour. A use either works or fails with the translated
out-of-slots error; a person who retries at once is served within one idle timeout (the
longest a link stays up after its last use) plus the time the connects take. This is what the
on-demand mode promises a proxy's few slots, and what a link held for ever by polls broke.
"""

from __future__ import annotations

from collections import Counter
from itertools import cycle

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bb8sim import SimClock, SimulatedBB8
from bb8sim.proxy import SimProxy
from custom_components.bb8.const import (
    CONF_CONNECTION_MODE,
    CONF_IDLE_TIMEOUT,
    DOMAIN,
    MODE_ON_DEMAND,
    OPTION_DEFAULTS,
)

from .conftest import LoopClock, make_entry

DEFAULT_IDLE_TIMEOUT = OPTION_DEFAULTS[CONF_IDLE_TIMEOUT]

ADDRESSES = ("F1:2C:3D:4E:B5:4A", "E8:11:22:33:C0:DE", "D4:55:66:77:0A:11", "C2:99:88:77:1B:22")
HOUR = 3600.0
BETWEEN_USES = 5.0
"""Short enough that a toy's turn often comes while the other three still hold the slots."""


@pytest.fixture
async def on_demand_toys(
    hass: HomeAssistant, proxy: SimProxy, sim_clock: SimClock
) -> list[tuple[SimulatedBB8, MockConfigEntry]]:
    """Four toys behind the one proxy, each set up in on-demand mode (nothing connected yet)."""
    assert proxy.slots == 3
    toys = []
    for seed, address in enumerate(ADDRESSES):
        toy = SimulatedBB8(address, clock=sim_clock, seed=seed)
        proxy.advertise(toy)
        entry = make_entry(toy, **{CONF_CONNECTION_MODE: MODE_ON_DEMAND})
        entry.add_to_hass(hass)
        toys.append((toy, entry))
    for _, entry in toys:
        if entry.state is ConfigEntryState.NOT_LOADED:  # the first set-up loads them all
            assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert proxy.slots_in_use == 0
    return toys


def main_led_of(hass: HomeAssistant, toy: SimulatedBB8) -> str:
    entity_id = er.async_get(hass).async_get_entity_id("light", DOMAIN, f"{toy.address}_main_led")
    assert entity_id is not None
    return entity_id


async def use(
    hass: HomeAssistant, loop_clock: LoopClock, entity_id: str, rgb: tuple[int, int, int]
) -> HomeAssistantError | None:
    """Turn the light on while simulated time passes; return the error it failed with, if any."""
    call = hass.async_create_task(
        hass.services.async_call(
            "light", "turn_on", {ATTR_ENTITY_ID: entity_id, "rgb_color": rgb}, blocking=True
        )
    )
    while not call.done():
        await loop_clock.advance(0.5, 0.5)
    try:
        await call
    except HomeAssistantError as err:
        return err
    return None


async def test_four_on_demand_toys_share_three_slots_for_an_hour_and_each_is_served_in_time(
    hass: HomeAssistant,
    proxy: SimProxy,
    on_demand_toys: list[tuple[SimulatedBB8, MockConfigEntry]],
    loop_clock: LoopClock,
) -> None:
    outcomes: Counter[str] = Counter()
    waits: list[float] = []
    colours = cycle([(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)])
    served = Counter[str]()
    for toy, _entry in cycle(on_demand_toys):
        if loop_clock.elapsed >= HOUR:
            break
        entity_id = main_led_of(hass, toy)
        rgb = next(colours)
        asked = loop_clock.elapsed
        failed_attempt = 0.0
        while True:
            attempt_start = loop_clock.elapsed
            error = await use(hass, loop_clock, entity_id, rgb)
            if error is None:
                break
            assert error.translation_key == "out_of_slots", error
            assert error.translation_placeholders == {"name": toy.name}
            assert "no free connection slot" in str(error)
            outcomes["out_of_slots"] += 1
            failed_attempt = max(failed_attempt, loop_clock.elapsed - attempt_start)
            assert loop_clock.elapsed - asked < 2 * DEFAULT_IDLE_TIMEOUT, "never served"
            # The person tries again at once.
        connect_time = loop_clock.elapsed - attempt_start
        outcomes["served"] += 1
        served[toy.name] += 1
        assert toy.main_led == rgb
        waits.append(loop_clock.elapsed - asked)
        # A slot frees at the latest one idle timeout after the attempt that found none began.
        assert loop_clock.elapsed - asked <= DEFAULT_IDLE_TIMEOUT + failed_attempt + connect_time
        assert proxy.slots_in_use <= proxy.slots
        await loop_clock.advance(BETWEEN_USES, step=2.0)

    assert outcomes["out_of_slots"] > 0, "the scenario did run out of slots"
    assert set(served) == {toy.name for toy, _ in on_demand_toys}
    assert min(served.values()) >= 10
    assert max(waits) <= DEFAULT_IDLE_TIMEOUT + 30
