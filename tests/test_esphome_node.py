"""The simulated ESPHome Bluetooth proxy node, driven by clients the project did not write.

Every test talks to the node over a real socket on 127.0.0.1 with aioesphomeapi's own
``APIClient`` (the installed release: 29.9.0 on the floor leg, 46.x on the current one), and the
last ones with bleak-esphome's bleak client on top of it. What is checked is what the firmware
does and what those clients rely on: the handshake, the proxy's feature flags, raw advertisements
with an address type, slot accounting, connects with and without cache, GATT with ESP-IDF error
codes, notifications behind the CCCD, and links dropped with the API connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aioesphomeapi import APIClient, BluetoothProxyFeature
from aioesphomeapi.core import BluetoothGATTAPIError
from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak_esphome import connect_scanner
from bleak_esphome.backend.client import ESPHomeClient
from bluetooth_data_tools import parse_advertisement_data_tuple
from habluetooth.const import FALLBACK_MAXIMUM_STALE_ADVERTISEMENT_SECONDS
from homeassistant.components import bluetooth
from homeassistant.core import HomeAssistant
import pytest

from bb8sim import SimClock, SimulatedBB8, registry
from bb8sim.esphome import (
    CONN_TERMINATE_LOCAL_HOST,
    CONN_TERMINATE_PEER_USER,
    CONN_TIMEOUT,
    GATT_ERROR,
    GATT_INVALID_HANDLE,
    GATT_NOT_CONNECTED,
    GATT_READ_NOT_PERMITTED,
    GATT_WRITE_NOT_PERMITTED,
    STATE_AND_MODE_SUPPORTED,
    SimulatedESPHomeNode,
    address_to_int,
)
from bb8sim.protocol import ANTI_DOS_CHAR, COMMANDS_CHAR, RESPONSE_CHAR, WAKE_CHAR, WAKE_VALUE
from bb8sim.testing import HANDSHAKE

from .conftest import TOY_ADDRESS, wait_for
from .esphome_support import (
    ConnectionEvents,
    SlotReports,
    api_client,
    main_led_frame,
    roll_frame,
    running_node,
)

TOY_INT = address_to_int(TOY_ADDRESS)
# Handles of the simulator's GATT table (bb8sim.backend.GATT_LAYOUT).
COMMANDS_HANDLE = 0x0012
RESPONSE_HANDLE = 0x0014
RESPONSE_CCCD = 0x0015
ANTI_DOS_HANDLE = 0x0031
WAKE_HANDLE = 0x0035
DEVICE_NAME_STRING_HANDLE = 0x0052  # Device Information 2a27, read-only
FLAGS = int(
    BluetoothProxyFeature.PASSIVE_SCAN
    | BluetoothProxyFeature.ACTIVE_CONNECTIONS
    | BluetoothProxyFeature.REMOTE_CACHING
    | BluetoothProxyFeature.RAW_ADVERTISEMENTS
)


@pytest.fixture
async def node(socket_enabled: None) -> AsyncIterator[SimulatedESPHomeNode]:
    """A node on 127.0.0.1 with the default three slots."""
    async with running_node() as started:
        yield started


@pytest.fixture
def toy(sim_clock: SimClock) -> SimulatedBB8:
    """An awake BB-8 in range of the node."""
    return registry.register(SimulatedBB8(TOY_ADDRESS, clock=sim_clock, awake=True))


@pytest.fixture
async def client(node: SimulatedESPHomeNode) -> AsyncIterator[APIClient]:
    """aioesphomeapi's client, logged in."""
    async with api_client(node) as connected:
        yield connected


async def connect(client: APIClient, *, has_cache: bool = False) -> ConnectionEvents:
    """Connect the toy through the node as bleak-esphome does (remote caching, random address)."""
    events = ConnectionEvents()
    await client.bluetooth_device_connect(
        TOY_INT, events, feature_flags=FLAGS, has_cache=has_cache, address_type=1, timeout=5.0
    )
    return events


