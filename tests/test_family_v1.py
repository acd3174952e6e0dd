"""SPRK+ and Ollie through Home Assistant: discovered, set up, driven, with the entities each has.

The simulator plays them (``SimulatedBB8(address, toy_model=...)``, ``bb8sim/v1models.py``), and
every test goes through a real ``hass``: the config flow, the entities and the ``bb8.*`` actions,
on the project's scanner and through the simulated ESPHome node. Each sentence added to
strings.json for the family is held here by a test that names it; the catalog's prefixes are
held against spherov2's, and its parts against the simulator's (a witness written apart).
"""

from __future__ import annotations

import asyncio
from fnmatch import fnmatch
import json
from pathlib import Path
from typing import Any

from homeassistant.components import bluetooth
from homeassistant.config_entries import SOURCE_BLUETOOTH, SOURCE_USER, ConfigEntry
from homeassistant.const import ATTR_ENTITY_ID, CONF_ADDRESS
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.translation import async_get_translations
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from spherov2.toy.bb8 import BB8 as Spherov2BB8
from spherov2.toy.bb9e import BB9E
from spherov2.toy.bolt import BOLT
from spherov2.toy.mini import Mini
from spherov2.toy.ollie import Ollie
from spherov2.toy.r2d2 import R2D2
from spherov2.toy.r2q5 import R2Q5
from spherov2.toy.sprk2 import Sprk2

from bb8sim import SimClock, SimulatedBB8
from bb8sim.proxy import SimProxy
from bb8sim.v1models import V1_MODELS
from bb8sim.v2 import SimulatedV2Toy
from custom_components.bb8.const import DOMAIN, battery_percent_from_voltage
from custom_components.bb8.sphero.catalog import BY_KEY, CATALOG, Feature, model_for_name

from .conftest import SECOND_ADDRESS, TOY_ADDRESS, device_id_of, state_of, toy_is_set_up, wait_for
from .esphome_support import NodePath

BOTH_PROXY_PATHS = True  # run through the project's scanner and through the real esphome stack

INTEGRATION = Path(__file__).resolve().parents[1] / "custom_components" / DOMAIN
V2_ADDRESS = "F1:02:03:04:D2:01"
SIBLINGS = {"sprk2": "SPRK+", "ollie": "Ollie"}
"""The v1 siblings by catalog key, with the model name their device page and dialogs show."""
STEP_SECONDS = 15.0
ANSWERED = 0.2
"""Real seconds for a command the toy took to be answered over the simulated link (milliseconds)."""
"""The bound on a reload, or on a cut-short roll's return: a hang fails here, naming the step."""


# -- the catalog, held against spherov2 and the simulator ----------------------------------------


@pytest.mark.parametrize(
    ("key", "toy_class"),
    [
        ("bb8", Spherov2BB8),
        ("sprk2", Sprk2),
        ("ollie", Ollie),
        ("bb9e", BB9E),
        ("r2d2", R2D2),
        ("r2q5", R2Q5),
        ("mini", Mini),
        ("bolt", BOLT),
    ],
)
def test_each_models_prefix_is_spherov2s_and_finds_the_model(key: str, toy_class: Any) -> None:
    model = BY_KEY[key]
    assert model.prefix == toy_class.toy_type.prefix
    assert model_for_name(f"{model.prefix}B54A") is model


def test_a_name_of_no_sphero_model_finds_nothing() -> None:
    assert model_for_name("LED-1234") is None
    assert model_for_name("bb-b54a") is None, "prefixes are upper case, as the toys advertise them"
    assert model_for_name("") is None
    assert model_for_name(None) is None


def test_every_catalog_model_is_supported_and_only_the_bb8_has_a_head() -> None:
    assert all(model.supported for model in CATALOG)
    assert (
        {model.key for model in CATALOG if model.protocol == "v1"}
        == set(V1_MODELS)
        == {"bb8", "sprk2", "ollie"}
    )
    for key, simulated in V1_MODELS.items():
        assert BY_KEY[key].has(Feature.HEAD) is simulated.has_head, key
        assert BY_KEY[key].has(Feature.AIMING_LIGHT) is simulated.has_tail_light, key


