"""Stop on a sleeping toy leaves it asleep; a toy that may still roll is still stopped.

A sleeping toy stands still. Connecting wakes it, so a Stop that connected to send its stop woke
the toy it meant to leave alone: a Stop pressed by mistake, the card's Stop, or an automation's
"stop everything" at night woke every toy for ten minutes. Each test drives Home Assistant (the
Stop button, the ``bb8.stop`` action, a ``bb8.roll`` at speed 0, a restart of the entry) against
the simulated toys, v1 (a BB-8) and v2 (an R2-D2), and reads the outcome from the simulator:
its connects, what was written to it, whether it sleeps or rolls.

README, the sleep section: "**Stop** (the button, `bb8.stop`, the card's Stop) on a sleeping toy
sends nothing and leaves it asleep: a sleeping toy stands still. A toy that may still be rolling
(a v2 toy whose link dropped mid-roll) is sent its stop, which wakes it."
Debug log: "stop asked while the toy sleeps: nothing sent (it stands still, and connecting would
wake it)".
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import logging
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
import pytest

from bb8sim import SimClock, SimulatedBB8
from bb8sim.proxy import SimProxy
from bb8sim.v2 import SimulatedV2Toy
from bb8sim.v2.protocol import Did, DriveCid
from custom_components.bb8.const import (
    CONF_CONNECTION_MODE,
    CONF_IDLE_TIMEOUT,
    CONF_INACTIVITY_TIMEOUT,
    DOMAIN,
    MODE_ALWAYS,
    MODE_ON_DEMAND,
)

from .conftest import (
    TOY_ADDRESS,
    LoopClock,
    change_options,
    device_id_of,
    set_up_toy,
    toy_is_set_up,
    wait_for,
)
from .test_family_v1 import entity_of
from .test_family_v2 import add_through_discovery, advertised, v2_is_set_up

README = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8").split())
BB8_LOGGER = "custom_components.bb8"
SKIPPED = "stop asked while the toy sleeps: nothing sent (it stands still, and connecting would wake it)"
"""The debug line's words after the toy's name (session.py), as this file's docstring quotes them."""
MODES = {"always": MODE_ALWAYS, "on_demand": MODE_ON_DEMAND}

type Sim = SimulatedBB8 | SimulatedV2Toy


async def press(hass: HomeAssistant, key: str) -> None:
    entity_id = entity_of(hass, "button", TOY_ADDRESS, key)
    assert entity_id, f"no {key} button"
    await hass.services.async_call("button", "press", {ATTR_ENTITY_ID: entity_id}, blocking=True)


def stop_by(how: str) -> Callable[[HomeAssistant, ConfigEntry], Awaitable[None]]:
    """The Stop a person sends: the Stop button, or the ``bb8.stop`` action (the card calls it)."""

    async def _stop(hass: HomeAssistant, entry: ConfigEntry) -> None:
        if how == "button":
            await press(hass, "stop")
        else:
            await hass.services.async_call(
                DOMAIN, "stop", {"device_id": device_id_of(hass, entry)}, blocking=True
            )

    return _stop


async def roll(hass: HomeAssistant, entry: ConfigEntry, **data: Any) -> None:
    await hass.services.async_call(
        DOMAIN, "roll", {"device_id": device_id_of(hass, entry), **data}, blocking=True
    )


def skipped_lines(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith(BB8_LOGGER) and record.getMessage() == f"{name}: {SKIPPED}"
    ]


def v2_stops(toy: SimulatedV2Toy) -> int:
    """Drive requests at speed 0 the v2 toy read while awake (a v2 stop is a drive at speed 0)."""
    return sum(
        1
        for request in toy.requests
        if request.key == (Did.DRIVE, DriveCid.DRIVE_WITH_HEADING)
        and request.err == 0
        and request.packet.data[0] == 0
    )


def untouched(toy: Sim) -> Callable[[], None]:
    """Record the toy now; the returned check says nothing connected to it or was written since."""
    connects, writes = toy.connect_count, len(toy.writes)

    def _check() -> None:
        assert toy.connect_count == connects, "Stop connected to the sleeping toy (connecting wakes it)"
        assert len(toy.writes) == writes, "something was written to the sleeping toy"
        assert not toy.awake

    return _check


# ------------------------------------------------------------------ the README's sentence


