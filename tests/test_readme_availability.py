"""The README's "Availability and reconnection" section, sentence by sentence.

Each test's name says the sentence it proves. The first bullet (available while linked or
advertising; about 195 s; going and coming back logged once) is proved in test_availability.py:
``test_toy_that_still_advertises_stays_available_without_a_link``,
``test_linked_toy_stays_available_after_bluetooth_calls_it_gone`` and
``test_without_link_or_advertisements_entities_go_unavailable_and_come_back``; reconnecting at
once when the toy is heard again after being gone, in
``test_a_toy_heard_again_after_being_gone_reconnects_at_once_not_after_its_grown_wait``. The reconnect waits
and the longest wait are proved with the options in test_options.py
(``test_longest_wait_caps_the_doubling_wait_between_reconnects``). Re-applying the LED colour,
tail light and stabilization after a reconnect or a wake: test_light.py
``test_lights_are_restored_after_the_link_drops`` and test_switch.py
``test_stabilization_off_is_restored_after_the_toy_wakes``. Sleep pressed, then no reconnects
until used: test_button.py ``test_sleep_puts_the_toy_to_sleep_and_it_stays_disconnected`` and
``test_using_a_sleeping_toy_wakes_and_reconnects_it``.
"""

from __future__ import annotations

import asyncio
import logging

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bb8sim import SimulatedBB8
from bb8sim.faults import ConnectFailure
from bb8sim.proxy import SimProxy
from custom_components.bb8.const import CONF_CONNECTION_MODE, MODE_ON_DEMAND

from .conftest import LoopClock, change_options, session_records, setup_finished, toy_is_set_up, wait_for
from .esphome_support import NodePath
from .test_options import reconnect_delays, use_the_toy

BOTH_PROXY_PATHS = True  # run through the project's scanner and through the real esphome stack

SLOT_ADVICE = "has no free connection slot"
SLOT_BACK = "connection slot again"


def session_messages(caplog: pytest.LogCaptureFixture, text: str, level: int = logging.INFO) -> int:
    return sum(
        1 for record in session_records(caplog) if record.levelno >= level and text in record.getMessage()
    )


def take_every_slot(proxy: SimProxy | NodePath, toy: SimulatedBB8) -> None:
    """The toy's link drops and other devices take every slot of the proxy.

    On the node path the node itself reports no free slot (81) after the toy's link ended, as a
    full ESP32 does; the project's scanner has no other devices, so there the toy's connects
    fail with the out-of-slots error its bleak backend raises.
    """
    if isinstance(proxy, NodePath):
        toy.disconnect_now()
        proxy.node.set_slots_taken_by_others(proxy.node.slots)
        return
    toy.faults.connect_failure = ConnectFailure.OUT_OF_SLOTS
    toy.faults.refuse_connect = True
    toy.disconnect_now()


def give_a_slot_back(proxy: SimProxy | NodePath, toy: SimulatedBB8) -> None:
    """Another device lets go of its slot: the toy can connect again."""
    if isinstance(proxy, NodePath):
        proxy.node.set_slots_taken_by_others(proxy.node.slots - 1)
        return
    toy.faults.refuse_connect = False


async def test_running_out_of_proxy_slots_waits_at_least_30s_and_logs_advice_once_per_episode(
    proxy: SimProxy | NodePath,
    ready_entry: MockConfigEntry,
    toy: SimulatedBB8,
    loop_clock: LoopClock,
    session_log: pytest.LogCaptureFixture,
) -> None:
    """The advice is logged once per episode, not on every attempt."""
    session = ready_entry.runtime_data.session
    for episode in (1, 2):
        delays_before = len(reconnect_delays(session_log))
        take_every_slot(proxy, toy)
        wanted = delays_before + 4
        await loop_clock.advance_until(lambda n=wanted: len(reconnect_delays(session_log)) >= n, limit=600)
        # The first wait follows the drop (2 s); every wait after an out-of-slots failure is long.
        assert min(reconnect_delays(session_log)[delays_before + 1 :]) >= 30.0
        assert session_messages(session_log, SLOT_ADVICE, logging.WARNING) == episode, "once per episode"

        # The slot comes back: connected again, and that is said once too.
        give_a_slot_back(proxy, toy)
        await loop_clock.advance_until(lambda: session.is_connected, limit=60)
        await wait_for(toy_is_set_up(ready_entry, toy))
        assert session_messages(session_log, SLOT_BACK) == episode
        await loop_clock.advance(61)  # a stable link: the next episode's waits start over


