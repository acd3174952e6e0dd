"""A simulated R2-D2, Mini, SPRK+ and Ollie reached through the simulated ESPHome node, as Home Assistant would.

The node serves each toy its own GATT table (the one the bleak backend serves for it): a v2
toy's model's, the BB-8's for a v1 toy. aioesphomeapi's ``APIClient`` and bleak-esphome's own
scanner and client (as ``tests/test_esphome_node.py`` does for the BB-8) carry the v2 handshake
(anti-DoS write, subscribe, wake), a drive and an LED command, and an async packet on SEQ 0xFF.
Packets are built and parsed with spherov2's v2 ``Packet``, an implementation independent of the
simulator's codec; spherov2's own R2-D2 class also drives a simulated R2-D2 over that client.
The BB-8's v1 siblings (SPRK+, Ollie) serve the BB-8's table and take its handshake and frames.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
import struct
from typing import Any

from aioesphomeapi import APIClient, BluetoothProxyFeature
from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak_esphome import connect_scanner
from bleak_esphome.backend.client import ESPHomeClient
from homeassistant.components import bluetooth
from homeassistant.core import HomeAssistant
import pytest
from spherov2.commands.drive import DriveFlags
from spherov2.controls.v2 import Packet
from spherov2.toy.r2d2 import R2D2

from bb8sim import SimClock, SimulatedBB8, registry
from bb8sim.esphome import SimulatedESPHomeNode, address_to_int
from bb8sim.protocol import COMMANDS_CHAR, RESPONSE_CHAR
from bb8sim.testing import HANDSHAKE
from bb8sim.v2 import SimulatedV2Toy

from .conftest import TOY_ADDRESS, wait_for
from .esphome_support import ConnectionEvents, api_client, main_led_frame, roll_frame, running_node

R2D2_ADDRESS = "F1:02:03:04:D2:01"
MINI_ADDRESS = "F1:02:03:04:5A:02"
# The v2 characteristics (spherov2's and Sphero_mini's lists) and the BB-8's, by UUID.
API_CHAR = "00010002-574f-4f20-5370-6865726f2121"
ANTI_DOS_CHAR = "00020005-574f-4f20-5370-6865726f2121"
BATTERY_LEVEL_CHAR = "00002a19-0000-1000-8000-00805f9b34fb"
BB8_COMMANDS_CHAR = "22bb746f-2ba1-7554-2d6f-726568705327"
CCCD = "00002902-0000-1000-8000-00805f9b34fb"
FLAGS = int(
    BluetoothProxyFeature.PASSIVE_SCAN
    | BluetoothProxyFeature.ACTIVE_CONNECTIONS
    | BluetoothProxyFeature.REMOTE_CACHING
    | BluetoothProxyFeature.RAW_ADVERTISEMENTS
)
# Requests ask for an answer and count as activity (0x0A), as spherov2's toys send them.
REQUEST = Packet.Flags(Packet.Flags.requests_response | Packet.Flags.is_activity)
ASYNC_SEQ = 0xFF
BRIDGE_TIMEOUT = 10.0
# The LED command both models take: 1A/0E, a 16-bit mask then one byte per LED. Bits from
# spherov2's toy classes: R2-D2 front red/green/blue 0..2; Mini body red/green/blue 1..3.
LEDS_16_BIT_MASK = (0x1A, 0x0E)
TOYS = {
    "r2d2": (R2D2_ADDRESS, (0, 1, 2), ("front_red", "front_green", "front_blue")),
    "mini": (MINI_ADDRESS, (1, 2, 3), ("body_red", "body_green", "body_blue")),
}


def request(did: int, cid: int, seq: int, data: bytes = b"") -> bytes:
    """A v2 request as spherov2 builds it (no target, no source)."""
    return bytes(Packet(REQUEST, did, cid, seq, None, None, bytearray(data)).build())


def led_request(seq: int, bits: tuple[int, ...], values: tuple[int, ...]) -> bytes:
    """1A/0E with the given LED bits set to ``values``."""
    mask = sum(1 << bit for bit in bits)
    return request(*LEDS_16_BIT_MASK, seq, mask.to_bytes(2, "big") + bytes(values))


@pytest.fixture
async def node(socket_enabled: None) -> AsyncIterator[SimulatedESPHomeNode]:
    """A node on 127.0.0.1 with the default three slots."""
    async with running_node() as started:
        yield started


@pytest.fixture
async def client(node: SimulatedESPHomeNode) -> AsyncIterator[APIClient]:
    """aioesphomeapi's client, logged in."""
    async with api_client(node) as connected:
        yield connected


