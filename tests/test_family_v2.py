"""The v2 toys through Home Assistant: an R2-D2, a Mini and a BOLT discovered, set up and driven.

The simulator plays them (``bb8sim.v2.SimulatedV2Toy``, written from the spec and the captures,
never from ``custom_components``), and every test goes through a real ``hass``: the config flow
from the toy's own discovery, the entities and the ``bb8.*`` actions, on the project's scanner
and through the simulated ESPHome node. Each toy's entities are the ones its catalog entry
names; the v1-only ones (stabilization, aim and heading) are not created for it, and the actions it lacks refuse with a translated error and send nothing.
"""

from __future__ import annotations

from datetime import timedelta
import logging
from pathlib import Path
from typing import Any

from homeassistant.components import bluetooth
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import ATTR_ENTITY_ID, CONF_ADDRESS, STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
import homeassistant.util.dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from bb8sim import SimClock
from bb8sim.proxy import SimProxy
from bb8sim.v2 import SimulatedV2Toy
from bb8sim.v2.codec import FrameReader
from custom_components.bb8.const import DOMAIN
from custom_components.bb8.entity import run_translated
from custom_components.bb8.sphero import commands_v2 as v2

from .conftest import TOY_ADDRESS, device_id_of, state_of, wait_for
from .esphome_support import NodePath
from .test_family_v1 import discovery_flow, entity_keys, entity_of, translations

BOTH_PROXY_PATHS = True  # run through the project's scanner and through the real esphome stack

README = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8").split())

MODEL_NAMES = {"r2d2": "R2-D2", "mini": "Sphero Mini", "bolt": "BOLT"}
"""The v2 models tested here by catalog key, with the model name their device page shows."""
API_CHAR = "00010002-574f-4f20-5370-6865726f2121"
"""The v2 commands characteristic (the design brief), written here apart from the package's."""
ANTI_DOS_CHAR = "00020005-574f-4f20-5370-6865726f2121"
ANTI_DOS_UNLOCK = b"usetheforce...band"

MOTION = {
    ("sensor", "speed"),
    ("sensor", "distance"),
    ("sensor", "position_x"),
    ("sensor", "position_y"),
    ("sensor", "pitch"),
    ("sensor", "roll"),
    ("sensor", "yaw"),
    ("binary_sensor", "moving"),
    ("button", "reset_position"),
}
"""The motion entities, a v2 toy's as a BB-8's (driven in tests/test_motion_v2.py)."""
EVERY_MODEL_HAS = MOTION | {
    ("binary_sensor", "connected"),
    ("button", "wake"),
    ("button", "sleep"),
    ("button", "stop"),
    ("event", "collision"),
    ("sensor", "battery_voltage"),
    ("sensor", "rssi"),
}
DROID_PARTS = {
    ("light", "front_led"),
    ("light", "back_led"),
    ("light", "logic_displays"),
    ("light", "holo_projector"),
    ("number", "dome"),
    ("select", "stance"),
    ("select", "animation"),
    ("select", "sound"),
    ("event", "animation"),
}
"""An R2 unit's own entities (driven in tests/test_droid.py)."""
ENTITIES = {
    "r2d2": EVERY_MODEL_HAS | DROID_PARTS,
    "mini": EVERY_MODEL_HAS | {("sensor", "battery"), ("light", "main_led"), ("light", "tail_light")},
    "bolt": EVERY_MODEL_HAS
    | {("binary_sensor", "charging"), ("light", "main_led"), ("event", "matrix_text")},
    "bb9e": EVERY_MODEL_HAS
    | {
        ("light", "main_led"),
        ("light", "tail_light"),
        ("light", "head_light"),
        ("select", "animation"),
        ("event", "animation"),
    },
}
"""What each model gets: drive, battery, sleep and wake, link, collisions, its lights, matrix, parts."""


def v2_is_set_up(entry: ConfigEntry, toy: SimulatedV2Toy) -> Any:
    """A predicate for ``wait_for``: the session's after-connect set-up reached the v2 toy."""

    def _ready() -> bool:
        session = entry.runtime_data.session
        return (
            session.is_set_up
            and toy.connected
            and toy.collision_config is not None
            and session.toy.battery_voltage is not None
            and session.pending_commands == 0
        )

    return _ready


