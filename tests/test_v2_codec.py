"""The integration's v2 codec: every real capture in the design brief, escaping and checksum from the rule.

The captures are tests named with their source. No public capture escapes anything, so escaping
is tested from the rule as the brief states it (``AB -> AB 23``, ``8D -> AB 05``, ``D8 -> AB 50``,
every byte between SOP and EOP, after the checksum), with frames this file builds by that rule
alone, not with the codec under test nor the simulator's.
"""

from __future__ import annotations

import struct
from typing import Any

from hypothesis import given, strategies as st
import pytest
from spherov2.controls.v2 import Packet as SpheroV2Packet

from custom_components.bb8.sphero import commands_v2 as v2, sphero_v2
from custom_components.bb8.sphero.commands import Command
from custom_components.bb8.sphero.protocol import AsyncPacket, Response
from custom_components.bb8.sphero.protocol_v2 import AsyncId, FrameReader, checksum, decode_frame

R2D2 = sphero_v2.R2D2
MINI = sphero_v2.MINI
BOLT = sphero_v2.BOLT


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def read(*fragments: bytes) -> tuple[list[Any], list[tuple[bytes, str]]]:
    drops: list[tuple[bytes, str]] = []
    reader = FrameReader(lambda dropped, reason: drops.append((dropped, reason)))
    packets = [packet for fragment in fragments for packet in reader.feed(fragment)]
    return packets, drops


# -- the rule, written out here ---------------------------------------------------------------------


def rule_escape(raw: bytes) -> bytes:
    out = bytearray()
    for byte in raw:
        out += {0xAB: b"\xab\x23", 0x8D: b"\xab\x05", 0xD8: b"\xab\x50"}.get(byte, bytes([byte]))
    return bytes(out)


def rule_frame(body: bytes) -> bytes:
    """SOP, the escaped FLAGS..DATA and CHK (0xFF minus the low byte of their sum), EOP."""
    return b"\x8d" + rule_escape(body + bytes([0xFF - (sum(body) & 0xFF)])) + b"\xd8"


def rule_unescape(escaped: bytes) -> bytes:
    out = bytearray()
    index = 0
    while index < len(escaped):
        if escaped[index] == 0xAB:
            out.append({0x23: 0xAB, 0x05: 0x8D, 0x50: 0xD8}[escaped[index + 1]])
            index += 2
        else:
            out.append(escaped[index])
            index += 1
    return bytes(out)


# -- real captures ----------------------------------------------------------------------------------


def test_r2d2_wake_capture_spherov2_on_hardware_gobot_pr_1189() -> None:
    assert R2D2.encode(v2.wake(), 0, True) == h("8D 0A 13 0D 00 D5 D8")
    packets, drops = read(h("8D 09 13 0D 00 00 D6 D8"))
    assert packets == [Response(0, 0, b"")]
    assert drops == []


def test_r2d2_dome_capture_with_the_async_before_its_answer_spherov2_on_hardware_gobot_pr_1189() -> None:
    assert R2D2.encode(v2.set_dome(0.0), 1, True) == h("8D 0A 17 0F 01 00 00 00 00 CE D8")
    packets, drops = read(h("8D 08 13 11 FF D4 D8"), h("8D 09 17 0F 01 00 CF D8"))
    assert packets == [AsyncPacket(AsyncId.WAKE_NOTICE, b""), Response(0, 1, b"")]
    assert drops == []


def test_r2d2_play_animation_15_capture_edu_app() -> None:
    assert R2D2.encode(v2.play_animation(15), 0x41, True) == h("8D 0A 17 05 41 00 0F 89 D8")


def test_mini_gyro_max_notify_capture_edu_app_spherov2js_sphero_mini_ts() -> None:
    """18/0F with data 01 (enable gyro max notify): no builder of ours sends it, so it is framed raw."""
    command = Command("enable_gyro_max_notify", 0x18, 0x0F, b"\x01")
    assert MINI.encode(command, 0x0B, True) == h("8D 0A 18 0F 0B 01 C2 D8")
    assert read(h("8D 09 18 0F 0B 00 C4 D8"))[0] == [Response(0, 0x0B, b"")]


def test_mini_locator_flags_capture_edu_app_spherov2js_sphero_mini_ts() -> None:
    """18/17 with data 00 (set locator flags), framed raw for the same reason."""
    command = Command("set_locator_flags", 0x18, 0x17, b"\x00")
    assert MINI.encode(command, 0x0C, True) == h("8D 0A 18 17 0C 00 BA D8")
    assert read(h("8D 09 18 17 0C 00 BB D8"))[0] == [Response(0, 0x0C, b"")]