@contextlib.asynccontextmanager
async def heard_through_node(
    hass: HomeAssistant, client: APIClient, address: str
) -> AsyncIterator[tuple[BLEDevice, str | None, type[ESPHomeClient]]]:
    """bleak-esphome's own scanner on ``client``, registered with Home Assistant, once it hears ``address``.

    Yields the toy's ``BLEDevice``, its advertised name and bleak-esphome's client class bound to
    this node (bleak 3 wants a class as the backend; build the ``BleakClient`` on the test's loop).
    """
    info = await client.device_info()
    client_data = connect_scanner(client, info, True)
    scanner = client_data.scanner
    assert scanner is not None
    cancel_setup = scanner.async_setup()
    unregister = bluetooth.async_register_scanner(hass, scanner)
    try:
        await wait_for(lambda: address in scanner.discovered_devices_and_advertisement_data)
        ble_device, advertisement = scanner.discovered_devices_and_advertisement_data[address]

        class NodeClient(ESPHomeClient):
            """bleak-esphome's client bound to this node."""

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, client_data=client_data, **kwargs)

        yield ble_device, advertisement.local_name, NodeClient
    finally:
        unregister()
        cancel_setup()


async def services_of(client: APIClient, address: str) -> dict[str, tuple[int, list[tuple[str, int]]]]:
    """Connect to ``address`` through the node and list its characteristics: uuid -> (handle, descriptors)."""
    events = ConnectionEvents()
    await client.bluetooth_device_connect(
        address_to_int(address), events, feature_flags=FLAGS, has_cache=False, address_type=1, timeout=5.0
    )
    services = await client.bluetooth_gatt_get_services(address_to_int(address))
    return {
        c.uuid: (c.handle, [(d.uuid, d.handle) for d in c.descriptors])
        for s in services.services
        for c in s.characteristics
    }


async def test_one_node_serves_a_bb8_an_r2d2_and_a_mini_each_its_own_gatt_table(
    client: APIClient, node: SimulatedESPHomeNode, sim_clock: SimClock
) -> None:
    """The node serves each toy's own table: the v2 API and anti-DoS for the R2-D2 and Mini (the
    Mini with its Battery service too), the BB-8's table still for the BB-8, on one node at once."""
    registry.register(SimulatedBB8(TOY_ADDRESS, clock=sim_clock, awake=True))
    registry.register(SimulatedV2Toy(R2D2_ADDRESS, "r2d2", clock=sim_clock))
    registry.register(SimulatedV2Toy(MINI_ADDRESS, "mini", clock=sim_clock))

    bb8 = await services_of(client, TOY_ADDRESS)
    r2d2 = await services_of(client, R2D2_ADDRESS)
    mini = await services_of(client, MINI_ADDRESS)

    assert node.linked_addresses == frozenset({TOY_ADDRESS, R2D2_ADDRESS, MINI_ADDRESS})
    assert BB8_COMMANDS_CHAR in bb8
    assert API_CHAR not in bb8
    for table in (r2d2, mini):
        assert BB8_COMMANDS_CHAR not in table
        assert table[API_CHAR] == (0x0012, [(CCCD, 0x0013)])
        assert table[ANTI_DOS_CHAR] == (0x002B, [])
    assert BATTERY_LEVEL_CHAR not in r2d2
    assert mini[BATTERY_LEVEL_CHAR] == (0x0032, [(CCCD, 0x0033)])


