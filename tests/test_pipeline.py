"""The command pipeline alone: no Bluetooth, a fake ``write`` coroutine and a framing of our own.

Everything here is observed through the pipeline's public calls and what reaches the fake link:
the frames written, when, by which task, and what each caller gets back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
from typing import Any

import pytest

from custom_components.bb8.sphero import commands as cmd
from custom_components.bb8.sphero.errors import CommandRejectedError, NotConnectedError
from custom_components.bb8.sphero.models import Purpose, SessionCounters
from custom_components.bb8.sphero.pipeline import CommandPipeline, Pending
from custom_components.bb8.sphero.protocol import Response

from .conftest import wait_for

PACING = 0.06


def _encode(command: cmd.Command, seq: int, reset_timeout: bool) -> bytes:
    """A framing of our own: the pipeline must not care what the toy model does."""
    return bytes((seq, command.cid)) + command.data


class FakeLink:
    """Records what was written, when and by which task; answers only when told to."""

    def __init__(self, pipeline: CommandPipeline | None = None) -> None:
        self.frames: list[tuple[float, bytes]] = []
        self.writers: list[asyncio.Task[object] | None] = []
        self.fail_with: Exception | None = None
        self.gate: asyncio.Event | None = None
        """While set to an unset event, every write waits for it (a slow or hung radio)."""
        self.answering = pipeline
        """Answers every write with success on the next loop turn (a toy that answers)."""

    async def write(self, frame: bytes) -> None:
        self.writers.append(asyncio.current_task())
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        self.frames.append((asyncio.get_running_loop().time(), frame))
        if self.answering is not None:
            asyncio.get_running_loop().call_soon(self.answering.answer, Response(0, frame[0]))

    def payloads(self) -> list[bytes]:
        return [frame[2:] for _, frame in self.frames]


@pytest.fixture
async def make() -> AsyncIterator[Callable[..., CommandPipeline]]:
    """Make pipelines at 60 ms pacing; each writer is detached and awaited at the end (no task left)."""
    made: list[CommandPipeline] = []

    def _make(counters: SessionCounters | None = None, **hooks: Any) -> CommandPipeline:
        made.append(
            CommandPipeline("toy", _encode, counters or SessionCounters(), pacing_interval=PACING, **hooks)
        )
        return made[-1]

    yield _make
    for pipeline in made:
        if (writer := pipeline.detach()) is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        pipeline.fail_all(NotConnectedError("test over"))


@pytest.fixture
def pipeline(make: Callable[..., CommandPipeline]) -> CommandPipeline:
    """A pipeline with no hooks."""
    return make()


def _ask(
    pipeline: CommandPipeline,
    command: cmd.Command,
    purpose: Purpose = Purpose.USE,
    timeout: float = 5.0,
) -> asyncio.Task[Response]:
    """A caller of its own: a task awaiting ``command``'s answer, as the session's callers do."""
    return asyncio.create_task(pipeline.send(command, True, purpose, timeout))


async def _settled(*callers: asyncio.Task[Response]) -> list[Response | BaseException]:
    return await asyncio.gather(*callers, return_exceptions=True)


async def test_nothing_is_written_before_a_link_is_attached(pipeline: CommandPipeline) -> None:
    link = FakeLink(pipeline)
    caller = _ask(pipeline, cmd.ping())
    await asyncio.sleep(0.01)
    assert link.frames == []
    assert pipeline.pending == 1
    pipeline.attach(link.write)
    assert (await caller).ok
    assert link.payloads() == [b""]
    assert pipeline.pending == 0


async def test_every_command_is_written_by_the_links_one_writer_task_never_by_its_caller(
    pipeline: CommandPipeline,
) -> None:
    link = FakeLink(pipeline)
    pipeline.attach(link.write)
    callers = [_ask(pipeline, cmd.get_power_state()) for _ in range(3)]
    callers.append(_ask(pipeline, cmd.set_main_led(1, 2, 3)))
    assert all(isinstance(result, Response) for result in await _settled(*callers))
    assert len(link.writers) == 4
    assert len(set(link.writers)) == 1, "one writer task wrote them all"
    assert not set(link.writers) & set(callers), "no caller wrote its own command"


async def test_burst_of_colours_ends_at_last_colour_and_writes_are_paced(
    make: Callable[..., CommandPipeline],
) -> None:
    counters = SessionCounters()
    pipeline = make(counters)
    link = FakeLink(pipeline)
    pipeline.attach(link.write)
    callers = [_ask(pipeline, cmd.set_main_led(0, 0, 0))]
    await wait_for(lambda: bool(link.frames))
    # The other 49 arrive while the first is paced: they wait in its slot, the newest winning.
    callers += [_ask(pipeline, cmd.set_main_led(index, 0, 0)) for index in range(1, 50)]
    results = await _settled(*callers)
    assert link.payloads() == [bytes((0, 0, 0, 0)), bytes((49, 0, 0, 0))]
    assert link.frames[1][0] - link.frames[0][0] >= PACING - 1e-6
    assert counters.commands_coalesced == 48
    assert all(isinstance(result, Response) for result in results), "every caller gets the answer"
    assert pipeline.pending == 0


async def test_queries_are_never_coalesced(pipeline: CommandPipeline) -> None:
    link = FakeLink()
    callers = [_ask(pipeline, cmd.get_power_state()) for _ in range(3)]
    pipeline.attach(link.write)
    await wait_for(lambda: len(link.frames) >= 3)
    assert len({frame[0] for _, frame in link.frames}) == 3, "each its own sequence number"
    for _, frame in reversed(link.frames):
        pipeline.answer(Response(0, frame[0], bytes([frame[0]])))
    assert [(await caller).data for caller in callers] == [bytes([0]), bytes([1]), bytes([2])]


async def test_an_error_code_fails_only_that_command_and_unknown_answers_are_counted(
    make: Callable[..., CommandPipeline],
) -> None:
    answered: list[Pending] = []
    counters = SessionCounters()
    pipeline = make(counters, on_answered=answered.append)
    link = FakeLink()
    pipeline.attach(link.write)
    caller = _ask(pipeline, cmd.ping())
    await wait_for(lambda: bool(link.frames))
    pipeline.answer(Response(0x07, link.frames[0][1][0]))
    with pytest.raises(CommandRejectedError):
        await caller
    assert answered == []
    pipeline.answer(Response(0, 200))
    assert counters.unmatched_responses == 1


async def test_a_failed_write_reports_the_link_broken_and_fails_the_command(
    make: Callable[..., CommandPipeline],
) -> None:
    broken: list[str] = []
    counters = SessionCounters()
    pipeline = make(counters, on_broken=broken.append)
    link = FakeLink()
    link.fail_with = NotConnectedError("radio gone")
    pipeline.attach(link.write)
    with pytest.raises(NotConnectedError):
        await _ask(pipeline, cmd.ping())
    assert broken == ["radio gone"]
    assert counters.commands_sent == 0
    assert pipeline.pending == 0
    assert pipeline.detach() is None, "the writer ended by itself after reporting"


async def test_a_lost_link_fails_written_commands_and_link_bound_ones_but_keeps_use_queued(
    pipeline: CommandPipeline,
) -> None:
    link = FakeLink()
    pipeline.attach(link.write)
    written = _ask(pipeline, cmd.ping())
    await wait_for(lambda: bool(link.frames))
    poll = _ask(pipeline, cmd.get_power_state(), Purpose.POLL)
    use = _ask(pipeline, cmd.set_main_led(9, 9, 9))
    await asyncio.sleep(0)
    writer = pipeline.detach()
    assert writer is not None
    with pytest.raises(asyncio.CancelledError):
        await writer
    pipeline.fail_inflight(NotConnectedError("gone"))
    pipeline.fail_link_bound(NotConnectedError("gone"))
    results = await _settled(written, poll)
    assert [type(result) for result in results] == [NotConnectedError, NotConnectedError]
    assert not use.done(), "use waits for the next link"
    assert pipeline.has_use_pending()
    assert pipeline.pending == 1
    again = FakeLink(pipeline)
    pipeline.attach(again.write)
    assert (await use).ok
    assert again.payloads() == [bytes((9, 9, 9, 0))]


async def test_the_first_queued_write_waits_a_pacing_interval_after_a_probe(
    pipeline: CommandPipeline,
) -> None:
    link = FakeLink()
    probe = await pipeline.write_now(cmd.ping(), link.write)
    queued = _ask(pipeline, cmd.set_main_led(1, 1, 1))
    pipeline.attach(link.write)
    await wait_for(lambda: len(link.frames) >= 2)
    assert link.frames[1][0] - link.frames[0][0] >= PACING - 1e-6
    pipeline.answer(Response(0, link.frames[0][1][0]))
    assert probe.result().ok
    pipeline.fail_all(NotConnectedError("done"))
    with pytest.raises(NotConnectedError):
        await queued
    assert pipeline.pending == 0


async def test_a_probe_given_up_on_holds_no_sequence_number_and_is_not_pending(
    pipeline: CommandPipeline,
) -> None:
    link = FakeLink()
    unanswered = await pipeline.write_now(cmd.ping(), link.write)
    assert pipeline.pending == 1
    unanswered.cancel()  # the prober stops waiting and probes again
    await asyncio.sleep(0)
    assert pipeline.pending == 0, "a connected link with nothing to do shows nothing pending"


async def test_a_command_unanswered_within_its_timeout_fails_with_timeout_and_others_still_answer(
    pipeline: CommandPipeline,
) -> None:
    link = FakeLink()
    pipeline.attach(link.write)
    loop = asyncio.get_running_loop()
    started = loop.time()
    lost = _ask(pipeline, cmd.ping(), timeout=0.05)
    answered = _ask(pipeline, cmd.get_power_state())
    with pytest.raises(TimeoutError):
        await lost
    assert loop.time() - started >= 0.05 - 1e-3
    assert not answered.done(), "only the command whose time ran out fails"
    await wait_for(lambda: len(link.frames) == 2)
    pipeline.answer(Response(0, link.frames[0][1][0]))  # late: nobody awaits it any more
    pipeline.answer(Response(0, link.frames[1][1][0]))
    assert (await answered).ok
    assert pipeline.pending == 0, "the timed-out command no longer holds its sequence number"


async def test_every_caller_keeps_its_own_timeout(pipeline: CommandPipeline) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    timeouts = [0.3, 0.1, 0.2, 0.1]
    callers = [_ask(pipeline, cmd.get_versions(), timeout=timeout) for timeout in timeouts]
    failed_at: dict[int, float] = {}
    for index, caller in enumerate(callers):
        caller.add_done_callback(
            lambda _caller, index=index: failed_at.setdefault(index, loop.time() - started)
        )
    results = await _settled(*callers)
    assert all(isinstance(result, TimeoutError) for result in results)
    for index, timeout in enumerate(timeouts):
        assert failed_at[index] >= timeout - 1e-3, "never early"
    assert failed_at[1] <= failed_at[2] <= failed_at[0], "in the order of their deadlines"
    assert pipeline.pending == 0, "queued and never written: withdrawn"


async def test_a_caller_that_gives_up_withdraws_its_queued_command(pipeline: CommandPipeline) -> None:
    link = FakeLink(pipeline)
    gone = _ask(pipeline, cmd.set_tail_light(7))
    stays = _ask(pipeline, cmd.get_power_state())
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert pipeline.pending == 1
    pipeline.attach(link.write)
    assert (await stays).ok
    await asyncio.sleep(PACING * 2)
    assert [frame[1] for _, frame in link.frames] == [cmd.get_power_state().cid], "never written"


async def test_a_command_whose_caller_left_is_not_written_even_when_its_turn_comes_that_instant(
    pipeline: CommandPipeline,
) -> None:
    """Its timeout and its turn can fall due together (a clock that jumped): the writer takes it
    first, before its caller's task could withdraw it, and must see that nobody waits."""
    pipeline.pacing_interval = 0.0
    link = FakeLink(pipeline)
    link.gate = asyncio.Event()
    pipeline.attach(link.write)
    first = _ask(pipeline, cmd.ping())
    await wait_for(lambda: bool(link.writers))
    gone = _ask(pipeline, cmd.get_power_state())
    await asyncio.sleep(0)
    link.gate.set()  # the writer goes on first...
    gone.cancel()  # ...in the very turn the second command's caller leaves
    assert (await first).ok
    with pytest.raises(asyncio.CancelledError):
        await gone
    await asyncio.sleep(0.01)
    assert [frame[1] for _, frame in link.frames] == [cmd.ping().cid]
    assert pipeline.pending == 0


