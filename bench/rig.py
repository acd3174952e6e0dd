"""The simulated link both sides share, and the instruments that read it.

Both spherov2's toy and this integration talk to the same simulated BB-8 (``bb8sim``) through the
same bleak backend, built from one :class:`LinkSettings`: the same latency per GATT write and the
same pacing rule (the toy drops a command that arrives sooner than one interval after the last
one it accepted). Nothing in ``custom_components/`` is patched; the instruments sit in the
simulator's seams:

* :class:`Meter` wraps a toy's ``write`` to count the toy's own CPU (its parser and answers run
  on the BB-8's chip in real life) and to see the moment the toy shows a colour; its backend
  subclass counts the simulated radio's delivery of notifications (the backend's pump, without
  the callback into the host), and stamps the loop thread's CPU clock when a command reaches the
  bleak backend and when a notification leaves it. Host-side CPU figures leave ``sim_cpu`` (toy
  plus simulated radio) out; bleak's client, and Home Assistant's wrapper around it, stay in.
* :class:`LoopLagProbe` sleeps 1 ms over and over and keeps how late it wakes: the longest
  lateness is the longest time something held the event loop.
* :class:`LoopIterationProfile` follows every Python frame the loop thread enters and leaves, and
  splits each loop iteration's time between the integration's own code and everything else
  (Home Assistant, its libraries, asyncio), so a stall can be judged by the integration's part.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
import contextlib
from dataclasses import dataclass
import math
import sys
import time
from types import CodeType, FrameType
from typing import Any, Final, cast
import uuid as uuid_module

from bleak.backends.characteristic import BleakGATTCharacteristic
from spherov2.toy.bb8 import BB8 as SpheroV2BB8

from bb8sim import FaultPlan, SimBleakBackend, SimClock, SimulatedBB8
from custom_components.bb8.sphero.const import COMMANDS_CHAR
from custom_components.bb8.sphero.session import PACING_INTERVAL

from .results import Stall
from .vloop import IdleMode, VirtualTimeLoop, idle_cpu

SPHEROV2_WRITE_SLEEP: Final = float(SpheroV2BB8.toy_type.cmd_safe_interval)
"""What spherov2's writer thread sleeps after every BB-8 write (60 ms in 0.12.1)."""

LED_COMMAND: Final = "set_main_led"
"""The simulator's name for the main LED command (``bb8sim.command_kind``)."""


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """What the simulated link does, identical for every side measured.

    ``write_latency`` is the time one write-with-response takes on the air (a 15 ms BLE connection
    interval by default; real links take 7.5-50 ms). ``pacing_interval`` is both the session's
    pacing constant and the toy's rule; the integration's default is checked to be spherov2's
    own 60 ms so the two sides are held to one rule.
    """

    write_latency: float = 0.015
    pacing_interval: float = PACING_INTERVAL

    def __post_init__(self) -> None:
        """Refuse a comparison whose sides would be paced differently."""
        if not math.isclose(self.pacing_interval, SPHEROV2_WRITE_SLEEP):
            raise ValueError(
                f"pacing interval {self.pacing_interval} s differs from spherov2's "
                f"{SPHEROV2_WRITE_SLEEP} s sleep per write: the sides would not be comparable"
            )

    def faults(self, seed: int) -> FaultPlan:
        """Build a fault plan with this link's latency and pacing rule (and nothing else going wrong)."""
        return FaultPlan(
            seed=seed, write_latency=self.write_latency, pacing=True, min_interval=self.pacing_interval
        )


@dataclass(slots=True)
class LedWatch:
    """Waits for a toy to show one colour; ``reached_at`` is the loop time it first did."""

    toy: SimulatedBB8
    colour: tuple[int, int, int]
    reached_at: float | None = None


