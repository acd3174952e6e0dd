"""A robot in a home: a stopped script stops it, sleep lasts the night, outages stay quiet.

Each test drives Home Assistant (a script, an automation, a reload, the options flow, the
buttons) against the simulated BB-8 and reads the outcome from the simulator. Each is named
after the README sentence (or the issue's words) it proves. The lifecycle matrix (every action
and button against every way Home Assistant cancels or unloads) is in test_lifecycle_matrix.py.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import logging
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, STATE_OFF, STATE_ON, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from bb8sim import SimClock, SimulatedBB8
from bb8sim.protocol import DeviceId, SpheroCommand
from bb8sim.proxy import SimProxy
from custom_components.bb8.const import (
    CONF_CONNECTION_MODE,
    CONF_IDLE_TIMEOUT,
    CONF_INACTIVITY_TIMEOUT,
    CONF_RECONNECT_MAX_DELAY,
    DOMAIN,
    MODE_ON_DEMAND,
)
from soak.world import simulated_world

from .conftest import (
    SECOND_ADDRESS,
    LoopClock,
    change_options,
    device_id_of,
    make_entry,
    set_up_toy,
    state_of,
    toy_is_set_up,
    wait_for,
)
from .test_availability import bluetooth_forgets_the_toy

BB8_LOGGER = "custom_components.bb8"
MAIN_LED = "light.bb_b54a_main_led"
SLEEP = "button.bb_b54a_sleep"
CHARGING = "binary_sensor.bb_b54a_charging"


async def press(hass: HomeAssistant, entity_id: str) -> None:
    await hass.services.async_call("button", "press", {ATTR_ENTITY_ID: entity_id}, blocking=True)


async def light_on(hass: HomeAssistant, rgb: tuple[int, int, int] = (0, 0, 255)) -> None:
    await hass.services.async_call(
        "light", "turn_on", {ATTR_ENTITY_ID: MAIN_LED, "rgb_color": rgb}, blocking=True
    )


async def roll(hass: HomeAssistant, entry: MockConfigEntry, **data: Any) -> None:
    await hass.services.async_call(
        DOMAIN, "roll", {"device_id": device_id_of(hass, entry), **data}, blocking=True
    )


def bb8_lines(caplog: pytest.LogCaptureFixture, since: int, level: int = logging.INFO) -> list[str]:
    return [
        f"{record.levelname} {record.getMessage()}"
        for record in caplog.records[since:]
        if record.name.startswith(BB8_LOGGER) and record.levelno >= level
    ]


@pytest.fixture
async def entry(hass: HomeAssistant, toy: SimulatedBB8) -> MockConfigEntry:
    """The toy set up always connected, its set-up finished."""
    config_entry = await set_up_toy(hass, toy)
    await wait_for(toy_is_set_up(config_entry, toy))
    return config_entry


# ------------------------------------------------------------------ 1. a stopped script stops it


async def test_a_script_stopped_during_a_timed_roll_stops_the_toy(
    hass: HomeAssistant, toy: SimulatedBB8, entry: MockConfigEntry
) -> None:
    """Issue 21, scenario 1: ``script.turn_off`` a second into an 8 s roll; the toy stops then."""
    assert await async_setup_component(
        hass,
        "script",
        {
            "script": {
                "bb8_patrol": {
                    "sequence": [
                        {
                            "action": "bb8.roll",
                            "data": {
                                "device_id": device_id_of(hass, entry),
                                "heading": 90,
                                "speed": 120,
                                "duration": 8,
                            },
                        }
                    ]
                }
            }
        },
    )
    await hass.services.async_call("script", "turn_on", {ATTR_ENTITY_ID: "script.bb8_patrol"})
    await wait_for(lambda: toy.rolling)
    await hass.services.async_call("script", "turn_off", {ATTR_ENTITY_ID: "script.bb8_patrol"}, blocking=True)
    await wait_for(lambda: not toy.rolling, timeout=2.0)
    assert toy.speed == 0
    assert toy.heading == 90, "the stop keeps the roll's heading (a stop at 0 would turn the toy)"


async def test_an_automation_retriggered_in_restart_mode_stops_the_roll_of_the_run_it_replaced(
    hass: HomeAssistant, toy: SimulatedBB8, entry: MockConfigEntry
) -> None:
    """Issue 21, scenario 1: the first run (an 8 s roll) is cancelled by the second (a colour)."""
    device_id = device_id_of(hass, entry)
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "alias": "BB-8 restart",
                "mode": "restart",
                "triggers": [{"trigger": "event", "event_type": "bb8_test_go"}],
                "actions": [
                    {
                        "if": [{"condition": "template", "value_template": "{{ trigger.event.data.roll }}"}],
                        "then": [
                            {
                                "action": "bb8.roll",
                                "data": {"device_id": device_id, "heading": 0, "speed": 90, "duration": 8},
                            }
                        ],
                        "else": [
                            {
                                "action": "light.turn_on",
                                "target": {"entity_id": MAIN_LED},
                                "data": {"rgb_color": [0, 255, 0]},
                            }
                        ],
                    }
                ],
            }
        },
    )
    hass.bus.async_fire("bb8_test_go", {"roll": True})
    await wait_for(lambda: toy.rolling)
    hass.bus.async_fire("bb8_test_go", {"roll": False})
    await wait_for(lambda: toy.main_led == (0, 255, 0))
    await wait_for(lambda: not toy.rolling, timeout=2.0)


async def test_a_newer_roll_is_not_stopped_by_the_cancelled_run_it_replaced(
    hass: HomeAssistant, toy: SimulatedBB8, entry: MockConfigEntry
) -> None:
    """Restart mode with a roll in both runs: the toy rolls as the newer run asked, and keeps on."""
    device_id = device_id_of(hass, entry)
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "alias": "BB-8 restart rolls",
                "mode": "restart",
                "triggers": [{"trigger": "event", "event_type": "bb8_test_roll"}],
                "actions": [
                    {
                        "action": "bb8.roll",
                        "data": {
                            "device_id": device_id,
                            "heading": "{{ trigger.event.data.heading }}",
                            "speed": 80,
                            "duration": 8,
                        },
                    }
                ],
            }
        },
    )
    hass.bus.async_fire("bb8_test_roll", {"heading": 0})
    await wait_for(lambda: toy.rolling and toy.heading == 0)
    hass.bus.async_fire("bb8_test_roll", {"heading": 180})
    await wait_for(lambda: toy.heading == 180)
    await asyncio.sleep(0.5)  # the replaced run's stop, if any, would have gone out by now
    assert toy.rolling, "the replaced run's stop must not end the newer run's roll"
    assert (toy.speed, toy.heading) == (80, 180)


# ------------------------------------------------------------------ 2. sleep lasts the night


async def test_a_reload_does_not_wake_a_toy_put_to_sleep(
    hass: HomeAssistant, toy: SimulatedBB8, entry: MockConfigEntry, loop_clock: LoopClock
) -> None:
    """Issue 21, scenario 2: sleep, then an options save reloads the entry: nothing connects."""
    await press(hass, SLEEP)
    await wait_for(lambda: not toy.connected)
    assert toy.asleep
    connects = toy.connect_count
    await change_options(hass, entry, **{CONF_RECONNECT_MAX_DELAY: 60})  # saving reloads
    await loop_clock.advance(900, step=10)
    assert toy.connect_count == connects, "a reload connected, and connecting wakes the toy"
    assert toy.asleep
    assert state_of(hass, "binary_sensor.bb_b54a_connected").state == STATE_OFF

    await light_on(hass, (255, 0, 0))  # only use wakes it
    assert toy.awake
    assert toy.main_led == (255, 0, 0)


async def test_sleep_outlives_a_restart_and_use_then_wakes_the_toy(
    hass: HomeAssistant,
    toy: SimulatedBB8,
    entry: MockConfigEntry,
    loop_clock: LoopClock,
    hass_storage: dict[str, Any],
) -> None:
    """README: "Sleep outlives reloads and restarts (... `.storage/bb8.<entry id>`) ...; only use wakes it"."""
    await press(hass, SLEEP)
    await wait_for(lambda: not toy.connected)
    connects = toy.connect_count
    # A restart: the entry unloads (Home Assistant stops), then sets up again from storage.
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert hass_storage[f"bb8.{entry.entry_id}"]["data"]["asleep"] is True
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await loop_clock.advance(600, step=10)
    assert toy.connect_count == connects
    assert toy.asleep

    await light_on(hass)
    assert toy.awake
    # Woken by use: the next restart connects as usual.
    await wait_for(toy_is_set_up(entry, toy))
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await wait_for(toy_is_set_up(entry, toy))


async def test_a_toy_that_fell_asleep_by_itself_stays_asleep_through_a_reload(
    hass: HomeAssistant, toy: SimulatedBB8, entry: MockConfigEntry, loop_clock: LoopClock
) -> None:
    """The toy's own inactivity sleep is sleep too: a reload does not wake it."""
    toy.sleep_now()
    await wait_for(lambda: entry.runtime_data.session.toy.asleep)
    connects = toy.connect_count
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await loop_clock.advance(300, step=10)
    assert toy.connect_count == connects
    assert toy.asleep


