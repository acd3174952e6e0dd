"""An R2-D2's and R2-Q5's droid parts through Home Assistant, against the simulated toy.

Front and back LEDs, logic displays and holo projector as lights (re-applied after a reconnect
and a wake), the dome as a number, stance, animations and sounds as selects, the
``bb8.play_animation`` and ``bb8.play_sound`` actions and the animation's end as an event: each
driven through a real ``hass`` against ``bb8sim.v2.SimulatedV2Toy`` (written from the spec and
the captures, never from ``custom_components``), on the project's scanner and through the
simulated ESPHome node. The animation and sound names are held against the installed spherov2.
"""

from __future__ import annotations

from datetime import timedelta
import json
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import ATTR_ENTITY_ID, STATE_OFF, STATE_ON, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.setup import async_setup_component
import homeassistant.util.dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from spherov2.toy.r2d2 import R2D2
from spherov2.toy.r2q5 import R2Q5
import voluptuous as vol
import yaml

from bb8sim import SimClock
from bb8sim.proxy import SimProxy
from bb8sim.v2 import SimulatedV2Toy
from custom_components.bb8.const import CONF_CONNECTION_MODE, CONF_IDLE_TIMEOUT, DOMAIN, MODE_ON_DEMAND
from custom_components.bb8.sphero.catalog import CATALOG, Feature
from custom_components.bb8.sphero.droid_names import ANIMATION_NAMES, ANIMATIONS, BB9E_ANIMATIONS, SOUNDS

from .conftest import TOY_ADDRESS, LoopClock, change_options, device_id_of, state_of, wait_for
from .esphome_support import NodePath
from .test_family_v1 import entity_keys, entity_of, translations
from .test_family_v2 import (
    DROID_PARTS,
    EVERY_MODEL_HAS,
    add_through_discovery,
    advertised,
    every_write_is_a_v2_frame,
    press,
    v2_is_set_up,
)

BOTH_PROXY_PATHS = True  # run through the project's scanner and through the real esphome stack

ROOT = Path(__file__).resolve().parents[1]
INTEGRATION = ROOT / "custom_components" / DOMAIN
README = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())


@pytest.fixture(params=["r2d2", "r2q5"])
async def droid(
    request: pytest.FixtureRequest, hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock
) -> SimulatedV2Toy:
    """A simulated R2-D2 or R2-Q5, advertised through the proxy."""
    return await advertised(hass, proxy, sim_clock, request.param)


@pytest.fixture
async def droid_entry(hass: HomeAssistant, droid: SimulatedV2Toy) -> ConfigEntry:
    """The droid added through its discovery, connected and set up."""
    return await add_through_discovery(hass, droid)


def eid(hass: HomeAssistant, platform: str, key: str) -> str:
    entity_id = entity_of(hass, platform, TOY_ADDRESS, key)
    assert entity_id is not None, f"no {platform} {key}"
    return entity_id


async def light(hass: HomeAssistant, key: str, service: str, **data: Any) -> None:
    await hass.services.async_call(
        "light", service, {ATTR_ENTITY_ID: eid(hass, "light", key), **data}, blocking=True
    )


async def select(hass: HomeAssistant, key: str, option: str) -> None:
    await hass.services.async_call(
        "select", "select_option", {ATTR_ENTITY_ID: eid(hass, "select", key), "option": option}, blocking=True
    )


def parts(toy: SimulatedV2Toy) -> tuple[Any, ...]:
    return (
        toy.led_group("front"),
        toy.led_group("back"),
        toy.leds["logic_displays"],
        toy.leds["holo_projector"],
    )


# -- what an R2 unit gets --------------------------------------------------------------------------


async def test_an_r2_unit_gets_its_droid_parts_beside_the_common_entities(
    hass: HomeAssistant, droid: SimulatedV2Toy, droid_entry: ConfigEntry
) -> None:
    """README's hardware table: "Front LED, Back LED, Logic displays, Holo projector, Dome, Stance,
    Animation, Sound, Animation finished" (the R2-D2's row and the R2-Q5's)."""
    for row in ("| R2-D2 | `D2-XXXX` | yes |", "| R2-Q5 | `Q5-XXXX` | yes |"):
        assert (
            f"{row} Front LED, Back LED, Logic displays, Holo projector, Dome, Stance, Animation, Sound, "
            "Animation finished |"
        ) in README
    assert entity_keys(hass, droid_entry, TOY_ADDRESS) == EVERY_MODEL_HAS | DROID_PARTS
    names = {state_of(hass, eid(hass, platform, key)).name for platform, key in DROID_PARTS}
    assert names == {
        f"{droid.name} {name}"
        for name in (
            "Front LED",
            "Back LED",
            "Logic displays",
            "Holo projector",
            "Dome",
            "Stance",
            "Animation",
            "Sound",
            "Animation finished",
        )
    }


