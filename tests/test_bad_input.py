"""Bad input from people and from the toy: a clear error, or ignored with a log line; nothing changes.

People: option values the options flow must refuse, and action fields of the wrong type or
value (test_services.py covers the actions' ranges, missing fields, unknown devices and devices
of other integrations; here are the types and special values it does not).
The toy: answers with error codes, truncated answers, answers to the wrong SEQ, malformed
answers and notifications. After each, the toy's state, every entity's state and the session's
wishes are what they were, and the link keeps working.
"""

from __future__ import annotations

from collections.abc import Coroutine
from datetime import timedelta
import logging
import math
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
import voluptuous as vol

from bb8sim import SimulatedBB8
from custom_components.bb8.const import (
    CONF_CONNECTION_MODE,
    CONF_IDLE_TIMEOUT,
    CONF_POLL_INTERVAL,
    CONF_RECONNECT_MAX_ATTEMPTS,
    CONF_RECONNECT_MAX_DELAY,
    DOMAIN,
    SERVICE_ROLL,
    SERVICE_SET_HEADING,
)
from custom_components.bb8.sphero.const import AsyncId, CoreCommand, DeviceId, SpheroCommand
from custom_components.bb8.sphero.protocol import AsyncPacket, Response
from custom_components.bb8.sphero.session import PARTIAL_PACKET_TIMEOUT, BB8Session
from soak.chaos import Targets, power_state_payload, toy_answers_with

from .conftest import wait_for

GOOD_OPTIONS: dict[str, Any] = {
    CONF_CONNECTION_MODE: "always",
    CONF_IDLE_TIMEOUT: 120,
    CONF_POLL_INTERVAL: 60,
    CONF_RECONNECT_MAX_DELAY: 300,
    CONF_RECONNECT_MAX_ATTEMPTS: 0,
}
QUICK_TIMEOUT = 0.5
"""The live session's command timeout in these tests (its public knob; production uses 5 s)."""


# ---------------------------------------------------------------------------------------------
# Helpers: what "nothing changed" means
# ---------------------------------------------------------------------------------------------


def toy_state(toy: SimulatedBB8) -> dict[str, Any]:
    """What a person could see or feel of the toy."""
    return {
        "main_led": toy.main_led,
        "back_led": toy.back_led,
        "stabilization": toy.stabilization,
        "heading": toy.heading,
        "speed": toy.speed,
        "awake": toy.awake,
        "persisted_led": toy.persisted_led,
    }


def entity_states(hass: HomeAssistant) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every bb8 entity's state and attributes.

    Buttons are left out: Home Assistant sets a button's state to the time of its last press
    before the press runs, whatever comes of it.
    """
    states: dict[str, tuple[str, dict[str, Any]]] = {}
    for entry in er.async_get(hass).entities.values():
        if entry.platform != DOMAIN or entry.domain == "button":
            continue
        if (state := hass.states.get(entry.entity_id)) is not None:
            states[entry.entity_id] = (state.state, dict(state.attributes))
    return states


class Unchanged:
    """Snapshot the toy, the entities and the session's wishes; :meth:`check` compares."""

    def __init__(self, hass: HomeAssistant, toy: SimulatedBB8, session: BB8Session) -> None:
        self.hass, self.toy, self.session = hass, toy, session
        (self.coordinator,) = (
            entry.runtime_data
            for entry in hass.config_entries.async_entries(DOMAIN)
            if entry.state is ConfigEntryState.LOADED and entry.runtime_data.session is session
        )
        self.toy_before = toy_state(toy)
        self.entities_before = entity_states(hass)
        self.desired_before = session.diagnostics()["desired"]
        self.commands_before = len(toy.commands_received)

    def check(self, *, commands_sent: int | None = None) -> None:
        # Push a coordinator update so entities re-read the session: a withdrawn wish must not
        # reappear, and one that was never made must not show up.
        self.coordinator.async_update_listeners()
        assert toy_state(self.toy) == self.toy_before
        assert entity_states(self.hass) == self.entities_before
        assert self.session.diagnostics()["desired"] == self.desired_before
        if commands_sent is not None:
            assert len(self.toy.commands_received) - self.commands_before == commands_sent