# ------------------------------------------------------------------ 3. an outage stays quiet


@pytest.mark.parametrize("heard", [False, True], ids=["gone", "heard_but_refusing"])
async def test_an_outage_logs_at_most_two_lines_going_and_coming_back(
    hass: HomeAssistant,
    toy: SimulatedBB8,
    proxy: SimProxy,
    loop_clock: LoopClock,
    caplog: pytest.LogCaptureFixture,
    heard: bool,
) -> None:
    """README: "Going and coming back are each logged once" (not a line per reconnect attempt).

    Ten minutes without the toy, the longest wait between reconnects at 5 s: gone (nobody
    hears it; Home Assistant calls it unavailable after about 195 s), or heard but refusing
    every connect. In simulated time for Bluetooth too, so habluetooth's clock moves with it.
    """
    caplog.set_level(logging.DEBUG, logger=BB8_LOGGER)
    with simulated_world(loop_clock):
        # Awake for an hour without commands: the outage, not the toy's own sleep, is measured.
        config_entry = await set_up_toy(
            hass, toy, **{CONF_RECONNECT_MAX_DELAY: 5, CONF_INACTIVITY_TIMEOUT: 3600}
        )
        await wait_for(toy_is_set_up(config_entry, toy))
        since = len(caplog.records)
        toy.faults.refuse_connect = True
        toy.disconnect_now()
        for _ in range(120):  # 10 minutes, the toy advertising every 5 s if it is heard
            await loop_clock.advance(5)
            if heard:
                proxy.advertise(toy)
        attempts = [line for line in bb8_lines(caplog, since, logging.DEBUG) if "reconnecting in" in line]
        assert len(attempts) >= 10, "the attempts happen (logged at DEBUG)"
        toy.faults.refuse_connect = False
        proxy.advertise(toy)
        await loop_clock.advance_until(lambda: config_entry.runtime_data.session.is_connected, limit=60)
        await wait_for(toy_is_set_up(config_entry, toy))
        lines = bb8_lines(caplog, since)
        assert len(lines) <= 2, lines
        if not heard:
            assert [line.split(" ", 2)[2] for line in lines] == [
                "is unavailable (no link and no advertisement)",
                "is available again",
            ]
        assert await hass.config_entries.async_unload(config_entry.entry_id)