def test_only_the_r2_units_have_the_droid_parts_in_the_catalog() -> None:
    """Every platform gates these by feature; the catalog gives them to the R2-D2 and R2-Q5 only,
    but for the animations, which the BB-9E has too (its own numbers: tests/test_bb9e_animations.py)."""
    droid_features = {
        Feature.FRONT_BACK_LEDS,
        Feature.HOLO_PROJECTOR,
        Feature.LOGIC_DISPLAYS,
        Feature.DOME,
        Feature.STANCE,
        Feature.ANIMATIONS,
        Feature.SOUNDS,
    }
    for model in CATALOG:
        r2 = model.key in ("r2d2", "r2q5")
        assert (model.features >= droid_features) is r2, model.name
        expected = droid_features if r2 else {Feature.ANIMATIONS} if model.key == "bb9e" else set()
        assert model.features & droid_features == expected, model.name


# -- lights ----------------------------------------------------------------------------------------


async def test_the_droid_lights_show_on_the_toy_and_come_back_after_a_reconnect_and_a_wake(
    hass: HomeAssistant, droid: SimulatedV2Toy, droid_entry: ConfigEntry
) -> None:
    """README: the droid's lights are "re-applied after every reconnect and wake"."""
    assert "re-applied after every reconnect and wake" in README
    await light(hass, "front_led", "turn_on", rgb_color=(255, 0, 0))
    await light(hass, "back_led", "turn_on", rgb_color=(0, 0, 255), brightness=128)
    await light(hass, "logic_displays", "turn_on", brightness=100)
    await light(hass, "holo_projector", "turn_on")
    shown = ((255, 0, 0), (0, 0, 128), 100, 255)
    assert parts(droid) == shown
    assert state_of(hass, eid(hass, "light", "back_led")).attributes["rgb_color"] == (0, 0, 255)
    assert state_of(hass, eid(hass, "light", "logic_displays")).attributes["brightness"] == 100

    # The toy forgets its lights with its link (the simulator keeps them: cleared by hand).
    session = droid_entry.runtime_data.session
    droid.disconnect_now()
    droid.leds.update(dict.fromkeys(droid.leds, 0))
    await wait_for(lambda: not session.is_connected)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=5))
    await wait_for(v2_is_set_up(droid_entry, droid))
    assert parts(droid) == shown

    await press(hass, "sleep")
    await wait_for(lambda: not session.is_connected)
    droid.leds.update(dict.fromkeys(droid.leds, 0))
    await press(hass, "wake")
    await wait_for(v2_is_set_up(droid_entry, droid))
    assert parts(droid) == shown

    await light(hass, "front_led", "turn_off")
    await light(hass, "holo_projector", "turn_off")
    assert parts(droid) == ((0, 0, 0), (0, 0, 128), 100, 0)
    assert state_of(hass, eid(hass, "light", "front_led")).state == STATE_OFF
    assert state_of(hass, eid(hass, "light", "logic_displays")).state == STATE_ON
    every_write_is_a_v2_frame(droid)
    assert all(request.err == 0 for request in droid.requests)


# -- dome and stance -------------------------------------------------------------------------------


async def test_the_dome_number_turns_the_dome_0_centred_within_its_range(
    hass: HomeAssistant, droid: SimulatedV2Toy, droid_entry: ConfigEntry
) -> None:
    """README: Dome "(°, -160 to 180, slider) ... 0 is centred"."""
    assert "| number (°, -160 to 180, slider) |" in README
    assert "0 is centred" in README
    dome = eid(hass, "number", "dome")
    assert state_of(hass, dome).state == STATE_UNKNOWN
    assert (state_of(hass, dome).attributes["min"], state_of(hass, dome).attributes["max"]) == (-160, 180)
    for angle in (90, -160, 180, 0):
        await hass.services.async_call(
            "number", "set_value", {ATTR_ENTITY_ID: dome, "value": angle}, blocking=True
        )
        assert droid.dome_angle == angle
        assert float(state_of(hass, dome).state) == angle
    sent = len(droid.writes)
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            "number", "set_value", {ATTR_ENTITY_ID: dome, "value": 181}, blocking=True
        )
    assert len(droid.writes) == sent
    every_write_is_a_v2_frame(droid)