@pytest.mark.parametrize("key", list(TOYS))
async def test_bleak_esphome_client_unlocks_wakes_drives_and_lights_a_v2_toy_through_the_node(
    hass: HomeAssistant,
    enable_bluetooth: None,
    client: APIClient,
    node: SimulatedESPHomeNode,
    sim_clock: SimClock,
    key: str,
) -> None:
    """bleak-esphome's scanner hears the toy; its client writes the anti-DoS key, subscribes to
    the API characteristic, wakes the toy, drives and lights it (each answered with ERR 0), and
    receives a collision as an async packet on SEQ 0xFF."""
    address, led_bits, led_names = TOYS[key]
    toy = registry.register(SimulatedV2Toy(address, key, clock=sim_clock))
    parsed: list[Packet] = []
    collector = Packet.Collector(parsed.append)

    def _notified(_char: BleakGATTCharacteristic, data: bytearray) -> None:
        collector.add(bytearray(data))

    def answered(seq: int) -> bool:
        return any(p.seq == seq and p.flags & Packet.Flags.is_response for p in parsed)

    async with heard_through_node(hass, client, address) as (ble_device, local_name, node_client):
        assert local_name == toy.name
        bleak_client = BleakClient(ble_device, backend=node_client)
        await bleak_client.connect()
        try:
            await bleak_client.write_gatt_char(ANTI_DOS_CHAR, b"usetheforce...band", response=True)
            assert toy.anti_dos_unlocked
            await bleak_client.start_notify(API_CHAR, _notified)
            await bleak_client.write_gatt_char(API_CHAR, request(0x13, 0x0D, 1), response=True)
            await wait_for(lambda: answered(1))
            await bleak_client.write_gatt_char(
                API_CHAR, request(0x16, 0x07, 2, struct.pack(">BHB", 90, 180, 0)), response=False
            )
            await bleak_client.write_gatt_char(
                API_CHAR, led_request(3, led_bits, (0, 128, 255)), response=False
            )
            # Collision detection: method 1, X and Y thresholds 100, speeds 100, dead time 100 ms.
            await bleak_client.write_gatt_char(
                API_CHAR, request(0x18, 0x11, 4, bytes((1, 100, 100, 100, 100, 10))), response=False
            )
            await wait_for(lambda: answered(4))
            assert toy.trigger_collision(x_power=200)
            await wait_for(lambda: any(p.seq == ASYNC_SEQ and p.cid == 0x12 for p in parsed))
        finally:
            await bleak_client.disconnect()

    answers = {p.seq: p for p in parsed if p.flags & Packet.Flags.is_response}
    assert [(answers[seq].did, answers[seq].cid, answers[seq].err) for seq in (1, 2, 3, 4)] == [
        (0x13, 0x0D, Packet.Error.success),
        (0x16, 0x07, Packet.Error.success),
        (*LEDS_16_BIT_MASK, Packet.Error.success),
        (0x18, 0x11, Packet.Error.success),
    ]
    (collision,) = [p for p in parsed if p.seq == ASYNC_SEQ and (p.did, p.cid) == (0x18, 0x12)]
    assert not collision.flags & Packet.Flags.is_response
    assert toy.awake
    assert toy.heading == 180
    assert toy.speed == 0  # the collision stopped it, after it rolled at 90
    assert any(
        r.packet.did == 0x16 and r.packet.data == struct.pack(">BHB", 90, 180, 0) for r in toy.requests
    )
    assert [toy.leds[name] for name in led_names] == [0, 128, 255]
    assert node.gatt_writes["with response"] == 2
    assert not toy.connected


