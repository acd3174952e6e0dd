"""The integration inside a real Home Assistant, beside a no-op light in the same instance.

Home Assistant is built the way pytest-homeassistant-custom-component builds it for tests
(``async_test_home_assistant``, in-memory storage, custom integrations enabled, the Bluetooth
integration set up with the harness's adapter and scanner mocks), but outside pytest, so the
bench is one plain process. The toy reaches Home Assistant as in the test suite and developer
mode: through ``bb8sim.proxy.SimProxy``, a remote scanner whose connector's client is the
simulator's backend (here with the bench's meter stamps added), so habluetooth's client wrapper,
slot accounting and bleak-retry-connector all run as in production.

This part waits in real time (the loop in ``IdleMode.SPIN``, or ``BLOCK`` for the cold figures):
Home Assistant's timers mix loop time with wall-clock time, and skipping idle time under them is
not something to trust. Its waits are therefore real, and it is kept short.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
import contextlib
from dataclasses import dataclass, field
from functools import partial
import math
import tempfile
import time
from typing import Any, Final
from unittest.mock import AsyncMock, Mock, patch

from homeassistant import loader
from homeassistant.components.light import ATTR_BRIGHTNESS, ATTR_RGB_COLOR, LightEntity
from homeassistant.components.light.const import DATA_COMPONENT as LIGHT_COMPONENT, ColorMode
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, CONF_ADDRESS
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er, frame, storage
from homeassistant.helpers.discovery_flow import DiscoveryKey
from homeassistant.helpers.entity import Entity
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
    async_test_home_assistant,
    mock_storage,
)

from bb8sim import SimBleakBackend, SimulatedBB8, registry
from bb8sim.proxy import SimProxy
from custom_components.bb8.const import DOMAIN
from custom_components.bb8.sphero.commands import ping
from custom_components.bb8.sphero.session import BB8Session, SessionState

from .results import BurstSide, Distribution, RecoveryResult, Stall
from .rig import (
    LED_COMMAND,
    LedWatch,
    LinkSettings,
    LoopIterationProfile,
    LoopLagProbe,
    Meter,
    burst_colours,
    wait_until,
)
from .session_side import COLD_PAUSE, RETRY_EVERY, SETUP_LAST_COMMAND
from .vloop import IdleMode, idle_cpu, idle_mode

ADDRESS: Final = "D3:4B:2A:3D:B5:4A"
BLUETOOTH_ADAPTER: Final = {
    "hci0": {
        "address": "00:00:00:00:00:01",
        "hw_version": "usb:v1D6Bp0246d053F",
        "passive_scan": False,
        "sw_version": "homeassistant",
        "manufacturer": "ACME",
        "product": "Bluetooth Adapter 5.0",
        "product_id": "aa01",
        "vendor_id": "cc01",
    }
}
"""The adapter pytest-homeassistant-custom-component's ``mock_bluetooth_adapters`` fixture reports."""


class NoopLight(LightEntity):
    """An RGB light that only records what it was asked and writes its state: the baseline.

    Everything Home Assistant does for a ``light.turn_on`` (schema, targeting, the entity service
    call, the state write) happens for it as for the BB-8's light, so the difference between the
    two is what the integration itself adds.
    """

    _attr_name = "Bench no-op light"
    _attr_should_poll = False
    _attr_color_mode = ColorMode.RGB
    _attr_supported_color_modes = {ColorMode.RGB}

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Take the colour and brightness, and write the state."""
        self._attr_is_on = True
        self._attr_rgb_color = kwargs.get(ATTR_RGB_COLOR, self._attr_rgb_color)
        self._attr_brightness = kwargs.get(ATTR_BRIGHTNESS, self._attr_brightness)
        self.async_write_ha_state()


class MeteredSimProxy(SimProxy):
    """The simulated proxy, its backend carrying the bench meter's stamps."""

    def __init__(self, hass: HomeAssistant, meter: Meter) -> None:
        """Build the proxy around a metered backend."""
        self._meter = meter
        super().__init__(hass)

    def _make_backend_class(self) -> type[SimBleakBackend]:
        return self._meter.backend_class(super()._make_backend_class())


def _storage_mocked() -> bool:
    """Tell whether Home Assistant's storage is mocked already (an autospec leaves ``.mock``)."""
    load = storage.Store._async_load
    return isinstance(load, Mock) or isinstance(getattr(load, "mock", None), Mock)


