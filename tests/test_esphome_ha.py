"""The BB-8 through Home Assistant's own esphome integration and the simulated ESPHome node.

Nothing of the project's stands between Home Assistant and the node: the esphome config entry is
made through its own config flow (host and port), aioesphomeapi holds the native-API connection,
bleak-esphome registers the node as a remote scanner and carries every GATT operation, and
habluetooth counts the node's connection slots. The BB-8 is then discovered through that scanner
and configured through the ``bb8`` config flow Home Assistant starts, and its entities and actions
work over the real stack. Home Assistant's esphome dependencies (assist_pipeline, ffmpeg, intent,
http) are set up for real, not mocked; only zeroconf is, as the harness requires.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from unittest.mock import MagicMock

import habluetooth
from homeassistant.components import bluetooth
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
import pytest

from bb8sim import SimClock, SimulatedBB8, registry
from bb8sim.esphome import STATE_AND_MODE_SUPPORTED, SimulatedESPHomeNode

from .conftest import TOY_ADDRESS, wait_for
from .esphome_support import add_esphome_node, running_node

BB8_DOMAIN = "bb8"  # spelled out: these tests drive the integration only through Home Assistant
MAIN_LED = "light.bb_b54a_main_led"
BATTERY = "sensor.bb_b54a_battery_estimate"


@pytest.fixture
async def node(socket_enabled: None) -> AsyncIterator[SimulatedESPHomeNode]:
    """A node with the default three slots on 127.0.0.1."""
    async with running_node() as started:
        yield started


@pytest.fixture
def toy(sim_clock: SimClock) -> SimulatedBB8:
    """A BB-8 in range of the node (asleep, as a BB-8 mostly is: connecting wakes it)."""
    return registry.register(SimulatedBB8(TOY_ADDRESS, clock=sim_clock))


async def add_bb8_through_discovery(hass: HomeAssistant, node: SimulatedESPHomeNode) -> ConfigEntry:
    """Confirm the discovery flow Home Assistant started for the toy the node advertises."""
    await wait_for(lambda: bool(hass.config_entries.flow.async_progress_by_handler(BB8_DOMAIN)), timeout=10)
    [flow] = hass.config_entries.flow.async_progress_by_handler(BB8_DOMAIN)
    assert flow["context"]["unique_id"] == TOY_ADDRESS
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    entry: ConfigEntry = result["result"]
    await hass.async_block_till_done()
    return entry


@pytest.fixture
async def esphome_entry(
    hass: HomeAssistant,
    enable_bluetooth: None,
    mock_async_zeroconf: MagicMock,
    node: SimulatedESPHomeNode,
) -> AsyncIterator[ConfigEntry]:
    """The node set up through Home Assistant's esphome config flow; unloaded at the end.

    Home Assistant sets up its ``homeassistant`` integration at every start; the test harness
    does not, and conversation (under assist_pipeline, an esphome dependency) needs it.
    """
    assert await async_setup_component(hass, "homeassistant", {})
    entry = await add_esphome_node(hass, node)
    yield entry
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def test_esphome_config_flow_makes_the_node_a_connectable_bluetooth_scanner(
    hass: HomeAssistant, esphome_entry: ConfigEntry, node: SimulatedESPHomeNode, toy: SimulatedBB8
) -> None:
    """The esphome entry is the node (by its MAC) and its scanner offers the node's three slots."""
    devices = dr.async_get(hass)
    await wait_for(lambda: bool(dr.async_entries_for_config_entry(devices, esphome_entry.entry_id)))
    [device] = dr.async_entries_for_config_entry(devices, esphome_entry.entry_id)
    assert esphome_entry.unique_id == node.mac_address.lower()
    assert (dr.CONNECTION_NETWORK_MAC, node.mac_address.lower()) in device.connections
    assert device.manufacturer == "Espressif"

    await wait_for(
        lambda: bool(bluetooth.async_scanner_devices_by_address(hass, TOY_ADDRESS, connectable=True))
    )
    scanners = bluetooth.async_scanner_devices_by_address(hass, TOY_ADDRESS, connectable=True)
    assert [s.scanner.source for s in scanners] == [node.bluetooth_mac_address]
    scanner = bluetooth.async_scanner_by_source(hass, node.bluetooth_mac_address)
    assert scanner is not None
    assert scanner.connectable
    assert node.frames_received[80] == 1  # the integration subscribed to the slot reports


