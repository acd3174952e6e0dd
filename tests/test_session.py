"""The BB-8 session against the simulator, through bleak and bleak-retry-connector (no HA)."""

from __future__ import annotations

import ast
import asyncio
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

from bleak.exc import BleakError
from bleak_retry_connector import BleakAbortedError, BleakNotFoundError, BleakOutOfConnectionSlotsError
import pytest

from bb8sim import ConnectFailure, SimulatedBB8
from custom_components.bb8.sphero import commands as cmd, decoders as dec
from custom_components.bb8.sphero.connection import ALLOWED_TRANSITIONS, StateMachine
from custom_components.bb8.sphero.const import ANTI_DOS_UNLOCK, COMMANDS_CHAR, AsyncId
from custom_components.bb8.sphero.errors import (
    BB8ConnectionError,
    CommandRejectedError,
    CommandTimeoutError,
    IllegalTransitionError,
    NotConnectedError,
    SessionClosedError,
)
from custom_components.bb8.sphero.link import classify
from custom_components.bb8.sphero.policy import FailureReason, ReconnectPolicy
from custom_components.bb8.sphero.protocol import AsyncPacket, Response
from custom_components.bb8.sphero.session import (
    BB8Session,
    ConnectionMode,
    SessionState,
)

from .conftest import connected_session, started_session, wait_for

MAIN_LED_CID = 0x20


def led_writes(toy: SimulatedBB8) -> list[Any]:
    return [r for r in toy.commands_received if r.did == 0x02 and r.cid == MAIN_LED_CID]


