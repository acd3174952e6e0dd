"""The cost of motion streaming at 10 Hz inside a real Home Assistant, with 1 and 8 toys.

Each toy rolls (a new heading every two seconds) in both phases, so the only difference between
them is the stream: in the first phase every motion entity is disabled, so nothing asks the toys
to stream; in the second every motion entity (the ones off by default too) is enabled, as a person
who wants all of them would do, and the toys stream at 10 Hz. Loop CPU, state writes and the
longest loop stall are measured side by side in one run, so the figures that count are the
differences and ratios, not the absolute numbers of a shared machine.

The simulated toys' own work (the motion model, building and sending stream packets) runs inside
their clock's ``advance``, and the simulated ESPHome nodes' work in their protocol's entry points
(``esphome_side.NodeMeter``); both are timed on their own and reported apart: it is what a real
toy and a real ESP32 do on their own processors, not what Home Assistant's loop pays.

Home Assistant is built as in ``ha_side`` (the test harness's instance outside pytest), and the
toys reach it through the real proxy stack (issue 22): Home Assistant's own esphome integration,
aioesphomeapi and bleak-esphome, against :class:`bb8sim.esphome.SimulatedESPHomeNode` nodes on
127.0.0.1. Nodes have ESPHome's default of three connection slots, so eight toys use three nodes.
Waits are in real time on an ordinary (blocking) loop, as a real Home Assistant runs. What fills
the busiest loop iterations is recorded in a window of its own (:mod:`bench.stall_profile`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
from dataclasses import dataclass
import gc
import itertools
import logging
import math
import time
from typing import Any, Final

from homeassistant.components import bluetooth
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_ADDRESS, EVENT_HOMEASSISTANT_FINAL_WRITE, EVENT_STATE_CHANGED
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.discovery_flow import DiscoveryKey
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry  # type: ignore[import-untyped]

from bb8sim import SimulatedBB8, registry
from bb8sim.clock import RealtimeTicker, SimClock
from bb8sim.esphome import SimulatedESPHomeNode
from custom_components.bb8.const import DOMAIN
from custom_components.bb8.sphero.session import BB8Session

from .esphome_side import NodeMeter, add_esphome_node, zeroconf_mocked
from .ha_side import home_assistant
from .results import MotionPhase, MotionRow
from .rig import LoopLagProbe, wait_until
from .stall_profile import SlowIterations
from .vloop import idle_cpu

MOTION_KEYS: Final = ("speed", "distance", "position_x", "position_y", "pitch", "roll", "yaw", "moving")
"""The entity keys that ask for the stream (sensors and the "moving" binary sensor)."""
SLOTS_PER_PROXY: Final = 3
"""ESPHome's default number of Bluetooth proxy connection slots."""
TICK: Final = 0.02
"""How often the toys' clock follows real time (s): finer than the 100 ms between frames."""
HEADING_EVERY: Final = 2.0
"""Seconds between the rolling toys' heading changes."""
ROLL_SPEED: Final = 80


class _TimedClock:
    """Times every ``advance`` of the toys' clock (the simulated toys' own work)."""

    def __init__(self, clock: SimClock) -> None:
        self.spent = 0.0
        advance = clock.advance

        def timed(seconds: float) -> int:
            started = time.thread_time()
            try:
                return advance(seconds)
            finally:
                self.spent += time.thread_time() - started

        clock.advance = timed  # type: ignore[method-assign]  # an instance-level meter


