"""What a user has stored keeps working: entries, options, entities and actions as 0.1.0 made them.

Renaming inside the code is free; renaming what Home Assistant stored for a user is not. A
config entry's data and options, the entity registry's unique ids (``{address}_{key}``, which
tie each entity to its entity_id, its name and everything a person customised), and the
actions' fields (written into automations and scripts) outlive every update of the
integration. Changing any of them needs a migration: the config entry's ``VERSION`` with
``async_migrate_entry``, or an entity registry migration (``async_migrate_entries``).

The first tests build an entry and its registry entries exactly as 0.1.0 stored them (read from
that release's config flow and platforms) and load them with today's code. The last ones pin
the names stored today, so that a rename fails here, loudly, before it reaches a user.
"""

from __future__ import annotations

from pathlib import Path
import struct
from typing import Any

import attr
from homeassistant.components.sensor import ATTR_STATE_CLASS, SensorDeviceClass, SensorStateClass
from homeassistant.config_entries import SOURCE_BLUETOOTH, SOURCE_USER, ConfigEntryState
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_ENTITY_ID,
    ATTR_FRIENDLY_NAME,
    ATTR_UNIT_OF_MEASUREMENT,
    CONF_ADDRESS,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.util.unit_system import US_CUSTOMARY_SYSTEM
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import yaml

from bb8sim import SimulatedBB8
from bb8sim.protocol import build_async
from bb8sim.proxy import SimProxy
from custom_components.bb8.const import DOMAIN
from custom_components.bb8.sphero.catalog import BY_KEY

from .conftest import TOY_ADDRESS, LoopClock, make_entry, state_of, wait_for

ADD_A_MIGRATION = (
    "is stored in users' Home Assistant; renaming it breaks their set-ups. Keep the old name, or "
    "add a migration (config entry VERSION + async_migrate_entry, or an entity registry "
    "migration), then update this pin and keep the 0.1.0 test passing"
)

# ---------------------------------------------------------------------------------------------
# Version 0.1.0, as it stored things (config_flow.py, const.py and the platforms of that release)
# ---------------------------------------------------------------------------------------------

V010_ENTRY_VERSION = (1, 1)
"""``BB8ConfigFlow.VERSION`` 1 and no ``MINOR_VERSION`` (so 1)."""

V010_DATA = {CONF_ADDRESS: TOY_ADDRESS}
"""What the Bluetooth and user steps created: the address, also the entry's unique id."""

V010_OPTIONS: dict[str, Any] = {
    "connection_mode": "on_demand",
    "idle_timeout": 45,
    "poll_interval": 30,
    "reconnect_max_delay": 20,
    "reconnect_max_attempts": 4,
}
"""What 0.1.0's options form saved: every field, numbers as whole numbers, none at its default."""

V010_ENTITIES: list[tuple[str, str, str]] = [
    ("light", "main_led", "light.bb_b54a_main_led"),
    ("light", "tail_light", "light.bb_b54a_tail_light"),
    ("switch", "stabilization", "switch.bb_b54a_stabilization"),
    ("button", "wake", "button.bb_b54a_wake"),
    ("button", "sleep", "button.bb_b54a_sleep"),
    ("button", "stop", "button.bb_b54a_stop"),
    ("button", "reset_heading", "button.bb_b54a_reset_heading"),
    ("button", "center_head", "button.bb_b54a_center_head"),
    ("sensor", "battery", "sensor.bb_b54a_battery_estimate"),
    ("sensor", "battery_voltage", "sensor.bb_b54a_battery_voltage"),
    ("sensor", "rssi", "sensor.bb_b54a_signal_strength"),
    ("binary_sensor", "charging", "binary_sensor.bb_b54a_charging"),
    ("binary_sensor", "connected", "binary_sensor.bb_b54a_connected"),
    ("event", "collision", "event.bb_b54a_collision"),
]
"""Every entity 0.1.0 registered: platform, key (unique id ``{address}_{key}``), entity_id."""

V010_DISABLED_BY_DEFAULT = {"rssi"}

# A person renamed the main LED (entity_id and name) and the device.
CUSTOM_ENTITY_ID = "light.droid_body_glow"
CUSTOM_NAME = "Body glow"
CUSTOM_DEVICE_NAME = "Kitchen droid"
# The name the renamed LED's state shows. Home Assistant releases whose entity registry entries
# have a compat_name (2026.11 and newer) put the device's name in front of a name a person gives
# an entity; their registry migration keeps a name given before whole, in compat_name. The
# fixture gives the name on the running release, as a person would.
CUSTOM_FRIENDLY_NAME = (
    f"{CUSTOM_DEVICE_NAME} {CUSTOM_NAME}"
    if "compat_name" in attr.fields_dict(er.RegistryEntry)
    else CUSTOM_NAME
)