@contextlib.contextmanager
def _bluetooth_mocks() -> Iterator[None]:
    """Mock what the harness's ``mock_bluetooth_adapters`` and ``mock_bleak_scanner_start`` do.

    The same adapter and the same scanner stubs, for the Home Assistant release installed: newer
    habluetooth also recovers adapters itself and talks to BlueZ's management socket, and those
    are stubbed where they exist.
    """
    from habluetooth import manager as habluetooth_manager, scanner as habluetooth_scanner
    import habluetooth.util as habluetooth_util

    with contextlib.ExitStack() as stack:
        stack.enter_context(patch("bluetooth_auto_recovery.recover_adapter"))
        if hasattr(habluetooth_util, "recover_adapter"):
            stack.enter_context(patch.object(habluetooth_util, "recover_adapter"))
        stack.enter_context(patch("bluetooth_adapters.systems.platform.system", return_value="Linux"))
        stack.enter_context(patch("bluetooth_adapters.systems.linux.LinuxAdapters.refresh"))
        stack.enter_context(
            patch("bluetooth_adapters.systems.linux.LinuxAdapters.adapters", BLUETOOTH_ADAPTER)
        )
        stack.enter_context(patch.object(habluetooth_scanner.OriginalBleakScanner, "start"))
        stack.enter_context(patch.object(habluetooth_scanner.OriginalBleakScanner, "stop", AsyncMock()))
        stack.enter_context(patch.object(habluetooth_scanner, "HaScanner"))
        if hasattr(habluetooth_manager, "MGMTBluetoothCtl"):
            management = Mock()
            management.setup = AsyncMock(return_value=None)
            stack.enter_context(
                patch.object(habluetooth_manager, "MGMTBluetoothCtl", return_value=management)
            )
        yield


@contextlib.contextmanager
def _no_http_server() -> Iterator[None]:
    """Keep the http component from listening, as the harness's ``disable_http_server`` does.

    That fixture is function-scoped, so a Home Assistant built outside it (module-scoped under
    pytest, or by ``scripts/bench``) needs the same: since 2026.8 the http component binds its
    socket while it sets up (``async_bind``), which the harness's socket blocking refuses, and
    then every integration depending on http (websocket_api, usb, bluetooth) fails to set up.
    """
    from homeassistant.components import http

    with contextlib.ExitStack() as stack:
        if hasattr(http.HomeAssistantHTTP, "async_bind"):
            stack.enter_context(patch.object(http.HomeAssistantHTTP, "async_bind"))
        stack.enter_context(patch.object(http.HomeAssistantHTTP, "start"))
        yield


@contextlib.asynccontextmanager
async def home_assistant() -> AsyncIterator[HomeAssistant]:
    """Build a test-harness Home Assistant with Bluetooth set up, outside pytest; stop it on exit."""
    with (
        tempfile.TemporaryDirectory(prefix="bb8-bench-") as config_dir,
        # Under pytest (the smoke test) the harness has mocked storage already; once is enough.
        contextlib.nullcontext() if _storage_mocked() else mock_storage(),
        _bluetooth_mocks(),
        _no_http_server(),
    ):
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            frame.async_setup(hass)
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)  # what enable_custom_integrations does
            bluetooth_entry = MockConfigEntry(domain="bluetooth", unique_id="00:00:00:00:00:01")
            bluetooth_entry.add_to_hass(hass)
            if not await hass.config_entries.async_setup(bluetooth_entry.entry_id):
                raise RuntimeError("bench: Home Assistant's Bluetooth integration did not set up")
            await hass.async_block_till_done()
            try:
                yield hass
            finally:
                for entry in hass.config_entries.async_entries():
                    if entry.state is ConfigEntryState.LOADED and entry.domain != "bluetooth":
                        await hass.config_entries.async_unload(entry.entry_id)
                await hass.config_entries.async_unload(bluetooth_entry.entry_id)
                await hass.async_block_till_done()
                await hass.async_stop(force=True)
                await asyncio.sleep(0)  # lets the harness forget this instance


SETTING_UP: Final = "setting up the entry (Home Assistant adds its platforms and entities; connect meanwhile)"
"""The stall row of the entry's set-up, judged by the integration's own part of it."""