async def test_handshake_is_written_in_order_before_any_command(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    session = make_session()
    await session.connect()
    assert session.state is SessionState.CONNECTED
    assert [step for step, _ in bare_toy.handshake_log] == ["anti_dos", "tx_power", "wake"]
    assert bare_toy.handshake_log[0][1] == ANTI_DOS_UNLOCK
    assert bare_toy.handshake_log[1][1] == bytes([7])
    assert bare_toy.handshake_log[2][1] == bytes([1])
    assert bare_toy.ignored_writes == 0, "no command was written before the handshake finished"
    first_command = bare_toy.commands_received[0]
    assert first_command.at >= 0
    assert (first_command.did, first_command.cid) == (0x00, 0x01), "the readiness ping comes first"


async def test_commands_queue_until_the_handshake_ends(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    session = make_session(mode=ConnectionMode.ON_DEMAND)
    # Sent while disconnected in on-demand mode: it connects first, then writes.
    await session.set_main_led(1, 2, 3)
    assert bare_toy.main_led == (1, 2, 3)
    assert bare_toy.ignored_writes == 0


def test_state_machine_guards_its_transitions() -> None:
    machine = StateMachine("BB-TEST")
    assert machine.move(SessionState.DISCONNECTED, "same") is False
    assert machine.version == 0, "a same-state transition is a no-op"
    with pytest.raises(IllegalTransitionError):
        machine.move(SessionState.CONNECTED, "skipping connecting")
    assert (machine.state, machine.version) == (SessionState.DISCONNECTED, 0), (
        "a refused move changes nothing"
    )
    assert machine.move(SessionState.CONNECTING, "connect") is True
    assert machine.move(SessionState.CONNECTED, "handshake complete") is True
    assert (machine.state, machine.version) == (SessionState.CONNECTED, 2)


def _follow_states(session: BB8Session) -> list[SessionState]:
    """Record each state the session moves to, as its update listeners hear of the moves."""
    seen: list[SessionState] = []

    def on_update() -> None:
        if session.state is not (seen[-1] if seen else SessionState.DISCONNECTED):
            seen.append(session.state)

    session.toy.add_update_listener(on_update)
    return seen


async def test_a_session_announces_each_move_of_its_state_machine(
    make_session: Callable[..., BB8Session],
) -> None:
    session = make_session()
    seen = _follow_states(session)
    await session.connect()
    assert seen == [SessionState.CONNECTING, SessionState.CONNECTED]
    assert session.diagnostics()["state_version"] == 2


async def test_every_announced_state_change_is_an_allowed_move_counted_once(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    """Through a whole life (connect, link lost, reconnect, disconnect, close), as listeners see it.

    Each announcement is a move the state machine allows, never to the state it was in, and
    ``state_version`` (in diagnostics) counts exactly the announcements.
    """
    session = make_session(mode=ConnectionMode.ALWAYS)
    seen = _follow_states(session)
    await session.start()
    await wait_for(lambda: session.is_connected)
    connects = bare_toy.connect_count
    bare_toy.disconnect_now()
    await wait_for(lambda: bare_toy.connect_count > connects and session.is_connected)
    await session.disconnect()
    await session.connect()
    version_before_close = session.diagnostics()["state_version"]
    await session.close()
    moves = list(pairwise([SessionState.DISCONNECTED, *seen]))
    assert all(new is not old for old, new in moves), f"announced a move to the same state: {moves}"
    assert all(new in ALLOWED_TRANSITIONS[old] for old, new in moves), moves
    assert seen[-1] is SessionState.CLOSED
    assert SessionState.DISCONNECTING in seen, "the deliberate disconnect was announced"
    assert seen.count(SessionState.CONNECTED) == 3
    assert version_before_close == len(seen) - 2, "closing and closed are the last two"
    assert session.diagnostics()["state_version"] == len(seen)


async def test_a_connect_that_finishes_after_disconnect_is_undone(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    bare_toy.faults.connect_latency = 0.2
    session = make_session()
    connecting = asyncio.ensure_future(session.connect())
    await wait_for(lambda: session.state is SessionState.CONNECTING)
    await session.disconnect("changed my mind")
    with pytest.raises((BB8ConnectionError, asyncio.CancelledError)):
        await connecting
    assert session.state is SessionState.DISCONNECTED
    await asyncio.sleep(0.3)
    assert session.state is SessionState.DISCONNECTED, "the stale connect did not resurrect the link"
    assert not bare_toy.connected


async def test_burst_of_colours_ends_at_last_colour(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    session = await connected_session(make_session, pacing_interval=0.05)
    before = len(led_writes(bare_toy))
    colours = [(i, 255 - i, (i * 7) % 256) for i in range(100)]
    await asyncio.gather(*(session.set_main_led(*colour) for colour in colours))
    assert bare_toy.main_led == colours[-1]
    writes = len(led_writes(bare_toy)) - before
    assert writes <= 3, f"100 wishes took {writes} writes"
    assert session.counters.commands_coalesced >= 97


async def test_queries_are_never_coalesced(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    session = make_session()
    await session.connect()
    states = await asyncio.gather(*(session.refresh_power_state() for _ in range(5)))
    assert len(states) == 5
    assert all(state.voltage > 6 for state in states)


async def test_a_rejected_command_carries_the_toys_code(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    session = make_session()
    await session.connect()
    with pytest.raises(CommandRejectedError) as caught:
        await session.send(cmd.Command("bogus", 0x02, 0x7E))
    assert caught.value.mrsp == 0x04
    assert "unknown_command_id" in str(caught.value)
    assert session.counters.commands_failed == 1


async def test_a_lost_response_times_out_with_a_typed_error(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    session = await connected_session(make_session)
    bare_toy.faults.drop_next_responses = 1
    with pytest.raises(CommandTimeoutError):
        await session.send(cmd.ping(), timeout=0.2)
    assert session.counters.commands_timed_out == 1
    await session.send(cmd.ping())  # the link still works


async def test_drop_mid_command_fails_typed_then_reconnects_and_restores(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    session = await started_session(make_session)
    await session.set_main_led(10, 20, 30)
    await session.set_tail_light(99)
    await session.set_stabilization(False)
    collisions: list[dec.Collision] = []
    session.toy.add_collision_listener(collisions.append)
    old_generation = session.link.generation

    bare_toy.faults.disconnect_on_write = 1
    with pytest.raises(NotConnectedError):
        await session.roll(50, 90)
    assert session.counters.drops == 1

    await wait_for(lambda: session.is_connected and bare_toy.main_led == (10, 20, 30))
    await wait_for(lambda: session.is_set_up and session.pending_commands == 0)
    assert session.link.generation > old_generation
    assert bare_toy.back_led == 99
    assert bare_toy.stabilization is False
    assert session.counters.connects == 2

    # Subscriptions are back: the new link delivers collisions to the same listener.
    bare_toy.trigger_collision(x_magnitude=120, y_magnitude=30)
    await wait_for(lambda: len(collisions) == 1)
    assert collisions[0].intensity == 120


async def test_notifications_from_a_dead_generation_are_ignored(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    session = make_session()
    await session.connect()
    collisions: list[dec.Collision] = []
    session.toy.add_collision_listener(collisions.append)
    stale = session.link.generation
    await session.disconnect()
    await session.connect()
    # The first link's answers to set-up written just before it was let go may arrive late, and
    # are stale too: count from here.
    already = session.counters.stale_notifications
    frame = AsyncPacket(AsyncId.COLLISION, bytes(16)).encode()
    session.link.on_notification(stale, bytearray(frame))
    assert collisions == []
    assert session.counters.stale_notifications == already + 1
    session.link.on_notification(session.link.generation, bytearray(frame))
    assert len(collisions) == 1


async def test_garbage_from_the_toy_never_breaks_the_link(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    session = make_session()
    await session.connect()
    bare_toy.inject_notification(b"\x00\x13\xff\x42garbage\xff")
    await session.send(cmd.ping())
    assert session.counters.dropped_bytes > 0
    assert session.is_connected


async def test_a_faulty_listener_cannot_break_the_link(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8, caplog: pytest.LogCaptureFixture
) -> None:
    session = make_session()

    def broken() -> None:
        raise RuntimeError("listener bug")

    session.toy.add_update_listener(broken)
    await session.connect()
    await session.set_main_led(1, 1, 1)
    assert session.counters.listener_errors > 0
    assert "listener failed" in caplog.text


async def test_always_mode_retries_by_policy_until_the_toy_answers(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    bare_toy.faults.connect_failures = 3
    bare_toy.faults.connect_failure = ConnectFailure.ERROR
    session = await started_session(make_session)
    assert session.counters.connect_failures == 3
    assert session.counters.reconnect_attempts == 3


async def test_finite_policy_gives_up_until_the_toy_is_used(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    bare_toy.faults.refuse_connect = True
    session = make_session(policy=ReconnectPolicy(initial_delay=0.01, max_delay=0.02, max_attempts=2))
    await session.start()
    await wait_for(lambda: session.counters.connect_failures == 3)
    await asyncio.sleep(0.1)
    assert session.counters.connect_failures == 3, "gave up after the policy's attempts"
    assert session.state is SessionState.DISCONNECTED
    bare_toy.faults.refuse_connect = False
    session.wake_requested()
    await wait_for(lambda: session.is_connected)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (BleakOutOfConnectionSlotsError("no slot"), FailureReason.OUT_OF_SLOTS),
        (BleakNotFoundError("gone"), FailureReason.NOT_FOUND),
        (BleakAbortedError("aborted"), FailureReason.ABORTED),
        (TimeoutError(), FailureReason.TIMEOUT),
        (BleakError("other"), FailureReason.CONNECTION),
    ],
)
def test_bleak_retry_connector_errors_are_told_apart(error: BaseException, reason: FailureReason) -> None:
    assert classify(error).reason is reason


async def test_a_connect_that_outlasts_its_timeout_fails_as_timeout(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    bare_toy.faults.connect_latency = 1.0
    session = make_session(connect_timeout=0.1)
    with pytest.raises(BB8ConnectionError) as caught:
        await session.connect()
    assert caught.value.reason is FailureReason.TIMEOUT
    assert session.state is SessionState.DISCONNECTED


async def test_on_demand_mode_disconnects_when_idle(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    session = make_session(mode=ConnectionMode.ON_DEMAND, idle_timeout=0.1)
    await session.set_tail_light(5)
    assert session.is_connected
    await wait_for(lambda: session.state is SessionState.DISCONNECTED)
    assert not bare_toy.connected
    assert session.counters.drops == 0, "an idle disconnect is not a drop"
    await session.set_tail_light(6)
    assert bare_toy.back_led == 6


async def test_sleep_stops_reconnecting_until_woken(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    session = await started_session(make_session)
    await session.set_main_led(9, 9, 9)
    await session.sleep()
    assert session.toy.asleep
    await asyncio.sleep(0.1)
    assert session.state is SessionState.DISCONNECTED
    assert bare_toy.asleep
    await session.wake()
    await wait_for(lambda: session.is_connected and bare_toy.main_led == (9, 9, 9))
    assert bare_toy.awake


@pytest.mark.parametrize("moment", ["connect", "backoff", "command", "twice"])
async def test_close_at_any_moment_leaves_nothing_behind(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8, moment: str
) -> None:
    session = make_session(policy=ReconnectPolicy(initial_delay=5.0, max_delay=5.0))
    pending: asyncio.Future[Any] | None = None
    if moment == "connect":
        bare_toy.faults.connect_latency = 1.0
        await session.start()
        await wait_for(lambda: session.state is SessionState.CONNECTING)
    elif moment == "backoff":
        bare_toy.faults.refuse_connect = True
        await session.start()
        await wait_for(lambda: session.counters.reconnect_attempts == 1)
    elif moment == "command":
        await session.connect()
        await wait_for(lambda: session.is_set_up and session.pending_commands == 0)
        bare_toy.faults.drop_next_responses = 1
        pending = asyncio.ensure_future(session.send(cmd.ping()))
        await wait_for(lambda: session.pending_commands == 1 and session.counters.commands_sent > 0)
    else:
        await session.connect()
    await session.close()
    await session.close()
    assert session.state is SessionState.CLOSED
    assert session.toy.listener_count == 0
    assert session.pending_commands == 0
    if pending is not None:
        with pytest.raises(SessionClosedError):
            await pending
    with pytest.raises(SessionClosedError):
        await session.send(cmd.ping())
    assert not bare_toy.connected
    # The harness's verify_cleanup fails the test if any task or timer lingers.


FORBIDDEN_CALLS = {("asyncio", "run"), ("time", "sleep"), ("asyncio", "new_event_loop")}
FORBIDDEN_MODULES = {"threading", "_thread", "concurrent.futures", "multiprocessing"}


def test_no_threads_private_loops_or_blocking_sleeps_in_the_integration() -> None:
    root = Path(__file__).parent.parent / "custom_components"
    offences: list[str] = []
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                offences += [f"{path}: import {a.name}" for a in node.names if a.name in FORBIDDEN_MODULES]
            elif isinstance(node, ast.ImportFrom):
                if node.module in FORBIDDEN_MODULES:
                    offences.append(f"{path}: from {node.module} import")
                if node.module in {"asyncio", "time"}:
                    offences += [
                        f"{path}: from {node.module} import {a.name}"
                        for a in node.names
                        if (node.module, a.name) in FORBIDDEN_CALLS
                    ]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                value = node.func.value
                if isinstance(value, ast.Name) and (value.id, node.func.attr) in FORBIDDEN_CALLS:
                    offences.append(f"{path}:{node.lineno}: {value.id}.{node.func.attr}()")
                if node.func.attr in {"run_forever", "run_until_complete", "set_event_loop"}:
                    offences.append(f"{path}:{node.lineno}: .{node.func.attr}()")
    assert offences == []


async def test_stop_keeps_the_last_rolls_heading(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    session = make_session()
    await session.connect()
    await session.roll(50, 135)
    await session.stop()
    assert bare_toy.speed == 0
    assert bare_toy.heading == 135, "stop must not turn the toy back to heading 0"


async def test_a_toy_that_never_answers_after_waking_fails_the_connect_without_counting_a_drop(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8, caplog: pytest.LogCaptureFixture
) -> None:
    """The connect's own disconnect after a failed readiness ping is not a link lost."""
    bare_toy.faults.drop_next_responses = 1_000
    session = make_session(ready_timeout=0.3)
    with pytest.raises(BB8ConnectionError, match="did not answer"):
        await session.connect()
    assert session.state is SessionState.DISCONNECTED
    assert session.counters.connect_failures == 1
    assert session.counters.drops == 0
    assert not bare_toy.connected
    assert "link lost" not in caplog.text


async def test_the_commands_characteristic_is_looked_up_once_per_link(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    """Writes pass the link's characteristic object, looked up again for each new link."""
    session = make_session()
    await session.connect()
    first = session.link.commands_char
    assert not isinstance(first, str)
    assert first.uuid == COMMANDS_CHAR
    await session.disconnect()
    await session.connect()
    assert session.link.commands_char is not first, "looked up again from the new link's services"
    await session.send(cmd.ping())


class WriteRecorder:
    """A client that takes writes and nothing else: no service collection at all."""

    def __init__(self) -> None:
        self.writes: list[tuple[Any, bytes]] = []

    async def write_gatt_char(self, char: Any, data: bytes, response: bool = False) -> None:
        self.writes.append((char, bytes(data)))


class ServicesNotDiscovered(WriteRecorder):
    """bleak's client before service discovery: asking for its services raises."""

    @property
    def services(self) -> Any:
        raise BleakError("Service Discovery has not been performed yet")


class CommandsCharMissing(WriteRecorder):
    """A client whose service collection does not know the commands characteristic."""

    class services:  # stands in for bleak's attribute of that name
        @staticmethod
        def get_characteristic(_uuid: str) -> None:
            return None


@pytest.mark.parametrize("client_class", [ServicesNotDiscovered, CommandsCharMissing, WriteRecorder])
async def test_a_client_without_the_characteristic_object_is_written_by_uuid(
    make_session: Callable[..., BB8Session], client_class: type[WriteRecorder]
) -> None:
    """A client that cannot hand out the characteristic object keeps the link on the UUID string."""
    session = make_session()
    client = client_class()

    async def probe(write: Callable[[bytes], Any]) -> asyncio.Future[Response]:
        await write(b"probe")
        answered: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        answered.set_result(Response(0x00, 1))
        return answered

    assert await session.link.await_ready(client, probe, 1.0) == COMMANDS_CHAR
    assert client.writes == [(COMMANDS_CHAR, b"probe")]


async def test_a_toy_heard_again_is_reconnected_at_once_instead_of_after_the_rest_of_its_wait(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    """Always connected: ``reachable_again`` ends the wait between connects (here 30 s) and connects."""
    session = await started_session(
        make_session, policy=ReconnectPolicy(initial_delay=30.0, max_delay=60.0, jitter=0.0)
    )
    bare_toy.faults.refuse_connect = True
    bare_toy.disconnect_now()
    await wait_for(lambda: session.counters.reconnect_attempts == 1 and not session.is_connected)
    bare_toy.faults.refuse_connect = False
    connects = bare_toy.connect_count
    await asyncio.sleep(0.2)
    assert bare_toy.connect_count == connects, "resting out its 30 s wait"

    session.reachable_again()
    await wait_for(lambda: session.is_connected, timeout=3.0)
    assert session.counters.reconnect_attempts == 1, "no wait was drawn for the connect it made"


@pytest.mark.parametrize("situation", ["asleep", "gave_up", "on_demand"])
async def test_hearing_a_toy_again_connects_nothing_that_waits_to_be_used(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8, situation: str
) -> None:
    """A toy asleep, given up on, or on demand connects again when used, not when heard."""
    if situation == "on_demand":
        session = make_session(mode=ConnectionMode.ON_DEMAND)
        await session.send(cmd.ping())
        await session.disconnect()
    elif situation == "asleep":
        session = make_session()
        await session.start()
        await wait_for(lambda: session.is_connected)
        await session.sleep()
        await wait_for(lambda: not session.is_connected)
    else:
        session = make_session(policy=ReconnectPolicy(initial_delay=0.01, max_delay=0.05, max_attempts=1))
        await session.start()
        await wait_for(lambda: session.is_connected)
        bare_toy.faults.refuse_connect = True
        bare_toy.disconnect_now()
        await wait_for(lambda: session.gave_up)
        bare_toy.faults.refuse_connect = False
    connects = bare_toy.connect_count
    session.reachable_again()
    await asyncio.sleep(0.3)
    assert bare_toy.connect_count == connects
    assert not session.is_connected


async def test_a_timed_roll_returns_when_the_session_closes_between_its_answer_and_its_wait(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The roll's docstring: with a duration it "returns when the roll is over", and closing ends it.

    A reload can land in the loop iteration between the toy's answer and the roll's wait for its
    end. The caller (a script's ``bb8.roll``) must return then, not wait on a timer that the
    closed session will never fire.
    """
    session = await connected_session(make_session)
    send = session.send

    async def send_then_close(command: cmd.Command, **kwargs: Any) -> Any:
        response = await send(command, **kwargs)
        if command.name == "roll":
            await session.close()  # lands after the answer, before the roll waits for its end
        return response

    monkeypatch.setattr(session, "send", send_then_close)
    async with asyncio.timeout(5):  # not the roll's minute: closing ended it
        await session.roll(80, 90, duration=60.0)
    assert session.closed
    await wait_for(lambda: not bare_toy.rolling)


async def test_a_stop_whose_caller_is_cancelled_while_it_waits_its_turn_still_stops_the_toy(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    """A BB-8 rolls off tables: a script stopped while its stop waits to be written (the one writer
    paces it behind the roll) must not leave the toy rolling. A cancelled caller withdraws its
    queued command; for a stop, the toy is stopped anyway, as for a cancelled roll."""
    session = await connected_session(make_session)
    session.pacing_interval = 0.3
    await session.roll(80, 90)
    assert bare_toy.rolling
    stopping = asyncio.ensure_future(session.stop())
    await asyncio.sleep(0.05)  # queued, waiting out the pacing interval after the roll
    assert bare_toy.rolling
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    await wait_for(lambda: not bare_toy.rolling, timeout=2.0)
    # The toy stops when the stop reaches it; the session knows once the toy's answer is back.
    await wait_for(lambda: not session.rolling, timeout=2.0)