class Meter:
    """CPU and colour instruments on the loop thread (see the module docstring)."""

    def __init__(self) -> None:
        """Start with no toy attached and nothing stamped."""
        self.toy_cpu = 0.0
        """Thread CPU seconds spent inside the toys' ``write`` (the toy's own work)."""
        self.radio_cpu = 0.0
        """Thread CPU seconds the backends spent delivering notifications, callbacks excluded."""
        self.callback_cpu = 0.0
        """Thread CPU seconds spent in the host's notification callbacks (inside ``radio``'s pump)."""
        self.write_stamp: float | None = None
        """Loop-thread CPU clock when the first command write since :meth:`mark` reached the backend."""
        self.notify_stamp: float | None = None
        """Loop-thread CPU clock when the last notification since :meth:`mark` left the backend."""
        self._watches: list[LedWatch] = []

    @property
    def sim_cpu(self) -> float:
        """Everything the simulator did on the loop thread so far: toy plus simulated radio."""
        return self.toy_cpu + self.radio_cpu

    def mark(self) -> None:
        """Forget the stamps, before the command whose path is to be timed."""
        self.write_stamp = None
        self.notify_stamp = None

    def attach(self, toy: SimulatedBB8, loop: asyncio.AbstractEventLoop) -> SimulatedBB8:
        """Meter ``toy``'s writes (its CPU, and the colour watches); returns the toy.

        The toy's own clock (``SimClock``: inactivity sleep, power reports, battery) is moved to
        the link's time at every write it receives, so toy time follows the bench loop's
        (simulated) time without a ticker task waking the loop between commands.
        """
        original = toy.write
        origin = loop.time() - toy.clock.now()

        def write(char_uuid: str, data: bytes | bytearray, *, now: float | None = None) -> None:
            link_time = loop.time() if now is None else now
            start = time.thread_time()
            try:
                if link_time - origin > toy.clock.now():
                    toy.clock.set_time(link_time - origin)
                original(char_uuid, data, now=now)
            finally:
                self.toy_cpu += time.thread_time() - start
                if self._watches:
                    self._check_watches(toy, link_time)

        toy.write = write  # type: ignore[method-assign]  # an instance-level wrapper, on purpose
        return toy

    def watch(self, toy: SimulatedBB8, colour: tuple[int, int, int]) -> LedWatch:
        """Start waiting for ``toy`` to show ``colour`` (it must not show it already)."""
        if toy.main_led == colour:
            raise ValueError(f"{toy.name} already shows {colour}; a burst must end on a new colour")
        watch = LedWatch(toy, colour)
        self._watches.append(watch)
        return watch

    def _check_watches(self, toy: SimulatedBB8, now: float) -> None:
        for watch in list(self._watches):
            if watch.toy is toy and toy.main_led == watch.colour:
                watch.reached_at = now
                self._watches.remove(watch)

    def backend_class(self, base: type[SimBleakBackend] = SimBleakBackend) -> type[SimBleakBackend]:
        """Subclass ``base`` with the meter's counting and stamps added (nothing else changes)."""
        meter = self

        class MeteredBackend(base):  # type: ignore[valid-type,misc]  # a class built at run time
            """The simulator's backend, counting its delivery CPU and stamping its two edges."""

            def write_gatt_char(
                self,
                characteristic: BleakGATTCharacteristic | int | str | uuid_module.UUID,
                data: Any,
                response: bool = True,
            ) -> Coroutine[Any, Any, None]:
                # A plain function handing back the backend's coroutine: a coroutine of its own
                # would be one more frame for every resumption of the write, counted in the path.
                if meter.write_stamp is None and _uuid_of(characteristic) == COMMANDS_CHAR:
                    meter.write_stamp = time.thread_time()
                coroutine: Coroutine[Any, Any, None] = super().write_gatt_char(characteristic, data, response)
                return coroutine

            async def start_notify(
                self,
                characteristic: BleakGATTCharacteristic | int | str | uuid_module.UUID,
                callback: Callable[[bytearray], None],
                **kwargs: Any,
            ) -> None:
                def stamped(data: bytearray) -> None:
                    meter.notify_stamp = start = time.thread_time()
                    try:
                        callback(data)
                    finally:
                        meter.callback_cpu += time.thread_time() - start

                await super().start_notify(characteristic, stamped, **kwargs)

            def _pump(self) -> None:
                start, callbacks_before = time.thread_time(), meter.callback_cpu
                try:
                    super()._pump()
                finally:
                    meter.radio_cpu += time.thread_time() - start - (meter.callback_cpu - callbacks_before)

        return MeteredBackend


