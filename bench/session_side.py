"""The integration's session alone (no Home Assistant) on the simulated link.

Sessions are built exactly as ``tests/conftest.py`` builds them: a ``BB8Session`` whose bleak
client gets the simulator's backend through ``client_kwargs``, so bleak, bleak-retry-connector's
``establish_connection`` and the session's own pacing, coalescing and reconnect policy all run
unchanged. Everything here runs on the bench's virtual-time loop: link waits cost no real time,
CPU work costs what it costs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass, field
import gc
import random
import time
import tracemalloc
from typing import Final

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic

from bb8sim import SimulatedBB8, registry
from bb8sim.protocol import COMMANDS_CHAR, RESPONSE_CHAR
from bb8sim.testing import HANDSHAKE, frame_request, make_ble_device
from custom_components.bb8.sphero import commands as cmd
from custom_components.bb8.sphero.errors import BB8Error, NotConnectedError
from custom_components.bb8.sphero.policy import FailureReason, ReconnectPolicy
from custom_components.bb8.sphero.protocol import Response, StreamReassembler, encode_request
from custom_components.bb8.sphero.session import BB8Session, ConnectionMode, SessionState

from .results import BurstSide, Distribution, MemoryResult, RecoveryResult, ScaleRow, Stall
from .rig import (
    LED_COMMAND,
    LinkSettings,
    LoopLagProbe,
    Meter,
    burst_colours,
    gather_all,
    trim_toy_records,
    wait_until,
)
from .vloop import IdleMode, idle_cpu, idle_mode

RNG_SEED: Final = 7
SETUP_LAST_COMMAND: Final = "get_power_state"
"""The last command of the session's after-connect setup (``BB8Session._after_connect``, run by ``connection.Connection`` after each connect)."""


def toy_address(index: int) -> str:
    """Return a distinct address for simulated toy number ``index``."""
    return f"F1:2C:3D:4E:{0xB5 - index // 256:02X}:{index % 256:02X}"


@dataclass
class SessionRig:
    """Simulated toys, each with a session on the bench loop, and the meter watching them."""

    settings: LinkSettings
    meter: Meter
    toys: list[SimulatedBB8] = field(default_factory=list)
    sessions: list[BB8Session] = field(default_factory=list)
    policy: ReconnectPolicy = field(default_factory=ReconnectPolicy)

    def setup_marks(self) -> list[int]:
        """How many power-state queries each toy has answered: the last step of a session's setup."""
        return [toy.command_counts[SETUP_LAST_COMMAND] for toy in self.toys]

    async def wait_ready(self, marks: list[int] | None = None) -> None:
        """Wait until every session is connected and has written its after-connect setup.

        ``marks`` are :meth:`setup_marks` from before the (re)connect: a toy is ready once it has
        answered one more power-state query, the setup's last command. Then a ping through every
        session proves its queue drained. The toy is asked rather than the session's own
        bookkeeping, so a session bug cannot make the bench wait for the wrong thing.
        """
        baseline = marks if marks is not None else [0] * len(self.toys)
        await wait_until(
            lambda: all(
                session.is_connected and count > before
                for session, count, before in zip(self.sessions, self.setup_marks(), baseline, strict=True)
            ),
            timeout=300.0,
            what="every session connected and set up",
        )
        await gather_all([session.send(cmd.ping()) for session in self.sessions])


