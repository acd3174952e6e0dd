"""A simulated week in a home: toys that sleep and wake, ESPHome proxies that reboot, restarts.

The chaos soak (:mod:`soak.chaos`) breaks one link at a time. Homes fail at the level above,
slowly: this drives several toys, both connection modes, behind two ESPHome Bluetooth proxies
through Home Assistant (real ``hass``, its Bluetooth stack, the config entries, entities,
actions and an automation) for days of simulated time.

It runs on the real proxy stack, the path most homes run: each proxy is a simulated ESPHome node
(:class:`bb8sim.esphome.SimulatedESPHomeNode`, a native-API server on 127.0.0.1) added to Home
Assistant through its own ``esphome`` config flow, so aioesphomeapi, bleak-esphome and
habluetooth's slot accounting carry every advertisement, connect and command. The project's own
scanner (``bb8sim.proxy.SimProxy``) plays no part. The timetable of the local day:

* 07:30 someone uses every toy by action calls (main LED colour of the day, tail light);
* 18:00 an automation turns every main LED to the evening colour;
* 18:05 one node reboots (its own reboot: the API connection closes, every link it held drops,
  it is back after a few minutes) while the always-connected toys hold links through it: their
  links must move to the other node;
* 21:30 someone rolls every toy (``bb8.roll``);
* 21:33 on even days Home Assistant restarts with the toys connected; the night after an odd
  day it restarts at 04:00 with the toys asleep (restore states dumped, the bb8 entries and then
  both esphome entries unloaded, which closes the API connections and with them every link, a
  few minutes down, states loaded back, the esphome entries set up again and their nodes heard,
  then the bb8 entries);
* 03:00 the night after an even day the other node reboots while every toy sleeps.

When a toy is heard is the world's to say (:meth:`Week.hear`): a toy holding a link is silent,
one without is passed on by each node in range once a minute (the nodes run no rounds of their
own), and at once when its link just went.

In between, nobody touches the toys: an always-connected toy falls asleep by inactivity (10
minutes after its last use), an on-demand one drops its link after the idle timeout and falls
asleep without it; both stay asleep for hours and are woken only by the next use.

Checked as the week runs, and reported as figures (:class:`WeekReport`): no exception reaches
the event loop and nothing is logged at ERROR; every use succeeds within the wake time; while
a toy sleeps, no connect request reaches a node for it until it is used, a start of Home Assistant
during the sleep included (the sleep is stored; the reconnect loop pauses while the toy sleeps,
a poll never connects, on demand only use connects); after a node reboot each link it carried
is back through the other node within the README's first reconnect wait plus a connect, and the
rebooted node is back in Home Assistant within aioesphomeapi's longest reconnect wait; after
a start the always-connected toys that were awake show their restored wishes within the same
bound (each bound is a number the README says, :mod:`soak.promises`, not one read from the
integration); after every unload (each restart and the end) nothing is left behind
(:func:`soak.chaos.find_leaks`; no slot taken, link held or API connection open on either
node), and Home Assistant holds no more tasks, timers, threads, listeners or Bluetooth callbacks
than after the first unload of every bb8 and esphome entry.

Time is simulated (:mod:`soak.world`): coarse steps while every toy sleeps, fine ones while a
toy is awake or a link is coming back, so a week costs minutes of real time. The nodes, aioesphomeapi's
reconnects and pings and the integration's waits all run on the event loop's simulated clock.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
import contextlib
from dataclasses import asdict, dataclass, field
from datetime import timedelta
import json
import logging
import math
from pathlib import Path
import random
import time
from typing import Any, Final

import habluetooth
from homeassistant.components import bluetooth
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import restore_state
from homeassistant.setup import async_setup_component

from bb8sim import registry
from bb8sim.clock import SimClock
from bb8sim.esphome import SimulatedESPHomeNode
from bb8sim.toy import SimulatedBB8
from custom_components.bb8.const import CONF_CONNECTION_MODE, DOMAIN, MODE_ALWAYS, MODE_ON_DEMAND
from custom_components.bb8.sphero.session import BB8Session

from . import promises
from .chaos import ErrorLogRecorder, LoopExceptionRecorder, ResourceSnapshot, Targets, find_leaks
from .node_faults import ENVIRONMENT_ERRORS, ESPHOME_LONGEST_RECONNECT_WAIT, add_esphome_node
from .world import WorldClock, simulated_now, start_the_day_at

_LOGGER = logging.getLogger(__name__)

WAKE_TIME: Final = promises.READY_AFTER_WAKE.value
"""How long a use of a sleeping toy may take to show on it (README, "Readiness after wake":
"pings until the toy answers (up to 4 s)")."""
HANDSHAKE_ALLOWANCE: Final = 1.0
"""Simulated time a connect, the handshake, the readiness ping and the paced setup may take."""
RECONNECT_BOUND: Final = (
    promises.FIRST_RECONNECT_DELAY.value * (1 + promises.RECONNECT_JITTER.value) + HANDSHAKE_ALLOWANCE
)
"""A link a node reboot cut, or an always-connected toy after a start, is back within this
(README: "after a drop the integration reconnects after 2 s", "with ±20 % jitter"), plus the
handshake's allowance."""
CONNECTS_PER_START: Final = int(promises.CONNECTS_PER_START_ASLEEP.value)
"""Connects a sleeping toy may see per start of Home Assistant in its sleep window (README: "0,
plus 1 connect per start of Home Assistant")."""
EVENING_RGB: Final = (0, 0, 255)
AUTOMATION_ALIAS: Final = "BB-8 week evening light"
NODE_MACS: Final = ("AC:0B:FB:00:B8:10", "AC:0B:FB:00:B8:20")
"""The two nodes' Wi-Fi MACs (Home Assistant names each node's scanner by its Bluetooth MAC, + 2)."""
NODE_BACK_BOUND: Final = ESPHOME_LONGEST_RECONNECT_WAIT + 2.0
"""A rebooted node is back in Home Assistant (its scanner registered) within aioesphomeapi's
longest wait between two reconnects, plus the connect and the busy step it is seen in."""
NEAR_RSSI: Final = -55
FAR_RSSI: Final = -75
HEARD_EVERY: Final = 60.0
"""Simulated seconds between two advertisements a node passes on for a toy nobody links to.

Steady, and no shorter than the coarse step: habluetooth learns each device's advertising
interval and calls a device gone that stays silent much longer than it learned."""

