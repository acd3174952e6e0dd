"""Chaos tooling: a seeded fault injector, a mix of user commands, invariant watchers, leak checks.

Used by the reliability tests (``tests/test_soak.py``, ``tests/test_lifecycle.py``,
``tests/test_bad_input.py``) and by ``scripts/soak``; the integration never imports it.

The soak drives the whole integration the way people and automations do (``light``,
``switch``, ``button`` and ``bb8.*`` actions through Home Assistant's service registry) while a
:class:`FaultInjector` makes the simulated link drop, delay and corrupt at set rates and the
simulated proxy run out of connection slots. Every random choice comes from ``random.Random``
objects seeded from one number, consumed per command rather than per wall-clock tick, so the
sequence of commands and faults is the same on every run with the same seed (the interleaving
with the event loop's real time is not, which is the point of running many seeds).

Invariants are checked while the soak runs, not only at the end:

* :class:`LoopExceptionRecorder` sees every exception that reaches the event loop's handler
  (unhandled callback errors, "Task exception was never retrieved");
* :class:`ErrorLogRecorder` sees every ERROR log record (the coordinator's own "Error fetching"
  line for a failed poll is expected under chaos and listed separately);
* :class:`LinkMonitor` follows every move of ``session.state`` (announced to the toy's update listeners) and a watchdog: every CONNECTING ends
  within a bound, the writer is alive while connected, queued commands keep being written;
* every command ends, within a bound, either completed or with a translated
  ``HomeAssistantError`` / ``ServiceValidationError`` (anything else is a violation);
* after the faults stop, the link is back within the longest reconnect wait the soak set plus
  the README's readiness time (:mod:`soak.promises`), and the toy shows
  the last wish for every latest-wins slot that is re-applied after a reconnect (main LED, tail
  light, stabilization), and the entities say the same;
* then, on demand, a toy nobody uses for longer than its idle timeout has no link although
  polls go on; always connected with finite attempts, once the policy gave up, a use connects;
* after unload, :func:`find_leaks` finds no task, timer, notification subscription, Bluetooth
  callback, proxy slot or listener left behind.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
import contextlib
from dataclasses import asdict, dataclass, field
import gc
import json
import logging
from pathlib import Path
import random
import struct
import threading
from typing import Any, Final

from homeassistant.components.bluetooth.api import _get_manager
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er

from bb8sim.backend import SimBleakBackend
from bb8sim.faults import ConnectFailure
from bb8sim.proxy import SimProxy
from bb8sim.toy import SimulatedBB8
from custom_components.bb8.const import (
    CONF_CONNECTION_MODE,
    CONF_IDLE_TIMEOUT,
    CONF_POLL_INTERVAL,
    CONF_RECONNECT_MAX_ATTEMPTS,
    CONF_RECONNECT_MAX_DELAY,
    DOMAIN,
)
from custom_components.bb8.sphero.session import BB8Session, ConnectionMode, SessionState

from .promises import COMMAND_ANSWER_TIMEOUT, CONNECT_TIMEOUT, READY_AFTER_WAKE, STOP_AFTER_CANCEL

_LOGGER = logging.getLogger(__name__)

SLOTS_REAPPLIED: Final = ("main_led", "back_led", "stabilization")
"""The latest-wins wishes the session re-applies after a reconnect, checked at the end."""

EXPECTED_ERROR_LOGS: Final = ("Error fetching",)
"""ERROR records that are expected under chaos: DataUpdateCoordinator logs a failed poll so."""


# ---------------------------------------------------------------------------------------------
# Targets and the command mix
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Targets:
    """The entity ids and the device id of one toy, as people address them."""

    device_id: str
    main_led: str
    tail_light: str
    stabilization: str
    wake: str
    sleep: str
    stop: str
    reset_heading: str
    center_head: str
    connected: str

    @classmethod
    def find(cls, hass: HomeAssistant, address: str) -> Targets:
        """Look the toy's entities and device up in the registries."""
        entities = er.async_get(hass)

        def entity(platform: str, key: str) -> str:
            entity_id = entities.async_get_entity_id(platform, DOMAIN, f"{address}_{key}")
            if entity_id is None:
                raise LookupError(f"no {platform} entity {key} for {address}")
            return entity_id

        # The device through one of its entities: a lookup by connection is deprecated in
        # 2026.x and refused outside custom integrations.
        main_led = entity("light", "main_led")
        entity_entry = entities.async_get(main_led)
        if entity_entry is None or entity_entry.device_id is None:
            raise LookupError(f"no device for {address}")
        return cls(
            device_id=entity_entry.device_id,
            main_led=main_led,
            tail_light=entity("light", "tail_light"),
            stabilization=entity("switch", "stabilization"),
            wake=entity("button", "wake"),
            sleep=entity("button", "sleep"),
            stop=entity("button", "stop"),
            reset_heading=entity("button", "reset_heading"),
            center_head=entity("button", "center_head"),
            connected=entity("binary_sensor", "connected"),
        )


@dataclass(frozen=True, slots=True)
class PlannedCall:
    """One call a person or an automation makes, and the wish it expresses (if latest-wins)."""

    label: str
    domain: str
    service: str
    data: dict[str, Any]
    slot: str | None = None
    wish: Any = None


def scaled_colour(rgb: tuple[int, int, int], brightness: int) -> tuple[int, int, int]:
    """Return what the toy must show for ``rgb`` at ``brightness``, by Home Assistant's RGB rule.

    The overall brightness of an RGB light is brightness/255 x max(rgb)/255, and the toy has no
    dimmer, so each channel is channel x brightness/255 (halves rounded up).
    """
    red, green, blue = (int(channel * brightness / 255 + 0.5) for channel in rgb)
    return (red, green, blue)