@contextlib.asynccontextmanager
async def session_rig(
    settings: LinkSettings, count: int = 1, *, start: bool = True, first_index: int = 0
) -> AsyncIterator[SessionRig]:
    """``count`` toys with always-connected sessions (started unless ``start`` is False).

    The policy is the integration's default (2 s first delay, doubling, 20 % jitter) with a seeded
    random source, so every run draws the same delays.
    """
    loop = asyncio.get_running_loop()
    rig = SessionRig(settings, Meter())
    backend = rig.meter.backend_class()
    for index in range(first_index, first_index + count):
        toy = SimulatedBB8(toy_address(index), faults=settings.faults(seed=index))
        rig.toys.append(registry.register(rig.meter.attach(toy, loop)))
        rig.sessions.append(
            BB8Session(
                make_ble_device(toy.address, toy.name),
                mode=ConnectionMode.ALWAYS,
                policy=rig.policy,
                pacing_interval=settings.pacing_interval,
                rng=random.Random(RNG_SEED + index),
                client_kwargs={"backend": backend},
            )
        )
    try:
        if start:
            for session in rig.sessions:
                await session.start()
            await rig.wait_ready()
        yield rig
    finally:
        for session in rig.sessions:
            await session.close()
        for toy in rig.toys:
            registry.unregister(toy.address)


async def idle_link(settings: LinkSettings) -> None:
    """Leave the link idle for two pacing intervals, so the next command is written at once."""
    await asyncio.sleep(2 * settings.pacing_interval)


async def burst(rig: SessionRig, size: int, final: tuple[int, int, int]) -> BurstSide:
    """Ask for ``size`` colour changes, one task each, one per loop turn (as separate actions arrive).

    Settle time runs from the first request to the moment the toy shows the last colour.
    """
    loop = asyncio.get_running_loop()
    session, toy = rig.sessions[0], rig.toys[0]
    await idle_link(rig.settings)
    colours = burst_colours(size, final)
    watch = rig.meter.watch(toy, colours[-1])
    writes_before = toy.command_counts[LED_COMMAND]
    dropped_before = toy.dropped_for_pacing
    sim_before = rig.meter.sim_cpu
    cpu_before, idle_before = time.process_time(), idle_cpu(loop)
    started = loop.time()
    tasks = []
    for colour in colours:
        tasks.append(loop.create_task(session.set_main_led(*colour)))
        await asyncio.sleep(0)
    await gather_all(tasks)
    cpu = time.process_time() - cpu_before - (rig.meter.sim_cpu - sim_before) - (idle_cpu(loop) - idle_before)
    if watch.reached_at is None:
        raise RuntimeError("the session's burst ended without the toy showing its last colour")
    return BurstSide(
        settle=watch.reached_at - started,
        writes=toy.command_counts[LED_COMMAND] - writes_before,
        cpu_per_change=cpu / size,
        dropped_for_pacing=toy.dropped_for_pacing - dropped_before,
    )


async def run_bursts(settings: LinkSettings, sizes: list[int]) -> dict[int, BurstSide]:
    """Each burst size once, on one connected session."""
    async with session_rig(settings) as rig:
        return {size: await burst(rig, size, (250, 250, index)) for index, size in enumerate(sizes)}


COLD_PAUSE: Final = 0.1
"""Real seconds the loop sleeps before each "cold" sample (a command every so often)."""


async def command_cpu(settings: LinkSettings, samples: int, *, cold: bool = False) -> dict[str, Distribution]:
    """Loop CPU of single commands on a quiet loop: to the GATT write, back from the answer, whole.

    Each sample starts on an idle link (so the command is written at once) and awaits
    ``set_main_led`` to its answer. Warm (the default) the loop skips its idle time and the core
    stays busy; ``cold`` sleeps for real before each sample and blocks during the write, as an
    ordinary loop that hears a command every so often does. ``api_to_write`` runs from the call to the moment the bleak
    backend receives the write (bleak's client front included); ``notify_to_resume`` from the
    notification leaving the backend to the caller running again; ``whole`` is the thread CPU of
    the whole await minus the toy's own work and the loop's idle polling.
    """
    loop = asyncio.get_running_loop()
    api_to_write: list[float] = []
    notify_to_resume: list[float] = []
    whole: list[float] = []
    async with session_rig(settings) as rig:
        session, meter = rig.sessions[0], rig.meter
        for index in range(samples):
            if cold:
                with idle_mode(IdleMode.BLOCK):
                    await asyncio.sleep(COLD_PAUSE)
            else:
                await idle_link(settings)
            colour = (index & 0xFF, 0x40, (index >> 8) & 0xFF)
            meter.mark()
            sim_before = meter.sim_cpu
            idle_before = idle_cpu(loop)
            start = time.thread_time()
            with idle_mode(IdleMode.BLOCK if cold else IdleMode.SKIP):
                await session.set_main_led(*colour)
            end = time.thread_time()
            if meter.write_stamp is None or meter.notify_stamp is None:
                raise RuntimeError("a timed command never reached the backend or never got its answer")
            idle = idle_cpu(loop) - idle_before
            api_to_write.append(meter.write_stamp - start)
            notify_to_resume.append(end - meter.notify_stamp)
            whole.append(end - start - (meter.sim_cpu - sim_before) - idle)
    return {
        "api_to_write": Distribution.of(api_to_write),
        "notify_to_resume": Distribution.of(notify_to_resume),
        "whole": Distribution.of(whole),
    }


