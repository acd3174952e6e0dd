"""The main LED and the tail light, driven through Home Assistant's light actions."""

from __future__ import annotations

from typing import Any

from homeassistant.components.light import (
    ATTR_BRIGHTNESS,
    ATTR_COLOR_MODE,
    ATTR_HS_COLOR,
    ATTR_RGB_COLOR,
    ColorMode,
)
from homeassistant.const import ATTR_ENTITY_ID, STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bb8sim import SimulatedBB8

from .conftest import bring_back, light_colour, state_of, toy_is_set_up, wait_for

BOTH_PROXY_PATHS = True  # run through the project's scanner and through the real esphome stack

MAIN_LED = "light.bb_b54a_main_led"
TAIL_LIGHT = "light.bb_b54a_tail_light"

pytestmark = pytest.mark.usefixtures("ready_entry")


async def _light(hass: HomeAssistant, action: str, entity_id: str, **data: Any) -> None:
    await hass.services.async_call("light", action, {ATTR_ENTITY_ID: entity_id, **data}, blocking=True)


async def test_main_led_of_a_toy_never_set_starts_off_and_the_toy_shows_it(
    hass: HomeAssistant, toy: SimulatedBB8
) -> None:
    # The toy cannot be asked its colour, so Home Assistant writes a defined one: off.
    state = state_of(hass, MAIN_LED)
    assert state.state == STATE_OFF
    assert toy.main_led == (0, 0, 0)
    assert state.attributes["supported_color_modes"] == [ColorMode.RGB]


async def test_main_led_shows_the_colour_at_full_brightness(hass: HomeAssistant, toy: SimulatedBB8) -> None:
    await _light(hass, "turn_on", MAIN_LED, **{ATTR_RGB_COLOR: (255, 0, 0), ATTR_BRIGHTNESS: 255})
    assert toy.main_led == (255, 0, 0)
    state = state_of(hass, MAIN_LED)
    assert state.state == STATE_ON
    assert state.attributes[ATTR_RGB_COLOR] == (255, 0, 0)
    assert state.attributes[ATTR_BRIGHTNESS] == 255
    assert state.attributes[ATTR_COLOR_MODE] == ColorMode.RGB


@pytest.mark.parametrize(
    ("rgb", "brightness", "on_the_toy"),
    [
        # The toy has no brightness of its own: half brightness is half of every channel.
        pytest.param((0, 128, 255), 128, (0, 64, 128), id="brightness scales the colour"),
        # A dim red at full brightness is a dim red on the toy, not a full red.
        pytest.param((128, 0, 0), 255, (128, 0, 0), id="full brightness shows the colour as given"),
        # 100, 50, 3 x 128/255 = 50.2, 25.1, 1.5.
        pytest.param((100, 50, 3), 128, (50, 25, 2), id="rounded to whole channel values"),
    ],
)
async def test_toy_shows_rgb_times_brightness_and_the_state_what_was_asked(
    hass: HomeAssistant,
    toy: SimulatedBB8,
    rgb: tuple[int, int, int],
    brightness: int,
    on_the_toy: tuple[int, int, int],
) -> None:
    """Home Assistant's RGB rule: overall brightness is brightness/255 x max(rgb)/255."""
    await _light(hass, "turn_on", MAIN_LED, **{ATTR_RGB_COLOR: rgb, ATTR_BRIGHTNESS: brightness})
    assert toy.main_led == on_the_toy
    assert light_colour(hass, MAIN_LED) == (rgb, brightness)


async def test_brightness_alone_keeps_the_colour(hass: HomeAssistant, toy: SimulatedBB8) -> None:
    await _light(hass, "turn_on", MAIN_LED, **{ATTR_RGB_COLOR: (255, 0, 255)})
    await _light(hass, "turn_on", MAIN_LED, **{ATTR_BRIGHTNESS: 51})
    assert toy.main_led == (51, 0, 51)


async def test_colour_alone_keeps_the_brightness(hass: HomeAssistant, toy: SimulatedBB8) -> None:
    await _light(hass, "turn_on", MAIN_LED, **{ATTR_RGB_COLOR: (255, 0, 0), ATTR_BRIGHTNESS: 100})
    await _light(hass, "turn_on", MAIN_LED, **{ATTR_RGB_COLOR: (0, 0, 255)})
    assert toy.main_led == (0, 0, 100)


async def test_hue_and_saturation_reach_the_toy_as_rgb(hass: HomeAssistant, toy: SimulatedBB8) -> None:
    await _light(hass, "turn_on", MAIN_LED, **{ATTR_HS_COLOR: (120, 100), ATTR_BRIGHTNESS: 255})
    assert toy.main_led == (0, 255, 0)


async def test_turn_off_shows_black(hass: HomeAssistant, toy: SimulatedBB8) -> None:
    await _light(hass, "turn_on", MAIN_LED, **{ATTR_RGB_COLOR: (0, 255, 0)})
    await _light(hass, "turn_off", MAIN_LED)
    assert toy.main_led == (0, 0, 0)
    state = state_of(hass, MAIN_LED)
    assert state.state == STATE_OFF
    assert state.attributes.get(ATTR_BRIGHTNESS) is None