@pytest.mark.parametrize(
    "answer",
    [
        "8D 09 13 0D 00 00 D6 D8",
        "8D 09 17 0F 01 00 CF D8",
        "8D 09 18 0F 0B 00 C4 D8",
        "8D 09 18 17 0C 00 BB D8",
    ],
)
def test_the_mini_sends_a_byte_per_notification_sphero_mini_notes(answer: str) -> None:
    frame = h(answer)
    packets, drops = read(*(bytes([byte]) for byte in frame))
    assert packets == [Response(0, frame[4], b"")]
    assert drops == []


# -- escaping and checksum from the rule ------------------------------------------------------------


def test_each_special_byte_in_a_request_is_escaped_by_the_rule() -> None:
    command = Command("raw", 0x1A, 0x0E, b"\xab\x8d\xd8")
    frame = R2D2.encode(command, 0xD8, False)
    assert (
        frame
        == b"\x8d\x02\x1a\x0e\xab\x50\xab\x23\xab\x05\xab\x50"
        + bytes([checksum(frame_body(frame))])
        + b"\xd8"
    )


def frame_body(frame: bytes) -> bytes:
    return rule_unescape(frame[1:-1])[:-1]


@pytest.mark.parametrize(("seq", "escaped"), [(0x3C, "AB 23"), (0x5A, "AB 05"), (0x0F, "AB 50")])
def test_a_checksum_that_is_a_special_byte_is_escaped_too(seq: int, escaped: str) -> None:
    # FLAGS 02, DID 13, CID 03, SEQ s: the checksum is 0xFF - (0x18 + s).
    frame = R2D2.encode(v2.get_battery_voltage(), seq, False)
    assert frame == h(f"8D 02 13 03 {seq:02X} {escaped} D8")
    answer = h(f"8D 01 13 03 {seq + 1:02X} 00 {escaped} D8")  # FLAGS 01, ERR 00, SEQ + 1: the same sum
    assert read(answer) == ([Response(0, seq + 1, b"")], [])


requests = st.builds(
    Command,
    st.just("raw"),
    st.integers(0, 0xFF),
    st.integers(0, 0xFF),
    st.binary(max_size=24),
)


@given(requests, st.integers(0, 0xFF), st.booleans(), st.sampled_from([R2D2, BOLT]))
def test_every_request_is_framed_and_escaped_by_the_rule(
    command: Command, seq: int, activity: bool, model: sphero_v2.SpheroV2
) -> None:
    frame = model.encode(command, seq, activity)
    assert frame[0] == 0x8D
    assert frame[-1] == 0xD8
    assert not {0x8D, 0xD8} & set(frame[1:-1]), "an escaped body holds neither delimiter"
    target = model.target(command.did, command.cid)
    flags = 0x02 | (0x08 if activity else 0) | (0x30 if target is not None else 0)
    head = bytes([flags]) + (bytes([target, 0x01]) if target is not None else b"")
    assert frame == rule_frame(head + bytes([command.did, command.cid, seq]) + command.data)
    parsed = SpheroV2Packet.parse_response(bytearray(frame))
    assert (parsed.did, parsed.cid, parsed.seq, parsed.tid, bytes(parsed.data)) == (
        command.did,
        command.cid,
        seq,
        target,
        command.data,
    ), "spherov2, the peer, reads the same request"


answers = st.builds(
    lambda flags, did, cid, seq, code, data, tid, sid: (flags, did, cid, seq, code, data, tid, sid),
    st.sampled_from([0x01, 0x09]),
    st.integers(0, 0xFF),
    st.integers(0, 0xFF),
    st.integers(0, 0xFF),
    st.integers(0, 0xFF),
    st.binary(max_size=24),
    st.none() | st.integers(0, 0xFF),
    st.none() | st.integers(0, 0xFF),
)
asyncs = st.builds(
    lambda did, cid, data: (0x08, did, cid, 0xFF, None, data, None, None),
    st.integers(0, 0xFF),
    st.integers(0, 0xFF),
    st.binary(max_size=24),
)