def test_readme_says_stop_leaves_a_sleeping_toy_asleep() -> None:
    assert (
        "**Stop** (the button, `bb8.stop`, the card's Stop) on a sleeping toy sends nothing and leaves it "
        "asleep: a sleeping toy stands still. A toy that may still be rolling (a v2 toy whose link dropped "
        "mid-roll) is sent its stop, which wakes it."
    ) in README


def test_readme_says_a_stop_during_a_sleep_waits_for_it() -> None:
    assert (
        "A Stop that comes while a Sleep is on its way waits for the toy to answer the Sleep, and then "
        "has nothing to do: the toy stays asleep."
    ) in README


def test_readme_says_other_use_during_a_sleep_waits_for_it_and_wakes_the_toy() -> None:
    assert (
        "Anything else asked while a Sleep is on its way (a roll, Wake, a colour) waits for it too, and "
        "then wakes the toy to do it: the latest request wins."
    ) in README


# ------------------------------------------------------------------ v1: a BB-8


@pytest.mark.parametrize("how", ["button", "action"])
@pytest.mark.parametrize("mode", list(MODES))
async def test_stop_after_sleep_sends_nothing_and_the_bb8_sleeps_on(
    hass: HomeAssistant,
    toy: SimulatedBB8,
    loop_clock: LoopClock,
    caplog: pytest.LogCaptureFixture,
    mode: str,
    how: str,
) -> None:
    """Log: "stop asked while the toy sleeps: nothing sent (it stands still, and connecting would wake it)"."""
    caplog.set_level(logging.DEBUG, logger=BB8_LOGGER)
    entry = await set_up_toy(hass, toy, **{CONF_CONNECTION_MODE: MODES[mode]})
    await press(hass, "wake")  # on demand, use makes the link
    await wait_for(toy_is_set_up(entry, toy))
    await press(hass, "sleep")
    await wait_for(lambda: not toy.connected)
    assert toy.asleep
    check = untouched(toy)

    await stop_by(how)(hass, entry)
    await loop_clock.advance(60, step=5)
    check()
    assert entry.runtime_data.session.toy.asleep
    assert skipped_lines(caplog, toy.name) == [f"{toy.name}: {SKIPPED}"]


async def test_stop_after_the_bb8_said_it_slept_sends_nothing(
    hass: HomeAssistant, toy: SimulatedBB8, loop_clock: LoopClock
) -> None:
    """The toy's own sleep (its did-sleep notification) is sleep too: Stop leaves it asleep."""
    entry = await set_up_toy(hass, toy)
    await wait_for(toy_is_set_up(entry, toy))
    toy.sleep_now()
    await wait_for(lambda: entry.runtime_data.session.toy.asleep and not toy.connected)
    check = untouched(toy)
    await stop_by("action")(hass, entry)
    await loop_clock.advance(60, step=5)
    check()


@pytest.mark.parametrize("mode", list(MODES))
async def test_stop_after_a_restart_with_the_bb8_asleep_sends_nothing(
    hass: HomeAssistant, toy: SimulatedBB8, loop_clock: LoopClock, mode: str
) -> None:
    """Sleep outlives the restart (it is stored), and so Stop after it leaves the toy asleep."""
    entry = await set_up_toy(hass, toy, **{CONF_CONNECTION_MODE: MODES[mode]})
    await press(hass, "wake")
    await wait_for(toy_is_set_up(entry, toy))
    await press(hass, "sleep")
    await wait_for(lambda: not toy.connected)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    check = untouched(toy)

    await stop_by("button")(hass, entry)
    await stop_by("action")(hass, entry)
    await loop_clock.advance(120, step=5)
    check()

    await press(hass, "wake")  # use still wakes it
    assert toy.awake


async def test_stop_on_demand_after_the_idle_bb8_slept_by_itself_sends_nothing(
    hass: HomeAssistant, toy: SimulatedBB8, loop_clock: LoopClock
) -> None:
    """Only presumed asleep (its sleep time ran out with no link): a BB-8 stopped when its link went."""
    entry = await set_up_toy(
        hass,
        toy,
        **{CONF_CONNECTION_MODE: MODE_ON_DEMAND, CONF_IDLE_TIMEOUT: 10, CONF_INACTIVITY_TIMEOUT: 60},
    )
    await roll(hass, entry, heading=0, speed=80, duration=1)
    await loop_clock.advance_until(lambda: not toy.connected, limit=30)
    await loop_clock.advance(70, step=5)
    assert toy.asleep
    assert not entry.runtime_data.session.toy.asleep, "presumed from the clock, not heard"
    check = untouched(toy)
    await stop_by("button")(hass, entry)
    await loop_clock.advance(10)
    check()