async def bare_command_cpu(settings: LinkSettings, samples: int) -> Distribution:
    """Loop CPU of one command with the integration taken out: the rig's own floor.

    The same simulated toy, metered backend and measurement as :func:`command_cpu`'s ``whole``,
    but no session: the caller writes an already framed ``set_main_led`` to the commands
    characteristic with bleak's ``BleakClient.write_gatt_char`` (the characteristic object, as
    the session passes it) and awaits a future that a bare notification callback resolves. What
    is left is bleak's client front and notification wrapper, the simulated backend, the bench's
    instruments and the event loop's iterations: every command of the integration pays them too.
    """
    loop = asyncio.get_running_loop()
    meter = Meter()
    toy = SimulatedBB8(toy_address(600), faults=settings.faults(seed=600))
    registry.register(meter.attach(toy, loop))
    client = BleakClient(make_ble_device(toy.address, toy.name), backend=meter.backend_class())
    answer: asyncio.Future[bytearray] | None = None

    def on_notify(_characteristic: BleakGATTCharacteristic, data: bytearray) -> None:
        if answer is not None and not answer.done():
            answer.set_result(data)

    whole: list[float] = []
    try:
        await client.connect()
        await client.start_notify(RESPONSE_CHAR, on_notify)
        for uuid, value in HANDSHAKE:
            await client.write_gatt_char(uuid, value, response=True)
        commands = client.services.get_characteristic(COMMANDS_CHAR)
        for index in range(samples):
            await idle_link(settings)
            frame = frame_request(0x02, 0x20, index & 0xFF, bytes((index & 0xFF, 0x40, 0, 0)))
            sim_before, idle_before = meter.sim_cpu, idle_cpu(loop)
            start = time.thread_time()
            with idle_mode(IdleMode.SKIP):
                answer = loop.create_future()
                await client.write_gatt_char(commands, frame, response=True)
                await answer
            end = time.thread_time()
            whole.append(end - start - (meter.sim_cpu - sim_before) - (idle_cpu(loop) - idle_before))
    finally:
        await client.disconnect()
        registry.unregister(toy.address)
    return Distribution.of(whole)


