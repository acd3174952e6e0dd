"""A BB-9E's animations through Home Assistant, against the simulated toy; each model its own numbers.

spherov2 0.12.1 plays animations on a BB-9E with the R2 units' command (17/05, its end the async
17/11) but its own numbers (``BB9E.Animations``: ``wwm_happy`` is 26 there, 40 on an R2-D2). So the
Animation select, ``bb8.play_animation`` and the Animation finished event each speak the toy's own
model's names. Driven through a real ``hass`` (the config flow, the select, the action, the event)
against ``bb8sim.v2.SimulatedV2Toy`` (written from spherov2, never from ``custom_components``), on
the project's scanner and through the simulated ESPHome node. The numbers the simulator shows
are checked against spherov2's enums, an implementation apart from the package's tables.
"""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import ATTR_ENTITY_ID, STATE_OFF, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from spherov2.toy.bb9e import BB9E
from spherov2.toy.r2d2 import R2D2
import voluptuous as vol

from bb8sim import SimClock
from bb8sim.proxy import SimProxy
from bb8sim.v2 import SimulatedV2Toy
from custom_components.bb8.const import DOMAIN
from custom_components.bb8.sphero.catalog import CATALOG, Feature
from custom_components.bb8.sphero.droid_names import ANIMATIONS, BB9E_ANIMATIONS, animations_for

from .conftest import TOY_ADDRESS, device_id_of, state_of, wait_for
from .esphome_support import NodePath
from .test_droid import README, eid, select
from .test_family_v1 import entity_keys, translations
from .test_family_v2 import ENTITIES, add_through_discovery, advertised, every_write_is_a_v2_frame

BOTH_PROXY_PATHS = True  # run through the project's scanner and through the real esphome stack


@pytest.fixture
async def bb9e(hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock) -> SimulatedV2Toy:
    """A simulated BB-9E, advertised through the proxy."""
    return await advertised(hass, proxy, sim_clock, "bb9e")


@pytest.fixture
async def bb9e_entry(hass: HomeAssistant, bb9e: SimulatedV2Toy) -> ConfigEntry:
    """The BB-9E added through its discovery, connected and set up."""
    return await add_through_discovery(hass, bb9e)


async def play(hass: HomeAssistant, entry: ConfigEntry, animation: str) -> None:
    await hass.services.async_call(
        DOMAIN,
        "play_animation",
        {"device_id": device_id_of(hass, entry), "animation": animation},
        blocking=True,
    )


# -- the names -------------------------------------------------------------------------------------


def test_the_bb9e_animation_names_are_spherov2s_bb9e_enum() -> None:
    """droid_names.py: written out from spherov2 0.12.1's ``BB9E.Animations``, names lower-cased;
    "``wwm_happy`` is 40 on an R2 unit, 26 on a BB-9E". README's hardware table, where the BB-9E's
    came from: "its animations: the R2's command and completion with its own names and numbers
    (spherov2's `BB9E.Animations`; spherov2 lists no sounds for it, so it has none here)"."""
    assert (
        "its animations: the R2's command and completion with its own names and numbers (spherov2's "
        "`BB9E.Animations`; spherov2 lists no sounds for it, so it has none here)"
    ) in README
    spherov2s = {member.name.lower(): int(member) for member in BB9E.Animations}
    assert spherov2s == BB9E_ANIMATIONS
    assert (BB9E_ANIMATIONS["wwm_happy"], ANIMATIONS["wwm_happy"]) == (26, 40)
    assert animations_for("bb9e") == BB9E_ANIMATIONS
    assert animations_for("r2d2") == animations_for("r2q5") == ANIMATIONS
    assert not hasattr(BB9E, "Audio"), "spherov2 gives the BB-9E no sounds"


def test_every_model_with_animations_has_a_name_table_and_no_other_does() -> None:
    """catalog.py: the BB-9E has animations (its own numbers) and no sounds."""
    for model in CATALOG:
        assert bool(animations_for(model.key)) is model.has(Feature.ANIMATIONS), model.name
    bb9e = next(model for model in CATALOG if model.key == "bb9e")
    assert bb9e.has(Feature.ANIMATIONS)
    assert not bb9e.has(Feature.SOUNDS)


# -- what a BB-9E gets -----------------------------------------------------------------------------