@dataclass
class HomeAssistantRig:
    """Home Assistant with the BB-8 entry loaded and the no-op light beside it."""

    hass: HomeAssistant
    settings: LinkSettings
    meter: Meter
    toy: SimulatedBB8
    session: BB8Session
    bb8_light: str
    noop_light: str
    stalls: dict[str, Stall] = field(default_factory=dict)

    async def turn_on(self, entity_id: str, colour: tuple[int, int, int], *, blocking: bool = True) -> None:
        """``light.turn_on`` with a colour at full brightness (so no scaling changes the colour)."""
        await self.hass.services.async_call(
            "light",
            "turn_on",
            {ATTR_ENTITY_ID: entity_id, ATTR_RGB_COLOR: colour, ATTR_BRIGHTNESS: 255},
            blocking=blocking,
        )

    async def wait_set_up(self, mark: int) -> None:
        """Wait until the session is connected and has sent its after-connect setup."""
        await wait_until(
            lambda: self.session.is_connected and self.toy.command_counts[SETUP_LAST_COMMAND] > mark,
            timeout=60.0,
            what="the BB-8 entry connected and set up",
        )
        await self.session.send(ping())


@contextlib.asynccontextmanager
async def home_assistant_rig(settings: LinkSettings) -> AsyncIterator[HomeAssistantRig]:
    """Home Assistant, the simulated proxy and toy, the BB-8 entry and a no-op light."""
    loop = asyncio.get_running_loop()
    meter = Meter()
    async with home_assistant() as hass:
        proxy = MeteredSimProxy(hass, meter)
        undo = proxy.async_setup()
        toy = meter.attach(SimulatedBB8(ADDRESS, faults=settings.faults(seed=1)), loop)
        proxy.advertise(toy)
        try:
            # As the config flow creates it from a Bluetooth discovery (with its discovery key).
            entry = MockConfigEntry(
                domain=DOMAIN,
                unique_id=toy.address,
                title=toy.name,
                data={CONF_ADDRESS: toy.address},
                discovery_keys={"bluetooth": (DiscoveryKey(domain="bluetooth", key=toy.address, version=1),)},
            )
            entry.add_to_hass(hass)
            async with LoopLagProbe() as probe:
                if not await hass.config_entries.async_setup(entry.entry_id):
                    raise RuntimeError(f"bench: the BB-8 entry did not set up: {entry.state} {entry.reason}")
                await hass.async_block_till_done()
            session: BB8Session = entry.runtime_data.session
            bb8_light = er.async_get(hass).async_get_entity_id("light", DOMAIN, f"{toy.address}_main_led")
            if bb8_light is None:
                raise RuntimeError("bench: the BB-8's main LED entity was not created")
            noop = NoopLight()
            await hass.data[LIGHT_COMPONENT].async_add_entities([noop])
            rig = HomeAssistantRig(hass, settings, meter, toy, session, bb8_light, noop.entity_id, {})
            await rig.wait_set_up(0)
            # Home Assistant's own platform setup (six platforms, fourteen entities) runs in this
            # window too. The integration's part is measured on a reload of the entry (the same
            # set-up, warm: a process sets an integration up cold once, and that once was the
            # unprofiled window above), profiled iteration by iteration.
            profile = LoopIterationProfile()
            mark = toy.command_counts[SETUP_LAST_COMMAND]
            with profile.installed():
                await hass.config_entries.async_reload(entry.entry_id)
                await hass.async_block_till_done()
                rig.session = entry.runtime_data.session
                await rig.wait_set_up(mark)
            rig.stalls[SETTING_UP] = probe.stall(
                integration=profile.integration_estimate(),
                integration_profiled=profile.most_integration().integration,
            )
            yield rig
        finally:
            undo()
            registry.unregister(toy.address)


FAST_WRITE_LATENCY: Final = 1e-4
"""Write latency while warm CPU samples are taken (the write still waits on a timer, briefly)."""


@contextlib.contextmanager
def fast_link(rig: HomeAssistantRig) -> Iterator[None]:
    """Shorten the link's waits so calls can run back to back, then restore them.

    Waiting 60 ms between samples in real time lets the core go cold (and, on a shared machine,
    lets other processes evict the caches), which triples the CPU the same code costs. For the
    warm CPU figures the session's pacing interval (a public setting), the toy's pacing rule and
    the write latency are relaxed; the code path a command takes is the same. Settle times are
    never measured in this state.
    """
    session, faults = rig.session, rig.toy.faults
    saved = (session.pacing_interval, faults.pacing, faults.write_latency)
    session.pacing_interval, faults.pacing, faults.write_latency = 0.0, False, FAST_WRITE_LATENCY
    try:
        yield
    finally:
        session.pacing_interval, faults.pacing, faults.write_latency = saved


