"""The ESPHome node's faults soaked through Home Assistant's esphome integration (soak.node_faults).

The suite runs a short soak (``BB8_NODE_ROUNDS`` rounds, default 10, enough for every fault to
come at least once with the default seed); ``scripts/soak --parts node`` runs the long one and
writes the report (``BB8_NODE_REPORT``) that becomes docs/reliability.md's section.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import os
from pathlib import Path
from unittest.mock import MagicMock

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
import pytest

from bb8sim import SimClock, SimulatedBB8
from bb8sim.esphome import SimulatedESPHomeNode
from custom_components.bb8.const import DOMAIN
from soak.node_faults import FAULTS, NodeFaultsConfig, NodeFaultsReport, run_node_faults
from soak.world import simulated_world

from .conftest import LoopClock, make_entry
from .esphome_support import running_node

NODE_ROUNDS = int(os.environ.get("BB8_NODE_ROUNDS", "10"))
NODE_TOYS = int(os.environ.get("BB8_NODE_TOYS", "2"))
NODE_SEED = int(os.environ.get("BB8_NODE_SEED", "22"))
NODE_REPORT = os.environ.get("BB8_NODE_REPORT")


@pytest.fixture
async def node(socket_enabled: None) -> AsyncIterator[SimulatedESPHomeNode]:
    """A node with the default three slots on 127.0.0.1."""
    async with running_node() as started:
        yield started


async def soak(
    hass: HomeAssistant,
    sim_clock: SimClock,
    loop_clock: LoopClock,
    node: SimulatedESPHomeNode,
    config: NodeFaultsConfig,
) -> NodeFaultsReport:
    """Run the soak in simulated time, leaving no bb8 entry loaded behind even if it fails."""
    with simulated_world(loop_clock):
        try:
            return await run_node_faults(
                hass,
                clock=loop_clock,
                node=node,
                make_entry=lambda toy, options: make_entry(toy, **options),
                new_toy=lambda address, index: SimulatedBB8(address, clock=sim_clock, seed=index),
                config=config,
            )
        finally:
            for entry in hass.config_entries.async_entries():
                if entry.domain in (DOMAIN, "esphome") and entry.state is ConfigEntryState.LOADED:
                    await hass.config_entries.async_unload(entry.entry_id)
            await loop_clock.advance(2, 0.5)


async def test_node_faults_lose_nothing_raise_only_translated_errors_and_recover_within_the_bound(
    hass: HomeAssistant,
    enable_bluetooth: None,
    mock_async_zeroconf: MagicMock,
    sim_clock: SimClock,
    node: SimulatedESPHomeNode,
    loop_clock: LoopClock,
) -> None:
    """Wi-Fi drops, reboots, every slot taken, a GATT error mid-write, stalled connects: all survived."""
    report = await soak(
        hass,
        sim_clock,
        loop_clock,
        node,
        NodeFaultsConfig(rounds=NODE_ROUNDS, toys=NODE_TOYS, seed=NODE_SEED),
    )
    if NODE_REPORT:
        report.write(Path(NODE_REPORT))
    print(report.to_json())
    assert report.violations == []
    assert report.leaks == []
    assert report.loop_exceptions == 0
    assert report.error_logs == 0
    assert report.uses_shown == report.uses == NODE_ROUNDS * NODE_TOYS
    assert report.max_recovery <= report.recovery_bound
    # The faults happened: otherwise the figures above would hold vacuously.
    assert set(report.faults) == set(FAULTS)
    assert report.node_reboots == report.faults["reboot"]
    assert report.gatt_errors_sent >= 1
    assert report.api_connections_accepted >= 1 + report.faults["wifi"] + report.faults["reboot"]
