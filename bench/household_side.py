"""A mixed household through the real proxy stack: a BB-8, an R2-D2 and a Mini on one node (issue 25).

The same Home Assistant as :mod:`bench.esphome_side` (Home Assistant's own ``esphome`` integration
set up through its config flow against :class:`bb8sim.esphome.SimulatedESPHomeNode` on 127.0.0.1),
with three ``bb8`` entries behind the one node, one per model, as the config flow creates them
(a v2 toy's entry carries its model's key), and the no-op light beside them
(:class:`bench.ha_side.NoopLight`). Two protocols share the node's three slots: the BB-8 speaks
v1, the R2-D2 and the Mini v2 (``bb8sim.v2.SimulatedV2Toy``).

The command measured is ``bb8.roll``, the one action every model has (an R2-D2 has no main LED),
written with response as the integration writes. Measured per model, side by side:

* loop CPU per ``bb8.roll``, warm, Home Assistant's side only (the node's and the toys' work, an
  ESP32's and the toys', and the loop's idle polling left out), against Home Assistant's own
  ``light.turn_on`` on the no-op light measured alternately beside it; the integration's own share
  (roll minus no-op, paired) as a ratio to the no-op action;
* API messages on the node's socket per ``bb8.roll``, in and out, by message id, the commanded
  toy's own asynchronous packets and every other toy's notifications left out as background;
* a burst of ``bb8.roll`` calls (a new heading each, one per loop turn, not awaited) on the real
  link with its write latency and the 60 ms pacing, until the toy rolls on the last heading.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
import contextlib
from dataclasses import dataclass, field
import logging
import time
from typing import Any, Final
from unittest.mock import patch

from homeassistant.components import bluetooth
from homeassistant.components.light.const import DATA_COMPONENT as LIGHT_COMPONENT
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, CONF_ADDRESS
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.discovery_flow import DiscoveryKey
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry  # type: ignore[import-untyped]

from bb8sim import SimulatedBB8, registry
from bb8sim.esphome import SimulatedESPHomeNode, node as node_module
from bb8sim.v2 import SimulatedV2Toy
from custom_components.bb8.const import DOMAIN
from custom_components.bb8.sphero.session import BB8Session

from .esphome_side import (
    BACKGROUND_IDS,
    FAST_WRITE_LATENCY,
    MESSAGE_NAMES,
    LoopIterations,
    MessageCount,
    NodeMeter,
    add_esphome_node,
    zeroconf_mocked,
)
from .ha_side import NoopLight, home_assistant
from .results import Distribution
from .rig import LinkSettings, wait_until
from .vloop import idle_cpu

HOUSEHOLD: Final = (
    ("BB-8", "bb8", "D3:4B:2A:3D:E5:01"),
    ("R2-D2", "r2d2", "D3:4B:2A:3D:E5:02"),
    ("Mini", "mini", "D3:4B:2A:3D:E5:03"),
)
"""The household's toys: the name the report gives the model, its catalog key, its address."""
V2_SOP: Final = 0x8D
V2_EOP: Final = 0xD8
V2_IS_RESPONSE: Final = 0x01
"""A v2 packet's start and end bytes and its FLAGS bit for an answer (the design brief's v2
framing; escaping keeps both delimiters out of a packet's body)."""
BURST_GIVE_UP: Final = 8.0
"""Seconds a burst may take before the bench stops waiting for its last heading (beyond the
integration's 5 s command timeout, so a lost last command shows as not reached)."""


@dataclass(frozen=True, slots=True)
class HouseholdBurst:
    """A burst of ``bb8.roll`` calls to one toy, until it rolls on the last heading."""

    size: int
    settle: float
    reached: bool


@dataclass(frozen=True, slots=True)
class ModelResult:
    """One model of the household, measured beside the other two on the one node."""

    model: str
    messages: MessageCount
    iterations: Distribution
    """Event-loop iterations from ``bb8.roll`` to its return (warm)."""
    cpu: Distribution
    cpu_noop: Distribution
    cpu_share: Distribution
    """The integration's own share: roll minus no-op ``light.turn_on``, paired."""
    bursts: list[HouseholdBurst]

    @property
    def share_ratio(self) -> float:
        """The integration's own share as a multiple of Home Assistant's own action (no-op light)."""
        return self.cpu_share.median / self.cpu_noop.median


