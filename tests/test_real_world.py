"""The real world above one link: proxies that go away, restarts, and a toy's day.

Each scenario runs through Home Assistant's Bluetooth stack (registered remote scanners, the
manager's availability checks, its client wrapper and slot accounting) with the simulated proxy
and toy, for minutes or hours of simulated time. The event loop's clock, the toy's clock,
habluetooth's advertisement clock and Home Assistant's time-trigger clock all move together
(``world_clock``), so Bluetooth's "not heard for a while" and an automation's "at 18:00" happen
when the simulated time says, not when a test fires them.

How the simulated toy is heard: a BB-8 advertises while nobody holds a link to it and stays
silent while connected (so Home Assistant's Bluetooth stack calls a long-connected toy gone,
and the link keeps it available). A toy out of earshot (on a shelf far from every proxy) is
heard by nobody.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
import logging

from habluetooth.const import UNAVAILABLE_TRACK_SECONDS
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import restore_state
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_mock_load_restore_state_from_storage,
)

from bb8sim import SimulatedBB8
from bb8sim.proxy import SimProxy
from custom_components.bb8.const import CONF_RECONNECT_MAX_DELAY, DOMAIN, OPTION_DEFAULTS
from custom_components.bb8.sphero.models import SessionState
from soak.world import hear, simulated_now, simulated_world, start_the_day_at

from .conftest import LoopClock, from_session, set_up_toy, state_of, toy_is_set_up

DEFAULT_RECONNECT_MAX_DELAY = OPTION_DEFAULTS[CONF_RECONNECT_MAX_DELAY]

COORDINATOR_LOGGER = "custom_components.bb8.coordinator"
GONE = "is unavailable"
BACK = "is available again"

MAIN_LED = "light.bb_b54a_main_led"
TAIL_LIGHT = "light.bb_b54a_tail_light"
STABILIZATION = "switch.bb_b54a_stabilization"
# Entities that follow availability (the connected sensor stays, to show the link is down).
FOLLOWING = (MAIN_LED, TAIL_LIGHT, STABILIZATION, "sensor.bb_b54a_battery_estimate")

FIRST_DELAY = 2.0
"""The reconnect policy's first wait (README: "reconnects after 2 s"), before its ±20 % jitter."""
JITTER = 0.2
HANDSHAKE_ALLOWANCE = 1.0
"""Simulated time a connect, the handshake, the readiness ping and the paced setup may take."""

WISH_RGB = (255, 120, 0)
WISH_TAIL = 90


@pytest.fixture
async def world_clock(hass: HomeAssistant, loop_clock: LoopClock) -> AsyncIterator[LoopClock]:
    """Simulated time for Bluetooth and time triggers too, not only for the event loop's timers.

    See ``soak.world.simulated_world``: habluetooth's advertisement clock and Home Assistant's
    point-in-time tracking read the loop clock's simulated time (set up time triggers before
    simulated time passes).

    At the end, still in simulated time, work in flight is let finish and the toys' entries and
    the automations are stopped: a test that failed half-way would otherwise leave Home
    Assistant's shutdown waiting, in real time, for timers set hours ahead in simulated time.
    """
    with simulated_world(loop_clock):
        yield loop_clock
        await loop_clock.advance(10, 0.5)
        if hass.services.has_service("automation", "turn_off"):
            await hass.services.async_call("automation", "turn_off", {ATTR_ENTITY_ID: "all"}, blocking=True)
        for entry in hass.config_entries.async_entries(DOMAIN):
            if entry.state is ConfigEntryState.LOADED:
                await hass.config_entries.async_unload(entry.entry_id)
        await loop_clock.advance(2, 0.5)


async def pass_time(
    clock: LoopClock,
    seconds: float,
    *,
    step: float = 1.0,
    heard: Callable[[], None] | None = None,
    until: Callable[[], bool] | None = None,
) -> float:
    """Let ``seconds`` pass (or less, once ``until()`` holds); ``heard()`` runs after each step.

    Returns the simulated time that passed.
    """
    start = clock.elapsed
    while clock.elapsed - start < seconds - 1e-9:
        if until is not None and until():
            break
        await clock.advance(min(step, seconds - (clock.elapsed - start)), step)
        if heard is not None:
            heard()
    return clock.elapsed - start