@pytest.fixture(params=sorted(MODEL_NAMES))
async def v2toy(
    request: pytest.FixtureRequest, hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock
) -> SimulatedV2Toy:
    """A simulated R2-D2, Mini or BOLT, advertised through the proxy."""
    return await advertised(hass, proxy, sim_clock, request.param)


async def advertised(
    hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock, key: str, **kwargs: Any
) -> SimulatedV2Toy:
    toy = SimulatedV2Toy(TOY_ADDRESS, key, clock=sim_clock, seed=1, **kwargs)
    proxy.advertise(toy)
    await wait_for(lambda: bluetooth.async_address_present(hass, TOY_ADDRESS, connectable=True))
    return toy


async def add_through_discovery(hass: HomeAssistant, toy: SimulatedV2Toy) -> ConfigEntry:
    """Press Add on the discovered toy, as a person does; return its entry once the toy is set up."""
    flow = await discovery_flow(hass, toy.address)
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    entry: ConfigEntry = result["result"]
    await hass.async_block_till_done()
    await wait_for(v2_is_set_up(entry, toy))
    return entry


@pytest.fixture
async def v2entry(hass: HomeAssistant, v2toy: SimulatedV2Toy) -> ConfigEntry:
    """The v2 toy added through its discovery, connected and set up."""
    return await add_through_discovery(hass, v2toy)


def every_write_is_a_v2_frame(toy: SimulatedV2Toy) -> None:
    """Every write to the toy was the anti-DoS unlock or whole, valid v2 frames (no v1 frame)."""
    reader = FrameReader()
    frames = []
    for char, data in toy.writes:
        if char == ANTI_DOS_CHAR:
            assert data == ANTI_DOS_UNLOCK
            continue
        assert char == API_CHAR, f"a write to {char}"
        frames += list(reader.feed(data))
        assert reader.pending == 0, f"{data.hex(' ')} is no whole v2 frame"
    assert frames, "something was written"
    assert (toy.garbage_bytes, toy.bad_frames, reader.garbage, reader.bad_frames) == (0, 0, 0, 0)


async def press(hass: HomeAssistant, key: str) -> None:
    entity_id = entity_of(hass, "button", TOY_ADDRESS, key)
    await hass.services.async_call("button", "press", {ATTR_ENTITY_ID: entity_id}, blocking=True)


# -- set up ----------------------------------------------------------------------------------------


async def test_the_discovered_v2_toy_is_set_up_with_its_model_on_the_device_page(
    hass: HomeAssistant, v2toy: SimulatedV2Toy, v2entry: ConfigEntry
) -> None:
    key = v2toy.model.key
    assert v2entry.title == v2toy.name
    assert dict(v2entry.data) == {CONF_ADDRESS: TOY_ADDRESS, "model": key}
    device = dr.async_get(hass).async_get(device_id_of(hass, v2entry))
    assert device is not None
    assert (device.manufacturer, device.model, device.name) == ("Sphero", MODEL_NAMES[key], v2toy.name)


async def test_confirm_dialog_names_the_v2_model(hass: HomeAssistant, v2toy: SimulatedV2Toy) -> None:
    """strings.json: "{model} found: {name}" for a v2 toy too."""
    flow = await discovery_flow(hass, v2toy.address)
    form = await hass.config_entries.flow.async_configure(flow["flow_id"], None)
    title = (await translations(hass, "config"))[f"component.{DOMAIN}.config.step.bluetooth_confirm.title"]
    assert (
        title.format(**form["description_placeholders"])
        == f"{MODEL_NAMES[v2toy.model.key]} found: {v2toy.name}"
    )


async def test_each_v2_toy_gets_the_entities_its_model_has_and_no_v1_only_one(
    hass: HomeAssistant, v2toy: SimulatedV2Toy, v2entry: ConfigEntry
) -> None:
    """README: "A v2 toy ... gets the `bb8.roll` and `bb8.stop` actions, the Stop, Sleep and Wake
    buttons, Connected, Signal strength, Battery voltage, Collision and the motion entities";
    "Aim and heading and stabilization are the v1 toys' only for now"."""
    assert (
        "gets the `bb8.roll` and `bb8.stop` actions, the Stop, Sleep and Wake buttons, Connected, "
        "Signal strength, Battery voltage, Collision and the motion entities"
    ) in README
    assert "Aim and heading and stabilization are the v1 toys' only for now" in README
    assert entity_keys(hass, v2entry, TOY_ADDRESS) == ENTITIES[v2toy.model.key]