class CommandMix:
    """A seeded stream of calls, weighted like real use: mostly lights and motion.

    ``allow_sleep`` lets the sleep button in (rarely): the toy then sleeps and the next call
    wakes it, which exercises the sleep/wake path under faults.
    """

    def __init__(self, rng: random.Random, targets: Targets) -> None:
        """Draw from ``rng``; address ``targets``."""
        self._rng = rng
        self._t = targets
        self._choices: list[tuple[float, Callable[[], PlannedCall]]] = [
            (26, self._main_on),
            (4, self._main_off),
            (14, self._tail_on),
            (3, self._tail_off),
            (8, self._stabilization),
            (12, self._roll),
            (3, self._roll_timed),
            (4, self._stop_action),
            (6, self._set_heading),
            (3, self._button(targets.stop, "button stop")),
            (3, self._button(targets.reset_heading, "button reset heading")),
            (2, self._button(targets.center_head, "button center head")),
            (1, self._button(targets.wake, "button wake")),
        ]
        self._sleep_weight = 0.25

    def next(self, *, allow_sleep: bool = True) -> PlannedCall:
        """Draw the next call."""
        choices = list(self._choices)
        if allow_sleep:
            choices.append((self._sleep_weight, self._button(self._t.sleep, "button sleep")))
        weights = [weight for weight, _ in choices]
        make = self._rng.choices([maker for _, maker in choices], weights)[0]
        return make()

    def _colour(self) -> tuple[int, int, int]:
        rng = self._rng
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        return colour if max(colour) else (1, 0, 0)

    def _main_on(self) -> PlannedCall:
        colour = self._colour()
        brightness = self._rng.randint(1, 255)
        return PlannedCall(
            "light main on",
            "light",
            "turn_on",
            {"entity_id": self._t.main_led, "rgb_color": list(colour), "brightness": brightness},
            "main_led",
            scaled_colour(colour, brightness),
        )

    def _main_off(self) -> PlannedCall:
        return PlannedCall(
            "light main off", "light", "turn_off", {"entity_id": self._t.main_led}, "main_led", (0, 0, 0)
        )

    def _tail_on(self) -> PlannedCall:
        brightness = self._rng.randint(1, 255)
        return PlannedCall(
            "light tail on",
            "light",
            "turn_on",
            {"entity_id": self._t.tail_light, "brightness": brightness},
            "back_led",
            brightness,
        )

    def _tail_off(self) -> PlannedCall:
        return PlannedCall(
            "light tail off", "light", "turn_off", {"entity_id": self._t.tail_light}, "back_led", 0
        )

    def _stabilization(self) -> PlannedCall:
        on = self._rng.random() < 0.5
        return PlannedCall(
            "switch stabilization",
            "switch",
            "turn_on" if on else "turn_off",
            {"entity_id": self._t.stabilization},
            "stabilization",
            on,
        )

    def _roll(self) -> PlannedCall:
        data = {
            "device_id": self._t.device_id,
            "heading": self._rng.randrange(360),
            "speed": self._rng.randrange(256),
        }
        return PlannedCall("bb8.roll", DOMAIN, "roll", data)

    def _roll_timed(self) -> PlannedCall:
        data = {
            "device_id": self._t.device_id,
            "heading": self._rng.randrange(360),
            "speed": self._rng.randrange(256),
            "duration": round(self._rng.uniform(0.1, 0.4), 1),
        }
        return PlannedCall("bb8.roll timed", DOMAIN, "roll", data)

    def _stop_action(self) -> PlannedCall:
        return PlannedCall("bb8.stop", DOMAIN, "stop", {"device_id": self._t.device_id})

    def _set_heading(self) -> PlannedCall:
        data = {"device_id": self._t.device_id, "heading": self._rng.randrange(360)}
        return PlannedCall("bb8.set_heading", DOMAIN, "set_heading", data)

    @staticmethod
    def _button(entity_id: str, label: str) -> Callable[[], PlannedCall]:
        def make() -> PlannedCall:
            return PlannedCall(label, "button", "press", {"entity_id": entity_id})

        return make


def classify_outcome(error: BaseException | None) -> tuple[str, bool]:
    """Name a call's outcome for the tally; the flag says whether it is acceptable.

    Acceptable: success, a ``ServiceValidationError``, or a ``HomeAssistantError`` carrying this
    integration's translation (so a person reads a sentence, not a traceback).
    """
    if error is None:
        return "completed", True
    if isinstance(error, ServiceValidationError):
        return f"invalid: {error.translation_key}", error.translation_key is not None
    if isinstance(error, HomeAssistantError):
        key = error.translation_key
        if key is not None and error.translation_domain == DOMAIN:
            return key, True
        return f"untranslated {type(error).__name__}: {error}", False
    return f"{type(error).__name__}: {error}", False


# ---------------------------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChaosProfile:
    """How often things go wrong, per command issued (so runs of any length see the same mix)."""

    drop_response_probability: float = 0.03
    corrupt_probability: float = 0.03
    response_delays: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.02, 0.1, 0.3, 1.0)
    """Picked anew every ``delay_period`` commands: the radio's latency drifts."""
    delay_period: int = 150
    long_delay: float = 6.0
    long_delay_probability: float = 0.06
    """Per period, the chance that answers take ``long_delay``: beyond the command timeout (they
    then arrive for SEQs nobody waits for any more) and beyond the readiness timeout (connects
    fail their hand-shake), and a drop is reported that late too."""
    disconnect_probability: float = 0.002
    """Per command: the toy drops the link now, or on one of the next few writes."""
    connect_failure_probability: float = 0.002
    """Per command: the next 1-4 connects fail (refused or timed out)."""
    garbage_probability: float = 0.01
    collision_probability: float = 0.01
    toy_seconds_per_command: float = 0.1
    """Simulated toy time per command: power notifications and collision dead time run."""
    out_of_slots_at: tuple[float, ...] = (0.45,)
    """Fractions of the run at which the proxy loses its slots and the link drops."""
    out_of_slots_hold: float = 3.0
    """Real seconds the proxy stays full (longer than the first reconnect delay, so a connect
    attempt really meets the full proxy; bleak-retry-connector then waits 4 s before retrying)."""
    pacing_check: bool = True
    """Let the toy drop commands written faster than 50 ms apart, and count that as a violation."""