class _NullToy:
    """Stands in for a toy whose work costs nothing, so only the meter's wrapper is left to time."""

    def __init__(self) -> None:
        self.clock = SimClock()

    def write(self, char_uuid: str, data: bytes | bytearray, *, now: float | None = None) -> None:
        """Do nothing."""


class _NullBackend:
    """Stands in for the simulated backend with no work of its own (see :func:`instrument_residue`)."""

    def __init__(self) -> None:
        self.callback: Callable[[bytearray], None] = _ignore_data
        self.data = bytearray(6)

    async def write_gatt_char(self, characteristic: Any, data: Any, response: bool = True) -> None:
        """Do nothing."""

    async def start_notify(
        self, characteristic: Any, callback: Callable[[bytearray], None], **kwargs: Any
    ) -> None:
        """Keep ``callback`` for :meth:`_pump`."""
        self.callback = callback

    def _pump(self) -> None:
        self.callback(self.data)


def _ignore_data(_data: bytearray) -> None:
    """Ignore a notification (a host callback with no work of its own)."""


def instrument_residues(operations: int) -> list[float]:
    """Thread CPU the meter's own instruments add to one command's measured path (warm).

    Every command measured here is seen by four instruments: the toy's write wrapper, the write
    stamp, the notification stamp with the radio's pump timing around it, and the virtual loop's
    idle accounting for the one wait on the write's latency. Each subtracts the span it times,
    but its own code outside that span (half of each ``time.thread_time`` call, a system call
    here, and the bookkeeping) stays in the figure. Measured by running each instrument around
    stand-ins that do nothing, in batches, minus what it subtracted and minus the same calls
    without the instrument. Returns one figure per batch of 100.
    """
    loop = VirtualTimeLoop(IdleMode.SKIP)
    try:
        return _instrument_residue(loop, max(1, operations // 100))
    finally:
        loop.close()


def _instrument_residue(loop: VirtualTimeLoop, batches: int) -> list[float]:
    meter = Meter()
    toy = _NullToy()
    bare_toy = _NullToy()
    meter.attach(cast(SimulatedBB8, toy), loop)
    metered = meter.backend_class(cast(type[SimBleakBackend], _NullBackend))()
    bare = _NullBackend()
    for backend in (metered, bare):
        with contextlib.suppress(StopIteration):  # the coroutine finishes at once
            backend.start_notify(COMMANDS_CHAR, _ignore_data).send(None)
    selector: Any = getattr(loop, "_selector")  # noqa: B009 - the loop's idle-accounting selector (vloop)

    def one_command(toy: Any, backend: Any) -> None:
        toy.write(COMMANDS_CHAR, b"", now=None)
        meter.write_stamp = None
        backend.write_gatt_char(COMMANDS_CHAR, b"").close()
        backend._pump()

    residues: list[float] = []
    for _ in range(batches):
        sim_before, idle_before = meter.sim_cpu, loop.idle_cpu
        start = time.thread_time()
        for _ in range(100):
            one_command(toy, metered)
            selector.select(1e-6)
            time.thread_time()  # the sample's own start and end: half of each call is inside it
        instrumented = (
            time.thread_time() - start - (meter.sim_cpu - sim_before) - (loop.idle_cpu - idle_before)
        )
        start = time.thread_time()
        for _ in range(100):
            one_command(bare_toy, bare)
            selector._inner.select(0)
        residues.append((instrumented - (time.thread_time() - start)) / 100)
    return residues


def _uuid_of(characteristic: object) -> str:
    if isinstance(characteristic, BleakGATTCharacteristic):
        return characteristic.uuid.lower()
    return str(characteristic).lower()


class LoopLagProbe:
    """A task that sleeps 1 ms over and over, keeping how late each wake-up comes.

    The lateness of a wake-up is how long something else held the loop past the due time (plus
    the loop's own scheduling jitter, tens of microseconds), so the largest is the longest stall.
    On a shared machine the process itself may also be descheduled for a few milliseconds, which
    looks the same from inside; so each wake-up also reads the loop thread's CPU clock, and
    ``max_busy_lag`` keeps the part of a lateness the loop spent running code (the smaller of
    the lateness and the non-idle CPU the thread used since the probe went to sleep).
    """

    def __init__(self, interval: float = 0.001, simulated_cpu: Callable[[], float] | None = None) -> None:
        """Probe every ``interval`` seconds once started.

        ``simulated_cpu``: cumulative CPU of simulated devices sharing the loop (a node's, the
        toys'); ``max_busy_lag_host`` then keeps the busy part with theirs taken out too.
        """
        self.interval = interval
        self.simulated_cpu = simulated_cpu or (lambda: 0.0)
        self.max_lag = 0.0
        self.max_busy_lag = 0.0
        self.max_busy_lag_host = 0.0
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LoopLagProbe:
        """Start probing on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="bench loop-lag probe")
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop probing and wait for the task to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval
            cpu_before, idle_before, simulated_before = (
                time.thread_time(),
                idle_cpu(loop),
                self.simulated_cpu(),
            )
            await asyncio.sleep(self.interval)
            lag = loop.time() - due
            busy = time.thread_time() - cpu_before - (idle_cpu(loop) - idle_before)
            simulated = self.simulated_cpu() - simulated_before
            self.samples += 1
            self.max_lag = max(self.max_lag, lag)
            self.max_busy_lag = max(self.max_busy_lag, min(lag, busy))
            self.max_busy_lag_host = max(self.max_busy_lag_host, min(lag, busy - simulated))

    def stall(self, *, integration: float | None = None, integration_profiled: float | None = None) -> Stall:
        """Return the longest lateness seen, whole and the part spent running code.

        ``integration`` and ``integration_profiled``: the integration's own part, where a profile
        measured it (see :class:`Stall`).
        """
        return Stall(self.max_lag, self.max_busy_lag, integration, integration_profiled)


INTEGRATION: Final = "integration"
"""Owner of ``custom_components/bb8`` code, and of what it calls outside Home Assistant."""
HOME_ASSISTANT: Final = "Home Assistant"
"""Owner of ``homeassistant`` code (and what it calls), the loop itself, and anything else."""
WAITING: Final = "waiting"
"""The loop waiting for I/O (its selector): not work, not part of an iteration's busy time."""


def _owner_of(code: CodeType) -> str | None:
    """Whose is ``code``: the integration's, Home Assistant's, the selector's wait, or (None) its caller's.

    Libraries and the standard library belong to whoever called them: bleak called by the session
    is the integration's work, the entity registry called by Home Assistant is Home Assistant's.
    """
    filename = code.co_filename.replace("\\", "/")
    if "/custom_components/bb8/" in filename:
        return INTEGRATION
    if "/homeassistant/" in filename:
        return HOME_ASSISTANT
    if code.co_name == "select" and filename.endswith(("/selectors.py", "/bench/vloop.py")):
        return WAITING
    return None


@dataclass(slots=True)
class IterationShare:
    """One event-loop iteration: its busy time, and the integration's part of it (profiled)."""

    busy: float
    integration: float
    integration_events: int = 0
    """Profiler events charged to the integration's part (each added the profiler's own cost)."""


class LoopIterationProfile:
    """Attribute each event-loop iteration's time to the integration or to everything else.

    While installed (``with profile.installed():``, on the loop's thread), ``sys.setprofile``
    sees every Python frame enter and leave (a coroutine's resume and suspend included). Time
    runs to the owner of the innermost frame that has one (:func:`_owner_of`): Home Assistant's
    code is Home Assistant's, the integration's code the integration's, and a library's time
    goes to whoever called it. An iteration is one ``BaseEventLoop._run_once``; its busy time
    leaves out the selector's wait. The profiler adds its own cost to whatever frame is running,
    so each figure is an upper bound of the unprofiled one; :attr:`event_cost` (calibrated when
    installed, on a loop of empty calls) is what one event adds, so
    :meth:`integration_estimate` takes it off again for an estimate of the unprofiled part.
    """

    def __init__(self) -> None:
        """Start with no iterations."""
        self.iterations: list[IterationShare] = []
        self._owners: dict[CodeType, str | None] = {}
        self._stack: list[str] = []
        self._spent: dict[str, float] = {}
        self._events: dict[str, int] = {}
        self._last = 0.0
        self._run_once = asyncio.BaseEventLoop._run_once.__code__  # type: ignore[attr-defined]
        self.event_cost = 0.0
        """Seconds one profiled event adds to the part it is charged to (see :meth:`_calibrate`)."""

    @contextlib.contextmanager
    def installed(self) -> Any:
        """Profile the calling thread (the loop's) for the block."""
        self.event_cost = self._calibrate()
        self._stack = []
        self._spent = {}
        self._events = {}
        self._last = time.perf_counter()
        sys.setprofile(self._event)
        try:
            yield self
        finally:
            sys.setprofile(None)

    def longest(self) -> IterationShare:
        """Return the iteration with the most busy time (an empty one if none was seen)."""
        return max(self.iterations, key=lambda share: share.busy, default=IterationShare(0.0, 0.0))

    def most_integration(self) -> IterationShare:
        """Return the iteration in which the integration's own code ran longest (profiled)."""
        return max(self.iterations, key=lambda share: share.integration, default=IterationShare(0.0, 0.0))

    def integration_estimate(self) -> float:
        """Return the most the integration's code ran in one iteration, less the profiler's own cost."""
        return max(
            (
                max(0.0, share.integration - share.integration_events * self.event_cost)
                for share in self.iterations
            ),
            default=0.0,
        )

    def _calibrate(self, calls: int = 20_000) -> float:
        """Measure what one event adds: empty calls, bare and then profiled (charged to one part)."""

        def nothing() -> None:
            return None

        def calling() -> None:
            for _ in range(calls):
                nothing()

        start = time.perf_counter()
        calling()
        bare = time.perf_counter() - start
        self._stack, self._spent, self._events = [INTEGRATION], {}, {}
        self._last = time.perf_counter()
        sys.setprofile(self._event)
        calling()
        sys.setprofile(None)
        events = self._events.get(INTEGRATION, 0)
        return max(0.0, (self._spent.get(INTEGRATION, 0.0) - bare) / events) if events else 0.0

    def _event(self, frame: FrameType, event: str, _arg: object) -> None:
        now = time.perf_counter()
        if self._stack:
            owner = self._stack[-1]
            self._spent[owner] = self._spent.get(owner, 0.0) + now - self._last
            self._events[owner] = self._events.get(owner, 0) + 1
        code = frame.f_code
        if event == "call":
            if code is self._run_once:
                self._stack = []
                self._spent = {}
                self._events = {}
            owner = self._owners.get(code, "")
            if owner == "":
                owner = self._owners[code] = _owner_of(code)
            self._stack.append(owner or (self._stack[-1] if self._stack else HOME_ASSISTANT))
        elif event == "return":
            if self._stack:
                self._stack.pop()
            if code is self._run_once:
                spent = self._spent
                busy = sum(seconds for owner, seconds in spent.items() if owner != WAITING)
                self.iterations.append(
                    IterationShare(busy, spent.get(INTEGRATION, 0.0), self._events.get(INTEGRATION, 0))
                )
        self._last = time.perf_counter()


async def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:  # noqa: ASYNC109
    """Let the loop run until ``predicate()`` holds; raise ``TimeoutError`` naming ``what`` otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError(f"bench: {what} did not happen within {timeout} s of loop time")
        await asyncio.sleep(0.002)


async def gather_all(awaitables: Sequence[Awaitable[Any]]) -> list[Any]:
    """Await every awaitable, re-raising the first error only after all have finished."""
    results = await asyncio.gather(*awaitables, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def burst_colours(size: int, final: tuple[int, int, int]) -> list[tuple[int, int, int]]:
    """``size`` colours, all different from ``final``, ending with ``final``."""
    colours = [(index & 0xFF, (index >> 8) & 0xFF, 0) for index in range(size - 1)]
    return [*colours, final]


def trim_toy_records(toy: SimulatedBB8) -> None:
    """Drop the toy's per-command records, which grow without bound by design (test evidence).

    The memory figures are about the host side; the simulator's own logs would otherwise be all
    that grows.
    """
    toy.writes.clear()
    toy.commands_received.clear()
    toy.notifications.clear()
    toy.sent_packets.clear()
    toy.handshake_log.clear()