# ------------------------------------------------------------------ 6. wait to hear it


async def test_always_connected_does_not_connect_while_nobody_hears_the_toy(
    hass: HomeAssistant, toy: SimulatedBB8, proxy: SimProxy, loop_clock: LoopClock
) -> None:
    """Always connected: "when nobody hears it, wait to hear it" (no connect attempts at all)."""
    entry = await set_up_toy(hass, toy, **{CONF_INACTIVITY_TIMEOUT: 3600})  # awake all along
    await wait_for(toy_is_set_up(entry, toy))
    toy.faults.refuse_connect = True
    toy.disconnect_now()
    bluetooth_forgets_the_toy(hass)
    counters = entry.runtime_data.session.counters
    await loop_clock.advance(2)
    tried = counters.connect_failures
    await loop_clock.advance(600, step=5)
    # Counted by the session: a connect to a toy no scanner hears never reaches the toy.
    assert counters.connect_failures == tried, "connects were tried while nobody heard the toy"
    toy.faults.refuse_connect = False
    proxy.advertise(toy)  # heard again: it reconnects at once
    took = await loop_clock.advance_until(lambda: entry.runtime_data.session.is_connected, limit=10, step=0.5)
    assert took <= 2.0


# ------------------------------------------------------------------ 5. will-sleep is sleep