async def test_a_coalesced_command_still_goes_when_one_of_its_callers_leaves(
    pipeline: CommandPipeline,
) -> None:
    link = FakeLink(pipeline)
    first = _ask(pipeline, cmd.set_main_led(1, 1, 1))
    second = _ask(pipeline, cmd.set_main_led(2, 2, 2))
    await asyncio.sleep(0)
    second.cancel()  # the newer colour's caller leaves; the first still waits for the slot
    with pytest.raises(asyncio.CancelledError):
        await second
    pipeline.attach(link.write)
    assert (await first).ok
    assert link.payloads() == [bytes((2, 2, 2, 0))], "latest wins, whoever still waits"


async def test_a_write_that_hangs_releases_its_caller_at_its_timeout_and_the_link_goes_on_after_it(
    pipeline: CommandPipeline,
) -> None:
    link = FakeLink()  # a toy that answers nothing unless told
    link.gate = asyncio.Event()
    pipeline.attach(link.write)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(_ask(pipeline, cmd.ping(), timeout=0.05), 2.0)
    assert 0.05 - 1e-3 <= loop.time() - started < 2.0
    assert pipeline.writer != "idle", "the writer still holds the hung write"
    after = _ask(pipeline, cmd.set_main_led(4, 4, 4))
    link.gate.set()
    await wait_for(lambda: len(link.frames) == 2)
    pipeline.answer(Response(0, link.frames[1][1][0]))
    assert (await after).ok
    assert link.payloads() == [b"", bytes((4, 4, 4, 0))]
    assert pipeline.pending == 0, "nobody awaits the abandoned ping's answer: it holds no sequence number"
    assert pipeline.writer == "idle"


