"""The command pipeline alone: no Bluetooth, a fake ``write`` coroutine and a fake toy."""

from __future__ import annotations

import asyncio
import gc
import weakref

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
    """Records what was written and when; answers nothing unless told."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, bytes]] = []
        self.fail_with: Exception | None = None

    async def write(self, frame: bytes) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.frames.append((asyncio.get_running_loop().time(), frame))


def _pipeline(**hooks: object) -> tuple[CommandPipeline, SessionCounters]:
    counters = SessionCounters()
    return CommandPipeline("toy", _encode, counters, pacing_interval=PACING, **hooks), counters


def _pipeline_on_a_broken_link() -> tuple[CommandPipeline, SessionCounters, list[str]]:
    """A pipeline attached to a link whose every write fails, and the reasons it reports."""
    broken: list[str] = []
    pipeline, counters = _pipeline(on_broken=broken.append)
    link = FakeLink()
    link.fail_with = NotConnectedError("radio gone")
    pipeline.attach(link.write)
    return pipeline, counters, broken


def _submit(
    pipeline: CommandPipeline, command: cmd.Command, purpose: Purpose = Purpose.USE
) -> asyncio.Future[Response]:
    waiter: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
    pipeline.submit(command, waiter, True, purpose)
    return waiter


async def test_nothing_is_written_before_a_link_is_attached() -> None:
    pipeline, _ = _pipeline()
    link = FakeLink()
    waiter = _submit(pipeline, cmd.ping())
    await asyncio.sleep(0)
    assert link.frames == []
    pipeline.attach(link.write)
    await asyncio.sleep(0)
    assert [frame for _, frame in link.frames] == [bytes((0, cmd.ping().cid))]
    waiter.cancel()
    pipeline.forget_abandoned()
    assert pipeline.pending == 0


async def test_an_idle_link_writes_in_the_callers_own_turn() -> None:
    pipeline, counters = _pipeline()
    link = FakeLink()
    pipeline.attach(link.write)
    waiter = _submit(pipeline, cmd.set_main_led(1, 2, 3))
    assert len(link.frames) == 1, "written before the caller yields"
    assert counters.commands_sent == 1
    pipeline.answer(Response(0, link.frames[0][1][0]))
    assert waiter.result().ok


async def test_burst_of_colours_ends_at_last_colour_and_writes_are_paced() -> None:
    pipeline, counters = _pipeline()
    link = FakeLink()
    pipeline.attach(link.write)
    waiters = [_submit(pipeline, cmd.set_main_led(index, 0, 0)) for index in range(50)]
    await wait_for(lambda: not (pipeline.pending and len(link.frames) < 2))
    assert [frame[2:] for _, frame in link.frames] == [bytes((0, 0, 0, 0)), bytes((49, 0, 0, 0))]
    assert link.frames[1][0] - link.frames[0][0] >= PACING - 1e-6
    assert counters.commands_coalesced == 48
    for _, frame in link.frames:
        pipeline.answer(Response(0, frame[0]))
    assert all(waiter.done() for waiter in waiters)
    assert pipeline.pending == 0


async def test_queries_are_never_coalesced() -> None:
    pipeline, _ = _pipeline()
    link = FakeLink()
    waiters = [_submit(pipeline, cmd.get_power_state()) for _ in range(3)]
    pipeline.attach(link.write)
    await wait_for(lambda: len(link.frames) >= 3)
    assert len({frame[0] for _, frame in link.frames}) == 3, "each its own sequence number"
    for _, frame in reversed(link.frames):
        pipeline.answer(Response(0, frame[0], bytes([frame[0]])))
    assert [waiter.result().data for waiter in waiters] == [bytes([0]), bytes([1]), bytes([2])]


async def test_an_error_code_fails_only_that_command_and_unknown_answers_are_counted() -> None:
    answered: list[Pending] = []
    pipeline, counters = _pipeline(on_answered=answered.append)
    link = FakeLink()
    pipeline.attach(link.write)
    waiter = _submit(pipeline, cmd.ping())
    pipeline.answer(Response(0x07, link.frames[0][1][0]))
    with pytest.raises(CommandRejectedError):
        waiter.result()
    assert answered == []
    pipeline.answer(Response(0, 200))
    assert counters.unmatched_responses == 1


async def test_a_failed_write_reports_the_link_broken_and_fails_the_command() -> None:
    pipeline, _, broken = _pipeline_on_a_broken_link()
    waiter = _submit(pipeline, cmd.ping())
    await asyncio.sleep(0)
    with pytest.raises(NotConnectedError):
        waiter.result()
    assert broken == ["radio gone"]
    assert pipeline.pending == 0


async def test_a_lost_link_fails_written_commands_and_link_bound_ones_but_keeps_use_queued() -> None:
    pipeline, _ = _pipeline()
    link = FakeLink()
    pipeline.attach(link.write)
    written = _submit(pipeline, cmd.ping())
    poll = _submit(pipeline, cmd.get_power_state(), Purpose.POLL)
    use = _submit(pipeline, cmd.set_main_led(9, 9, 9))
    writer = pipeline.detach()
    if writer is not None:
        with pytest.raises(asyncio.CancelledError):
            await writer
    pipeline.fail_inflight(NotConnectedError("gone"))
    pipeline.fail_link_bound(NotConnectedError("gone"))
    assert isinstance(written.exception(), NotConnectedError)
    assert isinstance(poll.exception(), NotConnectedError)
    assert not use.done(), "use waits for the next link"
    assert pipeline.pending == 1
    again = FakeLink()
    pipeline.attach(again.write)
    await wait_for(lambda: bool(again.frames))
    assert again.frames[0][1][2:] == bytes((9, 9, 9, 0))
    pipeline.answer(Response(0, again.frames[0][1][0]))
    assert use.result().ok


async def test_the_first_queued_write_waits_a_pacing_interval_after_a_probe() -> None:
    pipeline, _ = _pipeline()
    link = FakeLink()
    probe = await pipeline.write_now(cmd.ping(), link.write)
    queued = _submit(pipeline, cmd.set_main_led(1, 1, 1))
    pipeline.attach(link.write)
    await wait_for(lambda: len(link.frames) >= 2)
    assert link.frames[1][0] - link.frames[0][0] >= PACING - 1e-6
    pipeline.answer(Response(0, link.frames[0][1][0]))
    assert probe.result().ok
    pipeline.fail_all(NotConnectedError("done"))
    assert isinstance(queued.exception(), NotConnectedError)
    assert pipeline.pending == 0


async def test_a_probe_given_up_on_holds_no_sequence_number_and_is_not_pending() -> None:
    pipeline, _ = _pipeline()

    async def write(_frame: bytes) -> None:
        return None

    unanswered = await pipeline.write_now(cmd.ping(), write)
    assert pipeline.pending == 1
    unanswered.cancel()  # the prober stops waiting and probes again
    await asyncio.sleep(0)
    assert pipeline.pending == 0, "a connected link with nothing to do shows nothing pending"


def _timed(pipeline: CommandPipeline, command: cmd.Command, timeout: float) -> asyncio.Future[Response]:
    waiter: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
    pipeline.submit(command, waiter, True, Purpose.USE, timeout)
    return waiter


async def test_a_command_unanswered_within_its_timeout_fails_with_timeout_and_others_still_answer() -> None:
    pipeline, _ = _pipeline()
    link = FakeLink()
    pipeline.attach(link.write)
    loop = asyncio.get_running_loop()
    started = loop.time()
    lost = _timed(pipeline, cmd.ping(), 0.05)
    answered = _timed(pipeline, cmd.get_power_state(), 5.0)
    await wait_for(lost.done)
    assert loop.time() - started >= 0.05 - 1e-3
    assert isinstance(lost.exception(), TimeoutError)
    assert not answered.done(), "only the command whose time ran out fails"
    await wait_for(lambda: len(link.frames) == 2)
    pipeline.answer(Response(0, link.frames[1][1][0]))
    assert answered.result().ok
    pipeline.fail_all(NotConnectedError("done"))


async def test_a_shorter_timeout_after_a_longer_one_still_fails_on_time() -> None:
    pipeline, _ = _pipeline()
    slow = _timed(pipeline, cmd.ping(), 5.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    quick = _timed(pipeline, cmd.get_versions(), 0.05)
    await wait_for(quick.done, timeout=1.0)
    assert 0.05 - 1e-3 <= loop.time() - started < 1.0
    assert isinstance(quick.exception(), TimeoutError)
    assert not slow.done()
    pipeline.fail_all(NotConnectedError("done"))
    assert isinstance(slow.exception(), NotConnectedError)


async def test_every_command_keeps_its_own_deadline_when_one_timer_serves_them_all() -> None:
    pipeline, _ = _pipeline()
    loop = asyncio.get_running_loop()
    started = loop.time()
    timeouts = [0.3, 0.1, 0.2, 0.1]
    waiters = [_timed(pipeline, cmd.get_versions(), timeout) for timeout in timeouts]
    failed_at: dict[int, float] = {}
    while len(failed_at) < len(waiters) and loop.time() - started < 2.0:
        await asyncio.sleep(0.002)
        for index, waiter in enumerate(waiters):
            if waiter.done() and index not in failed_at:
                failed_at[index] = loop.time() - started
    assert sorted(failed_at) == [0, 1, 2, 3], "every deadline fired"
    for index, timeout in enumerate(timeouts):
        assert isinstance(waiters[index].exception(), TimeoutError)
        assert failed_at[index] >= timeout - 1e-3, "never early"
    assert failed_at[1] <= failed_at[2] <= failed_at[0], "in the order of their deadlines"
    pipeline.forget_abandoned()
    assert pipeline.pending == 0


async def test_closing_leaves_no_timeout_timer_behind() -> None:
    """The harness's cleanup check fails the test if a timer is still set after it."""
    pipeline, _ = _pipeline()
    link = FakeLink()
    pipeline.attach(link.write)
    waiter = _timed(pipeline, cmd.ping(), 5.0)
    pipeline.answer(Response(0, link.frames[0][1][0]))
    assert waiter.result().ok
    pipeline.fail_all(NotConnectedError("closed"))