async def test_a_link_lost_after_the_toy_said_it_will_sleep_is_sleep_not_a_drop(
    hass: HomeAssistant, toy: SimulatedBB8, entry: MockConfigEntry, loop_clock: LoopClock
) -> None:
    """WILL_SLEEP (10 s ahead) means the toy is going; its DID_SLEEP lost with the link changes nothing."""
    await loop_clock.advance_until(lambda: toy.will_sleep_sent > 0, limit=700, step=5)
    await loop_clock.advance(0.5, step=0.1)
    toy.disconnect_now("the proxy lost the link before did-sleep")  # did-sleep never arrives
    connects = toy.connect_count
    await loop_clock.advance(12, step=0.5)
    assert toy.asleep
    await loop_clock.advance(600, step=10)
    assert toy.connect_count == connects, "reconnecting would wake the toy every ten minutes"
    assert toy.asleep


async def test_sleep_pressed_and_the_link_gone_before_the_answer_is_still_sleep(
    hass: HomeAssistant, toy: SimulatedBB8, entry: MockConfigEntry, loop_clock: LoopClock
) -> None:
    """The person's decision holds: no *link lost* error and no reconnect."""
    toy.faults.disconnect_on_write = 1  # the sleep command's write takes the link down with it
    await press(hass, SLEEP)
    connects = toy.connect_count
    await loop_clock.advance(120, step=2)
    assert toy.connect_count == connects
    assert entry.runtime_data.session.toy.asleep


async def test_a_command_after_will_sleep_keeps_the_toy_awake_and_connected(
    hass: HomeAssistant, toy: SimulatedBB8, entry: MockConfigEntry, loop_clock: LoopClock
) -> None:
    """Used within the toy's last 10 s: the command resets its timer; nothing counts it asleep."""
    await loop_clock.advance_until(lambda: toy.will_sleep_sent > 0, limit=700, step=5)
    await light_on(hass, (10, 20, 30))
    await loop_clock.advance(30, step=1)
    assert toy.awake
    assert entry.runtime_data.session.is_connected
    assert not entry.runtime_data.session.toy.asleep


# ------------------------------------------------------------------ 7. a rolling toy is in use


async def test_on_demand_a_roll_without_duration_keeps_the_link_past_the_idle_timeout(
    hass: HomeAssistant, toy: SimulatedBB8, loop_clock: LoopClock
) -> None:
    """On demand: "A rolling toy is in use" — the idle timeout does not drop it (which would stop it)."""
    config_entry = await set_up_toy(
        hass, toy, **{CONF_CONNECTION_MODE: MODE_ON_DEMAND, CONF_IDLE_TIMEOUT: 10}
    )
    await roll(hass, config_entry, heading=30, speed=70)
    await loop_clock.advance(60, step=1)
    assert toy.connected
    assert toy.rolling
    await hass.services.async_call(
        DOMAIN, "stop", {"device_id": device_id_of(hass, config_entry)}, blocking=True
    )
    assert not toy.rolling
    took = await loop_clock.advance_until(lambda: not toy.connected, limit=30)
    assert 9.0 <= took <= 12.0, "the idle timeout counts from the stop"