async def _drop_and_fail_reconnects(
    toy: SimulatedBB8, loop_clock: LoopClock, caplog: pytest.LogCaptureFixture, n: int
) -> None:
    """Drop the link and let ``n`` reconnect waits be announced, the toy refusing each connect."""
    wanted = len(reconnect_delays(caplog)) + n
    toy.faults.refuse_connect = True
    toy.disconnect_now()
    await loop_clock.advance_until(lambda: len(reconnect_delays(caplog)) >= wanted, limit=600)


async def _reconnect(entry: MockConfigEntry, toy: SimulatedBB8, loop_clock: LoopClock) -> None:
    toy.faults.refuse_connect = False
    await loop_clock.advance_until(lambda: entry.runtime_data.session.is_connected, limit=120)
    await wait_for(toy_is_set_up(entry, toy))


@pytest.mark.parametrize("reset_by", ["link_up_for_60s", "command_succeeded"])
async def test_a_link_up_for_60s_or_a_command_that_succeeds_resets_the_wait(
    hass: HomeAssistant,
    ready_entry: MockConfigEntry,
    toy: SimulatedBB8,
    loop_clock: LoopClock,
    session_log: pytest.LogCaptureFixture,
    reset_by: str,
) -> None:
    await _drop_and_fail_reconnects(toy, loop_clock, session_log, 4)
    assert reconnect_delays(session_log)[-1] >= 8 * 0.8, "the wait has grown"
    await _reconnect(ready_entry, toy, loop_clock)
    if reset_by == "link_up_for_60s":
        await loop_clock.advance(61)
    else:
        await use_the_toy(hass)

    before = len(reconnect_delays(session_log))
    await _drop_and_fail_reconnects(toy, loop_clock, session_log, 1)
    assert reconnect_delays(session_log)[before] <= 2 * 1.2, "back to the first wait of 2 s"


async def test_a_command_during_a_reconnect_wait_ends_the_wait_and_connects_when_always_connected(
    hass: HomeAssistant,
    ready_entry: MockConfigEntry,
    toy: SimulatedBB8,
    loop_clock: LoopClock,
    session_log: pytest.LogCaptureFixture,
) -> None:
    """Always connected, after a drop: a light change connects now, not after the backoff wait."""
    await _drop_and_fail_reconnects(toy, loop_clock, session_log, 4)
    wait = reconnect_delays(session_log)[-1]
    assert wait >= 8 * 0.8, "the loop waits several seconds before its next try"
    toy.faults.refuse_connect = False  # the toy is reachable again; the loop does not know yet
    started = loop_clock.elapsed
    await use_the_toy(hass, (0, 200, 0))
    assert toy.main_led == (0, 200, 0)
    assert ready_entry.runtime_data.session.is_connected
    assert loop_clock.elapsed - started < 1.0, f"connected at once, not after the {wait:.1f} s wait"


async def test_commands_while_the_link_is_down_connect_first_when_on_demand(
    hass: HomeAssistant, ready_entry: MockConfigEntry, toy: SimulatedBB8
) -> None:
    await change_options(hass, ready_entry, **{CONF_CONNECTION_MODE: MODE_ON_DEMAND})
    assert not ready_entry.runtime_data.session.is_connected
    await use_the_toy(hass, (0, 255, 0))
    assert toy.main_led == (0, 255, 0)


