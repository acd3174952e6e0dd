"""Real BB-8 bytes (tests/captures/) against the integration's decoder and the simulator's output.

Each capture module names its source. Where a capture and the Sphero API spec (or another
driver's assumption) disagree, the capture wins and the test below says so.
"""

from __future__ import annotations

import struct

from bleak.exc import BleakError
from homeassistant.components import bluetooth
from homeassistant.core import HomeAssistant
import pytest
from spherov2.controls.v1 import Packet as SpheroV2Packet

from bb8sim import SimClock, SimulatedBB8, build_services, protocol as sim
from bb8sim.proxy import SimProxy
from bb8sim.testing import frame_request, settle, sim_client
from custom_components.bb8.sphero.const import (
    COMMANDS_CHAR,
    LOCAL_NAME_PREFIX,
    RADIO_SERVICE,
    RESPONSE_CHAR,
    ROBOT_CONTROL_SERVICE,
    TX_POWER_CHAR,
    WAKE_CHAR,
    AsyncId,
)
from custom_components.bb8.sphero.protocol import AsyncPacket, StreamReassembler

from .captures import bb8_gatt, sensor_stream

# noble's property names -> bleak's
_BLEAK_PROPERTY = {
    "read": "read",
    "write": "write",
    "writeWithoutResponse": "write-without-response",
    "notify": "notify",
}


def _full(uuid: str) -> str:
    """noble prints 128-bit UUIDs without dashes and SIG ones as 16 bits: spell them as bleak does."""
    if len(uuid) == 4:
        return sim.sig_uuid(uuid)
    return f"{uuid[:8]}-{uuid[8:12]}-{uuid[12:16]}-{uuid[16:20]}-{uuid[20:]}"


CAPTURED_TABLE = {
    _full(service): {_full(char): {_BLEAK_PROPERTY[p] for p in props} for char, (props, _) in chars.items()}
    for service, chars in bb8_gatt.GATT.items()
}


# =============================================================================================
# GATT table and advertisement (a real BB-8, BB-D911)
# =============================================================================================


def test_simulator_gatt_table_is_the_captured_bb8s() -> None:
    services = build_services()
    table = {
        service.uuid: {char.uuid: set(char.properties) for char in service.characteristics}
        for service in services
    }
    assert table == CAPTURED_TABLE


def test_integrations_uuids_are_in_the_captured_table() -> None:
    robot, radio = CAPTURED_TABLE[ROBOT_CONTROL_SERVICE], CAPTURED_TABLE[RADIO_SERVICE]
    assert robot[COMMANDS_CHAR] >= {"write"}
    assert robot[RESPONSE_CHAR] == {"notify"}
    for uuid in (sim.ANTI_DOS_CHAR, TX_POWER_CHAR, WAKE_CHAR):
        assert "write" in radio[uuid]  # the handshake writes each with a response


def test_capture_wins_tx_power_and_anti_dos_cannot_be_read() -> None:
    """Drivers treat the radio characteristics alike; the real toy only lets wake be read back."""
    radio = CAPTURED_TABLE[RADIO_SERVICE]
    assert "read" not in radio[TX_POWER_CHAR]
    assert "read" not in radio[sim.ANTI_DOS_CHAR]
    assert "read" in radio[WAKE_CHAR]


async def test_simulator_reads_back_the_captured_values(sim_clock: SimClock) -> None:
    toy = SimulatedBB8(bb8_gatt.ADDRESS, clock=sim_clock)
    async with sim_client(toy, handshake=False) as session:
        for service, chars in bb8_gatt.GATT.items():
            for char, (props, value) in chars.items():
                if "read" not in props:
                    with pytest.raises(BleakError):
                        await session.client.read_gatt_char(_full(char))
                    continue
                if value is None:
                    continue  # readable, but the capture shows no value
                assert bytes(await session.client.read_gatt_char(_full(char))) == value, (service, char)