def built(fields: tuple[Any, ...]) -> tuple[bytes, Any]:
    """The frame the rule makes of ``fields``, and the packet the reader must make of it."""
    flags, did, cid, seq, code, data, tid, sid = fields
    flags |= (0x10 if tid is not None else 0) | (0x20 if sid is not None else 0)
    body = bytes([flags]) + bytes(x for x in (tid, sid) if x is not None) + bytes([did, cid, seq])
    if code is None:
        return rule_frame(body + data), AsyncPacket((did << 8) | cid, data)
    name = None if code == 0 else SpheroV2Packet.Error(code).name if code <= 10 else f"unknown_0x{code:02x}"
    return rule_frame(body + bytes([code]) + data), Response(code, seq, data, name)


@given(st.lists(answers | asyncs, min_size=1, max_size=5), st.integers(1, 40))
def test_answers_and_asyncs_framed_by_the_rule_are_read_whole_and_in_fragments_of_every_size(
    many: list[tuple[Any, ...]], size: int
) -> None:
    frames, expected = zip(*(built(fields) for fields in many), strict=True)
    stream = b"".join(frames)
    assert read(stream) == (list(expected), []), "several packets in one notification"
    fragments = [stream[start : start + size] for start in range(0, len(stream), size)]
    assert read(*fragments) == (list(expected), []), f"in fragments of {size} bytes"


@given(answers | asyncs, st.binary(max_size=12).filter(lambda junk: 0x8D not in junk))
def test_garbage_around_a_frame_is_dropped_and_counted_and_the_frame_still_read(
    fields: tuple[Any, ...], junk: bytes
) -> None:
    frame, packet = built(fields)
    packets, drops = read(junk + frame + junk)
    assert packets == [packet]
    assert sum(len(dropped) for dropped, _ in drops) == 2 * len(junk)


# -- the reader's faults ------------------------------------------------------------------------


def test_a_bad_checksum_drops_the_frame_with_its_reason_and_the_next_frame_is_read() -> None:
    good = h("8D 09 13 0D 00 00 D6 D8")
    bad = h("8D 09 13 0D 00 00 D7 D8")
    packets, drops = read(bad + good)
    assert packets == [Response(0, 0, b"")]
    assert drops == [(bad, "bad checksum")]


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("8D 09 13 AB 11 00 00 D6 D8", "bad escape"),
        ("8D 09 13 0D D8", "frame too short"),
        ("8D 09 13 0D EA D8", "frame too short"),  # an answer without its ERR
        ("8D 0A 13 0D 00 D5 D8", "a request from the toy"),
    ],
)
def test_a_frame_that_is_no_packet_is_dropped_with_its_reason(frame: str, reason: str) -> None:
    assert read(h(frame)) == ([], [(h(frame), reason)])


def test_a_start_of_packet_inside_a_frame_restarts_it() -> None:
    cut = h("8D 09 13 0D")
    packets, drops = read(cut, h("8D 09 13 0D 00 00 D6 D8"))
    assert packets == [Response(0, 0, b"")]
    assert drops == [(cut, "start of packet inside a frame")]


def test_an_error_code_outside_spherov2s_table_still_answers_its_command() -> None:
    assert read(rule_frame(h("09 13 0D 07 0B")))[0] == [Response(0x0B, 7, b"", "unknown_0x0b")]


def test_a_stale_partial_frame_is_given_up_and_a_reset_forgets_one() -> None:
    drops: list[tuple[bytes, str]] = []
    reader = FrameReader(lambda dropped, reason: drops.append((dropped, reason)))
    assert reader.feed(h("8D 09 13")) == []
    assert reader.pending == 3
    assert reader.skip_stale_head() == []
    reader.feed(h("8D 09"))
    reader.reset()
    assert reader.pending == 0
    assert drops == [
        (h("8D 09 13"), "incomplete packet timed out"),
        (h("8D 09"), "partial packet discarded on reset"),
    ]
    assert reader.dropped_bytes == 5


def test_a_frame_whose_end_never_comes_is_not_hoarded() -> None:
    drops: list[tuple[bytes, str]] = []
    reader = FrameReader(lambda dropped, reason: drops.append((dropped, reason)))
    reader.feed(b"\x8d" + b"\x01" * 2000)
    assert reader.pending == 0
    assert drops[0][1] == "frame too long"


def test_decode_frame_reads_a_targeted_answer_back_to_its_source() -> None:
    # The BOLT's answer to a drive aimed at 0x12: target and source swapped (0x01 <- 0x12).
    assert decode_frame(rule_frame(h("39 01 12 16 07 05 00"))) == Response(0, 5, b"")