async def on_demand_link_up(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Switch the toy to on demand and use it once: the link is up and idle for its idle time."""
    await change_options(hass, entry, **{CONF_CONNECTION_MODE: MODE_ON_DEMAND})
    await use_the_toy(hass, (0, 255, 0))
    session = entry.runtime_data.session
    await wait_for(setup_finished(session))


def turn_on_the_tail_light(hass: HomeAssistant) -> asyncio.Task[None]:
    """Start a tail light action: its command reaches the toy before anything asked after it."""
    return hass.async_create_task(
        hass.services.async_call("light", "turn_on", {"entity_id": "light.bb_b54a_tail_light"}, blocking=True)
    )


@pytest.mark.parametrize(
    ("on_demand", "logged"),
    [(False, "reconnecting"), (True, "it connects again when used")],
    ids=["always", "on_demand"],
)
async def test_a_command_already_written_when_the_link_drops_fails_the_toy_may_or_may_not_have_acted_on_it(
    hass: HomeAssistant,
    ready_entry: MockConfigEntry,
    toy: SimulatedBB8,
    caplog: pytest.LogCaptureFixture,
    on_demand: bool,
    logged: str,
    proxy_path: str,
) -> None:
    if on_demand:
        await on_demand_link_up(hass, ready_entry)
    session = ready_entry.runtime_data.session
    await wait_for(setup_finished(session))
    toy.faults.disconnect_on_write = 1  # the write goes out and the link drops with it
    with pytest.raises(HomeAssistantError) as caught:
        await use_the_toy(hass, (0, 0, 255))
    assert caught.value.translation_key == "link_lost"
    message = str(caught.value)
    assert "may or may not have done what was asked" in message
    assert "reconnecting in the background" not in message, "not promised: on demand nothing reconnects"
    if proxy_path == "node":
        # Through the esphome stack the node's 69 (disconnected) reaches the session before the
        # write's error: the link is already lost when the write fails, and in always-connected
        # mode the reconnect is announced; on demand none is.
        reconnecting = [r for r in session_records(caplog) if "reconnecting in" in r.getMessage()]
        assert bool(reconnecting) is (not on_demand), "the log says what happens next, in each mode"
        return
    assert [
        r.getMessage().rsplit("; ", 1)[-1] for r in session_records(caplog) if "link broken" in r.getMessage()
    ] == [logged], "the log says what happens next, in each mode"


async def test_on_demand_a_command_queued_when_the_link_drops_connects_again_and_is_carried_out(
    hass: HomeAssistant, ready_entry: MockConfigEntry, toy: SimulatedBB8
) -> None:
    """Commands connect first on demand, also when the link goes while they wait their turn."""
    await on_demand_link_up(hass, ready_entry)
    connects = toy.connect_count
    # The tail light's command goes first and the link drops under it; the colour was queued.
    toy.faults.disconnect_on_write = 1
    tail = turn_on_the_tail_light(hass)
    await use_the_toy(hass, (0, 0, 255))
    assert toy.main_led == (0, 0, 255)
    assert toy.connect_count == connects + 1, "connected again for the queued command"
    with pytest.raises(HomeAssistantError) as caught:
        await tail
    assert caught.value.translation_key == "link_lost"


async def test_on_demand_a_queued_command_whose_reconnect_fails_fails_with_the_connect_error(
    hass: HomeAssistant, ready_entry: MockConfigEntry, toy: SimulatedBB8
) -> None:
    await on_demand_link_up(hass, ready_entry)
    toy.faults.disconnect_on_write = 1
    toy.faults.refuse_connect = True
    tail = turn_on_the_tail_light(hass)
    with pytest.raises(HomeAssistantError) as caught:
        await use_the_toy(hass, (0, 0, 255))
    assert caught.value.translation_key == "cannot_connect", "the connect's own error, not a timeout"
    with pytest.raises(HomeAssistantError):
        await tail


async def test_toy_asleep_after_its_inactivity_timeout_despite_polls_is_not_reconnected_until_used(
    hass: HomeAssistant, ready_entry: MockConfigEntry, toy: SimulatedBB8, loop_clock: LoopClock
) -> None:
    """Ten minutes without commands; battery polls (every 60 s) do not count; no reconnects."""
    polls_before = toy.command_counts["get_power_state"]
    await loop_clock.advance_until(lambda: toy.asleep, limit=11 * 60, step=5)
    assert toy.command_counts["get_power_state"] - polls_before >= 9, "polled all along"
    assert loop_clock.elapsed >= 9 * 60
    connects = toy.connect_count
    await loop_clock.advance(30 * 60, step=10)
    assert toy.connect_count == connects, "no reconnects while it sleeps"

    await use_the_toy(hass, (255, 0, 255))
    assert toy.awake
    assert toy.main_led == (255, 0, 255)