def v010_unique_id(key: str) -> str:
    return f"{TOY_ADDRESS}_{key}"


@pytest.fixture
def v010_entry(hass: HomeAssistant, toy: SimulatedBB8) -> MockConfigEntry:
    """The config entry, its device and its entities in the registries, as 0.1.0 left them."""
    version, minor_version = V010_ENTRY_VERSION
    entry = MockConfigEntry(
        domain=DOMAIN,
        version=version,
        minor_version=minor_version,
        source=SOURCE_BLUETOOTH,
        unique_id=TOY_ADDRESS,
        title=toy.name,
        data=dict(V010_DATA),
        options=dict(V010_OPTIONS),
    )
    entry.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        connections={(dr.CONNECTION_BLUETOOTH, TOY_ADDRESS)},
        manufacturer="Sphero",
        model="BB-8",
        name=toy.name,
    )
    dr.async_get(hass).async_update_device(device.id, name_by_user=CUSTOM_DEVICE_NAME)
    registry = er.async_get(hass)
    for platform, key, entity_id in V010_ENTITIES:
        registered = registry.async_get_or_create(
            platform,
            DOMAIN,
            v010_unique_id(key),
            suggested_object_id=entity_id.split(".", 1)[1],
            config_entry=entry,
            device_id=device.id,
            disabled_by=er.RegistryEntryDisabler.INTEGRATION if key in V010_DISABLED_BY_DEFAULT else None,
        )
        assert registered.entity_id == entity_id
    registry.async_update_entity("light.bb_b54a_main_led", new_entity_id=CUSTOM_ENTITY_ID, name=CUSTOM_NAME)
    return entry


def expected_entity_id(key: str, entity_id: str) -> str:
    return CUSTOM_ENTITY_ID if key == "main_led" else entity_id


async def test_an_entry_with_its_options_and_entities_from_0_1_0_loads_unchanged(
    hass: HomeAssistant, toy: SimulatedBB8, v010_entry: MockConfigEntry
) -> None:
    assert await hass.config_entries.async_setup(v010_entry.entry_id)
    await hass.async_block_till_done()

    assert v010_entry.state is ConfigEntryState.LOADED
    assert (v010_entry.version, v010_entry.minor_version) == V010_ENTRY_VERSION, "no migration was needed"
    assert v010_entry.unique_id == TOY_ADDRESS
    assert dict(v010_entry.data) == V010_DATA
    assert dict(v010_entry.options) == V010_OPTIONS

    registry = er.async_get(hass)
    entities = er.async_entries_for_config_entry(registry, v010_entry.entry_id)
    unique_ids = {entity.unique_id for entity in entities}
    assert unique_ids >= {v010_unique_id(key) for _, key, _ in V010_ENTITIES}, (
        "every 0.1.0 entity is still there"
    )
    added_since = {(platform, key) for platform, key in PINNED_ENTITY_KEYS} - {
        (platform, key) for platform, key, _ in V010_ENTITIES
    }
    assert unique_ids == {v010_unique_id(key) for _, key, _ in V010_ENTITIES} | {
        v010_unique_id(key) for _, key in added_since
    }, "no new entity took an old one's place; the only new ones are those added since 0.1.0"
    for platform, key, entity_id in V010_ENTITIES:
        kept = expected_entity_id(key, entity_id)
        assert registry.async_get_entity_id(platform, DOMAIN, v010_unique_id(key)) == kept, key
        if key in V010_DISABLED_BY_DEFAULT:
            assert hass.states.get(kept) is None, f"{kept} stays disabled"
        else:
            state_of(hass, kept)
    customised = registry.async_get(CUSTOM_ENTITY_ID)
    assert customised is not None
    assert customised.name == CUSTOM_NAME
    assert state_of(hass, CUSTOM_ENTITY_ID).attributes[ATTR_FRIENDLY_NAME] == CUSTOM_FRIENDLY_NAME
    assert hass.states.get("light.bb_b54a_main_led") is None, "not added again under its old entity_id"

    devices = dr.async_entries_for_config_entry(dr.async_get(hass), v010_entry.entry_id)
    assert len(devices) == 1, "the 0.1.0 device is reused, not duplicated"
    assert devices[0].name_by_user == CUSTOM_DEVICE_NAME
    assert devices[0].connections == {(dr.CONNECTION_BLUETOOTH, TOY_ADDRESS)}