async def test_the_stance_select_stands_the_droid_on_three_legs_two_or_waddles(
    hass: HomeAssistant, droid: SimulatedV2Toy, droid_entry: ConfigEntry
) -> None:
    """strings.json: the stance options "Tripod (three legs)", "Bipod (two legs)", "Waddle"."""
    stance = eid(hass, "select", "stance")
    assert state_of(hass, stance).attributes["options"] == ["tripod", "bipod", "waddle"]
    states = await translations(hass, "entity")
    assert [
        states[f"component.{DOMAIN}.entity.select.stance.state.{option}"]
        for option in ("tripod", "bipod", "waddle")
    ] == [
        "Tripod (three legs)",
        "Bipod (two legs)",
        "Waddle",
    ]
    for option, number in (("tripod", 1), ("waddle", 3), ("bipod", 2)):
        await select(hass, "stance", option)
        assert int(droid.stance) == number
        assert state_of(hass, stance).state == option


# -- animations and sounds -------------------------------------------------------------------------


async def test_choosing_an_animation_plays_it_and_its_end_fires_the_animation_finished_event(
    hass: HomeAssistant, droid: SimulatedV2Toy, droid_entry: ConfigEntry, sim_clock: SimClock
) -> None:
    """README: Animation finished "Fires `animation_complete` with `animation` (its name)"."""
    assert "Fires `animation_complete` with `animation` (its name)" in README
    event = eid(hass, "event", "animation")
    await select(hass, "animation", "emote_yes")
    assert droid.animation_playing == ANIMATIONS["emote_yes"] == R2D2.Animations.EMOTE_YES
    assert state_of(hass, eid(hass, "select", "animation")).state == "emote_yes"
    assert state_of(hass, event).state == STATE_UNKNOWN
    sim_clock.advance(3.0)
    await wait_for(lambda: state_of(hass, event).attributes.get("event_type") == "animation_complete")
    assert state_of(hass, event).attributes["animation"] == "emote_yes"


async def test_bb8_play_animation_and_play_sound_play_the_named_one(
    hass: HomeAssistant, droid: SimulatedV2Toy, droid_entry: ConfigEntry
) -> None:
    """README: "`bb8.play_animation` | `device_id`, `animation` (a name the Animation select lists)"."""
    assert "| `bb8.play_animation` | `device_id`, `animation` (a name the Animation select lists) |" in README
    assert "| `bb8.play_sound` | `device_id`, `sound` (a name the Sound select lists) |" in README
    device_id = device_id_of(hass, droid_entry)
    await hass.services.async_call(
        DOMAIN, "play_animation", {"device_id": device_id, "animation": "wwm_happy"}, blocking=True
    )
    assert droid.animations_played == [R2D2.Animations.WWM_HAPPY]
    await hass.services.async_call(
        DOMAIN, "play_sound", {"device_id": device_id, "sound": "r2_excited_1"}, blocking=True
    )
    await select(hass, "sound", "r2_laugh_2")
    assert droid.sounds_played == [(R2D2.Audio.R2_EXCITED_1, 0), (R2D2.Audio.R2_LAUGH_2, 0)]
    every_write_is_a_v2_frame(droid)
    assert all(request.err == 0 for request in droid.requests)


async def test_a_name_the_droid_lacks_is_refused_before_anything_is_sent(
    hass: HomeAssistant, droid: SimulatedV2Toy, droid_entry: ConfigEntry
) -> None:
    device_id = device_id_of(hass, droid_entry)
    sent = len(droid.writes)
    for action, data in (("play_animation", {"animation": "dance"}), ("play_sound", {"sound": 1})):
        with pytest.raises(vol.Invalid):
            await hass.services.async_call(DOMAIN, action, {"device_id": device_id, **data}, blocking=True)
    with pytest.raises(ServiceValidationError):
        await select(hass, "animation", "dance")
    assert len(droid.writes) == sent