async def test_a_bb9e_gets_its_main_tail_and_head_lights_and_its_animations(
    hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock
) -> None:
    bb9e = await advertised(hass, proxy, sim_clock, "bb9e")
    entry = await add_through_discovery(hass, bb9e)
    assert entity_keys(hass, entry, TOY_ADDRESS) == ENTITIES["bb9e"]


# -- driving ---------------------------------------------------------------------------------------


async def test_roll_stop_and_the_stop_button_drive_the_v2_toy_in_v2_frames(
    hass: HomeAssistant, v2toy: SimulatedV2Toy, v2entry: ConfigEntry
) -> None:
    device_id = device_id_of(hass, v2entry)
    await hass.services.async_call(
        DOMAIN, "roll", {"device_id": device_id, "heading": 90, "speed": 80}, blocking=True
    )
    assert (v2toy.speed, v2toy.heading) == (80, 90)
    await hass.services.async_call(DOMAIN, "stop", {"device_id": device_id}, blocking=True)
    assert (v2toy.speed, v2toy.heading) == (0, 90), "the stop keeps the heading"
    await hass.services.async_call(
        DOMAIN, "roll", {"device_id": device_id, "heading": 180, "speed": 60}, blocking=True
    )
    await press(hass, "stop")
    assert v2toy.speed == 0
    every_write_is_a_v2_frame(v2toy)
    assert all(request.err == 0 for request in v2toy.requests), "nothing was sent that the model lacks"


async def test_a_timed_roll_stops_the_v2_toy(
    hass: HomeAssistant, v2toy: SimulatedV2Toy, v2entry: ConfigEntry
) -> None:
    device_id = device_id_of(hass, v2entry)
    await hass.services.async_call(
        DOMAIN, "roll", {"device_id": device_id, "heading": 0, "speed": 90, "duration": 0.2}, blocking=True
    )
    assert not v2toy.rolling


async def test_a_stop_due_while_the_link_is_down_is_sent_when_it_is_back(
    hass: HomeAssistant, v2toy: SimulatedV2Toy, v2entry: ConfigEntry, caplog: pytest.LogCaptureFixture
) -> None:
    """A v2 toy rolls on without its link: the session keeps it rolling and owes it the stop.

    README: "the stop at the end of a timed `bb8.roll` ... is guaranteed for a v2 toy only while
    its link is up: if the link drops mid-roll, the toy may roll on until the link is back, and the
    stop is sent as soon as it is." Log: "could not stop the toy after its duration ended: it has
    no link and may still be rolling; the stop goes out when the link is back".
    """
    assert (
        "is guaranteed for a v2 toy only while its link is up: if the link drops mid-roll, the toy may "
        "roll on until the link is back, and the stop is sent as soon as it is."
    ) in README
    session = v2entry.runtime_data.session
    device_id = device_id_of(hass, v2entry)
    roll = hass.async_create_task(
        hass.services.async_call(
            DOMAIN,
            "roll",
            {"device_id": device_id, "heading": 0, "speed": 90, "duration": 0.5},
            blocking=True,
        )
    )
    await wait_for(lambda: v2toy.rolling)
    v2toy.faults.refuse_connect = True
    caplog.set_level(logging.WARNING)
    v2toy.disconnect_now()
    await wait_for(lambda: not session.is_connected)
    await roll  # its duration ended with no link
    assert v2toy.rolling, "the simulator's v2 toy rolls on without its link"
    assert session.rolling, "the session does not take the lost link for a stop"
    assert (
        "could not stop the toy after its duration ended: it has no link and may still be rolling; "
        "the stop goes out when the link is back"
    ) in caplog.text

    v2toy.faults.refuse_connect = False
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=5))
    await wait_for(lambda: session.is_connected)
    await wait_for(lambda: not v2toy.rolling)
    await wait_for(lambda: not session.rolling)  # once the toy's answer is in
    await wait_for(v2_is_set_up(v2entry, v2toy))


