"""Where a bleak backend finds its simulated toy: a process-wide table keyed by address.

Toys are BB-8s (and their v1 siblings) or v2 toys; both serve the same link interface.
Home Assistant's habluetooth builds a connector's client as ``client(ble_device, ...)``; the only
thing that reaches the backend is the device, so the backend looks its toy up here by address.
Addresses are compared upper-case, as Home Assistant writes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .toy import SimulatedBB8
    from .v2.toy import SimulatedV2Toy

    type SimToy = SimulatedBB8 | SimulatedV2Toy

_TOYS: dict[str, SimToy] = {}


def _key(address: str) -> str:
    return address.upper()


def register[T: (SimulatedBB8, SimulatedV2Toy)](toy: T) -> T:
    """Make ``toy`` reachable at its address (replacing any toy registered there); returns it."""
    _TOYS[_key(toy.address)] = toy
    return toy


def unregister(address: str) -> SimToy | None:
    """Forget the toy at ``address``; returns it, or None if there was none."""
    return _TOYS.pop(_key(address), None)


def get(address: str) -> SimToy | None:
    """Return the toy at ``address``, or None."""
    return _TOYS.get(_key(address))


def all_toys() -> list[SimToy]:
    """Every registered toy, in registration order."""
    return list(_TOYS.values())


def clear() -> None:
    """Forget every toy (tests call this in teardown)."""
    _TOYS.clear()
