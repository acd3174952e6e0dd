"""Every entity and every action of every catalog model, driven against the simulator.

Issue 25's Must-show: "Each model set up through Home Assistant in tests on both legs, every
entity and action driven against the simulator." The per-feature modules (``test_family_v1``,
``test_family_v2``, ``test_droid``, ``test_light``, ``test_motion_entities``, ...) test each part
in depth; this module makes the *every* checkable and keeps it true:

* each model of ``CATALOG`` is added through its own discovery (the real config flow), every
  entity of its device is enabled (the noisy ones are disabled by default), and each entity the
  entity registry holds for it is driven through its Home Assistant service, or, for a sensor,
  binary sensor or event, the simulator is made to produce what it reports. The simulator's own
  state must show the command (or Home Assistant's state the simulator's value). An entity with
  no driver in ``ENTITY_DRIVERS`` fails the test, so a new entity cannot land undriven;
* each ``bb8.*`` action in services.yaml is driven on every model that has it, and on every
  model that lacks it must be refused with the translated ``action_not_for_model`` sentence,
  sending nothing; an action with no driver in ``ACTIONS`` fails the test.

Every model runs on the project's scanner path; a v1 model (the BB-8) and a v2 one (the R2-D2,
the model with the most entities) also run through the simulated ESPHome node.

The motion drivers read the simulator's own truth (``true_speed``, ``distance_travelled``,
``odometer``, ``true_yaw``: the observables ``bb8sim.SimulatedBB8`` offers), so they hold for any
model with ``Feature.MOTION`` whose simulator offers them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from homeassistant.components import bluetooth
from homeassistant.config_entries import RELOAD_AFTER_UPDATE_DELAY, ConfigEntry
from homeassistant.const import ATTR_ENTITY_ID, STATE_OFF, STATE_ON, STATE_UNKNOWN
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from spherov2.toy.bb9e import BB9E
from spherov2.toy.r2d2 import R2D2
from spherov2.toy.r2q5 import R2Q5
import yaml

from bb8sim import SimClock, SimulatedBB8
from bb8sim.proxy import SimProxy
from bb8sim.v2 import SimulatedV2Toy
from custom_components.bb8.const import DOMAIN, battery_percent_from_voltage
from custom_components.bb8.sphero.catalog import CATALOG, CatalogEntry, Feature

from .conftest import TOY_ADDRESS, LoopClock, device_id_of, state_of, toy_is_set_up, wait_for
from .esphome_support import NodePath
from .test_family_v1 import discovery_flow
from .test_family_v2 import v2_is_set_up

SERVICES_YAML = Path(__file__).resolve().parents[1] / "custom_components" / DOMAIN / "services.yaml"

type Sim = SimulatedBB8 | SimulatedV2Toy
type Rgb = tuple[int, int, int]

RECONNECT_SECONDS = 15.0
"""Simulated seconds a dropped link gets to come back (the first reconnect wait is 2 s)."""

# Every model on the project's scanner path; a v1 and a v2 model through the ESPHome node too.
RUNS = [pytest.param(model.key, "scanner", id=f"{model.key}-scanner") for model in CATALOG] + [
    pytest.param(key, "node", id=f"{key}-node") for key in ("bb8", "r2d2")
]


# ---------------------------------------------------------------------------------------------
# The model under test, set up through Home Assistant
# ---------------------------------------------------------------------------------------------


@dataclass(repr=False)
class Rig:
    """One model's simulated toy, its config entry and what the drivers share."""

    hass: HomeAssistant
    proxy: SimProxy | NodePath
    sim: Sim
    entry: ConfigEntry
    model: CatalogEntry
    clock: LoopClock | None = None
    motion: MotionRecord | None = None
    """The shared motion drive, once a motion driver ran it."""

    def __repr__(self) -> str:
        """Short, for failing assertions: which model on which path."""
        return f"<Rig {self.model.name} {self.sim.name} via {type(self.proxy).__name__}>"

    @property
    def device_id(self) -> str:
        return device_id_of(self.hass, self.entry)

    def entity(self, platform: str, key: str) -> str:
        """The entity id of this toy's ``platform`` entity ``key``; fails the test when it has none."""
        entity_id = er.async_get(self.hass).async_get_entity_id(platform, DOMAIN, f"{self.sim.address}_{key}")
        if entity_id is None:
            pytest.fail(f"{self.model.name} has no {platform} {key}", pytrace=False)
        return entity_id

    def is_set_up(self) -> Callable[[], bool]:
        """The predicate that the session's after-connect set-up reached the toy."""
        if isinstance(self.sim, SimulatedBB8):
            return toy_is_set_up(self.entry, self.sim)
        return v2_is_set_up(self.entry, self.sim)

    async def ready(self) -> None:
        """Wait until the toy is connected and set up (again), nothing left queued."""
        await wait_for(self.is_set_up(), timeout=RECONNECT_SECONDS)

    async def call(self, domain: str, service: str, data: dict[str, Any]) -> None:
        """Call a Home Assistant service and wait for it, as an automation does."""
        await self.hass.services.async_call(domain, service, data, blocking=True)

    async def on_entity(self, domain: str, service: str, entity_id: str, **data: Any) -> None:
        await self.call(domain, service, {ATTR_ENTITY_ID: entity_id, **data})

    async def action(self, action: str, **data: Any) -> None:
        """Call ``bb8.<action>`` on this toy's device."""
        await self.call(DOMAIN, action, {"device_id": self.device_id, **data})

    async def poll(self) -> None:
        """Let the coordinator poll the toy now, as its poll interval would."""
        await self.entry.runtime_data.async_refresh()
        await self.hass.async_block_till_done()

    async def let_pass(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass for Home Assistant and the toy alike."""
        assert self.clock is not None, "the entity test runs on simulated time"
        await self.clock.advance(seconds, 0.1)

    def state(self, entity_id: str) -> str:
        return state_of(self.hass, entity_id).state

    def attributes(self, entity_id: str) -> dict[str, Any]:
        return dict(state_of(self.hass, entity_id).attributes)


async def set_up_model(hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock, key: str) -> Rig:
    """Advertise a simulated ``key`` model, add it through its discovery and wait until it is set up."""
    model = next(entry for entry in CATALOG if entry.key == key)
    sim: Sim
    if model.protocol == "v1":
        sim = SimulatedBB8(TOY_ADDRESS, clock=sim_clock, seed=1, toy_model=key)
    else:
        sim = SimulatedV2Toy(TOY_ADDRESS, key, clock=sim_clock, seed=1)
    assert sim.name.startswith(model.prefix), "the simulator advertises the model's own prefix"
    proxy.advertise(sim)
    await wait_for(lambda: bluetooth.async_address_present(hass, TOY_ADDRESS, connectable=True))
    flow = await discovery_flow(hass, sim.address)
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
    assert result["result"].data["model"] == key, "discovered as its own model"
    rig = Rig(hass, proxy, sim, result["result"], model)
    await hass.async_block_till_done()
    await rig.ready()
    return rig


async def enable_every_entity(rig: Rig) -> list[er.RegistryEntry]:
    """Enable the device's disabled entities as a person does; Home Assistant reloads the entry.

    Returns every entity of the device, all enabled, once the toy is set up again.
    """
    registry = er.async_get(rig.hass)
    entities = er.async_entries_for_config_entry(registry, rig.entry.entry_id)
    disabled = [entity for entity in entities if entity.disabled_by is not None]
    for entity in disabled:
        registry.async_update_entity(entity.entity_id, disabled_by=None)
    if disabled:
        # Home Assistant's own delayed reload after an enable, brought forward.
        async_fire_time_changed(rig.hass, dt_util.utcnow() + timedelta(seconds=RELOAD_AFTER_UPDATE_DELAY + 1))
        await rig.hass.async_block_till_done()
        await rig.ready()
    entities = er.async_entries_for_config_entry(registry, rig.entry.entry_id)
    assert all(entity.disabled_by is None for entity in entities)
    for entity in entities:
        state_of(rig.hass, entity.entity_id)  # every one is on the device page now
    return entities


# ---------------------------------------------------------------------------------------------
# What the simulator shows: its own state, read the way each simulator offers it
# ---------------------------------------------------------------------------------------------

V2_MAIN_LED_GROUPS = {"bb9e": ("body",), "mini": ("body",), "bolt": ("front", "back")}
"""The LED groups a v2 model's main colour lights (the simulator's LED names, spherov2's)."""
V2_SINGLE_LEDS = {
    "tail_light": "aiming",
    "head_light": "head",
    "logic_displays": "logic_displays",
    "holo_projector": "holo_projector",
}
"""The simulator's LED behind each single-colour light of a v2 toy."""


def main_led_shown(rig: Rig) -> list[Rgb]:
    """The colour(s) the toy's body shows, one per LED group the main LED lights."""
    if isinstance(rig.sim, SimulatedBB8):
        return [rig.sim.main_led]
    groups = V2_MAIN_LED_GROUPS.get(rig.model.key)
    if groups is None:
        pytest.fail(f"which LEDs of a simulated {rig.model.name} show its main colour? (V2_MAIN_LED_GROUPS)")
    return [rig.sim.led_group(group) for group in groups]


def single_led_shown(rig: Rig, key: str) -> int:
    """The brightness the toy's single-colour LED behind light ``key`` shows."""
    if isinstance(rig.sim, SimulatedBB8):
        assert key == "tail_light", f"a v1 toy has no {key}"
        return rig.sim.back_led
    return rig.sim.leds[V2_SINGLE_LEDS[key]]


def rgb_led_shown(rig: Rig, key: str) -> Rgb:
    """An R2 unit's front or back LED as the toy shows it."""
    assert isinstance(rig.sim, SimulatedV2Toy)
    return rig.sim.led_group(key.removesuffix("_led"))


def writes_to_toy(rig: Rig) -> int:
    """How many GATT writes reached the toy so far (anything sent shows here)."""
    return len(rig.sim.writes)


# ---------------------------------------------------------------------------------------------
# Entity drivers: drive the entity through Home Assistant, check the simulator saw it
# ---------------------------------------------------------------------------------------------

type Driver = Callable[[Rig, str], Awaitable[None]]


async def drive_rgb_light(rig: Rig, entity_id: str, shown: Callable[[], list[Rgb]]) -> None:
    """Colour and brightness reach the toy as rgb x brightness/255 (Home Assistant's RGB rule)."""
    await rig.on_entity("light", "turn_on", entity_id, rgb_color=(255, 64, 0), brightness=128)
    assert all(colour == (128, 32, 0) for colour in shown()), shown()
    assert rig.state(entity_id) == STATE_ON
    assert (rig.attributes(entity_id)["rgb_color"], rig.attributes(entity_id)["brightness"]) == (
        (255, 64, 0),
        128,
    )
    await rig.on_entity("light", "turn_off", entity_id)
    assert all(colour == (0, 0, 0) for colour in shown()), shown()
    assert rig.state(entity_id) == STATE_OFF


async def drive_main_led(rig: Rig, entity_id: str) -> None:
    await drive_rgb_light(rig, entity_id, lambda: main_led_shown(rig))


async def drive_droid_rgb_light(rig: Rig, entity_id: str) -> None:
    key = unique_key(rig, entity_id)
    await drive_rgb_light(rig, entity_id, lambda: [rgb_led_shown(rig, key)])


async def drive_brightness_light(rig: Rig, entity_id: str) -> None:
    """A single-colour LED shows the brightness asked for, and 0 when turned off."""
    key = unique_key(rig, entity_id)
    await rig.on_entity("light", "turn_on", entity_id, brightness=77)
    assert single_led_shown(rig, key) == 77
    assert (rig.state(entity_id), rig.attributes(entity_id)["brightness"]) == (STATE_ON, 77)
    await rig.on_entity("light", "turn_off", entity_id)
    assert single_led_shown(rig, key) == 0
    assert rig.state(entity_id) == STATE_OFF


def unique_key(rig: Rig, entity_id: str) -> str:
    """The entity's key: its unique id without the toy's address."""
    entry = er.async_get(rig.hass).async_get(entity_id)
    assert entry is not None
    return entry.unique_id.removeprefix(f"{rig.sim.address}_")


async def drive_aim(rig: Rig, entity_id: str) -> None:
    """The toy turns in place to face the aimed direction, its tail light full to show its back."""
    await rig.on_entity("number", "set_value", entity_id, value=120)
    assert (rig.sim.heading, rig.sim.speed, single_led_shown(rig, "tail_light")) == (120, 0, 255)
    assert rig.state(entity_id) == "120"


async def drive_dome(rig: Rig, entity_id: str) -> None:
    assert isinstance(rig.sim, SimulatedV2Toy)
    for angle in (90, -160, 0):
        await rig.on_entity("number", "set_value", entity_id, value=angle)
        assert rig.sim.dome_angle == angle
        assert float(rig.state(entity_id)) == angle


async def drive_stance(rig: Rig, entity_id: str) -> None:
    """The design brief's stances: 1 tripod, 2 bipod, 3 waddle."""
    assert isinstance(rig.sim, SimulatedV2Toy)
    for option, number in (("tripod", 1), ("waddle", 3), ("bipod", 2)):
        await rig.on_entity("select", "select_option", entity_id, option=option)
        assert int(rig.sim.stance) == number
        assert rig.state(entity_id) == option


SPHEROV2_ANIMATIONS: dict[str, Any] = {
    "r2d2": R2D2.Animations,
    "r2q5": R2Q5.Animations,
    "bb9e": BB9E.Animations,
}
"""Each animated model's numbers as spherov2's enum of it has them (apart from the package's
tables): the same name is another number on a BB-9E than on an R2 unit."""


def animation_number(rig: Rig, name: str) -> int:
    """spherov2's number for the animation ``name`` on the rig's model."""
    enum = SPHEROV2_ANIMATIONS.get(rig.model.key)
    if enum is None:
        pytest.fail(f"which spherov2 enum numbers a {rig.model.name}'s animations? (SPHEROV2_ANIMATIONS)")
    return int(enum[name.upper()])


async def drive_animation_select(rig: Rig, entity_id: str) -> None:
    """The number played is the model's own (spherov2's enum of the model)."""
    assert isinstance(rig.sim, SimulatedV2Toy)
    await rig.on_entity("select", "select_option", entity_id, option="emote_yes")
    assert rig.sim.animation_playing == animation_number(rig, "emote_yes")
    assert rig.state(entity_id) == "emote_yes"
    await rig.let_pass(3.5)  # it ends by itself


async def drive_sound_select(rig: Rig, entity_id: str) -> None:
    assert isinstance(rig.sim, SimulatedV2Toy)
    await rig.on_entity("select", "select_option", entity_id, option="r2_laugh_2")
    assert rig.sim.sounds_played[-1] == (R2D2.Audio.R2_LAUGH_2, 0)
    assert rig.state(entity_id) == "r2_laugh_2"


async def drive_stabilization(rig: Rig, entity_id: str) -> None:
    await rig.on_entity("switch", "turn_off", entity_id)
    assert not rig.sim.stabilization
    assert rig.state(entity_id) == STATE_OFF
    await rig.on_entity("switch", "turn_on", entity_id)
    assert rig.sim.stabilization
    assert rig.state(entity_id) == STATE_ON


async def drive_stop_button(rig: Rig, entity_id: str) -> None:
    await rig.action("roll", heading=90, speed=80)
    assert rig.sim.rolling
    await rig.on_entity("button", "press", entity_id)
    assert (rig.sim.rolling, rig.sim.speed) == (False, 0)


async def drive_sleep_button(rig: Rig, entity_id: str) -> None:
    """The toy falls asleep and the link goes; the Wake button brings it back for the next driver."""
    session = rig.entry.runtime_data.session
    await rig.on_entity("button", "press", entity_id)
    assert not rig.sim.awake
    await wait_for(lambda: not session.is_connected)
    await rig.on_entity("button", "press", rig.entity("button", "wake"))
    await rig.ready()


async def drive_wake_button(rig: Rig, entity_id: str) -> None:
    """A toy that fell asleep by itself is woken (and set up again) by the Wake button."""
    session = rig.entry.runtime_data.session
    rig.sim.sleep_now()
    await wait_for(lambda: not session.is_connected)
    assert not rig.sim.awake
    await rig.on_entity("button", "press", entity_id)
    assert rig.sim.awake
    await rig.ready()


async def drive_reset_heading(rig: Rig, entity_id: str) -> None:
    """The direction the toy faces becomes heading 0 on the toy (Set Heading 0)."""
    assert isinstance(rig.sim, SimulatedBB8)
    await rig.action("roll", heading=90, speed=0)
    assert rig.sim.heading == 90
    await rig.on_entity("button", "press", entity_id)
    assert rig.sim.heading == 0
    assert rig.state(rig.entity("number", "aim")) == "0"


async def drive_center_head(rig: Rig, entity_id: str) -> None:
    assert isinstance(rig.sim, SimulatedBB8)
    before = len(rig.sim.self_level_requests)
    await rig.on_entity("button", "press", entity_id)
    assert len(rig.sim.self_level_requests) == before + 1


async def drive_reset_position(rig: Rig, entity_id: str) -> None:
    """After a drive, the locator is the origin again: the toy streams (0, 0) and the distance restarts."""
    motion = await motion_drive(rig)
    assert motion.final["position_x"] != "0" or motion.final["position_y"] != "0", "it had moved"
    await rig.on_entity("button", "press", entity_id)
    await rig.let_pass(2)
    sim: Any = rig.sim
    assert sim.odometer == pytest.approx((0, 0), abs=1), "the toy's locator is at the origin"
    for key in ("position_x", "position_y", "distance"):
        assert rig.state(rig.entity("sensor", key)) == "0", key


async def drive_battery_voltage(rig: Rig, entity_id: str) -> None:
    """A new voltage on the toy shows once the coordinator polls."""
    volts = round(rig.sim.battery_voltage - 0.4, 2)
    rig.sim.set_battery_voltage(volts)
    await rig.poll()
    assert float(rig.state(entity_id)) == pytest.approx(rig.sim.battery_voltage, abs=0.01)
    assert float(rig.state(entity_id)) == pytest.approx(volts, abs=0.02)


async def drive_battery(rig: Rig, entity_id: str) -> None:
    """The toy's own percentage where it reports one (13/10), else the estimate from its voltage."""
    before = rig.state(entity_id)
    rig.sim.set_battery_voltage(round(rig.sim.battery_voltage - 0.5, 2))
    await rig.poll()
    if rig.model.has(Feature.BATTERY_PERCENT):
        assert isinstance(rig.sim, SimulatedV2Toy)
        assert int(rig.state(entity_id)) == rig.sim.battery_percentage
    else:
        assert isinstance(rig.sim, SimulatedBB8)
        assert int(rig.state(entity_id)) == battery_percent_from_voltage(rig.sim.battery_centivolts / 100)
    assert rig.state(entity_id) != before, "the new voltage shows"


async def drive_rssi(rig: Rig, entity_id: str) -> None:
    """The signal strength is what the proxy last heard the toy at (shown at the next update)."""
    for rssi in (-77, -58):
        rig.proxy.advertise(rig.sim, rssi=rssi)
        await rig.poll()
        assert rig.state(entity_id) == str(rssi)


async def drive_connected(rig: Rig, entity_id: str) -> None:
    """Off while the link is down, on again once the session reconnected."""
    assert rig.state(entity_id) == STATE_ON
    rig.sim.disconnect_now()
    await wait_for(lambda: rig.state(entity_id) == STATE_OFF)
    await rig.ready()
    await wait_for(lambda: rig.state(entity_id) == STATE_ON)


async def drive_charging(rig: Rig, entity_id: str) -> None:
    """On while the toy is on its charger (a v1 toy's power state, a BOLT's charger state)."""
    assert rig.state(entity_id) == STATE_OFF
    rig.sim.set_charging(True)
    await rig.poll()
    await wait_for(lambda: rig.state(entity_id) == STATE_ON)
    rig.sim.set_charging(False)
    await rig.poll()
    await wait_for(lambda: rig.state(entity_id) == STATE_OFF)


async def drive_collision(rig: Rig, entity_id: str) -> None:
    """A bump the toy reports fires ``collision`` with the axis it reported."""
    assert rig.sim.trigger_collision(), "the toy's collision detection was armed"
    await wait_for(lambda: rig.attributes(entity_id).get("event_type") == "collision")
    assert rig.attributes(entity_id)["x_axis"] is True


async def drive_animation_event(rig: Rig, entity_id: str) -> None:
    """The end of an animation the toy played fires ``animation_complete`` with its name."""
    assert isinstance(rig.sim, SimulatedV2Toy)
    await rig.action("play_animation", animation="wwm_happy")
    completed = len(rig.sim.animations_completed)
    await rig.let_pass(3.5)
    assert rig.sim.animations_completed[completed:] == [animation_number(rig, "wwm_happy")]
    await wait_for(lambda: rig.attributes(entity_id).get("animation") == "wwm_happy")
    assert rig.attributes(entity_id)["event_type"] == "animation_complete"


async def drive_matrix_text_event(rig: Rig, entity_id: str) -> None:
    """A text the matrix scrolled to its end fires ``text_done``."""
    assert isinstance(rig.sim, SimulatedV2Toy)
    await rig.action("matrix", color=[0, 255, 0], text="OK")
    assert rig.attributes(entity_id).get("event_type") is None
    await rig.let_pass(2)
    await wait_for(lambda: rig.attributes(entity_id).get("event_type") == "text_done")


# -- motion: one drive through bb8.roll and bb8.stop, every motion entity read from it -------------


@dataclass
class MotionRecord:
    """What the motion entities showed over one drive, beside what the simulator truly did."""

    written: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """Every state written per motion entity key, with the leg of the drive it was written in:
    ``ahead`` (from rest to full speed, heading 0), ``turn`` (full speed onto 270), ``stop``."""
    final: dict[str, str] = field(default_factory=dict)
    """Each motion entity's state once the toy had been at rest a while."""
    top_speed: float = 0.0
    """The simulator's speed at full throttle, cm/s."""
    travelled: float = 0.0
    """The cm the simulator rolled during the drive."""
    distance_before: float = 0.0
    """The distance entity's state before the drive."""
    odometer: tuple[float, float] = (0.0, 0.0)
    """Where the simulator's locator put the toy at rest afterwards, cm."""
    yaw: float = 0.0
    """The direction the simulator faced at rest afterwards (degrees, from its heading 0)."""


MOTION_KEYS = {
    "speed": "sensor",
    "distance": "sensor",
    "position_x": "sensor",
    "position_y": "sensor",
    "pitch": "sensor",
    "roll": "sensor",
    "yaw": "sensor",
    "moving": "binary_sensor",
}


async def motion_drive(rig: Rig) -> MotionRecord:
    """Roll ahead at full speed, turn left onto 270 and stop, recording every motion entity.

    Run once per toy; each motion driver asserts on the record. Accelerating dips the nose
    (pitch) while the body stays upright sideways; the turn, at a steady speed, leans it sideways
    (roll) with the nose level; the yaw ends at the last heading. The simulator's truth is read
    from the observables ``bb8sim.SimulatedBB8`` offers (``true_speed``, ``distance_travelled``,
    ``odometer``, ``true_yaw``): a simulator that plays another model's motion offers the same.
    """
    if rig.motion is not None:
        return rig.motion
    sim: Any = rig.sim
    session = rig.entry.runtime_data.session
    await wait_for(lambda: session.toy.motion.streaming)
    ids = {rig.entity(platform, key): key for key, platform in MOTION_KEYS.items()}
    record = MotionRecord(written={key: [] for key in MOTION_KEYS})
    leg = "ahead"

    @callback
    def _written(event: Event[Any]) -> None:
        key = ids.get(event.data["entity_id"])
        if key is not None and event.data["new_state"] is not None:
            record.written[key].append((leg, event.data["new_state"].state))

    await rig.let_pass(1.5)  # at rest, the stream's first samples in
    distance = rig.state(rig.entity("sensor", "distance"))
    record.distance_before = 0.0 if distance == STATE_UNKNOWN else float(distance)
    start = sim.distance_travelled
    remove = rig.hass.bus.async_listen("state_changed", _written)
    try:
        await rig.action("roll", heading=0, speed=255)
        await rig.let_pass(2.5)
        record.top_speed = sim.true_speed
        leg = "turn"
        await rig.action("roll", heading=270, speed=255)
        await rig.let_pass(2.5)
        leg = "stop"
        await rig.action("stop")
        await rig.let_pass(3)
    finally:
        remove()
    record.travelled = sim.distance_travelled - start
    record.odometer = sim.odometer
    record.yaw = sim.true_yaw
    record.final = {key: rig.state(entity_id) for entity_id, key in ids.items()}
    rig.motion = record
    return record


async def drive_speed(rig: Rig, entity_id: str) -> None:
    """mm/s: the simulator's full speed showed while rolling, 0 at rest."""
    motion = await motion_drive(rig)
    assert motion.top_speed > 100, "full speed is over a metre a second"
    shown = [float(state) for _, state in motion.written["speed"] if state != STATE_UNKNOWN]
    assert any(value == pytest.approx(motion.top_speed * 10, abs=10) for value in shown), shown
    assert motion.final["speed"] == "0"


async def drive_moving(rig: Rig, entity_id: str) -> None:
    motion = await motion_drive(rig)
    assert (("ahead", STATE_ON)) in motion.written["moving"]
    assert motion.final["moving"] == STATE_OFF


async def drive_distance(rig: Rig, entity_id: str) -> None:
    """cm: the distance grew by what the simulator rolled."""
    motion = await motion_drive(rig)
    assert motion.travelled > 200
    grown = float(motion.final["distance"]) - motion.distance_before
    assert grown == pytest.approx(motion.travelled, abs=2)


async def drive_position(rig: Rig, entity_id: str, axis: int) -> None:
    """cm from where the position was last reset: where the simulator's locator put the toy."""
    motion = await motion_drive(rig)
    truth = motion.odometer[axis]
    assert abs(truth) > 50, f"the drive moved the toy along both axes: {motion.odometer}"
    key = ("position_x", "position_y")[axis]
    assert float(motion.final[key]) == pytest.approx(truth, abs=1)


async def drive_yaw(rig: Rig, entity_id: str) -> None:
    """Degrees: the toy came to rest facing 270 (-90 in the toy's (-180, 180])."""
    motion = await motion_drive(rig)
    assert motion.yaw == pytest.approx(-90, abs=1)
    assert float(motion.final["yaw"]) == pytest.approx(motion.yaw, abs=1)


async def drive_lean(rig: Rig, entity_id: str, key: str) -> None:
    """Pitch leaves 0 while the toy speeds up ahead, roll while it turns; both are 0 at rest."""
    motion = await motion_drive(rig)
    leans_on, level_on = ("ahead", "turn") if key == "pitch" else ("turn", "ahead")
    written = motion.written[key]
    assert any(leg == leans_on and state not in ("0", STATE_UNKNOWN) for leg, state in written), written
    assert all(state == "0" for leg, state in written if leg == level_on), written
    assert motion.final[key] == "0"


# -- the table ------------------------------------------------------------------------------------

ENTITY_DRIVERS: dict[tuple[str, str], Driver] = {
    ("binary_sensor", "charging"): drive_charging,
    ("binary_sensor", "connected"): drive_connected,
    ("binary_sensor", "moving"): drive_moving,
    ("button", "center_head"): drive_center_head,
    ("button", "reset_heading"): drive_reset_heading,
    ("button", "reset_position"): drive_reset_position,
    ("button", "sleep"): drive_sleep_button,
    ("button", "stop"): drive_stop_button,
    ("button", "wake"): drive_wake_button,
    ("event", "animation"): drive_animation_event,
    ("event", "collision"): drive_collision,
    ("event", "matrix_text"): drive_matrix_text_event,
    ("light", "back_led"): drive_droid_rgb_light,
    ("light", "front_led"): drive_droid_rgb_light,
    ("light", "head_light"): drive_brightness_light,
    ("light", "holo_projector"): drive_brightness_light,
    ("light", "logic_displays"): drive_brightness_light,
    ("light", "main_led"): drive_main_led,
    ("light", "tail_light"): drive_brightness_light,
    ("number", "aim"): drive_aim,
    ("number", "dome"): drive_dome,
    ("select", "animation"): drive_animation_select,
    ("select", "sound"): drive_sound_select,
    ("select", "stance"): drive_stance,
    ("sensor", "battery"): drive_battery,
    ("sensor", "battery_voltage"): drive_battery_voltage,
    ("sensor", "distance"): drive_distance,
    ("sensor", "pitch"): lambda rig, entity_id: drive_lean(rig, entity_id, "pitch"),
    ("sensor", "position_x"): lambda rig, entity_id: drive_position(rig, entity_id, 0),
    ("sensor", "position_y"): lambda rig, entity_id: drive_position(rig, entity_id, 1),
    ("sensor", "roll"): lambda rig, entity_id: drive_lean(rig, entity_id, "roll"),
    ("sensor", "rssi"): drive_rssi,
    ("sensor", "speed"): drive_speed,
    ("sensor", "yaw"): drive_yaw,
    ("switch", "stabilization"): drive_stabilization,
}
"""How each entity, by (platform, key), is driven and checked against the simulator."""


@pytest.mark.parametrize(("model_key", "proxy_path"), RUNS, indirect=["proxy_path"])
async def test_every_entity_of_the_model_is_driven_against_the_simulator(
    hass: HomeAssistant,
    proxy: SimProxy | NodePath,
    sim_clock: SimClock,
    loop_clock: LoopClock,
    model_key: str,
) -> None:
    """Issue 25: every entity of every model, driven through Home Assistant against the simulator."""
    rig = await set_up_model(hass, proxy, sim_clock, model_key)
    rig.clock = loop_clock
    entities = await enable_every_entity(rig)
    keys = {(entity.domain, unique_key(rig, entity.entity_id)): entity.entity_id for entity in entities}
    undriven = sorted(set(keys) - set(ENTITY_DRIVERS))
    assert not undriven, f"{rig.model.name}'s entities with no driver in ENTITY_DRIVERS: {undriven}"
    for key, entity_id in sorted(keys.items()):
        try:
            await ENTITY_DRIVERS[key](rig, entity_id)
            await rig.ready()
        except (Exception, pytest.fail.Exception) as err:
            err.add_note(f"while driving {entity_id} ({rig.model.name}'s {key[0]} {key[1]})")
            raise


# ---------------------------------------------------------------------------------------------
# Actions: each bb8.* action drives a model that has it and is refused by one that does not
# ---------------------------------------------------------------------------------------------


async def act_roll(rig: Rig) -> None:
    """A roll turns the toy to the heading and rolls at the speed; a timed one ends stopped, and
    so does one whose script is stopped before its time is up (the caller's task cancelled)."""
    await rig.action("roll", heading=90, speed=80)
    assert (rig.sim.speed, rig.sim.heading) == (80, 90)
    await rig.action("roll", heading=180, speed=60, duration=0.2)
    assert rig.sim.heading == 180
    assert not rig.sim.rolling

    roll = {"device_id": rig.device_id, "heading": 270, "speed": 120, "duration": 8}
    script = {"script": {"patrol": {"sequence": [{"action": "bb8.roll", "data": roll}]}}}
    assert await async_setup_component(rig.hass, "script", script)
    await rig.call("script", "turn_on", {ATTR_ENTITY_ID: "script.patrol"})
    await wait_for(lambda: rig.sim.rolling)
    await rig.call("script", "turn_off", {ATTR_ENTITY_ID: "script.patrol"})
    await wait_for(lambda: not rig.sim.rolling, timeout=2.0)
    assert (rig.sim.speed, rig.sim.heading) == (0, 270)


async def act_stop(rig: Rig) -> None:
    await rig.action("roll", heading=45, speed=90)
    assert rig.sim.rolling
    await rig.action("stop")
    assert (rig.sim.rolling, rig.sim.speed, rig.sim.heading) == (False, 0, 45)


async def act_set_heading(rig: Rig) -> None:
    """Set Heading declares the toy's current direction to be the heading (the toy's own heading)."""
    assert isinstance(rig.sim, SimulatedBB8)
    await rig.action("set_heading", heading=45)
    assert rig.sim.heading == 45
    await rig.action("set_heading", heading=0)
    assert rig.sim.heading == 0


async def act_aim(rig: Rig) -> None:
    """Aim turns in place with the tail light on; with set_as_forward that direction becomes 0°."""
    assert isinstance(rig.sim, SimulatedBB8)
    await rig.action("aim", heading=200)
    assert (rig.sim.heading, rig.sim.speed, rig.sim.back_led) == (200, 0, 255)
    await rig.action("aim", heading=100, set_as_forward=True)
    assert (rig.sim.heading, rig.sim.back_led) == (0, 0), "forward now, the tail light back to its wish"


async def act_play_animation(rig: Rig) -> None:
    assert isinstance(rig.sim, SimulatedV2Toy)
    await rig.action("play_animation", animation="wwm_happy")
    assert rig.sim.animations_played[-1] == animation_number(rig, "wwm_happy")


async def act_play_sound(rig: Rig) -> None:
    assert isinstance(rig.sim, SimulatedV2Toy)
    await rig.action("play_sound", sound="r2_excited_1")
    assert rig.sim.sounds_played[-1] == (R2D2.Audio.R2_EXCITED_1, 0)


async def act_matrix(rig: Rig) -> None:
    """Without a text the matrix fills with the colour; with one, the text scrolls."""
    assert isinstance(rig.sim, SimulatedV2Toy)
    await rig.action("matrix", color=[0, 0, 255])
    assert rig.sim.matrix == [[(0, 0, 255)] * 8 for _ in range(8)]
    await rig.action("matrix", color=[255, 0, 0], text="HI", speed=5, repeat=True)
    assert rig.sim.matrix_text == ("HI", (255, 0, 0), 5, True)


@dataclass(frozen=True)
class ActionCase:
    """An action, the part a model needs for it (None: every model), a driver and valid fields."""

    needs: Feature | None
    drive: Callable[[Rig], Awaitable[None]]
    fields: dict[str, Any]
    """Valid fields for the refusal case: the schema lets them through, the model is what refuses."""


ACTIONS: dict[str, ActionCase] = {
    "roll": ActionCase(None, act_roll, {"heading": 0, "speed": 50}),
    "stop": ActionCase(None, act_stop, {}),
    "set_heading": ActionCase(Feature.HEADING, act_set_heading, {"heading": 90}),
    "aim": ActionCase(Feature.HEADING, act_aim, {"heading": 90}),
    "play_animation": ActionCase(Feature.ANIMATIONS, act_play_animation, {"animation": "emote_yes"}),
    "play_sound": ActionCase(Feature.SOUNDS, act_play_sound, {"sound": "r2_hey_1"}),
    "matrix": ActionCase(Feature.MATRIX, act_matrix, {"color": [1, 2, 3]}),
}
"""Every ``bb8.*`` action: which models have it, how it is driven, what to send where it is refused."""


def test_every_action_in_services_yaml_has_a_case() -> None:
    """services.yaml is what a person's automation editor offers: each one is driven here."""
    assert set(yaml.safe_load(SERVICES_YAML.read_text(encoding="utf-8"))) == set(ACTIONS)


@pytest.mark.parametrize(("model_key", "proxy_path"), RUNS, indirect=["proxy_path"])
async def test_every_action_drives_the_model_or_is_refused_in_words_and_sends_nothing(
    hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock, model_key: str
) -> None:
    """strings.json: "{name} is a {model}, which {action} cannot drive: it is for the {models} only.
    Nothing was sent to the toy." for each action a model lacks; the others drive the simulator."""
    rig = await set_up_model(hass, proxy, sim_clock, model_key)
    assert set(hass.services.async_services_for_domain(DOMAIN)) == set(ACTIONS), "all registered"
    for action, case in ACTIONS.items():
        try:
            if case.needs is None or rig.model.has(case.needs):
                await case.drive(rig)
                await rig.ready()
                continue
            sent = writes_to_toy(rig)
            with pytest.raises(ServiceValidationError) as caught:
                await rig.action(action, **case.fields)
            assert caught.value.translation_key == "action_not_for_model"
            having = [model.name for model in CATALOG if model.has(case.needs)]
            models = having[0] if len(having) == 1 else f"{', '.join(having[:-1])} and {having[-1]}"
            # Home Assistant shows the message without its last full stop.
            assert str(caught.value) == (
                f"{rig.sim.name} is a {rig.model.name}, which bb8.{action} cannot drive: it is for the "
                f"{models} only. Nothing was sent to the toy"
            )
            assert writes_to_toy(rig) == sent
        except (Exception, pytest.fail.Exception) as err:
            err.add_note(f"while driving bb8.{action} on the {rig.model.name}")
            raise
