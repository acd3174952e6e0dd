"""Shared fixtures: Home Assistant's Bluetooth stack with a simulated proxy and BB-8.

The simulator is the toy; nothing in ``custom_components/`` is patched. The toy reaches Home
Assistant the way a real one behind an ESPHome proxy does: a registered remote scanner
advertises it, and its connector's client is the simulator's bleak backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
import logging
import time
from typing import TYPE_CHECKING, Any

from homeassistant.components import bluetooth
from homeassistant.const import CONF_ADDRESS
from homeassistant.core import HomeAssistant, State
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from bb8sim import SimClock, SimulatedBB8, registry
from bb8sim.proxy import SimProxy
from custom_components.bb8.const import DOMAIN

from .deprecations import DeprecationCollector
from .esphome_support import NodePath

if TYPE_CHECKING:
    from custom_components.bb8.sphero.session import BB8Session

TOY_ADDRESS = "F1:2C:3D:4E:B5:4A"
SECOND_ADDRESS = "E8:11:22:33:C0:DE"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/bb8 in every test."""


@pytest.fixture(autouse=True)
def no_deprecation_reports_about_bb8() -> Iterator[DeprecationCollector]:
    """Fail any test during which Home Assistant reports that ``bb8`` uses something deprecated."""
    collector = DeprecationCollector()
    root = logging.getLogger()
    root.addHandler(collector)
    yield collector
    root.removeHandler(collector)
    if collector.reports:
        pytest.fail(
            "Home Assistant reported deprecated use by bb8:\n"
            + "\n".join(record.getMessage() for record in collector.reports),
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    """Every test starts and ends with no simulated toy registered."""
    registry.clear()
    yield
    registry.clear()


@pytest.fixture
def sim_clock() -> SimClock:
    """The simulated toys' clock; tests advance it, nothing waits in real time."""
    return SimClock()


PROXY_PATHS = ("scanner", "node")
"""The two ways a toy reaches Home Assistant in the tests.

``scanner``: the project's own remote scanner and the simulator's bleak backend
(``bb8sim.proxy.SimProxy``), fast and able to inject faults below the proxy. ``node``: the real
stack, Home Assistant's own esphome integration driving the simulated ESPHome node
(``tests.esphome_support.NodePath``). A test module that sets ``BOTH_PROXY_PATHS = True`` runs
each of its tests that uses ``proxy`` (or ``toy``) once per path; a test marked
``scanner_path_only(reason)`` keeps to the scanner path.
"""


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker for tests that hold only on the project's own scanner path."""
    config.addinivalue_line(
        "markers", "scanner_path_only(reason): runs only on the project's own scanner path (says why)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run a ``BOTH_PROXY_PATHS`` module's proxy-using tests on the scanner path and the node path."""
    if "proxy" not in metafunc.fixturenames or not getattr(metafunc.module, "BOTH_PROXY_PATHS", False):
        return
    paths = PROXY_PATHS
    if metafunc.definition.get_closest_marker("scanner_path_only") is not None:
        paths = ("scanner",)
    metafunc.parametrize("proxy_path", paths, indirect=True)


@pytest.fixture
def proxy_path(request: pytest.FixtureRequest) -> str:
    """Which path ``proxy`` is (``scanner`` unless the module runs on both)."""
    return str(getattr(request, "param", "scanner"))


@pytest.fixture
async def proxy(
    hass: HomeAssistant, enable_bluetooth: None, proxy_path: str, request: pytest.FixtureRequest
) -> AsyncIterator[SimProxy | NodePath]:
    """The proxy the toys are heard through, registered with Home Assistant's Bluetooth manager.

    On the scanner path a simulated ESPHome-style proxy inside Home Assistant; on the node path
    the simulated ESPHome node on 127.0.0.1, added through Home Assistant's esphome config flow.
    """
    if proxy_path == "scanner":
        sim_proxy = SimProxy(hass)
        undo = sim_proxy.async_setup()
        yield sim_proxy
        undo()
        return
    from .esphome_support import running_node

    request.getfixturevalue("socket_enabled")
    request.getfixturevalue("mock_async_zeroconf")
    async with running_node() as node:
        path = NodePath(hass, node)
        await path.async_start()
        try:
            yield path
        finally:
            await path.async_stop()


@pytest.fixture
async def toy(hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock) -> SimulatedBB8:
    """One simulated BB-8, advertised through the proxy (heard by Home Assistant on return)."""
    bb8 = SimulatedBB8(TOY_ADDRESS, clock=sim_clock, seed=1)
    proxy.advertise(bb8)
    await wait_for(lambda: bluetooth.async_address_present(hass, TOY_ADDRESS, connectable=True))
    return bb8


def make_entry(toy: SimulatedBB8, *, title: str | None = None, **options: Any) -> MockConfigEntry:
    """A config entry for ``toy`` as the config flow would create it (``title``: as renamed)."""
    return MockConfigEntry(
        domain=DOMAIN,
        unique_id=toy.address,
        title=toy.name if title is None else title,
        data={CONF_ADDRESS: toy.address},
        options=options,
    )


WAIT_STEP = 0.005
"""Seconds ``wait_for`` lets pass between two looks (simulated seconds under a ``LoopClock``)."""


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Let the event loop run until ``predicate()`` holds (the session works in plain tasks).

    Fails the test with a clear message when it does not hold within ``timeout`` seconds of the
    loop's time: real seconds, or simulated ones under a :class:`LoopClock` (which this then
    moves in steps of ``WAIT_STEP`` while the predicate needs timers to fire).
    """
    loop = asyncio.get_running_loop()
    clock = LoopClock.of(loop)
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        if clock is None:
            await asyncio.sleep(WAIT_STEP)
            continue
        # Simulated time stands still unless moved: first what is due now, then a small step.
        await settle_loop()
        if not predicate():
            await clock.advance(WAIT_STEP, WAIT_STEP)


async def set_up_toy(
    hass: HomeAssistant, toy: SimulatedBB8, *, title: str | None = None, **options: Any
) -> MockConfigEntry:
    """Add ``toy``'s entry (``options`` as stored) and set it up through Home Assistant.

    Returns once the set-up has finished; in always-connected mode the session connects by
    itself, so wait for ``toy_is_set_up`` where a test needs the link.
    """
    entry = make_entry(toy, title=title, **options)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


@pytest.fixture
async def setup_entry(hass: HomeAssistant, toy: SimulatedBB8) -> MockConfigEntry:
    """The toy set up through Home Assistant, connected (always-connected mode)."""
    entry = await set_up_toy(hass, toy)
    await wait_for(lambda: entry.runtime_data.session.is_connected)
    return entry


def light_colour(hass: HomeAssistant, entity_id: str) -> tuple[Any, Any]:
    """The light's state as a person sees it: (``rgb_color``, ``brightness``) attributes."""
    attributes = state_of(hass, entity_id).attributes
    return attributes.get("rgb_color"), attributes.get("brightness")


def state_of(hass: HomeAssistant, entity_id: str) -> State:
    """The entity's current state; fails the test, naming the entity, when it has none."""
    state = hass.states.get(entity_id)
    if state is None:
        pytest.fail(f"{entity_id} has no state: not set up, disabled or removed", pytrace=False)
    return state


# ---------------------------------------------------------------------------------------------
# The session alone (no Home Assistant): bleak + bleak-retry-connector onto the simulator.
# ---------------------------------------------------------------------------------------------

FAST_POLICY_KWARGS: dict[str, Any] = {"initial_delay": 0.01, "max_delay": 0.05, "stable_window": 5.0}


@pytest.fixture
def bare_toy(sim_clock: SimClock) -> SimulatedBB8:
    """A simulated toy registered for the simulator's bleak backend, without Home Assistant."""
    return registry.register(SimulatedBB8(TOY_ADDRESS, clock=sim_clock, seed=3))


@pytest.fixture
async def make_session(bare_toy: SimulatedBB8) -> AsyncIterator[Callable[..., Any]]:
    """Build sessions onto ``bare_toy`` (closed at teardown); keyword arguments override."""
    from bb8sim import SimBleakBackend
    from bb8sim.testing import make_ble_device
    from custom_components.bb8.sphero.policy import ReconnectPolicy
    from custom_components.bb8.sphero.session import BB8Session

    sessions: list[BB8Session] = []

    def _make(**kwargs: Any) -> BB8Session:
        kwargs.setdefault("policy", ReconnectPolicy(**FAST_POLICY_KWARGS))
        kwargs.setdefault("pacing_interval", 0.01)
        kwargs.setdefault("command_timeout", 1.0)
        kwargs.setdefault("connect_timeout", 5.0)
        kwargs.setdefault("connect_attempts", 1)
        session = BB8Session(
            make_ble_device(bare_toy.address, bare_toy.name, {}, rssi=-60),
            client_kwargs={"backend": SimBleakBackend},
            **kwargs,
        )
        sessions.append(session)
        return session

    yield _make
    for session in sessions:
        await session.close()


def setup_finished(session: BB8Session) -> Callable[[], bool]:
    """A predicate for ``wait_for``: the session's after-connect setup has run, nothing is queued.

    From then on a test's own commands are the only traffic on the link.
    """
    return lambda: session.is_set_up and session.pending_commands == 0


async def connected_session(make_session: Callable[..., BB8Session], **kwargs: Any) -> BB8Session:
    """A session from ``make_session(**kwargs)``, connected once, its after-connect setup finished."""
    session = make_session(**kwargs)
    await session.connect()
    await wait_for(setup_finished(session))
    return session


async def started_session(make_session: Callable[..., BB8Session], **kwargs: Any) -> BB8Session:
    """As ``connected_session``, but started: in always-connected mode it reconnects by itself."""
    session = make_session(**kwargs)
    await session.start()
    await wait_for(setup_finished(session))
    return session


# ---------------------------------------------------------------------------------------------
# Home Assistant entity and action tests: a toy whose after-connect setup has finished.
# ---------------------------------------------------------------------------------------------


def toy_is_set_up(entry: MockConfigEntry, toy: SimulatedBB8) -> Callable[[], bool]:
    """A predicate for ``wait_for``: the session's after-connect setup reached the toy.

    On the current link: collision detection armed, the power state read (the last setup query,
    queued together with the restored wishes), and nothing left queued, so the wishes are back
    on the toy and a test's own commands are the only traffic from here on.
    """

    def _ready() -> bool:
        session = entry.runtime_data.session
        kinds = {record.kind for record in toy.commands_this_link}
        return (
            session.is_connected
            and toy.connected
            and {"configure_collision_detection", "get_power_state"} <= kinds
            and toy.collision_detection_enabled
            and toy.power_notifications_enabled
            and session.toy.versions is not None
            and session.is_set_up
            and session.pending_commands == 0
        )

    return _ready


@pytest.fixture
async def ready_entry(setup_entry: MockConfigEntry, toy: SimulatedBB8) -> MockConfigEntry:
    """``setup_entry`` once the session has finished setting the toy up after connecting."""
    await wait_for(toy_is_set_up(setup_entry, toy))
    return setup_entry


def device_id_of(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    """The device registry id of ``entry``'s toy (what the ``bb8.*`` actions target)."""
    from homeassistant.helpers import device_registry as dr

    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert len(devices) == 1, f"one device per entry, found {len(devices)}"
    return devices[0].id


@pytest.fixture
def device_id(hass: HomeAssistant, ready_entry: MockConfigEntry) -> str:
    """The device registry id of the set-up toy (what the ``bb8.*`` actions target)."""
    return device_id_of(hass, ready_entry)


async def make_unreachable(entry: MockConfigEntry, toy: SimulatedBB8) -> None:
    """The toy goes out of reach: its link drops and it refuses every reconnect."""
    toy.faults.refuse_connect = True
    toy.disconnect_now()
    await wait_for(lambda: not entry.runtime_data.session.is_connected)


@pytest.fixture
async def unreachable_toy(ready_entry: MockConfigEntry, toy: SimulatedBB8) -> SimulatedBB8:
    """The set-up toy, gone out of reach after connecting (see ``make_unreachable``)."""
    await make_unreachable(ready_entry, toy)
    return toy


async def bring_back(hass: HomeAssistant, entry: MockConfigEntry, toy: SimulatedBB8, *, after: float) -> None:
    """The unreachable toy accepts connects again; ``after`` seconds pass and it is set up again.

    ``after`` is at least the reconnect wait the session is in (the first one is 2 s).
    """
    toy.faults.refuse_connect = False
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=after))
    await wait_for(toy_is_set_up(entry, toy))