async def test_a_reload_while_the_v2_toy_rolls_stops_it(
    hass: HomeAssistant, v2toy: SimulatedV2Toy, v2entry: ConfigEntry
) -> None:
    device_id = device_id_of(hass, v2entry)
    roll = hass.async_create_task(
        hass.services.async_call(
            DOMAIN, "roll", {"device_id": device_id, "heading": 0, "speed": 90, "duration": 30}, blocking=True
        )
    )
    await wait_for(lambda: v2toy.rolling)
    assert await hass.config_entries.async_reload(v2entry.entry_id)
    await wait_for(lambda: not v2toy.rolling)
    await roll
    await hass.async_block_till_done()
    await wait_for(v2_is_set_up(v2entry, v2toy))
    assert not v2toy.rolling


@pytest.mark.parametrize(
    ("action", "data"),
    [("set_heading", {"heading": 90}), ("aim", {"heading": 90})],
)
async def test_an_action_the_v2_toy_lacks_says_so_and_sends_nothing(
    hass: HomeAssistant, v2toy: SimulatedV2Toy, v2entry: ConfigEntry, action: str, data: dict[str, Any]
) -> None:
    """strings.json: "{name} is a {model}, which {action} cannot drive: it is for the {models} only.
    Nothing was sent to the toy."; README: "`bb8.aim` and `bb8.set_heading` on a v2 toy say so and
    send nothing"."""
    assert "`bb8.aim` and `bb8.set_heading` on a v2 toy say so and send nothing" in README
    sent = len(v2toy.writes)
    with pytest.raises(ServiceValidationError) as caught:
        await hass.services.async_call(
            DOMAIN, action, {"device_id": device_id_of(hass, v2entry), **data}, blocking=True
        )
    model = MODEL_NAMES[v2toy.model.key]
    # Home Assistant shows the message without its last full stop.
    assert str(caught.value) == (
        f"{v2toy.name} is a {model}, which bb8.{action} cannot drive: it is for the BB-8, SPRK+ and "
        "Ollie only. Nothing was sent to the toy"
    )
    assert len(v2toy.writes) == sent


async def test_bad_input_to_roll_on_a_v2_toy_is_refused_before_anything_is_sent(
    hass: HomeAssistant, v2toy: SimulatedV2Toy, v2entry: ConfigEntry
) -> None:
    import voluptuous as vol

    sent = len(v2toy.writes)
    for bad in ({"heading": 360, "speed": 10}, {"heading": 0, "speed": 256}, {"heading": 0, "speed": -1}):
        with pytest.raises(vol.Invalid):
            await hass.services.async_call(
                DOMAIN, "roll", {"device_id": device_id_of(hass, v2entry), **bad}, blocking=True
            )
    assert len(v2toy.writes) == sent


# -- sleep, battery, link, collisions --------------------------------------------------------------


async def test_sleep_and_wake_buttons_put_the_v2_toy_to_sleep_and_wake_it(
    hass: HomeAssistant, v2toy: SimulatedV2Toy, v2entry: ConfigEntry
) -> None:
    session = v2entry.runtime_data.session
    await press(hass, "sleep")
    assert not v2toy.awake
    await wait_for(lambda: not session.is_connected)
    connected = state_of(hass, entity_of(hass, "binary_sensor", TOY_ADDRESS, "connected") or "")
    assert connected.state == STATE_OFF
    await press(hass, "wake")
    assert v2toy.awake
    await wait_for(v2_is_set_up(v2entry, v2toy))
    await hass.async_block_till_done()
    connected = state_of(hass, entity_of(hass, "binary_sensor", TOY_ADDRESS, "connected") or "")
    assert connected.state == STATE_ON
    every_write_is_a_v2_frame(v2toy)


async def test_the_v2_battery_is_read_at_connect_and_kept_fresh_by_the_poll(
    hass: HomeAssistant, v2toy: SimulatedV2Toy, v2entry: ConfigEntry
) -> None:
    voltage = entity_of(hass, "sensor", TOY_ADDRESS, "battery_voltage") or ""
    assert float(state_of(hass, voltage).state) == pytest.approx(v2toy.battery_voltage, abs=0.01)
    low = round(v2toy.model.battery_empty + 0.2, 2)
    v2toy.set_battery_voltage(low)
    await v2entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert float(state_of(hass, voltage).state) == pytest.approx(low, abs=0.01)
    if v2toy.model.key == "mini":
        percent = state_of(hass, entity_of(hass, "sensor", TOY_ADDRESS, "battery") or "")
        assert int(percent.state) == v2toy.battery_percentage
    every_write_is_a_v2_frame(v2toy)
    assert all(request.err == 0 for request in v2toy.requests), "the poll asks only what the model reports"