def test_the_manifest_is_sphero_and_matches_every_models_prefix() -> None:
    manifest = json.loads((INTEGRATION / "manifest.json").read_text())
    assert manifest["name"] == "Sphero"
    patterns = [matcher["local_name"] for matcher in manifest["bluetooth"]]
    assert all(matcher["connectable"] for matcher in manifest["bluetooth"])
    for model in CATALOG:
        assert any(fnmatch(f"{model.prefix}B54A", pattern) for pattern in patterns), model.name
    assert not any(fnmatch("RV-B54A", pattern) for pattern in patterns), "the RVR is not driven"


def test_no_sentence_calls_every_toy_a_bb8() -> None:
    """Every string that names the BB-8 names the SPRK+ beside it: the integration is Sphero's."""

    def sentences(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [text for value in node.values() for text in sentences(value)]
        return [node]

    strings = json.loads((INTEGRATION / "strings.json").read_text())
    # The R2 units' sound names ("BB-8 alarm 1") name sounds, not the toy: no sentences.
    del strings["entity"]["select"]["sound"]
    naming_bb8 = [text for text in sentences(strings) if "BB-8" in text]
    assert naming_bb8, "the supported models are named somewhere"
    assert [text for text in naming_bb8 if "SPRK+" not in text] == []


# -- through Home Assistant ------------------------------------------------------------------------


@pytest.fixture(params=sorted(SIBLINGS))
async def sibling(
    request: pytest.FixtureRequest, hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock
) -> SimulatedBB8:
    """A simulated SPRK+ or Ollie, advertised through the proxy."""
    toy = SimulatedBB8(TOY_ADDRESS, clock=sim_clock, seed=1, toy_model=request.param, battery_voltage=7.7)
    proxy.advertise(toy)
    await wait_for(lambda: bluetooth.async_address_present(hass, TOY_ADDRESS, connectable=True))
    return toy


async def discovery_flow(hass: HomeAssistant, address: str) -> dict[str, Any]:
    """The discovery flow Home Assistant started for the toy at ``address`` (waited for)."""

    def flows() -> list[Any]:
        return [
            flow
            for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
            if flow["context"]["unique_id"] == address
        ]

    await wait_for(lambda: bool(flows()))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(flows()) == 1, f"one discovery flow for {address}"
    return dict(flows()[0])


async def add_through_discovery(hass: HomeAssistant, toy: SimulatedBB8) -> ConfigEntry:
    """Press Add on the discovered toy, as a person does; return its entry once the toy is set up."""
    flow = await discovery_flow(hass, toy.address)
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    entry: ConfigEntry = result["result"]
    await hass.async_block_till_done()
    await wait_for(toy_is_set_up(entry, toy))
    return entry


@pytest.fixture
async def sibling_entry(hass: HomeAssistant, sibling: SimulatedBB8) -> ConfigEntry:
    """The sibling added through its discovery, connected and set up."""
    return await add_through_discovery(hass, sibling)


def entity_of(hass: HomeAssistant, platform: str, address: str, key: str) -> str | None:
    """The entity id of the toy's entity ``key`` on ``platform``, None if it was not created."""
    return er.async_get(hass).async_get_entity_id(platform, DOMAIN, f"{address}_{key}")


def entity_keys(hass: HomeAssistant, entry: ConfigEntry, address: str) -> set[tuple[str, str]]:
    entities = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    return {(entity.domain, entity.unique_id.removeprefix(f"{address}_")) for entity in entities}


async def translations(hass: HomeAssistant, category: str) -> dict[str, str]:
    return await async_get_translations(hass, "en", category, [DOMAIN])


async def test_confirm_dialog_says_model_found_name(hass: HomeAssistant, sibling: SimulatedBB8) -> None:
    """strings.json: "{model} found: {name}" (the discovered toy's confirm dialog)."""
    flow = await discovery_flow(hass, sibling.address)
    form = await hass.config_entries.flow.async_configure(flow["flow_id"], None)
    assert form["step_id"] == "bluetooth_confirm"
    title = (await translations(hass, "config"))[f"component.{DOMAIN}.config.step.bluetooth_confirm.title"]
    model_name = SIBLINGS[sibling.toy_model.key]
    assert title.format(**form["description_placeholders"]) == f"{model_name} found: {sibling.name}"


async def test_the_discovered_sibling_is_set_up_with_its_model_on_the_device_page(
    hass: HomeAssistant, sibling: SimulatedBB8, sibling_entry: ConfigEntry
) -> None:
    assert sibling_entry.title == sibling.name
    assert dict(sibling_entry.data) == {CONF_ADDRESS: TOY_ADDRESS, "model": sibling.toy_model.key}
    device = dr.async_get(hass).async_get(device_id_of(hass, sibling_entry))
    assert device is not None
    assert (device.manufacturer, device.model, device.name) == (
        "Sphero",
        SIBLINGS[sibling.toy_model.key],
        sibling.name,
    )


async def test_the_sibling_has_every_bb8_entity_but_center_head(
    hass: HomeAssistant,
    proxy: SimProxy | NodePath,
    sim_clock: SimClock,
    sibling: SimulatedBB8,
    sibling_entry: ConfigEntry,
) -> None:
    bb8 = SimulatedBB8(SECOND_ADDRESS, clock=sim_clock, seed=2)
    proxy.advertise(bb8)
    bb8_entry = await add_through_discovery(hass, bb8)
    bb8_keys = entity_keys(hass, bb8_entry, SECOND_ADDRESS)
    assert ("button", "center_head") in bb8_keys
    assert entity_keys(hass, sibling_entry, TOY_ADDRESS) == bb8_keys - {("button", "center_head")}
    assert entity_of(hass, "button", TOY_ADDRESS, "center_head") is None
    assert entity_of(hass, "light", TOY_ADDRESS, "tail_light") is not None, "its blue aiming light"


async def test_main_led_and_tail_light_light_the_sibling(
    hass: HomeAssistant, sibling: SimulatedBB8, sibling_entry: ConfigEntry
) -> None:
    main_led = entity_of(hass, "light", TOY_ADDRESS, "main_led")
    tail_light = entity_of(hass, "light", TOY_ADDRESS, "tail_light")
    await hass.services.async_call(
        "light", "turn_on", {ATTR_ENTITY_ID: main_led, "rgb_color": (0, 255, 0)}, blocking=True
    )
    await hass.services.async_call(
        "light", "turn_on", {ATTR_ENTITY_ID: tail_light, "brightness": 128}, blocking=True
    )
    assert (sibling.main_led, sibling.back_led) == ((0, 255, 0), 128)
    await hass.services.async_call("light", "turn_off", {ATTR_ENTITY_ID: tail_light}, blocking=True)
    assert sibling.back_led == 0


async def test_roll_and_stop_drive_the_sibling(
    hass: HomeAssistant, sibling: SimulatedBB8, sibling_entry: ConfigEntry
) -> None:
    device_id = device_id_of(hass, sibling_entry)
    await hass.services.async_call(
        DOMAIN, "roll", {"device_id": device_id, "heading": 90, "speed": 80}, blocking=True
    )
    assert (sibling.speed, sibling.heading) == (80, 90)
    await hass.services.async_call(DOMAIN, "stop", {"device_id": device_id}, blocking=True)
    assert sibling.speed == 0


async def test_the_siblings_battery_is_read(
    hass: HomeAssistant, sibling: SimulatedBB8, sibling_entry: ConfigEntry
) -> None:
    volts = float(state_of(hass, entity_of(hass, "sensor", TOY_ADDRESS, "battery_voltage") or "").state)
    assert volts == pytest.approx(sibling.battery_voltage, abs=0.01)
    battery = state_of(hass, entity_of(hass, "sensor", TOY_ADDRESS, "battery") or "")
    assert int(battery.state) == battery_percent_from_voltage(volts)


async def test_sleep_and_wake_buttons_put_the_sibling_to_sleep_and_wake_it(
    hass: HomeAssistant, sibling: SimulatedBB8, sibling_entry: ConfigEntry
) -> None:
    session = sibling_entry.runtime_data.session
    for key in ("sleep", "wake"):
        await hass.services.async_call(
            "button", "press", {ATTR_ENTITY_ID: entity_of(hass, "button", TOY_ADDRESS, key)}, blocking=True
        )
        if key == "sleep":
            assert sibling.asleep
            await wait_for(lambda: not session.is_connected)
    assert sibling.awake
    await wait_for(toy_is_set_up(sibling_entry, sibling))


async def test_choose_the_sphero_toy_lists_the_v1_and_v2_toys(
    hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock
) -> None:
    """strings.json: "Choose the Sphero toy (BB-8, SPRK+, Ollie, BB-9E, R2-D2, R2-Q5, Mini or BOLT) to
    set up." and "The toy's Bluetooth name, its model and its address." (the manual pick, each toy
    listed as name, model, address)."""
    addresses = {"bb8": TOY_ADDRESS, "sprk2": SECOND_ADDRESS, "ollie": "C4:5A:8B:0E:7A:11"}
    toys: list[SimulatedBB8 | SimulatedV2Toy] = [
        SimulatedBB8(address, clock=sim_clock, toy_model=key) for key, address in addresses.items()
    ]
    toys.append(SimulatedV2Toy(V2_ADDRESS, "r2d2", clock=sim_clock))
    for toy in toys:
        proxy.advertise(toy)
    await wait_for(
        lambda: all(bluetooth.async_address_present(hass, toy.address, connectable=True) for toy in toys)
    )
    form = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert form["type"] is FlowResultType.FORM
    choices = form["data_schema"].schema[CONF_ADDRESS].container
    assert set(choices) == {toy.address for toy in toys}
    assert [choices[toy.address] for toy in toys] == [
        f"BB-B54A (BB-8, {TOY_ADDRESS})",
        f"SK-C0DE (SPRK+, {SECOND_ADDRESS})",
        "2B-7A11 (Ollie, C4:5A:8B:0E:7A:11)",
        f"{toys[-1].name} (R2-D2, {V2_ADDRESS})",
    ]
    strings = await translations(hass, "config")
    description = strings[f"component.{DOMAIN}.config.step.user.description"]
    assert description.startswith(
        "Choose the Sphero toy (BB-8, SPRK+, Ollie, BB-9E, R2-D2, R2-Q5, Mini or BOLT) to set up."
    )
    assert strings[f"component.{DOMAIN}.config.step.user.data_description.address"].startswith(
        "The toy's Bluetooth name, its model and its address."
    )

    result = await hass.config_entries.flow.async_configure(form["flow_id"], {CONF_ADDRESS: V2_ADDRESS})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {CONF_ADDRESS: V2_ADDRESS, "model": "r2d2"}
    await hass.async_block_till_done()


async def test_a_toy_of_no_driven_model_is_refused_and_none_in_range_is_said(
    hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock
) -> None:
    """strings.json: "{name} is a Sphero toy that this integration cannot drive yet: the BB-8, ...
    are supported.", and "No Sphero toy this integration drives (BB-8, SPRK+, Ollie, BB-9E, R2-D2,
    R2-Q5, Mini or BOLT) that is not already set up is in Bluetooth range"."""
    # An RVR (RV-, not driven) is matched by no manifest matcher; its discovery is started by hand.
    rvr = SimulatedV2Toy(V2_ADDRESS, "r2d2", name="RV-B54A", clock=sim_clock)
    proxy.advertise(rvr)
    await wait_for(lambda: bluetooth.async_address_present(hass, V2_ADDRESS, connectable=True))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.config_entries.flow.async_progress_by_handler(DOMAIN) == []

    strings = await translations(hass, "config")
    info = bluetooth.async_last_service_info(hass, V2_ADDRESS, connectable=True)
    assert info is not None
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_BLUETOOTH}, data=info
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "unsupported_model")
    shown = strings[f"component.{DOMAIN}.config.abort.unsupported_model"].format(
        **result["description_placeholders"]
    )
    assert shown == (
        "RV-B54A is a Sphero toy that this integration cannot drive yet: the BB-8, SPRK+, Ollie, "
        "BB-9E, R2-D2, R2-Q5, Mini and BOLT are supported."
    )

    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "no_devices_found")
    assert strings[f"component.{DOMAIN}.config.abort.no_devices_found"].startswith(
        "No Sphero toy this integration drives (BB-8, SPRK+, Ollie, BB-9E, R2-D2, R2-Q5, Mini or BOLT) "
        "that is not already set up"
    )