type MakeEntry = Callable[[SimulatedBB8, dict[str, Any]], Any]
"""Builds a config entry (a ``MockConfigEntry``) for a toy with the given options."""


@dataclass(slots=True)
class WeekConfig:
    """How big and how fine."""

    toys: int = 8
    days: int = 7
    seed: int = 7
    start_hour: int = 6
    quiet_step: float = 60.0
    """Simulated seconds per step while every toy sleeps with no link."""
    busy_step: float = 2.0
    """Per step while a toy is awake or linked: shorter than the 10 s between the toy's
    will-sleep and did-sleep, so the session hears both before the link goes."""
    fine_step: float = 0.1
    """Per step while a use, a reconnect or a restore is timed."""
    nearer_proxy_first: bool | None = None
    """Which proxy's advertisement reaches Home Assistant first in each round (see ``Week.hear``):
    True the nearer, False the farther, None a seeded coin toss per round (both orders)."""


@dataclass(slots=True)
class WeekReport:
    """What the week saw; ``violations`` and ``leaks`` must be empty."""

    toys: int
    days: int
    seed: int
    nodes: int = len(NODE_MACS)
    slots_per_node: int = 0
    modes: dict[str, int] = field(default_factory=dict)
    simulated_hours: float = 0.0
    seconds: float = 0.0
    uses: int = 0
    uses_on_sleeping_toys: int = 0
    uses_succeeded: int = 0
    max_use_seconds: float = 0.0
    use_bound: float = WAKE_TIME
    sleep_windows: int = 0
    sleep_windows_with_start: int = 0
    max_connects_asleep: int = 0
    """Connect requests that reached a node for one toy during one sleep window (the most of any)."""
    max_connects_asleep_without_start: int = 0
    connects_per_start_bound: int = CONNECTS_PER_START
    """A window's bound: this many per start of an always-connected entry within it, else none."""
    node_reboots: int = 0
    links_moved: int = 0
    max_reconnect_after_reboot: float = 0.0
    max_node_back_after_reboot: float = 0.0
    """From a node listening again to its scanner registered in Home Assistant (the slowest)."""
    node_back_bound: float = NODE_BACK_BOUND
    max_log_lines_per_outage: int = 0
    """INFO-and-above lines the integration logged about a toy whose link a node reboot cut."""
    gone_while_linked: int = 0
    """Times Home Assistant's Bluetooth stack called a toy gone while it held a link (a linked toy
    is silent): after each, which node is heard first when the link ends is the order that matters."""
    reconnect_bound: float = RECONNECT_BOUND
    restarts: int = 0
    restores_timed: int = 0
    max_restore_after_start: float = 0.0
    restore_bound: float = RECONNECT_BOUND
    api_connections_accepted: int = 0
    """Native-API connections the two nodes accepted (Home Assistant's, after each start and reboot)."""
    links_opened: int = 0
    """BLE links the two nodes opened to the toys."""
    connect_requests: int = 0
    """Connect requests the two nodes received (each a slot asked for)."""
    loop_exceptions: int = 0
    error_logs: int = 0
    environment_error_logs: int = 0
    """ERROR records of the test environment, not the stack under test (not counted):
    :data:`soak.node_faults.ENVIRONMENT_ERRORS`."""
    warnings: dict[str, int] = field(default_factory=dict)
    leak_checks: int = 0
    leaks: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        """Serialise (``scripts/soak`` renders the table from this)."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    def write(self, path: Path) -> None:
        """Write the JSON for ``scripts/soak``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())


@dataclass(slots=True)
class _SleepWindow:
    """One toy asleep, from when it was seen asleep until a use or a wake ends it."""

    opened_at: float
    connects_before: int
    starts: int = 0


@dataclass(slots=True)
class _Use:
    """One call a person or an automation makes, and how to see it on the toy."""

    toy: SimulatedBB8
    label: str
    shows: Callable[[], bool]
    call: Callable[[], Awaitable[Any]] | None = None
    asleep: bool = False
    started: float = 0.0
    shown_after: float | None = None
    error: str | None = None
    task: asyncio.Task[None] | None = None


class _WeekErrorLog(ErrorLogRecorder):
    """ERROR records, less the named lines of the test environment.

    The harness gives Home Assistant a local adapter ``hci0`` with no BlueZ behind it: over
    simulated days its scanner watchdog runs often, and bleak-retry-connector 4 (Home Assistant
    2026.x) logs each failed restart at ERROR; the toys are reached through the nodes only. Home
    Assistant's ffmpeg integration (an esphome dependency) finds no ``ffmpeg`` binary.
    """

    def __init__(self) -> None:
        """Start empty."""
        super().__init__()
        self.environment = 0

    def emit(self, record: logging.LogRecord) -> None:
        """Count the environment's lines apart; sort the rest as the chaos soak does."""
        message = record.getMessage()
        if any(record.name == name and message.startswith(prefix) for name, prefix in ENVIRONMENT_ERRORS):
            self.environment += 1
            return
        super().emit(record)


class _WarningCounter(logging.Handler):
    """Counts the integration's WARNING records and keeps every INFO-and-above line of it.

    The warnings are listed in the report (they are no failure); the lines let an outage's
    log lines be counted.
    """

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seen: Counter[str] = Counter()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith("custom_components.bb8"):
            return
        self.lines.append(record.getMessage())
        if record.levelno == logging.WARNING:
            self.seen[record.getMessage()[:120]] += 1


def _address(index: int) -> str:
    return f"C0:FF:EE:00:B8:{index:02X}"