class GatedLink(FakeLink):
    """A link whose first write waits until ``gate`` is set (a slow or hung radio)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.writers: list[asyncio.Task[object] | None] = []

    async def write(self, frame: bytes) -> None:
        self.writers.append(asyncio.current_task())
        if len(self.writers) == 1:
            await self.gate.wait()
        await super().write(frame)


async def _send(
    pipeline: CommandPipeline,
    command: cmd.Command,
    timeout: float | None = None,  # noqa: ASYNC109 - the answer's deadline, handed on
) -> asyncio.Future[Response]:
    waiter: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
    await pipeline.send(command, waiter, True, Purpose.USE, timeout)
    return waiter


async def test_a_command_on_an_idle_link_is_written_by_its_callers_own_task() -> None:
    pipeline, counters = _pipeline()
    link = GatedLink()
    link.gate.set()
    pipeline.attach(link.write)
    waiter = await _send(pipeline, cmd.set_main_led(1, 2, 3))
    assert link.writers == [asyncio.current_task()], "no writer task was made for it"
    assert counters.commands_sent == 1
    assert pipeline.writer_idle
    pipeline.answer(Response(0, link.frames[0][1][0]))
    assert waiter.result().ok


async def test_commands_arriving_during_a_callers_write_are_written_after_it_paced() -> None:
    pipeline, _ = _pipeline()
    link = GatedLink()
    pipeline.attach(link.write)
    first = asyncio.create_task(_send(pipeline, cmd.set_main_led(1, 1, 1)))
    await wait_for(lambda: bool(link.writers))
    assert not pipeline.writer_idle, "the caller's write holds the link"
    second = _submit(pipeline, cmd.set_main_led(2, 2, 2))
    third = _submit(pipeline, cmd.set_main_led(3, 3, 3))
    assert len(link.frames) == 0
    link.gate.set()
    await first
    await wait_for(lambda: len(link.frames) == 2)
    assert [frame[2:] for _, frame in link.frames] == [bytes((1, 1, 1, 0)), bytes((3, 3, 3, 0))]
    assert link.frames[1][0] - link.frames[0][0] >= PACING - 1e-6
    assert link.writers[1] is not link.writers[0], "a writer task took the queue over"
    for _, frame in link.frames:
        pipeline.answer(Response(0, frame[0]))
    assert second.result().ok
    assert third.result().ok


async def test_a_write_that_hangs_past_the_timeout_releases_its_caller_at_the_deadline() -> None:
    pipeline, _ = _pipeline()
    link = GatedLink()
    pipeline.attach(link.write)
    loop = asyncio.get_running_loop()
    started = loop.time()
    waiter = await asyncio.wait_for(_send(pipeline, cmd.ping(), timeout=0.05), 2.0)
    assert 0.05 - 1e-3 <= loop.time() - started < 2.0
    assert isinstance(waiter.exception(), TimeoutError)
    pipeline.forget_abandoned()
    assert pipeline.pending == 0
    link.gate.set()
    after = await _send(pipeline, cmd.set_main_led(4, 4, 4))
    await wait_for(lambda: bool(link.frames))
    assert link.frames[0][1][2:] == bytes((4, 4, 4, 0)), "the link is not stuck behind the hung write"
    pipeline.answer(Response(0, link.frames[0][1][0]))
    assert after.result().ok
    pipeline.fail_all(NotConnectedError("done"))


async def test_a_caller_cancelled_during_its_write_is_cancelled_and_the_queue_goes_on() -> None:
    pipeline, _ = _pipeline()
    link = GatedLink()
    pipeline.attach(link.write)
    caller = asyncio.create_task(_send(pipeline, cmd.set_main_led(1, 1, 1)))
    await wait_for(lambda: bool(link.writers))
    queued = _submit(pipeline, cmd.get_power_state())
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    link.gate.set()
    await wait_for(lambda: bool(link.frames))
    assert [frame[1] for _, frame in link.frames] == [cmd.get_power_state().cid]
    pipeline.answer(Response(0, link.frames[0][1][0]))
    assert queued.result().ok


async def test_letting_the_link_go_releases_a_caller_writing_on_it() -> None:
    pipeline, _ = _pipeline()
    link = GatedLink()
    pipeline.attach(link.write)
    caller = asyncio.create_task(_send(pipeline, cmd.ping()))
    await wait_for(lambda: bool(link.writers))
    assert pipeline.detach() is None, "no writer task to await: the caller wrote"
    pipeline.fail_inflight(NotConnectedError("gone"))
    waiter = await asyncio.wait_for(caller, 2.0)
    assert isinstance(waiter.exception(), NotConnectedError)
    assert pipeline.pending == 0


async def test_a_callers_failed_write_reports_the_link_broken_and_fails_its_command() -> None:
    pipeline, counters, broken = _pipeline_on_a_broken_link()
    waiter = await _send(pipeline, cmd.ping())
    assert isinstance(waiter.exception(), NotConnectedError)
    assert broken == ["radio gone"]
    assert counters.commands_sent == 0
    assert pipeline.pending == 0


async def test_a_sequence_number_still_awaiting_its_answer_is_skipped_when_the_numbers_wrap() -> None:
    pipeline, _ = _pipeline()
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


async def test_an_answered_command_is_let_go_before_its_timeout_runs_out() -> None:
    pipeline, _ = _pipeline()
    link = FakeLink()
    pipeline.attach(link.write)
    first = await _send(pipeline, cmd.ping(), timeout=5.0)
    pipeline.answer(Response(0, link.frames[0][1][0]))
    assert first.result().ok
    gone = weakref.ref(first)
    del first
    assert pipeline.detach() is None, "nothing left to write: no writer task to await"
    second = _timed(pipeline, cmd.ping(), 5.0)  # queued (no link), with its own deadline
    gc.collect()
    assert gone() is None, "the first command's future is not kept for its 5 s"
    second.cancel()
    pipeline.fail_all(NotConnectedError("done"))
