"""The simulated v2 toys' behaviour: handshake, errors, targets, notifications, parts, sleep.

Requests are framed with spherov2's codec (independent of the simulator's), and answers parsed
with it. Which of these behaviours come from a capture and which from the spec alone is in
``bb8sim/v2/toy.py``'s docstring and ``docs/family.md``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import struct
from typing import Any

from bleak import BleakClient
from bleak.exc import BleakError
import pytest
from spherov2.controls.v2 import Packet
from spherov2.toy.bb9e import BB9E
from spherov2.toy.r2d2 import R2D2
from spherov2.toy.r2q5 import R2Q5

from bb8sim import SimBleakBackend, SimClock, registry
from bb8sim.testing import make_ble_device
from bb8sim.v2 import MODELS, SimulatedV2Toy, model_for_name
from bb8sim.v2.protocol import ErrorCode

ANTI_DOS = "00020005-574f-4f20-5370-6865726f2121"
API = "00010002-574f-4f20-5370-6865726f2121"
ADDRESS = "F1:02:03:04:05:06"


@dataclass
class Link:
    chunks: list[bytes] = field(default_factory=list)
    lost_reasons: list[str] = field(default_factory=list)

    def deliver(self, char_uuid: str, chunk: bytes, delay: float) -> None:
        assert char_uuid == API
        self.chunks.append(chunk)

    def lost(self, reason: str) -> None:
        self.lost_reasons.append(reason)

    def packets(self) -> list[Packet]:
        """Everything received since the last call, parsed by spherov2's collector."""
        parsed: list[Packet] = []
        collector = Packet.Collector(parsed.append)
        for chunk in self.chunks:
            collector.add(bytearray(chunk))
        self.chunks.clear()
        return parsed


def request(
    did: int, cid: int, seq: int = 1, data: bytes = b"", *, tid: int | None = None, flags: int = 0x0A
) -> bytes:
    sid = None
    if tid is not None:
        flags |= 0x30
        sid = 0x01
    return bytes(Packet(Packet.Flags(flags), did, cid, seq, tid, sid, bytearray(data)).build())


def connect(toy: SimulatedV2Toy, *, unlock: bool = True, wake: bool = True) -> Link:
    link = Link()
    toy.open_link(link)
    if unlock:
        toy.write(ANTI_DOS, b"usetheforce...band")
    if wake:
        toy.write(API, request(0x13, 0x0D, 0))
        link.chunks.clear()
    return link


def answer(toy: SimulatedV2Toy, link: Link, frame: bytes) -> Packet:
    toy.write(API, frame)
    answers = [packet for packet in link.packets() if packet.flags & Packet.Flags.is_response]
    assert len(answers) == 1
    return answers[0]


@pytest.fixture
def clock() -> SimClock:
    return SimClock()


# -- models ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "prefix"), [("bb9e", "GB-"), ("r2d2", "D2-"), ("r2q5", "Q5-"), ("mini", "SM-"), ("bolt", "SB-")]
)
def test_each_model_is_named_by_its_prefix(key: str, prefix: str) -> None:
    toy = SimulatedV2Toy("F1:02:03:04:B5:4A", key)
    assert toy.name == f"{prefix}B54A"
    assert model_for_name(toy.name) is MODELS[key]
    assert toy.advertisement.local_name == toy.name