@dataclass(slots=True)
class HouseholdResults:
    """Every model of the household, and what the stack is."""

    models: list[ModelResult] = field(default_factory=list)
    write_latency: float = 0.0
    slots: int = 0
    versions: dict[str, str] = field(default_factory=dict)


class NotificationsByToy:
    """Notifications the node forwards, by the toy's address and kind (an answer or async).

    A v1 chunk is told by its start (SOP2 0xFE: async; a chunk continuing a longer packet, only
    the BB-8's sensor stream, counts with the answers). A v2 packet may come in many chunks (the
    Mini sends one byte per notification): its chunks are counted when its end byte arrives, with
    the kind its FLAGS byte says.
    """

    def __init__(self) -> None:
        """Count nothing yet."""
        self.counts: Counter[tuple[str, str]] = Counter()
        self._v2: dict[str, list[Any]] = {}
        """Per v2 toy: [chunks of the packet under way, its kind (None until FLAGS), FLAGS next]."""

    def count(self, address: str, v2: bool, chunk: bytes) -> None:
        """Count one notification of the toy at ``address``."""
        if not v2:
            self.counts[(address, "async" if chunk[:2] == b"\xff\xfe" else "answer")] += 1
            return
        state = self._v2.setdefault(address, [0, None, False])
        state[0] += 1
        for byte in chunk:
            if byte == V2_SOP:
                state[1], state[2] = None, True
            elif state[2]:
                state[1], state[2] = ("answer" if byte & V2_IS_RESPONSE else "async"), False
            elif byte == V2_EOP:
                self.counts[(address, state[1] or "answer")] += state[0]
                state[0] = 0

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Count at the node's link, before each notification goes out on the API connection."""
        link = node_module._BleConnection
        original = link._notify

        def notify(connection: Any, char_uuid: str, chunk: bytes) -> None:
            self.count(connection.address_str.upper(), isinstance(connection.toy, SimulatedV2Toy), chunk)
            original(connection, char_uuid, chunk)

        with patch.object(link, "_notify", notify):
            yield


@dataclass
class Toy:
    """One toy of the household, its entry's session and its device."""

    label: str
    toy: SimulatedBB8 | SimulatedV2Toy
    session: BB8Session
    device_id: str


@dataclass
class HouseholdRig:
    """Home Assistant with the esphome entry, three toys' entries behind the node, a no-op light."""

    hass: HomeAssistant
    settings: LinkSettings
    node: SimulatedESPHomeNode
    node_meter: NodeMeter
    notifications: NotificationsByToy
    toys: list[Toy]
    noop_light: str

    async def roll(self, toy: Toy, speed: int, heading: int, *, blocking: bool = True) -> None:
        """``bb8.roll`` on ``toy``'s device (blocking: returns once the toy answered)."""
        await self.hass.services.async_call(
            DOMAIN,
            "roll",
            {"device_id": toy.device_id, "speed": speed, "heading": heading},
            blocking=blocking,
        )

    async def noop(self, colour: tuple[int, int, int]) -> None:
        """Home Assistant's own action: ``light.turn_on`` on the no-op light."""
        await self.hass.services.async_call(
            "light", "turn_on", {ATTR_ENTITY_ID: self.noop_light, "rgb_color": colour}, blocking=True
        )

    @contextlib.contextmanager
    def fast_link(self) -> Iterator[None]:
        """Relax pacing and write latency for warm back-to-back samples (as ``esphome_side``)."""
        saved = [
            (toy.session.pacing_interval, toy.toy.faults.pacing, toy.toy.faults.write_latency)
            for toy in self.toys
        ]
        for toy in self.toys:
            toy.session.pacing_interval = 0.0
            toy.toy.faults.pacing, toy.toy.faults.write_latency = False, FAST_WRITE_LATENCY
        try:
            yield
        finally:
            for toy, (interval, pacing, latency) in zip(self.toys, saved, strict=True):
                toy.session.pacing_interval = interval
                toy.toy.faults.pacing, toy.toy.faults.write_latency = pacing, latency


def _new_toy(key: str, address: str, settings: LinkSettings, seed: int) -> SimulatedBB8 | SimulatedV2Toy:
    if key == "bb8":
        return SimulatedBB8(address, faults=settings.faults(seed=seed))
    return SimulatedV2Toy(address, key, faults=settings.faults(seed=seed))


def _is_set_up(session: BB8Session) -> bool:
    return session.is_connected and session.is_set_up and session.pending_commands == 0