class FaultInjector:
    """Applies a :class:`ChaosProfile` to a toy and its proxy, one seeded decision per command."""

    def __init__(
        self,
        toy: SimulatedBB8,
        proxy: SimProxy,
        profile: ChaosProfile,
        rng: random.Random,
        total_commands: int,
    ) -> None:
        """Prepare; :meth:`start` switches the steady faults on."""
        self.toy = toy
        self.proxy = proxy
        self.profile = profile
        self._rng = rng
        self._slots = proxy.slots
        self._oos_at = {int(fraction * total_commands) for fraction in profile.out_of_slots_at}
        self._oos_task: asyncio.Task[None] | None = None
        self.stats: Counter[str] = Counter()

    def start(self) -> None:
        """Switch on the steady faults (drops, corruption, the toy's pacing check)."""
        faults = self.toy.faults
        faults.drop_response_probability = self.profile.drop_response_probability
        faults.corrupt_probability = self.profile.corrupt_probability
        if self.profile.pacing_check:
            faults.pacing = True
            faults.min_interval = 0.05

    def before_command(self, index: int) -> None:
        """Decide this command's faults (every draw is made, whatever the link's state)."""
        rng = self._rng
        profile = self.profile
        toy = self.toy
        faults = toy.faults
        if index % profile.delay_period == 0:
            faults.response_delay = rng.choice(profile.response_delays)
            if rng.random() < profile.long_delay_probability:
                faults.response_delay = profile.long_delay
                self.stats["long_delay_periods"] += 1
        if rng.random() < profile.disconnect_probability:
            if rng.random() < 0.5:
                if toy.disconnect_now("chaos: link lost"):
                    self.stats["disconnects"] += 1
            else:
                faults.disconnect_on_write = rng.randint(1, 4)
                self.stats["disconnects_on_write_armed"] += 1
        if rng.random() < profile.connect_failure_probability:
            faults.connect_failures = rng.randint(1, 4)
            faults.connect_failure = rng.choice((ConnectFailure.ERROR, ConnectFailure.TIMEOUT))
            self.stats["connect_failures_armed"] += 1
        if rng.random() < profile.garbage_probability:
            garbage = random_garbage(rng)
            chunked = rng.random() < 0.5
            if toy.connected:
                toy.inject_notification(garbage, chunked=chunked)
                self.stats["garbage_notifications"] += 1
        if rng.random() < profile.collision_probability:
            magnitude = rng.randint(0, 400)
            if toy.trigger_collision(x_magnitude=magnitude, y_magnitude=rng.randint(0, 400)):
                self.stats["collisions"] += 1
        toy.clock.advance(profile.toy_seconds_per_command)
        if index in self._oos_at and self._oos_task is None:
            self._oos_task = asyncio.get_running_loop().create_task(
                self._out_of_slots(), name="bb8 chaos out of slots"
            )

    async def _out_of_slots(self) -> None:
        """Let other devices take the proxy's slots just as the toy's link drops, for a while."""
        self.stats["out_of_slots_episodes"] += 1
        self.proxy.slots = 0
        self.toy.disconnect_now("chaos: proxy reassigned the slot")
        try:
            await asyncio.sleep(self.profile.out_of_slots_hold)
        finally:
            self.proxy.slots = self._slots
            self._oos_task = None

    async def stop(self) -> None:
        """Turn every fault off and give the proxy its slots back."""
        if (task := self._oos_task) is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.proxy.slots = self._slots
        self.toy.faults.clear()


def random_garbage(rng: random.Random) -> bytes:
    """Bytes a broken radio might deliver: noise, near-packets, false starts, stray responses."""
    kind = rng.randrange(5)
    if kind == 0:  # noise
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
    if kind == 1:  # a false start: SOP1 SOP2 and a header claiming a long packet
        return bytes(
            [0xFF, rng.choice((0xFF, 0xFE)), *(rng.randrange(256) for _ in range(rng.randint(1, 6)))]
        )
    if kind == 2:  # a stray response, good checksum: success or an error, to a random SEQ
        body = bytes([rng.choice((0x00, rng.randrange(256))), rng.randrange(256), 1])
        return bytes([0xFF, 0xFF, *body, 0xFF - (sum(body) & 0xFF)])
    if kind == 3:  # an async packet of an unknown id, good checksum
        data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 12)))
        body = bytes([rng.choice((0x02, 0x04, 0x0A, 0x33)), 0, len(data) + 1]) + data
        return bytes([0xFF, 0xFE, *body, 0xFF - (sum(body) & 0xFF)])
    # a known async id with the wrong length, good checksum
    data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 20)))
    body = bytes([rng.choice((0x01, 0x07)), 0, len(data) + 1]) + data
    if body[0] == 0x07 and len(data) == 16:
        data = data[:15]
        body = bytes([0x07, 0, 16]) + data
    if body[0] == 0x01 and len(data) == 1:
        body = bytes([0x01, 0, 1])
    return bytes([0xFF, 0xFE, *body, 0xFF - (sum(body) & 0xFF)])


# ---------------------------------------------------------------------------------------------
# Invariant watchers
# ---------------------------------------------------------------------------------------------