@dataclass
class _Fleet:
    hass: HomeAssistant
    toys: list[SimulatedBB8]
    entries: list[MockConfigEntry]
    timed: _TimedClock
    nodes: NodeMeter

    def simulated_cpu(self) -> float:
        """CPU the simulated toys and nodes spent so far (a BB-8's and an ESP32's work in a home)."""
        return self.timed.spent + self.nodes.cpu

    def sessions(self) -> list[BB8Session]:
        return [entry.runtime_data.session for entry in self.entries]

    def frames(self) -> int:
        return sum(session.toy.motion.frames_received for session in self.sessions())

    def motion_entity_ids(self) -> list[str]:
        entities = er.async_get(self.hass)
        found = []
        for toy, key in itertools.product(self.toys, MOTION_KEYS):
            platform = "binary_sensor" if key == "moving" else "sensor"
            entity_id = entities.async_get_entity_id(platform, DOMAIN, f"{toy.address}_{key}")
            if entity_id is None:
                raise RuntimeError(f"bench: no {key} entity for {toy.address}")
            found.append(entity_id)
        return found

    async def set_motion_entities(self, enabled: bool) -> None:
        """Enable or disable every motion entity, then reload the entries as Home Assistant does."""
        entities = er.async_get(self.hass)
        disabled_by = None if enabled else er.RegistryEntryDisabler.USER
        for entity_id in self.motion_entity_ids():
            entities.async_update_entity(entity_id, disabled_by=disabled_by)
        for entry in self.entries:
            await self.hass.config_entries.async_reload(entry.entry_id)
        await self.hass.async_block_till_done()
        await self.connected()
        await self.settle_after_reload()

    async def settle_after_reload(self) -> None:
        """Let the reload's aftermath happen now, so the windows measure the stream, not the reload.

        Two things a reload leaves for later would otherwise land in a window at random (a run
        showed a 5.12 ms stall with the stream on and 4.18 ms off, both of them this): the entity
        registry's delayed save, 10 s after the change, which the test harness's in-memory
        storage serialises on the loop (Home Assistant itself does it in its executor), and the
        garbage collector's walk over what the reload allocated. Both are flushed here: the
        pending saves by the event Home Assistant fires for them at its stop, the collector by a
        full collection. Both phases get the same.
        """
        self.hass.bus.async_fire(EVENT_HOMEASSISTANT_FINAL_WRITE)
        await self.hass.async_block_till_done()
        gc.collect()

    async def connected(self) -> None:
        await wait_until(
            lambda: all(session.is_connected and session.is_set_up for session in self.sessions()),
            timeout=60.0,
            what="every toy connected and set up",
        )


@contextlib.asynccontextmanager
async def _fleet(count: int) -> AsyncIterator[_Fleet]:
    """Home Assistant with ``count`` toys behind simulated ESPHome nodes, their clock ticking.

    The real proxy stack (issue 22): one :class:`~bb8sim.esphome.SimulatedESPHomeNode` on
    127.0.0.1 per ``SLOTS_PER_PROXY`` toys, each hearing only its own toys, each added through
    Home Assistant's own esphome config flow; the BB-8 entries behind them as the bb8 config flow
    creates them. The nodes' work (an ESP32's, in a home) is timed apart, as the toys' is.
    """
    clock = SimClock()
    timed = _TimedClock(clock)
    node_meter = NodeMeter()
    toys = [SimulatedBB8(f"D3:4B:2A:3D:B6:{index:02X}", clock=clock, seed=index) for index in range(count)]
    for toy in toys:
        registry.register(toy)
    nodes = [
        SimulatedESPHomeNode(
            name=f"bench-proxy-{index}",
            friendly_name=f"Bench proxy {index}",
            mac_address=f"AC:0B:FB:00:B8:{index * 4:02X}",
        )
        for index in range(math.ceil(count / SLOTS_PER_PROXY))
    ]
    for index, node in enumerate(nodes):
        # Each node hears its own toys only, so each toy has one path, as in the old rows.
        mine = {toy.address for toy in toys[index * SLOTS_PER_PROXY : (index + 1) * SLOTS_PER_PROXY]}
        node.out_of_range = {toy.address for toy in toys} - mine
    try:
        with node_meter.installed(), zeroconf_mocked():
            for node in nodes:
                await node.start()
            async with home_assistant() as hass:
                if not await async_setup_component(hass, "homeassistant", {}):
                    raise RuntimeError("bench: Home Assistant's homeassistant integration did not set up")
                for node in nodes:
                    await add_esphome_node(hass, node)
                await wait_until(
                    lambda: all(
                        bluetooth.async_ble_device_from_address(hass, toy.address, connectable=True)
                        for toy in toys
                    ),
                    timeout=30.0,
                    what="every toy heard through its node",
                )
                entries = []
                for toy in toys:
                    entry = MockConfigEntry(
                        domain=DOMAIN,
                        unique_id=toy.address,
                        title=toy.name,
                        data={CONF_ADDRESS: toy.address},
                        discovery_keys={
                            "bluetooth": (DiscoveryKey(domain="bluetooth", key=toy.address, version=1),)
                        },
                    )
                    entry.add_to_hass(hass)
                    entries.append(entry)
                async with RealtimeTicker(clock, TICK):
                    # Setting the integration up sets up every entry of it, as at Home Assistant's start.
                    if not await async_setup_component(hass, DOMAIN, {}):
                        raise RuntimeError("bench: the BB-8 integration did not set up")
                    await hass.async_block_till_done()
                    fleet = _Fleet(hass, toys, entries, timed, node_meter)
                    await fleet.connected()
                    yield fleet
                    for entry in entries:
                        if entry.state is ConfigEntryState.LOADED:
                            await hass.config_entries.async_unload(entry.entry_id)
                    await hass.async_block_till_done()
    finally:
        for node in nodes:
            await node.stop()
        for toy in toys:
            registry.unregister(toy.address)


