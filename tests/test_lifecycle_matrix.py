"""Home Assistant's lifecycle as a test dimension: every action and button, every way it is cut short.

DESIGN.md, "A home's day": a blocking action runs inside its caller's task, and Home Assistant
cancels or unloads around it. Each case here starts one action or button press and, while it
is still under way where it can be, does one lifecycle event to it:

- ``script_stopped``: the calling script is stopped with ``script.turn_off``;
- ``automation_restarted``: the calling automation (``mode: restart``) is triggered again, and
  the new run does nothing (so only the cancellation acts);
- ``entry_reloaded``: the toy's entry is reloaded (an options save, an update);
- ``ha_stopping``: Home Assistant stops (``EVENT_HOMEASSISTANT_STOP``, what closes the session).

with the toy ``connected``, ``asleep`` (put to sleep with its button) or ``out_of_range``
(``make_unreachable``: the link dropped, every connect refused), in both connection modes. "Under
way" is made long enough to be interrupted: over a link that is up the toy's answers take
``ANSWER_DELAY`` seconds; without one the connect takes ``CONNECT_DELAY`` seconds; a timed roll
lasts ``ROLL_SECONDS``. Everything runs in simulated time (``loop_clock``).

What every case checks, read from the simulator and from Home Assistant (docs/lifecycle.md
writes it out, cell by cell):

1. the toy is not left rolling, within ``STOP_WITHIN`` seconds of the event;
2. nothing is logged at ERROR by anyone (an exception escaping to the event loop is logged
   there too, and the harness fails the test on it), nor at WARNING by the integration;
3. a toy that was asleep is not connected to unless the action is use. Every action and button
   is use except *Sleep*: pressing Sleep on a sleeping toy must not connect (connecting wakes it).
   *Stop* (``bb8.stop`` and the button) is use, but a sleeping toy stands still, so it connects to
   nothing either and the toy sleeps on. Every other one may connect, and so wake it;
4. the caller ends: the script or automation run is over; a direct call returns, or fails with
   the translated *session closed* (never a traceback); a timed roll whose session closed returns;
5. a closed session (reload, stop) leaves nothing behind; the harness checks for tasks and
   timers left over too;
6. the entry still works afterwards where it is still loaded: with the toy back in reach, a
   light change succeeds;
7. the event came while the action ran, or (where it cannot be caught, e.g. Wake over a link)
   after it, as the case means (checked last, so a broken promise is reported as such first).

The few cases around the matrix pin the decisions the table relies on: a roll without a duration
whose script ends later keeps rolling (it was asked to), and closing stops a rolling toy even
when the toy's own stop-on-disconnect net is missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
import itertools
import logging
from pathlib import Path
import re
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, EVENT_HOMEASSISTANT_STOP, STATE_OFF
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bb8sim import SimulatedBB8
from bb8sim.protocol import DeviceId, SpheroCommand
from bb8sim.proxy import SimProxy
from custom_components.bb8.const import CONF_CONNECTION_MODE, DOMAIN, MODE_ALWAYS, MODE_ON_DEMAND
from custom_components.bb8.sphero.session import BB8Session, SessionState
from soak.chaos import classify_outcome, find_leaks

from .conftest import LoopClock, device_id_of, make_entry, make_unreachable, state_of, toy_is_set_up

BB8_LOGGER = "custom_components.bb8"
DOCS_TABLE = Path(__file__).parent.parent / "docs" / "lifecycle.md"

MAIN_LED = "light.bb_b54a_main_led"
SLEEP_BUTTON = "button.bb_b54a_sleep"
SCRIPT = "script.bb8_matrix"
AUTOMATION = "automation.bb8_matrix"
GO_EVENT = "bb8_matrix_go"

ANSWER_DELAY = 3.0
"""Seconds each answer takes while an action is under way over a link (the command timeout is 5 s)."""
CONNECT_DELAY = 3.0
"""Seconds a connect takes while an action is under way without a link (refused at the end when
the toy is out of range)."""
ROLL_SECONDS = 8
"""A timed roll's duration; each event comes one second into it."""
STOP_WITHIN = 1.0
"""Simulated seconds after the event within which a rolling toy has stopped."""
SETTLE = 10.0
"""Simulated seconds the case lets pass after the event before it checks what stays."""
BUSY_STEP = 0.05
"""The clock's step while commands are queued (shorter than the pacing interval)."""
IDLE_STEP = 1.0
"""The clock's step while nothing is on its way."""