class LoopExceptionRecorder:
    """Records everything that reaches the loop's exception handler, then passes it on."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        """Remember the loop; :meth:`install` hooks in."""
        self._loop = loop
        self._previous: Any = None
        self.contexts: list[dict[str, Any]] = []

    def install(self) -> None:
        """Wrap the current handler (Home Assistant's test harness fails the test on these too)."""
        self._previous = self._loop.get_exception_handler()
        self._loop.set_exception_handler(self._handle)

    def uninstall(self) -> None:
        """Put the previous handler back, after collecting garbage so unretrieved task errors show."""
        gc.collect()
        self._loop.set_exception_handler(self._previous)

    def _handle(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.contexts.append(context)
        if self._previous is not None:
            self._previous(loop, context)
        else:
            loop.default_exception_handler(context)

    def describe(self) -> list[str]:
        """One line per recorded context."""
        return [f"{ctx.get('message')}: {ctx.get('exception')!r}" for ctx in self.contexts]


class ErrorLogRecorder(logging.Handler):
    """Collects ERROR (and worse) log records from every logger while installed."""

    def __init__(self) -> None:
        """Start empty."""
        super().__init__(logging.ERROR)
        self.unexpected: list[str] = []
        self.expected: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        """Sort the record into expected (a failed poll) and unexpected."""
        message = record.getMessage()
        for prefix in EXPECTED_ERROR_LOGS:
            if message.startswith(prefix):
                self.expected[prefix] += 1
                return
        self.unexpected.append(f"{record.name}: {message}")

    @contextlib.contextmanager
    def installed(self) -> Iterator[ErrorLogRecorder]:
        """Attach to the root logger for the duration of the block."""
        root = logging.getLogger()
        root.addHandler(self)
        try:
            yield self
        finally:
            root.removeHandler(self)


@dataclass(slots=True)
class LinkMonitor:
    """Follows a session's state machine and flags a link that gets stuck.

    ``connect_bound``: no CONNECTING may last longer (the session's own connect timeout plus
    the disconnect that undoes a failed attempt). ``stall_bound``: while connected, a queued
    command must be written within this long.
    """

    session: BB8Session
    toy: SimulatedBB8
    connect_bound: float
    stall_bound: float = 2.0
    transitions: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    max_connecting: float = 0.0
    max_outage: float = 0.0
    reconnects: int = 0
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.get_running_loop)
    _connecting_since: float | None = None
    _down_since: float | None = None
    _flagged_connecting: bool = False
    _last_writes: int = -1
    _last_progress: float = 0.0
    _subscription: Any = None
    _last_state: SessionState = SessionState.DISCONNECTED
    _was_connected: bool = False

    def start(self) -> None:
        """Subscribe to the session's transitions."""
        self._last_state = self.session.state
        if self.session.state is SessionState.CONNECTING:
            self._connecting_since = self._loop.time()
        if self.session.state is not SessionState.CONNECTED:
            self._down_since = self._loop.time()
        self._was_connected = self.session.state is SessionState.CONNECTED
        self._subscription = self.session.toy.add_update_listener(self._on_update)

    def _on_update(self) -> None:
        # Every move of the state machine notifies the toy's update listeners at once, so a
        # state unlike the last one seen is exactly one announced move.
        state = self.session.state
        if state is not self._last_state:
            self._last_state = state
            self._on_state(state)

    def stop(self) -> None:
        """Unsubscribe."""
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None

    def _on_state(self, state: SessionState) -> None:
        now = self._loop.time()
        self.transitions[str(state)] += 1
        if state is SessionState.CONNECTING:
            self._connecting_since = now
            self._flagged_connecting = False
        elif self._connecting_since is not None:
            self.max_connecting = max(self.max_connecting, now - self._connecting_since)
            self._connecting_since = None
        if state is SessionState.CONNECTED:
            if self._was_connected:
                self.reconnects += 1
            self._was_connected = True
            if self._down_since is not None:
                self.max_outage = max(self.max_outage, now - self._down_since)
                self._down_since = None
        elif self._down_since is None:
            self._down_since = now

    def check(self) -> None:
        """Look for a stuck link; call every few tens of milliseconds while the soak runs."""
        now = self._loop.time()
        session = self.session
        if (
            self._connecting_since is not None
            and not self._flagged_connecting
            and now - self._connecting_since > self.connect_bound
        ):
            self._flagged_connecting = True
            self.violations.append(f"CONNECTING for more than {self.connect_bound:g} s")
        if session.state is not SessionState.CONNECTED:
            self._last_writes = -1
            return
        writer = session.diagnostics()["writer"]
        if writer == "stalled":
            self.violations.append("connected, but the command writer is gone")
        # The writer is busy exactly while commands wait or one is being written: busy without a
        # write reaching the toy for a while is a stall.
        busy = writer != "idle"
        writes = self.toy.command_writes
        if not busy or writes != self._last_writes:
            self._last_writes = writes
            self._last_progress = now
        elif now - self._last_progress > self.stall_bound:
            self.violations.append(
                f"commands wait to be written and nothing was written for {self.stall_bound:g} s "
                f"({_writer_view(session)}, toy writes {writes}, toy {self.toy!r})"
            )
            self._last_progress = now


def _writer_view(session: BB8Session) -> str:
    """Describe what the session's writer is doing, for a stall report (public views only)."""
    name = f"bb8 {session.name} writer"
    writers = [task for task in asyncio.all_tasks() if task.get_name() == name and not task.done()]
    frames = writers[0].get_stack(limit=3) if writers else []
    diagnostics = session.diagnostics()
    return (
        f"writer {writers[0] if writers else None!r} at {[f'{f.f_code.co_name}:{f.f_lineno}' for f in frames]}, "
        f"state {diagnostics['state']}, generation {diagnostics['generation']}, "
        f"pending {diagnostics['pending_commands']}, counters {diagnostics['counters']}, "
        f"timers {diagnostics['timers']}"
    )


# ---------------------------------------------------------------------------------------------
# Leaks
# ---------------------------------------------------------------------------------------------


def bluetooth_callbacks_for(hass: HomeAssistant, address: str) -> int:
    """Advertisement and unavailability callbacks Home Assistant holds for ``address``."""
    manager: Any = _get_manager(hass)
    count = len(manager._callback_index.address.get(address, ()))
    count += len(manager._connectable_unavailable_callbacks.get(address, ()))
    count += len(manager._unavailable_callbacks.get(address, ()))
    return count


def live_backends() -> list[SimBleakBackend]:
    """Return simulator bleak backends still connected, or holding notify callbacks or a timer."""
    return [obj for obj in gc.get_objects() if isinstance(obj, SimBleakBackend) and obj.holds_resources]


def bb8_tasks() -> list[asyncio.Task[Any]]:
    """Tasks the session or the integration started that are still running."""
    return [
        task
        for task in asyncio.all_tasks()
        if not task.done() and ("bb8" in task.get_name().lower() or "BB-" in task.get_name())
    ]


def describe_tasks() -> list[str]:
    """Name every unfinished task (but the caller) and where it waits, for a leak report."""
    current = asyncio.current_task()
    described = []
    for task in asyncio.all_tasks():
        if task is current or task.done():
            continue
        frames = task.get_stack(limit=2)
        where = ", ".join(f"{frame.f_code.co_qualname}:{frame.f_lineno}" for frame in frames)
        described.append(f"{task.get_name()} ({where})")
    return sorted(described)


def live_timers(loop: asyncio.AbstractEventLoop) -> int:
    """Timers scheduled on the loop and not cancelled."""
    scheduled: list[asyncio.TimerHandle] = getattr(loop, "_scheduled", [])
    return sum(1 for handle in scheduled if not handle.cancelled())


@dataclass(frozen=True, slots=True)
class ResourceSnapshot:
    """Counts that must return to their baseline after an entry is unloaded."""

    tasks: int
    timers: int
    threads: int
    bus_listeners: int
    bluetooth_callbacks: int
    proxy_slots_in_use: int

    @classmethod
    def take(cls, hass: HomeAssistant, proxy: SimProxy, address: str) -> ResourceSnapshot:
        """Count now (the calling task itself is not counted)."""
        current = asyncio.current_task()
        return cls(
            tasks=sum(1 for task in asyncio.all_tasks() if task is not current and not task.done()),
            timers=live_timers(hass.loop),
            threads=threading.active_count(),
            bus_listeners=sum(hass.bus.async_listeners().values()),
            bluetooth_callbacks=bluetooth_callbacks_for(hass, address),
            proxy_slots_in_use=proxy.slots_in_use,
        )

    def growth_over(self, baseline: ResourceSnapshot) -> list[str]:
        """List what grew compared with ``baseline``."""
        return [
            f"{name}: {getattr(baseline, name)} -> {getattr(self, name)}"
            for name in self.__dataclass_fields__
            if getattr(self, name) > getattr(baseline, name)
        ]


def find_leaks(
    hass: HomeAssistant,
    *,
    session: BB8Session,
    proxy: SimProxy,
    toy: SimulatedBB8,
    scan_backends: bool = True,
) -> list[str]:
    """Everything an unloaded toy must not leave behind, as readable lines (empty is good)."""
    leaks: list[str] = []
    if session.state is not SessionState.CLOSED:
        leaks.append(f"session is {session.state}, not closed")
    if session.toy.listener_count:
        leaks.append(f"{session.toy.listener_count} session listeners still registered")
    if session.pending_commands:
        leaks.append(f"{session.pending_commands} commands still pending in the session")
    if timers := session.diagnostics()["timers"]:
        leaks.append(f"session timers still set: {list(timers)}")
    if tasks := bb8_tasks():
        leaks.append(f"tasks still running: {[task.get_name() for task in tasks]}")
    if toy.connected:
        leaks.append("the toy is still connected")
    if proxy.slots_in_use:
        leaks.append(f"{proxy.slots_in_use} proxy slots still held")
    if callbacks := bluetooth_callbacks_for(hass, toy.address):
        leaks.append(f"{callbacks} Bluetooth callbacks still registered for {toy.address}")
    if scan_backends and (backends := live_backends()):
        leaks.append(f"simulator backends still live: {backends}")
    return leaks


# ---------------------------------------------------------------------------------------------
# The soak
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class SoakConfig:
    """How long and how hard."""

    commands: int = 2000
    seed: int = 8
    issue_interval: float = 0.008
    """Real seconds between two calls' starts (calls overlap: each runs as its own task)."""
    max_in_flight: int = 1000
    profile: ChaosProfile = field(default_factory=ChaosProfile)
    recovery_margin: float = 2.0
    """The recovery bound is the longest reconnect wait the soak set, plus one connect attempt under
    way when the faults stop (at most the session's readiness timeout: its pings may queue behind
    answers still delayed in the air), plus this: connect, hand-shake and the restore writes."""
    command_bound_margin: float = 2.0
    """Added to the command timeout (and a timed roll's duration) for a call to end."""
    reconnect_max_delay: int = 5
    """The entry's longest wait between reconnects (option), short so recoveries come often."""
    reconnect_max_attempts: int = 3
    """The entry's reconnect attempts before giving up (option): a use must connect afterwards."""
    idle_timeout: int = 15
    """On demand, the entry's idle timeout (option)."""
    poll_interval: int = 10
    """The entry's battery poll interval (option): shorter than the idle timeout, so polls must
    not keep an on-demand link."""

    def entry_options(self, mode: str) -> dict[str, Any]:
        """Return the options to set the soak's entry up with, in connection mode ``mode``.

        The soak's bounds follow these, what was asked, never what the session reports it uses.
        """
        return {
            CONF_CONNECTION_MODE: mode,
            CONF_RECONNECT_MAX_DELAY: self.reconnect_max_delay,
            CONF_RECONNECT_MAX_ATTEMPTS: self.reconnect_max_attempts,
            CONF_IDLE_TIMEOUT: self.idle_timeout,
            CONF_POLL_INTERVAL: self.poll_interval,
        }


@dataclass(slots=True)
class SoakReport:
    """What a soak saw; ``violations`` and ``leaks`` must be empty."""

    seed: int
    mode: str
    commands: int = 0
    completed: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    by_label: dict[str, int] = field(default_factory=dict)
    reconnects: int = 0
    drops: int = 0
    connect_failures: int = 0
    max_connecting: float = 0.0
    max_outage: float = 0.0
    recovery_time: float = 0.0
    recovery_bound: float = 0.0
    max_call_latency: float = 0.0
    writes: int = 0
    coalesced: int = 0
    timed_out: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    expected_error_logs: int = 0
    idle_release: float | None = None
    """On demand: seconds from a last use until the link was let go, polls going on meanwhile."""
    polls_while_idle: int = 0
    """On demand: battery polls the toy answered while the link waited for its idle timeout."""
    use_after_give_up: float | None = None
    cancelled_rolls: int = 0
    """Timed rolls whose calling task was cancelled mid-way (a script stopped) after the faults."""
    max_stop_after_cancel: float = 0.0
    """Slowest stop of the toy after such a cancellation, in seconds."""
    """Always connected, finite attempts: seconds a use took to connect after the policy gave up."""
    violations: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    duration: float = 0.0
    profile: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """Serialise (``scripts/soak`` renders the table from this)."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    def write(self, path: Path) -> None:
        """Write the JSON next to other reports."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())


async def run_soak(
    hass: HomeAssistant,
    *,
    session_of: Callable[[], BB8Session],
    toy: SimulatedBB8,
    proxy: SimProxy,
    config: SoakConfig,
    unload: Callable[[], Awaitable[None]],
) -> SoakReport:
    """Drive ``config.commands`` calls through Home Assistant under chaos, check, unload, count.

    ``session_of`` returns the entry's session, set up with ``config.entry_options``; ``unload``
    unloads the entry at the end (the leak checks run after it). Every time bound is a number the
    README says (:mod:`soak.promises`) or an option the soak set, never the session's own figure:
    a regressed default would otherwise widen the bound that was to catch it.
    """
    loop = asyncio.get_running_loop()
    session = session_of()
    report = SoakReport(seed=config.seed, mode=str(session.mode), profile=asdict(config.profile))
    targets = Targets.find(hass, toy.address)
    mix = CommandMix(random.Random(config.seed), targets)
    injector = FaultInjector(toy, proxy, config.profile, random.Random(config.seed + 1), config.commands)
    toy.faults.reseed(config.seed + 2)
    connect_timeout, command_timeout = CONNECT_TIMEOUT.value, COMMAND_ANSWER_TIMEOUT.value
    # A CONNECTING ends within the connect's timeout, plus the 5 s a failed attempt's disconnect
    # may take, plus a second.
    monitor = LinkMonitor(session, toy, connect_bound=connect_timeout + 5.0 + 1.0, stall_bound=2.0)
    exceptions = LoopExceptionRecorder(loop)
    error_logs = ErrorLogRecorder()
    outcomes: Counter[str] = Counter()
    labels: Counter[str] = Counter()
    # Per slot, the wishes in the order they were made; a wish the toy refuses is withdrawn
    # (as the session withdraws it) when no newer one came. The last one left is the one the
    # toy must show at the end.
    history: dict[str, list[tuple[int, Any]]] = {}
    latencies: list[float] = []
    pending: set[asyncio.Task[None]] = set()
    # A call ends within the connect it may join or make (bounded by the connect timeout) and
    # then its command timeout, which bounds only the toy's answer (plus a timed roll's
    # duration); a wake press is a connect; a sleep press is a command and a disconnect.
    call_bound = connect_timeout + command_timeout + 0.5 + config.command_bound_margin
    bounds = {
        "button wake": connect_timeout + config.command_bound_margin,
        "button sleep": command_timeout + 5.0 + config.command_bound_margin,
    }

    async def call(index: int, planned: PlannedCall) -> None:
        started = loop.time()
        error: BaseException | None = None
        try:
            await hass.services.async_call(planned.domain, planned.service, dict(planned.data), blocking=True)
        except Exception as err:
            error = err
        latency = loop.time() - started
        latencies.append(latency)
        name, acceptable = classify_outcome(error)
        outcomes[name] += 1
        if not acceptable:
            report.violations.append(f"{planned.label}: {name}")
        if latency > (bound := bounds.get(planned.label, call_bound)):
            report.violations.append(f"{planned.label} took {latency:.1f} s (bound {bound:g} s)")
        if name == "command_rejected" and planned.slot is not None:
            made = history[planned.slot]
            if made and made[-1][0] == index:
                made.pop()

    async def watchdog() -> None:
        while True:
            monitor.check()
            await asyncio.sleep(0.05)

    started = loop.time()
    exceptions.install()
    monitor.start()
    injector.start()
    watch = loop.create_task(watchdog(), name="bb8 chaos watchdog")
    sleep_cutoff = int(config.commands * 0.9)
    try:
        with error_logs.installed():
            for index in range(config.commands):
                injector.before_command(index)
                if index % 200 == 0:
                    proxy.advertise(toy)  # a proxy keeps hearing the toy (availability)
                planned = mix.next(allow_sleep=index < sleep_cutoff)
                labels[planned.label] += 1
                if planned.slot is not None:
                    history.setdefault(planned.slot, []).append((index, planned.wish))
                task = loop.create_task(call(index, planned), name=f"bb8 chaos call {index}")
                pending.add(task)
                task.add_done_callback(pending.discard)
                await asyncio.sleep(config.issue_interval)
                while len(pending) >= config.max_in_flight:  # noqa: ASYNC110 - a simple cap
                    await asyncio.sleep(config.issue_interval)
            if pending:
                await asyncio.wait(set(pending), timeout=max(call_bound, *bounds.values()) + 1.0)
            if pending:
                report.violations.append(f"{len(pending)} calls never ended")
            wishes = {slot: made[-1][1] for slot, made in history.items() if made}

            # Faults stop: the link must come back within the policy's bound and show the wishes.
            await injector.stop()
            proxy.advertise(toy)
            if (session.mode is ConnectionMode.ON_DEMAND or session.gave_up) and not session.is_connected:
                # On demand, or once the policy gave up, nothing reconnects until the toy is
                # used: use it (restating a wish).
                await _restate_stabilization(hass, targets, wishes)
            report.recovery_bound = (
                config.reconnect_max_delay + READY_AFTER_WAKE.value + config.recovery_margin
            )
            stopped = loop.time()
            recovered_at = await _wait_until(
                loop,
                lambda: session.is_connected and session.pending_commands == 0 and _toy_shows(toy, wishes),
                limit=report.recovery_bound * 3,
            )
            if recovered_at is None:
                report.violations.append(
                    f"no recovery within {report.recovery_bound * 3:g} s: state {session.state}, "
                    f"pending {session.pending_commands}, toy {_toy_view(toy)}, wishes {wishes}, "
                    f"desired {session.toy.requested}"
                )
            else:
                report.recovery_time = recovered_at - stopped
                if report.recovery_time > report.recovery_bound:
                    report.violations.append(
                        f"recovery took {report.recovery_time:.2f} s (bound {report.recovery_bound:g} s)"
                    )
            report.violations += _entity_mismatches(hass, targets, wishes)
            if (desired := _desired_view(session)) != {k: wishes.get(k) for k in SLOTS_REAPPLIED}:
                report.violations.append(f"session desired {desired} is not the last wishes {wishes}")
            if toy.dropped_for_pacing:
                report.violations.append(
                    f"the toy dropped {toy.dropped_for_pacing} commands written too fast"
                )
            monitor.check()
            await _check_cancelled_rolls(hass, loop, toy, targets, report, random.Random(config.seed))
            if session.mode is ConnectionMode.ON_DEMAND:
                await _check_idle_release(hass, loop, session, toy, targets, wishes, config, report)
            elif config.reconnect_max_attempts:
                await _check_use_after_give_up(hass, loop, session, toy, targets, wishes, config, report)
    finally:
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
        for task in list(pending):
            task.cancel()
        await injector.stop()
        monitor.stop()

    counters = session.counters
    report.writes = counters.commands_sent
    report.coalesced = counters.commands_coalesced
    report.timed_out = counters.commands_timed_out
    report.drops = counters.drops
    report.connect_failures = counters.connect_failures
    await unload()
    await asyncio.sleep(0)
    report.leaks = find_leaks(hass, session=session, proxy=proxy, toy=toy)
    exceptions.uninstall()
    report.violations += [f"loop exception: {line}" for line in exceptions.describe()]
    report.violations += [f"error log: {line}" for line in error_logs.unexpected]
    report.violations += monitor.violations
    report.expected_error_logs = sum(error_logs.expected.values())
    report.commands = config.commands
    report.completed = outcomes.pop("completed", 0)
    report.failed = dict(sorted(outcomes.items()))
    report.by_label = dict(sorted(labels.items()))
    report.reconnects = monitor.reconnects
    report.max_connecting = round(monitor.max_connecting, 3)
    report.max_outage = round(monitor.max_outage, 3)
    report.recovery_time = round(report.recovery_time, 3)
    report.max_call_latency = round(max(latencies, default=0.0), 3)
    report.faults = dict(sorted((toy.faults.stats + injector.stats).items()))
    report.duration = round(loop.time() - started, 1)
    return report


async def _restate_stabilization(hass: HomeAssistant, targets: Targets, wishes: dict[str, Any]) -> None:
    """Use the toy without changing what it should show: say the stabilization wish again."""
    stabilization = wishes.setdefault("stabilization", True)
    await hass.services.async_call(
        "switch",
        "turn_on" if stabilization else "turn_off",
        {"entity_id": targets.stabilization},
        blocking=True,
    )


IDLE_RELEASE_MARGIN: Final = 3.0
"""Beyond the idle timeout: the idle check's own tick and the disconnect itself."""


CANCELLED_ROLLS: Final = 10
STOP_AFTER_CANCEL_BOUND: Final = STOP_AFTER_CANCEL.value


async def _check_cancelled_rolls(
    hass: HomeAssistant,
    loop: asyncio.AbstractEventLoop,
    toy: SimulatedBB8,
    targets: Targets,
    report: SoakReport,
    rng: random.Random,
) -> None:
    """No toy rolls on after its caller is cancelled: timed rolls whose task is cancelled mid-way.

    As Home Assistant does when a script is stopped or an automation restarts: the call's task is
    cancelled while the roll runs (or while it is still on its way). The toy must stand still
    within ``STOP_AFTER_CANCEL_BOUND``; nothing else is sent meanwhile.
    """
    for _ in range(CANCELLED_ROLLS):
        data = {
            "device_id": targets.device_id,
            "heading": rng.randrange(360),
            "speed": 60 + rng.randrange(180),
        }
        call = loop.create_task(
            hass.services.async_call(DOMAIN, "roll", {**data, "duration": 8}, blocking=True),
            name="bb8 chaos cancelled roll",
        )
        await asyncio.sleep(rng.uniform(0.0, 0.4))
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError, HomeAssistantError):
            await call
        cancelled_at = loop.time()
        stopped_at = await _wait_until(loop, lambda: not toy.rolling, limit=STOP_AFTER_CANCEL_BOUND * 3)
        report.cancelled_rolls += 1
        if stopped_at is None:
            report.violations.append(
                f"a timed roll's caller was cancelled and the toy still rolls {STOP_AFTER_CANCEL_BOUND * 3:g} s "
                f"later: {_toy_view(toy)}"
            )
            return
        took = stopped_at - cancelled_at
        report.max_stop_after_cancel = max(report.max_stop_after_cancel, took)
        if took > STOP_AFTER_CANCEL_BOUND:
            report.violations.append(
                f"a timed roll's caller was cancelled; the toy stopped {took:.2f} s later "
                f"(bound {STOP_AFTER_CANCEL_BOUND:g} s)"
            )