@pytest.fixture
def session(ready_entry: MockConfigEntry) -> BB8Session:
    """The set-up toy's live session, with a short command timeout."""
    live: BB8Session = ready_entry.runtime_data.session
    live.command_timeout = QUICK_TIMEOUT
    return live


@pytest.fixture
def targets(hass: HomeAssistant, ready_entry: MockConfigEntry, toy: SimulatedBB8) -> Targets:
    """Entity ids and the device id of the set-up toy."""
    return Targets.find(hass, toy.address)


async def colour_the_toy(hass: HomeAssistant, targets: Targets, session: BB8Session) -> None:
    """Give every re-applied slot a known wish first (main LED on, tail on, stabilization off)."""
    await hass.services.async_call(
        "light",
        "turn_on",
        {"entity_id": targets.main_led, "rgb_color": [255, 0, 0], "brightness": 100},
        blocking=True,
    )
    await hass.services.async_call(
        "light", "turn_on", {"entity_id": targets.tail_light, "brightness": 50}, blocking=True
    )
    await hass.services.async_call("switch", "turn_off", {"entity_id": targets.stabilization}, blocking=True)
    await wait_for(lambda: session.pending_commands == 0)


@pytest.fixture
async def unchanged(
    hass: HomeAssistant, toy: SimulatedBB8, session: BB8Session, targets: Targets
) -> Unchanged:
    """The toy given a known wish in every re-applied slot, then snapshotted (see ``Unchanged``).

    Known wishes first, so a change back to a default colour or state would show too.
    """
    await colour_the_toy(hass, targets, session)
    return Unchanged(hass, toy, session)


# ---------------------------------------------------------------------------------------------
# The options flow
# ---------------------------------------------------------------------------------------------


BAD_OPTIONS: list[tuple[str, Any]] = [
    (CONF_CONNECTION_MODE, "sometimes"),
    (CONF_CONNECTION_MODE, 1),
    (CONF_IDLE_TIMEOUT, 9),
    (CONF_IDLE_TIMEOUT, 3601),
    (CONF_IDLE_TIMEOUT, -120),
    (CONF_IDLE_TIMEOUT, "two minutes"),
    (CONF_IDLE_TIMEOUT, "inf"),
    (CONF_IDLE_TIMEOUT, None),
    (CONF_POLL_INTERVAL, 0),
    (CONF_POLL_INTERVAL, 9.5),
    (CONF_POLL_INTERVAL, 10**9),
    (CONF_POLL_INTERVAL, [60]),
    (CONF_RECONNECT_MAX_DELAY, 4),
    (CONF_RECONNECT_MAX_DELAY, 3600.5),
    (CONF_RECONNECT_MAX_DELAY, True),
    (CONF_RECONNECT_MAX_ATTEMPTS, -1),
    (CONF_RECONNECT_MAX_ATTEMPTS, 1001),
    (CONF_RECONNECT_MAX_ATTEMPTS, float("inf")),
    (CONF_RECONNECT_MAX_ATTEMPTS, {"attempts": 3}),
    ("colour", "red"),
]


