"""The integration through the real proxy stack: Home Assistant's esphome integration and the node.

The same Home Assistant as :mod:`bench.ha_side` (the harness's instance outside pytest, Bluetooth
set up with the harness's adapter mocks, no HTTP server), plus Home Assistant's own ``esphome``
integration set up through its config flow against :class:`bb8sim.esphome.SimulatedESPHomeNode`
on 127.0.0.1. aioesphomeapi, bleak-esphome and habluetooth carry every command; the BB-8 entry is
added as the ``bb8`` config flow creates it. A no-op light beside it is Home Assistant's own action
(see :class:`bench.ha_side.NoopLight`).

Measured, for each write mode of the command characteristic, side by side in one Home Assistant:

* API messages on the node's socket per colour change and per roll, in and out, by message id;
* event-loop iterations per command on Home Assistant's loop (``_run_once`` calls from the action
  to its return; the node and the toy share the loop, as in developer mode);
* loop CPU per command, Home Assistant's side only (the node's and the toy's work, which run on
  an ESP32 and a BB-8 in a home, and the loop's idle polling are left out), and the integration's
  own share of it (BB-8 minus the no-op light, paired) as a ratio to the no-op light's action;
* a burst of colour changes on the real link (write latency and pacing), until the toy shows the
  last colour.

Write with response is what the integration does (``custom_components/bb8/sphero/link.py``);
write without response is measured by making bleak-esphome's client write the command
characteristic without response (the bench's seam; nothing in ``custom_components/`` changes).
The BB-8's command characteristic allows both, and answers are matched by sequence number.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
import contextlib
from dataclasses import dataclass, field
import logging
import time
from typing import Any, Final
from unittest.mock import AsyncMock, Mock, patch
import uuid as uuid_module

from homeassistant.components import bluetooth
from homeassistant.components.light.const import DATA_COMPONENT as LIGHT_COMPONENT
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, CONF_ADDRESS, CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.discovery_flow import DiscoveryKey
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry  # type: ignore[import-untyped]

from bb8sim import SimulatedBB8, registry
from bb8sim.esphome import SimulatedESPHomeNode, node as node_module
from custom_components.bb8.const import DOMAIN
from custom_components.bb8.sphero.commands import ping
from custom_components.bb8.sphero.const import COMMANDS_CHAR
from custom_components.bb8.sphero.session import BB8Session

from .ha_side import NoopLight, home_assistant
from .results import Distribution
from .rig import LED_COMMAND, LinkSettings, Meter, burst_colours, wait_until
from .session_side import SETUP_LAST_COMMAND
from .vloop import idle_cpu

ADDRESS: Final = "D3:4B:2A:3D:E5:4A"
WITH_RESPONSE: Final = "with response"
WITHOUT_RESPONSE: Final = "without response"
WRITE_MODES: Final = (WITH_RESPONSE, WITHOUT_RESPONSE)
FAST_WRITE_LATENCY: Final = 1e-4
ROLL_COMMAND: Final = "roll"
"""The simulator's name for the roll command (``bb8sim.command_kind``)."""

BACKGROUND_IDS: Final = (7, 8, 81, 93)
"""Pings, slot reports and advertisements: not counted per command."""
# Message ids on the node's socket that a command makes (aioesphomeapi's numbering).
MESSAGE_NAMES: Final = {
    75: "75 write",
    83: "83 write response",
    79: "79 notification",
    82: "82 GATT error",
    7: "7 ping",
    8: "8 ping response",
    93: "93 advertisements",
    81: "81 slots",
}


@dataclass(frozen=True, slots=True)
class MessageCount:
    """API messages per command on the node's socket: into the node and out of it, by id.

    Both leave out the background traffic that flows whether or not a command was sent: the
    toy's async notifications (its sensor stream for the motion entities enabled by default,
    power reports), advertisements, slot reports and pings; ``async_out`` is its rate over the
    same window, per command, for reference.
    """

    into_node: float
    out_of_node: float
    async_out: float
    by_id: dict[str, float]


