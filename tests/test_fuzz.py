"""Fuzzing: the decoders, the reassembler and the live notification path against hostile bytes.

The codec's own properties (framing, round trips, spherov2 agreement, byte accounting) live in
test_protocol.py and test_commands.py. Here the question is only: can bytes from the toy (or a
broken radio) make anything raise other than the documented ``ValueError``, make the reader
hold memory or stall, or break a live session inside Home Assistant?

``BB8_FUZZ_EXAMPLES`` sets hypothesis's example count (the suite's default is small;
``scripts/soak`` runs 10,000 per property).
"""

from __future__ import annotations

from collections.abc import Callable
import contextlib
import os
import random
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from hypothesis import HealthCheck, given, settings, strategies as st
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bb8sim import SimulatedBB8
from custom_components.bb8.sphero import decoders as dec
from custom_components.bb8.sphero.const import MAX_CHUNK, AsyncId
from custom_components.bb8.sphero.protocol import (
    MAX_ASYNC_DLEN,
    AsyncPacket,
    Response,
    StreamReassembler,
    checksum,
)
from soak.chaos import Targets, random_garbage

from .conftest import wait_for
from .framing import parse_packet

EXAMPLES = int(os.environ.get("BB8_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LARGEST_FRAME = 5 + MAX_ASYNC_DLEN
"""The longest frame the reader waits for: an async header claiming the largest accepted DLEN."""

# ---------------------------------------------------------------------------------------------
# Strategies: noise, and bytes that are nearly (or exactly) packets
# ---------------------------------------------------------------------------------------------


def _frame(sop2: int, body: bytes, *, good_checksum: bool) -> bytes:
    chk = checksum(body) if good_checksum else (checksum(body) ^ 0x5A)
    return bytes([0xFF, sop2]) + body + bytes([chk])


@st.composite
def near_packets(draw: st.DrawFn) -> bytes:
    """A response or async packet with any id, code, SEQ and length, checksum good or not,
    possibly truncated or with its length byte lying."""
    data = draw(st.binary(max_size=40))
    good = draw(st.booleans())
    if draw(st.booleans()):
        dlen = draw(st.one_of(st.just(len(data) + 1), st.integers(0, 255)))
        frame = _frame(
            0xFF,
            bytes([draw(st.integers(0, 255)), draw(st.integers(0, 255)), dlen]) + data,
            good_checksum=good,
        )
    else:
        id_code = draw(st.sampled_from([*(int(a) for a in AsyncId), 0x00, 0x02, 0x7F, 0xFF]))
        dlen = draw(st.one_of(st.just(len(data) + 1), st.integers(0, 0xFFFF)))
        frame = _frame(0xFE, bytes([id_code, dlen >> 8, dlen & 0xFF]) + data, good_checksum=good)
    if draw(st.booleans()):
        frame = frame[: draw(st.integers(0, len(frame)))]  # truncated
    return frame


hostile_bytes = st.one_of(
    st.binary(max_size=60),
    st.binary(max_size=60).map(lambda raw: raw.replace(b"\x00", b"\xff").replace(b"\x01", b"\xfe")),
    near_packets(),
)
notifications = st.lists(hostile_bytes, max_size=12).map(
    lambda parts: [
        piece
        for part in parts
        for piece in (part[i : i + MAX_CHUNK] for i in range(0, len(part), MAX_CHUNK)) or [b""]
    ]
)

# ---------------------------------------------------------------------------------------------
# Decoders: ValueError or a value, nothing else
# ---------------------------------------------------------------------------------------------

DECODERS: dict[str, Callable[[bytes], Any]] = {
    "versions": dec.decode_versions,
    "power_state": dec.decode_power_state,
    "power_notification": dec.decode_power_notification,
    "collision": dec.decode_collision,
    "parse_packet": parse_packet,
}
# Lengths each decoder accepts, so the fuzzer spends time on valid sizes too, not only on refusals.
INTERESTING_LENGTHS = st.sampled_from([0, 1, 2, 7, 8, 9, 15, 16, 17, 40])


@pytest.mark.parametrize("name", sorted(DECODERS))
@FUZZ
@given(
    data=st.one_of(
        st.binary(max_size=80),
        INTERESTING_LENGTHS.flatmap(lambda n: st.binary(min_size=n, max_size=n)),
        near_packets(),
    )
)
def test_decoders_return_a_value_or_raise_value_error_only(name: str, data: bytes) -> None:
    with contextlib.suppress(ValueError):
        DECODERS[name](data)


# ---------------------------------------------------------------------------------------------
# The reassembler: bounded memory, and no stall once real packets flow again
# ---------------------------------------------------------------------------------------------


@FUZZ
@given(fragments=notifications)
def test_the_reader_never_holds_more_than_one_frame(fragments: list[bytes]) -> None:
    reader = StreamReassembler()
    for fragment in fragments:
        for packet in reader.feed(fragment):
            assert isinstance(packet, Response | AsyncPacket)
        assert reader.pending < LARGEST_FRAME


@FUZZ
@given(
    garbage=notifications,
    packet=st.builds(
        Response, mrsp=st.integers(0, 0xFF), seq=st.integers(0, 0xFF), data=st.binary(max_size=8)
    ),
)
def test_after_any_garbage_real_packets_come_out_once_a_frame_of_bytes_has_passed(
    garbage: list[bytes], packet: Response
) -> None:
    """However the garbage ends (a false start may claim a long frame), the reader gets back in
    step with the real stream; at worst it waits for one largest frame's worth of bytes."""
    reader = StreamReassembler()
    for fragment in garbage:
        reader.feed(fragment)
    frame = packet.encode()
    out: list[Any] = []
    for _ in range(LARGEST_FRAME // len(frame) + 2):
        out += reader.feed(frame)
    assert packet in out
    assert out[-1] == packet


# ---------------------------------------------------------------------------------------------
# The live path: hostile notifications into a set-up toy inside Home Assistant
# ---------------------------------------------------------------------------------------------


def _toy_state(toy: SimulatedBB8) -> tuple[Any, ...]:
    return (toy.main_led, toy.back_led, toy.stabilization, toy.heading, toy.speed)


async def test_hostile_notifications_never_raise_into_home_assistant(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry, caplog: pytest.LogCaptureFixture
) -> None:
    """Straight into the session's notification handler (as bleak calls it), under hypothesis."""
    session = ready_entry.runtime_data.session
    before = _toy_state(toy)
    fed = 0

    @FUZZ
    @given(chunks=notifications)
    def feed(chunks: list[bytes]) -> None:
        nonlocal fed
        for piece in chunks:
            session.link.on_notification(session.link.generation, bytearray(piece))
            fed += 1

    feed()
    assert fed > 0
    assert session.is_connected
    assert _toy_state(toy) == before, "notifications never make the session write to the toy"
    # Still working: a colour goes out and comes back answered.
    targets = Targets.find(hass, toy.address)
    await hass.services.async_call(
        "light",
        "turn_on",
        {"entity_id": targets.main_led, "rgb_color": [1, 2, 3], "brightness": 255},
        blocking=True,
    )
    assert toy.main_led == (1, 2, 3)
    assert ready_entry.state is ConfigEntryState.LOADED
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


async def test_garbage_through_the_radio_between_real_commands_never_breaks_the_link(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry, caplog: pytest.LogCaptureFixture
) -> None:
    """Through the simulator's backend (chunked as a radio delivers), interleaved with commands."""
    session = ready_entry.runtime_data.session
    targets = Targets.find(hass, toy.address)
    rng = random.Random(5)
    rounds = min(200, max(8, EXAMPLES // 25))
    for round_ in range(rounds):
        for _ in range(rng.randint(1, 6)):
            toy.inject_notification(random_garbage(rng), chunked=rng.random() < 0.5)
        brightness = round_ % 255 + 1
        await hass.services.async_call(
            "light", "turn_on", {"entity_id": targets.tail_light, "brightness": brightness}, blocking=True
        )
        assert toy.back_led == brightness
    assert session.is_connected
    assert session.counters.dropped_bytes > 0
    assert session.counters.commands_timed_out == 0
    await wait_for(lambda: session.pending_commands == 0)
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