async def minimal_command_cpu(settings: LinkSettings, samples: int) -> Distribution:
    """Loop CPU of one command through a driver that does only what the protocol demands.

    The bare rig of :func:`bare_command_cpu` plus the work no BB-8 driver can leave out, done
    with the integration's own pieces and nothing around them: validate and build the command
    (``commands.set_main_led``), frame it with a sequence number (``protocol.encode_request``),
    keep its future under that number, and when the notification comes, read it
    (``StreamReassembler.feed``) and hand the answer to the future with its number. No timeout,
    no pacing, no latest-wins, no wish, no listener, no counter, no error translation: the
    integration's own row less this one is what those cost. Same toy, backend and measurement.
    """
    loop = asyncio.get_running_loop()
    meter = Meter()
    toy = SimulatedBB8(toy_address(601), faults=settings.faults(seed=601))
    registry.register(meter.attach(toy, loop))
    client = BleakClient(make_ble_device(toy.address, toy.name), backend=meter.backend_class())
    reader = StreamReassembler()
    waiting: dict[int, asyncio.Future[Response]] = {}

    def on_notify(_characteristic: BleakGATTCharacteristic, data: bytearray) -> None:
        for packet in reader.feed(data):
            if isinstance(packet, Response) and (future := waiting.pop(packet.seq, None)) is not None:
                future.set_result(packet)

    async def set_main_led(commands: BleakGATTCharacteristic, seq: int, red: int) -> Response:
        command = cmd.set_main_led(red, 0x40, 0)
        future: asyncio.Future[Response] = loop.create_future()
        waiting[seq] = future
        await client.write_gatt_char(
            commands, encode_request(command.did, command.cid, seq, command.data, True), response=True
        )
        return await future

    whole: list[float] = []
    try:
        await client.connect()
        await client.start_notify(RESPONSE_CHAR, on_notify)
        for uuid, value in HANDSHAKE:
            await client.write_gatt_char(uuid, value, response=True)
        commands = client.services.get_characteristic(COMMANDS_CHAR)
        if commands is None:
            raise RuntimeError("the simulated toy has no commands characteristic")
        for index in range(samples):
            await idle_link(settings)
            sim_before, idle_before = meter.sim_cpu, idle_cpu(loop)
            start = time.thread_time()
            with idle_mode(IdleMode.SKIP):
                answer = await set_main_led(commands, index & 0xFF, index & 0xFF)
            end = time.thread_time()
            if not answer.ok:
                raise RuntimeError(f"the toy refused a timed command: {answer}")
            whole.append(end - start - (meter.sim_cpu - sim_before) - (idle_cpu(loop) - idle_before))
    finally:
        await client.disconnect()
        registry.unregister(toy.address)
    return Distribution.of(whole)


async def stalls(settings: LinkSettings, storm_toys: int) -> dict[str, Stall]:
    """Measure the longest loop stall while connecting, hand-shaking and in a reconnect storm.

    * first connect in the process (cold: first use of bleak's client, bleak-retry-connector and
      the session's code paths);
    * ``storm_toys`` toys connecting at once (warm);
    * a reconnect storm: every link dropped at once, each toy refusing its next four connects, so
      bleak-retry-connector retries inside a connect and the policy backs off between connects.
    """
    results: dict[str, Stall] = {}
    async with LoopLagProbe() as probe, session_rig(settings, 1, first_index=100):
        pass
    results["first connect and handshake (cold)"] = probe.stall()
    async with session_rig(settings, storm_toys, start=False, first_index=200) as rig:
        async with LoopLagProbe() as probe:
            for session in rig.sessions:
                await session.start()
            await rig.wait_ready()
        results[f"connect and handshake, {storm_toys} toys at once"] = probe.stall()
        async with LoopLagProbe() as probe:
            marks = rig.setup_marks()
            for toy in rig.toys:
                toy.faults.connect_failures = 4
            for toy in rig.toys:
                toy.disconnect_now("bench: reconnect storm")
            await rig.wait_ready(marks)
        if any(toy.faults.connect_failures for toy in rig.toys):
            raise RuntimeError("the reconnect storm did not exhaust the refused connects")
        results[f"reconnect storm, {storm_toys} toys, 4 refused connects each"] = probe.stall()
    return results


RETRY_EVERY: Final = 0.01
"""How often the retrying caller of :func:`reconnect_recovery` tries again while the link is down."""


