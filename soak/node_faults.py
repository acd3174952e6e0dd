"""The ESPHome node's faults, soaked through Home Assistant's own esphome integration.

The path most homes run: Home Assistant's ``esphome`` integration (aioesphomeapi, bleak-esphome,
habluetooth's slot accounting) holds the native-API connection to a simulated ESPHome Bluetooth
proxy (:class:`bb8sim.esphome.SimulatedESPHomeNode`), and the BB-8s behind it are driven through
the integration's entities. Round after round one of the node's faults happens, chosen by a
seeded draw, then every toy is asked for the round's colour:

* ``wifi``: the node's Wi-Fi drops every API connection (and with them every BLE link);
* ``reboot``: the node reboots and is gone for a few seconds to half a minute;
* ``slots``: other devices take every connection slot while a toy's link is down, and keep them
  for a while before they let go;
* ``gatt``: the next characteristic write fails at the node with a GATT error (0x85);
* ``stall``: a toy's link drops and the node's connects never complete for a while.

With ``household`` the toys are a mixed household instead (:data:`HOUSEHOLD`): a BB-8, an R2-D2
and a Mini behind the one node, two protocols sharing its slots. The BB-8 and the Mini are asked
for the round's colour through their Main LED light; the R2-D2, which has no main LED, is asked to
roll on the round's heading at the round's speed (``bb8.roll``) and then to stop (``bb8.stop``).

Checked every round (:class:`NodeFaultsReport`): nothing is lost (every toy ends the round
showing the round's colour, or for the R2-D2 facing the round's heading having rolled and
stopped: a failed action may be retried by the person, as a dashboard does, but the toy must get
there); no toy is left rolling; only Home Assistant's translated errors reach the caller; the
toy gets there within :data:`RECOVERY_BOUND` of the fault's end; no exception reaches the event
loop and nothing is logged at ERROR (but the named lines of the test environment, which has no
``ffmpeg`` binary and no BlueZ adapter). At the end, after the entries unload: every slot is
free on the node, no BLE link and no API connection is left, and nothing of a session stays
behind (:func:`soak.chaos.find_leaks`).

Time is simulated (the caller's ``LoopClock``): the node, aioesphomeapi's reconnects and the
integration's waits all run on the event loop's clock, so an hour of faults costs seconds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
import json
import logging
from pathlib import Path
import random
import time
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component

from bb8sim import registry
from bb8sim.esphome import SimulatedESPHomeNode
from bb8sim.toy import SimulatedBB8
from bb8sim.v2 import SimulatedV2Toy
from custom_components.bb8.const import CONF_CONNECTION_MODE, DOMAIN, MODE_ALWAYS, MODE_ON_DEMAND

from . import promises
from .chaos import ErrorLogRecorder, LoopExceptionRecorder, find_leaks
from .world import WorldClock

_LOGGER = logging.getLogger(__name__)

FAULTS: Final = ("wifi", "reboot", "slots", "gatt", "stall")
HOUSEHOLD: Final = ("bb8", "r2d2", "mini")
"""The mixed household's toys by catalog key: a BB-8 (v1), an R2-D2 and a Mini (v2) on one node."""
ROLL_SPEED: Final = 60
"""The R2-D2's roll speed in a household round (the heading is the round's)."""

type Toy = SimulatedBB8 | SimulatedV2Toy
ESPHOME_LONGEST_RECONNECT_WAIT: Final = 60.0
"""aioesphomeapi's reconnect waits grow (1.8^n s, rounded) up to 60 s while the node cannot be
reached; with zeroconf quiet (no mDNS here) that wait is how long Home Assistant may take to
notice a node that came back."""
RECOVERY_BOUND: Final = (
    ESPHOME_LONGEST_RECONNECT_WAIT
    + promises.FIRST_RECONNECT_DELAY.value * (1 + promises.RECONNECT_JITTER.value)
    + promises.READY_AFTER_WAKE.value
)
"""From the fault's end to the toy showing the round's colour: Home Assistant's longest wait
before it reconnects to the node, the README's first reconnect wait with its jitter, and the
README's wake time for a toy that fell asleep meanwhile."""
RETRY_EVERY: Final = 1.0
"""Simulated seconds between two tries of a person whose action failed (a dashboard tap)."""
ENVIRONMENT_ERRORS: Final = (
    ("haffmpeg.core", "FFmpeg fails"),
    ("bleak_retry_connector.bluez", "Failed to stop discovery for hci0"),
)
"""ERROR records of the test environment, not of the stack under test: Home Assistant's ffmpeg
integration (an esphome dependency) finds no ``ffmpeg`` binary, and the harness's local adapter
``hci0`` has no BlueZ behind it."""