async def test_options_out_of_range_or_of_the_wrong_type_are_refused(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    session = ready_entry.runtime_data.session
    options_before = dict(ready_entry.options)
    connects_before = toy.connect_count
    for key, value in BAD_OPTIONS:
        result = await hass.config_entries.options.async_init(ready_entry.entry_id)
        with pytest.raises(InvalidData):
            await hass.config_entries.options.async_configure(result["flow_id"], {**GOOD_OPTIONS, key: value})
        hass.config_entries.options.async_abort(result["flow_id"])
        await hass.async_block_till_done()
        assert dict(ready_entry.options) == options_before, (key, value)
        assert ready_entry.runtime_data.session is session, f"{key}={value!r} reloaded the entry"
    assert session.is_connected
    assert toy.connect_count == connects_before


async def test_options_left_out_keep_their_current_value(
    hass: HomeAssistant, ready_entry: MockConfigEntry
) -> None:
    """A value left out takes the form's default, the current option (the frontend sends it so)."""
    for key in (CONF_IDLE_TIMEOUT, CONF_POLL_INTERVAL, CONF_RECONNECT_MAX_DELAY, CONF_RECONNECT_MAX_ATTEMPTS):
        result = await hass.config_entries.options.async_init(ready_entry.entry_id)
        partial = {k: v for k, v in GOOD_OPTIONS.items() if k != key}
        result = await hass.config_entries.options.async_configure(result["flow_id"], partial)
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["data"][key] == GOOD_OPTIONS[key], key
        await hass.async_block_till_done()


async def test_options_nan_is_refused_like_any_other_bad_number(
    hass: HomeAssistant, ready_entry: MockConfigEntry
) -> None:
    before = dict(ready_entry.options)
    result = await hass.config_entries.options.async_init(ready_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**GOOD_OPTIONS, CONF_IDLE_TIMEOUT: "nan"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_number"}
    assert dict(ready_entry.options) == before


# ---------------------------------------------------------------------------------------------
# Action fields test_services.py does not try
# ---------------------------------------------------------------------------------------------


BAD_FIELDS: list[tuple[str, dict[str, Any]]] = [
    (SERVICE_ROLL, {"heading": 0, "speed": 10, "duration": "nan"}),
    (SERVICE_ROLL, {"heading": 0, "speed": 10, "duration": math.nan}),
    (SERVICE_ROLL, {"heading": 0, "speed": 10, "duration": "inf"}),
    (SERVICE_ROLL, {"heading": 0, "speed": 10, "duration": -1}),
    (SERVICE_ROLL, {"heading": "nan", "speed": 10}),
    (SERVICE_ROLL, {"heading": [90], "speed": 10}),
    (SERVICE_ROLL, {"heading": {"degrees": 90}, "speed": 10}),
    (SERVICE_ROLL, {"heading": "12 o'clock", "speed": 10}),
    (SERVICE_ROLL, {"heading": "90.5", "speed": 10}),
    (SERVICE_ROLL, {"heading": 0, "speed": None}),
    (SERVICE_SET_HEADING, {"heading": "-0x10"}),
    (SERVICE_SET_HEADING, {"heading": 1e10}),
]


async def test_action_fields_of_the_wrong_type_change_nothing(
    hass: HomeAssistant, targets: Targets, unchanged: Unchanged
) -> None:
    for service, fields in BAD_FIELDS:
        with pytest.raises(vol.Invalid):
            await hass.services.async_call(
                DOMAIN, service, {"device_id": targets.device_id, **fields}, blocking=True
            )
    unchanged.check(commands_sent=0)


@pytest.mark.parametrize("fields", [{"heading": 0, "speed": math.inf}, {"heading": -math.inf, "speed": 1}])
async def test_action_infinity_is_refused_like_any_other_bad_number(
    hass: HomeAssistant, toy: SimulatedBB8, session: BB8Session, targets: Targets, fields: dict[str, Any]
) -> None:
    with pytest.raises(vol.Invalid):
        await hass.services.async_call(
            DOMAIN, SERVICE_ROLL, {"device_id": targets.device_id, **fields}, blocking=True
        )


async def test_action_device_ids_that_name_nothing_change_nothing(
    hass: HomeAssistant, unchanged: Unchanged
) -> None:
    for device_id in ["", " ", "../..", "x" * 1000, 12345]:
        with pytest.raises(ServiceValidationError) as caught:
            await hass.services.async_call(
                DOMAIN, SERVICE_SET_HEADING, {"device_id": device_id, "heading": 9}, blocking=True
            )
        assert caught.value.translation_key == "unknown_device", device_id
    unchanged.check(commands_sent=0)


async def test_an_entity_id_where_a_device_id_belongs_is_refused(
    hass: HomeAssistant, targets: Targets, unchanged: Unchanged
) -> None:
    with pytest.raises(ServiceValidationError) as caught:
        await hass.services.async_call(
            DOMAIN, SERVICE_ROLL, {"device_id": targets.main_led, "heading": 9, "speed": 9}, blocking=True
        )
    assert caught.value.translation_key == "unknown_device"
    unchanged.check(commands_sent=0)


# ---------------------------------------------------------------------------------------------
# A toy that answers with error codes
# ---------------------------------------------------------------------------------------------

REFUSALS = [0x01, 0x05, 0x07, 0x08, 0x31, 0xEE]
"""Non-specific, unsupported, bad parameter, failed to execute, voltage too low, and a code the
spec does not know."""


REFUSED_CALLS: dict[str, tuple[int, str, str, str, dict[str, Any]]] = {
    "main LED on": (
        SpheroCommand.SET_MAIN_LED,
        "light",
        "turn_on",
        "main_led",
        {"rgb_color": [0, 0, 255], "brightness": 200},
    ),
    "main LED off": (SpheroCommand.SET_MAIN_LED, "light", "turn_off", "main_led", {}),
    "tail light on": (SpheroCommand.SET_BACK_LED, "light", "turn_on", "tail_light", {"brightness": 255}),
    "tail light off": (SpheroCommand.SET_BACK_LED, "light", "turn_off", "tail_light", {}),
    "stabilization on": (SpheroCommand.SET_STABILIZATION, "switch", "turn_on", "stabilization", {}),
    "reset heading": (SpheroCommand.SET_HEADING, "button", "press", "reset_heading", {}),
}


REFUSAL_CASES = [
    *((name, 0x07) for name in REFUSED_CALLS),
    *(("main LED on", code) for code in REFUSALS if code != 0x07),
]


async def test_a_refused_command_gives_its_code_and_changes_nothing(
    hass: HomeAssistant, toy: SimulatedBB8, session: BB8Session, targets: Targets
) -> None:
    await colour_the_toy(hass, targets, session)
    await set_heading(hass, targets, 45)
    for name, mrsp in REFUSAL_CASES:
        cid, domain, service, target, data = REFUSED_CALLS[name]
        unchanged = Unchanged(hass, toy, session)
        with toy_answers_with(toy, DeviceId.SPHERO, cid, mrsp), pytest.raises(HomeAssistantError) as caught:
            await hass.services.async_call(
                domain, service, {"entity_id": getattr(targets, target), **data}, blocking=True
            )
        # Which sentence (what the code means, what to try) is test_error_messages.py's promise.
        assert (caught.value.translation_key or "").startswith("command_rejected"), (name, mrsp)
        assert (caught.value.translation_placeholders or {}).get("code") == f"0x{mrsp:02x}"
        unchanged.check(commands_sent=1)


async def test_a_refused_wish_is_not_applied_after_a_reconnect_either(
    hass: HomeAssistant, toy: SimulatedBB8, session: BB8Session, targets: Targets, unchanged: Unchanged
) -> None:
    for name in ("main LED on", "tail light off", "stabilization on"):
        cid, domain, service, target, data = REFUSED_CALLS[name]
        with toy_answers_with(toy, DeviceId.SPHERO, cid, 0x08), pytest.raises(HomeAssistantError):
            await hass.services.async_call(
                domain, service, {"entity_id": getattr(targets, target), **data}, blocking=True
            )
    toy.disconnect_now()
    await wait_for(lambda: not session.is_connected)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=3))  # the reconnect delay
    await wait_for(lambda: toy_is_set_up_now(session, toy))
    unchanged.check()
    assert (toy.main_led, toy.back_led, toy.stabilization) == ((100, 0, 0), 50, False)