# -- the models' targets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "target"),
    [
        (v2.drive(10, 0), 0x12),
        (v2.configure_collision_detection(), 0x12),
        (Command("matrix_fill", 0x1A, 0x3E, bytes(7)), 0x12),
        (v2.bolt_leds(front=(1, 2, 3)), 0x11),
        (v2.get_battery_voltage(), None),
        (v2.get_charger_state(), None),
        (v2.sleep(), None),
        (v2.wake(), None),
    ],
)
def test_the_bolt_targets_drive_sensors_and_matrix_at_0x12_and_leds_at_0x11(
    command: Command, target: int | None
) -> None:
    assert BOLT.target(command.did, command.cid) == target
    frame = rule_unescape(BOLT.encode(command, 3, True)[1:-1])
    expected = bytes([0x3A, target, 0x01]) if target is not None else bytes([0x0A])
    assert frame.startswith(expected)


@pytest.mark.parametrize("model", [sphero_v2.R2D2, sphero_v2.R2Q5, sphero_v2.BB9E, sphero_v2.MINI])
@pytest.mark.parametrize("command", [v2.drive(10, 0), v2.configure_collision_detection(), v2.r2_leds(holo=1)])
def test_one_processor_models_are_spoken_to_untargeted(model: sphero_v2.SpheroV2, command: Command) -> None:
    assert model.target(command.did, command.cid) is None
    assert model.encode(command, 3, True)[1] == 0x0A


# -- the builders ---------------------------------------------------------------------------------


def test_the_r2d2_led_masks_match_the_brief_front_07_back_70_logic_08_holo_80() -> None:
    assert v2.r2_leds(front=(1, 2, 3)).data == h("00 07 01 02 03")
    assert v2.r2_leds(back=(4, 5, 6)).data == h("00 70 04 05 06")
    assert v2.r2_leds(logic=9).data == h("00 08 09")
    assert v2.r2_leds(holo=10).data == h("00 80 0A")
    assert v2.r2_leds(front=(1, 2, 3), logic=9, back=(4, 5, 6), holo=10).data == h(
        "00 FF 01 02 03 09 04 05 06 0A"
    )


def test_the_mini_bb9e_and_bolt_led_masks_follow_spherov2s_enums() -> None:
    assert v2.mini_leds(aiming=7, body=(1, 2, 3)).data == h("00 0F 07 01 02 03")
    assert v2.bb9e_leds(body=(1, 2, 3), aiming=4, head=5).data == h("00 1F 01 02 03 04 05")
    bolt = v2.bolt_leds(front=(1, 2, 3), back=(4, 5, 6))
    assert (bolt.did, bolt.cid, bolt.data) == (0x1A, 0x1C, h("3F 01 02 03 04 05 06"))


def test_the_builders_payloads() -> None:
    assert v2.drive(255, 359).data == h("FF 01 67 00")
    assert (v2.stop(90).name, v2.stop(90).data) == ("stop", h("00 00 5A 00"))
    assert v2.set_dome(-160).data == struct.pack(">f", -160.0)
    assert v2.set_stance(v2.Stance.WADDLE).data == b"\x03"
    assert v2.play_sound(1497, v2.SoundMode.IF_NOT_PLAYING).data == h("05 D9 01")
    assert v2.configure_collision_detection(threshold=90, speed=80, dead_time_10ms=5).data == h(
        "01 5A 5A 50 50 05"
    )
    assert [(c.did, c.cid) for c in (v2.sleep(), v2.wake(), v2.get_battery_percentage())] == [
        (0x13, 0x01),
        (0x13, 0x0D),
        (0x13, 0x10),
    ]


@pytest.mark.parametrize(
    ("build", "args"),
    [
        (v2.drive, (256, 0)),
        (v2.drive, (10, 360)),
        (v2.drive, (-1, 0)),
        (v2.stop, (360,)),
        (v2.set_dome, (180.5,)),
        (v2.set_dome, (-161,)),
        (v2.set_dome, (float("nan"),)),
        (v2.set_dome, (True,)),
        (v2.set_stance, (4,)),
        (v2.play_animation, (0x10000,)),
        (v2.play_sound, (1, 3)),
        (v2.play_sound, (-1,)),
    ],
)
def test_bad_input_raises_before_anything_is_built(build: Any, args: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError):
        build(*args)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"front": (256, 0, 0)},
        {"front": (1, 2)},
        {"logic": True},
        {"holo": 300},
        {"back": [1, 2, 3]},
    ],
)
def test_bad_led_values_raise_before_anything_is_built(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        v2.r2_leds(**kwargs)