async def reconnect_recovery(settings: LinkSettings, trials: int) -> dict[str, RecoveryResult]:
    """Drop the link and time it to the first command that succeeds, against the policy's delay.

    Two callers, each over ``trials`` drops:

    * ``retrying``: tries a colour change every 10 ms from the drop (in always-connected mode a
      command fails at once while the link is down) until one succeeds;
    * ``at_connected``: waits for the session to report CONNECTED and sends at that instant,
      the earliest any caller could; its command races the session's own after-connect setup.

    The policy's delay for each drop is drawn again from a twin of the session's seeded random
    source, so the figure compared is the exact delay the session waited.
    """
    loop = asyncio.get_running_loop()
    results: dict[str, RecoveryResult] = {}
    async with session_rig(settings, 1, first_index=300) as rig:
        session, toy = rig.sessions[0], rig.toys[0]
        twin = random.Random(RNG_SEED + 300)

        async def retrying(trial: int) -> bool:
            while True:
                try:
                    await session.set_main_led(trial & 0xFF, 0x20, 0x20)
                except NotConnectedError:
                    await asyncio.sleep(RETRY_EVERY)
                else:
                    return True

        async def at_connected(trial: int) -> bool:
            connected: asyncio.Future[None] = loop.create_future()

            def on_update() -> None:
                if session.state is SessionState.CONNECTED and not connected.done():
                    connected.set_result(None)

            subscription = session.toy.add_update_listener(on_update)
            try:
                await connected
            finally:
                subscription.cancel()
            try:
                await session.set_main_led(trial & 0xFF, 0x21, 0x21)
            except BB8Error:
                return False
            return True

        for name, caller in (("retrying", retrying), ("at_connected", at_connected)):
            delays: list[float] = []
            recoveries: list[float] = []
            failed = 0
            for trial in range(trials):
                await idle_link(settings)
                marks = rig.setup_marks()
                delays.append(rig.policy.delay(0, twin, FailureReason.DROPPED))
                dropped_at = loop.time()
                toy.disconnect_now("bench: link lost")
                if not await caller(trial):
                    failed += 1
                recoveries.append(loop.time() - dropped_at)
                await rig.wait_ready(marks)
            results[name] = RecoveryResult(
                first_delay=Distribution.of(delays),
                recovery=Distribution.of(recoveries),
                overhead=Distribution.of([r - d for r, d in zip(recoveries, delays, strict=True)]),
                trials=trials,
                failed=failed,
            )
    return results