async def test_a_bb9e_gets_an_animation_select_of_its_own_names_and_the_animation_finished_event(
    hass: HomeAssistant, bb9e: SimulatedV2Toy, bb9e_entry: ConfigEntry
) -> None:
    """README's hardware table, the BB-9E's row: "Head light, Animation, Animation finished"; no
    Sound (spherov2 gives it none). README's Animation select: "A BB-9E has the Animation select
    only, listing its own animations"."""
    assert "A BB-9E has the Animation select only, listing its own animations" in README
    assert (
        "| BB-9E | `GB-XXXX` | yes | Main LED (its body), Tail light (its aiming LED), Head light, Animation, "
        "Animation finished |"
    ) in README
    keys = entity_keys(hass, bb9e_entry, TOY_ADDRESS)
    assert keys == ENTITIES["bb9e"]
    assert {("select", "animation"), ("event", "animation")} <= keys
    assert ("select", "sound") not in keys
    animation = eid(hass, "select", "animation")
    assert state_of(hass, animation).attributes["options"] == [
        member.name.lower() for member in BB9E.Animations
    ]
    assert state_of(hass, animation).name == f"{bb9e.name} Animation"
    assert state_of(hass, eid(hass, "event", "animation")).name == f"{bb9e.name} Animation finished"


async def test_the_bb9e_only_names_are_translated_on_its_select(hass: HomeAssistant) -> None:
    """strings.json: the BB-9E's own options "Eye 1", "Hit", "Emote scan sweep", "WWM frustrated"."""
    states = await translations(hass, "entity")
    shown = {
        option: states[f"component.{DOMAIN}.entity.select.animation.state.{option}"]
        for option in ("eye_1", "hit", "emote_scan_sweep", "wwm_frustrated", "wwm_happy")
    }
    assert shown == {
        "eye_1": "Eye 1",
        "hit": "Hit",
        "emote_scan_sweep": "Emote scan sweep",
        "wwm_frustrated": "WWM frustrated",
        "wwm_happy": "WWM happy",
    }
    for option in BB9E_ANIMATIONS:
        assert f"component.{DOMAIN}.entity.select.animation.state.{option}" in states, option


async def test_choosing_a_bb9e_animation_plays_its_own_number_and_the_event_names_it(
    hass: HomeAssistant, bb9e: SimulatedV2Toy, bb9e_entry: ConfigEntry, sim_clock: SimClock
) -> None:
    """README: Animation finished "Fires `animation_complete` with `animation` (its name)", on a
    BB-9E with the BB-9E's name for the number it reports ("when an R2 unit's or a BB-9E's
    animation ends")."""
    assert "Fires `animation_complete` with `animation` (its name)" in README
    assert "when an R2 unit's or a BB-9E's animation ends" in README
    event = eid(hass, "event", "animation")
    await select(hass, "animation", "wwm_happy")
    assert bb9e.animation_playing == BB9E.Animations.WWM_HAPPY == 26
    assert state_of(hass, eid(hass, "select", "animation")).state == "wwm_happy"
    assert state_of(hass, event).state == STATE_UNKNOWN
    sim_clock.advance(3.0)
    await wait_for(lambda: state_of(hass, event).attributes.get("event_type") == "animation_complete")
    assert state_of(hass, event).attributes["animation"] == "wwm_happy", "26 named as a BB-9E's, not idle_2"

    await select(hass, "animation", "eye_4")  # one only a BB-9E has
    assert bb9e.animation_playing == BB9E.Animations.EYE_4
    sim_clock.advance(3.0)
    await wait_for(lambda: state_of(hass, event).attributes.get("animation") == "eye_4")
    every_write_is_a_v2_frame(bb9e)
    assert all(request.err == 0 for request in bb9e.requests), "no number the BB-9E lacks was sent"


async def test_bb8_play_animation_plays_the_bb9e_number_of_the_name(
    hass: HomeAssistant, bb9e: SimulatedV2Toy, bb9e_entry: ConfigEntry
) -> None:
    """README: `bb8.play_animation` "Plays an R2-D2's, R2-Q5's or BB-9E's animation"; what it
    does: "`bb8.play_animation` for an R2-D2, R2-Q5 or BB-9E, `bb8.play_sound` for an R2-D2 or R2-Q5"."""
    assert "Plays an R2-D2's, R2-Q5's or BB-9E's animation" in README
    assert (
        "`bb8.play_animation` for an R2-D2, R2-Q5 or BB-9E, `bb8.play_sound` for an R2-D2 or R2-Q5" in README
    )
    for name in ("wwm_frustrated", "emote_yes", "idle_1"):
        await play(hass, bb9e_entry, name)
    assert bb9e.animations_played == [
        BB9E.Animations.WWM_FRUSTRATED,
        BB9E.Animations.EMOTE_YES,
        BB9E.Animations.IDLE_1,
    ]
    assert all(request.err == 0 for request in bb9e.requests)