@contextlib.asynccontextmanager
async def household_rig(settings: LinkSettings) -> AsyncIterator[HouseholdRig]:
    """Home Assistant, the node on 127.0.0.1 with the three toys behind it, every entry, a no-op light."""
    node_meter = NodeMeter()
    notifications = NotificationsByToy()
    sims = [
        registry.register(_new_toy(key, address, settings, n))
        for n, (_, key, address) in enumerate(HOUSEHOLD)
    ]
    try:
        with node_meter.installed(), notifications.installed(), zeroconf_mocked():
            node = SimulatedESPHomeNode()
            await node.start()
            try:
                async with home_assistant() as hass:
                    if not await async_setup_component(hass, "homeassistant", {}):
                        raise RuntimeError("bench: Home Assistant's homeassistant integration did not set up")
                    await add_esphome_node(hass, node)
                    toys: list[Toy] = []
                    entries = []
                    for (label, key, address), sim in zip(HOUSEHOLD, sims, strict=True):
                        await wait_until(
                            lambda address=address: bluetooth.async_ble_device_from_address(
                                hass, address, connectable=True
                            )
                            is not None,
                            timeout=20.0,
                            what=f"the {label} heard through the node",
                        )
                        data = {CONF_ADDRESS: sim.address} | ({} if key == "bb8" else {"model": key})
                        entry = MockConfigEntry(
                            domain=DOMAIN,
                            unique_id=sim.address,
                            title=sim.name,
                            data=data,
                            discovery_keys={
                                "bluetooth": (DiscoveryKey(domain="bluetooth", key=sim.address, version=1),)
                            },
                        )
                        entry.add_to_hass(hass)
                        if not await hass.config_entries.async_setup(entry.entry_id):
                            raise RuntimeError(f"bench: the {label} entry did not set up: {entry.state}")
                        await hass.async_block_till_done()
                        session: BB8Session = entry.runtime_data.session
                        [device] = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
                        await wait_until(
                            lambda session=session: _is_set_up(session),
                            timeout=60.0,
                            what=f"the {label} entry connected through the node and set up",
                        )
                        toys.append(Toy(label, sim, session, device.id))
                        entries.append(entry)
                    noop = NoopLight()
                    await hass.data[LIGHT_COMPONENT].async_add_entities([noop])
                    assert noop.entity_id is not None
                    yield HouseholdRig(hass, settings, node, node_meter, notifications, toys, noop.entity_id)
                    for entry in entries:
                        if entry.state is ConfigEntryState.LOADED:
                            await hass.config_entries.async_unload(entry.entry_id)
                    await hass.async_block_till_done()
            finally:
                await node.stop()
    finally:
        for sim in sims:
            registry.unregister(sim.address)


# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------


async def messages_per_roll(rig: HouseholdRig, toy: Toy, commands: int) -> MessageCount:
    """Count API messages on the node's socket per ``bb8.roll`` to ``toy`` (paced, one at a time)."""
    pacing = rig.settings.pacing_interval
    await asyncio.sleep(2 * pacing)
    received, sent = Counter(rig.node.frames_received), Counter(rig.node.frames_sent)
    notified = Counter(rig.notifications.counts)
    for index in range(commands):
        await rig.roll(toy, 40 + index % 50, (index * 7) % 360)
        await asyncio.sleep(pacing)  # let every answer arrive, paced
    await rig.hass.async_block_till_done()
    into_ids = {
        key: value / commands for key, value in (Counter(rig.node.frames_received) - received).items()
    }
    out_ids = {key: value / commands for key, value in (Counter(rig.node.frames_sent) - sent).items()}
    delta = Counter(rig.notifications.counts) - notified
    address = toy.toy.address.upper()
    # Background: the toy's own async packets, every other toy's notifications (their streams,
    # power reports and polls' answers), advertisements, slot reports and pings.
    background = sum(value for (where, kind), value in delta.items() if where != address or kind == "async")
    background /= commands
    out_ids[79] = out_ids.get(79, 0.0) - background
    for key in BACKGROUND_IDS:
        background += into_ids.pop(key, 0.0) + out_ids.pop(key, 0.0)
    # Writes of the other toys (their coordinators' polls) in the window are not this toy's.
    by_id = {f"in {MESSAGE_NAMES.get(key, key)}": value for key, value in sorted(into_ids.items()) if value}
    by_id |= {f"out {MESSAGE_NAMES.get(key, key)}": value for key, value in sorted(out_ids.items()) if value}
    await asyncio.sleep(2 * pacing)
    await rig.roll(toy, 0, 0)
    return MessageCount(sum(into_ids.values()), sum(out_ids.values()), background, by_id)