async def test_the_backend_serves_the_v2_gatt_table_and_the_toy_answers_through_bleak() -> None:
    toy = registry.register(SimulatedV2Toy(ADDRESS, "mini"))
    received: list[bytes] = []
    client = BleakClient(make_ble_device(ADDRESS, toy.name), backend=SimBleakBackend)
    try:
        await client.connect()
        uuids = {char.uuid for service in client.services for char in service.characteristics}
        assert {API, ANTI_DOS, "00002a19-0000-1000-8000-00805f9b34fb"} <= uuids
        assert "22bb746f-2ba1-7554-2d6f-726568705327" not in uuids  # no v1 characteristics
        await client.write_gatt_char(ANTI_DOS, b"usetheforce...band", response=True)
        await client.start_notify(API, lambda _char, data: received.append(bytes(data)))
        await client.write_gatt_char(API, request(0x13, 0x0D, 7), response=True)
        for _ in range(20):
            if b"".join(received).endswith(b"\xd8"):
                break
            await asyncio.sleep(0)
        assert b"".join(received) == bytes(Packet.parse_response(bytearray(b"".join(received))).build())
        assert len(received) == 8  # the Mini: one byte per notification
        assert toy.awake
    finally:
        await client.disconnect()
        registry.unregister(ADDRESS)


# -- handshake ------------------------------------------------------------------------------------


def test_without_the_anti_dos_unlock_the_toy_drops_the_link_after_ten_seconds(clock: SimClock) -> None:
    toy = SimulatedV2Toy(ADDRESS, "mini", clock=clock)
    link = connect(toy, unlock=False)
    assert toy.awake  # commands are read meanwhile (Sphero_mini's notes)
    clock.advance(9.9)
    assert toy.connected
    clock.advance(0.2)
    assert not toy.connected
    assert not toy.awake
    assert link.lost_reasons == ["asleep: no anti-DoS unlock"]


def test_the_unlock_keeps_the_link(clock: SimClock) -> None:
    toy = SimulatedV2Toy(ADDRESS, "mini", clock=clock)
    connect(toy)
    clock.advance(60)
    assert toy.connected
    assert toy.anti_dos_unlocked


def test_a_wrong_unlock_does_not_count(clock: SimClock) -> None:
    toy = SimulatedV2Toy(ADDRESS, "r2d2", clock=clock)
    link = Link()
    toy.open_link(link)
    toy.write(ANTI_DOS, b"011i3")
    clock.advance(11)
    assert not toy.connected


def test_asleep_the_toy_reads_only_power_commands() -> None:
    toy = SimulatedV2Toy(ADDRESS, "r2d2")
    link = connect(toy, wake=False)
    toy.write(API, request(0x16, 0x07, 1, bytes([80, 0, 90, 0])))
    assert link.packets() == []
    assert toy.speed == 0
    assert answer(toy, link, request(0x13, 0x03, 2)).err == ErrorCode.SUCCESS
    assert not toy.awake
    assert answer(toy, link, request(0x13, 0x0D, 3)).err == ErrorCode.SUCCESS
    assert toy.awake