def availability_logs(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(
        1 for record in caplog.records if record.name == COORDINATOR_LOGGER and text in record.getMessage()
    )


def errors_from_bb8(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{record.levelname} {record.name}: {record.getMessage()}"
        for record in caplog.records
        if record.name.startswith("custom_components.bb8") and record.levelno >= logging.ERROR
    ]


async def set_wishes(hass: HomeAssistant) -> None:
    """A person sets the main LED colour, the tail light and turns stabilization off."""
    await hass.services.async_call(
        "light",
        "turn_on",
        {ATTR_ENTITY_ID: MAIN_LED, "rgb_color": WISH_RGB, "brightness": 255},
        blocking=True,
    )
    await hass.services.async_call(
        "light", "turn_on", {ATTR_ENTITY_ID: TAIL_LIGHT, "brightness": WISH_TAIL}, blocking=True
    )
    await hass.services.async_call("switch", "turn_off", {ATTR_ENTITY_ID: STABILIZATION}, blocking=True)


def toy_shows_the_wishes(toy: SimulatedBB8) -> bool:
    return toy.main_led == WISH_RGB and toy.back_led == WISH_TAIL and toy.stabilization is False


def wishes_written_this_link(toy: SimulatedBB8) -> set[str]:
    return {record.kind for record in toy.commands_this_link} & {
        "set_main_led",
        "set_back_led",
        "set_stabilization",
    }


@pytest.fixture
async def wished_entry(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> MockConfigEntry:
    """``ready_entry`` once a person has set the wishes (``set_wishes``) and the toy shows them.

    Ask for it after ``world_clock`` so the wishes are set in simulated time.
    """
    await set_wishes(hass)
    assert toy_shows_the_wishes(toy)
    return ready_entry


@pytest.fixture
def info_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="custom_components.bb8")
    return caplog


# =============================================================================================
# 1. The proxy carrying the link goes away and comes back.
# =============================================================================================


async def test_proxy_away_five_minutes_toy_unavailable_logged_once_each_way_back_within_policy_bound_with_wishes(
    hass: HomeAssistant,
    proxy: SimProxy,
    toy: SimulatedBB8,
    world_clock: LoopClock,
    wished_entry: MockConfigEntry,
    info_logs: pytest.LogCaptureFixture,
) -> None:
    session = wished_entry.runtime_data.session
    assert proxy.slots_in_use == 1

    def heard() -> None:
        hear([toy], [proxy])

    await proxy.async_go_offline()
    assert not toy.connected
    assert not session.is_connected
    away_for = 330.0  # long enough to be called gone (about 195 s), shorter than its 600 s sleep time
    failures_before = session.counters.connect_failures

    # Home Assistant's Bluetooth stack calls the toy gone at its next availability check.
    gone_after = await pass_time(
        world_clock,
        away_for,
        heard=heard,
        until=lambda: state_of(hass, MAIN_LED).state == STATE_UNAVAILABLE,
    )
    assert gone_after <= UNAVAILABLE_TRACK_SECONDS + 1
    await pass_time(world_clock, away_for - gone_after, heard=heard)
    for entity_id in FOLLOWING:
        assert state_of(hass, entity_id).state == STATE_UNAVAILABLE, entity_id
    attempts_while_away = session.counters.connect_failures - failures_before
    # Always connected, "when nobody hears it, wait to hear it": the proxy was the only ear.
    assert attempts_while_away == 0, attempts_while_away
    assert toy.awake, "five minutes without commands: still within the toy's sleep time"

    # The proxy returns while the session waits out its backoff, not during an attempt it
    # started against the absent proxy (that one fails whenever it ends).
    await pass_time(
        world_clock,
        DEFAULT_RECONNECT_MAX_DELAY,
        step=0.5,
        until=lambda: session.state is not SessionState.CONNECTING,
    )
    assert session.state is not SessionState.CONNECTING
    proxy.async_come_back()
    heard()
    await hass.async_block_till_done()
    for entity_id in FOLLOWING:
        assert state_of(hass, entity_id).state != STATE_UNAVAILABLE, entity_id
    failures_at_return = session.counters.connect_failures
    back_after = await pass_time(
        world_clock,
        DEFAULT_RECONNECT_MAX_DELAY + HANDSHAKE_ALLOWANCE,
        step=0.5,
        heard=heard,
        until=lambda: toy_is_set_up(wished_entry, toy)() and toy_shows_the_wishes(toy),
    )
    assert toy_is_set_up(wished_entry, toy)()
    assert toy_shows_the_wishes(toy), "colour, tail light and stabilization written again after the connect"
    assert wishes_written_this_link(toy) == {"set_main_led", "set_back_led", "set_stabilization"}
    assert session.counters.connect_failures == failures_at_return, "the first attempt after the return works"
    assert back_after <= DEFAULT_RECONNECT_MAX_DELAY + HANDSHAKE_ALLOWANCE
    assert availability_logs(info_logs, GONE) == 1
    assert availability_logs(info_logs, BACK) == 1
    assert errors_from_bb8(info_logs) == []
    print(
        f"proxy away {away_for:.0f} s: unavailable after {gone_after:.0f} s, {attempts_while_away} "
        f"connect attempts while away, reconnected {back_after:.1f} s after the proxy returned"
    )


async def test_proxy_away_longer_than_the_toys_sleep_time_the_toy_is_left_asleep_until_used(
    hass: HomeAssistant,
    proxy: SimProxy,
    toy: SimulatedBB8,
    world_clock: LoopClock,
    wished_entry: MockConfigEntry,
) -> None:
    """Only use wakes a toy its inactivity timeout put to sleep, also one that slept out of reach."""
    session = wished_entry.runtime_data.session

    def heard() -> None:
        hear([toy], [proxy])

    await proxy.async_go_offline()
    await pass_time(world_clock, 900.0, heard=heard)
    assert toy.asleep, "fifteen minutes without commands: the toy fell asleep"
    proxy.async_come_back()
    heard()
    connects = toy.connect_count
    await pass_time(world_clock, 600.0, heard=heard)
    assert toy.connect_count == connects, "a reconnect woke a toy that fell asleep while out of reach"
    assert toy.asleep
    assert session.toy.asleep

    await set_wishes(hass)  # use: it connects, wakes the toy and shows what was asked
    assert toy.awake
    assert toy_shows_the_wishes(toy)


async def test_with_two_proxies_in_range_the_link_moves_to_the_other_without_waiting_for_the_first(
    hass: HomeAssistant,
    proxy: SimProxy,
    toy: SimulatedBB8,
    world_clock: LoopClock,
    info_logs: pytest.LogCaptureFixture,
) -> None:
    other = SimProxy(hass, source="AA:BB:CC:00:BB:09", name="second proxy")
    undo_other = other.async_setup()
    try:
        rssi = {proxy.source: -50, other.source: -75}

        def heard() -> None:
            hear([toy], [proxy, other], rssi)

        heard()
        entry = await set_up_toy(hass, toy)
        await pass_time(world_clock, 10, step=0.5, heard=heard, until=toy_is_set_up(entry, toy))
        session = entry.runtime_data.session
        await set_wishes(hass)
        assert (proxy.slots_in_use, other.slots_in_use) == (1, 0), "the stronger proxy carries the link"

        # Connected for a while: silent, so both proxies' memory of the toy goes stale.
        await pass_time(world_clock, 300, step=5, heard=heard)
        assert session.is_connected

        seen: list[tuple[float, str]] = []

        @callback
        def _record(event: Event[EventStateChangedData]) -> None:
            if (new_state := event.data["new_state"]) is not None:
                seen.append((world_clock.elapsed, new_state.state))

        stop_recording = async_track_state_change_event(hass, MAIN_LED, _record)
        dropped_at = world_clock.elapsed
        await proxy.async_go_offline()
        moved_after = await pass_time(
            world_clock,
            FIRST_DELAY * (1 + JITTER) + HANDSHAKE_ALLOWANCE,
            step=0.1,
            heard=heard,
            until=toy_is_set_up(entry, toy),
        )
        assert toy_is_set_up(entry, toy)(), "moved to the second proxy within the policy's first delay"
        assert not proxy.online, "without waiting for the first proxy"
        assert other.slots_in_use == 1
        assert wishes_written_this_link(toy) == {"set_main_led", "set_back_led", "set_stabilization"}
        assert toy_shows_the_wishes(toy)
        stop_recording()
        for entity_id in FOLLOWING:
            assert state_of(hass, entity_id).state != STATE_UNAVAILABLE, entity_id
        # A toy silent for minutes behind its link is, by the availability rule (link or
        # advertisement), unavailable from the drop until the second proxy hears it: a blip
        # shorter than one simulation step, logged once each way.
        blips = [at - dropped_at for at, state in seen if state == STATE_UNAVAILABLE]
        assert len(blips) <= 1
        assert availability_logs(info_logs, GONE) == len(blips)
        assert availability_logs(info_logs, BACK) == len(blips)
        assert errors_from_bb8(info_logs) == []
        print(
            f"link moved to the second proxy {moved_after:.1f} s after the first went away; "
            f"unavailable blips: {len(blips)}"
        )

        # The first proxy returning later changes nothing: the link stays where it is.
        proxy.async_come_back()
        await pass_time(world_clock, 60, step=5, heard=heard)
        assert (proxy.slots_in_use, other.slots_in_use) == (0, 1)
        assert session.is_connected
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
    finally:
        undo_other()


# =============================================================================================
# 2. Home Assistant restarts with the toy connected.
# =============================================================================================


async def test_after_a_restart_with_the_toy_connected_it_shows_the_restored_state_within_first_delay_and_handshake(
    hass: HomeAssistant,
    proxy: SimProxy,
    toy: SimulatedBB8,
    world_clock: LoopClock,
    wished_entry: MockConfigEntry,
    info_logs: pytest.LogCaptureFixture,
) -> None:
    # Home Assistant stops: it writes its entities' last states (the wishes ride in their extra
    # restore data) to storage, the integration closes the link, the proxy's connection to Home
    # Assistant ends with it.
    await restore_state.async_get(hass).async_dump_states()
    assert await hass.config_entries.async_unload(wished_entry.entry_id)
    await proxy.async_go_offline()
    await hass.async_block_till_done()
    # A long restart (an update): the toy, left alone, falls asleep and forgets its colours.
    await pass_time(world_clock, 900, step=5)
    assert toy.asleep
    assert not toy_shows_the_wishes(toy)

    # Home Assistant starts: the saved states are read back from storage, and the entry is set
    # up before the proxy has reconnected, so it waits for the toy to be heard.
    await async_mock_load_restore_state_from_storage(hass)
    assert not await hass.config_entries.async_setup(wished_entry.entry_id)
    assert wished_entry.state is ConfigEntryState.SETUP_RETRY

    def heard() -> None:
        hear([toy], [proxy])

    proxy.async_come_back()
    heard()
    took = await pass_time(
        world_clock,
        FIRST_DELAY * (1 + JITTER) + HANDSHAKE_ALLOWANCE,
        step=0.1,
        heard=heard,
        until=lambda: wished_entry.state is ConfigEntryState.LOADED
        and toy_is_set_up(wished_entry, toy)()
        and toy_shows_the_wishes(toy),
    )
    assert wished_entry.state is ConfigEntryState.LOADED
    assert toy_is_set_up(wished_entry, toy)()
    assert toy_shows_the_wishes(toy), "colour, tail light and stabilization restored onto the toy"
    main = state_of(hass, MAIN_LED)
    assert main.state == STATE_ON
    assert main.attributes["rgb_color"] == WISH_RGB
    tail = state_of(hass, TAIL_LIGHT)
    assert (tail.state, tail.attributes["brightness"]) == (STATE_ON, WISH_TAIL)
    assert state_of(hass, STABILIZATION).state == STATE_OFF
    assert errors_from_bb8(info_logs) == []
    print(f"restored state on the toy {took:.1f} s after the proxy reported it at start")


# =============================================================================================
# 3. A toy's day.
# =============================================================================================

EVENING_RGB = (0, 0, 255)
WAKE_TIME = 4.0
"""How long a woken toy is given to answer (README, "Readiness after wake": up to 4 s)."""


async def start_the_day_at_eight(hass: HomeAssistant, clock: LoopClock) -> None:
    """Put Home Assistant in a time zone where it is now between 08:00 and 09:00."""
    await start_the_day_at(hass, clock, 8)
    assert simulated_now(clock).hour == 8


def session_logs(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(1 for record in caplog.records if from_session(record) and text in record.getMessage())


async def test_a_toys_day_asleep_for_hours_without_reconnect_storm_or_errors_and_woken_at_18_by_an_automation(
    hass: HomeAssistant,
    proxy: SimProxy,
    toy: SimulatedBB8,
    world_clock: LoopClock,
    info_logs: pytest.LogCaptureFixture,
) -> None:
    await start_the_day_at_eight(hass, world_clock)
    # Set up first, while no simulated time has passed: Home Assistant computes a time trigger's
    # first delay from the real wall clock.
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": [
                {
                    "alias": "BB-8 evening light",
                    "triggers": [{"trigger": "time", "at": "18:00:00"}],
                    "actions": [
                        {
                            "action": "light.turn_on",
                            "target": {"entity_id": MAIN_LED},
                            "data": {"rgb_color": list(EVENING_RGB), "brightness": 255},
                        }
                    ],
                }
            ]
        },
    )
    await hass.async_block_till_done()
    entry = await set_up_toy(hass, toy)
    await pass_time(world_clock, 10, step=0.5, until=toy_is_set_up(entry, toy))
    session = entry.runtime_data.session

    # Morning: someone plays with it, then leaves it alone on its charger shelf.
    await set_wishes(hass)
    fell_asleep_after = await pass_time(
        world_clock,
        toy.inactivity_timeout + 60,
        step=1,
        until=lambda: session.toy.asleep and not toy.connected,
    )
    assert session.toy.asleep
    assert fell_asleep_after <= toy.inactivity_timeout + 1
    assert (toy.will_sleep_sent, toy.sleep_count) == (1, 1)
    # The toy's sleep is its normal day, not news: its notices are at DEBUG (an INFO line is
    # kept for an outage; see test_robot_in_a_home.py).
    for notice in ("will go to sleep", "went to sleep"):
        assert not [
            record
            for record in info_logs.records
            if from_session(record) and record.levelno >= logging.INFO and notice in record.getMessage()
        ]

    # Asleep and out of earshot of every proxy for the day: nothing connects, nothing errs.
    connects_reaching_proxy = proxy.connect_attempts
    counters = session.counters
    reconnects, failures, connects = counters.reconnect_attempts, counters.connect_failures, toy.connect_count
    evening = simulated_now(world_clock).replace(hour=18, minute=0, second=0, microsecond=0)
    shelf_hours = (evening - simulated_now(world_clock)).total_seconds() - 600
    assert shelf_hours > 8 * 3600
    await pass_time(world_clock, shelf_hours, step=30)
    for entity_id in FOLLOWING:
        assert state_of(hass, entity_id).state == STATE_UNAVAILABLE, entity_id
    assert availability_logs(info_logs, GONE) == 1

    # Ten minutes before six it is heard again (it advertises as it sleeps): available, not woken.
    def heard() -> None:
        hear([toy], [proxy])

    heard()
    # Up to a little before six (real time passes while simulated time does; the trigger's own
    # fraction of a second is Home Assistant's choice).
    await pass_time(
        world_clock, (evening - simulated_now(world_clock)).total_seconds() - 10, step=10, heard=heard
    )
    for entity_id in FOLLOWING:
        assert state_of(hass, entity_id).state != STATE_UNAVAILABLE, entity_id
    assert availability_logs(info_logs, BACK) == 1
    assert toy.asleep
    asleep_counts = {
        "connects reaching the proxy": proxy.connect_attempts - connects_reaching_proxy,
        "reconnect attempts": counters.reconnect_attempts - reconnects,
        "failed connects": counters.connect_failures - failures,
        "links": toy.connect_count - connects,
    }
    assert asleep_counts == dict.fromkeys(asleep_counts, 0), "no reconnect storm while it sleeps"

    # 18:00: the automation turns the main LED on; the toy wakes and shows it.
    triggered_at: list[float] = []
    stop_listening = hass.bus.async_listen(
        "automation_triggered", lambda _event: triggered_at.append(world_clock.elapsed)
    )
    await pass_time(
        world_clock, 10 + WAKE_TIME + 2, step=0.1, heard=heard, until=lambda: toy.main_led == EVENING_RGB
    )
    stop_listening()
    assert toy.main_led == EVENING_RGB, "the first use after sleep works"
    assert len(triggered_at) == 1
    assert simulated_now(world_clock).strftime("%H:%M") == "18:00"
    woke_after = world_clock.elapsed - triggered_at[0]
    assert woke_after <= WAKE_TIME
    await pass_time(world_clock, 5, step=0.5, until=toy_is_set_up(entry, toy))
    assert (toy.back_led, toy.stabilization) == (WISH_TAIL, False), "the morning's wishes re-applied"
    assert proxy.connect_attempts - connects_reaching_proxy == 1, "one connect wakes it"
    assert state_of(hass, "automation.bb_8_evening_light").attributes["last_triggered"] is not None
    main = state_of(hass, MAIN_LED)
    assert (main.state, main.attributes["rgb_color"]) == (STATE_ON, EVENING_RGB)
    assert errors_from_bb8(info_logs) == []
    assert not [
        r
        for r in info_logs.records
        if r.name.startswith("homeassistant.components.automation") and r.levelno >= logging.ERROR
    ]
    assert availability_logs(info_logs, GONE) == 1
    assert availability_logs(info_logs, BACK) == 1
    print(
        f"asleep {fell_asleep_after:.0f} s after the last use, {shelf_hours / 3600:.1f} h out of earshot, "
        f"{asleep_counts}; woken by the 18:00 automation in {woke_after:.1f} s"
    )
