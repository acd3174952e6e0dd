"""Sensor streaming on demand: who wants motion, what the toy is told to stream, and its packets.

Entities ask for motion values (``request``); from that demand this builds the SetDataStreaming
command the toy needs now (a stop with all-zero masks once nobody wants anything; sent again on
every connect, because the toy may remember an old stream), decodes the packets that arrive
into ``motion.MotionTracker`` and tells the motion listeners. The session sends its commands as
set-up traffic, so streaming never connects, wakes the toy or keeps it from its own sleep.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from enum import StrEnum
import logging
import struct
from typing import Any

from . import commands as cmd
from .errors import BB8Error
from .models import Listeners, SessionCounters, Subscription
from .motion import (
    BASE_RATE_HZ,
    FRAMES_PER_PACKET,
    IMU_ANGLES_MASK,
    ODOMETER_MASK2,
    STREAM_DIVISOR,
    VELOCITY_MASK2,
    MotionSample,
    MotionTracker,
    StreamLayout,
    decode_frames,
)
from .protocol import Response

_LOGGER = logging.getLogger(__name__)


class MotionGroup(StrEnum):
    """What a motion consumer wants streamed."""

    ATTITUDE = "attitude"
    """Pitch, roll and yaw (mask 1: IMU angles, filtered)."""
    LOCATION = "location"
    """Position, distance, speed, moving (mask 2: odometer and velocity)."""


_GROUP_MASKS: dict[MotionGroup, tuple[int, int]] = {
    MotionGroup.ATTITUDE: (IMU_ANGLES_MASK, 0),
    MotionGroup.LOCATION: (0, ODOMETER_MASK2 | VELOCITY_MASK2),
}

type Sender = Callable[[cmd.Command], Awaitable[Response]]

_STOPPED = StreamLayout(0, 0)


def streaming_command(layout: StreamLayout) -> cmd.Command:
    """Return SetDataStreaming for ``layout`` at 10 Hz, one frame per packet, forever."""
    return cmd.set_data_streaming(STREAM_DIVISOR, FRAMES_PER_PACKET, layout.mask, 0, layout.mask2)


def layout_of(command: cmd.Command) -> StreamLayout:
    """Return the layout a SetDataStreaming command asks for."""
    mask = struct.unpack(">I", command.data[4:8])[0]
    mask2 = struct.unpack(">I", command.data[9:13])[0] if len(command.data) >= 13 else 0
    return StreamLayout(mask, mask2)


class MotionStream:
    """One toy's sensor stream: demand, the masks the toy was told, decoded motion."""

    def __init__(self, name: str, counters: SessionCounters, on_demand_change: Callable[[], None]) -> None:
        """Start with no demand; ``on_demand_change()`` is called when the wanted masks change."""
        self._name = name
        self._on_demand_change = on_demand_change
        self._demand: dict[int, frozenset[MotionGroup]] = {}
        self._next_key = 0
        self._listeners: Listeners[[]] = Listeners(name, "motion", counters)
        self._applied: StreamLayout | None = None
        """What the toy acknowledged on this link (None: not known, e.g. after a connect)."""
        self._expected: list[StreamLayout] = []
        """Layouts packets may arrive in: the acknowledged one and any sent since."""
        self._updating = False
        self.tracker = MotionTracker()
        self.frames_received = 0
        self.malformed_packets = 0
        self.unexpected_packets = 0

    # ------------------------------------------------------------------ demand

    def request(self, groups: Iterable[MotionGroup]) -> Subscription:
        """Want ``groups`` streamed while the returned subscription is active."""
        key = self._next_key
        self._next_key += 1
        before = self.wanted
        self._demand[key] = frozenset(groups)

        def _release() -> None:
            before = self.wanted
            self._demand.pop(key, None)
            if self.wanted != before:
                self._on_demand_change()

        if self.wanted != before:
            self._on_demand_change()
        return Subscription(_release)

    @property
    def wanted(self) -> StreamLayout:
        """The layout the current demand asks for (no bits: nothing wanted)."""
        mask = mask2 = 0
        for groups in self._demand.values():
            for group in groups:
                mask |= _GROUP_MASKS[group][0]
                mask2 |= _GROUP_MASKS[group][1]
        return StreamLayout(mask, mask2)

    @property
    def streaming(self) -> bool:
        """Whether the toy acknowledged a stream with some bits set on this link."""
        return self._applied is not None and self._applied != _STOPPED

    def setup_command(self) -> cmd.Command:
        """Return what a fresh link needs: the wanted stream, or a stop if nothing is wanted.

        A toy that stayed awake while the link was down (or while Home Assistant restarted)
        may still stream what it was last told, so with no demand the stream is stopped.
        """
        return streaming_command(self.wanted)

    def next_command(self) -> cmd.Command | None:
        """Return the command that brings the toy to the wanted stream, or None if it is there."""
        wanted = self.wanted
        if self._applied == wanted or (self._applied is None and wanted == _STOPPED):
            return None
        return streaming_command(wanted)

    def sent(self, command: cmd.Command) -> None:
        """Note that ``command`` was written: its packets may arrive before its answer."""
        layout = layout_of(command)
        if layout not in self._expected:
            self._expected.append(layout)

    def applied(self, command: cmd.Command) -> None:
        """Note that the toy acknowledged ``command``: packets now come in its layout."""
        layout = layout_of(command)
        self._applied = layout
        self._expected = [layout]

    async def update(self, send: Sender) -> None:
        """Tell the toy the wanted stream until it has it; one update at a time.

        Runs over a link that is set up; a failure is logged and left to the next connect,
        whose set-up sends the wanted stream again.
        """
        if self._updating:
            return
        self._updating = True
        try:
            while (command := self.next_command()) is not None:
                self.sent(command)
                await send(command)
                self.applied(command)
        except BB8Error as err:
            _LOGGER.debug("%s: changing the sensor stream failed: %s", self._name, err)
        finally:
            self._updating = False

    # ------------------------------------------------------------------ the link

    def link_changed(self, connected: bool) -> None:
        """Forget what the toy was told and what it said when a link goes (or a new one comes)."""
        if connected:
            return
        had_sample = self.tracker.sample is not None
        self._applied = None
        self._expected = []
        self.tracker.link_lost()
        if had_sample:
            self._listeners.notify()

    # ------------------------------------------------------------------ packets

    def absorb(self, data: bytes) -> None:
        """Decode a sensor-stream packet into the tracker; drop (and count) one that does not fit."""
        layouts = [layout for layout in reversed(self._expected) if layout.values_per_frame]
        if not layouts:
            # Not asked for on this link (yet), or a packet still in flight after a stop.
            self.unexpected_packets += 1
            _LOGGER.debug("%s: dropping a sensor stream packet nobody asked for", self._name)
            return
        for layout in layouts:
            try:
                frames = decode_frames(layout, data, FRAMES_PER_PACKET)
            except ValueError:
                continue
            for frame in frames:
                self.frames_received += 1
                self.tracker.add(MotionSample.from_frame(frame))
            self._listeners.notify()
            return
        self.malformed_packets += 1
        _LOGGER.debug(
            "%s: dropping a malformed sensor stream packet (%d bytes, expected %s)",
            self._name,
            len(data),
            self._expected,
        )

    # ------------------------------------------------------------------ observation

    @property
    def sample(self) -> MotionSample | None:
        """The latest sample of this link, None before the first or while the link is down."""
        return self.tracker.sample

    @property
    def distance(self) -> float:
        """Centimetres travelled since the last reset (see ``MotionTracker``)."""
        return self.tracker.distance

    def reset_distance(self) -> None:
        """Restart the distance at 0 (the locator was just moved to 0,0)."""
        self.tracker.reset()
        self._listeners.notify()

    def add_listener(self, callback: Callable[[], None]) -> Subscription:
        """Call ``callback()`` after each decoded packet and when the motion is forgotten."""
        return self._listeners.add(callback)

    @property
    def listener_count(self) -> int:
        """Motion listeners and demand requests (leak checks)."""
        return len(self._listeners) + len(self._demand)

    def clear(self) -> None:
        """Forget every listener and request (the session is closing)."""
        self._listeners.clear()
        self._demand.clear()

    def diagnostics(self) -> dict[str, Any]:
        """Return the stream's state for the diagnostics download."""
        wanted = self.wanted
        return {
            "streaming": self.streaming,
            "wanted": sorted({str(group) for groups in self._demand.values() for group in groups}),
            "mask": f"0x{wanted.mask:08x}",
            "mask2": f"0x{wanted.mask2:08x}",
            "rate_hz": BASE_RATE_HZ / STREAM_DIVISOR,
            "frames_received": self.frames_received,
            "malformed_packets": self.malformed_packets,
            "unexpected_packets": self.unexpected_packets,
        }