async def test_a_caller_cancelled_during_the_write_leaves_the_writer_and_the_queue_going(
    pipeline: CommandPipeline,
) -> None:
    link = FakeLink(pipeline)
    link.gate = asyncio.Event()
    pipeline.attach(link.write)
    caller = _ask(pipeline, cmd.set_main_led(1, 1, 1))
    await wait_for(lambda: bool(link.writers))
    queued = _ask(pipeline, cmd.get_power_state())
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    link.gate.set()
    assert (await queued).ok
    assert [frame[1] for _, frame in link.frames] == [
        cmd.set_main_led(1, 1, 1).cid,
        cmd.get_power_state().cid,
    ]
    assert link.writers[0] is link.writers[1], "the writer was not cancelled with the caller"


async def test_letting_the_link_go_fails_a_caller_waiting_on_it_without_cancelling_its_task(
    pipeline: CommandPipeline,
) -> None:
    link = FakeLink()
    link.gate = asyncio.Event()
    pipeline.attach(link.write)
    caller = _ask(pipeline, cmd.ping())
    await wait_for(lambda: bool(link.writers))
    writer = pipeline.detach()
    assert writer is link.writers[0]
    with pytest.raises(asyncio.CancelledError):
        await writer
    pipeline.fail_inflight(NotConnectedError("gone"))
    with pytest.raises(NotConnectedError):
        await asyncio.wait_for(caller, 2.0)
    assert caller.cancelling() == 0, "the caller's task was never cancelled"
    assert pipeline.pending == 0