async def test_options_stored_by_0_1_0_are_shown_and_kept(
    hass: HomeAssistant, toy: SimulatedBB8, v010_entry: MockConfigEntry
) -> None:
    assert await hass.config_entries.async_setup(v010_entry.entry_id)
    await hass.async_block_till_done()
    form = await hass.config_entries.options.async_init(v010_entry.entry_id)
    assert form["type"] is FlowResultType.FORM
    shown = {marker.schema: marker.default() for marker in form["data_schema"].schema}
    # What 0.1.0 saved, and the options added since at their defaults (the toy's own 600 s).
    assert shown == {**V010_OPTIONS, "inactivity_timeout": 600}, "the options form shows what 0.1.0 saved"
    hass.config_entries.options.async_abort(form["flow_id"])


async def test_options_stored_by_0_1_0_are_what_the_toy_does(
    hass: HomeAssistant,
    proxy: SimProxy,
    toy: SimulatedBB8,
    v010_entry: MockConfigEntry,
    loop_clock: LoopClock,
) -> None:
    """On demand, idle 45 s, poll 30 s (both shorter than the defaults), reconnect 20 s x 4."""
    assert await hass.config_entries.async_setup(v010_entry.entry_id)
    await hass.async_block_till_done()
    session = v010_entry.runtime_data.session
    assert session.policy.max_delay == V010_OPTIONS["reconnect_max_delay"]
    assert session.policy.max_attempts == V010_OPTIONS["reconnect_max_attempts"]
    await loop_clock.advance(60)
    assert not toy.connected, "on demand: nothing connects until the toy is used"

    await hass.services.async_call(
        "light", "turn_on", {ATTR_ENTITY_ID: CUSTOM_ENTITY_ID, "rgb_color": (255, 0, 0)}, blocking=True
    )
    assert toy.main_led == (255, 0, 0), "the customised entity drives the toy"
    polls = toy.command_counts["get_power_state"]
    await loop_clock.advance(V010_OPTIONS["idle_timeout"] - 2)
    assert toy.connected, "the link stays up for the stored idle timeout"
    assert toy.command_counts["get_power_state"] > polls, "polled within 43 s: every 30 s, not 60"
    await loop_clock.advance(4)
    await wait_for(lambda: not toy.connected and proxy.slots_in_use == 0)


# ---------------------------------------------------------------------------------------------
# The names stored today, pinned
# ---------------------------------------------------------------------------------------------

PINNED_ENTRY = {
    "version": 1,
    "minor_version": 1,
    "data_keys": {CONF_ADDRESS, "model"},
    "unique_id": "address",
}
"""Since SPRK+ and Ollie: ``model`` (a ``sphero.catalog`` key) beside the address; 0.1.0's entries,
without it, are BB-8s (the 0.1.0 tests above load one)."""
PINNED_MODEL_KEYS = {"bb8", "sprk2", "ollie", "bb9e", "r2d2", "r2q5", "mini", "bolt"}
"""The values ``model`` holds, or will hold once the v2 toys are driven."""
PINNED_ENTITY_KEYS = {
    ("light", "main_led"),
    ("light", "tail_light"),
    ("switch", "stabilization"),
    ("button", "wake"),
    ("button", "sleep"),
    ("button", "stop"),
    ("button", "reset_heading"),
    ("button", "center_head"),
    ("sensor", "battery"),
    ("sensor", "battery_voltage"),
    ("sensor", "rssi"),
    ("binary_sensor", "charging"),
    ("binary_sensor", "connected"),
    ("event", "collision"),
    ("sensor", "speed"),
    ("sensor", "distance"),
    ("sensor", "position_x"),
    ("sensor", "position_y"),
    ("sensor", "pitch"),
    ("sensor", "roll"),
    ("sensor", "yaw"),
    ("binary_sensor", "moving"),
    ("button", "reset_position"),
    ("number", "aim"),
}
PINNED_OPTIONS = {
    "connection_mode": {"always", "on_demand"},
    "inactivity_timeout": None,  # added after 0.1.0: absent from older entries, shown at its default
    "idle_timeout": None,
    "poll_interval": None,
    "reconnect_max_delay": None,
    "reconnect_max_attempts": None,
}
"""Option keys, and for a choice the values it stores."""
PINNED_ACTION_FIELDS = {
    "roll": {"device_id": True, "heading": True, "speed": True, "duration": False},
    "stop": {"device_id": True},
    "set_heading": {"device_id": True, "heading": True},
    "aim": {"device_id": True, "heading": True, "set_as_forward": False},
    "play_animation": {"device_id": True, "animation": True},
    "play_sound": {"device_id": True, "sound": True},
    "matrix": {"device_id": True, "color": True, "text": False, "speed": False, "repeat": False},
}
"""Each action's fields, and whether each is required (``matrix``: added with the BOLT)."""


