"""An automation written in YAML, as a user would, run against the simulated toy."""

from __future__ import annotations

from homeassistant.components.automation import DOMAIN as AUTOMATION_DOMAIN
from homeassistant.const import STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import parse_yaml
import pytest

from bb8sim import SimulatedBB8

from .conftest import state_of, wait_for

AUTOMATION_YAML = """
automation:
  - alias: "BB-8 backs off and blushes after a bump"
    id: bb8_bump
    triggers:
      - trigger: state
        entity_id: event.bb_b54a_collision
        # Not when the toy merely becomes unavailable or available again.
        not_from: unavailable
        not_to: unavailable
    actions:
      - action: bb8.roll
        data:
          device_id: {device_id}
          heading: 180
          speed: 60
          duration: 0.2
      - action: light.turn_on
        target:
          entity_id: light.bb_b54a_main_led
        data:
          rgb_color: [255, 0, 0]
          brightness: 128
"""


def _rolls(toy: SimulatedBB8) -> list[tuple[int, int, int]]:
    return [
        (record.data[0], int.from_bytes(record.data[1:3]), record.data[3])
        for record in toy.commands_received
        if record.kind == "roll"
    ]


@pytest.fixture
async def automation(hass: HomeAssistant, device_id: str) -> None:
    """The YAML automation, loaded through Home Assistant's automation integration."""
    config = parse_yaml(AUTOMATION_YAML.format(device_id=device_id))
    assert await async_setup_component(hass, AUTOMATION_DOMAIN, config)
    await hass.async_block_till_done()
    state = state_of(hass, "automation.bb_8_backs_off_and_blushes_after_a_bump")
    assert state.state == STATE_ON


@pytest.mark.usefixtures("automation")
async def test_collision_makes_the_automation_roll_back_and_light_up(
    hass: HomeAssistant, toy: SimulatedBB8
) -> None:
    assert _rolls(toy) == []
    assert toy.trigger_collision(x_magnitude=350)
    # The roll lasts 0.2 s, then the toy stops and the light turns red.
    await wait_for(lambda: toy.main_led == (128, 0, 0))
    assert not toy.rolling
    rolls = _rolls(toy)
    assert rolls[0] == (60, 180, 1)
    assert (rolls[-1][0], rolls[-1][2]) == (0, 0), "stopped after the duration"
    state = state_of(hass, "light.bb_b54a_main_led")
    assert state.state == STATE_ON
    assert state.attributes["rgb_color"] == (255, 0, 0)
    automation = state_of(hass, "automation.bb_8_backs_off_and_blushes_after_a_bump")
    assert automation.attributes["last_triggered"] is not None


@pytest.mark.usefixtures("automation")
async def test_automation_does_not_run_without_a_collision(hass: HomeAssistant, toy: SimulatedBB8) -> None:
    # A collision under the toy's threshold is not reported, so nothing happens.
    assert not toy.trigger_collision(x_magnitude=50)
    await hass.async_block_till_done()
    assert _rolls(toy) == []
    assert toy.main_led == (0, 0, 0), "as set up: off"
    automation = state_of(hass, "automation.bb_8_backs_off_and_blushes_after_a_bump")
    assert automation.attributes["last_triggered"] is None