async def test_on_demand_a_roll_longer_than_the_idle_timeout_is_not_cut_short(
    hass: HomeAssistant, toy: SimulatedBB8, loop_clock: LoopClock
) -> None:
    """On demand, a 25 s roll with a 10 s idle timeout rolls 25 s, and no connect is made to stop it."""
    config_entry = await set_up_toy(
        hass, toy, **{CONF_CONNECTION_MODE: MODE_ON_DEMAND, CONF_IDLE_TIMEOUT: 10}
    )
    call = hass.async_create_task(roll(hass, config_entry, heading=0, speed=60, duration=25))
    await wait_for(lambda: toy.rolling)
    connects = toy.connect_count
    await loop_clock.advance(24, step=1)
    assert toy.rolling, "still rolling after 24 s of a 25 s roll"
    await loop_clock.advance(2, step=0.5)
    await call
    assert not toy.rolling
    assert toy.connect_count == connects, "the stop went over the link that was up"
    assert toy.commands_received[-1].kind == "roll"


# ------------------------------------------------------------------ 8. sleep with no link


async def test_sleep_pressed_on_a_sleeping_toy_does_not_connect(
    hass: HomeAssistant, toy: SimulatedBB8, entry: MockConfigEntry, loop_clock: LoopClock
) -> None:
    """Connecting wakes the toy: pressing Sleep again must not wake it to put it back to sleep."""
    await press(hass, SLEEP)
    await wait_for(lambda: not toy.connected)
    connects = toy.connect_count
    await press(hass, SLEEP)
    await loop_clock.advance(60, step=5)
    assert toy.connect_count == connects
    assert toy.asleep


async def test_sleep_pressed_on_demand_after_the_toy_slept_by_itself_does_not_connect(
    hass: HomeAssistant, toy: SimulatedBB8, loop_clock: LoopClock
) -> None:
    """On demand, idle and past its sleep time: the toy sleeps, so Sleep connects to nothing."""
    config_entry = await set_up_toy(
        hass,
        toy,
        **{CONF_CONNECTION_MODE: MODE_ON_DEMAND, CONF_IDLE_TIMEOUT: 10, CONF_INACTIVITY_TIMEOUT: 60},
    )
    await light_on(hass)
    await loop_clock.advance_until(lambda: not toy.connected, limit=30)
    await loop_clock.advance(70, step=5)
    assert toy.asleep
    connects = toy.connect_count
    await press(hass, SLEEP)
    await loop_clock.advance(10)
    assert toy.connect_count == connects
    assert toy.asleep
    assert config_entry.runtime_data.session.toy.asleep


async def test_sleep_pressed_on_demand_while_the_idle_toy_is_still_awake_puts_it_to_sleep(
    hass: HomeAssistant, toy: SimulatedBB8, loop_clock: LoopClock
) -> None:
    """On demand, idle but within its sleep time: the toy is awake, so Sleep connects and sleeps it."""
    await set_up_toy(hass, toy, **{CONF_CONNECTION_MODE: MODE_ON_DEMAND, CONF_IDLE_TIMEOUT: 10})
    await light_on(hass)
    await loop_clock.advance_until(lambda: not toy.connected, limit=30)
    assert toy.awake
    await press(hass, SLEEP)
    assert toy.asleep
    assert toy.sleep_requests == [(0, 0, 0)]


# ------------------------------------------------------------------ 9. charging needs a link


async def test_charging_is_unknown_without_a_link(
    hass: HomeAssistant, toy: SimulatedBB8, entry: MockConfigEntry, loop_clock: LoopClock
) -> None:
    """README: "Charging ... unknown without a link" (it may have left its charger since)."""
    toy.set_charging(True)
    await loop_clock.advance_until(lambda: state_of(hass, CHARGING).state == STATE_ON, limit=30)
    await press(hass, SLEEP)
    await wait_for(lambda: not toy.connected)
    await hass.async_block_till_done()
    assert state_of(hass, CHARGING).state == STATE_UNKNOWN
    assert state_of(hass, "sensor.bb_b54a_battery_voltage").state not in (STATE_UNKNOWN, "unavailable"), (
        "the voltage is kept: a last reading"
    )


# ------------------------------------------------------------------ 11. background failures