async def test_an_r2_animation_the_bb9e_lacks_is_refused_in_words_and_nothing_is_sent(
    hass: HomeAssistant, bb9e: SimulatedV2Toy, bb9e_entry: ConfigEntry
) -> None:
    """strings.json: "{model} {name} has no {option}: it is for the {models} only. Nothing was sent
    to the toy." (README: "a name the toy's model lacks is refused the same way")."""
    assert "a name the toy's model lacks is refused the same way" in README
    sent = len(bb9e.writes)
    for name in ("emote_attention", "wmm_frustrated", "charger_1"):
        assert name in ANIMATIONS
        assert name not in BB9E_ANIMATIONS
        with pytest.raises(ServiceValidationError) as caught:
            await play(hass, bb9e_entry, name)
        assert caught.value.translation_key == "option_not_for_model"
        # Home Assistant shows the message without its last full stop.
        assert str(caught.value) == (
            f"BB-9E {bb9e.name} has no {name}: it is for the R2-D2 and R2-Q5 only. "
            "Nothing was sent to the toy"
        )
    with pytest.raises(ServiceValidationError):  # the select offers the BB-9E's own only
        await select(hass, "animation", "emote_attention")
    with pytest.raises(vol.Invalid):  # no model has it
        await play(hass, bb9e_entry, "dance")
    with pytest.raises(ServiceValidationError) as caught:
        await hass.services.async_call(
            DOMAIN,
            "play_sound",
            {"device_id": device_id_of(hass, bb9e_entry), "sound": "r2_hey_1"},
            blocking=True,
        )
    assert caught.value.translation_key == "action_not_for_model"
    assert len(bb9e.writes) == sent
    assert bb9e.animations_played == []


async def test_a_script_stopped_while_a_bb9e_animation_plays_raises_nothing_and_the_animation_ends(
    hass: HomeAssistant, bb9e: SimulatedV2Toy, bb9e_entry: ConfigEntry, sim_clock: SimClock
) -> None:
    """README: "returns once the toy has started it"; the BB-9E then finishes it by itself."""
    device_id = device_id_of(hass, bb9e_entry)
    sequence = [
        {
            "action": f"{DOMAIN}.play_animation",
            "data": {"device_id": device_id, "animation": "emote_greetings"},
        },
        {"delay": {"seconds": 30}},
    ]
    assert await async_setup_component(hass, "script", {"script": {"hello": {"sequence": sequence}}})
    await hass.services.async_call("script", "turn_on", {ATTR_ENTITY_ID: "script.hello"}, blocking=True)
    await wait_for(lambda: bb9e.animation_playing == BB9E.Animations.EMOTE_GREETINGS)
    await hass.services.async_call("script", "turn_off", {ATTR_ENTITY_ID: "script.hello"}, blocking=True)
    await hass.async_block_till_done()
    assert state_of(hass, "script.hello").state == STATE_OFF
    sim_clock.advance(3.0)
    event = eid(hass, "event", "animation")
    await wait_for(lambda: state_of(hass, event).attributes.get("animation") == "emote_greetings")
    assert bb9e_entry.runtime_data.session.pending_commands == 0


# -- the R2 units keep theirs ----------------------------------------------------------------------


async def test_the_r2d2_still_plays_its_own_numbers_and_refuses_a_bb9e_only_name(
    hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock
) -> None:
    """An R2-D2's options, numbers and stored ids are as before the BB-9E's were added."""
    r2 = await advertised(hass, proxy, sim_clock, "r2d2")
    entry = await add_through_discovery(hass, r2)
    animation = eid(hass, "select", "animation")
    assert state_of(hass, animation).attributes["options"] == list(ANIMATIONS)
    registry = er.async_get(hass)
    assert registry.async_get_entity_id("select", DOMAIN, f"{TOY_ADDRESS}_animation") == animation
    assert registry.async_get_entity_id("event", DOMAIN, f"{TOY_ADDRESS}_animation") == eid(
        hass, "event", "animation"
    )
    await play(hass, entry, "wwm_happy")
    await select(hass, "animation", "idle_2")
    assert r2.animations_played == [R2D2.Animations.WWM_HAPPY, R2D2.Animations.IDLE_2] == [40, 26]
    sent = len(r2.writes)
    with pytest.raises(ServiceValidationError) as caught:
        await play(hass, entry, "eye_1")
    assert str(caught.value) == (
        f"R2-D2 {r2.name} has no eye_1: it is for the BB-9E only. Nothing was sent to the toy"
    )
    assert len(r2.writes) == sent
