"""A loaded machine, without the load: each simulated step also costs real time, and none is waited.

On a loaded machine (two cores shared, coverage on, hundreds of tests before) every step of
simulated time costs real time too: the loop turns it takes to settle, Home Assistant's own work.
:class:`LoadedMachine` makes the real clocks jump by a chosen cost per step, at once, so a test
can show what a clock that reads real time would make of it, in no real time at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
import contextlib
import time
from typing import Protocol
from unittest.mock import patch


class SteppedClock(Protocol):
    """What :meth:`LoadedMachine.costly_steps` needs of the clock (``tests.conftest.LoopClock``)."""

    advance: Callable[..., Awaitable[None]]


class LoadedMachine:
    """The real clocks as a loaded machine sees them: ahead of the real ones by what was spent.

    :meth:`installed` patches ``time.monotonic`` (what the event loop's own ``time()`` reads) and
    ``time.time`` (the wall clock) to read the real clocks plus :attr:`spent`; :meth:`spend`
    adds to it. Nothing sleeps: the real time a step would cost passes on these clocks at once.
    """

    def __init__(self) -> None:
        """Start with nothing spent."""
        self.spent = 0.0
        """Real seconds the steps cost so far (added to both real clocks while installed)."""

    def spend(self, seconds: float) -> None:
        """Let ``seconds`` of real time pass on the real clocks, at once."""
        self.spent += seconds

    @contextlib.contextmanager
    def installed(self) -> Iterator[LoadedMachine]:
        """Patch the real clocks for the block (monotonic: :attr:`spent` only grows)."""
        real_monotonic, real_time = time.monotonic, time.time
        with (
            patch("time.monotonic", lambda: real_monotonic() + self.spent),
            patch("time.time", lambda: real_time() + self.spent),
        ):
            yield self

    def costly_steps(self, clock: SteppedClock, cost: float) -> None:
        """Make every step ``clock.advance`` takes spend ``cost`` real seconds first."""
        advance = clock.advance

        async def costly_advance(seconds: float, step: float = 1.0) -> None:
            remaining = seconds
            while remaining > 1e-9:
                jump = min(step, remaining)
                remaining -= jump
                self.spend(cost)
                await advance(jump, jump)

        clock.advance = costly_advance