async def action_cpu(rig: HomeAssistantRig, samples: int, *, cold: bool = False) -> dict[str, Distribution]:
    """Loop CPU of one ``light.turn_on`` action: the BB-8's light against the no-op light.

    Calls alternate between the two lights (and which goes first) so machine noise falls on
    both alike; each BB-8 call blocks until the toy answered; the toy's own work and the loop's
    idle time are subtracted. ``action_to_write`` is the BB-8 call's CPU from the action to the
    moment the bleak backend receives the write. Warm: back to back on a :func:`fast_link`.
    Cold: the real link, and a real 100 ms sleep before every call.
    """
    loop = asyncio.get_running_loop()
    measured: dict[str, list[float]] = {"bb8": [], "noop": [], "to_write": []}

    async def timed(entity_id: str, colour: tuple[int, int, int]) -> float:
        rig.meter.mark()
        sim_before, idle_before = rig.meter.sim_cpu, idle_cpu(loop)
        start = time.thread_time()
        await rig.turn_on(entity_id, colour)
        cpu = time.thread_time() - start - (rig.meter.sim_cpu - sim_before) - (idle_cpu(loop) - idle_before)
        if entity_id == rig.bb8_light:
            if rig.meter.write_stamp is None:
                raise RuntimeError("a timed light.turn_on never reached the toy")
            measured["to_write"].append(rig.meter.write_stamp - start)
        return cpu

    with contextlib.ExitStack() as stack:
        if cold:
            stack.enter_context(idle_mode(IdleMode.BLOCK))
        else:
            stack.enter_context(fast_link(rig))
        for index in range(samples):
            colour = (255, index & 0xFF, (index >> 8) & 0xFF)
            order = ("bb8", "noop") if index % 2 == 0 else ("noop", "bb8")
            for which in order:
                if cold:
                    await asyncio.sleep(COLD_PAUSE)
                entity_id = rig.bb8_light if which == "bb8" else rig.noop_light
                measured[which].append(await timed(entity_id, colour))
    return {
        "ha_bb8": Distribution.of(measured["bb8"]),
        "ha_noop": Distribution.of(measured["noop"]),
        "ha_action_to_write": Distribution.of(measured["to_write"]),
        "ha_share": Distribution.of(
            [bb8 - noop for bb8, noop in zip(measured["bb8"], measured["noop"], strict=True)]
        ),
    }


async def state_writes_per_action(rig: HomeAssistantRig, calls: int = 20) -> dict[str, float]:
    """How many entity states one ``light.turn_on`` makes Home Assistant write, and their CPU.

    Counted in a separate pass (not during the timed samples), warm and back to back as the
    warm CPU samples are, by wrapping ``Entity``'s state writer: every entity that writes costs
    the state and attribute computation, whether or not the state then changed. Keys:
    ``<light>_writes`` and ``<light>_cpu`` (seconds), per action.
    """
    counted = [0, 0.0]
    original = Entity._async_write_ha_state

    def counting(entity: Entity) -> None:
        start = time.thread_time()
        try:
            original(entity)
        finally:
            counted[0] += 1
            counted[1] += time.thread_time() - start

    measured: dict[str, float] = {}
    with fast_link(rig), patch.object(Entity, "_async_write_ha_state", counting):
        for name, entity_id in (("bb8", rig.bb8_light), ("noop", rig.noop_light)):
            counted[:] = [0, 0.0]
            for index in range(calls):
                await rig.turn_on(entity_id, (255, 0x55, index & 0xFF))
            await rig.hass.async_block_till_done()
            measured[f"{name}_writes"] = counted[0] / calls
            measured[f"{name}_cpu"] = counted[1] / calls
    await asyncio.sleep(2 * rig.settings.pacing_interval)
    return measured


def _reached(watch: LedWatch) -> bool:
    return watch.reached_at is not None


