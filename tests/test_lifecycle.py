"""Setup, use, unload and reload, over and over, and Home Assistant stopping at bad moments.

Every cycle ends with the entry unloaded and then counts what must be back where it started:
tasks, live timers, threads, event bus listeners, Home Assistant's Bluetooth callbacks for the
toy, the proxy's connection slots, the session's listeners, pending commands and timers, and
(every few cycles, it is a heap scan) the simulator's bleak backends with a link, a notify
callback or a delivery timer. While loaded, the subscriptions must not pile up either: the
same number of session listeners, Bluetooth callbacks and notify callbacks every time.

The suite runs ``BB8_CYCLES`` cycles (default 200); ``scripts/soak`` runs 1,000.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
import json
import os
from pathlib import Path
import random
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bb8sim import SimulatedBB8
from bb8sim.proxy import SimProxy
from custom_components.bb8.const import (
    CONF_CONNECTION_MODE,
    CONF_IDLE_TIMEOUT,
    CONF_RECONNECT_MAX_DELAY,
    MODE_ALWAYS,
    MODE_ON_DEMAND,
)
from custom_components.bb8.sphero.session import BB8Session, SessionState
from soak.chaos import (
    ResourceSnapshot,
    Targets,
    bluetooth_callbacks_for,
    classify_outcome,
    describe_tasks,
    find_leaks,
    live_backends,
    set_up_settled,
)

from .conftest import make_entry, setup_finished, wait_for

CYCLES = int(os.environ.get("BB8_CYCLES", "200"))
CYCLE_SEED = int(os.environ.get("BB8_CYCLE_SEED", "11"))
CYCLE_REPORT = os.environ.get("BB8_CYCLE_REPORT")
BACKEND_SCAN_EVERY = 25

OPTIONS: dict[str, Any] = {CONF_RECONNECT_MAX_DELAY: 5, CONF_IDLE_TIMEOUT: 10}


class Cycler:
    """One toy's entry, set up and torn down in the ways people and Home Assistant do it."""

    def __init__(self, hass: HomeAssistant, toy: SimulatedBB8, entry: MockConfigEntry) -> None:
        self.hass = hass
        self.toy = toy
        self.entry = entry
        self.outcomes: Counter[str] = Counter()
        self.loaded_shape: tuple[int, int] | None = None
        self._last_session: BB8Session | None = None

    @property
    def session(self) -> BB8Session:
        """The loaded entry's session, or the last one (Home Assistant drops runtime_data on unload)."""
        if self.entry.state is ConfigEntryState.LOADED:
            self._last_session = self.entry.runtime_data.session
        assert self._last_session is not None
        return self._last_session

    async def setup(self) -> None:
        assert await self.hass.config_entries.async_setup(self.entry.entry_id)
        await self.hass.async_block_till_done()
        assert self.entry.state is ConfigEntryState.LOADED
        assert self.session is not None

    async def unload(self) -> None:
        assert self.session is not None  # remember the session before Home Assistant drops it
        assert await self.hass.config_entries.async_unload(self.entry.entry_id)
        await self.hass.async_block_till_done()
        assert self.entry.state is ConfigEntryState.NOT_LOADED

    def call(self, domain: str, service: str, data: dict[str, Any]) -> asyncio.Task[None]:
        """Start a call as its own task; its outcome is checked when it ends."""

        async def _call() -> None:
            error: BaseException | None = None
            try:
                await self.hass.services.async_call(domain, service, data, blocking=True)
            except HomeAssistantError as err:
                error = err
            name, acceptable = classify_outcome(error)
            assert acceptable, name
            self.outcomes[name] += 1

        return self.hass.loop.create_task(_call(), name="bb8 lifecycle call")

    def colour(self, rng: random.Random) -> asyncio.Task[None]:
        targets = Targets.find(self.hass, self.toy.address)
        rgb = [rng.randrange(1, 256), rng.randrange(256), rng.randrange(256)]
        return self.call(
            "light", "turn_on", {"entity_id": targets.main_led, "rgb_color": rgb, "brightness": 200}
        )

    def check_loaded_shape(self) -> None:
        """While loaded: the same subscriptions every cycle, never one more."""
        shape = (self.session.toy.listener_count, bluetooth_callbacks_for(self.hass, self.toy.address))
        if self.loaded_shape is None:
            self.loaded_shape = shape
        assert shape == self.loaded_shape, f"subscriptions (session listeners, bluetooth callbacks) {shape}"
        for backend in live_backends():
            assert len(backend.subscriptions) <= 1, f"{backend!r} subscribes to {backend.subscriptions}"

    # -- the variants ----------------------------------------------------------------------

    async def use(self, rng: random.Random) -> None:
        """Set up, wait for the link, change the colour and wait for the answer, unload."""
        await self.setup()
        await wait_for(lambda: self.session.is_connected)
        self.check_loaded_shape()
        await self.colour(rng)
        assert self.toy.main_led == self.session.toy.requested.main_led
        await self.unload()

    async def unload_during_a_command(self, rng: random.Random) -> None:
        """Set up and unload while a call is still queued or in the air."""
        await self.setup()
        call = self.colour(rng)
        await asyncio.sleep(0)
        await self.unload()
        await call

    async def reload_during_a_command(self, rng: random.Random) -> None:
        """Reload (new session) while calls are under way, use the new session, unload."""
        await self.setup()
        await wait_for(lambda: self.session.is_connected)
        first = self.session
        calls = [self.colour(rng) for _ in range(3)]
        assert await self.hass.config_entries.async_reload(self.entry.entry_id)
        await self.hass.async_block_till_done()
        await asyncio.gather(*calls)
        assert first.state is SessionState.CLOSED
        assert self.session is not first
        await wait_for(lambda: self.session.is_connected)
        self.check_loaded_shape()
        await self.unload()

    async def options_change(self, rng: random.Random) -> None:
        """Change the connection mode in the options (the entry reloads itself), unload."""
        await self.setup()
        first = self.session
        mode = (
            MODE_ON_DEMAND if self.entry.options.get(CONF_CONNECTION_MODE) != MODE_ON_DEMAND else MODE_ALWAYS
        )
        self.hass.config_entries.async_update_entry(
            self.entry, options={**self.entry.options, CONF_CONNECTION_MODE: mode}
        )
        await self.hass.async_block_till_done()
        await wait_for(lambda: self.entry.state is ConfigEntryState.LOADED and self.session is not first)
        assert first.state is SessionState.CLOSED
        await self.unload()

    async def unload_while_connecting(self, rng: random.Random) -> None:
        """Unload while the connect is still under way (a slow radio)."""
        self.toy.faults.connect_latency = 0.05
        await self.setup()
        assert self.session.state is SessionState.CONNECTING
        await self.unload()

    async def unload_during_backoff(self, rng: random.Random) -> None:
        """Unload while the session waits between failed connects."""
        self.toy.faults.refuse_connect = True
        await self.setup()
        await wait_for(lambda: self.session.counters.reconnect_attempts >= 1)
        await self.unload()

    async def on_demand_use(self, rng: random.Random) -> None:
        """The on-demand mode: no link until used, then one for the call."""
        self.hass.config_entries.async_update_entry(
            self.entry, options={**self.entry.options, CONF_CONNECTION_MODE: MODE_ON_DEMAND}
        )
        await self.setup()
        assert self.session.state is SessionState.DISCONNECTED
        await self.colour(rng)
        assert self.session.is_connected
        await self.unload()

    async def sleep_then_unload(self, rng: random.Random) -> None:
        """Put the toy to sleep with its button, unload while it sleeps; the next set-up lets it
        sleep (nothing connects) until a colour change uses it, then unload again."""
        await self.setup()
        await wait_for(lambda: self.session.is_connected)
        targets = Targets.find(self.hass, self.toy.address)
        await self.call("button", "press", {"entity_id": targets.sleep})
        await self.unload()
        await self.setup()
        assert self.session.toy.asleep
        assert self.session.state is SessionState.DISCONNECTED, "a set-up connected to a toy put to sleep"
        await self.colour(rng)
        assert self.session.is_connected
        await self.unload()