@dataclass(frozen=True, slots=True)
class EsphomeBurst:
    """A burst of colour changes through the node on the real link (write latency, pacing)."""

    size: int
    settle: float
    """Until the toy showed the last colour, or until the bench gave up (``shown`` False)."""
    shown: bool
    writes: int
    cpu_per_change: float
    """Home Assistant's process CPU per colour change asked (node, toy and idle polling excluded)."""
    dropped_for_pacing: int
    """LED commands the toy dropped because they reached it sooner than the pacing interval after
    the one before: the session paces its writes, but only a write with response tells it when a
    write reached the toy. A dropped command is never answered: its caller waits out the
    command timeout (5 s)."""


@dataclass(frozen=True, slots=True)
class WriteModeResult:
    """One write mode of the command characteristic, measured through the real stack."""

    mode: str
    colour_messages: MessageCount
    roll_messages: MessageCount
    iterations_bb8: Distribution
    """Event-loop iterations from a BB-8 ``light.turn_on`` to its return (warm)."""
    iterations_noop: Distribution
    cpu_bb8: Distribution
    """Home Assistant's loop CPU per BB-8 ``light.turn_on`` (node, toy and idle polling excluded)."""
    cpu_noop: Distribution
    cpu_share: Distribution
    """The integration's own share: BB-8 minus no-op, paired."""
    bursts: list[EsphomeBurst]
    roll_settle: Distribution
    """From ``bb8.roll`` to the toy rolling at the speed asked, on the real link."""

    @property
    def share_ratio(self) -> float:
        """The integration's own share as a multiple of Home Assistant's own action (no-op light)."""
        return self.cpu_share.median / self.cpu_noop.median


@dataclass(slots=True)
class EsphomeResults:
    """Both write modes, and what the stack is."""

    modes: list[WriteModeResult] = field(default_factory=list)
    write_latency: float = 0.0
    versions: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Instruments
# ---------------------------------------------------------------------------------------------


class NodeMeter:
    """Thread CPU spent in the node (and the toy behind it): an ESP32's and a BB-8's work."""

    def __init__(self) -> None:
        """Count nothing yet."""
        self.cpu = 0.0
        self.notifications: Counter[str] = Counter()
        """Notifications (79) the node forwarded: ``answer`` (a response, SOP2 0xFF) or ``async``
        (sensor stream, power: SOP2 0xFE), which come whether or not a command was sent."""
        self._depth = 0

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """Time ``function``'s calls (nested calls counted once)."""
        meter = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            if meter._depth:
                return function(*args, **kwargs)
            meter._depth += 1
            start = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                meter.cpu += time.thread_time() - start
                meter._depth -= 1

        return timed

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Time every entry point of the node's work on the loop (data in, deliveries, adverts)."""
        api, link, node = node_module._ApiConnection, node_module._BleConnection, SimulatedESPHomeNode
        with contextlib.ExitStack() as stack:
            for owner, name in (
                (api, "data_received"),
                (link, "_run"),
                (link, "_establish"),
                (node, "_advertise_tick"),
            ):
                stack.enter_context(patch.object(owner, name, self.wrap(getattr(owner, name))))
            original_notify = link._notify

            def notify(connection: Any, char_uuid: str, chunk: bytes) -> None:
                self.notifications["async" if chunk[:2] == b"\xff\xfe" else "answer"] += 1
                original_notify(connection, char_uuid, chunk)

            stack.enter_context(patch.object(link, "_notify", notify))
            yield


class LoopIterations:
    """Counts the running loop's iterations (``_run_once`` calls)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        """Count on ``loop`` while :meth:`installed`."""
        self.loop = loop
        self.count = 0

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Wrap the loop's ``_run_once`` on the instance (asyncio calls it through ``self``)."""
        original = self.loop._run_once  # type: ignore[attr-defined]

        def run_once() -> None:
            self.count += 1
            original()

        self.loop._run_once = run_once  # type: ignore[attr-defined]
        try:
            yield
        finally:
            del self.loop._run_once  # type: ignore[attr-defined]