async def test_stop_on_demand_while_the_idle_bb8_is_still_awake_is_sent(
    hass: HomeAssistant, toy: SimulatedBB8, loop_clock: LoopClock
) -> None:
    """Within its sleep time the toy is awake: Stop is use, as before, and connects to send it."""
    entry = await set_up_toy(hass, toy, **{CONF_CONNECTION_MODE: MODE_ON_DEMAND, CONF_IDLE_TIMEOUT: 10})
    await roll(hass, entry, heading=0, speed=80, duration=1)
    await loop_clock.advance_until(lambda: not toy.connected, limit=30)
    stops = toy.command_counts["roll"]
    await stop_by("action")(hass, entry)
    assert toy.connected
    assert toy.command_counts["roll"] == stops + 1
    assert not toy.rolling


async def test_a_rolling_bb8_is_stopped(hass: HomeAssistant, toy: SimulatedBB8) -> None:
    entry = await set_up_toy(hass, toy)
    await wait_for(toy_is_set_up(entry, toy))
    await roll(hass, entry, heading=90, speed=120)
    assert toy.rolling
    await stop_by("button")(hass, entry)
    assert not toy.rolling
    assert toy.heading == 90


async def test_a_bb8_that_said_it_will_sleep_while_rolling_is_still_stopped(
    hass: HomeAssistant, toy: SimulatedBB8, loop_clock: LoopClock
) -> None:
    """Marked asleep by its will-sleep notice, but rolling as asked: not asleep; the stop goes out."""
    entry = await set_up_toy(hass, toy)
    await wait_for(toy_is_set_up(entry, toy))
    await roll(hass, entry, heading=90, speed=120)
    await loop_clock.advance_until(lambda: toy.will_sleep_sent > 0, limit=700, step=5)
    session = entry.runtime_data.session
    assert session.toy.asleep
    assert session.rolling
    assert toy.rolling
    await stop_by("action")(hass, entry)
    assert not toy.rolling


@pytest.mark.parametrize("mode", list(MODES))
async def test_stop_pressed_while_sleep_is_on_its_way_leaves_the_bb8_asleep(
    hass: HomeAssistant, toy: SimulatedBB8, loop_clock: LoopClock, mode: str
) -> None:
    """README: "A Stop that comes while a Sleep is on its way waits for the toy to answer the Sleep,
    and then has nothing to do: the toy stays asleep."

    A script's "stop everything" racing a Sleep on a rolling toy: the Stop succeeds, the toy stops
    (asleep, it stands still) and nothing connects to it again.
    """
    entry = await set_up_toy(hass, toy, **{CONF_CONNECTION_MODE: MODES[mode]})
    await press(hass, "wake")
    await wait_for(toy_is_set_up(entry, toy))
    await roll(hass, entry, heading=90, speed=120)
    assert toy.rolling
    sleeping = await press_sleep_in_flight(hass, toy, entry)
    await stop_by("action")(hass, entry)
    await sleeping
    await wait_for(lambda: not toy.connected)
    assert toy.asleep
    assert not toy.rolling
    check = untouched(toy)
    await loop_clock.advance(120, step=5)
    check()
    assert entry.runtime_data.session.toy.asleep


async def press_sleep_in_flight(
    hass: HomeAssistant, toy: SimulatedBB8, entry: ConfigEntry
) -> asyncio.Task[Any]:
    """Press Sleep and return once it is under way: asked of the toy, not yet answered.

    The toy answers 0.3 s late (its radio's fault plan), so what the test asks next races the
    sleep's answer.
    """
    toy.faults.response_delay = 0.3
    sleep_button = entity_of(hass, "button", TOY_ADDRESS, "sleep")
    sleeping = hass.async_create_task(
        hass.services.async_call("button", "press", {ATTR_ENTITY_ID: sleep_button}, blocking=True)
    )
    await wait_for(lambda: entry.runtime_data.session.toy.asleep)
    assert toy.connected, "the sleep was over before the race began"
    return sleeping