async def test_a_set_up_step_the_toy_refuses_after_connecting_is_logged_as_a_warning(
    hass: HomeAssistant, toy: SimulatedBB8, caplog: pytest.LogCaptureFixture
) -> None:
    """A toy that did not take its set-up (here: collision detection) is said in the log, not at DEBUG."""
    with toy.refusing(DeviceId.SPHERO, SpheroCommand.CONFIGURE_COLLISION_DETECTION, 0x05):
        config_entry = await set_up_toy(hass, toy)
        await wait_for(lambda: config_entry.runtime_data.session.is_set_up)
    warnings = [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith(BB8_LOGGER) and record.levelno == logging.WARNING
    ]
    assert any("configure_collision_detection" in message for message in warnings), warnings


# ------------------------------------------------------------------ 12. the toy's sleep time


async def test_sleep_after_option_sets_how_long_the_toy_stays_awake_without_a_command(
    hass: HomeAssistant, toy: SimulatedBB8, entry: MockConfigEntry, loop_clock: LoopClock
) -> None:
    """Options, *Sleep after*: "The toy goes to sleep by itself after this long without a command"."""
    await change_options(hass, entry, **{CONF_INACTIVITY_TIMEOUT: 1800})
    await wait_for(toy_is_set_up(entry, toy))
    assert toy.inactivity_timeout == 1800
    await loop_clock.advance(1700, step=10)
    assert toy.awake, "awake 1700 s after its last command (the toy's default is 600 s)"
    await loop_clock.advance(120, step=5)
    assert toy.asleep


async def test_sleep_after_at_the_toys_default_is_written_once_not_on_every_connect(
    hass: HomeAssistant, toy: SimulatedBB8, entry: MockConfigEntry
) -> None:
    """README, *Sleep after*: "written when it is not the toy's default of 600 s, or changed"."""
    assert toy.command_counts["set_inactivity_timeout"] == 1, "the first connect writes it once"
    toy.disconnect_now()
    await wait_for(toy_is_set_up(entry, toy))
    assert toy.command_counts["set_inactivity_timeout"] == 1, "a reconnect does not write it again"
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await wait_for(toy_is_set_up(entry, toy))
    assert toy.command_counts["set_inactivity_timeout"] == 1, "nor a reload (what was written is stored)"


async def test_sleep_after_staying_awake_longer_drains_the_battery_off_the_charger(
    toy: SimulatedBB8, loop_clock: LoopClock, hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """Options, *Sleep after*: "Staying awake longer drains its battery while it is off its charger"."""
    start = toy.battery_voltage
    await loop_clock.advance(500, step=10)  # awake
    awake_drop = start - toy.battery_voltage
    await press(hass, SLEEP)
    asleep_start = toy.battery_voltage
    await loop_clock.advance(500, step=10)
    asleep_drop = asleep_start - toy.battery_voltage
    assert awake_drop > 0
    assert asleep_drop < awake_drop / 10


# ------------------------------------------------------------------ what a person can fix


async def test_a_toy_heard_only_by_a_passive_proxy_says_how_to_fix_it_and_sets_up_once_one_connects(
    hass: HomeAssistant, proxy: SimProxy, sim_clock: SimClock
) -> None:
    """README, Repairs: "a toy heard only by scanners that cannot connect ... is said in the set-up error"."""
    passive = SimProxy(hass, source="AA:BB:CC:00:00:0P", name="passive proxy", connectable=False)
    undo = passive.async_setup()
    try:
        heard = SimulatedBB8(SECOND_ADDRESS, clock=sim_clock, seed=5)
        passive.advertise(heard)
        await hass.async_block_till_done()
        config_entry = make_entry(heard)
        config_entry.add_to_hass(hass)
        assert not await hass.config_entries.async_setup(config_entry.entry_id)
        assert config_entry.state is ConfigEntryState.SETUP_RETRY
        assert config_entry.reason is not None
        assert "cannot connect" in config_entry.reason
        assert "active: true" in config_entry.reason, "says what to change"
        assert heard.connect_count == 0

        proxy.advertise(heard)  # an active proxy hears it: the next retry sets it up
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=90))
        await hass.async_block_till_done(wait_background_tasks=True)
        await wait_for(lambda: config_entry.state is ConfigEntryState.LOADED)
        await wait_for(toy_is_set_up(config_entry, heard))
    finally:
        undo()