async def test_handshake_reports_an_esp32_bluetooth_proxy_with_connections_caching_and_raw_ads(
    client: APIClient, node: SimulatedESPHomeNode
) -> None:
    """Hello, login and DeviceInfo answer as a plaintext ESPHome proxy; it has no entities of its own."""
    info = await client.device_info()
    entities, services = await client.list_entities_services()

    assert client.api_version is not None
    assert (client.api_version.major, client.api_version.minor) == (1, 10)
    assert info.name == node.name
    assert info.mac_address == node.mac_address
    assert info.bluetooth_mac_address == node.bluetooth_mac_address
    assert info.uses_password is False
    flags = info.bluetooth_proxy_feature_flags_compat(client.api_version)
    assert flags & FLAGS == FLAGS
    assert (entities, services) == ([], [])


@pytest.mark.skipif(
    not STATE_AND_MODE_SUPPORTED, reason="aioesphomeapi before 46.x has no scanner state messages (126/127)"
)
async def test_46x_scanner_state_answers_the_subscription_and_follows_a_mode_change(
    client: APIClient, node: SimulatedESPHomeNode
) -> None:
    """Feature 64, as ESPHome 2025.5+ firmware: 126 {running, mode} on subscribe, again after a 127."""
    from aioesphomeapi import BluetoothScannerMode, BluetoothScannerState

    info = await client.device_info()
    flags = info.bluetooth_proxy_feature_flags_compat(client.api_version)
    assert flags & BluetoothProxyFeature.FEATURE_STATE_AND_MODE
    states: list[Any] = []
    client.subscribe_bluetooth_scanner_state(states.append)
    assert states == [], "the state is the answer to an advertisement subscription, not to this"
    client.subscribe_bluetooth_le_raw_advertisements(lambda _: None)
    await wait_for(lambda: bool(states))
    assert (states[0].state, states[0].mode, states[0].configured_mode) == (
        BluetoothScannerState.RUNNING,
        BluetoothScannerMode.ACTIVE,
        BluetoothScannerMode.ACTIVE,
    )

    client.bluetooth_scanner_set_mode(BluetoothScannerMode.PASSIVE)
    await wait_for(lambda: len(states) == 2)
    assert (states[1].state, states[1].mode, states[1].configured_mode) == (
        BluetoothScannerState.RUNNING,
        BluetoothScannerMode.PASSIVE,
        BluetoothScannerMode.ACTIVE,
    )


async def test_raw_advertisement_carries_the_bb8s_name_manufacturer_tx_power_and_random_address(
    client: APIClient, toy: SimulatedBB8
) -> None:
    """What habluetooth needs to discover a BB-8 by name and to connect to a random address."""
    received = []
    unsubscribe = client.subscribe_bluetooth_le_raw_advertisements(received.append)
    await wait_for(lambda: bool(received))
    unsubscribe()

    [advertisement] = received[0].advertisements
    name, service_uuids, _service_data, manufacturer_data, tx_power = parse_advertisement_data_tuple(
        (advertisement.data,)
    )
    assert advertisement.address == TOY_INT
    assert advertisement.address_type == 1
    assert name == toy.name
    # The capture's manufacturer 0x3033 has no payload. The AD structure is sent; what Home
    # Assistant makes of it depends on bluetooth-data-tools (bleak-esphome parses raw
    # advertisements with it): 1.26.5 (the floor's) drops it, 1.29 keeps it. The BB-8 is matched
    # by name either way.
    assert advertisement.data.endswith(b"\x03\xff\x33\x30")
    assert manufacturer_data in ({}, toy.advertisement.manufacturer_data)
    assert tx_power == toy.advertisement.tx_power
    assert service_uuids == []


async def test_advertisements_repeat_well_before_home_assistants_stale_limit(
    socket_enabled: None, toy: SimulatedBB8
) -> None:
    """The node re-sends what it hears on its interval, and the default is inside 195 s."""
    async with running_node(advertise_interval=0.05) as fast_node, api_client(fast_node) as fast_client:
        received = []
        fast_client.subscribe_bluetooth_le_raw_advertisements(received.append)
        await wait_for(lambda: len(received) >= 3)
    assert SimulatedESPHomeNode().advertise_interval < FALLBACK_MAXIMUM_STALE_ADVERTISEMENT_SECONDS