class _WeekNode:
    """One simulated ESPHome node and the esphome config entry Home Assistant holds for it."""

    def __init__(self, hass: HomeAssistant, node: SimulatedESPHomeNode) -> None:
        """Wrap ``node`` (not started, no entry yet)."""
        self.hass = hass
        self.node = node
        self.entry: ConfigEntry | None = None

    @property
    def name(self) -> str:
        """The node's name, for messages."""
        return self.node.friendly_name

    @property
    def source(self) -> str:
        """The node's scanner as Home Assistant names it: its Bluetooth MAC."""
        return self.node.bluetooth_mac_address

    @property
    def linked_addresses(self) -> frozenset[str]:
        """Addresses of the toys the node holds a link to now."""
        return self.node.linked_addresses

    @property
    def in_home_assistant(self) -> bool:
        """Whether Home Assistant has the node's scanner now (its API connection is up)."""
        return bluetooth.async_scanner_by_source(self.hass, self.source) is not None

    async def async_add(self) -> None:
        """Add the node through the esphome config flow (host, port); wait for its scanner."""
        await self._until_registered(self._add())

    async def async_set_up(self) -> None:
        """Set the node's esphome entry up again (a start of Home Assistant); wait for its scanner."""
        assert self.entry is not None
        await self._until_registered(self.hass.config_entries.async_setup(self.entry.entry_id))

    async def _add(self) -> None:
        self.entry = await add_esphome_node(self.hass, self.node)

    async def _until_registered(self, setting_up: Awaitable[object]) -> None:
        """Await ``setting_up``, then the scanner: esphome registers it after the entry loaded."""
        registered = asyncio.Event()
        undo = habluetooth.get_manager().async_register_scanner_registration_callback(
            lambda _registration: registered.set(), self.source
        )
        try:
            await setting_up
            if not self.in_home_assistant:
                async with asyncio.timeout(10):
                    await registered.wait()
        finally:
            undo()

    async def async_unload(self) -> bool:
        """Unload the node's esphome entry (it says goodbye: the node drops every link it held)."""
        if self.entry is None or self.entry.state is not ConfigEntryState.LOADED:
            return True
        return await self.hass.config_entries.async_unload(self.entry.entry_id)

    def left_behind(self) -> list[str]:
        """List what the node still holds for Home Assistant after its entry unloaded (empty is good)."""
        node = self.node
        held = []
        if node.slots_free != node.slots:
            held.append(f"{node.slots - node.slots_free} of its {node.slots} slots taken")
        if node.linked_addresses:
            held.append(f"links to {sorted(node.linked_addresses)}")
        if node.api_connections_open:
            held.append(f"{node.api_connections_open} API connections open")
        return [f"{self.name}: {line}" for line in held]


class _NodeSlots:
    """Both nodes seen as :func:`soak.chaos.find_leaks` sees a proxy: the slots links hold."""

    def __init__(self, nodes: list[_WeekNode]) -> None:
        self._nodes = nodes

    @property
    def slots_in_use(self) -> int:
        return sum(len(node.linked_addresses) for node in self._nodes)