async def test_turn_on_without_arguments_restores_the_last_colour_and_brightness(
    hass: HomeAssistant, toy: SimulatedBB8
) -> None:
    await _light(hass, "turn_on", MAIN_LED, **{ATTR_RGB_COLOR: (0, 255, 0), ATTR_BRIGHTNESS: 100})
    await _light(hass, "turn_off", MAIN_LED)
    await _light(hass, "turn_on", MAIN_LED)
    assert toy.main_led == (0, 100, 0)
    assert state_of(hass, MAIN_LED).state == STATE_ON
    assert light_colour(hass, MAIN_LED) == ((0, 255, 0), 100)


async def test_first_turn_on_without_arguments_is_full_white(hass: HomeAssistant, toy: SimulatedBB8) -> None:
    await _light(hass, "turn_off", MAIN_LED)
    assert toy.main_led == (0, 0, 0)
    await _light(hass, "turn_on", MAIN_LED)
    assert toy.main_led == (255, 255, 255)


async def test_main_led_colour_is_sent_as_temporary(hass: HomeAssistant, toy: SimulatedBB8) -> None:
    # FLAG 1 would persist the colour to the toy's flash on every change.
    await _light(hass, "turn_on", MAIN_LED, **{ATTR_RGB_COLOR: (10, 20, 30), ATTR_BRIGHTNESS: 30})
    assert toy.persist_writes == 0
    assert toy.persisted_led == (255, 255, 255)


async def test_tail_light_brightness_reaches_the_toy(hass: HomeAssistant, toy: SimulatedBB8) -> None:
    state = state_of(hass, TAIL_LIGHT)
    assert state.attributes["supported_color_modes"] == [ColorMode.BRIGHTNESS]

    await _light(hass, "turn_on", TAIL_LIGHT, **{ATTR_BRIGHTNESS: 100})
    assert toy.back_led == 100
    state = state_of(hass, TAIL_LIGHT)
    assert state.state == STATE_ON
    assert state.attributes[ATTR_BRIGHTNESS] == 100

    await _light(hass, "turn_off", TAIL_LIGHT)
    assert toy.back_led == 0
    state = state_of(hass, TAIL_LIGHT)
    assert state.state == STATE_OFF


async def test_tail_light_turns_on_at_full_then_at_its_last_brightness(
    hass: HomeAssistant, toy: SimulatedBB8
) -> None:
    await _light(hass, "turn_on", TAIL_LIGHT)
    assert toy.back_led == 255
    await _light(hass, "turn_on", TAIL_LIGHT, **{ATTR_BRIGHTNESS: 40})
    await _light(hass, "turn_off", TAIL_LIGHT)
    await _light(hass, "turn_on", TAIL_LIGHT)
    assert toy.back_led == 40


async def test_lights_are_restored_after_the_link_drops(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    await _light(hass, "turn_on", MAIN_LED, **{ATTR_RGB_COLOR: (255, 0, 0), ATTR_BRIGHTNESS: 200})
    await _light(hass, "turn_on", TAIL_LIGHT, **{ATTR_BRIGHTNESS: 90})
    # The toy falls asleep by itself (forgetting both), then is woken from Home Assistant.
    toy.sleep_now()
    assert toy.main_led == (255, 255, 255)
    assert toy.back_led == 0
    await wait_for(lambda: not ready_entry.runtime_data.session.is_connected)
    await hass.services.async_call("button", "press", {ATTR_ENTITY_ID: "button.bb_b54a_wake"}, blocking=True)
    await wait_for(toy_is_set_up(ready_entry, toy))
    assert toy.main_led == (200, 0, 0)
    assert toy.back_led == 90
    state = state_of(hass, MAIN_LED)
    assert state.state == STATE_ON
    assert state.attributes[ATTR_RGB_COLOR] == (255, 0, 0)


async def test_light_on_an_unreachable_toy_says_it_could_not_connect_and_keeps_the_wish(
    hass: HomeAssistant, unreachable_toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    toy = unreachable_toy
    with pytest.raises(HomeAssistantError) as caught:
        await _light(hass, "turn_on", MAIN_LED, **{ATTR_RGB_COLOR: (0, 0, 255)})
    assert caught.value.translation_key == "cannot_connect"
    with pytest.raises(HomeAssistantError) as caught:
        await _light(hass, "turn_off", TAIL_LIGHT)
    assert caught.value.translation_key == "cannot_connect"

    # The wish is kept: once the toy is back, it shows the colour asked for while it was away.
    # Each failed use also let the reconnect loop try (and wait longer): 2, 4, then 8 s.
    await bring_back(hass, ready_entry, toy, after=20)
    assert toy.main_led == (0, 0, 255)
    state = state_of(hass, MAIN_LED)
    assert state.state == STATE_ON
    assert state.attributes[ATTR_RGB_COLOR] == (0, 0, 255)


async def test_a_colour_change_writes_only_the_lights_state(
    hass: HomeAssistant, ready_entry: MockConfigEntry
) -> None:
    """RequestedSettings reach only the entity that shows them, not all of the toy's entities."""
    await hass.async_block_till_done()
    changed: list[str] = []
    unsubscribe = hass.bus.async_listen(
        "state_changed", lambda event: changed.append(event.data["entity_id"])
    )
    await hass.services.async_call(
        "light", "turn_on", {"entity_id": "light.bb_b54a_main_led", "rgb_color": [1, 2, 250]}, blocking=True
    )
    await hass.async_block_till_done()
    unsubscribe()
    assert changed == ["light.bb_b54a_main_led"]
