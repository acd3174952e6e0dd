"""Every option is a promise: each test changes one through the options flow and watches it kept.

The promises are the options form's descriptions (strings.json) and the README's options table.
Time is simulated (``loop_clock``): idle timeouts, polls and reconnect waits run as they would
over minutes, without waiting for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
import re

from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bb8sim import SimulatedBB8
from bb8sim.proxy import SimProxy
from custom_components.bb8.const import (
    CONF_CONNECTION_MODE,
    CONF_IDLE_TIMEOUT,
    CONF_POLL_INTERVAL,
    CONF_RECONNECT_MAX_ATTEMPTS,
    CONF_RECONNECT_MAX_DELAY,
    MODE_ALWAYS,
    MODE_ON_DEMAND,
    OPTION_DEFAULTS,
)

from .conftest import LoopClock, change_options, session_records, toy_is_set_up, wait_for

DEFAULT_IDLE_TIMEOUT = OPTION_DEFAULTS[CONF_IDLE_TIMEOUT]
DEFAULT_POLL_INTERVAL = OPTION_DEFAULTS[CONF_POLL_INTERVAL]

MAIN_LED = "light.bb_b54a_main_led"


async def use_the_toy(hass: HomeAssistant, rgb: tuple[int, int, int] = (255, 0, 0)) -> None:
    """What a person does: turn the main LED on (through Home Assistant's light action)."""
    await hass.services.async_call(
        "light", "turn_on", {ATTR_ENTITY_ID: MAIN_LED, "rgb_color": rgb}, blocking=True
    )


def polls(toy: SimulatedBB8) -> int:
    """How many power-state reads reached the toy so far."""
    return toy.command_counts["get_power_state"]


@dataclass
class OnDemandToy:
    """The set-up toy's entry in on-demand mode, and the three places a link would show."""

    entry: MockConfigEntry
    toy: SimulatedBB8
    proxy: SimProxy

    def has_link(self) -> bool:
        """Whether a link exists, seen from all three sides: session, toy and proxy slot."""
        session = self.entry.runtime_data.session
        return session.is_connected or self.toy.connected or self.proxy.slots_in_use > 0


@pytest.fixture
async def on_demand(
    hass: HomeAssistant, ready_entry: MockConfigEntry, toy: SimulatedBB8, proxy: SimProxy
) -> OnDemandToy:
    """The toy switched to on-demand mode through the options flow (the other options default)."""
    await change_options(hass, ready_entry, **{CONF_CONNECTION_MODE: MODE_ON_DEMAND})
    switched = OnDemandToy(ready_entry, toy, proxy)
    await wait_for(lambda: not switched.has_link())
    return switched


# ---------------------------------------------------------------------------------------------
# Connection mode
# ---------------------------------------------------------------------------------------------


async def test_on_demand_connects_when_used_and_not_before(
    hass: HomeAssistant, on_demand: OnDemandToy, toy: SimulatedBB8, loop_clock: LoopClock
) -> None:
    await loop_clock.advance(3 * DEFAULT_POLL_INTERVAL)
    assert not on_demand.has_link(), "nothing connects until the toy is used"

    await use_the_toy(hass)
    assert toy.main_led == (255, 0, 0)
    assert on_demand.entry.runtime_data.session.is_connected


async def test_always_connected_keeps_the_link_up_by_itself(
    hass: HomeAssistant, on_demand: OnDemandToy, toy: SimulatedBB8, loop_clock: LoopClock
) -> None:
    await change_options(hass, on_demand.entry, **{CONF_CONNECTION_MODE: MODE_ALWAYS})
    await wait_for(toy_is_set_up(on_demand.entry, toy))
    await loop_clock.advance(DEFAULT_IDLE_TIMEOUT + 10)
    assert on_demand.entry.runtime_data.session.is_connected, "no idle disconnect in always-connected mode"

    connects = toy.connect_count
    toy.disconnect_now()
    await loop_clock.advance_until(lambda: toy.connect_count > connects, limit=10)
    await wait_for(toy_is_set_up(on_demand.entry, toy))


# ---------------------------------------------------------------------------------------------
# Idle timeout (on demand): how long the link stays up after the last command
# ---------------------------------------------------------------------------------------------


async def test_on_demand_link_is_let_go_after_the_idle_timeout_although_polls_come_more_often(
    hass: HomeAssistant, on_demand: OnDemandToy, toy: SimulatedBB8, loop_clock: LoopClock
) -> None:
    """Polls (every 60 s by default) never extend the 120 s idle time."""
    assert DEFAULT_POLL_INTERVAL < DEFAULT_IDLE_TIMEOUT
    await use_the_toy(hass)
    polls_before = polls(toy)

    await loop_clock.advance(DEFAULT_IDLE_TIMEOUT - 2)
    assert polls(toy) > polls_before, "the battery is polled while the link is up"
    assert on_demand.has_link(), "the link stays up for the whole idle timeout"

    await loop_clock.advance(4)
    assert not on_demand.has_link(), "the proxy's slot is free after the idle timeout"

    # And it stays free: later polls neither keep nor make a link.
    connects = toy.connect_count
    await loop_clock.advance(5 * DEFAULT_POLL_INTERVAL)
    assert toy.connect_count == connects
    assert not on_demand.has_link()


async def test_idle_timeout_counts_from_the_last_command_a_person_gave(
    hass: HomeAssistant, on_demand: OnDemandToy, toy: SimulatedBB8, loop_clock: LoopClock
) -> None:
    await change_options(hass, on_demand.entry, **{CONF_IDLE_TIMEOUT: 30, CONF_POLL_INTERVAL: 10})
    await use_the_toy(hass, (255, 0, 0))
    await loop_clock.advance(20)
    await use_the_toy(hass, (0, 255, 0))
    await loop_clock.advance(28)
    assert on_demand.has_link(), "the second command restarted the idle time"
    await loop_clock.advance(4)
    assert not on_demand.has_link()
    assert toy.main_led == (0, 255, 0)


# ---------------------------------------------------------------------------------------------
# Battery poll interval: how often the battery is read while connected; a poll never connects
# ---------------------------------------------------------------------------------------------


async def test_poll_interval_is_how_often_the_battery_is_read_while_connected(
    hass: HomeAssistant, ready_entry: MockConfigEntry, toy: SimulatedBB8, loop_clock: LoopClock
) -> None:
    await change_options(hass, ready_entry, **{CONF_POLL_INTERVAL: 15})
    await wait_for(toy_is_set_up(ready_entry, toy))
    seen_at: list[float] = []
    count = polls(toy)
    while loop_clock.elapsed < 100:
        await loop_clock.advance(1)
        if polls(toy) > count:
            count = polls(toy)
            seen_at.append(loop_clock.elapsed)
    gaps = [later - earlier for earlier, later in pairwise(seen_at)]
    assert len(gaps) >= 5, seen_at
    assert all(14 <= gap <= 16 for gap in gaps), seen_at


async def test_a_poll_never_connects(
    hass: HomeAssistant, on_demand: OnDemandToy, toy: SimulatedBB8, loop_clock: LoopClock
) -> None:
    await change_options(hass, on_demand.entry, **{CONF_POLL_INTERVAL: 10})
    connects = toy.connect_count
    await loop_clock.advance(120)
    assert toy.connect_count == connects
    assert not on_demand.has_link()


# ---------------------------------------------------------------------------------------------
# Longest wait between reconnects, and reconnect attempts before giving up (always connected)
# ---------------------------------------------------------------------------------------------


def reconnect_delays(caplog: pytest.LogCaptureFixture) -> list[float]:
    """The waits the session announced before each reconnect attempt, in order."""
    pattern = re.compile(r"reconnecting in ([0-9.]+) s|retrying in ([0-9.]+) s")
    delays = []
    for record in session_records(caplog):
        if match := pattern.search(record.getMessage()):
            delays.append(float(match.group(1) or match.group(2)))
    return delays


def refused_connects(toy: SimulatedBB8) -> int:
    """Connect attempts the toy refused (each of bleak-retry-connector's tries counts)."""
    return sum(count for name, count in toy.faults.stats.items() if name.startswith("connect_"))


async def refuse_reconnects_with(
    hass: HomeAssistant, entry: MockConfigEntry, toy: SimulatedBB8, **options: int
) -> None:
    """Save ``options`` through the options flow; then the link drops and every reconnect is refused."""
    await change_options(hass, entry, **options)
    await wait_for(toy_is_set_up(entry, toy))
    toy.faults.refuse_connect = True
    toy.disconnect_now()


async def test_longest_wait_caps_the_doubling_wait_between_reconnects(
    hass: HomeAssistant,
    ready_entry: MockConfigEntry,
    toy: SimulatedBB8,
    loop_clock: LoopClock,
    session_log: pytest.LogCaptureFixture,
) -> None:
    await refuse_reconnects_with(hass, ready_entry, toy, **{CONF_RECONNECT_MAX_DELAY: 10})
    await loop_clock.advance_until(lambda: len(reconnect_delays(session_log)) >= 6, limit=120)

    delays = reconnect_delays(session_log)
    # Starts at 2 s and doubles, each with up to 20 % jitter, never beyond the longest wait.
    for attempt, delay in enumerate(delays):
        expected = min(10.0, 2.0 * 2**attempt)
        assert 0.8 * expected - 0.05 <= delay <= min(10.0, 1.2 * expected) + 0.05, (attempt, delays)
    assert max(delays) <= 10.0
    assert delays[-1] >= 8.0, "the wait reached the cap"

    # The attempts really happen after those waits: the toy keeps being asked, a few per minute.
    asked = refused_connects(toy)
    await loop_clock.advance(60)
    assert refused_connects(toy) - asked >= 5


@pytest.fixture
async def gave_up(
    hass: HomeAssistant,
    ready_entry: MockConfigEntry,
    toy: SimulatedBB8,
    loop_clock: LoopClock,
    session_log: pytest.LogCaptureFixture,
) -> MockConfigEntry:
    """Reconnect attempts set to 3 (waits up to 10 s): the toy refused them all, the session gave up."""
    await refuse_reconnects_with(
        hass, ready_entry, toy, **{CONF_RECONNECT_MAX_ATTEMPTS: 3, CONF_RECONNECT_MAX_DELAY: 10}
    )
    await loop_clock.advance_until(lambda: "giving up after 3" in session_log.text, limit=120)
    return ready_entry


async def test_reconnect_attempts_give_up_after_that_many_failures_in_a_row(
    gave_up: MockConfigEntry, toy: SimulatedBB8, loop_clock: LoopClock, session_log: pytest.LogCaptureFixture
) -> None:
    assert len(reconnect_delays(session_log)) == 3

    asked = refused_connects(toy)
    await loop_clock.advance(3600, step=10)
    assert refused_connects(toy) == asked, "after giving up, nothing connects by itself"
    assert not gave_up.runtime_data.session.is_connected


async def test_after_giving_up_using_the_toy_connects_again(
    hass: HomeAssistant,
    gave_up: MockConfigEntry,
    toy: SimulatedBB8,
    loop_clock: LoopClock,
    session_log: pytest.LogCaptureFixture,
) -> None:
    """The give-up log says "it will connect again when used"; it must."""
    assert any(
        "will connect again when used" in record.getMessage() for record in session_records(session_log)
    )
    await loop_clock.advance(600, step=10)

    toy.faults.refuse_connect = False
    await use_the_toy(hass, (0, 0, 255))
    assert toy.main_led == (0, 0, 255)
    session = gave_up.runtime_data.session
    assert session.is_connected

    # Back to always connected: a drop is reconnected by itself again.
    connects = toy.connect_count
    toy.disconnect_now()
    await loop_clock.advance_until(lambda: toy.connect_count > connects, limit=10)
    await wait_for(toy_is_set_up(gave_up, toy))