async def test_a_node_without_rounds_of_its_own_passes_on_only_the_toys_it_is_told_it_heard(
    socket_enabled: None, toy: SimulatedBB8, sim_clock: SimClock
) -> None:
    """``advertise_interval=None``: the subscription's batch, then only what ``advertise_now`` names."""
    other = registry.register(SimulatedBB8("C0:FF:EE:00:B8:01", clock=sim_clock))
    async with running_node(advertise_interval=None) as node, api_client(node) as client:
        received: list[list[int]] = []
        client.subscribe_bluetooth_le_raw_advertisements(
            lambda raw: received.append([adv.address for adv in raw.advertisements])
        )
        await wait_for(lambda: bool(received))
        assert node.advertise_now([other]) == 1
        await wait_for(lambda: len(received) == 2)

    assert received == [[TOY_INT, address_to_int(other.address)], [address_to_int(other.address)]]


async def test_slots_are_reported_taken_on_connect_and_free_again_after_disconnect(
    client: APIClient, toy: SimulatedBB8
) -> None:
    """81 follows every change, with the connected address in ``allocated`` (firmware behaviour)."""
    slots = SlotReports()
    client.subscribe_bluetooth_connections_free(slots)
    await wait_for(lambda: bool(slots.reports))
    assert slots.last == (3, 3, [])

    events = await connect(client)
    await wait_for(lambda: slots.last == (2, 3, [TOY_INT]))
    assert events.states == [(True, 23, 0)]
    assert toy.connected

    await client.bluetooth_device_disconnect(TOY_INT)
    await wait_for(lambda: slots.last == (3, 3, []))
    assert events.states[-1] == (False, 0, CONN_TERMINATE_LOCAL_HOST)
    assert not toy.connected


async def test_connect_is_refused_when_other_devices_hold_every_slot(
    client: APIClient, node: SimulatedESPHomeNode, toy: SimulatedBB8
) -> None:
    """With no free slot the node answers 69 {connected: false} at once and the toy is untouched."""
    slots = SlotReports()
    client.subscribe_bluetooth_connections_free(slots)
    node.set_slots_taken_by_others(3)
    await wait_for(lambda: bool(slots.reports) and slots.last[0] == 0)
    assert len(slots.last[2]) == 3

    events = await connect(client)

    assert events.states == [(False, 0, 0)]
    assert toy.connect_count == 0
    assert node.connects_refused_no_slot == 1
    # The request reached the node all the same (the week soak counts these while a toy sleeps).
    assert node.connect_requests_by_address == {TOY_ADDRESS: 1}


async def test_connect_without_cache_then_with_cache_uses_the_v3_request_types(
    client: APIClient, node: SimulatedESPHomeNode, toy: SimulatedBB8
) -> None:
    """The client's cache decides the request type; both end with the same link and MTU."""
    first = await connect(client, has_cache=False)
    await client.bluetooth_device_disconnect(TOY_INT)
    second = await connect(client, has_cache=True)

    assert first.states[0] == (True, 23, 0)
    assert second.states == [(True, 23, 0)]
    assert node.connect_requests_by_type == {"CONNECT_V3_WITHOUT_CACHE": 1, "CONNECT_V3_WITH_CACHE": 1}
    assert toy.connect_count == 2


async def test_services_list_the_bb8_table_with_a_cccd_on_every_notifying_characteristic(
    client: APIClient, toy: SimulatedBB8
) -> None:
    """bleak-esphome writes the CCCD itself, so a notifying characteristic must list 0x2902."""
    await connect(client)
    services = await client.bluetooth_gatt_get_services(TOY_INT)

    characteristics = {c.uuid: c for s in services.services for c in s.characteristics}
    commands = characteristics[COMMANDS_CHAR]
    response = characteristics[RESPONSE_CHAR]
    assert commands.handle == COMMANDS_HANDLE
    assert commands.properties & 0x0C == 0x0C  # write and write without response
    assert response.properties & 0x10  # notify
    assert [(d.uuid, d.handle) for d in response.descriptors] == [
        ("00002902-0000-1000-8000-00805f9b34fb", RESPONSE_CCCD)
    ]
    notifying = [c for c in characteristics.values() if c.properties & 0x30]
    assert all(c.descriptors for c in notifying)