@dataclass(slots=True)
class NodeFaultsConfig:
    """How many rounds, how many toys, which draw; ``household``: the toys are :data:`HOUSEHOLD`."""

    rounds: int = 40
    toys: int = 2
    seed: int = 22
    slots: int = 3
    household: bool = False

    @property
    def models(self) -> tuple[str, ...]:
        """Each toy's catalog key, in order: the household's, or ``toys`` BB-8s."""
        return HOUSEHOLD if self.household else ("bb8",) * self.toys


@dataclass(slots=True)
class NodeFaultsReport:
    """What the rounds saw; ``violations`` and ``leaks`` must be empty."""

    rounds: int
    toys: int
    seed: int
    slots: int
    household: bool = False
    models: dict[str, str] = field(default_factory=dict)
    """Each toy's name and its catalog key."""
    connection_modes: dict[str, str] = field(default_factory=dict)
    """Each toy's name and its connection mode."""
    faults: dict[str, int] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    uses: int = 0
    uses_shown: int = 0
    translated_errors: int = 0
    """Actions that failed with Home Assistant's translated error (each was tried again)."""
    retries: int = 0
    """Actions tried again because the toy did not show the colour yet (failed or skipped)."""
    max_recovery: float = 0.0
    recovery_by_fault: dict[str, float] = field(default_factory=dict)
    """The slowest recovery seen after each kind of fault (simulated seconds)."""
    uses_by_model: dict[str, int] = field(default_factory=dict)
    uses_shown_by_model: dict[str, int] = field(default_factory=dict)
    recovery_by_model: dict[str, float] = field(default_factory=dict)
    """The slowest recovery seen by each model (simulated seconds)."""
    left_rolling: int = 0
    """Rounds that ended with a toy still rolling (must be 0)."""
    recovery_bound: float = RECOVERY_BOUND
    node_reboots: int = 0
    api_connections_accepted: int = 0
    links_opened: int = 0
    gatt_errors_sent: int = 0
    connects_refused_no_slot: int = 0
    simulated_minutes: float = 0.0
    seconds: float = 0.0
    loop_exceptions: int = 0
    error_logs: int = 0
    environment_error_logs: int = 0
    leaks: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        """Serialise (``scripts/soak`` renders the table from this)."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    def write(self, path: Path) -> None:
        """Write the JSON for ``scripts/soak``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())


class _ErrorLog(ErrorLogRecorder):
    """ERROR records, less the named lines of the test environment (:data:`ENVIRONMENT_ERRORS`)."""

    def __init__(self) -> None:
        super().__init__()
        self.environment = 0

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if any(record.name == name and message.startswith(prefix) for name, prefix in ENVIRONMENT_ERRORS):
            self.environment += 1
            return
        super().emit(record)


async def add_esphome_node(hass: HomeAssistant, node: SimulatedESPHomeNode) -> ConfigEntry:
    """Add the node as a person does: Settings → ESPHome → host and port; returns the loaded entry."""
    form = await hass.config_entries.flow.async_init("esphome", context={"source": "user"})
    if form["type"] is not FlowResultType.FORM:
        raise RuntimeError(f"the esphome config flow showed no form: {form}")
    result = await hass.config_entries.flow.async_configure(
        form["flow_id"], {CONF_HOST: node.host, CONF_PORT: node.port}
    )
    if result["type"] is not FlowResultType.CREATE_ENTRY:
        raise RuntimeError(f"the esphome config flow made no entry: {result}")
    entry: ConfigEntry = result["result"]
    await hass.async_block_till_done()
    if entry.state is not ConfigEntryState.LOADED:
        raise RuntimeError(f"the esphome entry is {entry.state}, not loaded")
    return entry


def _address(index: int) -> str:
    return f"C0:FF:EE:00:E5:{index:02X}"