# ---------------------------------------------------------------------------------------------
# Two toys behind the same proxy.
# ---------------------------------------------------------------------------------------------


@pytest.fixture
async def second_toy(hass: HomeAssistant, proxy: SimProxy | NodePath, sim_clock: SimClock) -> SimulatedBB8:
    """Another BB-8 next to ``toy``, advertised through the same proxy."""
    bb8 = SimulatedBB8(SECOND_ADDRESS, clock=sim_clock, seed=2)
    proxy.advertise(bb8)
    await wait_for(lambda: bluetooth.async_address_present(hass, SECOND_ADDRESS, connectable=True))
    return bb8


@pytest.fixture
async def two_entries(
    hass: HomeAssistant, toy: SimulatedBB8, second_toy: SimulatedBB8
) -> tuple[MockConfigEntry, MockConfigEntry]:
    """Both toys set up, each its own entry, both connected and set up."""
    first = await set_up_toy(hass, toy)
    second = await set_up_toy(hass, second_toy)
    await wait_for(toy_is_set_up(first, toy))
    await wait_for(toy_is_set_up(second, second_toy))
    return first, second


# ---------------------------------------------------------------------------------------------
# Simulated time for Home Assistant tests that span minutes or hours.
# ---------------------------------------------------------------------------------------------