def toy_is_set_up_now(session: BB8Session, toy: SimulatedBB8) -> bool:
    return (
        session.is_set_up
        and session.pending_commands == 0
        and toy.connected
        and toy.collision_detection_enabled
    )


async def test_a_refused_power_poll_keeps_the_last_reading(
    toy: SimulatedBB8, ready_entry: MockConfigEntry, caplog: pytest.LogCaptureFixture, unchanged: Unchanged
) -> None:
    with toy_answers_with(toy, DeviceId.CORE, CoreCommand.GET_POWER_STATE, 0x08):
        await ready_entry.runtime_data.async_refresh()
    assert not ready_entry.runtime_data.last_update_success
    assert "Reading the battery failed" in caplog.text
    unchanged.check(commands_sent=1)
    assert ready_entry.state is ConfigEntryState.LOADED


# ---------------------------------------------------------------------------------------------
# A toy whose answers are truncated, malformed or carry the wrong SEQ
# ---------------------------------------------------------------------------------------------


def set_heading(hass: HomeAssistant, targets: Targets, degrees: int) -> Coroutine[Any, Any, Any]:
    """The ``bb8.set_heading`` action on the set-up toy: await it, or hand it to ``replace_next_answer``."""
    return hass.services.async_call(
        DOMAIN, SERVICE_SET_HEADING, {"device_id": targets.device_id, "heading": degrees}, blocking=True
    )