async def test_this_toy_is_already_set_up(
    hass: HomeAssistant, sibling: SimulatedBB8, sibling_entry: ConfigEntry
) -> None:
    """strings.json: "This toy is already set up." (a second discovery of a set-up toy)."""
    info = bluetooth.async_last_service_info(hass, TOY_ADDRESS, connectable=True)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_BLUETOOTH}, data=info
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "already_configured")
    strings = await translations(hass, "config")
    assert strings[f"component.{DOMAIN}.config.abort.already_configured"] == "This toy is already set up."


async def test_an_action_on_another_integrations_device_says_it_is_no_toy_of_the_sphero_integration(
    hass: HomeAssistant,
) -> None:
    """strings.json: "{name} is not a toy of the Sphero integration. Pick a Sphero toy's device."."""
    from homeassistant.exceptions import ServiceValidationError
    from homeassistant.setup import async_setup_component

    assert await async_setup_component(hass, DOMAIN, {})
    other = MockConfigEntry(domain="other_integration", title="Lamp")
    other.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=other.entry_id, identifiers={("other_integration", "lamp-1")}, name="Desk lamp"
    )
    with pytest.raises(ServiceValidationError) as caught:
        await hass.services.async_call(DOMAIN, "stop", {"device_id": device.id}, blocking=True)
    # Home Assistant shows the message without its last full stop.
    assert str(caught.value) == "Desk lamp is not a toy of the Sphero integration. Pick a Sphero toy's device"