async def test_play_animation_on_a_toy_without_animations_says_which_models_have_them(
    hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock
) -> None:
    """strings.json: "{name} is a {model}, which {action} cannot drive: it is for the {models} only.
    Nothing was sent to the toy." (README: "On a toy without animations or sounds they say so and
    send nothing"). The animations are the BB-9E's and the R2 units', the sounds the R2 units'."""
    assert "On a toy without animations or sounds they say so and send nothing" in README
    mini = await advertised(hass, proxy, sim_clock, "mini")
    entry = await add_through_discovery(hass, mini)
    sent = len(mini.writes)
    for action, data, models in (
        ("play_animation", {"animation": "emote_yes"}, "BB-9E, R2-D2 and R2-Q5"),
        ("play_sound", {"sound": "r2_hey_1"}, "R2-D2 and R2-Q5"),
    ):
        with pytest.raises(ServiceValidationError) as caught:
            await hass.services.async_call(
                DOMAIN, action, {"device_id": device_id_of(hass, entry), **data}, blocking=True
            )
        # Home Assistant shows the message without its last full stop.
        assert str(caught.value) == (
            f"{mini.name} is a Sphero Mini, which bb8.{action} cannot drive: it is for the {models} "
            "only. Nothing was sent to the toy"
        )
    assert len(mini.writes) == sent


# -- lifecycle -------------------------------------------------------------------------------------


async def test_a_script_stopped_while_an_animation_plays_raises_nothing_and_the_animation_ends(
    hass: HomeAssistant, droid: SimulatedV2Toy, droid_entry: ConfigEntry, sim_clock: SimClock
) -> None:
    """README: "returns once the toy has started it"; a script stopped meanwhile leaves the toy to
    finish it (it ends by itself in seconds) and the event still fires."""
    assert "returns once the toy has started it" in README
    device_id = device_id_of(hass, droid_entry)
    assert await async_setup_component(
        hass,
        "script",
        {
            "script": {
                "droid_show": {
                    "sequence": [
                        {
                            "action": f"{DOMAIN}.play_animation",
                            "data": {"device_id": device_id, "animation": "emote_laugh"},
                        },
                        {"delay": {"seconds": 30}},
                    ]
                }
            }
        },
    )
    await hass.services.async_call("script", "turn_on", {ATTR_ENTITY_ID: "script.droid_show"}, blocking=True)
    await wait_for(lambda: droid.animation_playing == ANIMATIONS["emote_laugh"])
    await hass.services.async_call("script", "turn_off", {ATTR_ENTITY_ID: "script.droid_show"}, blocking=True)
    await hass.async_block_till_done()
    assert state_of(hass, "script.droid_show").state == STATE_OFF
    sim_clock.advance(3.0)
    event = eid(hass, "event", "animation")
    await wait_for(lambda: state_of(hass, event).attributes.get("animation") == "emote_laugh")
    assert droid_entry.runtime_data.session.pending_commands == 0


async def test_a_reload_while_an_animation_plays_sets_the_droid_up_again(
    hass: HomeAssistant, droid: SimulatedV2Toy, droid_entry: ConfigEntry
) -> None:
    await select(hass, "animation", "emote_alarm")
    await light(hass, "holo_projector", "turn_on", brightness=77)
    assert await hass.config_entries.async_reload(droid_entry.entry_id)
    await hass.async_block_till_done()
    await wait_for(v2_is_set_up(droid_entry, droid))
    assert droid.leds["holo_projector"] == 77, "the light's setting came back with the reload"
    await select(hass, "animation", "emote_yes")
    assert droid.animation_playing == ANIMATIONS["emote_yes"]


async def test_an_animation_chosen_while_the_droid_sleeps_wakes_it_as_any_use_does(
    hass: HomeAssistant, droid: SimulatedV2Toy, droid_entry: ConfigEntry
) -> None:
    session = droid_entry.runtime_data.session
    await press(hass, "sleep")
    await wait_for(lambda: not session.is_connected)
    assert not droid.awake
    await select(hass, "animation", "idle_1")
    assert droid.awake
    assert droid.animation_playing == ANIMATIONS["idle_1"]