async def _check_idle_release(
    hass: HomeAssistant,
    loop: asyncio.AbstractEventLoop,
    session: BB8Session,
    toy: SimulatedBB8,
    targets: Targets,
    wishes: dict[str, Any],
    config: SoakConfig,
    report: SoakReport,
) -> None:
    """Check that, on demand, a toy nobody uses for longer than its idle timeout has no link.

    It is used once (restating a wish), then left alone. Polls go on meanwhile (the soak's poll
    interval is shorter than its idle timeout); they are not use, so they must not keep the
    link, and the report counts them to show they happened.
    """
    await _restate_stabilization(hass, targets, wishes)
    last_use = loop.time()
    polls_before = sum(1 for record in toy.commands_received if record.kind == "get_power_state")
    released_at = await _wait_until(
        loop, lambda: not session.is_connected, limit=config.idle_timeout + IDLE_RELEASE_MARGIN
    )
    report.polls_while_idle = (
        sum(1 for record in toy.commands_received if record.kind == "get_power_state") - polls_before
    )
    if released_at is None:
        report.violations.append(
            f"on demand and unused for {config.idle_timeout + IDLE_RELEASE_MARGIN:g} s "
            f"(idle timeout {config.idle_timeout:g} s), the link is still up"
        )
    else:
        report.idle_release = round(released_at - last_use, 3)


