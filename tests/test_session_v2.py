"""A session with a v2 model against the simulated v2 toys, through bleak and bleak-retry-connector (no HA).

``BB8Session(..., model=sphero_v2.R2D2)`` reaches ``bb8sim.v2.SimulatedV2Toy`` through the
simulator's bleak backend, as ``tests/test_session.py`` reaches the BB-8: the toy is the witness,
and each test reads what it did from the toy's own state.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bb8sim import SimBleakBackend, SimClock, registry
from bb8sim.testing import make_ble_device
from bb8sim.v2 import SimulatedV2Toy
from bb8sim.v2.codec import V2Packet
from custom_components.bb8.sphero import commands_v2 as v2, sphero_v2
from custom_components.bb8.sphero.errors import CommandRejectedError
from custom_components.bb8.sphero.policy import ReconnectPolicy
from custom_components.bb8.sphero.session import BB8Session, ConnectionMode, SessionState

from .conftest import FAST_POLICY_KWARGS, setup_finished, wait_for

ADDRESS = "F1:02:03:04:B5:4A"
MODELS = {
    "r2d2": sphero_v2.R2D2,
    "r2q5": sphero_v2.R2Q5,
    "bb9e": sphero_v2.BB9E,
    "mini": sphero_v2.MINI,
    "bolt": sphero_v2.BOLT,
}
EVERY_MODEL = pytest.mark.parametrize("key", ["r2d2", "mini", "bolt"])

type MakeSession = Callable[..., BB8Session]


@pytest.fixture
def clock() -> SimClock:
    """The simulated toy's clock (tests move it to make the toy's own timers fire)."""
    return SimClock()


@pytest.fixture
async def make(clock: SimClock) -> AsyncIterator[Callable[..., tuple[SimulatedV2Toy, BB8Session]]]:
    """Register a simulated v2 toy of ``key`` and build a session with that model onto it."""
    sessions: list[BB8Session] = []

    def _make(key: str, **kwargs: Any) -> tuple[SimulatedV2Toy, BB8Session]:
        toy = registry.register(SimulatedV2Toy(ADDRESS, key, clock=clock))
        kwargs.setdefault("policy", ReconnectPolicy(**FAST_POLICY_KWARGS))
        kwargs.setdefault("pacing_interval", 0.01)
        kwargs.setdefault("command_timeout", 1.0)
        kwargs.setdefault("connect_attempts", 1)
        session = BB8Session(
            make_ble_device(toy.address, toy.name, {}, rssi=-60),
            client_kwargs={"backend": SimBleakBackend},
            model=MODELS[key],
            **kwargs,
        )
        sessions.append(session)
        return toy, session

    yield _make
    for session in sessions:
        await session.close()


async def connected(
    make: Callable[..., tuple[SimulatedV2Toy, BB8Session]], key: str, **kwargs: Any
) -> tuple[SimulatedV2Toy, BB8Session]:
    toy, session = make(key, **kwargs)
    await session.connect()
    await wait_for(setup_finished(session))
    return toy, session


def requests_of(toy: SimulatedV2Toy, did: int, cid: int) -> list[V2Packet]:
    return [request.packet for request in toy.requests if request.key == (did, cid)]


# -- handshake and set-up -------------------------------------------------------------------------


@EVERY_MODEL
async def test_connect_unlocks_anti_dos_then_the_wake_is_the_first_command_and_wakes_the_toy(
    make: Callable[..., tuple[SimulatedV2Toy, BB8Session]], key: str
) -> None:
    toy, session = make(key)
    assert not toy.awake
    await session.connect()
    assert session.state is SessionState.CONNECTED
    assert toy.handshake_log == [("anti_dos", b"usetheforce...band")]
    assert toy.anti_dos_unlocked
    assert toy.awake
    assert toy.requests[0].key == (0x13, 0x0D), "the readiness probe is Power/Wake"
    assert toy.command_counts["ignored_asleep"] == 0, "nothing but power commands reached a sleeping toy"
    await wait_for(setup_finished(session))
    assert (toy.garbage_bytes, toy.bad_frames) == (0, 0), "every write was a whole, valid v2 frame"


@EVERY_MODEL
async def test_every_connect_arms_collisions_and_reads_the_battery(
    make: Callable[..., tuple[SimulatedV2Toy, BB8Session]], key: str
) -> None:
    toy, session = await connected(make, key)
    assert toy.collision_config is not None
    assert toy.collision_config.method == 1
    assert session.toy.battery_voltage == round(toy.battery_voltage, 2)
    assert session.toy.battery_percentage == (toy.battery_percentage if key == "mini" else None)
    assert session.toy.charger_state == ("not_charging" if key == "bolt" else None)
    assert all(request.err == 0 for request in toy.requests), "the set-up asked only what the model has"
    assert session.counters.commands_failed == 0


async def test_the_battery_is_read_again_on_request(
    make: Callable[..., tuple[SimulatedV2Toy, BB8Session]],
) -> None:
    toy, session = await connected(make, "mini")
    toy.set_battery_voltage(3.64)
    for command in (v2.get_battery_voltage(), v2.get_battery_percentage()):
        session.toy.absorb(command, await session.send(command))
    assert session.toy.battery_voltage == 3.64
    assert session.toy.battery_percentage == 20


async def test_requests_are_numbered_0_to_254_leaving_0xff_to_the_async_packets(
    make: Callable[..., tuple[SimulatedV2Toy, BB8Session]],
) -> None:
    toy, session = await connected(make, "r2d2", pacing_interval=0.0)
    for _ in range(260):
        await session.send(v2.get_battery_voltage(), reset_timeout=False)
    seqs = [request.packet.seq for request in toy.requests]
    assert 0xFF not in seqs
    assert max(seqs) == 0xFE
    assert seqs.count(0) == 2, "after 254 comes 0"
    assert session.counters.commands_failed == 0


async def test_waking_over_the_link_that_is_up_writes_power_wake_asking_no_answer(
    make: Callable[..., tuple[SimulatedV2Toy, BB8Session]],
) -> None:
    toy, session = await connected(make, "mini")
    await session.wake()
    await wait_for(lambda: len(requests_of(toy, 0x13, 0x03)) == 2)  # the set-up runs again after a wake
    await wait_for(setup_finished(session))
    wakes = requests_of(toy, 0x13, 0x0D)
    assert [packet.flags for packet in wakes] == [0x02, 0x08], "the probe asked an answer; the wake did not"
    assert session.counters.unmatched_responses == 0


# -- driving --------------------------------------------------------------------------------------


@EVERY_MODEL
async def test_roll_drives_the_toy_and_stop_stops_it_keeping_the_heading(
    make: Callable[..., tuple[SimulatedV2Toy, BB8Session]], key: str
) -> None:
    toy, session = await connected(make, key)
    await session.roll(80, 270)
    assert (toy.speed, toy.heading) == (80, 270)
    assert session.rolling
    await session.stop()
    assert (toy.speed, toy.heading) == (0, 270)
    assert not session.rolling


async def test_the_bolt_drives_through_its_secondary_processor_and_lights_through_its_primary(
    make: Callable[..., tuple[SimulatedV2Toy, BB8Session]],
) -> None:
    toy, session = await connected(make, "bolt")
    await session.roll(50, 10)
    await session.send(v2.bolt_leds(front=(1, 2, 3), back=(4, 5, 6)))
    assert [packet.tid for packet in requests_of(toy, 0x16, 0x07)] == [0x12]
    assert [packet.tid for packet in requests_of(toy, 0x1A, 0x1C)] == [0x11]
    assert [packet.tid for packet in requests_of(toy, 0x13, 0x03)] == [None], "power goes untargeted"
    assert toy.speed == 50
    assert (toy.led_group("front"), toy.led_group("back")) == ((1, 2, 3), (4, 5, 6))


async def test_the_r2d2s_commands_go_untargeted_as_in_the_captures(
    make: Callable[..., tuple[SimulatedV2Toy, BB8Session]],
) -> None:
    toy, session = await connected(make, "r2d2")
    await session.roll(50, 10)
    assert all(request.packet.tid is None and request.packet.sid is None for request in toy.requests)
    assert toy.wake_notices_sent == 1, "the capture's async 13/11 came between a request and its answer"
    assert session.counters.unmatched_responses == 0
    assert session.counters.commands_failed == 0


@EVERY_MODEL
async def test_a_timed_roll_whose_caller_is_cancelled_stops_the_toy(
    make: Callable[..., tuple[SimulatedV2Toy, BB8Session]], key: str
) -> None:
    toy, session = await connected(make, key)
    rolling = asyncio.ensure_future(session.roll(90, 45, duration=30))
    await wait_for(lambda: toy.speed == 90)
    rolling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await rolling
    await wait_for(lambda: toy.speed == 0)
    assert toy.heading == 45


@EVERY_MODEL
async def test_closing_the_session_stops_a_rolling_toy_before_the_link_goes(
    make: Callable[..., tuple[SimulatedV2Toy, BB8Session]], key: str
) -> None:
    toy, session = await connected(make, key)
    await session.roll(120, 200)
    await session.close()
    assert toy.speed == 0
    assert toy.heading == 200
    assert not toy.connected


# -- lights, dome, stance, sounds, animations -----------------------------------------------------


async def test_the_r2d2s_front_back_logic_and_holo_lights(
    make: Callable[..., tuple[SimulatedV2Toy, BB8Session]],
) -> None:
    toy, session = await connected(make, "r2d2")
    await session.send(v2.r2_leds(front=(255, 0, 10), back=(0, 20, 255), logic=200, holo=100))
    assert toy.led_group("front") == (255, 0, 10)
    assert toy.led_group("back") == (0, 20, 255)
    assert (toy.leds["logic_displays"], toy.leds["holo_projector"]) == (200, 100)
    await session.send(v2.r2_leds(holo=0))
    assert toy.leds["holo_projector"] == 0
    assert toy.led_group("front") == (255, 0, 10), "a mask sets only its own LEDs"


async def test_a_burst_of_front_colours_ends_at_the_last_and_a_back_colour_among_them_keeps_its_place(
    make: Callable[..., tuple[SimulatedV2Toy, BB8Session]],
) -> None:
    toy, session = await connected(make, "r2d2", pacing_interval=0.05)
    colours = [(i, 255 - i, 7) for i in range(40)]
    sends = [session.send(v2.r2_leds(front=colour)) for colour in colours]
    sends.insert(20, session.send(v2.r2_leds(back=(9, 9, 9))))
    await asyncio.gather(*sends)
    assert toy.led_group("front") == colours[-1]
    assert toy.led_group("back") == (9, 9, 9)
    assert len(requests_of(toy, 0x1A, 0x0E)) <= 4, "latest wins: the colours in between were never sent"


async def test_the_bb9es_body_head_and_aiming_lights(
    make: Callable[..., tuple[SimulatedV2Toy, BB8Session]],
) -> None:
    toy, session = await connected(make, "bb9e")
    await session.send(v2.bb9e_leds(body=(10, 20, 30), head=40, aiming=50))
    assert toy.led_group("body") == (10, 20, 30)
    assert (toy.leds["head"], toy.leds["aiming"]) == (40, 50)


async def test_the_minis_body_and_aiming_lights(
    make: Callable[..., tuple[SimulatedV2Toy, BB8Session]],
) -> None:
    toy, session = await connected(make, "mini")
    await session.send(v2.mini_leds(body=(12, 34, 56), aiming=255))
    assert toy.led_group("body") == (12, 34, 56)
    assert toy.leds["aiming"] == 255


async def test_the_r2d2s_dome_stance_and_sound(
    make: Callable[..., tuple[SimulatedV2Toy, BB8Session]],
) -> None:
    toy, session = await connected(make, "r2d2")
    await session.send(v2.set_dome(-90.5))
    await session.send(v2.set_stance(v2.Stance.TRIPOD))
    await session.send(v2.play_sound(1497, v2.SoundMode.AFTER_CURRENT))
    assert toy.dome_angle == -90.5
    assert toy.stance == v2.Stance.TRIPOD
    assert toy.sounds_played == [(1497, 2)]


async def test_an_animation_plays_and_its_completion_is_heard(
    make: Callable[..., tuple[SimulatedV2Toy, BB8Session]], clock: SimClock
) -> None:
    toy, session = await connected(make, "r2d2")
    completed: list[int | None] = []
    session.toy.add_animation_listener(completed.append)
    await session.send(v2.play_animation(15))
    assert toy.animation_playing == 15
    clock.advance(3.0)
    await wait_for(lambda: completed == [15])
    assert toy.animation_playing is None


@EVERY_MODEL
async def test_a_collision_the_toy_reports_reaches_the_collision_listeners(
    make: Callable[..., tuple[SimulatedV2Toy, BB8Session]], key: str
) -> None:
    toy, session = await connected(make, key)
    heard: list[Any] = []
    session.toy.add_collision_listener(heard.append)
    await session.roll(60, 0)
    assert toy.trigger_collision(x_power=200, y_power=0)
    await wait_for(lambda: len(heard) == 1)
    assert (heard[0].magnitude_x, heard[0].magnitude_y, heard[0].x_axis, heard[0].y_axis) == (
        200,
        0,
        True,
        False,
    )
    assert heard[0].acceleration_x == 200 * 8 / 4096


# -- sleep ----------------------------------------------------------------------------------------


@EVERY_MODEL
async def test_sleep_puts_the_toy_to_sleep_and_the_session_does_not_reconnect_until_used(
    make: Callable[..., tuple[SimulatedV2Toy, BB8Session]], key: str
) -> None:
    toy, session = make(key, mode=ConnectionMode.ALWAYS)
    await session.start()
    await wait_for(setup_finished(session))
    await session.sleep()
    assert not toy.awake
    assert requests_of(toy, 0x13, 0x01), "the v2 soft sleep went out"
    assert not requests_of(toy, 0x13, 0x00), "never deep sleep"
    assert session.toy.asleep
    connects = toy.connect_count
    await asyncio.sleep(0.2)
    assert toy.connect_count == connects
    assert not session.is_connected
    await session.wake()
    await wait_for(lambda: session.is_connected and toy.awake)
    assert not session.toy.asleep


@pytest.mark.parametrize("key", ["r2d2", "mini"])
async def test_will_sleep_and_did_sleep_are_heard_and_the_toy_is_left_asleep(
    make: Callable[..., tuple[SimulatedV2Toy, BB8Session]], clock: SimClock, key: str
) -> None:
    toy, session = make(key, mode=ConnectionMode.ALWAYS)
    await session.start()
    await wait_for(setup_finished(session))
    updates: list[bool] = []
    session.toy.add_update_listener(lambda: updates.append(session.toy.asleep))
    clock.advance(590.5)
    await wait_for(lambda: session.toy.asleep)
    assert toy.will_sleep_sent == 1
    assert toy.awake, "told 10 s ahead, before it sleeps"
    clock.advance(10.0)
    await wait_for(lambda: not session.is_connected)
    assert not toy.awake
    connects = toy.connect_count
    await asyncio.sleep(0.2)
    assert toy.connect_count == connects, "a toy that went to sleep is not woken by a reconnect"
    assert True in updates


async def test_did_sleep_alone_marks_the_toy_asleep(
    make: Callable[..., tuple[SimulatedV2Toy, BB8Session]],
) -> None:
    toy, session = await connected(make, "mini")
    toy.sleep_now()
    await wait_for(lambda: session.toy.asleep and not session.is_connected)
    assert toy.will_sleep_sent == 0


# -- faults ---------------------------------------------------------------------------------------


@EVERY_MODEL
async def test_a_corrupt_packet_from_the_toy_is_dropped_and_counted_and_the_link_goes_on(
    make: Callable[..., tuple[SimulatedV2Toy, BB8Session]], key: str
) -> None:
    toy, session = await connected(make, key)
    good = V2Packet(0x09, 0x13, 0x03, 0x42, b"\x03\x20", err=0).encode()
    corrupt = good[:-2] + bytes([good[-2] ^ 0x01]) + good[-1:]
    toy.inject_notification(b"\x00\x17" + corrupt)
    await wait_for(lambda: session.counters.dropped_bytes == 2 + len(corrupt))
    assert session.counters.unmatched_responses == 0, "the corrupt answer reached nobody"
    await session.roll(30, 0)
    assert toy.speed == 30
    assert session.is_connected


@pytest.mark.parametrize(
    ("key", "command", "code", "name"),
    [
        ("mini", v2.set_dome(10.0), 0x01, "bad_device_id"),
        ("r2d2", v2.get_battery_percentage(), 0x02, "bad_command_id"),
    ],
)
async def test_a_v2_error_code_fails_the_command_with_the_typed_error_and_nothing_else_changes(
    make: Callable[..., tuple[SimulatedV2Toy, BB8Session]],
    key: str,
    command: Any,
    code: int,
    name: str,
) -> None:
    toy, session = await connected(make, key)
    await session.roll(40, 90)
    before = {**toy.snapshot(), "command_counts": None}
    with pytest.raises(CommandRejectedError) as raised:
        await session.send(command)
    assert raised.value.mrsp == code
    assert str(raised.value) == f"{command.name} was rejected by the toy: {name} (0x{code:02x})"
    assert {**toy.snapshot(), "command_counts": None} == before
    assert session.is_connected
    assert session.rolling
    assert session.counters.commands_failed == 1
    await session.stop()
    assert toy.speed == 0