# -- errors and targets -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "frame", "err"),
    [
        pytest.param("r2d2", request(0x42, 0x01), ErrorCode.BAD_DID, id="unknown-did"),
        pytest.param("r2d2", request(0x13, 0x7E), ErrorCode.BAD_CID, id="unknown-cid"),
        pytest.param("mini", request(0x17, 0x0F, data=bytes(4)), ErrorCode.BAD_DID, id="mini-has-no-dome"),
        pytest.param("r2d2", request(0x13, 0x10), ErrorCode.BAD_CID, id="r2d2-reports-no-percentage"),
        pytest.param("r2d2", request(0x16, 0x07, data=bytes(3)), ErrorCode.BAD_DATA_LENGTH, id="short-drive"),
        pytest.param(
            "r2d2", request(0x16, 0x07, data=bytes([9, 1, 104, 0])), ErrorCode.BAD_PARAMETER, id="heading-360"
        ),
        pytest.param(
            "r2d2", request(0x17, 0x0F, data=struct.pack(">f", 181.0)), ErrorCode.BAD_PARAMETER, id="dome-181"
        ),
        pytest.param("r2d2", request(0x17, 0x0D, data=bytes([4])), ErrorCode.BAD_PARAMETER, id="stance-4"),
        pytest.param(
            "r2d2",
            request(0x1A, 0x0E, data=bytes([0x01, 0x00])),
            ErrorCode.BAD_DATA_LENGTH,
            id="mask-without-value",
        ),
        pytest.param(
            "mini",
            request(0x1A, 0x0E, data=bytes([0x00, 0x80, 9])),
            ErrorCode.BAD_PARAMETER,
            id="mini-led-bit-7",
        ),
        pytest.param("r2d2", request(0x13, 0x03, tid=0x13), ErrorCode.BAD_TID, id="unknown-target"),
        pytest.param(
            "bolt",
            request(0x16, 0x07, data=bytes([9, 0, 0, 0])),
            ErrorCode.TARGET_UNAVAILABLE,
            id="bolt-drive-untargeted",
        ),
        pytest.param(
            "bolt",
            request(0x16, 0x07, data=bytes([9, 0, 0, 0]), tid=0x11),
            ErrorCode.BAD_TID,
            id="bolt-drive-on-primary",
        ),
        pytest.param(
            "bolt",
            request(0x18, 0x00, data=bytes(7)),
            ErrorCode.TARGET_UNAVAILABLE,
            id="bolt-sensor-untargeted",
        ),
        pytest.param(
            "bolt",
            request(0x1A, 0x2F, data=bytes(3)),
            ErrorCode.TARGET_UNAVAILABLE,
            id="bolt-matrix-untargeted",
        ),
        pytest.param(
            "bolt",
            request(0x1A, 0x1C, data=bytes([1, 9]), tid=0x12),
            ErrorCode.BAD_TID,
            id="bolt-leds-on-secondary",
        ),
    ],
)
def test_error_codes(model: str, frame: bytes, err: ErrorCode) -> None:
    toy = SimulatedV2Toy(ADDRESS, model)
    link = connect(toy)
    assert answer(toy, link, frame).err == err


def test_a_targeted_answer_goes_back_to_its_source() -> None:
    toy = SimulatedV2Toy(ADDRESS, "bolt")
    link = connect(toy)
    reply = answer(toy, link, request(0x16, 0x07, 5, bytes([90, 0, 180, 0]), tid=0x12))
    assert (reply.err, reply.tid, reply.sid, reply.seq) == (ErrorCode.SUCCESS, 0x01, 0x12, 5)
    assert (toy.speed, toy.heading) == (90, 180)


def test_only_error_answers_when_asked_for_only_errors() -> None:
    toy = SimulatedV2Toy(ADDRESS, "r2d2")
    link = connect(toy)
    toy.write(API, request(0x16, 0x07, 1, bytes([50, 0, 10, 0]), flags=0x0C))
    assert link.packets() == []
    assert toy.speed == 50
    reply = answer(toy, link, request(0x16, 0x07, 2, bytes([50, 1, 104, 0]), flags=0x0C))
    assert reply.err == ErrorCode.BAD_PARAMETER


def test_a_corrupt_request_is_dropped_and_the_next_one_read() -> None:
    toy = SimulatedV2Toy(ADDRESS, "bb9e")
    link = connect(toy)
    bad = bytearray(request(0x16, 0x07, 1, bytes([50, 0, 10, 0])))
    bad[-2] ^= 0x40
    toy.write(API, bytes(bad) + request(0x13, 0x03, 2))
    packets = link.packets()
    assert [(packet.did, packet.cid, packet.seq) for packet in packets] == [(0x13, 0x03, 2)]
    assert toy.bad_frames == 1
    assert toy.speed == 0


def test_a_request_split_over_writes_is_reassembled() -> None:
    toy = SimulatedV2Toy(ADDRESS, "r2d2")
    link = connect(toy)
    frame = request(0x17, 0x0F, 3, struct.pack(">f", -90.0))
    for byte in frame:
        toy.write(API, bytes([byte]))
    assert [packet.cid for packet in link.packets()] == [0x11, 0x0F]  # the wake notice, then the answer
    assert answer(toy, link, request(0x17, 0x14, 4)).data == bytearray(struct.pack(">f", -90.0))
    assert toy.dome_angle == -90.0