async def test_spherov2s_own_r2d2_drives_a_simulated_r2d2_through_the_node(
    hass: HomeAssistant,
    enable_bluetooth: None,
    client: APIClient,
    node: SimulatedESPHomeNode,
    sim_clock: SimClock,
) -> None:
    """spherov2's R2-D2 class (its own handshake, framing and collector) over bleak-esphome's
    client wakes, drives, turns the dome and lights a simulated R2-D2 through the node, and hears
    the wake notice (13/11 on SEQ 0xFF); every packet the toy sent parses with spherov2."""
    toy = registry.register(SimulatedV2Toy(R2D2_ADDRESS, "r2d2", clock=sim_clock, battery_voltage=7.93))
    loop = asyncio.get_running_loop()
    async with heard_through_node(hass, client, R2D2_ADDRESS) as (ble_device, _, node_client):

        class NodeAdapter:
            """spherov2's adapter shape (write, set_callback, close) on bleak-esphome's client.

            spherov2's toys are synchronous and run in a worker thread; each call is bridged to
            the test's loop, where aioesphomeapi and the node live. The timeout is a hang guard.
            """

            def __init__(self, address: str) -> None:
                assert address == R2D2_ADDRESS
                self._client: BleakClient = self._run(self._connect())

            @staticmethod
            async def _connect() -> BleakClient:
                # bleak-esphome's client binds to the running loop when it is built.
                bleak_client = BleakClient(ble_device, backend=node_client)
                await bleak_client.connect()
                return bleak_client

            def _run(self, coroutine: Any) -> Any:
                return asyncio.run_coroutine_threadsafe(coroutine, loop).result(BRIDGE_TIMEOUT)

            def write(self, uuid: str, data: bytearray) -> None:
                self._run(self._client.write_gatt_char(uuid, data, True))

            def set_callback(self, uuid: str, callback: Any) -> None:
                self._run(self._client.start_notify(uuid, callback))

            def close(self) -> None:
                self._run(self._client.disconnect())

        def script() -> dict[str, Any]:
            with R2D2(toy, NodeAdapter) as r2:
                r2.wake()
                results = {"voltage": r2.get_battery_voltage()}
                r2.drive_with_heading(120, 270, DriveFlags.FORWARD)
                results["rolling"] = (toy.speed, toy.heading)
                r2.set_head_position(-45.5)
                results["dome"] = r2.get_head_position()
                r2.multi_led_control.set_leds(
                    {R2D2.LEDs.FRONT_RED: 255, R2D2.LEDs.FRONT_GREEN: 16, R2D2.LEDs.FRONT_BLUE: 0}
                )
                return results

        results = await asyncio.to_thread(script)

    assert results["voltage"] == pytest.approx(7.93)
    assert results["rolling"] == (120, 270)
    assert results["dome"] == pytest.approx(-45.5)
    assert toy.led_group("front") == (255, 16, 0)
    assert all(request.err == 0 for request in toy.requests)
    parsed: list[Packet] = []
    collector = Packet.Collector(parsed.append)
    for chunk in toy.notifications:
        collector.add(bytearray(chunk))
    assert len(parsed) == len(toy.sent_packets)
    assert (0x13, 0x11, ASYNC_SEQ) in [packet.id for packet in parsed]
    assert node.gatt_writes["with response"] == len(toy.writes)
    assert not toy.connected


@pytest.mark.parametrize("key", ["sprk2", "ollie"])
async def test_bleak_esphome_client_unlocks_lights_and_rolls_a_v1_sibling_through_the_node(
    hass: HomeAssistant,
    enable_bluetooth: None,
    client: APIClient,
    node: SimulatedESPHomeNode,
    sim_clock: SimClock,
    key: str,
) -> None:
    """A SPRK+ or an Ollie serves the BB-8's table through the node: its v1 handshake, a main LED
    and a roll are answered (MRSP 0, in order) as the BB-8's are."""
    toy = registry.register(SimulatedBB8(TOY_ADDRESS, clock=sim_clock, awake=True, toy_model=key))
    answers: list[bytes] = []
    async with heard_through_node(hass, client, TOY_ADDRESS) as (ble_device, local_name, node_client):
        assert local_name == toy.name
        assert local_name is not None
        assert local_name.startswith(toy.toy_model.name_prefix)
        bleak_client = BleakClient(ble_device, backend=node_client)
        await bleak_client.connect()
        try:
            await bleak_client.start_notify(RESPONSE_CHAR, lambda _char, data: answers.append(bytes(data)))
            for uuid, value in HANDSHAKE:
                await bleak_client.write_gatt_char(uuid, value, response=True)
            await bleak_client.write_gatt_char(
                COMMANDS_CHAR, main_led_frame(7, (0, 128, 255)), response=False
            )
            await bleak_client.write_gatt_char(COMMANDS_CHAR, roll_frame(8, 90, 180), response=False)
            await wait_for(lambda: len(answers) >= 2)
        finally:
            await bleak_client.disconnect()

    assert [answer[:4] for answer in answers[:2]] == [b"\xff\xff\x00\x07", b"\xff\xff\x00\x08"]
    assert toy.main_led == (0, 128, 255)
    assert (toy.speed, toy.heading, toy.rolling) == (90, 180, True)
    assert not toy.connected