async def _check_use_after_give_up(
    hass: HomeAssistant,
    loop: asyncio.AbstractEventLoop,
    session: BB8Session,
    toy: SimulatedBB8,
    targets: Targets,
    wishes: dict[str, Any],
    config: SoakConfig,
    report: SoakReport,
) -> None:
    """Check that, always connected with finite attempts, a use connects once the policy gave up."""
    toy.faults.refuse_connect = True
    toy.disconnect_now("soak: the toy goes out of reach until the policy gives up")
    limit = config.reconnect_max_attempts * (config.reconnect_max_delay + CONNECT_TIMEOUT.value) + 5.0
    if await _wait_until(loop, lambda: session.gave_up, limit=limit) is None:
        toy.faults.refuse_connect = False
        report.violations.append(f"the policy did not give up within {limit:g} s")
        return
    toy.faults.refuse_connect = False
    used_at = loop.time()
    try:
        await _restate_stabilization(hass, targets, wishes)
    except HomeAssistantError as err:
        report.violations.append(f"after the policy gave up, a use failed instead of connecting: {err}")
        return
    if not session.is_connected:
        report.violations.append("after the policy gave up, a use succeeded but left no link")
        return
    report.use_after_give_up = round(loop.time() - used_at, 3)


async def _wait_until(
    loop: asyncio.AbstractEventLoop, predicate: Callable[[], bool], *, limit: float
) -> float | None:
    """Poll ``predicate`` until it holds (returns the loop time) or ``limit`` seconds pass."""
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() > deadline:
            return None
        await asyncio.sleep(0.01)
    return loop.time()