async def test_write_with_response_is_acknowledged_and_without_response_is_not(
    client: APIClient, node: SimulatedESPHomeNode, toy: SimulatedBB8
) -> None:
    """83 comes only when asked for; both writes reach the toy in order."""
    await connect(client)
    await client.bluetooth_gatt_write(TOY_INT, ANTI_DOS_HANDLE, HANDSHAKE[0][1], response=True)
    acknowledged = node.frames_sent[83]
    await client.bluetooth_gatt_write(
        TOY_INT, COMMANDS_HANDLE, b"\xff\xff\x00\x01\x01\x01\xfc", response=False
    )
    await wait_for(lambda: node.gatt_writes["without response"] == 1)

    assert acknowledged == 1
    assert node.frames_sent[83] == 1
    assert toy.writes[0] == (ANTI_DOS_CHAR, HANDSHAKE[0][1])
    assert toy.writes[1][0] == COMMANDS_CHAR


async def test_notifications_reach_the_client_only_after_notify_and_the_cccd_write(
    client: APIClient, node: SimulatedESPHomeNode, toy: SimulatedBB8
) -> None:
    """A peripheral notifies only with its CCCD enabled; the node forwards only registered handles."""
    await connect(client)
    for uuid, value in HANDSHAKE:
        handle = {ANTI_DOS_CHAR: ANTI_DOS_HANDLE, WAKE_CHAR: WAKE_HANDLE}.get(uuid, 0x0024)
        await client.bluetooth_gatt_write(TOY_INT, handle, value, response=True)
    received: list[bytes] = []
    await client.bluetooth_gatt_start_notify(
        TOY_INT, RESPONSE_HANDLE, lambda _h, data: received.append(bytes(data))
    )

    await client.bluetooth_gatt_write(TOY_INT, COMMANDS_HANDLE, main_led_frame(1, (0, 0, 255)), response=True)
    await wait_for(lambda: node.notifications_dropped >= 1)
    assert received == []

    await client.bluetooth_gatt_write_descriptor(TOY_INT, RESPONSE_CCCD, b"\x01\x00")
    assert await client.bluetooth_gatt_read_descriptor(TOY_INT, RESPONSE_CCCD) == b"\x01\x00"
    await client.bluetooth_gatt_write(TOY_INT, COMMANDS_HANDLE, main_led_frame(2, (255, 0, 0)), response=True)
    await wait_for(lambda: bool(received))

    assert received[0][:4] == b"\xff\xff\x00\x02"  # MRSP OK, SEQ 2
    assert toy.main_led == (255, 0, 0)


async def test_gatt_errors_carry_the_esp_idf_status_codes(
    client: APIClient, node: SimulatedESPHomeNode, toy: SimulatedBB8
) -> None:
    """Invalid handle, read/write not permitted, not connected, and an injected error mid-write."""

    async def error_of(operation: object) -> int:
        with pytest.raises(BluetoothGATTAPIError) as caught:
            await operation  # type: ignore[misc]
        return int(caught.value.error.error)

    assert await error_of(client.bluetooth_gatt_read(TOY_INT, WAKE_HANDLE)) == GATT_NOT_CONNECTED
    await connect(client)
    assert await error_of(client.bluetooth_gatt_read(TOY_INT, 0x0999)) == GATT_INVALID_HANDLE
    assert await error_of(client.bluetooth_gatt_read(TOY_INT, ANTI_DOS_HANDLE)) == GATT_READ_NOT_PERMITTED
    assert (
        await error_of(client.bluetooth_gatt_write(TOY_INT, DEVICE_NAME_STRING_HANDLE, b"x", response=True))
        == GATT_WRITE_NOT_PERMITTED
    )
    node.fail_next_write()
    writes_before = len(toy.writes)
    assert (
        await error_of(
            client.bluetooth_gatt_write(TOY_INT, COMMANDS_HANDLE, roll_frame(1, 50, 0), response=True)
        )
        == GATT_ERROR
    )
    assert len(toy.writes) == writes_before  # the failed write never reached the toy
    assert await client.bluetooth_gatt_read(TOY_INT, WAKE_HANDLE) == b"\x00"  # the link survived