class NodeFaults:
    """One run; :func:`run_node_faults` is the way in."""

    def __init__(
        self,
        hass: HomeAssistant,
        *,
        clock: WorldClock,
        node: SimulatedESPHomeNode,
        make_entry: Callable[[Toy, dict[str, Any]], Any],
        config: NodeFaultsConfig,
        new_toy: Callable[[str, int, str], Toy],
    ) -> None:
        """Create the toys (registered, so the node hears them); nothing is set up yet."""
        self.hass = hass
        self.clock = clock
        self.node = node
        self.make_entry = make_entry
        self.config = config
        self.rng = random.Random(config.seed)
        models = config.models
        self.report = NodeFaultsReport(
            rounds=config.rounds,
            toys=len(models),
            seed=config.seed,
            slots=node.slots,
            household=config.household,
        )
        self.toys: list[Toy] = [
            registry.register(new_toy(_address(i), i, model)) for i, model in enumerate(models)
        ]
        self.model_of = {toy.address: model for toy, model in zip(self.toys, models, strict=True)}
        self.report.models = {toy.name: self.model_of[toy.address] for toy in self.toys}
        # Even toys stay connected, odd ones connect on demand.
        self.modes = {
            toy.address: MODE_ALWAYS if i % 2 == 0 else MODE_ON_DEMAND for i, toy in enumerate(self.toys)
        }
        self.entries: dict[str, Any] = {}
        self.targets: dict[str, _Targets] = {}
        self.exceptions = LoopExceptionRecorder(hass.loop)
        self.error_logs = _ErrorLog()

    async def run(self) -> NodeFaultsReport:
        """Run every round and the final checks; return what was seen."""
        started = time.monotonic()
        self.exceptions.install()
        try:
            with self.error_logs.installed():
                await self._rounds()
        finally:
            self.exceptions.uninstall()
        report = self.report
        report.loop_exceptions = len(self.exceptions.contexts)
        report.violations += [f"loop exception: {line}" for line in self.exceptions.describe()]
        errors = [*self.error_logs.unexpected, *(f"{k} x{n}" for k, n in self.error_logs.expected.items())]
        report.error_logs = len(errors)
        report.environment_error_logs = self.error_logs.environment
        report.violations += [f"error log: {line}" for line in errors]
        report.modes = dict(Counter(self.modes.values()))
        report.connection_modes = {toy.name: self.modes[toy.address] for toy in self.toys}
        report.node_reboots = self.node.reboots
        report.api_connections_accepted = self.node.api_connections_accepted
        report.links_opened = self.node.links_opened
        report.gatt_errors_sent = self.node.gatt_errors_sent
        report.connects_refused_no_slot = self.node.connects_refused_no_slot
        report.simulated_minutes = round(self.clock.elapsed / 60, 1)
        report.seconds = round(time.monotonic() - started, 1)
        report.max_recovery = round(report.max_recovery, 2)
        report.recovery_by_fault = {k: round(v, 2) for k, v in sorted(report.recovery_by_fault.items())}
        return report

    async def _rounds(self) -> None:
        hass = self.hass
        assert await async_setup_component(hass, "homeassistant", {})
        esphome_entry = await add_esphome_node(hass, self.node)
        for toy in self.toys:
            entry = self.make_entry(toy, {CONF_CONNECTION_MODE: self.modes[toy.address]})
            entry.add_to_hass(hass)
            self.entries[toy.address] = entry
        await self.clock.advance(15, 0.1)  # the node's first advertisements, then the setups
        for toy in self.toys:
            entry = self.entries[toy.address]
            if entry.state is not ConfigEntryState.LOADED:
                await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        self.targets = {toy.address: _Targets.find(hass, toy.address) for toy in self.toys}

        for number in range(self.config.rounds):
            fault = self.rng.choice(FAULTS)
            self.report.faults[fault] = self.report.faults.get(fault, 0) + 1
            _LOGGER.debug("node faults: round %d, %s", number, fault)
            await self._fault(fault)
            fault_ended = self.clock.elapsed
            colour = (self.rng.randrange(1, 256), self.rng.randrange(256), number % 256)
            # Drawn only for a household, so the BB-8s' run keeps the draw it always had.
            heading = self.rng.randrange(360) if self.config.household else 0
            for toy in self.toys:
                await self._use(toy, colour, heading, fault, fault_ended)
            if rolling := [toy.name for toy in self.toys if toy.speed > 0]:
                self.report.left_rolling += 1
                self.report.violations.append(f"round with {fault}: left rolling: {rolling}")
            await self.clock.advance(self.rng.uniform(5, 90), 0.5)

        sessions = {toy.address: self.entries[toy.address].runtime_data.session for toy in self.toys}
        for entry in self.entries.values():
            if not await hass.config_entries.async_unload(entry.entry_id):
                self.report.violations.append(f"{entry.title}: unload failed at the end")
        await hass.async_block_till_done()
        await self.clock.advance(2, 0.1)
        for toy in self.toys:
            self.report.leaks += [
                f"{toy.name}: {leak}"
                for leak in find_leaks(
                    hass, session=sessions[toy.address], proxy=_NodeSlots(self.node), toy=toy
                )
            ]
        await hass.config_entries.async_unload(esphome_entry.entry_id)
        await hass.async_block_till_done()
        await self.clock.advance(2, 0.1)
        node = self.node
        if node.slots_free != node.slots:
            self.report.leaks.append(f"{node.slots - node.slots_free} of the node's slots still taken")
        if node.linked_addresses:
            self.report.leaks.append(f"the node still links {sorted(node.linked_addresses)}")
        if node.api_connections_open:
            self.report.leaks.append(f"{node.api_connections_open} API connections still open")

    async def _fault(self, fault: str) -> None:
        """Make ``fault`` happen and end (the rounds time recovery from its end)."""
        node = self.node
        victim = self.rng.choice(self.toys)
        match fault:
            case "wifi":
                node.drop_api_connections()
            case "reboot":
                await node.reboot(
                    downtime=self.rng.uniform(1.0, 30.0), wait=lambda s: self.clock.advance(s, 0.5)
                )
            case "slots":
                if victim.connected:
                    victim.disconnect_now()
                node.set_slots_taken_by_others(node.slots)
                await self.clock.advance(self.rng.uniform(5.0, 60.0), 0.5)
                node.set_slots_taken_by_others(0)  # the other devices are done
            case "gatt":
                node.fail_next_write()
            case "stall":
                node.stall_connects = True
                if victim.connected:
                    victim.disconnect_now()
                await self.clock.advance(self.rng.uniform(5.0, 40.0), 0.5)
                node.stall_connects = False
            case _:
                raise ValueError(fault)

    async def _use(
        self, toy: Toy, colour: tuple[int, int, int], heading: int, fault: str, since: float
    ) -> None:
        """Ask ``toy`` for the round's wish until it shows it, as a person retrying a failed tap would.

        A toy with a Main LED light is asked for ``colour``; the R2-D2 is asked to roll on
        ``heading`` and then to stop, so it ends the round facing the heading and standing still.
        """
        report = self.report
        model = self.model_of[toy.address]
        report.uses += 1
        report.uses_by_model[model] = report.uses_by_model.get(model, 0) + 1
        targets = self.targets[toy.address]
        if targets.main_led is not None:
            shown = _shows(toy, model, colour)
            steps = [
                (
                    "light",
                    "turn_on",
                    {"entity_id": targets.main_led, "rgb_color": list(colour)},
                    shown,
                    colour,
                )
            ]
        else:
            device = {"device_id": targets.device_id}
            steps = [
                (
                    DOMAIN,
                    "roll",
                    {**device, "heading": heading, "speed": ROLL_SPEED},
                    lambda: (toy.heading, toy.speed) == (heading, ROLL_SPEED),
                    f"rolling at {ROLL_SPEED} on {heading}",
                ),
                (
                    DOMAIN,
                    "stop",
                    device,
                    lambda: toy.speed == 0 and toy.heading == heading,
                    f"stopped facing {heading}",
                ),
            ]
        for domain, service, data, reached, wish in steps:
            if not await self._ask(toy, domain, service, data, reached, wish, fault, since):
                return
        report.uses_shown += 1
        report.uses_shown_by_model[model] = report.uses_shown_by_model.get(model, 0) + 1
        recovery = self.clock.elapsed - since
        report.max_recovery = max(report.max_recovery, recovery)
        report.recovery_by_fault[fault] = max(report.recovery_by_fault.get(fault, 0.0), recovery)
        report.recovery_by_model[model] = max(report.recovery_by_model.get(model, 0.0), recovery)

    async def _ask(
        self,
        toy: Toy,
        domain: str,
        service: str,
        data: dict[str, Any],
        reached: Callable[[], bool],
        wish: object,
        fault: str,
        since: float,
    ) -> bool:
        """Call ``domain.service`` until ``reached()``; False (and a violation) past the bound."""
        report = self.report
        deadline = since + RECOVERY_BOUND
        while not reached():
            if self.clock.elapsed > deadline:
                report.violations.append(
                    f"round with {fault}: {toy.name} did not get to {wish} within {RECOVERY_BOUND:.1f} s "
                    f"(it shows {_state(toy)})"
                )
                return False
            # The action runs as a task while simulated time moves: a call that waits for a
            # reconnect (seconds of aioesphomeapi's or the session's waits) would otherwise wait
            # for a clock nothing moves.
            call = self.hass.async_create_task(
                self.hass.services.async_call(domain, service, data, blocking=True)
            )
            while not call.done():
                await self.clock.advance(0.1, 0.1)
            try:
                call.result()
            except HomeAssistantError:
                report.translated_errors += 1
            except Exception as err:  # any other error is what this soak looks for
                report.violations.append(f"round with {fault}: {toy.name}: untranslated {err!r}")
            if not reached():
                # Failed, or returned without reaching the toy: Home Assistant skips an entity
                # that is unavailable (the node back, its esphome entry not yet reconnected).
                # The person taps again a moment later.
                report.retries += 1
                await self.clock.advance(RETRY_EVERY, 0.1)
        return True


