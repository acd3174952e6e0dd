"""Simulated time for the world above one link: Bluetooth's clocks and time triggers follow it.

A test (or the week soak) moves the event loop's clock forward by hand; Home Assistant's
Bluetooth stack and its point-in-time tracking read clocks of their own. Inside
:func:`simulated_world` they read the simulated time too, so habluetooth's "not heard for a
while" and an automation's "at 18:00" happen when the simulated time says, not when a test
fires them. Used by ``tests/test_real_world.py`` and :mod:`soak.week`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
import contextlib
from datetime import datetime
import time
from types import SimpleNamespace
from typing import Protocol
from unittest.mock import patch

from bleak_esphome.backend.scanner import ESPHomeScanner
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from bb8sim.proxy import SimProxy
from bb8sim.toy import SimulatedBB8


class WorldClock(Protocol):
    """What the world needs of the clock that moves the event loop (``tests.conftest.LoopClock``)."""

    elapsed: float
    """Simulated seconds passed since the clock was taken over."""

    def now(self) -> float:
        """Return the loop's time as it reads now (simulated: only :meth:`advance` moves it)."""
        ...

    def wall(self) -> float:
        """Return the simulated wall clock as a POSIX timestamp (moves with ``elapsed`` only)."""
        ...

    async def advance(self, seconds: float, step: float = 1.0) -> None:
        """Let ``seconds`` pass in steps of ``step``, running what falls due after each."""
        ...


@contextlib.contextmanager
def simulated_world(clock: WorldClock) -> Iterator[None]:
    """Make Bluetooth's advertisement clocks and Home Assistant's time tracking read ``clock``.

    Home Assistant schedules a point in time with ``time.time()`` and checks it with its
    ``time_tracker_*`` clocks when it fires: both read the simulated wall clock here, so a time
    trigger set up (or re-armed for the next day) after simulated time passed fires on time.
    """
    wall = clock.wall
    simulated_time_module = SimpleNamespace(
        **{name: getattr(time, name) for name in dir(time) if not name.startswith("_")}
    )
    simulated_time_module.time = wall
    with (
        patch("homeassistant.helpers.event.time", simulated_time_module),
        patch("habluetooth.base_scanner.monotonic_time_coarse", clock.now),
        patch("habluetooth.manager.monotonic_time_coarse", clock.now),
        patch("bb8sim.proxy.monotonic_time_coarse", clock.now),
        patch("homeassistant.helpers.event.time_tracker_timestamp", wall),
        patch(
            "homeassistant.helpers.event.time_tracker_utcnow",
            lambda: dt_util.utc_from_timestamp(wall()),
        ),
        _esphome_scanner_stamps(clock),
    ):
        yield


@contextlib.contextmanager
def _esphome_scanner_stamps(clock: WorldClock) -> Iterator[None]:
    """Stamp what Home Assistant's ESPHome scanners hear with ``clock``'s time.

    bleak-esphome's scanner stamps each advertisement a node passes on with the real monotonic
    clock, held in a compiled module's C global no patch reaches; habluetooth, reading the
    simulated clock, would call every toy heard through a node hours stale after a simulated
    night. Its scanner class is a Python class, so the stamp is replaced where it is handed to
    habluetooth: the last argument of ``_async_on_advertisement`` (bleak-esphome 2.x, the
    floor) or ``_async_on_raw_advertisement`` (4.x), whichever the installed release calls.
    """
    with contextlib.ExitStack() as stack:
        for name in ("_async_on_advertisement", "_async_on_raw_advertisement"):
            if (original := getattr(ESPHomeScanner, name, None)) is not None:
                stack.enter_context(patch.object(ESPHomeScanner, name, _restamped(original, clock)))
        yield


def _restamped(original: Callable[..., None], clock: WorldClock) -> Callable[..., None]:
    def restamp(self: object, *args: object) -> None:
        original(self, *args[:-1], clock.now())

    return restamp


def simulated_now(clock: WorldClock) -> datetime:
    """Return the wall-clock time of the simulated world, in Home Assistant's time zone."""
    return dt_util.as_local(dt_util.utc_from_timestamp(clock.wall()))


async def start_the_day_at(hass: HomeAssistant, clock: WorldClock, hour: int) -> None:
    """Put Home Assistant in a time zone where the simulated time is now within ``hour``."""
    offset = (hour - dt_util.utc_from_timestamp(clock.wall()).hour) % 24
    if offset > 14:
        offset -= 24
    await hass.config.async_set_time_zone("UTC" if offset == 0 else f"Etc/GMT{-offset:+d}")
    assert simulated_now(clock).hour == hour, "simulated time stands still while the zone is set"


def hear(
    toys: Iterable[SimulatedBB8], proxies: Iterable[SimProxy], rssi: dict[str, int] | None = None
) -> None:
    """Every online proxy hears every toy that nobody holds a link to (connected toys are silent)."""
    proxies = list(proxies)
    for toy in toys:
        if toy.connected:
            continue
        for proxy in proxies:
            proxy.advertise(toy, (rssi or {}).get(proxy.source, -60))
