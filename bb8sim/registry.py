"""Where a bleak backend finds its simulated toy: a process-wide table keyed by address.

Home Assistant's habluetooth builds a connector's client as ``client(ble_device, ...)``; the only
thing that reaches the backend is the device, so the backend looks its toy up here by address.
Addresses are compared upper-case, as Home Assistant writes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .toy import SimulatedBB8

_TOYS: dict[str, SimulatedBB8] = {}


def _key(address: str) -> str:
    return address.upper()


def register(toy: SimulatedBB8) -> SimulatedBB8:
    """Make ``toy`` reachable at its address (replacing any toy registered there); returns it."""
    _TOYS[_key(toy.address)] = toy
    return toy


def unregister(address: str) -> SimulatedBB8 | None:
    """Forget the toy at ``address``; returns it, or None if there was none."""
    return _TOYS.pop(_key(address), None)


def get(address: str) -> SimulatedBB8 | None:
    """Return the toy at ``address``, or None."""
    return _TOYS.get(_key(address))


def all_toys() -> list[SimulatedBB8]:
    """Every registered toy, in registration order."""
    return list(_TOYS.values())


def clear() -> None:
    """Forget every toy (tests call this in teardown)."""
    _TOYS.clear()