EVENTS = ("script_stopped", "automation_restarted", "entry_reloaded", "ha_stopping")
STATES = ("connected", "asleep", "out_of_range")
MODES = {"always": MODE_ALWAYS, "on_demand": MODE_ON_DEMAND}


@dataclass(frozen=True)
class Action:
    """One action or button: how to call it, and what shows it is under way."""

    key: str
    service: str
    """``domain.service``."""
    data: Callable[[str], dict[str, Any]]
    """The call's data, given the toy's device id."""
    command: str | None
    """The toy's command whose arrival shows the action is under way over a link (None: the
    action writes no command, so it cannot be caught waiting for an answer)."""
    use: bool = True
    """Whether it may connect to (and so wake) a sleeping toy."""
    stops: bool = False
    """Whether it is a stop: the toy is made to roll first, so there is something to stop."""
    keeps_asleep: bool = False
    """Whether a sleeping toy that stands still is left asleep: nothing connects (a stop)."""

    def call(self, hass: HomeAssistant, device_id: str) -> tuple[str, str, dict[str, Any]]:
        """Return (domain, service, data) for ``hass.services.async_call``."""
        domain, service = self.service.split(".")
        return domain, service, self.data(device_id)

    def step(self, device_id: str) -> dict[str, Any]:
        """Return the action as a script step."""
        return {"action": self.service, "data": self.data(device_id)}


def _button(key: str, command: str | None, **flags: bool) -> Action:
    entity_id = f"button.bb_b54a_{key}"
    return Action(
        f"button_{key}", "button.press", lambda _device: {ATTR_ENTITY_ID: entity_id}, command, **flags
    )


ACTIONS: dict[str, Action] = {
    action.key: action
    for action in (
        Action(
            "roll_timed",
            "bb8.roll",
            lambda device: {"device_id": device, "heading": 90, "speed": 120, "duration": ROLL_SECONDS},
            "roll",
        ),
        Action("roll", "bb8.roll", lambda device: {"device_id": device, "heading": 90, "speed": 120}, "roll"),
        Action(
            "stop", "bb8.stop", lambda device: {"device_id": device}, "roll", stops=True, keeps_asleep=True
        ),
        Action(
            "set_heading",
            "bb8.set_heading",
            lambda device: {"device_id": device, "heading": 45},
            "set_heading",
        ),
        Action("aim", "bb8.aim", lambda device: {"device_id": device, "heading": 45}, "set_back_led"),
        _button("wake", None),
        _button("sleep", "sleep", use=False),
        _button("stop", "roll", stops=True, keeps_asleep=True),
        _button("reset_heading", "set_heading"),
        _button("center_head", "self_level"),
        _button("reset_position", "configure_locator"),
    )
}


def expected_under_way(action: Action, state: str, mode: str) -> bool:
    """Whether the action is still running when the event comes (else the event comes after it).

    Over a link every action waits for its answer, except Wake (a GATT write, no command); Sleep
    too (the toy sleeps on receipt, and news of the dropped link comes after the answer). Without
    a link every action connects first, except Sleep where the toy is taken to be asleep: asleep,
    and out of range when always connected (sleep with no link marks it asleep, connects nothing).
    On demand an out-of-range toy was awake when it went, so Sleep connects to put it to sleep.
    Stop on a sleeping toy has nothing to do (it stands still) and returns at once.
    """
    if state == "connected":
        return action.command is not None
    if action.keeps_asleep and state == "asleep":
        return False
    if action.key == "button_sleep":
        return state == "out_of_range" and mode == "on_demand"
    return True


# ------------------------------------------------------------------------------------------ a case