class Week:
    """One run of the week; :func:`run_week` is the way in."""

    def __init__(
        self,
        hass: HomeAssistant,
        clock: WorldClock,
        sim_clock: SimClock,
        config: WeekConfig,
        make_entry: MakeEntry,
    ) -> None:
        """Create the toys and nodes (the toys registered, so the nodes can hear them; nothing started)."""
        self.hass = hass
        self.clock = clock
        self.config = config
        self.make_entry = make_entry
        self.rng = random.Random(config.seed)
        # Only for the order proxies are heard in, so it moves no other seeded choice.
        self.order_rng = random.Random(config.seed + 1)
        slots = max(3, math.ceil(config.toys / 2) + 1)
        self.report = WeekReport(toys=config.toys, days=config.days, seed=config.seed, slots_per_node=slots)
        self.nodes = [
            _WeekNode(
                hass,
                SimulatedESPHomeNode(
                    name=f"week-proxy-{n}",
                    friendly_name=f"week proxy {n}",
                    mac_address=mac,
                    slots=slots,
                    advertise_interval=None,  # the world says when each toy is heard (hear)
                ),
            )
            for n, mac in enumerate(NODE_MACS)
        ]
        self.slots = _NodeSlots(self.nodes)
        self.toys = [
            registry.register(SimulatedBB8(_address(i), clock=sim_clock, seed=config.seed * 100 + i))
            for i in range(config.toys)
        ]
        # Even toys stay connected, odd ones connect on demand; pairs of toys sit near each node.
        self.modes = {
            toy.address: MODE_ALWAYS if i % 2 == 0 else MODE_ON_DEMAND for i, toy in enumerate(self.toys)
        }
        self.rssi = {
            toy.address: {
                node.source: NEAR_RSSI if (i // 2) % 2 == n else FAR_RSSI for n, node in enumerate(self.nodes)
            }
            for i, toy in enumerate(self.toys)
        }
        for week_node in self.nodes:
            for toy in self.toys:
                week_node.node.toy_rssi[toy.address.upper()] = self.rssi[toy.address][week_node.source]
        self.entries: dict[str, ConfigEntry] = {}
        self.targets: dict[str, Targets] = {}
        self.expected_main: dict[str, tuple[int, int, int]] = {}
        self.expected_tail: dict[str, int] = {}
        self.windows: dict[str, _SleepWindow | None] = {toy.address: None for toy in self.toys}
        self.last_heard: dict[tuple[str, str], float] = {}
        self.triggered_at: list[float] = []
        self.in_use: set[str] = set()
        self.stop_listening: Callable[[], None] | None = None
        self.unwatch_gone: list[Callable[[], None]] = []
        self.unloaded: ResourceSnapshot | None = None
        """What Home Assistant held after the first unload of every entry, bb8 and esphome (the leak
        baseline)."""
        self.exceptions = LoopExceptionRecorder(hass.loop)
        self.error_logs = _WeekErrorLog()
        self.warnings = _WarningCounter()
        self.start_local = simulated_now(clock)

    # ------------------------------------------------------------------ the world

    def session(self, toy: SimulatedBB8) -> BB8Session:
        """Return the session of ``toy``'s entry as loaded now (a restart makes a new one)."""
        session: BB8Session = self.entries[toy.address].runtime_data.session
        return session

    def always(self, toy: SimulatedBB8) -> bool:
        """Return whether ``toy`` is set up to stay connected."""
        return self.modes[toy.address] == MODE_ALWAYS

    def connects(self, toy: SimulatedBB8) -> int:
        """Count the connect requests that reached either node for ``toy`` so far, whatever came of them."""
        return sum(node.node.connect_requests_by_address[toy.address.upper()] for node in self.nodes)

    def hear(self, *, force: bool = False) -> None:
        """Each node passes on an advertisement of every toy nobody links to, now and then.

        A toy whose link just went is heard at once (it was silent while linked); ``force`` makes
        every node pass one on now (Home Assistant just started). An advertisement a node could
        pass to no one (its API connection is not up yet) is passed on at the next step.
        """
        now = self.clock.elapsed
        for toy in self.toys:
            if toy.connected:
                continue
            # Either order matters: after a toy was called gone, habluetooth files the farther
            # node's advertisement, when it comes first, without calling callbacks and then
            # counts the nearer one's as unchanged (the coordinator asks the stack, not callbacks).
            nearer_first = self.config.nearer_proxy_first
            if nearer_first is None:
                nearer_first = self.order_rng.random() < 0.5
            sign = -1 if nearer_first else 1
            by_signal = sorted(self.nodes, key=lambda node: sign * self.rssi[toy.address][node.source])
            for week_node in by_signal:
                key = (toy.address, week_node.source)
                due = force or now - self.last_heard.get(key, -1e9) >= HEARD_EVERY
                if due and week_node.node.running and week_node.node.advertise_now([toy]):
                    self.last_heard[key] = now

    def set_up(self, toy: SimulatedBB8) -> bool:
        """Whether ``toy``'s link is up and its after-connect set-up has run (wishes written)."""
        session = self.session(toy)
        return toy.connected and session.is_set_up and session.pending_commands == 0

    def shows_wishes(self, toy: SimulatedBB8) -> bool:
        """Return whether the toy shows the last main LED colour and tail light asked for."""
        main = self.expected_main.get(toy.address)
        tail = self.expected_tail.get(toy.address)
        return (main is None or toy.main_led == main) and (tail is None or toy.back_led == tail)

    def track_sleep(self) -> None:
        """Open a window when a toy is seen asleep; close it when the toy is awake again.

        A toy being used is not tracked: its window closed when the use began.
        """
        for toy in self.toys:
            if toy.address in self.in_use:
                continue
            window = self.windows[toy.address]
            if toy.asleep and window is None:
                self.windows[toy.address] = _SleepWindow(self.clock.elapsed, self.connects(toy))
            elif not toy.asleep and window is not None:
                self.close_window(toy, "woke without a use")

    def close_window(self, toy: SimulatedBB8, why: str) -> None:
        """Count the connects of a sleep window against its bound."""
        window = self.windows[toy.address]
        if window is None:
            return
        self.windows[toy.address] = None
        connects = self.connects(toy) - window.connects_before
        # README: "Sleep ... outlives reloads and restarts; only use wakes it": no connect at all,
        # a start of Home Assistant during the sleep included (CONNECTS_PER_START is 0).
        bound = window.starts * CONNECTS_PER_START if self.always(toy) else 0
        report = self.report
        report.sleep_windows += 1
        report.max_connects_asleep = max(report.max_connects_asleep, connects)
        if window.starts:
            report.sleep_windows_with_start += 1
        else:
            report.max_connects_asleep_without_start = max(report.max_connects_asleep_without_start, connects)
        if connects > bound:
            hours = (self.clock.elapsed - window.opened_at) / 3600
            report.violations.append(
                f"{toy.name} ({self.modes[toy.address]}) asleep {hours:.1f} h until {self.when()} ({why}): "
                f"{connects} connect requests reached a node (bound {bound}, {window.starts} start(s) in the window)"
            )

    def status(self, toy: SimulatedBB8) -> str:
        """Describe what the session and the toy are doing, for messages."""
        session = self.session(toy)
        return (
            f"session {session.state}{' asleep' if session.toy.asleep else ''}, set up {session.is_set_up}, "
            f"pending {session.pending_commands}, last error {session.counters.last_error!r}; {toy!r}, "
            f"showing {toy.main_led} tail {toy.back_led} heading {toy.heading}; main LED entity "
            f"{getattr(self.hass.states.get(self.targets[toy.address].main_led), 'state', None)}"
        )

    def when(self) -> str:
        """Return the simulated local time, for messages."""
        return simulated_now(self.clock).strftime("day %j %H:%M:%S")

    async def step(self, seconds: float) -> None:
        """Let ``seconds`` pass in one step, then hear the toys and follow their sleep."""
        await self.clock.advance(seconds, seconds)
        self.hear()
        self.track_sleep()

    async def pass_until(self, target: float) -> None:
        """Let simulated time reach ``target``: coarse steps while all sleep, fine while not."""
        while self.clock.elapsed < target - 1e-9:
            busy = any(toy.awake or toy.connected for toy in self.toys)
            step = self.config.busy_step if busy else self.config.quiet_step
            await self.step(min(step, target - self.clock.elapsed))

    def over(self, took: float, bound: float) -> bool:
        """Whether a time ``pass_fine_until`` measured is surely over ``bound``.

        It is seen at the end of the fine step in which it happened, so it may read up to one
        step (0.1 s) late, and float sums of steps read 3.4 as 3.4000000000000004: only a time
        over the bound even one step earlier is a violation.
        """
        return took - self.config.fine_step > bound + 1e-9

    async def pass_fine_until(self, done: Callable[[], bool], limit: float) -> float:
        """Step finely until ``done()`` or ``limit`` seconds; returns the time that passed."""
        start = self.clock.elapsed
        while not done() and self.clock.elapsed - start < limit:
            await self.clock.advance(self.config.fine_step, self.config.fine_step)
            self.hear()
            self.track_sleep()
        return self.clock.elapsed - start

    def at(self, day: int, hour: int, minute: int) -> float:
        """Return the simulated timestamp of ``hour:minute`` local on day ``day`` (0 = the first)."""
        midnight = self.start_local.replace(hour=0, minute=0, second=0, microsecond=0)
        return (midnight + timedelta(days=day, hours=hour, minutes=minute)).timestamp()

    def wall(self) -> float:
        """Return the simulated wall-clock timestamp now (only simulated time moves it)."""
        return simulated_now(self.clock).timestamp()

    async def pass_until_wall(self, moment: float) -> None:
        """Let simulated time pass until the simulated wall clock reads ``moment``."""
        while (ahead := moment - self.wall()) > 1e-6:
            await self.pass_until(self.clock.elapsed + ahead)

    # ------------------------------------------------------------------ the week

    async def run(self) -> WeekReport:
        """Run the week and return what it saw."""
        started = time.monotonic()
        self.exceptions.install()
        root = logging.getLogger()
        root.addHandler(self.warnings)
        integration = logging.getLogger("custom_components.bb8")
        level = integration.level
        if integration.getEffectiveLevel() > logging.INFO:
            integration.setLevel(logging.INFO)  # the outage check counts INFO lines
        try:
            with self.error_logs.installed():
                for week_node in self.nodes:
                    await week_node.node.start()
                await self._week()
        finally:
            integration.setLevel(level)
            root.removeHandler(self.warnings)
            await self._tear_down()
        self.exceptions.uninstall()
        report = self.report
        report.loop_exceptions = len(self.exceptions.contexts)
        report.violations += [f"loop exception: {line}" for line in self.exceptions.describe()]
        errors = [*self.error_logs.unexpected, *(f"{k} x{n}" for k, n in self.error_logs.expected.items())]
        report.error_logs = len(errors)
        report.environment_error_logs = self.error_logs.environment
        nodes = [week_node.node for week_node in self.nodes]
        report.api_connections_accepted = sum(node.api_connections_accepted for node in nodes)
        report.links_opened = sum(node.links_opened for node in nodes)
        report.connect_requests = sum(node.connect_requests for node in nodes)
        report.violations += [f"error log: {line}" for line in errors]
        report.warnings = dict(self.warnings.seen.most_common())
        report.modes = dict(Counter(self.modes.values()))
        report.simulated_hours = round(self.clock.elapsed / 3600, 2)
        report.seconds = round(time.monotonic() - started, 1)
        for name in (
            "max_use_seconds",
            "max_reconnect_after_reboot",
            "max_node_back_after_reboot",
            "max_restore_after_start",
        ):
            setattr(report, name, round(getattr(report, name), 2))
        _LOGGER.debug("week done: %s", report.to_json())
        return report

    async def _tear_down(self) -> None:
        """Unload what a week that failed half-way left loaded, then stop the nodes.

        In simulated time still: an entry left loaded would make Home Assistant's shutdown wait,
        in real time, for timers hours ahead; the nodes stop last, so no esphome entry is left
        reconnecting to a node that is gone.
        """
        hass = self.hass
        for unwatch in self.unwatch_gone:
            unwatch()
        self.unwatch_gone = []
        for entry in self.entries.values():
            if entry.state is ConfigEntryState.LOADED:
                await hass.config_entries.async_unload(entry.entry_id)
        for week_node in self.nodes:
            await week_node.async_unload()
        await hass.async_block_till_done()
        await self.clock.advance(1.0, 0.25)
        for week_node in self.nodes:
            await week_node.node.stop()

    async def _week(self) -> None:
        hass = self.hass
        # Home Assistant sets its own integration up at every start (the harness does not), and
        # conversation, under the esphome dependency assist_pipeline, needs it.
        assert await async_setup_component(hass, "homeassistant", {})
        for week_node in self.nodes:
            await week_node.async_add()
        self.hear(force=True)

        def all_heard() -> bool:
            return all(bluetooth.async_address_present(hass, toy.address) for toy in self.toys)

        await self.pass_fine_until(all_heard, limit=10.0)
        if not all_heard():
            self.report.violations.append(
                "at the start, Home Assistant did not hear every toy through the nodes"
            )
        for toy in self.toys:
            entry = self.make_entry(toy, {CONF_CONNECTION_MODE: self.modes[toy.address]})
            entry.add_to_hass(hass)
            self.entries[toy.address] = entry
        await hass.async_block_till_done(wait_background_tasks=True)
        await self._set_up_entries("at the start")
        self._watch_gone()
        self.targets = {toy.address: Targets.find(hass, toy.address) for toy in self.toys}
        # Time triggers are set up before simulated time passes (soak.world).
        await self._set_up_automation()
        await self.pass_fine_until(
            lambda: all(self.set_up(toy) for toy in self.toys if self.always(toy)), limit=30.0
        )

        end = self.at(0, 0, 0) + self.config.days * 86400.0 + self.config.start_hour * 3600.0
        for when, _order, name, action in self._timetable():
            if when >= end:
                break
            await self.pass_until_wall(when)
            _LOGGER.debug("week: %s at %s", name, self.when())
            await action()
        await self.pass_until_wall(end)
        for toy in self.toys:
            self.close_window(toy, "end of the week")

        sessions = {toy.address: self.session(toy) for toy in self.toys}
        await self._unload_all("at the end")
        await self._check_leaks("end of the week", sessions)
        await hass.services.async_call("automation", "turn_off", {ATTR_ENTITY_ID: "all"}, blocking=True)
        if self.stop_listening is not None:
            self.stop_listening()

    def _timetable(self) -> Iterator[tuple[float, int, str, Callable[[], Awaitable[None]]]]:
        events: list[tuple[float, int, str, Callable[[], Awaitable[None]]]] = []
        rng = self.rng
        for day in range(self.config.days + 1):
            reboot_minutes = rng.randint(2, 10)
            restart_minutes = rng.randint(1, 3)
            events += [
                (self.at(day, 7, 30), 0, f"day {day} morning use", lambda d=day: self._morning(d)),
                (self.at(day, 18, 0) - 10, 1, f"day {day} evening automation", self._evening),
                (
                    self.at(day, 18, 5),
                    2,
                    f"day {day} node reboot",
                    lambda p=day % 2, m=reboot_minutes: self._node_reboot(p, m),
                ),
                (self.at(day, 21, 30), 3, f"day {day} roll", lambda d=day: self._roll(d)),
            ]
            if day % 2 == 0:
                events += [
                    (
                        self.at(day, 21, 33),
                        4,
                        f"day {day} restart, toys connected",
                        lambda m=restart_minutes: self._restart(m),
                    ),
                    (
                        self.at(day + 1, 3, 0),
                        5,
                        f"night {day} node reboot, toys asleep",
                        lambda p=(day + 1) % 2: self._node_reboot(p, 5),
                    ),
                ]
            else:
                events.append(
                    (
                        self.at(day + 1, 4, 0),
                        6,
                        f"night {day} restart, toys asleep",
                        lambda m=restart_minutes: self._restart(m),
                    )
                )
        now = self.wall()
        events = [event for event in events if event[0] > now]
        return iter(sorted(events, key=lambda event: (event[0], event[1])))

    async def _set_up_automation(self) -> None:
        main_leds = [self.targets[toy.address].main_led for toy in self.toys]
        assert await async_setup_component(
            self.hass,
            "automation",
            {
                "automation": [
                    {
                        "alias": AUTOMATION_ALIAS,
                        "triggers": [{"trigger": "time", "at": "18:00:00"}],
                        "actions": [
                            {
                                "action": "light.turn_on",
                                "target": {"entity_id": main_leds},
                                "data": {"rgb_color": list(EVENING_RGB), "brightness": 255},
                            }
                        ],
                    }
                ]
            },
        )
        await self.hass.async_block_till_done()

        @callback
        def _triggered(_event: Event) -> None:
            self.triggered_at.append(self.clock.elapsed)

        self.stop_listening = self.hass.bus.async_listen("automation_triggered", _triggered)

    # ------------------------------------------------------------------ uses

    def _colour_of(self, day: int, toy: SimulatedBB8) -> tuple[int, int, int]:
        """Pick a colour for the day with one full channel (brightness 255 then shows it as is)."""
        other = (self.rng.randrange(256), self.rng.randrange(256))
        full = (day + self.toys.index(toy)) % 3
        colour = [*other[:full], 255, *other[full:]]
        result = (colour[0], colour[1], colour[2])
        return result if result != EVENING_RGB else (255, 0, 0)

    def _service(self, domain: str, service: str, data: dict[str, Any]) -> Callable[[], Awaitable[Any]]:
        return lambda: self.hass.services.async_call(domain, service, data, blocking=True)

    async def _morning(self, day: int) -> None:
        uses: list[_Use] = []
        for toy in self.toys:
            targets = self.targets[toy.address]
            colour = self._colour_of(day, toy)
            tail = 40 + (day * 37 + self.toys.index(toy) * 11) % 200
            self.expected_main[toy.address] = colour
            self.expected_tail[toy.address] = tail
            uses += [
                _Use(
                    toy,
                    "light.turn_on main LED (action)",
                    lambda t=toy, c=colour: t.main_led == c,
                    self._service(
                        "light",
                        "turn_on",
                        {ATTR_ENTITY_ID: targets.main_led, "rgb_color": list(colour), "brightness": 255},
                    ),
                ),
                _Use(
                    toy,
                    "light.turn_on tail light (action)",
                    lambda t=toy, b=tail: t.back_led == b,
                    self._service(
                        "light", "turn_on", {ATTR_ENTITY_ID: targets.tail_light, "brightness": tail}
                    ),
                ),
            ]
        await self._use(uses)

    async def _roll(self, day: int) -> None:
        uses = []
        for toy in self.toys:
            heading = (day * 47 + self.toys.index(toy) * 29 + 1) % 360
            data = {"device_id": self.targets[toy.address].device_id, "heading": heading, "speed": 30}
            uses.append(
                _Use(
                    toy,
                    "bb8.roll (action)",
                    lambda t=toy, h=heading: t.heading == h,
                    self._service(DOMAIN, "roll", data),
                )
            )
        await self._use(uses)

    async def _evening(self) -> None:
        """Watch the automation (it fires at 18:00 by itself) wake every toy."""
        for toy in self.toys:
            self.expected_main[toy.address] = EVENING_RGB
        triggers = len(self.triggered_at)
        uses = [
            _Use(toy, "light.turn_on main LED (automation)", lambda t=toy: t.main_led == EVENING_RGB)
            for toy in self.toys
        ]
        await self._use(
            uses, trigger=lambda: self.triggered_at[triggers] if len(self.triggered_at) > triggers else None
        )

    async def _use(self, uses: list[_Use], trigger: Callable[[], float | None] | None = None) -> None:
        """Make the uses (or wait for the automation to), then time each until the toy shows it."""
        report = self.report
        for use in uses:
            self.close_window(use.toy, "used")
            self.in_use.add(use.toy.address)
            use.asleep = use.toy.asleep
            report.uses += 1
            report.uses_on_sleeping_toys += use.asleep
        if trigger is None:
            loop = asyncio.get_running_loop()
            for use in uses:
                use.started = self.clock.elapsed
                assert use.call is not None
                use.task = loop.create_task(self._call(use), name=f"week use {use.label} {use.toy.name}")

        def started() -> float | None:
            return trigger() if trigger is not None else uses[0].started

        def all_shown() -> bool:
            at = started()
            if at is None:
                return False
            for use in uses:
                if use.shown_after is None and use.shows():
                    use.shown_after = self.clock.elapsed - at
            return all(use.shown_after is not None for use in uses) and all(
                use.task is None or use.task.done() for use in uses
            )

        limit = WAKE_TIME * 3 + (15.0 if trigger is not None else 0.0)
        await self.pass_fine_until(all_shown, limit=limit)
        self.in_use.clear()
        if trigger is not None and started() is None:
            report.violations.append(
                f"the {AUTOMATION_ALIAS!r} automation did not fire at 18:00 ({self.when()})"
            )
        for use in uses:
            if use.task is not None and not use.task.done():
                use.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await use.task
                use.error = use.error or "still running"
            ok = use.error is None and use.shown_after is not None and use.shown_after <= WAKE_TIME
            if use.shown_after is not None:
                report.max_use_seconds = max(report.max_use_seconds, use.shown_after)
            if ok:
                report.uses_succeeded += 1
            else:
                shown = "never shown" if use.shown_after is None else f"shown after {use.shown_after:.1f} s"
                report.violations.append(
                    f"{use.toy.name} ({self.modes[use.toy.address]}, {'asleep' if use.asleep else 'awake'}) "
                    f"{use.label} at {self.when()}: {use.error or 'no error'}, {shown} (bound {WAKE_TIME:g} s); "
                    f"{self.status(use.toy)}"
                )

    async def _call(self, use: _Use) -> None:
        assert use.call is not None
        try:
            await use.call()
        except Exception as err:
            use.error = f"{type(err).__name__}: {err}"

    # ------------------------------------------------------------------ nodes and restarts

    async def _node_reboot(self, index: int, minutes: int) -> None:
        """One node reboots for ``minutes``; the links it carried move to the other one.

        The node's own reboot (:meth:`SimulatedESPHomeNode.reboot`): its API connection closes
        without a goodbye, every link it held drops, and it listens again after the downtime;
        Home Assistant's esphome entry finds it again by itself (aioesphomeapi's reconnects).
        """
        week_node = self.nodes[index]
        other = self.nodes[1 - index]
        report = self.report
        report.node_reboots += 1
        carried = [
            toy
            for toy in self.toys
            if toy.address in week_node.linked_addresses and self.always(toy) and self.set_up(toy)
        ]
        back_at = self.clock.elapsed + minutes * 60
        lines_before = len(self.warnings.lines)

        async def down(_downtime: float) -> None:
            """While the node is down: time the links moving, then let the minutes pass."""
            if carried:
                bound = report.reconnect_bound
                took = await self.pass_fine_until(
                    lambda: all(
                        self.set_up(toy) and toy.address in other.linked_addresses for toy in carried
                    ),
                    limit=bound * 3,
                )
                report.links_moved += len(carried)
                report.max_reconnect_after_reboot = max(report.max_reconnect_after_reboot, took)
                stuck = [
                    toy.name
                    for toy in carried
                    if not (self.set_up(toy) and toy.address in other.linked_addresses)
                ]
                if stuck or self.over(took, bound):
                    report.violations.append(
                        f"{week_node.name} rebooted at {self.when()}: links of {[t.name for t in carried]} "
                        f"back through {other.name} after {took:.1f} s (bound {bound:.1f} s); not back: {stuck}"
                    )
            await self.pass_until(back_at)

        await week_node.node.reboot(minutes * 60, wait=down)
        # Home Assistant finds the node again by itself, within aioesphomeapi's longest wait.
        took = await self.pass_busy_until(
            lambda: week_node.in_home_assistant, limit=report.node_back_bound * 2
        )
        report.max_node_back_after_reboot = max(report.max_node_back_after_reboot, took)
        if not week_node.in_home_assistant or took > report.node_back_bound:
            report.violations.append(
                f"{week_node.name} rebooted at {self.when()}: back in Home Assistant after {took:.1f} s "
                f"(bound {report.node_back_bound:g} s; in it now: {week_node.in_home_assistant})"
            )
        # README: "an outage adds at most those 2 lines to the log, however long it lasts": each
        # outage (the toy unavailable, then available again; a toy may fall asleep, out of
        # hearing, more than once in a reboot's minutes) says those 2 lines and nothing else.
        for toy in carried:
            said = [line for line in self.warnings.lines[lines_before:] if line.startswith(toy.name)]
            going = [line for line in said if line.startswith(f"{toy.name} is unavailable")]
            back = [line for line in said if line.startswith(f"{toy.name} is available again")]
            episodes = max(len(going), 1)
            report.max_log_lines_per_outage = max(report.max_log_lines_per_outage, -(-len(said) // episodes))
            alternating = all(
                line.startswith(f"{toy.name} is {'unavailable' if index % 2 == 0 else 'available again'}")
                for index, line in enumerate(said)
            )
            if (
                len(said) > promises.OUTAGE_LOG_LINES.value * episodes
                or not alternating
                or len(back) > len(going)
            ):
                report.violations.append(
                    f"{week_node.name} rebooted at {self.when()}: {len(said)} INFO-and-above lines for "
                    f"{toy.name} in {len(going)} outage(s) (bound {promises.OUTAGE_LOG_LINES.value:g} "
                    f"each): {said}"
                )

    async def pass_busy_until(self, done: Callable[[], bool], limit: float) -> float:
        """Step in busy steps until ``done()`` or ``limit`` seconds; returns the time that passed."""
        start = self.clock.elapsed
        while not done() and self.clock.elapsed - start < limit:
            await self.step(self.config.busy_step)
        return self.clock.elapsed - start

    def _watch_gone(self) -> None:
        """Count each time Home Assistant calls a toy gone while it holds a link (until unloads)."""

        @callback
        def _gone(service_info: bluetooth.BluetoothServiceInfoBleak) -> None:
            if any(toy.connected for toy in self.toys if toy.address == service_info.address):
                self.report.gone_while_linked += 1

        self.unwatch_gone = [
            bluetooth.async_track_unavailable(self.hass, _gone, toy.address, connectable=True)
            for toy in self.toys
        ]

    async def _unload_all(self, moment: str) -> None:
        """Unload every bb8 entry, then both esphome entries (Home Assistant stopping)."""
        hass = self.hass
        # The week's own Bluetooth callbacks go first: the leak checks count every callback.
        for unwatch in self.unwatch_gone:
            unwatch()
        self.unwatch_gone = []
        for entry in self.entries.values():
            if not await hass.config_entries.async_unload(entry.entry_id):
                self.report.violations.append(f"{entry.title}: unload failed {moment}")
        for week_node in self.nodes:
            if not await week_node.async_unload():
                self.report.violations.append(f"{week_node.name}: esphome entry unload failed {moment}")
        await hass.async_block_till_done()

    async def _restart(self, minutes: int) -> None:
        """Home Assistant stops (states dumped, entries unloaded, API connections closed) and starts."""
        hass = self.hass
        report = self.report
        report.restarts += 1
        await restore_state.async_get(hass).async_dump_states()
        sessions = {toy.address: self.session(toy) for toy in self.toys}
        await self._unload_all("at a restart")
        await self._check_leaks(f"restart {report.restarts}", sessions)
        await self.pass_until(self.clock.elapsed + minutes * 60)

        await restore_state.async_get(hass).async_load()
        for week_node in self.nodes:
            try:
                await week_node.async_set_up()
            except TimeoutError:
                report.violations.append(
                    f"restart {report.restarts} at {self.when()}: {week_node.name}'s scanner not back"
                )
        self.hear(force=True)
        for toy in self.toys:
            if (window := self.windows[toy.address]) is not None:
                window.starts += 1
        await self._set_up_entries(f"after restart {report.restarts}")
        self._watch_gone()
        # Toys asleep at the restart stay asleep (nothing connects until used); the others connect.
        linked = [toy for toy in self.toys if self.always(toy) and not toy.asleep]
        bound = report.restore_bound
        took = await self.pass_fine_until(
            lambda: all(self.set_up(toy) and self.shows_wishes(toy) for toy in linked), limit=bound * 3
        )
        report.restores_timed += len(linked)
        report.max_restore_after_start = max(report.max_restore_after_start, took)
        late = [toy for toy in linked if not (self.set_up(toy) and self.shows_wishes(toy))]
        if late or self.over(took, bound):
            report.violations.append(
                f"restart {report.restarts} at {self.when()}: wishes back on the always-connected toys after "
                f"{took:.1f} s (bound {bound:.1f} s); not back: {[self.status(toy) for toy in late]}"
            )
        for toy in self.toys:
            report.violations += self._restored_entity_problems(toy, report.restarts)

    async def _set_up_entries(self, moment: str) -> None:
        """Set every entry up (the first set-up of the integration sets up the others too)."""
        for entry in self.entries.values():
            if entry.state is ConfigEntryState.NOT_LOADED:
                await self.hass.config_entries.async_setup(entry.entry_id)
        await self.hass.async_block_till_done()
        for entry in self.entries.values():
            if entry.state is not ConfigEntryState.LOADED:
                self.report.violations.append(f"{entry.title}: {entry.state} {moment}")

    def _restored_entity_problems(self, toy: SimulatedBB8, restart: int) -> list[str]:
        """List where the lights do not show the restored wishes, whatever the connection mode."""
        targets = self.targets[toy.address]
        problems = []
        main = self.hass.states.get(targets.main_led)
        if (want := self.expected_main.get(toy.address)) is not None and (
            main is None or main.state != "on" or tuple(main.attributes.get("rgb_color") or ()) != want
        ):
            problems.append(
                f"main LED {main and main.state} {main and main.attributes.get('rgb_color')}, want {want}"
            )
        tail = self.hass.states.get(targets.tail_light)
        if (brightness := self.expected_tail.get(toy.address)) is not None and (
            tail is None or tail.state != "on" or tail.attributes.get("brightness") != brightness
        ):
            problems.append(
                f"tail light {tail and tail.state} {tail and tail.attributes.get('brightness')}, want {brightness}"
            )
        return [f"after restart {restart}, {toy.name}: {problem}" for problem in problems]

    async def _check_leaks(self, moment: str, sessions: dict[str, BB8Session]) -> None:
        """Check that the unloaded entries, bb8 and esphome, left nothing behind.

        Nothing of a session or toy, no slot taken, link held or API connection open on either
        node, and Home Assistant holds no more than after the first time they were all unloaded
        (tasks, timers, threads, listeners, callbacks). The simulator's bleak backends are not
        looked for: on this stack bleak-esphome's client carries every link, not the simulator's.
        """
        report = self.report
        report.leak_checks += 1
        # A second for what Home Assistant, aioesphomeapi and bleak still finish after an unload
        # (the goodbye on each API connection included).
        await self.clock.advance(1.0, 0.25)
        for toy in self.toys:
            leaks = find_leaks(
                self.hass,
                session=sessions[toy.address],
                proxy=self.slots,  # find_leaks reads only its slots_in_use
                toy=toy,
                scan_backends=False,
            )
            report.leaks += [f"{moment}, {toy.name}: {leak}" for leak in leaks]
        for week_node in self.nodes:
            report.leaks += [f"{moment}, {line}" for line in week_node.left_behind()]
        snapshot = ResourceSnapshot.take(self.hass, self.slots, self.toys[0].address)
        if self.unloaded is None:
            self.unloaded = snapshot
            return
        report.leaks += [
            f"{moment}, Home Assistant holds more: {line}" for line in snapshot.growth_over(self.unloaded)
        ]


async def run_week(
    hass: HomeAssistant, *, clock: WorldClock, sim_clock: SimClock, config: WeekConfig, make_entry: MakeEntry
) -> WeekReport:
    """Run the week in ``hass`` (Bluetooth set up, ``clock`` driving simulated time in ``soak.world``).

    ``make_entry(toy, options)`` builds a config entry for a toy as the config flow would.
    """
    await start_the_day_at(hass, clock, config.start_hour)
    week = Week(hass, clock, sim_clock, config, make_entry)
    return await week.run()