def _commands_char_uuid(characteristic: Any) -> str | None:
    uuid = getattr(characteristic, "uuid", characteristic)
    if isinstance(uuid, uuid_module.UUID | str):
        return str(uuid).lower()
    return None


@contextlib.contextmanager
def write_mode(mode: str) -> Iterator[None]:
    """Make bleak-esphome's client write the command characteristic ``mode`` (the bench's seam)."""
    if mode == WITH_RESPONSE:
        yield
        return
    from bleak_esphome.backend.client import ESPHomeClient

    original = ESPHomeClient.write_gatt_char

    async def write_gatt_char(self: Any, characteristic: Any, data: Any, response: bool = False) -> None:
        # A handle is looked up in the client's services; a characteristic or a UUID says itself.
        # (bleak-esphome 2.x had a private resolver for this; 4.x does not.)
        resolved = (
            self.services.get_characteristic(characteristic)
            if isinstance(characteristic, int)
            else characteristic
        )
        if _commands_char_uuid(resolved) == COMMANDS_CHAR:
            response = False
        await original(self, characteristic, data, response)

    with patch.object(ESPHomeClient, "write_gatt_char", write_gatt_char):
        yield


@contextlib.contextmanager
def zeroconf_mocked() -> Iterator[None]:
    """Mock zeroconf as the harness's ``mock_async_zeroconf`` does (esphome asks for the instance)."""
    from homeassistant.components import zeroconf as ha_zeroconf
    from zeroconf import DNSCache, Zeroconf
    from zeroconf.asyncio import AsyncZeroconf

    # The browser moved to the integration's discovery module (2026.x); patch where it lives.
    browser = (
        "homeassistant.components.zeroconf.AsyncServiceBrowser"
        if hasattr(ha_zeroconf, "AsyncServiceBrowser")
        else "homeassistant.components.zeroconf.discovery.AsyncServiceBrowser"
    )
    with (
        patch("homeassistant.components.zeroconf.HaZeroconf", autospec=True) as zeroconf,
        patch(browser, autospec=True),
        patch("homeassistant.components.zeroconf.HaAsyncZeroconf", spec=AsyncZeroconf) as async_zeroconf,
    ):
        zeroconf.return_value.cache = DNSCache()
        instance = async_zeroconf.return_value
        instance.async_unregister_service = AsyncMock()
        instance.async_register_service = AsyncMock()
        instance.async_update_service = AsyncMock()
        instance.zeroconf = Mock(spec=Zeroconf)
        instance.zeroconf.async_wait_for_start = AsyncMock()
        instance.zeroconf.cache = DNSCache()
        instance.zeroconf.done = False
        instance.async_close = AsyncMock()
        instance.ha_async_close = AsyncMock()
        yield


# ---------------------------------------------------------------------------------------------
# The rig
# ---------------------------------------------------------------------------------------------


@dataclass
class EsphomeRig:
    """Home Assistant with the esphome entry, the BB-8 entry behind the node, and a no-op light."""

    hass: HomeAssistant
    settings: LinkSettings
    node: SimulatedESPHomeNode
    node_meter: NodeMeter
    meter: Meter
    toy: SimulatedBB8
    session: BB8Session
    bb8_light: str
    noop_light: str
    device_id: str

    async def turn_on(self, entity_id: str, colour: tuple[int, int, int], *, blocking: bool = True) -> None:
        """``light.turn_on`` with a colour at full brightness."""
        await self.hass.services.async_call(
            "light",
            "turn_on",
            {ATTR_ENTITY_ID: entity_id, "rgb_color": colour, "brightness": 255},
            blocking=blocking,
        )

    async def roll(self, speed: int, heading: int) -> None:
        """``bb8.roll`` (blocking: returns once the toy answered)."""
        await self.hass.services.async_call(
            DOMAIN, "roll", {"device_id": self.device_id, "speed": speed, "heading": heading}, blocking=True
        )

    def messages(self) -> tuple[Counter[int], Counter[int], Counter[str]]:
        """Return copies of the node's counters: messages received, sent (by id), notifications by kind."""
        return (
            Counter(self.node.frames_received),
            Counter(self.node.frames_sent),
            Counter(self.node_meter.notifications),
        )

    @contextlib.contextmanager
    def fast_link(self) -> Iterator[None]:
        """Relax pacing and write latency for warm back-to-back samples (as ``ha_side.fast_link``)."""
        session, faults = self.session, self.toy.faults
        saved = (session.pacing_interval, faults.pacing, faults.write_latency)
        session.pacing_interval, faults.pacing, faults.write_latency = 0.0, False, FAST_WRITE_LATENCY
        try:
            yield
        finally:
            session.pacing_interval, faults.pacing, faults.write_latency = saved