# -- parts ----------------------------------------------------------------------------------------


def test_r2d2_leds_by_mask() -> None:
    toy = SimulatedV2Toy(ADDRESS, "r2d2")
    link = connect(toy)
    # front 0x07, logic 0x08, back 0x70, holo 0x80 (the brief's masks)
    answer(toy, link, request(0x1A, 0x0E, data=bytes([0x00, 0x07, 255, 0, 10])))
    answer(toy, link, request(0x1A, 0x0E, data=bytes([0x00, 0x88, 200, 100])))
    answer(toy, link, request(0x1A, 0x0E, data=bytes([0x00, 0x70, 1, 2, 3])))
    assert toy.led_group("front") == (255, 0, 10)
    assert toy.led_group("back") == (1, 2, 3)
    assert (toy.leds["logic_displays"], toy.leds["holo_projector"]) == (200, 100)


def test_r2_stance_and_animation_complete(clock: SimClock) -> None:
    toy = SimulatedV2Toy(ADDRESS, "r2q5", clock=clock)
    link = connect(toy)
    answer(toy, link, request(0x17, 0x0D, data=bytes([3])))
    assert toy.stance == 3
    answer(toy, link, request(0x17, 0x0D, data=bytes([0])))
    assert toy.stance == 2  # stopping a waddle leaves it on two legs
    answer(toy, link, request(0x17, 0x0D, data=bytes([1])))
    assert toy.stance == 1
    answer(toy, link, request(0x17, 0x05, data=bytes([0, 7])))
    assert toy.animation_playing == 7
    clock.advance(2.9)
    assert link.packets() == []
    clock.advance(0.2)
    (done,) = link.packets()
    assert (done.did, done.cid, done.seq, bytes(done.data)) == (0x17, 0x11, 0xFF, bytes([0, 7]))
    assert toy.animation_playing is None
    assert toy.animations_completed == [7]


def test_sounds_are_recorded() -> None:
    toy = SimulatedV2Toy(ADDRESS, "r2d2")
    link = connect(toy)
    answer(toy, link, request(0x1A, 0x07, data=bytes([0x01, 0x35, 0])))
    assert toy.sounds_played == [(0x135, 0)]


def test_bolt_matrix(clock: SimClock) -> None:
    toy = SimulatedV2Toy(ADDRESS, "bolt", clock=clock)
    link = connect(toy)
    answer(toy, link, request(0x1A, 0x2F, data=bytes([0, 0, 40]), tid=0x12))
    assert all(pixel == (0, 0, 40) for row in toy.matrix for pixel in row)
    answer(toy, link, request(0x1A, 0x3E, data=bytes([1, 1, 2, 3, 255, 0, 0]), tid=0x12))
    assert toy.matrix[3][2] == (255, 0, 0)
    assert toy.matrix[0][0] == (0, 0, 40)
    answer(toy, link, request(0x1A, 0x2D, data=bytes([7, 7, 9, 9, 9]), tid=0x12))
    assert toy.matrix[7][7] == (9, 9, 9)
    answer(toy, link, request(0x1A, 0x3B, data=bytes([255, 255, 0, 5, 0]) + b"HI\x00", tid=0x12))
    assert toy.matrix_text == ("HI", (255, 255, 0), 5, False)
    clock.advance(1.1)
    (done,) = link.packets()
    assert (done.did, done.cid, bytes(done.data)) == (0x1A, 0x3C, b"\x00")
    answer(toy, link, request(0x1A, 0x1C, data=bytes([0x07, 1, 2, 3]), tid=0x11))
    assert toy.led_group("front") == (1, 2, 3)