# Weighted towards the quick variants so 200 cycles fit the suite: one that waits for the link
# and an answer costs about 0.7 s (the after-connect setup queues five paced writes first), one
# that unloads straight away about 0.08 s (Home Assistant setting up and removing 15 entities).
VARIANTS: list[tuple[float, Callable[[Cycler, random.Random], Awaitable[None]]]] = [
    (1, Cycler.use),
    (5, Cycler.unload_during_a_command),
    (1.5, Cycler.reload_during_a_command),
    (2, Cycler.options_change),
    (3, Cycler.unload_while_connecting),
    (1, Cycler.unload_during_backoff),
    (1, Cycler.on_demand_use),
    (0.5, Cycler.sleep_then_unload),
]


async def test_setup_use_unload_cycles_leave_nothing_behind(
    hass: HomeAssistant, proxy: SimProxy, toy: SimulatedBB8
) -> None:
    entry = make_entry(toy, **OPTIONS)
    await set_up_settled(hass, entry)
    await wait_for(lambda: entry.runtime_data.session.is_connected)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    cycler = Cycler(hass, toy, entry)
    rng = random.Random(CYCLE_SEED)
    baseline = ResourceSnapshot.take(hass, proxy, toy.address)
    variants: Counter[str] = Counter()
    loop = asyncio.get_running_loop()
    started = loop.time()
    slowest = 0.0
    settled = 0
    for cycle in range(CYCLES):
        variant = rng.choices([v for _, v in VARIANTS], [w for w, _ in VARIANTS])[0]
        variants[variant.__name__] += 1
        began = loop.time()
        await variant(cycler, rng)
        slowest = max(slowest, loop.time() - began)
        toy.faults.clear()
        hass.config_entries.async_update_entry(entry, options=OPTIONS)
        await hass.async_block_till_done()

        session = cycler.session
        leaks = find_leaks(
            hass, session=session, proxy=proxy, toy=toy, scan_backends=cycle % BACKEND_SCAN_EVERY == 0
        )
        assert leaks == [], f"cycle {cycle} ({variant.__name__}): {leaks}"
        growth = ResourceSnapshot.take(hass, proxy, toy.address).growth_over(baseline)
        if growth:
            # Something may still be finishing (Home Assistant's or bleak's own clean-up): give it
            # a moment, then name whatever stayed.
            settled += 1
            for _ in range(20):
                await asyncio.sleep(0.05)
                await hass.async_block_till_done()
                if not (growth := ResourceSnapshot.take(hass, proxy, toy.address).growth_over(baseline)):
                    break
        assert growth == [], f"cycle {cycle} ({variant.__name__}): {growth}; tasks: {describe_tasks()}"

    assert live_backends() == []
    if CYCLE_REPORT:
        report = {
            "cycles": CYCLES,
            "seed": CYCLE_SEED,
            "variants": dict(sorted(variants.items())),
            "call_outcomes": dict(sorted(cycler.outcomes.items())),
            "seconds": round(loop.time() - started, 1),
            "slowest_cycle": round(slowest, 3),
            "settled": settled,
            "leaks": 0,
        }
        Path(CYCLE_REPORT).parent.mkdir(parents=True, exist_ok=True)
        Path(CYCLE_REPORT).write_text(json.dumps(report, indent=2, sort_keys=True))