async def bursts(rig: HomeAssistantRig, sizes: list[int]) -> dict[int, BurstSide]:
    """Each burst as ``light.turn_on`` actions, one per loop turn (real time: see the module)."""
    loop = asyncio.get_running_loop()
    results: dict[int, BurstSide] = {}
    for number, size in enumerate(sizes):
        await asyncio.sleep(2 * rig.settings.pacing_interval)
        colours = [(255, green, blue) for green, blue, _ in burst_colours(size, (250, number, 0))]
        watch = rig.meter.watch(rig.toy, colours[-1])
        writes_before = rig.toy.command_counts[LED_COMMAND]
        dropped_before = rig.toy.dropped_for_pacing
        sim_before = rig.meter.sim_cpu
        cpu_before, idle_before = time.process_time(), idle_cpu(loop)
        started = loop.time()
        for colour in colours:
            await rig.turn_on(rig.bb8_light, colour, blocking=False)
            await asyncio.sleep(0)
        await wait_until(partial(_reached, watch), timeout=30.0, what="the burst's last colour")
        await rig.hass.async_block_till_done()
        cpu = (
            time.process_time()
            - cpu_before
            - (rig.meter.sim_cpu - sim_before)
            - (idle_cpu(loop) - idle_before)
        )
        assert watch.reached_at is not None
        results[size] = BurstSide(
            settle=watch.reached_at - started,
            writes=rig.toy.command_counts[LED_COMMAND] - writes_before,
            cpu_per_change=cpu / size,
            dropped_for_pacing=rig.toy.dropped_for_pacing - dropped_before,
        )
    return results


async def recovery(rig: HomeAssistantRig, trials: int) -> RecoveryResult:
    """Drop the link; retry ``light.turn_on`` every 10 ms until one succeeds (real time).

    The entry's session draws its backoff jitter from an unseeded source, so the delay it
    waited is read from its state changes instead: from the drop to its next CONNECTING.
    """
    loop = asyncio.get_running_loop()
    recoveries: list[float] = []
    delays: list[float] = []
    failed = 0
    async with LoopLagProbe() as probe:
        for trial in range(trials):
            await asyncio.sleep(2 * rig.settings.pacing_interval)
            mark = rig.toy.command_counts[SETUP_LAST_COMMAND]
            connecting_at: list[float] = []

            def on_update(seen: list[float] = connecting_at, session: Any = rig.session) -> None:
                if session.state is SessionState.CONNECTING and not seen:
                    seen.append(loop.time())

            subscription = rig.session.toy.add_update_listener(on_update)
            dropped_at = loop.time()
            rig.toy.disconnect_now("bench: link lost")
            lost = False
            try:
                while True:
                    try:
                        await rig.turn_on(rig.bb8_light, (255, 0x40, trial & 0xFF))
                    except HomeAssistantError:
                        lost = lost or rig.session.is_connected
                        await asyncio.sleep(RETRY_EVERY)
                    else:
                        break
            finally:
                subscription.cancel()
            recoveries.append(loop.time() - dropped_at)
            delays.append(connecting_at[0] - dropped_at if connecting_at else math.nan)
            failed += lost
            await rig.wait_set_up(mark)
    rig.stalls["reconnect via Home Assistant's Bluetooth stack"] = probe.stall()
    return RecoveryResult(
        first_delay=Distribution.of(delays),
        recovery=Distribution.of(recoveries),
        overhead=Distribution.of([value - delay for value, delay in zip(recoveries, delays, strict=True)]),
        trials=trials,
        failed=failed,
    )


@dataclass(frozen=True, slots=True)
class HomeAssistantResults:
    """What the Home Assistant phase measured."""

    cpu: dict[str, Distribution]
    state_writes: dict[str, float]
    bursts: dict[int, BurstSide]
    recovery: RecoveryResult
    stalls: dict[str, Stall]


async def run(
    settings: LinkSettings, *, samples: int, cold_samples: int, burst_sizes: list[int], recovery_trials: int
) -> HomeAssistantResults:
    """Every Home Assistant measurement, in one Home Assistant (the loop should be in SPIN mode)."""
    async with home_assistant_rig(settings) as rig:
        state_writes = await state_writes_per_action(rig)
        cpu = await action_cpu(rig, samples)
        cpu.update(
            {f"{key}_cold": value for key, value in (await action_cpu(rig, cold_samples, cold=True)).items()}
        )
        burst_results = await bursts(rig, burst_sizes)
        recovered = await recovery(rig, recovery_trials)
        return HomeAssistantResults(cpu, state_writes, burst_results, recovered, dict(rig.stalls))