def _toy_view(toy: SimulatedBB8) -> dict[str, Any]:
    return {"main_led": toy.main_led, "back_led": toy.back_led, "stabilization": toy.stabilization}


def _toy_shows(toy: SimulatedBB8, wishes: dict[str, Any]) -> bool:
    view = _toy_view(toy)
    return all(view[slot] == wishes[slot] for slot in SLOTS_REAPPLIED if slot in wishes)


def _desired_view(session: BB8Session) -> dict[str, Any]:
    desired = session.toy.requested
    return {
        "main_led": desired.main_led,
        "back_led": desired.tail_light,
        "stabilization": desired.stabilization,
    }


def _entity_mismatches(hass: HomeAssistant, targets: Targets, wishes: dict[str, Any]) -> list[str]:
    """Whether the entities show the last wishes too."""
    problems: list[str] = []
    if (colour := wishes.get("main_led")) is not None:
        state = hass.states.get(targets.main_led)
        want = "on" if max(colour) else "off"
        if state is None or state.state != want:
            problems.append(f"main LED entity is {state and state.state}, wish {colour}")
        elif want == "on" and (
            shown := scaled_colour(
                tuple(state.attributes.get("rgb_color") or (0, 0, 0)),  # type: ignore[arg-type]
                int(state.attributes.get("brightness") or 0),
            )
        ) != tuple(colour):
            # The entity reports the colour and brightness asked for; by Home Assistant's RGB
            # rule they make what the toy shows.
            problems.append(
                f"main LED entity {state.attributes.get('rgb_color')} at brightness "
                f"{state.attributes.get('brightness')} makes {shown}, wish {colour}"
            )
    if (brightness := wishes.get("back_led")) is not None:
        state = hass.states.get(targets.tail_light)
        want = "on" if brightness else "off"
        if state is None or state.state != want:
            problems.append(f"tail light entity is {state and state.state}, wish {brightness}")
        elif want == "on" and state.attributes.get("brightness") != brightness:
            problems.append(f"tail light brightness {state.attributes.get('brightness')}, wish {brightness}")
    if (enabled := wishes.get("stabilization")) is not None:
        state = hass.states.get(targets.stabilization)
        if state is None or state.state != ("on" if enabled else "off"):
            problems.append(f"stabilization entity is {state and state.state}, wish {enabled}")
    return problems


