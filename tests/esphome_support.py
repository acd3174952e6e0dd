"""Helpers for the tests that reach the simulated BB-8 through the simulated ESPHome node.

Plain context managers and functions, not fixtures, so a test module imports what it uses and
declares its own two-line fixtures: nothing here changes ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass, field
from typing import Any

from aioesphomeapi import APIClient

from bb8sim.esphome import SimulatedESPHomeNode
from bb8sim.testing import frame_request

# The roll (0x02/0x30) and main LED (0x02/0x20) commands, framed from the spec (bb8sim.testing).
SPHERO_DID = 0x02
ROLL_CID = 0x30
MAIN_LED_CID = 0x20


def roll_frame(seq: int, speed: int, heading: int, *, go: bool = True) -> bytes:
    """A v1 roll request: speed, heading (u16), mode 1 (go) or 0 (stop)."""
    return frame_request(SPHERO_DID, ROLL_CID, seq, bytes([speed, heading >> 8, heading & 0xFF, int(go)]))


def main_led_frame(seq: int, rgb: tuple[int, int, int]) -> bytes:
    """A v1 main LED request with FLAG 0 (temporary: no flash wear)."""
    return frame_request(SPHERO_DID, MAIN_LED_CID, seq, bytes([*rgb, 0]))


@contextlib.asynccontextmanager
async def running_node(**kwargs: Any) -> AsyncIterator[SimulatedESPHomeNode]:
    """A node listening on 127.0.0.1 (a free port), stopped on exit so nothing is left scheduled."""
    node = SimulatedESPHomeNode(**kwargs)
    await node.start()
    try:
        yield node
    finally:
        await node.stop()


@contextlib.asynccontextmanager
async def api_client(node: SimulatedESPHomeNode, *, login: bool = True) -> AsyncIterator[APIClient]:
    """aioesphomeapi's own client, connected to ``node`` without a password or encryption key."""
    client = APIClient("127.0.0.1", node.port, None)
    await client.connect(login=login)
    try:
        yield client
    finally:
        await client.disconnect(force=True)


@dataclass
class ConnectionEvents:
    """What a client heard about one BLE address: (connected, mtu, error) in order."""

    states: list[tuple[bool, int, int]] = field(default_factory=list)

    def __call__(self, connected: bool, mtu: int, error: int) -> None:
        """Record one 69 (aioesphomeapi's ``on_bluetooth_connection_state``)."""
        self.states.append((connected, mtu, error))


@dataclass
class SlotReports:
    """Every 81 {free, limit, allocated} a client received, in order."""

    reports: list[tuple[int, int, list[int]]] = field(default_factory=list)

    def __call__(self, free: int, limit: int, allocated: list[int]) -> None:
        """Record one report (aioesphomeapi's ``subscribe_bluetooth_connections_free`` callback)."""
        self.reports.append((free, limit, list(allocated)))

    @property
    def last(self) -> tuple[int, int, list[int]]:
        """The latest report."""
        return self.reports[-1]