@pytest.mark.parametrize("moment", ["connect", "backoff", "command"])
async def test_home_assistant_stopping_at_any_moment_leaves_nothing_behind(
    hass: HomeAssistant, proxy: SimProxy, toy: SimulatedBB8, moment: str
) -> None:
    entry = make_entry(toy, **OPTIONS)
    call: asyncio.Task[None] | None = None
    if moment == "connect":
        toy.faults.connect_latency = 1.0
        await set_up_settled(hass, entry)
        assert entry.runtime_data.session.state is SessionState.CONNECTING
    elif moment == "backoff":
        toy.faults.refuse_connect = True
        await set_up_settled(hass, entry)
        await wait_for(lambda: entry.runtime_data.session.counters.reconnect_attempts >= 1)
    else:
        await set_up_settled(hass, entry)
        session = entry.runtime_data.session
        await wait_for(setup_finished(session))
        toy.faults.drop_next_responses = 1
        cycler = Cycler(hass, toy, entry)
        call = cycler.colour(random.Random(1))
        await wait_for(lambda: toy.command_counts["set_main_led"] == 1)
    session = entry.runtime_data.session

    await hass.async_stop()

    assert session.state is SessionState.CLOSED
    if call is not None:
        await call
        assert cycler.outcomes == Counter({"session_closed": 1})
    # Home Assistant does not unload entries when it stops, so the entry's Bluetooth callbacks
    # stay registered with the (stopped) Bluetooth manager: everything else must be gone.
    leaks = [
        line for line in find_leaks(hass, session=session, proxy=proxy, toy=toy) if "Bluetooth" not in line
    ]
    assert leaks == []


async def test_an_entry_of_another_toy_leaves_this_toys_callbacks_alone(
    hass: HomeAssistant, proxy: SimProxy, toy: SimulatedBB8
) -> None:
    """Unloading one toy's entry must not take the other toy's subscriptions with it."""
    other = SimulatedBB8("E8:11:22:33:C0:DE", clock=toy.clock, seed=2)
    proxy.advertise(other)
    first, second = make_entry(toy, **OPTIONS), make_entry(other, **OPTIONS)
    await set_up_settled(hass, first)
    await set_up_settled(hass, second)
    await wait_for(
        lambda: first.runtime_data.session.is_connected and second.runtime_data.session.is_connected
    )
    kept = bluetooth_callbacks_for(hass, other.address)
    assert await hass.config_entries.async_unload(first.entry_id)
    await hass.async_block_till_done()
    assert bluetooth_callbacks_for(hass, toy.address) == 0
    assert bluetooth_callbacks_for(hass, other.address) == kept
    assert second.runtime_data.session.is_connected
    assert other.connected
    assert not toy.connected