async def test_toy_side_disconnects_report_the_peer_or_timeout_reason(
    client: APIClient, node: SimulatedESPHomeNode, toy: SimulatedBB8
) -> None:
    """A radio loss is a supervision timeout (0x08); a toy going to sleep terminates (0x13)."""
    slots = SlotReports()
    client.subscribe_bluetooth_connections_free(slots)
    events = await connect(client)
    toy.disconnect_now()
    await wait_for(lambda: events.states[-1][0] is False)
    assert events.states[-1] == (False, 0, CONN_TIMEOUT)
    await wait_for(lambda: slots.last[0] == 3)

    events = await connect(client)
    toy.sleep_now()
    await wait_for(lambda: events.states[-1][0] is False)
    assert events.states[-1] == (False, 0, CONN_TERMINATE_PEER_USER)
    assert node.slots_free == 3


async def test_closing_the_api_connection_drops_every_ble_link(
    node: SimulatedESPHomeNode, toy: SimulatedBB8
) -> None:
    """As the firmware does when Home Assistant goes away (or Wi-Fi does): the toy sees a disconnect."""
    async with api_client(node) as first:
        await connect(first)
        assert toy.connected
    await wait_for(lambda: not toy.connected)
    assert node.slots_free == 3

    async with api_client(node) as second:
        await connect(second)
        assert node.drop_api_connections() == 1
        await wait_for(lambda: not toy.connected)
    assert node.linked_addresses == frozenset()


async def test_bleak_esphome_client_drives_the_toy_through_the_node(
    hass: HomeAssistant,
    enable_bluetooth: None,
    client: APIClient,
    node: SimulatedESPHomeNode,
    toy: SimulatedBB8,
) -> None:
    """bleak-esphome's own scanner and bleak client, on aioesphomeapi, unlock the toy, roll and light it."""
    info = await client.device_info()
    client_data = connect_scanner(client, info, True)
    scanner = client_data.scanner
    assert scanner is not None
    cancel_setup = scanner.async_setup()
    unregister = bluetooth.async_register_scanner(hass, scanner)
    try:
        await wait_for(lambda: TOY_ADDRESS in scanner.discovered_devices_and_advertisement_data)
        ble_device, advertisement = scanner.discovered_devices_and_advertisement_data[TOY_ADDRESS]
        assert advertisement.local_name == toy.name

        class NodeClient(ESPHomeClient):
            """bleak-esphome's client bound to this node (bleak 3 wants a class as the backend)."""

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, client_data=client_data, **kwargs)

        bleak_client = BleakClient(ble_device, backend=NodeClient)
        answers: list[bytes] = []

        def _notified(_char: BleakGATTCharacteristic, data: bytearray) -> None:
            answers.append(bytes(data))

        await bleak_client.connect()
        try:
            await bleak_client.start_notify(RESPONSE_CHAR, _notified)
            for uuid, value in HANDSHAKE:
                await bleak_client.write_gatt_char(uuid, value, response=True)
            assert await bleak_client.read_gatt_char(WAKE_CHAR) == WAKE_VALUE

            await bleak_client.write_gatt_char(
                COMMANDS_CHAR, main_led_frame(7, (0, 128, 255)), response=False
            )
            await bleak_client.write_gatt_char(COMMANDS_CHAR, roll_frame(8, 90, 180), response=False)
            await wait_for(lambda: len(answers) >= 2)
        finally:
            await bleak_client.disconnect()
    finally:
        unregister()
        cancel_setup()

    assert [answer[:4] for answer in answers[:2]] == [b"\xff\xff\x00\x07", b"\xff\xff\x00\x08"]
    assert toy.main_led == (0, 128, 255)
    assert (toy.speed, toy.heading, toy.rolling) == (90, 180, True)
    assert node.gatt_writes["without response"] == 2
    assert node.gatt_writes["with response"] == len(HANDSHAKE)
    assert not toy.connected