async def test_a_reload_while_the_sibling_rolls_stops_it_and_the_timed_roll_returns(
    hass: HomeAssistant, sibling: SimulatedBB8, sibling_entry: ConfigEntry
) -> None:
    """Home Assistant's lifecycle holds for the siblings as for the BB-8 (the matrix's reload case).

    The reload comes while the timed roll waits out its duration: after the toy has answered the
    roll. (A reload in the instant between that answer and the wait leaves the caller waiting for
    ever, the toy stopped: a race in ``Drive.hold`` that is the session's, whatever the model.)
    """
    device_id = device_id_of(hass, sibling_entry)
    roll = hass.async_create_task(
        hass.services.async_call(
            DOMAIN, "roll", {"device_id": device_id, "heading": 0, "speed": 90, "duration": 30}, blocking=True
        )
    )
    await wait_for(lambda: sibling.rolling)
    await asyncio.sleep(ANSWERED)
    async with asyncio.timeout(STEP_SECONDS):
        assert await hass.config_entries.async_reload(sibling_entry.entry_id)
    await wait_for(lambda: not sibling.rolling)
    async with asyncio.timeout(STEP_SECONDS):
        await roll  # returns: the toy stopped, the roll is over
    await wait_for(toy_is_set_up(sibling_entry, sibling))
    assert not sibling.rolling