async def test_the_bolts_charging_sensor_follows_its_charger_state(
    hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock
) -> None:
    bolt = await advertised(hass, proxy, sim_clock, "bolt")
    entry = await add_through_discovery(hass, bolt)
    charging = entity_of(hass, "binary_sensor", TOY_ADDRESS, "charging") or ""
    assert state_of(hass, charging).state == STATE_OFF
    bolt.set_charging(True)
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert state_of(hass, charging).state == STATE_ON


async def test_a_collision_of_the_v2_toy_fires_the_collision_event(
    hass: HomeAssistant, v2toy: SimulatedV2Toy, v2entry: ConfigEntry
) -> None:
    event = entity_of(hass, "event", TOY_ADDRESS, "collision") or ""
    assert v2toy.trigger_collision(x_power=200)
    await wait_for(lambda: state_of(hass, event).attributes.get("event_type") == "collision")
    assert state_of(hass, event).attributes["x_axis"] is True


# -- the main colour -------------------------------------------------------------------------------


LED_GROUPS = {"mini": ("body",), "bolt": ("front", "back")}


@pytest.mark.parametrize("key", sorted(LED_GROUPS))
async def test_the_main_led_colours_the_v2_toy_and_comes_back_after_a_reconnect(
    hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock, key: str
) -> None:
    toy = await advertised(hass, proxy, sim_clock, key)
    entry = await add_through_discovery(hass, toy)
    main_led = entity_of(hass, "light", TOY_ADDRESS, "main_led")
    await hass.services.async_call(
        "light", "turn_on", {ATTR_ENTITY_ID: main_led, "rgb_color": (0, 255, 0)}, blocking=True
    )
    assert [toy.led_group(group) for group in LED_GROUPS[key]] == [(0, 255, 0)] * len(LED_GROUPS[key])

    # The toy forgets its colours with its link (the simulator keeps them: cleared by hand).
    toy.disconnect_now()
    toy.leds.update(dict.fromkeys(toy.leds, 0))
    await wait_for(lambda: not entry.runtime_data.session.is_connected)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=5))
    await wait_for(v2_is_set_up(entry, toy))
    assert [toy.led_group(group) for group in LED_GROUPS[key]] == [(0, 255, 0)] * len(LED_GROUPS[key])

    await hass.services.async_call("light", "turn_off", {ATTR_ENTITY_ID: main_led}, blocking=True)
    assert [toy.led_group(group) for group in LED_GROUPS[key]] == [(0, 0, 0)] * len(LED_GROUPS[key])
    every_write_is_a_v2_frame(toy)
    assert all(request.err == 0 for request in toy.requests)


# -- refusals --------------------------------------------------------------------------------------


async def test_a_v2_unknown_command_refusal_is_told_as_unsupported_not_garbled(
    hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock
) -> None:
    """A v2 0x02 is an unknown command (v1's 0x02 is a checksum failure): the message says so.

    strings.json: "{name} does not accept the {command} command as sent (error code {code}: its
    firmware does not know the command or one of its values)."""
    mini = await advertised(hass, proxy, sim_clock, "mini")
    entry = await add_through_discovery(hass, mini)
    session = entry.runtime_data.session
    with pytest.raises(HomeAssistantError) as caught:
        await run_translated(session.send(v2.play_sound(1)), session.name)  # a Mini has no speaker
    assert mini.requests[-1].err == 0x02
    assert caught.value.translation_key == "command_rejected_unsupported"
    assert "(error code 0x02: its firmware does not know the command" in str(caught.value)


async def test_a_v1_verb_asked_of_a_v2_session_is_refused_before_anything_is_sent(
    hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock
) -> None:
    """strings.json: "{name} has no part for that command, so nothing was sent to it." (the
    library's last guard, under the entities and actions that a v2 toy is not given)."""
    r2d2 = await advertised(hass, proxy, sim_clock, "r2d2")
    entry = await add_through_discovery(hass, r2d2)
    session = entry.runtime_data.session
    sent = len(r2d2.writes)
    for verb in (
        lambda: session.aim(90),
        lambda: session.set_heading(0),
        lambda: session.self_level(),
        lambda: session.set_tail_light(255),
        lambda: session.set_stabilization(False),
        lambda: session.set_main_led(255, 0, 0),  # an R2-D2's LEDs are its droid parts, not a main LED
    ):
        with pytest.raises(HomeAssistantError) as caught:
            await run_translated(verb(), session.name)
        # Home Assistant shows the message without its last full stop.
        assert str(caught.value) == f"{r2d2.name} has no part for that command, so nothing was sent to it"
    assert len(r2d2.writes) == sent
    assert session.toy.requested.main_led is None, "a refused setting is not kept to re-apply"