async def _command_cpu_at_once(rig: SessionRig, total: int) -> float:
    """Loop CPU per written command while every toy of ``rig`` gets commands at once.

    ``total`` commands are spread over the toys, each toy's sent one after another (each
    awaited); the toys' own work and the loop's idle polling are subtracted.
    """
    loop = asyncio.get_running_loop()
    per_toy = max(1, total // len(rig.sessions))

    async def drive(session: BB8Session, offset: int) -> None:
        for index in range(per_toy):
            await session.set_main_led((index + offset) & 0xFF, 0x10, 0x10)

    await idle_link(rig.settings)
    written_before = sum(toy.command_counts[LED_COMMAND] for toy in rig.toys)
    sim_before, idle_before = rig.meter.sim_cpu, idle_cpu(loop)
    start = time.thread_time()
    await gather_all([drive(session, offset) for offset, session in enumerate(rig.sessions)])
    cpu = time.thread_time() - start - (rig.meter.sim_cpu - sim_before) - (idle_cpu(loop) - idle_before)
    return cpu / (sum(toy.command_counts[LED_COMMAND] for toy in rig.toys) - written_before)


async def _settle_at_once(rig: SessionRig, burst_size: int) -> list[float]:
    """Settle time per toy of a burst of ``burst_size`` changes sent to every toy, interleaved."""
    loop = asyncio.get_running_loop()
    await idle_link(rig.settings)
    final = (251, 251, len(rig.toys))
    watches = [rig.meter.watch(toy, final) for toy in rig.toys]
    started = loop.time()
    tasks = []
    for index in range(burst_size):
        colour = final if index == burst_size - 1 else (index & 0xFF, 0, 0)
        for session in rig.sessions:
            tasks.append(loop.create_task(session.set_main_led(*colour)))
        await asyncio.sleep(0)
    await gather_all(tasks)
    settles = []
    for watch in watches:
        if watch.reached_at is None:
            raise RuntimeError("a toy never showed the last colour of its burst")
        settles.append(watch.reached_at - started)
    return settles


async def scale(
    settings: LinkSettings, counts: list[int], commands: int, burst_size: int, rounds: int = 3
) -> list[ScaleRow]:
    """Per-command loop CPU and per-toy settle time with 1, 4, 8 ... toys driven at once.

    Every toy count has its own toys and sessions, all connected on the loop together, and the
    CPU measurement goes round them in turn, ``rounds`` times, the same ``commands`` in total each
    time: a machine that gets busier halfway then weighs on every count alike (the median of the
    rounds is kept). Settle: a burst of ``burst_size`` changes to every toy at once.
    """
    async with contextlib.AsyncExitStack() as stack:
        rigs = {
            count: await stack.enter_async_context(session_rig(settings, count, first_index=400 + 10 * count))
            for count in counts
        }
        cpu: dict[int, list[float]] = {count: [] for count in counts}
        for _ in range(rounds):
            for count, rig in rigs.items():
                cpu[count].append(await _command_cpu_at_once(rig, commands))
        rows: list[ScaleRow] = []
        for count, rig in rigs.items():
            settles = await _settle_at_once(rig, burst_size)
            rows.append(
                ScaleRow(
                    toys=count,
                    cpu_per_command=Distribution.of(cpu[count]).median,
                    settle_median=Distribution.of(settles).median,
                    settle_max=max(settles),
                    burst=burst_size,
                )
            )
    return rows


MEMORY_FRAMES: Final = 6
"""Stack depth tracemalloc keeps per allocation: enough to see the session behind bleak's and
asyncio's allocations for it (deeper stacks cost minutes of tracing, not accuracy)."""


def _total(snapshot: tracemalloc.Snapshot) -> int:
    return sum(stat.size for stat in snapshot.statistics("filename"))


async def memory(settings: LinkSettings, few: int, many: int) -> MemoryResult:
    """Python heap after ``few`` and after ``many`` commands on one session (tracemalloc).

    Two figures: every allocation still alive that the simulator did not make (no ``bb8sim``
    frame on its stack: the toy keeps per-command logs, and its clock keeps cancelled timers
    until they fall due, by design), and those made with the integration on the stack (a
    ``custom_components`` frame anywhere: the session's own objects and what bleak and asyncio
    allocate on its behalf). The toy's logs are also trimmed as it goes, to keep the run small.
    """
    async with session_rig(settings, 1, first_index=500) as rig:
        session, toy = rig.sessions[0], rig.toys[0]

        async def send(count: int, offset: int) -> None:
            for index in range(count):
                await session.set_main_led((index + offset) & 0xFF, 0x30, 0x30)
                if index % 256 == 255:
                    trim_toy_records(toy)
            trim_toy_records(toy)

        def measure() -> tuple[int, int]:
            gc.collect()
            snapshot = tracemalloc.take_snapshot()
            host = snapshot.filter_traces(
                [
                    tracemalloc.Filter(False, "*/bb8sim/*", all_frames=True),
                    tracemalloc.Filter(False, tracemalloc.__file__),
                ]
            )
            integration = host.filter_traces(
                [tracemalloc.Filter(True, "*/custom_components/*", all_frames=True)]
            )
            return _total(host), _total(integration)

        tracemalloc.start(MEMORY_FRAMES)
        try:
            await send(few, 0)
            traced_few, integration_few = measure()
            await send(many - few, few)
            traced_many, integration_many = measure()
        finally:
            tracemalloc.stop()
    return MemoryResult(
        few_commands=few,
        many_commands=many,
        traced_after_few=traced_few,
        traced_after_many=traced_many,
        integration_after_few=integration_few,
        integration_after_many=integration_many,
        frames=MEMORY_FRAMES,
    )