async def test_the_config_entry_version_data_and_unique_id_are_pinned(
    hass: HomeAssistant, toy: SimulatedBB8
) -> None:
    """An entry as the config flow creates it today."""
    form = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(form["flow_id"], {CONF_ADDRESS: toy.address})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    stored = {
        "version": entry.version,
        "minor_version": entry.minor_version,
        "data_keys": set(entry.data),
        "unique_id": "address" if entry.unique_id == toy.address else entry.unique_id,
    }
    await hass.async_block_till_done()
    assert stored == PINNED_ENTRY, f"the config entry's version, data or unique id {ADD_A_MIGRATION}"
    assert entry.data["model"] == "bb8"
    assert set(BY_KEY) == PINNED_MODEL_KEYS, f"a model's key {ADD_A_MIGRATION}"


async def test_the_entities_unique_id_keys_are_pinned(
    hass: HomeAssistant, ready_entry: MockConfigEntry
) -> None:
    entities = er.async_entries_for_config_entry(er.async_get(hass), ready_entry.entry_id)
    prefix = f"{TOY_ADDRESS}_"
    assert all(entity.unique_id.startswith(prefix) for entity in entities), (
        f"the unique id format {{address}}_{{key}} {ADD_A_MIGRATION}"
    )
    keys = {(entity.domain, entity.unique_id.removeprefix(prefix)) for entity in entities}
    assert keys == PINNED_ENTITY_KEYS, f"an entity's unique id key {ADD_A_MIGRATION}"
    assert ready_entry.unique_id == TOY_ADDRESS, f"the entry's unique id {ADD_A_MIGRATION}"


async def test_the_option_keys_and_values_are_pinned(
    hass: HomeAssistant, setup_entry: MockConfigEntry
) -> None:
    form = await hass.config_entries.options.async_init(setup_entry.entry_id)
    fields: dict[str, set[str] | None] = {}
    for marker, selector in form["data_schema"].schema.items():
        options = selector.config.get("options")
        fields[marker.schema] = set(options) if options is not None else None
    hass.config_entries.options.async_abort(form["flow_id"])
    assert fields == PINNED_OPTIONS, f"an option key or a stored option value {ADD_A_MIGRATION}"


async def test_the_action_fields_are_pinned_in_the_schemas_and_services_yaml(
    hass: HomeAssistant, setup_entry: MockConfigEntry
) -> None:
    registered = hass.services.async_services_for_domain(DOMAIN)
    schemas = {
        name: {str(marker.schema): type(marker).__name__ == "Required" for marker in service.schema.schema}
        for name, service in registered.items()
    }
    assert schemas == PINNED_ACTION_FIELDS, f"an action's field {ADD_A_MIGRATION}"

    services_yaml = Path(__file__).parent.parent / "custom_components" / DOMAIN / "services.yaml"
    described = yaml.safe_load(services_yaml.read_text())
    documented = {
        name: {field: bool(spec.get("required", False)) for field, spec in body["fields"].items()}
        for name, body in described.items()
    }
    assert documented == PINNED_ACTION_FIELDS, (
        f"services.yaml's fields must match the actions: {ADD_A_MIGRATION}"
    )


# ---------------------------------------------------------------------------------------------
# Motion sensors stored before they had device classes (issue 21, item 13)
# ---------------------------------------------------------------------------------------------

MOTION_SENSORS_BEFORE_DEVICE_CLASSES: dict[str, tuple[str, str]] = {
    "speed": ("sensor.bb_b54a_speed", "cm/s"),
    "position_x": ("sensor.bb_b54a_position_x", "cm"),
    "position_y": ("sensor.bb_b54a_position_y", "cm"),
    "pitch": ("sensor.bb_b54a_pitch", "°"),
    "roll": ("sensor.bb_b54a_roll", "°"),
    "yaw": ("sensor.bb_b54a_yaw", "°"),
}
"""Key -> (entity_id, unit) as the registry stored them: no device class, state class measurement."""