async def fails_with_timeout(task: Any) -> None:
    """The action ``task`` ends with Home Assistant's "the toy did not answer in time" error."""
    with pytest.raises(HomeAssistantError) as caught:
        await task
    assert caught.value.translation_key == "command_timeout"


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """``caplog``, recording the integration's messages from DEBUG up (where ignored input is logged)."""
    caplog.set_level(logging.DEBUG, logger="custom_components.bb8")
    return caplog


async def replace_next_answer(hass: HomeAssistant, toy: SimulatedBB8, call: Any, make: Any) -> Any:
    """Run ``call`` (a coroutine), lose the toy's own answer and send ``make(seq)`` instead."""
    toy.faults.drop_next_responses = 1
    count = len(toy.commands_received)
    task = hass.async_create_task(call)
    await wait_for(lambda: len(toy.commands_received) > count)
    seq = toy.commands_received[count].seq
    toy.inject_notification(make(seq), chunked=True)
    return task


async def test_a_truncated_answer_times_out_and_does_not_poison_the_next_one(
    hass: HomeAssistant,
    toy: SimulatedBB8,
    targets: Targets,
    unchanged: Unchanged,
    debug_log: pytest.LogCaptureFixture,
) -> None:
    # heading 0 is what the toy already has: the only effect would be the answer
    task = await replace_next_answer(
        hass, toy, set_heading(hass, targets, 0), lambda seq: Response(0, seq).encode()[:4]
    )
    await fails_with_timeout(task)
    unchanged.check()
    # The half answer is given up on; the next command's answer comes through.
    await set_heading(hass, targets, 0)
    assert "incomplete packet timed out" in debug_log.text or "dropped" in debug_log.text


MALFORMED: list[tuple[str, bytes]] = [
    ("power notification without a state", AsyncPacket(AsyncId.POWER_STATE, b"").encode()),
    ("power notification too long", AsyncPacket(AsyncId.POWER_STATE, b"\x01\x02").encode()),
    ("collision one byte short", AsyncPacket(AsyncId.COLLISION, bytes(15)).encode()),
    ("collision too long", AsyncPacket(AsyncId.COLLISION, bytes(40)).encode()),
    ("collision cut after its first notification", AsyncPacket(AsyncId.COLLISION, bytes(16)).encode()[:20]),
    ("power notification without checksum", AsyncPacket(AsyncId.POWER_STATE, b"\x01").encode()[:-1]),
    ("unknown async id", AsyncPacket(0x42, b"\x00" * 5).encode()),
    ("answer to a SEQ nobody sent", Response(0x00, 0x99, b"\x01\x02").encode()),
    ("refusal of a SEQ nobody sent", Response(0x07, 0x98).encode()),
    ("header claiming 200 bytes", bytes([0xFF, 0xFF, 0x00, 0x01, 0xC8, 0x00])),
    ("noise", b"\x00\xffgarbage\xfe\xff"),
]


