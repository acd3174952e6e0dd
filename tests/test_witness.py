"""The simulator is an independent witness: its numbers and the integration's, each held against spherov2's.

The simulator (``bb8sim.protocol``) and the integration (``custom_components.bb8.sphero.const``)
spell every UUID and id separately, so a wrong constant on one side shows up as a disagreement.
spherov2 is the third party: its BB-8 toy class carries the UUIDs and handshake, its command
functions the DID and CID of each command (read off the packets they build), its listeners the
async ids. What spherov2 does not have (voltage trip points, 0x23) is checked only between the
two sides and the spec.
"""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from spherov2.commands.async_ import Async as SpheroV2Async
from spherov2.commands.core import IntervalOptions, PowerStates as SpheroV2PowerStates
from spherov2.commands.sphero import RollModes
from spherov2.controls.v1 import Packet as SpheroV2Packet
from spherov2.listeners.sphero import Options
from spherov2.toy.bb8 import BB8 as SpheroV2BB8

from bb8sim import protocol as sim
from custom_components.bb8.sphero import const as integration

BB8SIM = Path(__file__).resolve().parent.parent / "bb8sim"

SIDES = [pytest.param(sim, id="simulator"), pytest.param(integration, id="integration")]


class _RecordingBB8(SpheroV2BB8):
    """spherov2's own BB-8 toy with its transport replaced by a list of the packets it builds."""

    def __init__(self) -> None:
        super().__init__(SimpleNamespace(address="00:00:00:00:BB:08", name="BB-BB08"), None)
        self.sent: list[Any] = []

    def _execute(self, packet: Any) -> Any:
        self.sent.append(packet)
        return SpheroV2Packet.Response(SpheroV2Packet.Error.command_succeeded, packet.seq, bytearray(8))


def _sent_by(call: Any) -> tuple[int, int]:
    """DID and CID of the one packet spherov2's BB-8 builds for ``call(toy)``."""
    toy = _RecordingBB8()
    returned = call(toy)
    # spherov2's ping builds its packet but never sends it (a known bug): read the returned one.
    packet = toy.sent[0] if toy.sent else returned
    return packet.did, packet.cid


# (name in both modules' enums, what spherov2's BB-8 does to send that command)
CORE_COMMANDS = {
    "PING": lambda toy: toy.ping(),
    "GET_VERSIONS": lambda toy: toy.get_versions(),
    "GET_POWER_STATE": lambda toy: toy.get_power_state(),
    "SET_POWER_NOTIFICATIONS": lambda toy: toy.enable_battery_state_changed_notify(True),
    "SLEEP": lambda toy: toy.sleep(IntervalOptions.NONE, 0, 0),
    "SET_INACTIVITY_TIMEOUT": lambda toy: toy.set_inactivity_timeout(600),
}
SPHERO_COMMANDS = {
    "SET_HEADING": lambda toy: toy.set_heading(0),
    "SET_STABILIZATION": lambda toy: toy.set_stabilization(True),
    "SET_ROTATION_RATE": lambda toy: toy.set_rotation_rate(200),
    "SELF_LEVEL": lambda toy: toy.self_level(True, False, False, False, 0, 0, 0),
    "SET_DATA_STREAMING": lambda toy: toy.set_data_streaming(10, 1, 0, 0, 0),
    "CONFIGURE_COLLISION_DETECTION": lambda toy: toy.configure_collision_detection(1, 0, 0, 0, 0, 0),
    "CONFIGURE_LOCATOR": lambda toy: toy.configure_locator(0, 0, 0, 0),
    "SET_MAIN_LED": lambda toy: toy.set_main_led(1, 2, 3),
    "SET_BACK_LED": lambda toy: toy.set_back_led_brightness(255),
    "ROLL": lambda toy: toy.roll(0, 0, RollModes.STOP, 0),
    "SET_RAW_MOTORS": lambda toy: toy.set_raw_motors(0, 0, 0, 0),
    "SET_MOTION_TIMEOUT": lambda toy: toy.set_motion_timeout(2000),
    "SET_TEMPORARY_OPTIONS": lambda toy: toy.set_temporary_options(Options(*[False] * 7)),
}
ASYNC_IDS = {
    "POWER_STATE": SpheroV2Async.battery_state_changed_notify,
    "SENSOR_STREAM": SpheroV2Async.sensor_streaming_data_notify,
    "WILL_SLEEP": SpheroV2Async.will_sleep_notify,
    "COLLISION": SpheroV2Async.collision_detected_notify,
    "DID_SLEEP": SpheroV2Async.did_sleep_notify,
}