async def _roll_about(fleet: _Fleet) -> None:
    """Keep every toy rolling, turning by 90 degrees every ``HEADING_EVERY`` seconds."""
    for heading in itertools.cycle((0, 90, 180, 270)):
        await asyncio.gather(*(session.roll(ROLL_SPEED, heading) for session in fleet.sessions()))
        await asyncio.sleep(HEADING_EVERY)


async def _measure(fleet: _Fleet, streaming: bool, seconds: float) -> MotionPhase:
    hass = fleet.hass
    loop = asyncio.get_running_loop()
    motion_ids = set(fleet.motion_entity_ids())
    writes = {"all": 0, "motion": 0}

    @callback
    def _count(event: Event[Any]) -> None:
        entity_id = event.data["entity_id"]
        entry = er.async_get(hass).async_get(entity_id)
        if entry is not None and entry.platform == DOMAIN:
            writes["all"] += 1
            writes["motion"] += entity_id in motion_ids

    roller = loop.create_task(_roll_about(fleet), name="bench motion roller")
    stop_counting = hass.bus.async_listen(EVENT_STATE_CHANGED, _count)
    try:
        await asyncio.sleep(2.0)  # the stream starts and the entities settle into their rhythm
        writes.update(all=0, motion=0)
        frames, toy_cpu = fleet.frames(), fleet.simulated_cpu()
        cpu, idle, started = time.thread_time(), idle_cpu(loop), loop.time()
        await asyncio.sleep(seconds)
        elapsed = loop.time() - started
        loop_cpu = (time.thread_time() - cpu) - (idle_cpu(loop) - idle)
        toy_cpu = fleet.simulated_cpu() - toy_cpu
        frames = fleet.frames() - frames
        counted = dict(writes)
        async with LoopLagProbe(simulated_cpu=fleet.simulated_cpu) as probe:
            await asyncio.sleep(seconds / 2)
        # What fills the busiest iterations, in a window of its own (the recorder costs a little).
        slow = SlowIterations(keep=3, simulated_cpu=fleet.simulated_cpu)
        with slow.installed():
            await asyncio.sleep(seconds / 2)
    finally:
        stop_counting()
        roller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await roller
    return MotionPhase(
        toys=len(fleet.toys),
        streaming=streaming,
        seconds=elapsed,
        frames_per_second=frames / elapsed,
        state_writes_per_second=counted["all"] / elapsed,
        motion_writes_per_second=counted["motion"] / elapsed,
        loop_cpu=(loop_cpu - toy_cpu) / elapsed,
        toy_cpu=toy_cpu / elapsed,
        stall_busy=probe.max_busy_lag,
        stall_wall=probe.max_lag,
        stall_host=probe.max_busy_lag_host,
        busiest=[iteration.summary() for iteration in slow.longest()],
        busiest_host=max((iteration.home_assistant_busy for iteration in slow.longest()), default=0.0),
    )


async def motion_rows(
    toy_counts: list[int], seconds: float, progress: Callable[[str], None]
) -> list[MotionRow]:
    """Measure the stream off and on for each number of toys."""
    # ffmpeg (an esphome dependency) logs a traceback without its program; as in esphome_side.
    logging.getLogger("haffmpeg").setLevel(logging.CRITICAL)
    rows = []
    for count in toy_counts:
        async with _fleet(count) as fleet:
            progress(f"motion: {count} toy(s), stream off")
            await fleet.set_motion_entities(False)
            off = await _measure(fleet, False, seconds)
            progress(f"motion: {count} toy(s), stream on at 10 Hz")
            await fleet.set_motion_entities(True)
            on = await _measure(fleet, True, seconds)
            rows.append(MotionRow(off, on))
    return rows