IDLE_JUMP_LIMIT = 5.0
"""The longest wait a ``LoopClock`` lets pass by itself while the loop has nothing else to do.

It covers what a blocking call waits for (pacing, answers, readiness pings, a command's 5 s
timeout, a reconnect's first wait); polls, idle timeouts and hours pass only when a test says so.
"""
IDLE_IO_WAIT = 0.05
"""Real seconds the loop waits for I/O at a time when no timer is within ``IDLE_JUMP_LIMIT``."""


class LoopClock:
    """Moves the event loop's clock (and the toys' ``SimClock``) forward, second by second.

    ``async_fire_time_changed`` fires due timers without moving the loop's clock, so a timer
    re-armed "60 s later" is re-armed relative to the same instant and time effectively never
    passes between two fires. Idle timeouts, polls and reconnect waits are all timers that re-arm
    each other, so these tests move the clock itself. The loop's ``time()`` and the simulated
    wall clock (:meth:`wall`) read only simulated time: where they stood when the clock took over,
    plus :attr:`elapsed`. The real clocks are read once, at that moment, and never again, so
    however long a step takes in real time (a loaded machine, coverage on), simulated time moves
    by exactly the step. Everything scheduled with ``call_later``, ``asyncio.sleep`` or
    ``asyncio.timeout`` (the session, bleak-retry-connector, the coordinator's polls, the
    simulator's link latency) falls due in order, exactly as it would in the elapsed time, and
    when :meth:`advance` moves the clock, or when the loop has nothing else to do: a test that
    awaits a blocking action (paced writes, a connect, a readiness ping) waits in simulated time,
    the clock jumping to the next timer whenever nothing is ready and no I/O came (see
    :meth:`_select`). Only waits up to ``IDLE_JUMP_LIMIT`` are made that way; a longer one (a poll,
    an idle timeout, hours) happens only when the test says so with :meth:`advance`.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, sim_clock: SimClock) -> None:
        """Take over ``loop.time`` (given back by :meth:`restore`)."""
        self._loop = loop
        self._sim_clock = sim_clock
        self._loop_start = loop.time()
        self._wall_start = time.time()
        self.elapsed = 0.0
        """Simulated seconds passed since the clock took over."""
        loop.time = self._time  # type: ignore[method-assign]
        self._selector: Any = getattr(loop, "_selector")  # noqa: B009 - asyncio's own, no public name
        self._real_select = self._selector.select
        self._selector.select = self._select

    @staticmethod
    def of(loop: asyncio.AbstractEventLoop) -> LoopClock | None:
        """Return the clock that drives ``loop``'s time, or None while the loop keeps its own."""
        owner = getattr(loop.time, "__self__", None)
        return owner if isinstance(owner, LoopClock) else None

    def _time(self) -> float:
        return self._loop_start + self.elapsed

    def now(self) -> float:
        """The loop's time as it reads now."""
        return self._time()

    def wall(self) -> float:
        """The simulated wall clock (a POSIX timestamp): the real one at take-over, plus ``elapsed``."""
        return self._wall_start + self.elapsed

    def restore(self) -> None:
        """Give the loop its own clock (and its selector's own wait) back."""
        del self._loop.time  # type: ignore[method-assign]
        del self._selector.select

    def _select(self, timeout: float | None = None) -> Any:
        """Wait for I/O as the loop asks, in simulated time.

        The loop asks to wait ``timeout`` seconds of its (simulated) time until its next timer,
        or none when nothing is ready and no timer is set. Whatever I/O is there is taken at once
        (threads hand results back through it); when there is none and the next timer is at most
        ``IDLE_JUMP_LIMIT`` ahead, the clock jumps to it, the toys' clock with it. Otherwise the
        loop waits for I/O only: no real time passing ever makes a timer due.
        """
        events = self._real_select(0)
        if events or timeout == 0:
            return events
        if timeout is not None and timeout <= IDLE_JUMP_LIMIT:
            self.elapsed += timeout
            self._sim_clock.advance(timeout)
            return events
        return self._real_select(None if timeout is None else min(timeout, IDLE_IO_WAIT))

    async def advance(self, seconds: float, step: float = 1.0) -> None:
        """Let ``seconds`` pass in steps of ``step``, running what falls due after each one."""
        remaining = seconds
        while remaining > 1e-9:
            jump = min(step, remaining)
            remaining -= jump
            # The jump happens inside this task's step; asyncio's debug mode would report that
            # step as a slow callback, so its threshold allows the jump for that one step.
            slow = self._loop.slow_callback_duration
            self._loop.slow_callback_duration = slow + jump
            self.elapsed += jump
            self._sim_clock.advance(jump)
            await asyncio.sleep(0)
            self._loop.slow_callback_duration = slow
            await settle_loop()

    async def advance_until(self, predicate: Callable[[], bool], limit: float, step: float = 1.0) -> float:
        """Let time pass until ``predicate()`` holds; return how long that took (fail at ``limit``)."""
        start = self.elapsed
        while not predicate():
            if self.elapsed - start >= limit:
                pytest.fail(f"condition not met within {limit:g} simulated seconds")
            await self.advance(step, step)
        return self.elapsed - start