def test_battery_percentage_and_charger_state() -> None:
    mini = SimulatedV2Toy(ADDRESS, "mini", battery_voltage=3.85)
    link = connect(mini)
    assert answer(mini, link, request(0x13, 0x03)).data == bytearray(struct.pack(">H", 385))
    assert answer(mini, link, request(0x13, 0x10)).data == bytearray([50])
    bolt = SimulatedV2Toy("F1:02:03:04:05:08", "bolt", charging=True, battery_voltage=4.0)
    link = connect(bolt)
    assert answer(bolt, link, request(0x13, 0x1F)).data == bytearray([2])
    bolt.set_charging(False)
    assert answer(bolt, link, request(0x13, 0x1F)).data == bytearray([1])


# -- notifications ------------------------------------------------------------------------------


def test_collisions_are_reported_when_armed(clock: SimClock) -> None:
    toy = SimulatedV2Toy(ADDRESS, "bb9e", clock=clock)
    link = connect(toy)
    assert not toy.trigger_collision(200)
    answer(toy, link, request(0x18, 0x11, data=bytes([1, 100, 100, 0, 0, 50])))
    link.packets()
    assert toy.trigger_collision(200)
    (collision,) = link.packets()
    assert (collision.did, collision.cid, collision.seq) == (0x18, 0x12, 0xFF)
    assert len(collision.data) == struct.calcsize(">3hB3hBL")
    assert not toy.trigger_collision(200)  # dead time 0.5 s
    clock.advance(0.6)
    assert toy.trigger_collision(200)


def test_sensor_stream(clock: SimClock) -> None:
    toy = SimulatedV2Toy(ADDRESS, "r2d2", clock=clock)
    link = connect(toy)
    answer(toy, link, request(0x16, 0x07, data=bytes([0, 0, 200, 0])))
    answer(toy, link, request(0x18, 0x0C, data=struct.pack(">I", 0x4000000)))
    answer(toy, link, request(0x18, 0x00, data=struct.pack(">HBI", 100, 2, 0x10000)))
    clock.advance(0.5)
    packets = link.packets()
    assert len(packets) == 2  # count 2
    assert struct.unpack(">2f", packets[0].data) == (-160.0, 0.0)  # yaw, dome angle


def test_will_sleep_then_did_sleep_then_the_link_drops(clock: SimClock) -> None:
    toy = SimulatedV2Toy(ADDRESS, "bb9e", clock=clock)
    link = connect(toy)
    clock.advance(589)
    assert link.packets() == []
    clock.advance(2)
    (will,) = link.packets()
    assert (will.did, will.cid) == (0x13, 0x19)
    clock.advance(10)
    (did,) = link.packets()
    assert (did.did, did.cid) == (0x13, 0x1A)
    assert not toy.connected
    assert not toy.awake


def test_activity_resets_the_inactivity_timer(clock: SimClock) -> None:
    toy = SimulatedV2Toy(ADDRESS, "r2d2", clock=clock)
    link = connect(toy)
    clock.advance(500)
    answer(toy, link, request(0x13, 0x03))
    clock.advance(500)
    assert toy.awake


def test_deep_sleep_only_the_charger_wakes() -> None:
    toy = SimulatedV2Toy(ADDRESS, "bolt")
    link = connect(toy)
    answer(toy, link, request(0x13, 0x00, data=bytes([0])))
    assert toy.deep_asleep
    assert not toy.connected
    with pytest.raises(TimeoutError):
        toy.open_link(Link())
    toy.wake_by_charger()
    connect(toy, wake=False)
    assert toy.awake


def test_soft_sleep_answers_then_sends_did_sleep() -> None:
    toy = SimulatedV2Toy(ADDRESS, "mini")
    link = connect(toy)
    toy.write(API, request(0x13, 0x01, 9))
    packets = link.packets()
    assert [(packet.cid, packet.seq) for packet in packets] == [(0x01, 9), (0x1A, 0xFF)]
    assert link.lost_reasons == ["asleep: sleep command"]