# -- single-colour LEDs: the aiming light (Mini, BB-9E), the head light (BB-9E) -------------------


BRIGHTNESS_LIGHTS = [
    ("mini", "tail_light", "aiming"),
    ("bb9e", "tail_light", "aiming"),
    ("bb9e", "head_light", "head"),
]


@pytest.mark.parametrize(("key", "light", "led"), BRIGHTNESS_LIGHTS)
async def test_a_brightness_light_sets_its_led_and_comes_back_after_a_reconnect(
    hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock, key: str, light: str, led: str
) -> None:
    toy = await advertised(hass, proxy, sim_clock, key)
    entry = await add_through_discovery(hass, toy)
    entity_id = entity_of(hass, "light", TOY_ADDRESS, light)
    assert state_of(hass, entity_id or "").state == STATE_OFF
    await hass.services.async_call(
        "light", "turn_on", {ATTR_ENTITY_ID: entity_id, "brightness": 128}, blocking=True
    )
    assert toy.leds[led] == 128
    assert [name for name, value in toy.leds.items() if value] == [led], "no other LED changed"
    assert state_of(hass, entity_id or "").attributes["brightness"] == 128

    toy.disconnect_now()
    toy.leds.update(dict.fromkeys(toy.leds, 0))  # the toy forgets (the simulator keeps them)
    await wait_for(lambda: not entry.runtime_data.session.is_connected)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=5))
    await wait_for(v2_is_set_up(entry, toy))
    assert toy.leds[led] == 128

    await hass.services.async_call("light", "turn_off", {ATTR_ENTITY_ID: entity_id}, blocking=True)
    assert toy.leds[led] == 0
    assert state_of(hass, entity_id or "").state == STATE_OFF
    every_write_is_a_v2_frame(toy)
    assert all(request.err == 0 for request in toy.requests)


async def test_the_colours_come_back_after_sleep_and_wake(
    hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock
) -> None:
    bb9e = await advertised(hass, proxy, sim_clock, "bb9e")
    entry = await add_through_discovery(hass, bb9e)
    for light, data in (("main_led", {"rgb_color": (255, 0, 0)}), ("head_light", {"brightness": 255})):
        await hass.services.async_call(
            "light",
            "turn_on",
            {ATTR_ENTITY_ID: entity_of(hass, "light", TOY_ADDRESS, light), **data},
            blocking=True,
        )
    await press(hass, "sleep")
    await wait_for(lambda: not entry.runtime_data.session.is_connected)
    bb9e.leds.update(dict.fromkeys(bb9e.leds, 0))  # asleep, the toy forgets its colours
    await press(hass, "wake")
    await wait_for(v2_is_set_up(entry, bb9e))
    assert (bb9e.led_group("body"), bb9e.leds["head"]) == ((255, 0, 0), 255)


# -- the BOLT's matrix -----------------------------------------------------------------------------


async def test_bb8_matrix_scrolls_a_text_on_the_bolts_secondary_processor_and_its_end_fires_text_done(
    hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock
) -> None:
    """README: "fires `text_done` when a text shown with `bb8.matrix` (not repeating) has scrolled by"."""
    bolt = await advertised(hass, proxy, sim_clock, "bolt")
    entry = await add_through_discovery(hass, bolt)
    event = entity_of(hass, "event", TOY_ADDRESS, "matrix_text") or ""
    await hass.services.async_call(
        DOMAIN,
        "matrix",
        {"device_id": device_id_of(hass, entry), "color": [255, 0, 0], "text": "HI R2"},
        blocking=True,
    )
    assert bolt.matrix_text == ("HI R2", (255, 0, 0), 10, False)
    (request,) = [request for request in bolt.requests if request.key == (0x1A, 0x3B)]
    assert (request.packet.tid, request.err) == (0x12, 0), "the secondary processor took it"
    assert state_of(hass, event).attributes.get("event_type") is None
    sim_clock.advance(5 * 0.5 + 0.1)  # the simulator scrolls half a second per character
    await wait_for(lambda: state_of(hass, event).attributes.get("event_type") == "text_done")
    every_write_is_a_v2_frame(bolt)