async def roll_cost(rig: HouseholdRig, toy: Toy, samples: int) -> tuple[Distribution, ...]:
    """Loop CPU and iterations of ``bb8.roll`` on ``toy`` against the no-op light's action, warm.

    Calls alternate (and which goes first) so noise falls on both alike; each roll blocks until
    the toy answered through the node. The node's and the toys' CPU and the loop's idle polling
    are subtracted. Returns (cpu roll, cpu noop, cpu share, iterations roll).
    """
    loop = asyncio.get_running_loop()
    iterations = LoopIterations(loop)
    measured: dict[str, list[float]] = {"roll": [], "noop": [], "iterations": []}
    with rig.fast_link(), iterations.installed():
        for index in range(samples):
            order = ("roll", "noop") if index % 2 == 0 else ("noop", "roll")
            for which in order:
                node_before, idle_before, turns_before = rig.node_meter.cpu, idle_cpu(loop), iterations.count
                start = time.thread_time()
                if which == "roll":
                    await rig.roll(toy, 30 + index % 60, (index * 11) % 360)
                else:
                    await rig.noop((255, index & 0xFF, 0x77))
                cpu = time.thread_time() - start
                cpu -= (rig.node_meter.cpu - node_before) + (idle_cpu(loop) - idle_before)
                measured[which].append(cpu)
                if which == "roll":
                    measured["iterations"].append(float(iterations.count - turns_before))
        await rig.roll(toy, 0, 0)
    share = [roll - noop for roll, noop in zip(measured["roll"], measured["noop"], strict=True)]
    return (
        Distribution.of(measured["roll"]),
        Distribution.of(measured["noop"]),
        Distribution.of(share),
        Distribution.of(measured["iterations"]),
    )


async def burst(rig: HouseholdRig, toy: Toy, size: int, salt: int) -> HouseholdBurst:
    """Send ``size`` ``bb8.roll`` calls, one per loop turn, not awaited; wait for the last heading."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(2 * rig.settings.pacing_interval)
    speed = 50
    final = (salt * 37 + size) % 360
    headings = [(final + 1 + index) % 360 for index in range(size - 1)] + [final]
    started = loop.time()
    for heading in headings:
        await rig.roll(toy, speed, heading, blocking=False)
        await asyncio.sleep(0)
    reached = True
    try:
        await wait_until(
            lambda: (toy.toy.speed, toy.toy.heading) == (speed, final),
            timeout=BURST_GIVE_UP,
            what="the burst's last heading",
        )
    except TimeoutError:
        reached = False
    settle = loop.time() - started
    await rig.hass.async_block_till_done()
    await asyncio.sleep(2 * rig.settings.pacing_interval)
    await rig.roll(toy, 0, 0)
    return HouseholdBurst(size=size, settle=settle, reached=reached)


async def run(
    settings: LinkSettings, *, samples: int, commands: int, burst_sizes: list[int]
) -> HouseholdResults:
    """Every model of the household in one Home Assistant, one after the other (a spinning loop)."""
    from importlib import metadata

    # ffmpeg (an esphome dependency) looks for its program and logs a traceback without it;
    # developer mode silences the same logger.
    logging.getLogger("haffmpeg").setLevel(logging.CRITICAL)
    results = HouseholdResults(write_latency=settings.write_latency)
    for package in ("aioesphomeapi", "bleak-esphome", "habluetooth"):
        results.versions[package] = metadata.version(package)
    async with household_rig(settings) as rig:
        results.slots = rig.node.slots
        for number, toy in enumerate(rig.toys):
            messages = await messages_per_roll(rig, toy, commands)
            cpu, cpu_noop, share, iterations = await roll_cost(rig, toy, samples)
            bursts = [
                await burst(rig, toy, size, number * 16 + index) for index, size in enumerate(burst_sizes)
            ]
            results.models.append(
                ModelResult(
                    model=toy.label,
                    messages=messages,
                    iterations=iterations,
                    cpu=cpu,
                    cpu_noop=cpu_noop,
                    cpu_share=share,
                    bursts=bursts,
                )
            )
    return results