def _shows(toy: Toy, model: str, colour: tuple[int, int, int]) -> Callable[[], bool]:
    """Whether ``toy`` shows ``colour`` on the LEDs its Main LED light drives.

    The household's one v2 toy with a Main LED is the Mini, whose light colours its body LEDs.
    """
    if isinstance(toy, SimulatedV2Toy):
        if model != "mini":
            raise ValueError(f"no household colour check for a {model}")
        return lambda: toy.led_group("body") == colour
    return lambda: toy.main_led == colour


def _state(toy: Toy) -> str:
    """Describe what the toy shows, for a violation's line."""
    if isinstance(toy, SimulatedV2Toy):
        return f"LEDs {dict(toy.leds)}, speed {toy.speed}, heading {toy.heading}"
    return f"{toy.main_led}, speed {toy.speed}"


@dataclass(frozen=True, slots=True)
class _Targets:
    """The entity and device ids a household round addresses (a toy with no main LED has none)."""

    device_id: str
    main_led: str | None

    @classmethod
    def find(cls, hass: HomeAssistant, address: str) -> _Targets:
        """Look them up in the registries, the device through the Connected sensor every model has."""
        entities = er.async_get(hass)
        connected = entities.async_get_entity_id("binary_sensor", DOMAIN, f"{address}_connected")
        entry = entities.async_get(connected) if connected is not None else None
        if entry is None or entry.device_id is None:
            raise LookupError(f"no Connected sensor with a device for {address}")
        return cls(
            device_id=entry.device_id,
            main_led=entities.async_get_entity_id("light", DOMAIN, f"{address}_main_led"),
        )


class _NodeSlots:
    """The node seen as :func:`soak.chaos.find_leaks` sees a proxy: the slots a toy's link holds."""

    def __init__(self, node: SimulatedESPHomeNode) -> None:
        self._node = node

    @property
    def slots_in_use(self) -> int:
        return len(self._node.linked_addresses)


async def run_node_faults(
    hass: HomeAssistant,
    *,
    clock: WorldClock,
    node: SimulatedESPHomeNode,
    make_entry: Callable[[Toy, dict[str, Any]], Any],
    new_toy: Callable[[str, int, str], Toy],
    config: NodeFaultsConfig | None = None,
) -> NodeFaultsReport:
    """Run the node's faults for ``config.rounds`` rounds through Home Assistant; return the report.

    ``node`` is started and listening; ``clock`` drives the loop's time (a ``LoopClock``);
    ``make_entry`` builds a config entry for a toy with options (and its model, as the config flow
    stores it); ``new_toy(address, index, model)`` builds a simulated toy of the catalog key
    ``model`` on the caller's simulated clock.
    """
    run = NodeFaults(
        hass,
        clock=clock,
        node=node,
        make_entry=make_entry,
        config=config or NodeFaultsConfig(),
        new_toy=new_toy,
    )
    return await run.run()