def test_the_wake_notice_goes_out_on_its_own_if_no_request_carries_it(clock: SimClock) -> None:
    toy = SimulatedV2Toy(ADDRESS, "r2d2", clock=clock)
    link = connect(toy)
    clock.advance(0.6)
    (notice,) = link.packets()
    assert (notice.did, notice.cid, notice.seq, bytes(notice.data)) == (0x13, 0x11, 0xFF, b"")
    assert toy.wake_notices_sent == 1


# -- faults -----------------------------------------------------------------------------------------


def test_the_fault_plan_drops_answers_and_corrupts_notifications() -> None:
    toy = SimulatedV2Toy(ADDRESS, "bb9e")
    link = connect(toy)
    toy.faults.drop_next_responses = 1
    toy.write(API, request(0x13, 0x03, 1))
    assert link.packets() == []
    assert toy.faults.stats["response_dropped"] == 1
    toy.faults.corrupt_next_notifications = 1
    toy.write(API, request(0x13, 0x03, 2))
    (chunk,) = link.chunks
    assert chunk != toy.sent_packets[-1].encode()
    assert toy.faults.stats["notification_corrupted"] == 1


def test_the_fault_plan_can_drop_the_link_on_a_command_write() -> None:
    toy = SimulatedV2Toy(ADDRESS, "bb9e")
    link = connect(toy)
    toy.faults.disconnect_on_write = 1
    with pytest.raises(BleakError, match="disconnected during the write"):
        toy.write(API, request(0x16, 0x07, 1, bytes([50, 0, 0, 0])))
    assert link.lost_reasons == ["fault: link lost during a command write"]
    assert toy.speed == 0


# -- animations: each model's own numbers ------------------------------------------------------------


@pytest.mark.parametrize(("key", "toy_class"), [("r2d2", R2D2), ("r2q5", R2Q5), ("bb9e", BB9E)])
def test_each_droid_plays_the_animation_numbers_of_its_spherov2_enum(key: str, toy_class: Any) -> None:
    """models.py: "Animation numbers: spherov2's ``Animations`` enum of each model"."""
    assert MODELS[key].animations == {int(member) for member in toy_class.Animations}


def test_a_bb9e_plays_its_own_wwm_happy_26_for_3_s_and_reports_its_end(clock: SimClock) -> None:
    """toy.py: "An animation plays 3 s on every model (the BB-9E's as the R2 units')"; its end is
    the async 17/11 carrying the number."""
    toy = SimulatedV2Toy(ADDRESS, "bb9e", clock=clock)
    link = connect(toy)
    assert answer(toy, link, request(0x17, 0x05, data=struct.pack(">H", 26))).err == ErrorCode.SUCCESS
    assert toy.animation_playing == BB9E.Animations.WWM_HAPPY == 26
    clock.advance(2.9)
    assert link.packets() == []
    clock.advance(0.2)
    (done,) = link.packets()
    assert (done.did, done.cid, done.seq, bytes(done.data)) == (0x17, 0x11, 0xFF, struct.pack(">H", 26))
    assert toy.animations_completed == [26]


@pytest.mark.parametrize(
    ("key", "lacking"), [("bb9e", 13), ("bb9e", 21), ("r2q5", 55), ("r2d2", 20), ("r2d2", 56)]
)
def test_an_animation_number_the_model_lacks_answers_bad_parameter_and_plays_nothing(
    clock: SimClock, key: str, lacking: int
) -> None:
    """toy.py: "an animation number that is not in the model's spherov2 enum answers ERR 7 (bad
    parameter) and plays nothing"."""
    toy = SimulatedV2Toy(ADDRESS, key, clock=clock)
    link = connect(toy)
    assert (
        answer(toy, link, request(0x17, 0x05, data=struct.pack(">H", lacking))).err == ErrorCode.BAD_PARAMETER
    )
    assert (toy.animation_playing, toy.animations_played) == (None, [])
    clock.advance(5)
    assert link.packets() == []
