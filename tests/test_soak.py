"""A seeded chaos soak through the whole integration: nothing lost, nothing stuck, nothing leaked.

Calls go through Home Assistant's service registry (lights, switch, buttons, ``bb8.*`` actions)
to the real config entry, coordinator and session, over Home Assistant's Bluetooth stack to the
simulated proxy and toy, while :class:`soak.chaos.FaultInjector` drops, delays and corrupts
the link and takes the proxy's slots away. The invariants are listed in :mod:`soak.chaos`.

The suite runs a short soak (``BB8_SOAK_COMMANDS``, default 2,000); ``scripts/soak`` runs a
long one and writes the report (``BB8_SOAK_REPORT``) that becomes docs/reliability.md's table.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import replace
import os
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bb8sim import SimulatedBB8
from bb8sim.proxy import SimProxy
from custom_components.bb8.const import (
    MODE_ALWAYS,
)
from custom_components.bb8.sphero import commands as cmd
from custom_components.bb8.sphero.errors import (
    BB8ConnectionError,
    CommandTimeoutError,
    NotConnectedError,
    SessionClosedError,
)
from custom_components.bb8.sphero.policy import FailureReason
from custom_components.bb8.sphero.session import PARTIAL_PACKET_TIMEOUT, BB8Session, SessionState
from soak.chaos import ChaosProfile, LinkMonitor, SoakConfig, Targets, run_soak, set_up_settled

from .conftest import connected_session, make_entry, setup_finished, started_session, state_of, wait_for

SOAK_COMMANDS = int(os.environ.get("BB8_SOAK_COMMANDS", "2000"))
SOAK_SEED = int(os.environ.get("BB8_SOAK_SEED", "8"))
SOAK_REPORT = os.environ.get("BB8_SOAK_REPORT")
SOAK_MODE = os.environ.get("BB8_SOAK_MODE", MODE_ALWAYS)


def profile_for(commands: int) -> ChaosProfile:
    """The default chaos, with one proxy-full episode per 2,500 calls (each costs bleak-retry-
    connector's 4 s out-of-slots wait, so the suite's short soak has one)."""
    episodes = max(1, commands // 2500)
    return replace(ChaosProfile(), out_of_slots_at=tuple((i + 0.5) / episodes for i in range(episodes)))


async def test_chaos_soak_loses_nothing_and_leaks_nothing(
    hass: HomeAssistant, proxy: SimProxy, toy: SimulatedBB8
) -> None:
    # Polls more often than the idle timeout (they must not keep an on-demand link), and a
    # policy that gives up (a use must connect again afterwards): SoakConfig's options.
    config = SoakConfig(commands=SOAK_COMMANDS, seed=SOAK_SEED, profile=profile_for(SOAK_COMMANDS))
    entry = make_entry(toy, **config.entry_options(SOAK_MODE))
    await set_up_settled(hass, entry)
    if SOAK_MODE == MODE_ALWAYS:
        await wait_for(lambda: entry.runtime_data.session.is_connected)

    async def unload() -> None:
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()

    report = await run_soak(
        hass,
        session_of=lambda: entry.runtime_data.session,
        toy=toy,
        proxy=proxy,
        config=config,
        unload=unload,
    )
    if SOAK_REPORT:
        report.write(Path(SOAK_REPORT))
    print(report.to_json())
    assert report.violations == []
    assert report.leaks == []
    if SOAK_MODE == MODE_ALWAYS:
        assert report.use_after_give_up is not None, "the give-up check ran"
    else:
        assert report.idle_release is not None, "the idle check ran"
    # Not a target, a sanity check that the link was up often enough for the soak to mean something.
    assert report.completed >= report.commands // 10, "the link was usable for a fair share of the run"


# ---------------------------------------------------------------------------------------------
# Regressions: session bugs the soak found, pinned at the session level (no Home Assistant).
# ---------------------------------------------------------------------------------------------


async def test_first_command_after_connect_respects_the_toys_pacing(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    """The readiness ping is a command write too: the next write must wait a pacing interval."""
    bare_toy.faults.pacing = True
    bare_toy.faults.min_interval = 0.05
    session = make_session(pacing_interval=0.06)
    await session.connect()
    await session.set_main_led(1, 2, 3)
    await wait_for(setup_finished(session))
    assert bare_toy.dropped_for_pacing == 0
    assert bare_toy.temporary_options & 0x01, "stop-on-disconnect, the first write after connect, arrived"


async def test_a_timed_out_command_does_not_stay_pending_forever(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    """A lost answer must not hold its SEQ (and count as pending) until the link drops."""
    session = await connected_session(make_session)
    bare_toy.faults.drop_next_responses = 3
    for _ in range(3):
        with pytest.raises(CommandTimeoutError):
            await session.send(cmd.ping(), timeout=0.1)
    assert session.pending_commands == 0
    await session.send(cmd.ping())


async def a_command_waiting_for_a_slow_connect(
    make_session: Callable[..., BB8Session],
    toy: SimulatedBB8,
    command: Callable[[BB8Session], Coroutine[Any, Any, None]],
    *,
    connect_latency: float,
) -> tuple[BB8Session, asyncio.Future[None]]:
    """A started session still connecting to a slow ``toy``, and ``command`` sent to it meanwhile."""
    toy.faults.connect_latency = connect_latency
    session = make_session()
    await session.start()
    await wait_for(lambda: session.state is SessionState.CONNECTING)
    waiting = asyncio.ensure_future(command(session))
    await asyncio.sleep(0.05)
    return session, waiting


async def test_a_command_waiting_for_a_connect_gets_a_typed_error_when_the_session_closes(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    """Found by the lifecycle cycling: the caller got a bare CancelledError from the connect."""
    session, waiting = await a_command_waiting_for_a_slow_connect(
        make_session, bare_toy, lambda session: session.set_main_led(1, 2, 3), connect_latency=0.5
    )
    await session.close()
    with pytest.raises(SessionClosedError):
        await waiting


async def test_a_disconnect_during_a_connect_does_not_end_the_always_connected_loop(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    session, waiting = await a_command_waiting_for_a_slow_connect(
        make_session, bare_toy, lambda session: session.set_tail_light(9), connect_latency=0.3
    )
    await session.disconnect("changed my mind")
    with pytest.raises(BB8ConnectionError) as caught:
        await waiting
    assert caught.value.reason is FailureReason.ABORTED
    bare_toy.faults.connect_latency = 0.0
    await wait_for(lambda: session.is_connected and bare_toy.back_led == 9)


async def test_a_false_start_from_the_radio_does_not_hold_the_next_answers(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    """Found by fuzzing the live path: a header claiming 200 bytes swallowed every answer after it."""
    session = await connected_session(make_session, command_timeout=3.0)
    bare_toy.inject_notification(bytes([0xFF, 0xFF, 0x00, 0x42, 0xC8]))  # a response "of 200 bytes"
    loop = asyncio.get_running_loop()
    started = loop.time()
    await session.send(cmd.ping())
    await session.set_main_led(7, 7, 7)
    assert loop.time() - started < PARTIAL_PACKET_TIMEOUT + 1.5
    assert session.counters.commands_timed_out == 0
    assert session.counters.dropped_bytes >= 5


async def test_a_failed_write_drops_the_link_without_waiting_for_bleaks_callback(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    """Found by the soak: a drop reported late left the session "connected", every write failing."""
    # Generous command timeouts: what is checked is the kind of failure, and a stall of a loaded
    # CI machine longer than the 1 s default once turned the expected NotConnectedError into a
    # CommandTimeoutError.
    session = await started_session(make_session, command_timeout=30.0)
    # Answers are late, and the news of the drop comes after them (long enough that no stall of
    # a loaded test machine can let it through first).
    bare_toy.faults.response_delay = 120.0
    pings = bare_toy.command_counts["ping"]
    late = asyncio.ensure_future(session.send(cmd.ping(), timeout=60.0))
    await wait_for(lambda: bare_toy.command_counts["ping"] > pings)
    bare_toy.disconnect_now("radio gone")
    with pytest.raises(NotConnectedError):
        await session.set_main_led(1, 2, 3)
    assert session.state is not SessionState.CONNECTED
    with pytest.raises(NotConnectedError):
        await late
    bare_toy.faults.response_delay = 0.0
    await wait_for(lambda: session.is_connected and bare_toy.main_led == (1, 2, 3))
    assert session.counters.drops == 1


async def test_a_colour_whose_answer_was_lost_shows_on_the_light_as_on_the_toy(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    """Found by the soak: the toy (and every reconnect) showed the colour, the entity the old one."""
    session = ready_entry.runtime_data.session
    session.command_timeout = 0.3  # the session's public knob; the production default is 5 s
    main_led = Targets.find(hass, toy.address).main_led
    toy.faults.drop_next_responses = 1
    with pytest.raises(HomeAssistantError) as caught:
        await hass.services.async_call(
            "light",
            "turn_on",
            {"entity_id": main_led, "rgb_color": [0, 85, 255], "brightness": 30},
            blocking=True,
        )
    assert caught.value.translation_key == "command_timeout"
    assert toy.main_led == (0, 10, 30), "the toy acted on it; only its answer was lost"
    state = state_of(hass, main_led)
    assert (state.state, state.attributes["brightness"]) == ("on", 30)
    assert session.toy.requested.main_led == toy.main_led


async def test_256_unanswered_commands_drop_the_link_rather_than_end_the_writer(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    """Every SEQ taken by a command still waited for: the writer used to die of it, silently,
    leaving a "connected" session that never wrote again. Now the link is dropped and rebuilt."""
    session = await started_session(make_session, pacing_interval=0.001, command_timeout=10.0)
    bare_toy.faults.drop_next_responses = 10_000
    waiting = [asyncio.ensure_future(session.send(cmd.ping())) for _ in range(257)]
    await wait_for(lambda: session.counters.drops == 1, timeout=5.0)
    bare_toy.faults.drop_next_responses = 0
    results = await asyncio.gather(*waiting, return_exceptions=True)
    # Those sent on the dropped link failed; any still queued went out on the new one.
    kinds = Counter(type(result).__name__ for result in results)
    assert set(kinds) <= {"LinkLostError", "NotConnectedError", "NoneType"}, kinds
    assert kinds["NotConnectedError"] >= 1
    await wait_for(lambda: session.is_connected)
    await session.send(cmd.ping())


async def test_link_monitor_flags_a_writer_that_writes_nothing_while_commands_wait(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    """The soak's stall check, through the session's public views only (the diagnostics' ``writer``)."""
    session = await connected_session(make_session, command_timeout=10.0)
    monitor = LinkMonitor(session, bare_toy, connect_bound=10.0, stall_bound=0.3)
    monitor.start()
    bare_toy.faults.write_latency = 2.0  # the radio holds the write
    waiting = asyncio.ensure_future(session.set_main_led(4, 5, 6))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 1.5
    while not monitor.violations and loop.time() < deadline:
        monitor.check()
        await asyncio.sleep(0.05)
    monitor.stop()
    assert monitor.violations, "a writer stuck on one write for longer than the bound is a stall"
    assert "nothing was written" in monitor.violations[0]
    assert "writer <Task" in monitor.violations[0], monitor.violations[0]
    bare_toy.faults.write_latency = 0.0
    await waiting


async def test_diagnostics_name_the_lifecycle_timers_and_none_after_close(
    make_session: Callable[..., BB8Session], bare_toy: SimulatedBB8
) -> None:
    """The leak check's view of the session's timers: the stable-connection timer while up."""
    session = make_session()
    await session.connect()
    assert "stable" in session.diagnostics()["timers"]
    await session.close()
    assert session.diagnostics()["timers"] == []