# ---------------------------------------------------------------------------------------------
# A toy that says no
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def toy_answers_with(toy: SimulatedBB8, did: int, cid: int, mrsp: int) -> Iterator[None]:
    """Make the toy refuse one command with ``mrsp`` (and leave its state alone) while inside."""
    with toy.refusing(did, cid, mrsp):
        yield


def power_state_payload(state: int, centivolts: int, charges: int = 0, seconds: int = 0) -> bytes:
    """Build the data of a get-power-state answer (``>2B3H``), for hand-made responses in tests."""
    return struct.pack(">2B3H", 1, state, centivolts, charges, seconds)


__all__ = [
    "SLOTS_REAPPLIED",
    "ChaosProfile",
    "CommandMix",
    "ErrorLogRecorder",
    "FaultInjector",
    "LinkMonitor",
    "LoopExceptionRecorder",
    "PlannedCall",
    "ResourceSnapshot",
    "SoakConfig",
    "SoakReport",
    "Targets",
    "classify_outcome",
    "describe_tasks",
    "find_leaks",
    "random_garbage",
    "run_soak",
    "scaled_colour",
    "set_up_settled",
    "toy_answers_with",
]


async def set_up_settled(hass: HomeAssistant, entry: Any) -> None:
    """Add ``entry`` (a ``MockConfigEntry``), let discovery settle, then set it up.

    The toy's advertisement starts a Bluetooth discovery flow in the background; once it ends
    it records a discovery key on the configured entry. Letting it end before setup keeps that
    update away from a loaded entry, so each test controls every reload itself.
    """
    entry.add_to_hass(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
