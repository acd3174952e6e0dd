"""Every real v2 capture in the design brief, replayed against the simulated toy, named with its source.

The simulator must answer each captured request with the captured answer, byte for byte (flags,
checksum and all). Where only the request was captured, the toy must read it as the command the
capture's source says it was and answer it in the captured framing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from spherov2.controls.v2 import Packet

from bb8sim.v2 import SimulatedV2Toy

ANTI_DOS = "00020005-574f-4f20-5370-6865726f2121"
API = "00010002-574f-4f20-5370-6865726f2121"


@dataclass
class Link:
    chunks: list[bytes] = field(default_factory=list)
    lost_reasons: list[str] = field(default_factory=list)

    def deliver(self, char_uuid: str, chunk: bytes, delay: float) -> None:
        assert char_uuid == API
        self.chunks.append(chunk)

    def lost(self, reason: str) -> None:
        self.lost_reasons.append(reason)

    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


def unlocked(toy: SimulatedV2Toy) -> Link:
    link = Link()
    toy.open_link(link)
    toy.write(ANTI_DOS, b"usetheforce...band")
    return link


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def test_r2d2_wake_capture_spherov2_on_hardware_gobot_pr_1189() -> None:
    toy = SimulatedV2Toy("F1:02:03:04:05:06", "r2d2")
    link = unlocked(toy)
    toy.write(API, h("8D 0A 13 0D 00 D5 D8"))
    assert link.take() == h("8D 09 13 0D 00 00 D6 D8")
    assert toy.awake


def test_r2d2_dome_capture_with_async_before_the_answer_gobot_pr_1189() -> None:
    toy = SimulatedV2Toy("F1:02:03:04:05:06", "r2d2")
    link = unlocked(toy)
    toy.write(API, h("8D 0A 13 0D 00 D5 D8"))
    link.take()
    toy.dome_angle = 45.0
    toy.write(API, h("8D 0A 17 0F 01 00 00 00 00 CE D8"))
    # The async 13/11 arrives between the request and its answer, in the same notification.
    assert link.take() == h("8D 08 13 11 FF D4 D8") + h("8D 09 17 0F 01 00 CF D8")
    assert toy.dome_angle == 0.0


def test_r2d2_play_animation_15_capture_edu_app() -> None:
    toy = SimulatedV2Toy("F1:02:03:04:05:06", "r2d2", awake=True)
    link = unlocked(toy)
    toy.write(API, h("8D 0A 17 05 41 00 0F 89 D8"))
    assert toy.animation_playing == 15
    body = bytes([0x09, 0x17, 0x05, 0x41, 0x00])
    assert link.take() == b"\x8d" + body + bytes([0xFF - (sum(body) & 0xFF)]) + b"\xd8"


@pytest.mark.parametrize(
    ("request_bytes", "answer"),
    [
        pytest.param("8D 0A 18 0F 0B 01 C2 D8", "8D 09 18 0F 0B 00 C4 D8", id="gyro-max-notify"),
        pytest.param("8D 0A 18 17 0C 00 BA D8", "8D 09 18 17 0C 00 BB D8", id="locator-flags"),
    ],
)
def test_mini_captures_edu_app_spherov2_js_sphero_mini_ts(request_bytes: str, answer: str) -> None:
    toy = SimulatedV2Toy("F1:02:03:04:05:07", "mini", awake=True)
    link = unlocked(toy)
    toy.write(API, h(request_bytes))
    # The Mini sends one byte per notification (Sphero_mini's notes).
    assert all(len(chunk) == 1 for chunk in link.chunks)
    assert link.take() == h(answer)


def test_every_capture_checksum_agrees_with_spherov2s_codec() -> None:
    """The captures themselves parse with spherov2 0.12.1 (so a test above cannot pass on a typo)."""
    for frame in (
        "8D 09 13 0D 00 00 D6 D8",
        "8D 09 17 0F 01 00 CF D8",
        "8D 08 13 11 FF D4 D8",
        "8D 09 18 0F 0B 00 C4 D8",
        "8D 09 18 17 0C 00 BB D8",
    ):
        assert bytes(Packet.parse_response(bytearray(h(frame))).build()) == h(frame)