@pytest.mark.parametrize("mode", list(MODES))
async def test_a_roll_asked_while_sleep_is_on_its_way_wakes_the_bb8_and_rolls_it(
    hass: HomeAssistant, toy: SimulatedBB8, mode: str
) -> None:
    """README: "Anything else asked while a Sleep is on its way (a roll, Wake, a colour) waits for
    it too, and then wakes the toy to do it: the latest request wins."
    """
    entry = await set_up_toy(hass, toy, **{CONF_CONNECTION_MODE: MODES[mode]})
    await press(hass, "wake")
    await wait_for(toy_is_set_up(entry, toy))
    sleeping = await press_sleep_in_flight(hass, toy, entry)
    await roll(hass, entry, heading=180, speed=90)
    await sleeping
    assert toy.sleep_count >= 1, "the sleep never reached the toy"
    assert toy.awake
    assert toy.rolling
    assert toy.heading == 180
    assert not entry.runtime_data.session.toy.asleep


@pytest.mark.parametrize("mode", list(MODES))
async def test_wake_pressed_while_sleep_is_on_its_way_leaves_the_bb8_awake_and_linked(
    hass: HomeAssistant, toy: SimulatedBB8, mode: str
) -> None:
    """README: "Anything else asked while a Sleep is on its way (a roll, Wake, a colour) waits for
    it too, and then wakes the toy to do it: the latest request wins."
    """
    entry = await set_up_toy(hass, toy, **{CONF_CONNECTION_MODE: MODES[mode]})
    await press(hass, "wake")
    await wait_for(toy_is_set_up(entry, toy))
    sleeping = await press_sleep_in_flight(hass, toy, entry)
    await press(hass, "wake")
    await sleeping
    assert toy.sleep_count >= 1, "the sleep never reached the toy"
    await wait_for(lambda: toy.awake and toy.connected)
    assert not entry.runtime_data.session.toy.asleep


async def test_a_colour_asked_while_sleep_is_on_its_way_wakes_the_bb8_and_shows_it(
    hass: HomeAssistant, toy: SimulatedBB8
) -> None:
    """README: "Anything else asked while a Sleep is on its way (a roll, Wake, a colour) waits for
    it too, and then wakes the toy to do it: the latest request wins."
    """
    entry = await set_up_toy(hass, toy)
    await wait_for(toy_is_set_up(entry, toy))
    sleeping = await press_sleep_in_flight(hass, toy, entry)
    light = entity_of(hass, "light", TOY_ADDRESS, "main_led")
    await hass.services.async_call(
        "light", "turn_on", {ATTR_ENTITY_ID: light, "rgb_color": (0, 40, 200)}, blocking=True
    )
    await sleeping
    assert toy.sleep_count >= 1, "the sleep never reached the toy"
    await wait_for(lambda: toy.awake and toy.main_led == (0, 40, 200))
    assert not entry.runtime_data.session.toy.asleep


async def test_a_roll_at_speed_0_the_way_a_sleeping_bb8_faces_is_a_stop_and_sends_nothing(
    hass: HomeAssistant, toy: SimulatedBB8, loop_clock: LoopClock, caplog: pytest.LogCaptureFixture
) -> None:
    """README, `bb8.roll`: "At speed 0 towards the heading the toy last faced it is a stop, as `bb8.stop` is"."""
    assert "At speed 0 towards the heading the toy last faced it is a stop, as `bb8.stop` is" in README
    caplog.set_level(logging.DEBUG, logger=BB8_LOGGER)
    entry = await set_up_toy(hass, toy)
    await wait_for(toy_is_set_up(entry, toy))
    await roll(hass, entry, heading=90, speed=60)
    await stop_by("action")(hass, entry)
    await press(hass, "sleep")
    await wait_for(lambda: not toy.connected)
    check = untouched(toy)
    await roll(hass, entry, heading=90, speed=0)
    await roll(hass, entry, heading=90, speed=0, duration=5)
    await loop_clock.advance(30, step=5)
    check()
    assert f"{toy.name}: roll at speed 0 asked while the toy sleeps: nothing sent" in caplog.text

    # Towards another heading it turns the toy: that is use, and it wakes it.
    await roll(hass, entry, heading=180, speed=0)
    assert toy.awake
    assert (toy.heading, toy.speed) == (180, 0)


# ------------------------------------------------------------------ v2: an R2-D2