async def test_bb8_matrix_without_a_text_fills_the_bolts_matrix(
    hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock
) -> None:
    bolt = await advertised(hass, proxy, sim_clock, "bolt")
    entry = await add_through_discovery(hass, bolt)
    await hass.services.async_call(
        DOMAIN, "matrix", {"device_id": device_id_of(hass, entry), "color": [0, 0, 255]}, blocking=True
    )
    assert bolt.matrix == [[(0, 0, 255)] * 8 for _ in range(8)]
    (request,) = [request for request in bolt.requests if request.key == (0x1A, 0x2F)]
    assert (request.packet.tid, request.err) == (0x12, 0)


@pytest.mark.parametrize("text", ["", "X" * 26, "héllo", "tab\there"])
async def test_bb8_matrix_refuses_a_text_it_cannot_show_and_sends_nothing(
    hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock, text: str
) -> None:
    """strings.json: "The text {text} cannot be shown on the matrix: it must be 1 to 25 printable
    ASCII characters (letters, digits, punctuation and spaces). Nothing was sent to the toy."."""
    bolt = await advertised(hass, proxy, sim_clock, "bolt")
    entry = await add_through_discovery(hass, bolt)
    sent = len(bolt.writes)
    with pytest.raises(ServiceValidationError) as caught:
        await hass.services.async_call(
            DOMAIN,
            "matrix",
            {"device_id": device_id_of(hass, entry), "color": [1, 2, 3], "text": text},
            blocking=True,
        )
    assert str(caught.value) == (
        f"The text {text!r} cannot be shown on the matrix: it must be 1 to 25 printable ASCII characters "
        "(letters, digits, punctuation and spaces). Nothing was sent to the toy"
    )
    assert len(bolt.writes) == sent


@pytest.mark.parametrize(
    "data", [{"color": [256, 0, 0]}, {"color": [0, 0]}, {"color": [0, 0, 0], "text": "A", "speed": 31}]
)
async def test_bb8_matrix_refuses_a_bad_colour_or_speed_before_anything_is_sent(
    hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock, data: dict[str, Any]
) -> None:
    import voluptuous as vol

    bolt = await advertised(hass, proxy, sim_clock, "bolt")
    entry = await add_through_discovery(hass, bolt)
    sent = len(bolt.writes)
    with pytest.raises(vol.Invalid):
        await hass.services.async_call(
            DOMAIN, "matrix", {"device_id": device_id_of(hass, entry), **data}, blocking=True
        )
    assert len(bolt.writes) == sent


async def test_bb8_matrix_on_a_toy_without_a_matrix_says_so_and_sends_nothing(
    hass: HomeAssistant, v2toy: SimulatedV2Toy, v2entry: ConfigEntry
) -> None:
    if v2toy.model.key == "bolt":
        return  # it has one
    sent = len(v2toy.writes)
    with pytest.raises(ServiceValidationError) as caught:
        await hass.services.async_call(
            DOMAIN, "matrix", {"device_id": device_id_of(hass, v2entry), "color": [1, 2, 3]}, blocking=True
        )
    assert caught.value.translation_key == "action_not_for_model"
    assert "which bb8.matrix cannot drive: it is for the BOLT only" in str(caught.value)
    assert len(v2toy.writes) == sent


async def test_a_v2_toys_options_leave_out_the_sleep_time_it_would_not_set(
    hass: HomeAssistant, v2toy: SimulatedV2Toy, v2entry: ConfigEntry
) -> None:
    """The v2 inactivity setting is not built: its options form does not offer the toy's sleep time."""
    form = await hass.config_entries.options.async_init(v2entry.entry_id)
    fields = {str(key) for key in form["data_schema"].schema}
    assert "inactivity_timeout" not in fields
    assert {"connection_mode", "idle_timeout", "poll_interval"} <= fields
    result = await hass.config_entries.options.async_configure(
        form["flow_id"],
        {
            "connection_mode": "always",
            "idle_timeout": 120,
            "poll_interval": 30,
            "reconnect_max_delay": 300,
            "reconnect_max_attempts": 0,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert "inactivity_timeout" not in result["data"]
    await hass.async_block_till_done()
    await wait_for(v2_is_set_up(v2entry, v2toy))
