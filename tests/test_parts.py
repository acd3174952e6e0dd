"""The session's parts, each alone: the toy's state, the link, the reconnect loop, the connection.

``BB8Session`` is a façade that holds these parts and wires them with callbacks given to their
constructors; each part is built and driven here with nothing but those callbacks, so its
narrow interface is all it needs.
"""

from __future__ import annotations

import asyncio
import random

from bb8sim import SimBleakBackend, SimulatedBB8
from bb8sim.testing import make_ble_device
from custom_components.bb8.sphero.connection import Connection
from custom_components.bb8.sphero.const import AsyncId
from custom_components.bb8.sphero.errors import BB8ConnectionError
from custom_components.bb8.sphero.link import Link
from custom_components.bb8.sphero.models import ConnectionMode, SessionCounters, SessionState
from custom_components.bb8.sphero.policy import FailureReason, ReconnectPolicy
from custom_components.bb8.sphero.protocol import AsyncPacket, Packet, Response
from custom_components.bb8.sphero.reconnect import Reconnector
from custom_components.bb8.sphero.sphero_v1 import SPHERO_V1
from custom_components.bb8.sphero.toy_state import ToyState

from .conftest import wait_for


def _toy_state(on_sleep: list[str] | None = None, on_toy: int | None = None) -> ToyState:
    slept = on_sleep if on_sleep is not None else []
    return ToyState(
        "BB-TEST",
        SessionCounters(),
        600,
        on_toy,
        False,
        on_sleep=lambda: slept.append("asleep"),
        on_motion_demand=lambda: None,
    )


def test_toy_state_alone_says_which_commands_show_what_was_asked() -> None:
    toy = _toy_state(on_toy=600)
    changed: list[str] = []
    toy.add_setting_listener(changed.append)
    toy.set_requested("main_led", (1, 2, 3))
    toy.set_requested("main_led", (1, 2, 3))
    assert changed == ["main_led"], "told once, when it changed"
    assert [command.name for command in toy.requested_commands()] == ["set_main_led"]
    setup = [command.name for command in toy.setup_commands()]
    assert "set_inactivity_timeout" not in setup, "the toy already has the default sleep time"
    assert setup[-2:] == ["get_power_state", "set_data_streaming"]


def test_toy_state_alone_keeps_the_toys_sleep_and_calls_on_sleep() -> None:
    slept: list[str] = []
    toy = _toy_state(slept)
    assert not toy.presumed_asleep(linked=False, now=1e9), "never linked: its sleep time is unknown"
    toy.woke(now=100.0)
    assert toy.presumed_asleep(linked=False, now=700.0), "600 s without a command, and no link"
    assert not toy.presumed_asleep(linked=True, now=700.0), "over a link its sleep is heard, not guessed"
    toy.absorb_async(AsyncPacket(AsyncId.WILL_SLEEP))
    assert toy.asleep
    assert slept == ["asleep"]
    toy.wake_requested()
    assert not toy.asleep
    assert not toy.presumed_asleep(linked=False, now=1e9)


def test_link_alone_hands_on_only_its_own_generations_packets() -> None:
    received: list[Packet] = []
    counters = SessionCounters()
    link = Link(
        "BB-TEST",
        SPHERO_V1,
        counters,
        on_packets=received.extend,
        on_lost=lambda _generation: None,
        connect_attempts=1,
        client_kwargs={},
    )
    stale = link.generation
    link.next_generation()
    frame = Response(0x00, 7).encode()
    link.on_notification(stale, frame)
    assert received == []
    assert counters.stale_notifications == 1
    link.on_notification(link.generation, frame)
    assert received == [Response(0x00, 7)]


async def test_reconnector_alone_gives_up_after_the_policys_attempts() -> None:
    connects: list[int] = []

    async def connect() -> None:
        connects.append(1)
        raise BB8ConnectionError(FailureReason.TIMEOUT, "no answer")

    reconnector = Reconnector(
        "BB-TEST",
        ReconnectPolicy(initial_delay=0.01, max_delay=0.01, jitter=0, max_attempts=2),
        random.Random(1),
        SessionCounters(),
        connect=connect,
        is_connected=lambda: False,
        is_closed=lambda: False,
        is_heard=lambda: True,
        fell_asleep=lambda: False,
    )
    reconnector.start()
    await wait_for(lambda: reconnector.gave_up)
    assert len(connects) == 3, "the first connect and the policy's two retries"
    assert reconnector.task is not None
    reconnector.task.cancel()
    await asyncio.gather(reconnector.task, return_exceptions=True)


async def test_connection_alone_reports_each_move_and_sets_the_toy_up_after_connecting(
    bare_toy: SimulatedBB8,
) -> None:
    moves: list[SessionState] = []
    set_up: list[int] = []
    counters = SessionCounters()
    toy = _toy_state()

    def on_packets(packets: list[Packet]) -> None:
        for packet in packets:
            if isinstance(packet, Response):
                connection.pipeline.answer(packet)

    async def after_connect(generation: int) -> None:
        set_up.append(generation)

    connection = Connection(
        make_ble_device(bare_toy.address, bare_toy.name, {}, rssi=-60),
        name="BB-TEST",
        mode=ConnectionMode.ON_DEMAND,
        policy=ReconnectPolicy(),
        idle_timeout=60.0,
        pacing_interval=0.01,
        connect_timeout=5.0,
        ready_timeout=4.0,
        connect_attempts=1,
        rng=random.Random(1),
        client_kwargs={"backend": SimBleakBackend},
        model=SPHERO_V1,
        toy=toy,
        counters=counters,
        on_packets=on_packets,
        on_transition=lambda state, _reason: moves.append(state),
        after_connect=after_connect,
        in_use=lambda: False,
        is_heard=lambda: True,
    )
    await connection.connect()
    assert moves == [SessionState.CONNECTING, SessionState.CONNECTED]
    await wait_for(lambda: set_up == [connection.link.generation])
    assert bare_toy.connected
    assert counters.connects == 1
    await connection.close()
    assert moves[-2:] == [SessionState.CLOSING, SessionState.CLOSED]
    assert not bare_toy.connected
