"""A simulated R2-D2 and Mini reach Home Assistant's Bluetooth stack through the simulated proxy.

The same seam the BB-8 uses (a remote scanner with the simulator's bleak backend as its
connector's client): Home Assistant hears the toy's advertisement, hands out its ``BLEDevice``,
and bleak-retry-connector's ``establish_connection`` with Home Assistant's client wrapper reaches
the toy, which answers the v2 handshake. (``tests/test_esphome_v2.py`` reaches them through the
simulated ESPHome node.)
"""

from __future__ import annotations

import asyncio

import bleak_retry_connector
from homeassistant.components import bluetooth
from homeassistant.core import HomeAssistant
import pytest
from spherov2.controls.v2 import Packet

from bb8sim.proxy import SimProxy
from bb8sim.v2 import SimulatedV2Toy

ANTI_DOS = "00020005-574f-4f20-5370-6865726f2121"
API = "00010002-574f-4f20-5370-6865726f2121"


@pytest.mark.parametrize(("key", "address"), [("r2d2", "F1:02:03:04:D2:01"), ("mini", "F1:02:03:04:5A:02")])
async def test_a_v2_toy_is_heard_and_reached_through_home_assistants_bluetooth(
    hass: HomeAssistant, proxy: SimProxy, key: str, address: str
) -> None:
    toy = SimulatedV2Toy(address, key)
    proxy.advertise(toy)
    await hass.async_block_till_done()

    (info,) = [info for info in bluetooth.async_discovered_service_info(hass) if info.address == address]
    assert info.name == toy.name
    assert info.service_uuids == ["00010001-574f-4f20-5370-6865726f2121"]
    device = bluetooth.async_ble_device_from_address(hass, address, connectable=True)
    assert device is not None

    received = bytearray()
    client = await bleak_retry_connector.establish_connection(
        bleak_retry_connector.BleakClientWithServiceCache, device, toy.name, max_attempts=1
    )
    try:
        await client.write_gatt_char(ANTI_DOS, b"usetheforce...band", response=True)
        await client.start_notify(API, lambda _char, data: received.extend(data))
        wake = Packet(Packet.Flags(0x0A), 0x13, 0x0D, 0, None, None, bytearray()).build()
        await client.write_gatt_char(API, wake, response=True)
        for _ in range(50):
            if received.endswith(b"\xd8"):
                break
            await asyncio.sleep(0)
        answer = Packet.parse_response(bytearray(received))
        assert (answer.did, answer.cid, answer.seq, answer.err) == (0x13, 0x0D, 0, Packet.Error.success)
        assert toy.awake
        assert proxy.slots_in_use == 1
    finally:
        await client.disconnect()
    assert not toy.connected
