"""spherov2's own BB-8 toy on the simulated link: the baseline the integration is compared with.

spherov2 is synchronous and threaded: every command blocks its caller until the answer comes, and
a writer thread sleeps 60 ms after every write (``Toy.__process_packet``). That is the behaviour
measured, so it runs as spherov2 runs it, in threads (``asyncio.to_thread``), with the adapter in
spherov2's shape that ``tests/test_spherov2_peer.py`` also uses (``bb8sim.testing.spherov2_adapter``),
onto the simulator's bleak backend on the bench loop. The one change: the writer
thread's ``time.sleep`` is pointed at the bench loop's clock (``VirtualClockThreadSleep``), so its
60 ms costs simulated time like every other link wait and both sides are timed on one clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import contextlib
import time
from typing import Final

import spherov2.toy as spherov2_toy
from spherov2.toy.bb8 import BB8

from bb8sim import SimulatedBB8, registry
from bb8sim.testing import spherov2_adapter

from .results import BurstSide
from .rig import LED_COMMAND, LinkSettings, Meter, burst_colours
from .vloop import VirtualClockThreadSleep, idle_cpu, live_timers

ADDRESS: Final = "C4:1B:2A:3D:B5:4A"
BRIDGE_TIMEOUT: Final = 60.0
"""Real seconds a thread waits for the loop to run one bleak call: a hang guard, not a timing."""


@contextlib.contextmanager
def _writer_sleeps_on(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """Point spherov2's ``time.sleep`` (its 60 ms per write) at the bench loop's clock, then restore."""
    original = spherov2_toy.time
    spherov2_toy.time = VirtualClockThreadSleep(loop)
    try:
        yield
    finally:
        spherov2_toy.time = original


async def run_bursts(settings: LinkSettings, sizes: list[int], *, seed: int = 11) -> dict[int, BurstSide]:
    """Send each burst of colour changes through spherov2's BB-8, one blocking call per change."""
    loop = asyncio.get_running_loop()
    meter = Meter()
    toy = meter.attach(SimulatedBB8(ADDRESS, faults=settings.faults(seed)), loop)
    registry.register(toy)
    adapter = spherov2_adapter(loop, backend=meter.backend_class(), bridge_timeout=BRIDGE_TIMEOUT)
    sleeper = VirtualClockThreadSleep(loop)

    def drive() -> dict[int, BurstSide]:
        results: dict[int, BurstSide] = {}
        with BB8(toy, adapter) as bb8:
            bb8.wake()  # spherov2's handshake leaves wake to the user
            for index, size in enumerate(sizes):
                sleeper.sleep(2 * settings.pacing_interval)  # start each burst on an idle link
                colours = burst_colours(size, (250, 250, index))
                watch = meter.watch(toy, colours[-1])
                writes_before = toy.command_counts[LED_COMMAND]
                dropped_before = toy.dropped_for_pacing
                sim_before = meter.sim_cpu
                cpu_before, idle_before = time.process_time(), idle_cpu(loop)
                started = loop.time()
                for colour in colours:
                    bb8.set_main_led(*colour)
                cpu = (
                    time.process_time()
                    - cpu_before
                    - (meter.sim_cpu - sim_before)
                    - (idle_cpu(loop) - idle_before)
                )
                if watch.reached_at is None:
                    raise RuntimeError("spherov2's burst ended without the toy showing its last colour")
                results[size] = BurstSide(
                    settle=watch.reached_at - started,
                    writes=toy.command_counts[LED_COMMAND] - writes_before,
                    cpu_per_change=cpu / size,
                    dropped_for_pacing=toy.dropped_for_pacing - dropped_before,
                )
        return results

    if live_timers(loop):
        raise RuntimeError(
            f"bench: {live_timers(loop)} timer(s) pending before spherov2's run; the virtual clock "
            "would jump to them while its threads work and charge the time to spherov2"
        )
    try:
        with _writer_sleeps_on(loop):
            return await asyncio.to_thread(drive)
    finally:
        registry.unregister(toy.address)