async def test_bb8_is_discovered_through_the_node_configured_and_driven(
    hass: HomeAssistant, esphome_entry: ConfigEntry, node: SimulatedESPHomeNode, toy: SimulatedBB8
) -> None:
    """Discovery, the bb8 config flow, the light, a roll and the battery, all over the real stack."""
    entry = await add_bb8_through_discovery(hass, node)
    assert entry.state is ConfigEntryState.LOADED
    await wait_for(lambda: toy.handshake_complete and MAIN_LED in hass.states.async_entity_ids("light"))
    assert node.linked_addresses == {TOY_ADDRESS}
    # habluetooth's slot accounting, fed by the node's 81 reports through bleak-esphome.
    [allocations] = habluetooth.get_manager().async_current_allocations(node.bluetooth_mac_address) or []
    assert (allocations.slots, allocations.free, allocations.allocated) == (3, 2, [TOY_ADDRESS])

    await hass.services.async_call(
        "light",
        "turn_on",
        {"entity_id": MAIN_LED, "rgb_color": [10, 200, 30], "brightness": 255},
        blocking=True,
    )
    assert toy.main_led == (10, 200, 30)

    [device] = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    await hass.services.async_call(
        BB8_DOMAIN, "roll", {"device_id": device.id, "heading": 90, "speed": 120}, blocking=True
    )
    await wait_for(lambda: toy.rolling)
    assert (toy.speed, toy.heading) == (120, 90)

    await wait_for(lambda: _number(hass.states.get(BATTERY)) is not None)
    assert node.gatt_writes["with response"] + node.gatt_writes["without response"] > 0
    assert node.notifications_forwarded > 0

    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    await wait_for(lambda: not toy.connected)
    assert node.slots_free == node.slots
    await wait_for(
        lambda: habluetooth.get_manager().async_current_allocations(node.bluetooth_mac_address)[0].free == 3  # type: ignore[index]
    )


def _number(state: Any) -> float | None:
    try:
        return float(state.state)
    except (AttributeError, TypeError, ValueError):
        return None


async def test_diagnostics_name_the_esphome_scanner_as_the_links_source(
    hass: HomeAssistant, esphome_entry: ConfigEntry, node: SimulatedESPHomeNode, toy: SimulatedBB8
) -> None:
    """A maintainer reading diagnostics sees the toy is reached through an ESPHome proxy, and which."""
    from custom_components.bb8.diagnostics import async_get_config_entry_diagnostics

    entry = await add_bb8_through_discovery(hass, node)
    await wait_for(lambda: toy.handshake_complete)
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    advertisement = diagnostics["advertisement"]
    assert advertisement["source"] == node.bluetooth_mac_address
    scanner = advertisement["scanner"]
    assert scanner["connectable"] is True
    assert "ESPHome" in scanner["type"], scanner
    assert scanner["scanner_name"] == f"{node.name} ({node.bluetooth_mac_address})", scanner
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


@pytest.mark.skipif(
    not STATE_AND_MODE_SUPPORTED, reason="aioesphomeapi before 46.x has no scanner state messages (126/127)"
)
async def test_46x_esphome_integration_gets_the_scanner_state_and_sets_its_mode_on_the_node(
    hass: HomeAssistant, esphome_entry: ConfigEntry, node: SimulatedESPHomeNode
) -> None:
    """What ESPHome 2025.5+ firmware gives Home Assistant 2026.x: its scanner's state and mode.

    The esphome integration reads the configured mode from the first 126 (it stores its own
    scanning option from it) and pins its scanner to automatic mode, which it tells the node as
    passive (127); the node's next 126 says it runs passive, and habluetooth's scanner shows it.
    """
    from bb8sim.esphome.api import ScannerMode

    await wait_for(lambda: "bluetooth_scanning_mode" in esphome_entry.options)
    assert esphome_entry.options["bluetooth_scanning_mode"] == "auto"
    await wait_for(lambda: node.frames_received[127] >= 1)
    assert node.scanner_mode is ScannerMode.PASSIVE
    scanner = bluetooth.async_scanner_by_source(hass, node.bluetooth_mac_address)
    assert scanner is not None
    await wait_for(lambda: scanner.current_mode is bluetooth.BluetoothScanningMode.PASSIVE)
