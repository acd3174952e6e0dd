"""Helpers for the tests that reach the simulated BB-8 through the simulated ESPHome node.

Plain context managers and functions, not fixtures, so a test module imports what it uses and
declares its own two-line fixtures: nothing here changes ``tests/conftest.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass, field
from typing import Any

from aioesphomeapi import APIClient
import habluetooth
from homeassistant.components import bluetooth
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from bb8sim import SimulatedBB8, registry
from bb8sim.esphome import SimulatedESPHomeNode
from bb8sim.testing import frame_request
from soak.node_faults import add_esphome_node

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


class NodePath:
    """The real proxy stack with the face the tests know from ``bb8sim.proxy.SimProxy``.

    Home Assistant's own esphome integration, set up through its config flow, holds the native-API
    connection to a :class:`SimulatedESPHomeNode`; the toys it hears are the registered ones.
    ``advertise`` makes a toy heard (at an RSSI) and sends its advertisement now, instead of at
    the node's next 10 s round; ``stop_hearing`` takes it out of the node's range. The conftest's
    ``proxy`` fixture hands this out for the ``node`` path of a module that runs on both paths.
    """

    kind = "node"

    def __init__(self, hass: HomeAssistant, node: SimulatedESPHomeNode) -> None:
        """Wrap a started node; :meth:`async_start` adds it to Home Assistant."""
        self.hass = hass
        self.node = node
        self.entry: ConfigEntry | None = None

    @property
    def source(self) -> str:
        """The scanner's source as Home Assistant names it: the node's Bluetooth MAC."""
        return self.node.bluetooth_mac_address

    @property
    def slots(self) -> int:
        """The node's connection slots."""
        return self.node.slots

    @property
    def slots_in_use(self) -> int:
        """Links the node holds now (connected ones)."""
        return len(self.node.linked_addresses)

    @property
    def linked_addresses(self) -> frozenset[str]:
        """Addresses of the toys the node holds a link to now."""
        return self.node.linked_addresses

    async def async_start(self) -> None:
        """Set the node up through the esphome config flow and wait for its scanner.

        Home Assistant sets up its ``homeassistant`` integration at every start; the test harness
        does not, and conversation (under assist_pipeline, an esphome dependency) needs it.
        """
        assert await async_setup_component(self.hass, "homeassistant", {})
        # The esphome entry registers the node's scanner once its API connection is up, after
        # the entry has loaded: habluetooth says when.
        registered = asyncio.Event()
        undo = habluetooth.get_manager().async_register_scanner_registration_callback(
            lambda _registration: registered.set(), self.source
        )
        try:
            self.entry = await add_esphome_node(self.hass, self.node)
            if bluetooth.async_scanner_by_source(self.hass, self.source) is None:
                async with asyncio.timeout(10):
                    await registered.wait()
        finally:
            undo()

    async def async_stop(self) -> None:
        """Unload the esphome entry (it says goodbye to the node), then stop the node.

        Every link a toy took was opened by the node: nothing reached a toy another way.
        """
        links = sum(toy.connect_count for toy in registry.all_toys())
        assert self.node.links_opened == links, (self.node.links_opened, links)
        if self.entry is not None and self.entry.state is ConfigEntryState.LOADED:
            await self.hass.config_entries.async_unload(self.entry.entry_id)
            await self.hass.async_block_till_done()
        await self.node.stop()

    def advertise(self, toy: SimulatedBB8, rssi: int = -60) -> None:
        """Put ``toy`` in the node's range at ``rssi`` and send every heard toy's advertisement now."""
        registry.register(toy)
        self.node.out_of_range.discard(toy.address.upper())
        self.node.toy_rssi[toy.address.upper()] = rssi
        self.node.advertise_now()

    def advertise_all(self, rssi: int = -60) -> None:
        """Advertise every registered toy now."""
        for toy in registry.all_toys():
            self.advertise(toy, rssi)

    def stop_hearing(self, toy: SimulatedBB8) -> None:
        """Take ``toy`` out of the node's range: no more advertisements, connects fail to establish."""
        self.node.out_of_range.add(toy.address.upper())