@dataclass
class Case:
    """One cell of the matrix being run: Home Assistant, the toy and the caller under test."""

    hass: HomeAssistant
    toy: SimulatedBB8
    proxy: SimProxy
    clock: LoopClock
    entry: MockConfigEntry
    action: Action
    call_task: asyncio.Task[None] | None = None
    call_error: BaseException | None = None
    then: list[dict[str, Any]] = field(default_factory=list)
    """Steps the script or automation runs after the action."""
    sessions: list[BB8Session] = field(default_factory=list)

    @property
    def session(self) -> BB8Session:
        return self.entry.runtime_data.session

    @property
    def device_id(self) -> str:
        return device_id_of(self.hass, self.entry)

    async def run(self, awaitable: Any, limit: float = 30.0, step: float = 0.1) -> None:
        """Await ``awaitable`` as a task while simulated time passes (a call, a press, a reload)."""
        task = self.hass.async_create_task(awaitable)
        await self.clock.advance_until(task.done, limit=limit, step=step)
        await task

    async def set_colour(self, rgb: tuple[int, int, int]) -> None:
        await self.run(
            self.hass.services.async_call(
                "light", "turn_on", {ATTR_ENTITY_ID: MAIN_LED, "rgb_color": list(rgb)}, blocking=True
            )
        )

    async def let_time_pass(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass, finely while commands are on their way.

        The pipeline writes one command per pacing interval (60 ms), and the clock jumps a step
        at a time: a step longer than that would starve queued commands past their timeout, which
        only happens in a test. So the step is short while anything is queued or connecting.
        """
        end = self.clock.elapsed + seconds
        while (remaining := end - self.clock.elapsed) > 1e-9:
            session = self.session if self.entry.state is ConfigEntryState.LOADED else None
            busy = session is not None and (
                session.pending_commands > 0 or session.state is SessionState.CONNECTING
            )
            await self.clock.advance(min(remaining, BUSY_STEP if busy else IDLE_STEP))

    async def back_in_reach(self) -> None:
        """The toy answers again; a connect already under way (refused as it began) ends first.

        A use joins a connect under way rather than starting its own, so a light change made
        while the reconnect loop's refused attempt is still in the air fails with that attempt.
        """
        self.toy.faults.clear()
        await self.clock.advance_until(
            lambda: self.session.state is not SessionState.CONNECTING, limit=60, step=BUSY_STEP
        )

    async def wait_set_up(self) -> None:
        await self.clock.advance_until(toy_is_set_up(self.entry, self.toy), limit=10, step=0.1)

    # -- the caller ----------------------------------------------------------------------------

    async def prepare_caller(self, event: str) -> None:
        """Set up what calls the action: a script, an automation, or nothing (a direct call)."""
        if event == "script_stopped":
            assert await async_setup_component(
                self.hass,
                "script",
                {"script": {"bb8_matrix": {"sequence": [self.action.step(self.device_id), *self.then]}}},
            )
        elif event == "automation_restarted":
            assert await async_setup_component(
                self.hass,
                "automation",
                {
                    "automation": {
                        "id": "bb8_matrix",
                        "alias": "BB8 matrix",
                        "mode": "restart",
                        "triggers": [{"trigger": "event", "event_type": GO_EVENT}],
                        "actions": [
                            {"condition": "template", "value_template": "{{ trigger.event.data.act }}"},
                            self.action.step(self.device_id),
                            *self.then,
                        ],
                    }
                },
            )
        await self.hass.async_block_till_done()

    def start(self, event: str) -> None:
        """Start the action the way ``event``'s caller does."""
        if event == "script_stopped":
            self.hass.async_create_task(
                self.hass.services.async_call("script", "turn_on", {ATTR_ENTITY_ID: SCRIPT})
            )
        elif event == "automation_restarted":
            self.hass.bus.async_fire(GO_EVENT, {"act": True})
        else:
            domain, service, data = self.action.call(self.hass, self.device_id)

            async def _call() -> None:
                try:
                    await self.hass.services.async_call(domain, service, data, blocking=True)
                except HomeAssistantError as err:
                    self.call_error = err

            self.call_task = self.hass.async_create_task(_call())

    def caller_running(self, event: str) -> bool:
        """Whether the caller is still in the action."""
        if event == "script_stopped":
            return state_of(self.hass, SCRIPT).state != STATE_OFF
        if event == "automation_restarted":
            return bool(state_of(self.hass, AUTOMATION).attributes.get("current"))
        assert self.call_task is not None
        return not self.call_task.done()

    async def lifecycle_event(self, event: str) -> None:
        """Do ``event`` to the running action, and wait (in simulated time) until it is done."""
        self.sessions.append(self.session)
        if event == "script_stopped":
            await self.run(
                self.hass.services.async_call("script", "turn_off", {ATTR_ENTITY_ID: SCRIPT}, blocking=True)
            )
        elif event == "automation_restarted":
            self.hass.bus.async_fire(GO_EVENT, {"act": False})
            await self.clock.advance_until(lambda: not self.caller_running(event), limit=5, step=0.05)
        elif event == "entry_reloaded":
            await self.run(self.hass.config_entries.async_reload(self.entry.entry_id))
            self.sessions.append(self.session)
        else:
            self.hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
            await self.clock.advance_until(lambda: self.sessions[0].closed, limit=5, step=0.05)


# --------------------------------------------------------------------------------- arranging


async def arrange(case: Case, event: str, state: str, mode: str) -> None:
    """Set the toy up (the entry in ``mode``), prepare ``event``'s caller, bring the toy into ``state``.

    The caller is prepared first: setting up the script or automation component lets simulated
    time pass while the loop waits for it, and the toy's state is to be fresh when the action starts.
    """
    hass, toy = case.hass, case.toy
    assert await hass.config_entries.async_setup(case.entry.entry_id)
    await hass.async_block_till_done()
    if mode == "on_demand":
        await case.set_colour((1, 2, 3))  # a use makes the link
    await case.wait_set_up()
    await case.prepare_caller(event)
    if state == "asleep":
        await case.run(
            hass.services.async_call("button", "press", {ATTR_ENTITY_ID: SLEEP_BUTTON}, blocking=True)
        )
        await case.clock.advance_until(
            lambda: not toy.connected and case.session.toy.asleep, limit=5, step=0.1
        )
        assert toy.asleep
    elif state == "out_of_range":
        await make_unreachable(case.entry, toy)
        if mode == "always":
            # Caught as its second wait begins (about 4 s): the action's connect, not one of the
            # loop's own refused tries already under way (which a use would join), is the one cut.
            counters = case.session.counters
            await case.clock.advance_until(lambda: counters.reconnect_attempts >= 2, limit=30, step=0.1)
            assert case.session.state is not SessionState.CONNECTING


async def bring_under_way(case: Case, event: str, state: str) -> None:
    """Start the action and let it get under way: waiting for its answer, connecting, rolling."""
    toy, action = case.toy, case.action
    if action.stops and state == "connected":
        # Something to stop: the toy rolls (as a plain roll left it).
        domain, service, data = ACTIONS["roll"].call(case.hass, case.device_id)
        await case.run(case.hass.services.async_call(domain, service, data, blocking=True))
        assert toy.rolling
    if state == "connected":
        if action.key != "roll_timed":
            toy.faults.response_delay = ANSWER_DELAY
    else:
        toy.faults.connect_latency = CONNECT_DELAY
    before = toy.command_counts[action.command] if action.command else 0
    case.start(event)
    if state == "connected" and action.key == "roll_timed":
        await case.clock.advance_until(lambda: toy.rolling, limit=5, step=0.1)
        await case.clock.advance(1.0, step=0.25)
    elif state == "connected" and action.command is not None:
        await case.clock.advance_until(lambda: toy.command_counts[action.command] > before, limit=5, step=0.1)
    else:
        await case.clock.advance(1.0, step=0.25)


THIRD_PARTY_NOISE = (
    # bleak-retry-connector 4.x (the current leg) stops BlueZ discovery before it connects and
    # logs at ERROR when there is no BlueZ to ask; the test host has none, a Home Assistant has.
    ("bleak_retry_connector.bluez", "Failed to stop discovery for "),
)
"""(logger, message start) of ERROR lines that are about the test host, named one by one."""


def loud_records(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Records at ERROR from anyone, and at WARNING from the integration, in this test so far."""
    return [
        f"{record.levelname} {record.name}: {record.getMessage()}"
        for phase in ("setup", "call")
        for record in caplog.get_records(phase)
        if (record.levelno >= logging.ERROR and not is_third_party_noise(record))
        or (record.levelno >= logging.WARNING and record.name.startswith(BB8_LOGGER))
    ]


def is_third_party_noise(record: logging.LogRecord) -> bool:
    return any(
        record.name == logger and record.getMessage().startswith(start) for logger, start in THIRD_PARTY_NOISE
    )


# ------------------------------------------------------------------------------------ the matrix


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("event", EVENTS)
@pytest.mark.parametrize("action_key", list(ACTIONS))
async def test_lifecycle(
    hass: HomeAssistant,
    proxy: SimProxy,
    toy: SimulatedBB8,
    loop_clock: LoopClock,
    caplog: pytest.LogCaptureFixture,
    action_key: str,
    event: str,
    state: str,
    mode: str,
) -> None:
    """``action_key`` cut short by ``event`` with the toy ``state`` in ``mode``: the promises hold."""
    action = ACTIONS[action_key]
    entry = make_entry(toy, **{CONF_CONNECTION_MODE: MODES[mode]})
    entry.add_to_hass(hass)
    case = Case(hass, toy, proxy, loop_clock, entry, action)
    await arrange(case, event, state, mode)
    was_asleep = toy.asleep
    connects = toy.connect_count

    await bring_under_way(case, event, state)
    under_way = case.caller_running(event)
    await case.lifecycle_event(event)

    # 1. Not left rolling.
    await case.let_time_pass(STOP_WITHIN)
    assert not toy.rolling, "the toy rolls on after its caller was cut short"
    toy.faults.response_delay = toy.faults.connect_latency = 0.0  # out of range stays so
    await case.let_time_pass(SETTLE)
    assert not toy.rolling
    # 2. Nothing at ERROR (nothing escaped to the event loop), no warning from the integration.
    assert loud_records(caplog) == []
    # 3. Only use wakes a sleeping toy: Sleep connects nothing, and what it put to sleep sleeps on;
    # nor does Stop, which has nothing to stop on a sleeping toy.
    if not action.use:
        assert toy.connect_count == connects, "Sleep connected to the toy (connecting wakes it)"
        if was_asleep or state == "connected":
            assert toy.asleep
    if action.keeps_asleep and was_asleep:
        assert toy.connect_count == connects, "Stop connected to the sleeping toy (connecting wakes it)"
        assert toy.asleep
    # 4. The caller has ended, and a direct call ended well or with a sentence.
    assert not case.caller_running(event)
    if case.call_task is not None:
        name, _acceptable = classify_outcome(case.call_error)
        assert name in ("completed", "session_closed"), "ended, or failed saying the toy's session closed"
        if action.key == "roll_timed" and state == "connected":
            assert case.call_error is None, "a timed roll whose session closed returns (the toy stopped)"
    # 5. A closed session leaves nothing behind.
    if event == "entry_reloaded":
        old, new = case.sessions
        left = (old.state, old.toy.listener_count, old.pending_commands, old.diagnostics()["timers"])
        assert left == (SessionState.CLOSED, 0, 0, []), "(state, listeners, pending commands, timers)"
        assert new is not old
        assert not new.closed
    if event == "ha_stopping":
        leaks = [
            line
            for line in find_leaks(hass, session=case.sessions[0], proxy=proxy, toy=toy)
            if "Bluetooth" not in line
        ]
        assert leaks == []
        assert_caught_where_meant(under_way, action, state, mode)
        return
    # 6. The entry still works (the toy back in reach).
    assert entry.state is ConfigEntryState.LOADED
    await case.back_in_reach()
    await case.set_colour((0, 200, 0))
    assert toy.main_led == (0, 200, 0)
    assert_caught_where_meant(under_way, action, state, mode)


def assert_caught_where_meant(under_way: bool, action: Action, state: str, mode: str) -> None:
    """The case tested what it means to: the event came while the action ran, or after it (checked
    last, so that a broken promise is reported as such first)."""
    assert under_way is expected_under_way(action, state, mode), (
        f"the event came {'while' if under_way else 'after'} the action ran; "
        f"this case means to catch it {'after' if under_way else 'while it runs'}"
    )


# ------------------------------------------------------------------ the decisions around the matrix


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("event", ["script_stopped", "automation_restarted"])
async def test_a_roll_without_duration_keeps_rolling_when_its_caller_is_stopped_after_it_returned(
    hass: HomeAssistant,
    proxy: SimProxy,
    toy: SimulatedBB8,
    loop_clock: LoopClock,
    caplog: pytest.LogCaptureFixture,
    event: str,
    mode: str,
) -> None:
    """A roll without a duration is a standing order: stopping the script later does not undo it.

    Stopping a script cancels what it is doing now, as with any of Home Assistant's actions (a
    light turned on by an earlier step stays on). The roll's call returned long ago; the script is
    in its next step (a 30 s delay). A script that wants the roll to end gives it a duration, or
    calls ``bb8.stop``; a reload or Home Assistant stopping still stops the toy (the matrix's
    ``roll-entry_reloaded-*`` and ``roll-ha_stopping-*`` cases).
    """
    entry = make_entry(toy, **{CONF_CONNECTION_MODE: MODES[mode]})
    entry.add_to_hass(hass)
    case = Case(hass, toy, proxy, loop_clock, entry, ACTIONS["roll"], then=[{"delay": {"seconds": 30}}])
    await arrange(case, event, "connected", mode)
    case.start(event)
    await loop_clock.advance_until(lambda: toy.rolling, limit=5, step=0.1)
    await case.let_time_pass(1.0)  # the roll's answer is back: the script waits in its delay
    assert case.caller_running(event)
    await case.lifecycle_event(event)
    await case.let_time_pass(SETTLE)
    assert not case.caller_running(event)
    assert toy.rolling, "the roll was asked to go on until a stop"
    assert (toy.speed, toy.heading) == (120, 90)
    assert toy.connected, "on demand too: a rolling toy is in use, its link stays"
    assert loud_records(caplog) == []
    await case.run(hass.services.async_call(DOMAIN, "stop", {"device_id": case.device_id}, blocking=True))
    assert not toy.rolling


@pytest.mark.parametrize("roll", ["roll", "roll_timed"])
@pytest.mark.parametrize("event", ["entry_reloaded", "ha_stopping"])
async def test_closing_stops_a_rolling_toy_that_has_no_stop_on_disconnect(
    hass: HomeAssistant,
    proxy: SimProxy,
    toy: SimulatedBB8,
    loop_clock: LoopClock,
    caplog: pytest.LogCaptureFixture,
    event: str,
    roll: str,
) -> None:
    """Closing the session stops a rolling toy itself, not only through the toy's own net.

    The toy's "stop on disconnect" (set after every connect) stops it when the link closes; a
    link set up too recently for that option, or a toy that refused it, has no such net. Here the
    toy refuses the option, so only the session's own stop on closing can stop it.
    """
    entry = make_entry(toy)
    entry.add_to_hass(hass)
    case = Case(hass, toy, proxy, loop_clock, entry, ACTIONS[roll])
    with toy.refusing(DeviceId.SPHERO, SpheroCommand.SET_TEMPORARY_OPTIONS, 0x01):
        await arrange(case, event, "connected", "always")
    assert not toy.stop_on_disconnect
    case.start(event)
    await loop_clock.advance_until(lambda: toy.rolling, limit=5, step=0.1)
    await case.let_time_pass(1.0)
    await case.lifecycle_event(event)
    await case.let_time_pass(STOP_WITHIN)
    assert not toy.rolling, "the toy rolls on: closing left it to a net it does not have"
    rolls = [record for record in toy.commands_received if record.kind == "roll"]
    assert rolls[-1].data[3] == 0, "the last roll the toy took is a stop (roll mode 0)"
    await case.let_time_pass(SETTLE)
    assert not toy.rolling
    assert case.call_error is None
    errors = [line for line in loud_records(caplog) if not line.startswith("WARNING")]
    assert errors == []  # the refused option itself is a warning, which is right


# ---------------------------------------------------------------------------- the table's names


def test_the_lifecycle_table_names_every_case_and_only_tests_that_exist() -> None:
    """docs/lifecycle.md names tests by pytest id; each must exist here, and each case be named.

    ``{action}`` in a name stands for every action and button key (the table's legend).
    """
    text = DOCS_TABLE.read_text(encoding="utf-8")
    named: set[str] = set()
    for token in re.findall(r"`(test_\w+(?:\[[^\]`]*\])?)`", text):
        if "{action}" in token:
            named.update(token.replace("{action}", key) for key in ACTIONS)
        else:
            named.add(token)
    existing = existing_test_ids()
    assert sorted(named - existing) == [], "the table names tests that do not exist"
    cases = {test_id for test_id in existing if "[" in test_id}
    assert sorted(cases - named) == [], "cases the table does not name"
    functions = {test_id for test_id in existing if "[" not in test_id}
    assert sorted(name for name in functions if not any(n.split("[")[0] == name for n in named)) == []


def existing_test_ids() -> set[str]:
    """Every test function's name and, for a parametrized one, every pytest id it runs under.

    pytest joins the values of stacked ``parametrize`` marks innermost first (the mark nearest the
    function comes first), which is the order the marks are stored in.
    """
    ids: set[str] = set()
    for name, function in globals().items():
        if not name.startswith("test_") or not callable(function):
            continue
        ids.add(name)
        marks = [mark for mark in getattr(function, "pytestmark", []) if mark.name == "parametrize"]
        if marks:
            for values in itertools.product(*(mark.args[1] for mark in marks)):
                ids.add(f"{name}[{'-'.join(values)}]")
    return ids