@pytest.mark.parametrize("side", SIDES)
def test_uuids_and_handshake_are_spherov2s_bb8(side: Any) -> None:
    assert SpheroV2BB8._send_uuid == side.COMMANDS_CHAR
    assert SpheroV2BB8._response_uuid == side.RESPONSE_CHAR
    handshake = dict(SpheroV2BB8._handshake)
    assert handshake[side.ANTI_DOS_CHAR] == side.ANTI_DOS_UNLOCK
    assert handshake[side.TX_POWER_CHAR] == side.TX_POWER_LEVEL
    # spherov2 writes no wake (it relies on the toy being awake); the wake and the two service
    # UUIDs are held against the captured GATT table in test_captures.py instead.
    assert SpheroV2BB8.toy_type.prefix == side.LOCAL_NAME_PREFIX
    assert side.MAX_CHUNK == 20  # spherov2 writes payload[:20] at a time


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("name", sorted(CORE_COMMANDS))
def test_core_command_ids_are_what_spherov2_sends(side: Any, name: str) -> None:
    assert _sent_by(CORE_COMMANDS[name]) == (side.DeviceId.CORE, side.CoreCommand[name])


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("name", sorted(SPHERO_COMMANDS))
def test_sphero_command_ids_are_what_spherov2_sends(side: Any, name: str) -> None:
    assert _sent_by(SPHERO_COMMANDS[name]) == (side.DeviceId.SPHERO, side.SpheroCommand[name])


@pytest.mark.parametrize("side", SIDES)
def test_every_command_id_is_checked(side: Any) -> None:
    """A command added to either side must be added here too (0x23 is the spec's alone)."""
    assert {c.name for c in side.CoreCommand} == {*CORE_COMMANDS, "SET_VOLTAGE_TRIP_POINTS"}
    assert {c.name for c in side.SpheroCommand} == set(SPHERO_COMMANDS)
    assert {a.name for a in side.AsyncId} == set(ASYNC_IDS)


def test_voltage_trip_points_agree_without_spherov2() -> None:
    """spherov2 has no voltage trip points command; the spec's CID is 0x23 on both sides."""
    assert sim.CoreCommand.SET_VOLTAGE_TRIP_POINTS == integration.CoreCommand.SET_VOLTAGE_TRIP_POINTS == 0x23


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("name", sorted(ASYNC_IDS))
def test_async_ids_are_spherov2s(side: Any, name: str) -> None:
    (sop2, id_code), _ = ASYNC_IDS[name]
    assert sop2 == SpheroV2Packet.ASYNC == sim.SOP2_ASYNC
    assert side.AsyncId[name] == id_code


@pytest.mark.parametrize("side", SIDES)
def test_roll_modes_and_sleep_interval_are_spherov2s(side: Any) -> None:
    assert {m.name: int(m) for m in side.RollMode} == {m.name: int(m) for m in RollModes}
    assert side.DEEP_SLEEP_INTERVAL == IntervalOptions.DEEP_SLEEP


def test_simulator_power_states_and_answer_codes_are_spherov2s() -> None:
    for state in sim.PowerState:
        assert SpheroV2PowerStates[state.name] == state
    errors = SpheroV2Packet.Error
    assert errors.command_succeeded == sim.Mrsp.OK
    assert errors.checksum_failure == sim.Mrsp.BAD_CHECKSUM
    assert errors.unknown_command_id == sim.Mrsp.UNKNOWN_CID
    assert errors.parameter_value_invalid == sim.Mrsp.BAD_PARAMETER
    assert errors.unknown_device_id == sim.Mrsp.UNKNOWN_DID


@pytest.mark.parametrize(
    ("packet", "theirs"),
    [
        (
            sim.build_response(0x00, 0x2A, b"\x01\x02"),
            SpheroV2Packet.Response(0, 0x2A, bytearray(b"\x01\x02")),
        ),
        (sim.build_response(0x07, 0xFF), SpheroV2Packet.Response(7, 0xFF, bytearray())),
        (sim.build_async(0x07, bytes(range(16))), SpheroV2Packet.Async(7, bytearray(range(16)))),
        (sim.build_async(0x14), SpheroV2Packet.Async(0x14, bytearray())),
        (sim.build_async(0x03, bytes(300)), SpheroV2Packet.Async(3, bytearray(300))),
    ],
)
def test_simulator_framing_is_byte_for_byte_spherov2s(packet: bytes, theirs: Any) -> None:
    assert packet == bytes(theirs.build())


def test_no_simulator_module_imports_the_integration() -> None:
    offenders = []
    for path in sorted(BB8SIM.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            offenders += [
                f"{path.relative_to(BB8SIM.parent)}:{node.lineno} {name}"
                for name in names
                if name.split(".")[0] == "custom_components"
            ]
    assert offenders == []