async def add_esphome_node(hass: HomeAssistant, node: SimulatedESPHomeNode) -> None:
    """Add ``node`` through Home Assistant's own esphome config flow (host and port), as a person does."""
    form = await hass.config_entries.flow.async_init("esphome", context={"source": "user"})
    result = await hass.config_entries.flow.async_configure(
        form["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: node.port}
    )
    if result["type"] is not FlowResultType.CREATE_ENTRY:
        raise RuntimeError(f"bench: the esphome config flow did not create an entry: {result}")
    await hass.async_block_till_done()


@contextlib.asynccontextmanager
async def esphome_rig(settings: LinkSettings) -> AsyncIterator[EsphomeRig]:
    """Home Assistant, the node on 127.0.0.1 with the toy behind it, both entries, a no-op light."""
    loop = asyncio.get_running_loop()
    meter = Meter()
    node_meter = NodeMeter()
    toy = meter.attach(SimulatedBB8(ADDRESS, faults=settings.faults(seed=3)), loop)
    registry.register(toy)
    try:
        with node_meter.installed(), zeroconf_mocked():
            node = SimulatedESPHomeNode()
            await node.start()
            try:
                async with home_assistant() as hass:
                    if not await async_setup_component(hass, "homeassistant", {}):
                        raise RuntimeError("bench: Home Assistant's homeassistant integration did not set up")
                    await add_esphome_node(hass, node)
                    await wait_until(
                        lambda: bluetooth.async_ble_device_from_address(hass, ADDRESS, connectable=True)
                        is not None,
                        timeout=20.0,
                        what="the toy heard through the node",
                    )
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
                    if not await hass.config_entries.async_setup(entry.entry_id):
                        raise RuntimeError(f"bench: the BB-8 entry did not set up: {entry.state}")
                    await hass.async_block_till_done()
                    session: BB8Session = entry.runtime_data.session
                    bb8_light = er.async_get(hass).async_get_entity_id(
                        "light", DOMAIN, f"{toy.address}_main_led"
                    )
                    if bb8_light is None:
                        raise RuntimeError("bench: the BB-8's main LED entity was not created")
                    [device] = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
                    noop = NoopLight()
                    await hass.data[LIGHT_COMPONENT].async_add_entities([noop])
                    await wait_until(
                        lambda: session.is_connected and toy.command_counts[SETUP_LAST_COMMAND] > 0,
                        timeout=60.0,
                        what="the BB-8 entry connected through the node and set up",
                    )
                    await session.send(ping())
                    assert noop.entity_id is not None
                    yield EsphomeRig(
                        hass,
                        settings,
                        node,
                        node_meter,
                        meter,
                        toy,
                        session,
                        bb8_light,
                        noop.entity_id,
                        device.id,
                    )
                    if entry.state is ConfigEntryState.LOADED:
                        await hass.config_entries.async_unload(entry.entry_id)
                        await hass.async_block_till_done()
            finally:
                await node.stop()
    finally:
        registry.unregister(toy.address)


# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------


def _per_command(before: Counter[int], after: Counter[int], commands: int) -> tuple[float, dict[int, float]]:
    delta = after - before
    return sum(delta.values()) / commands, {key: value / commands for key, value in delta.items()}


async def messages_per_command(rig: EsphomeRig, commands: int) -> tuple[MessageCount, MessageCount]:
    """Count API messages on the node's socket per colour change and per roll (paced)."""
    await asyncio.sleep(2 * rig.settings.pacing_interval)
    counts: list[MessageCount] = []
    for kind in ("colour", "roll"):
        received, sent, notified = rig.messages()
        for index in range(commands):
            if kind == "colour":
                await rig.turn_on(rig.bb8_light, (255, 0x33, index & 0xFF))
            else:
                await rig.roll(40 + index % 50, (index * 7) % 360)
            await asyncio.sleep(rig.settings.pacing_interval)  # let every answer arrive, paced
        await rig.hass.async_block_till_done()
        received_after, sent_after, notified_after = rig.messages()
        into, into_ids = _per_command(received, received_after, commands)
        out, out_ids = _per_command(sent, sent_after, commands)
        # Background traffic that flows whether or not a command is sent: the toy's async
        # notifications, advertisements (every 10 s), slot reports and pings.
        async_out = (notified_after["async"] - notified["async"]) / commands
        out_ids[79] = out_ids.get(79, 0.0) - async_out
        background = async_out
        for key in BACKGROUND_IDS:
            background += into_ids.pop(key, 0.0) + out_ids.pop(key, 0.0)
        into = sum(into_ids.values())
        out = sum(out_ids.values())
        by_id = {f"in {MESSAGE_NAMES.get(key, key)}": value for key, value in sorted(into_ids.items())}
        by_id |= {
            f"out {MESSAGE_NAMES.get(key, key)}": value for key, value in sorted(out_ids.items()) if value
        }
        counts.append(MessageCount(into, out, background, by_id))
    await rig.roll(0, 0)
    return counts[0], counts[1]


async def action_cost(
    rig: EsphomeRig, samples: int
) -> tuple[Distribution, Distribution, Distribution, Distribution, Distribution]:
    """Loop CPU and loop iterations of ``light.turn_on``, BB-8 against the no-op light, warm.

    Calls alternate (and which goes first) so noise falls on both alike; each BB-8 call blocks
    until the toy answered through the node. The node's and the toy's CPU and the loop's idle
    polling are subtracted. Returns (cpu bb8, cpu noop, cpu share, iterations bb8, iterations noop).
    """
    loop = asyncio.get_running_loop()
    iterations = LoopIterations(loop)
    measured: dict[str, list[float]] = {"bb8": [], "noop": [], "it_bb8": [], "it_noop": []}
    with rig.fast_link(), iterations.installed():
        for index in range(samples):
            colour = (255, index & 0xFF, 0x77)
            order = ("bb8", "noop") if index % 2 == 0 else ("noop", "bb8")
            for which in order:
                entity_id = rig.bb8_light if which == "bb8" else rig.noop_light
                node_before, idle_before, turns_before = rig.node_meter.cpu, idle_cpu(loop), iterations.count
                start = time.thread_time()
                await rig.turn_on(entity_id, colour)
                cpu = time.thread_time() - start
                cpu -= (rig.node_meter.cpu - node_before) + (idle_cpu(loop) - idle_before)
                measured[which].append(cpu)
                measured[f"it_{which}"].append(float(iterations.count - turns_before))
    share = [bb8 - noop for bb8, noop in zip(measured["bb8"], measured["noop"], strict=True)]
    return (
        Distribution.of(measured["bb8"]),
        Distribution.of(measured["noop"]),
        Distribution.of(share),
        Distribution.of(measured["it_bb8"]),
        Distribution.of(measured["it_noop"]),
    )


def _reached(watch: Any) -> bool:
    return watch.reached_at is not None


BURST_GIVE_UP: Final = 8.0
"""Seconds a burst may take before the bench stops waiting for its last colour (beyond the
integration's 5 s command timeout, so a dropped last command shows as not shown)."""


async def burst(rig: EsphomeRig, size: int, salt: int) -> EsphomeBurst:
    """Send ``size`` colour changes, one ``light.turn_on`` per loop turn, on the real link."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(2 * rig.settings.pacing_interval)
    colours = [(255, green, blue) for green, blue, _ in burst_colours(size, (240, salt, 0))]
    watch = rig.meter.watch(rig.toy, colours[-1])
    writes_before = rig.toy.command_counts[LED_COMMAND]
    dropped_before = rig.toy.dropped_for_pacing
    node_before = rig.node_meter.cpu
    cpu_before, idle_before = time.process_time(), idle_cpu(loop)
    started = loop.time()
    for colour in colours:
        await rig.turn_on(rig.bb8_light, colour, blocking=False)
        await asyncio.sleep(0)
    with contextlib.suppress(TimeoutError):
        await wait_until(lambda: _reached(watch), timeout=BURST_GIVE_UP, what="the burst's last colour")
    shown = watch.reached_at is not None
    settle = (watch.reached_at if watch.reached_at is not None else loop.time()) - started
    await rig.hass.async_block_till_done()
    cpu = (
        time.process_time() - cpu_before - (rig.node_meter.cpu - node_before) - (idle_cpu(loop) - idle_before)
    )
    if not shown:
        with contextlib.suppress(ValueError):
            rig.meter._watches.remove(watch)
    return EsphomeBurst(
        size=size,
        settle=settle,
        shown=shown,
        writes=rig.toy.command_counts[LED_COMMAND] - writes_before,
        cpu_per_change=cpu / size,
        dropped_for_pacing=rig.toy.dropped_for_pacing - dropped_before,
    )


async def roll_settle(rig: EsphomeRig, trials: int) -> Distribution:
    """From ``bb8.roll`` to the toy rolling at the speed asked, on the real link."""
    loop = asyncio.get_running_loop()
    settles: list[float] = []
    for trial in range(trials):
        await asyncio.sleep(2 * rig.settings.pacing_interval)
        speed = 60 + trial % 100
        started = loop.time()
        await rig.roll(speed, (trial * 37) % 360)
        await wait_until(lambda speed=speed: rig.toy.speed == speed, timeout=10.0, what="the toy rolling")
        settles.append(loop.time() - started)
    # The stop keeps the same spacing as the trials: written without response, a stop right
    # behind the last roll can reach the toy within its pacing interval and be dropped.
    await asyncio.sleep(2 * rig.settings.pacing_interval)
    await rig.roll(0, 0)
    return Distribution.of(settles)


async def run(
    settings: LinkSettings, *, samples: int, commands: int, burst_sizes: list[int]
) -> EsphomeResults:
    """Both write modes, one after the other, in one Home Assistant (the loop in SPIN mode)."""
    from importlib import metadata

    # ffmpeg (an esphome dependency) looks for its program and logs a traceback without it;
    # developer mode silences the same logger.
    logging.getLogger("haffmpeg").setLevel(logging.CRITICAL)
    results = EsphomeResults(write_latency=settings.write_latency)
    for package in ("aioesphomeapi", "bleak-esphome", "habluetooth"):
        results.versions[package] = metadata.version(package)
    async with esphome_rig(settings) as rig:
        for number, mode in enumerate(WRITE_MODES):
            with write_mode(mode):
                colour, roll = await messages_per_command(rig, commands)
                cpu_bb8, cpu_noop, share, it_bb8, it_noop = await action_cost(rig, samples)
                bursts = [
                    await burst(rig, size, number * 16 + index) for index, size in enumerate(burst_sizes)
                ]
                rolled = await roll_settle(rig, max(2, commands // 2))
            results.modes.append(
                WriteModeResult(
                    mode=mode,
                    colour_messages=colour,
                    roll_messages=roll,
                    iterations_bb8=it_bb8,
                    iterations_noop=it_noop,
                    cpu_bb8=cpu_bb8,
                    cpu_noop=cpu_noop,
                    cpu_share=share,
                    bursts=bursts,
                    roll_settle=rolled,
                )
            )
    return results