@pytest.fixture
async def r2(hass: HomeAssistant, proxy: SimProxy, sim_clock: SimClock) -> SimulatedV2Toy:
    return await advertised(hass, proxy, sim_clock, "r2d2")


@pytest.mark.parametrize("how", ["button", "action"])
@pytest.mark.parametrize("mode", list(MODES))
async def test_stop_after_sleep_sends_nothing_and_the_v2_toy_sleeps_on(
    hass: HomeAssistant,
    r2: SimulatedV2Toy,
    loop_clock: LoopClock,
    caplog: pytest.LogCaptureFixture,
    mode: str,
    how: str,
) -> None:
    caplog.set_level(logging.DEBUG, logger=BB8_LOGGER)
    entry = await add_through_discovery(hass, r2)
    if mode == "on_demand":
        await change_options(hass, entry, **{CONF_CONNECTION_MODE: MODE_ON_DEMAND})
        await press(hass, "wake")
        await wait_for(v2_is_set_up(entry, r2))
    await press(hass, "sleep")
    await wait_for(lambda: not r2.connected)
    check = untouched(r2)
    await stop_by(how)(hass, entry)
    await loop_clock.advance(60, step=5)
    check()
    assert skipped_lines(caplog, r2.name) == [f"{r2.name}: {SKIPPED}"]


async def test_stop_after_a_restart_with_the_v2_toy_asleep_sends_nothing(
    hass: HomeAssistant, r2: SimulatedV2Toy, loop_clock: LoopClock
) -> None:
    entry = await add_through_discovery(hass, r2)
    await press(hass, "sleep")
    await wait_for(lambda: not r2.connected)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    check = untouched(r2)
    await stop_by("action")(hass, entry)
    await stop_by("button")(hass, entry)
    await loop_clock.advance(120, step=5)
    check()


async def test_a_rolling_v2_toy_is_stopped(hass: HomeAssistant, r2: SimulatedV2Toy) -> None:
    entry = await add_through_discovery(hass, r2)
    await roll(hass, entry, heading=90, speed=80)
    assert r2.rolling
    await stop_by("button")(hass, entry)
    assert not r2.rolling


async def test_a_v2_toy_owed_a_stop_gets_it_though_it_is_taken_for_asleep(
    hass: HomeAssistant, r2: SimulatedV2Toy, loop_clock: LoopClock
) -> None:
    """The link dropped mid-roll, the stop fell due, and its sleep time ran out with no link.

    The session marks it asleep (its inactivity time is over), but a v2 toy rolls on without its
    link: it may still be rolling, so Stop is sent (connecting, which wakes it), not skipped.
    """
    entry = await add_through_discovery(hass, r2)
    session = entry.runtime_data.session
    task = hass.async_create_task(roll(hass, entry, heading=0, speed=90, duration=2))
    await wait_for(lambda: r2.rolling)
    r2.faults.refuse_connect = True
    r2.disconnect_now()
    await task  # its duration ended with no link: the stop is owed
    assert session.rolling
    await loop_clock.advance_until(lambda: session.toy.asleep, limit=900, step=10)
    r2.faults.refuse_connect = False
    stops = v2_stops(r2)
    await stop_by("button")(hass, entry)
    assert v2_stops(r2) > stops, "the owed stop was not sent"
    assert not session.rolling
    await wait_for(v2_is_set_up(entry, r2))


async def test_a_v2_toy_rolling_on_demand_when_its_link_dropped_is_stopped_after_its_sleep_time(
    hass: HomeAssistant, r2: SimulatedV2Toy, loop_clock: LoopClock
) -> None:
    """On demand, only presumed asleep by the clock: a v2 toy that lost its link mid-roll may roll on."""
    entry = await add_through_discovery(hass, r2)
    await change_options(hass, entry, **{CONF_CONNECTION_MODE: MODE_ON_DEMAND})
    session = entry.runtime_data.session
    await roll(hass, entry, heading=0, speed=90)
    assert r2.rolling
    r2.disconnect_now()
    await wait_for(lambda: not session.is_connected)
    await loop_clock.advance(700, step=10)
    assert session.rolling
    assert not session.toy.asleep
    stops = v2_stops(r2)
    await stop_by("action")(hass, entry)
    assert v2_stops(r2) > stops, "the stop a possibly rolling toy needs was skipped"
    assert not session.rolling