async def test_a_malformed_notification_is_ignored_and_changes_nothing(
    hass: HomeAssistant,
    toy: SimulatedBB8,
    session: BB8Session,
    targets: Targets,
    ready_entry: MockConfigEntry,
    debug_log: pytest.LogCaptureFixture,
) -> None:
    session.command_timeout = PARTIAL_PACKET_TIMEOUT + 2.0  # a false start may hold the next answer that long
    await colour_the_toy(hass, targets, session)
    for name, frame in MALFORMED:
        debug_log.clear()
        unchanged = Unchanged(hass, toy, session)
        power_before = session.toy.power_state
        toy.inject_notification(frame, chunked=True)
        # The link still answers; the junk is ignored with a log line and changes nothing.
        await set_heading(hass, targets, 45)
        await set_heading(hass, targets, 0)
        unchanged.check()
        assert session.toy.power_state == power_before, name
        assert session.counters.commands_timed_out == 0, name
        assert "ignoring" in debug_log.text or "dropped" in debug_log.text, name
        assert not [r for r in debug_log.records if r.levelno >= logging.ERROR], name
    assert ready_entry.state is ConfigEntryState.LOADED


async def test_an_answer_to_the_wrong_seq_leaves_the_command_unanswered(
    hass: HomeAssistant,
    toy: SimulatedBB8,
    session: BB8Session,
    targets: Targets,
    unchanged: Unchanged,
    debug_log: pytest.LogCaptureFixture,
) -> None:
    unmatched = session.counters.unmatched_responses
    task = await replace_next_answer(
        hass, toy, set_heading(hass, targets, 0), lambda seq: Response(0, (seq + 100) & 0xFF).encode()
    )
    await fails_with_timeout(task)
    assert session.counters.unmatched_responses == unmatched + 1
    assert "ignoring a response to unknown SEQ" in debug_log.text
    unchanged.check(commands_sent=1)


async def test_a_duplicated_answer_is_ignored(
    hass: HomeAssistant, toy: SimulatedBB8, session: BB8Session, targets: Targets
) -> None:
    await colour_the_toy(hass, targets, session)
    unmatched = session.counters.unmatched_responses
    task = await replace_next_answer(
        hass, toy, set_heading(hass, targets, 0), lambda seq: Response(0, seq).encode() * 2
    )
    await task
    assert session.counters.unmatched_responses == unmatched + 1
    await wait_for(lambda: session.pending_commands == 0)


async def test_a_malformed_power_answer_keeps_the_last_reading(
    hass: HomeAssistant,
    toy: SimulatedBB8,
    ready_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    unchanged: Unchanged,
) -> None:
    coordinator = ready_entry.runtime_data
    refresh = coordinator.async_refresh()
    task = await replace_next_answer(
        hass, toy, refresh, lambda seq: Response(0, seq, power_state_payload(2, 790)[:5]).encode()
    )
    await task
    assert "ignoring a malformed get_power_state answer" in caplog.text
    unchanged.check(commands_sent=1)


async def test_a_false_start_delays_the_next_answer_by_the_partial_timeout_at_most(
    hass: HomeAssistant, toy: SimulatedBB8, session: BB8Session, targets: Targets
) -> None:
    """A false start right before a real answer delays it by at most the partial-packet timeout."""
    loop = hass.loop
    toy.inject_notification(bytes([0xFF, 0xFE, 0x07, 0x00, 0xF0]))
    started = loop.time()
    session.command_timeout = PARTIAL_PACKET_TIMEOUT + 2.0
    await set_heading(hass, targets, 7)
    assert loop.time() - started < PARTIAL_PACKET_TIMEOUT + 1.0
    assert toy.heading == 7