async def settle_loop(rounds: int = 60) -> None:
    """Run the loop until the work that is due now (answers, callbacks, chained tasks) is done.

    Only turns of the loop, no wait: under a :class:`LoopClock` a timed wait would never end
    unless the clock moved, and what is due now needs no time to pass.
    """
    for _ in range(rounds):
        await asyncio.sleep(0)


@pytest.fixture
def loop_clock(hass: HomeAssistant, sim_clock: SimClock) -> Iterator[LoopClock]:
    """Simulated time for the whole test: the event loop's clock and the toys' clock together."""
    clock = LoopClock(hass.loop, sim_clock)
    yield clock
    clock.restore()


SESSION_LOGGER = "custom_components.bb8.sphero"
"""The session's logger and its children: reconnect waits, give-ups and advice are logged there."""


def from_session(record: logging.LogRecord) -> bool:
    """Whether ``record`` was logged by the session (any module of the ``sphero`` package)."""
    return record.name == SESSION_LOGGER or record.name.startswith(SESSION_LOGGER + ".")


def session_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The session's records of this test so far, those logged while its fixtures ran included."""
    return [
        record for phase in ("setup", "call") for record in caplog.get_records(phase) if from_session(record)
    ]


@pytest.fixture
def session_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """``caplog``, recording all the session's messages (reconnect waits are at DEBUG)."""
    caplog.set_level(logging.DEBUG, logger=SESSION_LOGGER)
    return caplog


async def change_options(hass: HomeAssistant, entry: MockConfigEntry, **changes: Any) -> None:
    """Change options the way a person does: open the options form, edit fields, submit.

    Fields not named keep what the form shows (the current options, else the defaults). Saving
    reloads the entry; this returns once the reload has finished.
    """
    from homeassistant.data_entry_flow import FlowResultType

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    shown = {marker.schema: marker.default() for marker in result["data_schema"].schema}
    unknown = set(changes) - set(shown)
    assert not unknown, f"not in the options form: {unknown}"
    result = await hass.config_entries.options.async_configure(result["flow_id"], {**shown, **changes})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
