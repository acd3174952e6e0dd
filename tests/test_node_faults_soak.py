"""The ESPHome node's faults soaked through Home Assistant's esphome integration (soak.node_faults).

The suite runs a short soak (``BB8_NODE_ROUNDS`` rounds, default 10, enough for every fault to
come at least once with the default seed); ``scripts/soak --parts node`` runs the long one and
writes the report (``BB8_NODE_REPORT``) that becomes docs/reliability.md's section. The mixed
household (a BB-8, an R2-D2 and a Mini on the one node) runs the same way (``BB8_HOUSE_ROUNDS`` rounds, default 12 for every fault to come with the seed;
``BB8_HOUSE_REPORT``, ``scripts/soak --parts household``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import os
from pathlib import Path
import re
from typing import Any
from unittest.mock import MagicMock

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bb8sim import SimClock, SimulatedBB8
from bb8sim.esphome import SimulatedESPHomeNode
from bb8sim.v2 import SimulatedV2Toy
from custom_components.bb8.const import DOMAIN
from soak.node_faults import FAULTS, HOUSEHOLD, NodeFaultsConfig, NodeFaultsReport, run_node_faults
from soak.world import simulated_world

from .conftest import LoopClock, make_entry
from .esphome_support import running_node

NODE_ROUNDS = int(os.environ.get("BB8_NODE_ROUNDS", "10"))
NODE_TOYS = int(os.environ.get("BB8_NODE_TOYS", "2"))
NODE_SEED = int(os.environ.get("BB8_NODE_SEED", "22"))
NODE_REPORT = os.environ.get("BB8_NODE_REPORT")
HOUSE_ROUNDS = int(os.environ.get("BB8_HOUSE_ROUNDS", "12"))
HOUSE_REPORT = os.environ.get("BB8_HOUSE_REPORT")


@pytest.fixture
async def node(socket_enabled: None) -> AsyncIterator[SimulatedESPHomeNode]:
    """A node with the default three slots on 127.0.0.1."""
    async with running_node() as started:
        yield started


def new_toy(sim_clock: SimClock, address: str, index: int, model: str) -> SimulatedBB8 | SimulatedV2Toy:
    """A simulated toy of the catalog key ``model`` on the test's simulated clock."""
    if model == "bb8":
        return SimulatedBB8(address, clock=sim_clock, seed=index)
    return SimulatedV2Toy(address, model, clock=sim_clock, seed=index)


def household_entry(toy: SimulatedBB8 | SimulatedV2Toy, options: dict[str, Any]) -> MockConfigEntry:
    """The toy's entry as the config flow makes it: a v2 toy's carries its model's key."""
    entry = make_entry(toy, **options)
    if isinstance(toy, SimulatedV2Toy):
        return MockConfigEntry(
            domain=DOMAIN,
            unique_id=toy.address,
            title=toy.name,
            data={**entry.data, "model": toy.model.key},
            options=options,
        )
    return entry


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
                make_entry=household_entry,
                new_toy=lambda address, index, model: new_toy(sim_clock, address, index, model),
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


async def test_a_mixed_household_on_one_node_loses_nothing_and_leaves_no_droid_rolling(
    hass: HomeAssistant,
    enable_bluetooth: None,
    mock_async_zeroconf: MagicMock,
    sim_clock: SimClock,
    node: SimulatedESPHomeNode,
    loop_clock: LoopClock,
) -> None:
    """A BB-8, an R2-D2 and a Mini share the node's three slots through every fault.

    The BB-8 and the Mini show each round's colour, the R2-D2 rolls on its heading and stops,
    each within the bound; only translated errors, nothing logged at ERROR, nothing left behind.
    """
    report = await soak(
        hass,
        sim_clock,
        loop_clock,
        node,
        NodeFaultsConfig(rounds=HOUSE_ROUNDS, seed=NODE_SEED, household=True),
    )
    if HOUSE_REPORT:
        report.write(Path(HOUSE_REPORT))
    print(report.to_json())
    assert report.violations == []
    assert report.leaks == []
    assert report.loop_exceptions == 0
    assert report.error_logs == 0
    assert report.left_rolling == 0
    assert sorted(report.models.values()) == sorted(HOUSEHOLD)
    assert report.uses_shown_by_model == report.uses_by_model == dict.fromkeys(HOUSEHOLD, HOUSE_ROUNDS)
    assert report.max_recovery <= report.recovery_bound
    assert set(report.faults) == set(FAULTS)
    assert report.gatt_errors_sent >= 1


REPO = Path(__file__).resolve().parent.parent


def test_readme_household_soak_quotes_the_figures_docs_reliability_md_shows() -> None:
    """README's mixed-household paragraph and table: every count, time and round is the run's in docs/reliability.md."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    paragraph = readme[
        readme.index("A mixed household on one node (", readme.index("### Reliability")) : readme.index(
            "### Supported Home Assistant"
        )
    ]
    report = (REPO / "docs" / "reliability.md").read_text(encoding="utf-8")
    section = report[
        report.index("<!-- household soak: begin -->") : report.index("<!-- household soak: end -->")
    ]
    measured = paragraph.split("The first run of this soak")[0]  # the rest explains a finding in words
    seconds = re.findall(r"(\d+(?:\.\d)?) s\b", measured)
    assert len(seconds) >= 5
    for number in seconds:
        assert f"{number} s" in section, f"{number} s"
    counts = re.findall(r"(\d+ of \d+)", paragraph)
    assert len(counts) == 3
    for count in counts:
        assert count in section, count
    rounds, minutes = re.search(r"for\s+(\d+) rounds in (\d+) simulated minutes", paragraph).groups()  # type: ignore[union-attr]
    assert f"{rounds} rounds in {minutes} minutes of simulated time" in section
    assert "rounds that ended with a toy still rolling | 0 | 0 |" in section
    errors = re.search(r"exceptions reaching the loop; ERROR records \| (\d+); (\d+) \|", paragraph)
    assert errors is not None
    assert f"records logged at ERROR | {errors[1]}; {errors[2]} | 0; 0 |" in section
    if errors.groups() != ("0", "0"):
        assert "_wait_for_ble_connections_free_timeout" in paragraph
        assert (
            "* violation: loop exception: Exception in callback ESPHomeBluetoothDevice._wait_for_ble"
            in section
        )