async def test_a_sequence_number_still_awaiting_its_answer_is_skipped_when_the_numbers_wrap(
    pipeline: CommandPipeline,
) -> None:
    link = FakeLink()
    unanswered = await pipeline.write_now(cmd.ping(), link.write)
    for _ in range(255):
        answered = await pipeline.write_now(cmd.ping(), link.write)
        pipeline.answer(Response(0, link.frames[-1][1][0]))
        assert answered.result().ok
    wrapped = await pipeline.write_now(cmd.ping(), link.write)
    assert [frame[0] for _, frame in link.frames[:2]] == [0, 1]
    assert link.frames[-1][1][0] == 1, "0 still awaits its answer"
    unanswered.cancel()
    wrapped.cancel()
    await asyncio.sleep(0)
    assert pipeline.pending == 0


async def test_the_writer_is_busy_exactly_while_commands_wait_or_are_being_written(
    pipeline: CommandPipeline,
) -> None:
    link = FakeLink(pipeline)
    link.gate = asyncio.Event()
    caller = _ask(pipeline, cmd.ping())
    await asyncio.sleep(0)
    assert pipeline.writer == "idle", "no link: nothing can be written"
    pipeline.attach(link.write)
    assert pipeline.writer != "idle"
    await wait_for(lambda: bool(link.writers))
    assert pipeline.writer != "idle", "writing"
    assert pipeline.writer != "stalled"
    link.gate.set()
    assert (await caller).ok
    assert pipeline.writer == "idle"
    assert pipeline.writer != "stalled"