def test_simulator_advertises_as_the_captured_bb8() -> None:
    toy = SimulatedBB8(bb8_gatt.ADDRESS)
    assert toy.name == bb8_gatt.LOCAL_NAME
    assert toy.name.startswith(LOCAL_NAME_PREFIX)
    advertisement = toy.advertisement
    company = int.from_bytes(bb8_gatt.MANUFACTURER_DATA_RAW[:2], "little")
    assert advertisement.manufacturer_data == {company: bb8_gatt.MANUFACTURER_DATA_RAW[2:]}
    assert company == sim.MANUFACTURER_ID == 0x3033
    assert advertisement.tx_power == bb8_gatt.TX_POWER_LEVEL
    assert tuple(advertisement.service_uuids) == bb8_gatt.SERVICE_UUIDS


# =============================================================================================
# Sensor stream (gobot's recorded frame, 20 + 20 + 20 + 20 + 8 bytes)
# =============================================================================================


def test_captured_sensor_stream_reassembles_and_decodes() -> None:
    reader = StreamReassembler()
    packets = [packet for piece in sensor_stream.NOTIFICATIONS for packet in reader.feed(piece)]
    assert len(packets) == 1
    (packet,) = packets
    assert isinstance(packet, AsyncPacket)
    assert packet.id_code == AsyncId.SENSOR_STREAM
    values = struct.unpack(f">{len(packet.data) // 2}h", packet.data)
    assert len(values) == sensor_stream.VALUES
    assert values[0] == sensor_stream.FIRST_VALUE_RAW_ACCEL_X


def test_captured_sensor_stream_parses_with_spherov2() -> None:
    seen: list[SpheroV2Packet.Async] = []
    collector = SpheroV2Packet.Collector(seen.append)
    for piece in sensor_stream.NOTIFICATIONS:
        collector.add(bytearray(piece))
    assert [p.id_code for p in seen] == [0x03]


def test_simulator_frames_a_sensor_stream_as_the_capture_is_framed() -> None:
    """Rebuilt from the captured values, the simulator's framing gives the captured bytes back."""
    captured = b"".join(sensor_stream.NOTIFICATIONS)
    data = captured[5:-1]
    rebuilt = sim.build_async(sim.AsyncId.SENSOR_STREAM, data)
    assert rebuilt == captured
    pieces = [rebuilt[i : i + sim.MAX_CHUNK] for i in range(0, len(rebuilt), sim.MAX_CHUNK)]
    assert tuple(pieces) == sensor_stream.NOTIFICATIONS


# =============================================================================================
# Collision packets: no capture found
# =============================================================================================


async def test_simulator_splits_a_collision_as_twenty_plus_two(sim_clock: SimClock) -> None:
    """Not a capture: gobot's BB-8 collision support (PR #360, tested on a BB-8) reassembles a
    22-byte collision packet from a 20-byte and a 2-byte notification, and so does this toy."""
    toy = SimulatedBB8(bb8_gatt.ADDRESS, clock=sim_clock)
    async with sim_client(toy) as session:
        await session.send(
            frame_request(
                sim.DeviceId.SPHERO,
                sim.SpheroCommand.CONFIGURE_COLLISION_DETECTION,
                1,
                bytes([1, 32, 0, 32, 0, 1]),
            )
        )
        await settle()
        session.received.clear()
        assert toy.trigger_collision(500, 0)
        await settle()
        assert [len(chunk) for chunk in session.received] == [20, 2]


async def test_home_assistant_hears_the_simulated_proxys_bb8_as_the_captured_one(
    hass: HomeAssistant, proxy: SimProxy
) -> None:
    """What reaches Home Assistant's Bluetooth stack has the captured advertisement's fields."""
    toy = SimulatedBB8(bb8_gatt.ADDRESS)
    proxy.advertise(toy)
    info = bluetooth.async_last_service_info(hass, bb8_gatt.ADDRESS, connectable=True)
    assert info is not None
    assert info.name == bb8_gatt.LOCAL_NAME
    company = int.from_bytes(bb8_gatt.MANUFACTURER_DATA_RAW[:2], "little")
    assert info.manufacturer_data == {company: bb8_gatt.MANUFACTURER_DATA_RAW[2:]}
    assert info.tx_power == bb8_gatt.TX_POWER_LEVEL
    assert info.service_uuids == list(bb8_gatt.SERVICE_UUIDS)