def register_motion_sensors_before_device_classes(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """The motion sensors in the entity registry as a development copy before device classes left them.

    No release had motion sensors before (0.1.0 did not); a copy installed from the repository
    while they were new registered them so. A person enabled the position and attitude sensors (disabled by default), so they have states
    and long-term statistics to keep.
    """
    registry = er.async_get(hass)
    for key, (entity_id, unit) in MOTION_SENSORS_BEFORE_DEVICE_CLASSES.items():
        registered = registry.async_get_or_create(
            "sensor",
            DOMAIN,
            v010_unique_id(key),
            suggested_object_id=entity_id.split(".", 1)[1],
            config_entry=entry,
            capabilities={"state_class": "measurement"},
            has_entity_name=True,
            original_device_class=None,
            translation_key=key,
            unit_of_measurement=unit,
        )
        assert registered.entity_id == entity_id


def motion_frame(*, pitch: int, roll: int, yaw: int, x: int, y: int, vx: int, vy: int) -> bytes:
    """One stream frame with attitude (mask 1) and location (mask 2), as the toy sends it."""
    payload = struct.pack(">3h4h", pitch, roll, yaw, x, y, vx, vy)
    return build_async(0x03, payload)


async def set_up_with_motion(hass: HomeAssistant, toy: SimulatedBB8, entry: MockConfigEntry) -> None:
    """Set ``entry`` up and let the toy stream one frame: pitch 10°, at (120, 30) cm, 500 mm/s."""
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await wait_for(lambda: entry.runtime_data.session.toy.motion.streaming)
    toy.inject_notification(motion_frame(pitch=10, roll=0, yaw=45, x=120, y=30, vx=300, vy=400), chunked=True)
    # Each enabled motion sensor shows the frame (a value within a second of the link coming up
    # is written when that second ends, by each entity's own timer).
    shown = [
        entity_id
        for entity_id, _ in MOTION_SENSORS_BEFORE_DEVICE_CLASSES.values()
        if hass.states.get(entity_id)
    ]
    assert "sensor.bb_b54a_speed" in shown
    await wait_for(
        lambda: all(state_of(hass, entity_id).state not in ("unknown", "unavailable") for entity_id in shown)
    )


async def test_motion_sensors_stored_before_device_classes_get_them_and_position_keeps_showing_cm(
    hass: HomeAssistant, toy: SimulatedBB8
) -> None:
    """Position keeps the unit of its statistics (cm) where a new install shows inches.

    Under US customary units Home Assistant shows a new distance sensor in inches; an existing
    one keeps the unit it was registered with, so its displayed unit and its statistics' unit do
    not change. Speed moves from cm/s (which Home Assistant cannot convert) to mm/s, the toy's
    own unit; pitch, roll and yaw keep degrees with a circular mean.
    """
    hass.config.units = US_CUSTOMARY_SYSTEM
    entry = make_entry(toy)
    entry.add_to_hass(hass)
    register_motion_sensors_before_device_classes(hass, entry)
    await set_up_with_motion(hass, toy, entry)

    shown = {
        key: state_of(hass, entity_id) for key, (entity_id, _) in MOTION_SENSORS_BEFORE_DEVICE_CLASSES.items()
    }
    for key in ("position_x", "position_y"):
        assert shown[key].attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.DISTANCE
        assert shown[key].attributes[ATTR_UNIT_OF_MEASUREMENT] == "cm", (
            "not inches: the statistics stay in cm"
        )
    assert (shown["position_x"].state, shown["position_y"].state) == ("120", "30")
    assert shown["speed"].attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.SPEED
    assert shown["speed"].attributes[ATTR_UNIT_OF_MEASUREMENT] == "mm/s"
    assert shown["speed"].state == "500"
    for key in ("pitch", "roll", "yaw"):
        assert shown[key].attributes[ATTR_STATE_CLASS] == SensorStateClass.MEASUREMENT_ANGLE
        assert shown[key].attributes[ATTR_UNIT_OF_MEASUREMENT] == "°"


async def test_a_new_install_under_us_units_shows_position_in_inches_and_speed_in_inches_per_second(
    hass: HomeAssistant, toy: SimulatedBB8
) -> None:
    """The counterpart: the device classes make the units convertible (what item 13 is for)."""
    hass.config.units = US_CUSTOMARY_SYSTEM
    entry = make_entry(toy)
    entry.add_to_hass(hass)
    registry = er.async_get(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    for entity_id in ("sensor.bb_b54a_position_x", "sensor.bb_b54a_pitch"):
        registry.async_update_entity(entity_id, disabled_by=None)
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    await set_up_with_motion(hass, toy, entry)
    assert state_of(hass, "sensor.bb_b54a_position_x").attributes[ATTR_UNIT_OF_MEASUREMENT] == "in"
    assert state_of(hass, "sensor.bb_b54a_speed").attributes[ATTR_UNIT_OF_MEASUREMENT] == "in/s"