@pytest.mark.scanner_path_only("simulated loop time; the node's TCP stack runs in real time")
async def test_on_demand_an_animation_connects_its_end_is_heard_and_the_link_is_let_go_after_the_idle_time(
    hass: HomeAssistant, droid: SimulatedV2Toy, droid_entry: ConfigEntry, loop_clock: LoopClock
) -> None:
    """Nothing of the droid keeps an on-demand link up: not a playing animation, not its selects."""
    await change_options(hass, droid_entry, **{CONF_CONNECTION_MODE: MODE_ON_DEMAND, CONF_IDLE_TIMEOUT: 30})
    session = droid_entry.runtime_data.session
    await wait_for(lambda: not session.is_connected and not droid.connected)
    await select(hass, "animation", "emote_surprised")
    assert session.is_connected
    event = eid(hass, "event", "animation")
    await loop_clock.advance_until(
        lambda: state_of(hass, event).attributes.get("animation") is not None, limit=10
    )
    assert state_of(hass, event).attributes["animation"] == "emote_surprised"
    await loop_clock.advance_until(lambda: not droid.connected and not session.is_connected, limit=40)


# -- the names -------------------------------------------------------------------------------------


def test_the_animation_and_sound_names_are_spherov2s_r2d2_enums() -> None:
    """droid_names.py: "Written out from spherov2 0.12.1's ``R2D2.Animations`` and ``R2D2.Audio``";
    "spherov2's R2-Q5 enum lacks the R2-D2's ``MOTOR`` (55), so it is left out"."""
    assert {member.name.lower(): int(member) for member in R2Q5.Animations} == ANIMATIONS
    r2d2 = {member.name.lower(): int(member) for member in R2D2.Animations}
    assert r2d2 == ANIMATIONS | {"motor": 55}, "the R2-D2's, but its MOTOR the R2-Q5 lacks"
    assert {member.name.lower(): int(member) for member in R2D2.Audio} == SOUNDS
    assert {member.name.lower(): int(member) for member in R2Q5.Audio} == SOUNDS


def test_every_name_is_offered_and_translated_where_a_person_picks_it() -> None:
    services = yaml.safe_load((INTEGRATION / "services.yaml").read_text(encoding="utf-8"))
    strings = json.loads((INTEGRATION / "strings.json").read_text(encoding="utf-8"))
    for action, field, names in (
        ("play_animation", "animation", ANIMATION_NAMES),  # every model's: the R2 units', the BB-9E's
        ("play_sound", "sound", tuple(SOUNDS)),
    ):
        assert services[action]["fields"][field]["selector"]["select"]["options"] == list(names)
        assert set(strings["entity"]["select"][field]["state"]) == set(names)
    r2_then_bb9e = (*ANIMATIONS, *(name for name in BB9E_ANIMATIONS if name not in ANIMATIONS))
    assert r2_then_bb9e == ANIMATION_NAMES
    assert strings["entity"]["select"]["sound"]["state"]["bb8_alarm_1"] == "BB-8 alarm 1"
    assert strings["entity"]["select"]["sound"]["state"]["test_200hz"] == "Test 200 Hz"
    assert json.loads((INTEGRATION / "translations" / "en.json").read_text(encoding="utf-8")) == strings


def test_the_readme_shows_the_r2d2_device_page_the_script_makes() -> None:
    """README: "An R2-D2's device page in Home Assistant (developer mode, the simulated R2-D2;
    `scripts/screenshot --page droid`)"."""
    assert (
        "An R2-D2's device page in Home Assistant (developer mode, the simulated R2-D2; `scripts/screenshot --page droid`)"
        in README
    )
    assert "![An R2-D2's device page](docs/r2d2-device-page.png)" in README
    assert (ROOT / "docs" / "r2d2-device-page.png").stat().st_size > 60000
    script = (ROOT / "scripts" / "screenshot").read_text(encoding="utf-8")
    assert 'droid) OUT="${OUT:-docs/r2d2-device-page.png}"' in script
    # --page droid renders the R2-D2 of developer mode's default lineup, which has one.
    assert "MODEL=r2d2; PAGE_KIND=device" in script
    toys = next(line.split("=", 1)[1] for line in script.splitlines() if line.startswith("TOYS="))
    assert "r2d2" in toys.split(",")
