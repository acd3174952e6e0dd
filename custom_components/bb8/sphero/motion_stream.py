"""Sensor streaming on demand: who wants motion, what the toy is told to stream, and its packets.

Entities ask for motion values (``request``); from that demand this builds the commands the toy
needs now (a stop with all-zero masks once nobody wants anything; sent again on every connect,
because the toy may remember an old stream), decodes the packets that arrive into
``motion.MotionTracker`` and tells the motion listeners. The session sends its commands as
set-up traffic, so streaming never connects, wakes the toy or keeps it from its own sleep.

Which commands ask for a layout, which unasked packet carries the values and how one decodes is
the toy's protocol's business: a ``StreamCodec`` that its ``models.ToyModel`` supplies (v1's is
``V1_STREAM`` here, v2's ``motion_v2.V2_STREAM``). ``MotionStream`` keeps the demand, what the
toy acknowledged and which layouts packets may arrive in, the same for both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from enum import StrEnum
import logging
import struct
from typing import Any, Final, Protocol

from . import commands as cmd
from .const import AsyncId
from .errors import BB8Error
from .models import Listeners, SessionCounters, Subscription
from .motion import (
    BASE_RATE_HZ,
    FRAMES_PER_PACKET,
    IMU_ANGLES_MASK,
    ODOMETER_MASK2,
    STREAM_DIVISOR,
    VELOCITY_MASK2,
    Masks,
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
    """Pitch, roll and yaw."""
    LOCATION = "location"
    """Position, distance, speed, moving: the locator's position and velocity."""


class StreamCodec(Protocol):
    """How one protocol streams motion: the masks, the commands, the packets and the locator reset."""

    group_masks: Mapping[MotionGroup, Masks]
    """The bits each motion group sets."""
    async_id: int
    """The ``AsyncPacket.id_code`` the values arrive in."""
    rate_hz: float
    """Packets a second the commands ask for."""

    def commands(self, masks: Masks) -> list[cmd.Command]:
        """Return what tells the toy to stream ``masks`` (all zero: stop), in the order to send them."""

    def masks_of(self, command: cmd.Command) -> Masks | None:
        """Return the layout the toy streams once it answered ``command``.

        None for a command that is no stream command, or one that is a step on the way (the
        layout is in force only after the last of ``commands``).
        """

    def decode(self, masks: Masks, data: bytes) -> list[MotionSample]:
        """Decode a packet sent under ``masks``; ``ValueError`` if it does not fit them."""

    def reset_locator(self, heading: int) -> cmd.Command:
        """Return the command that moves the locator to 0,0 (``heading``: where the toy faces now)."""


class SensorStreamV1:
    """The v1 sensor stream (the Sphero API 1.50's SetDataStreaming, async 0x03: see ``motion``)."""

    group_masks: Mapping[MotionGroup, Masks] = {
        MotionGroup.ATTITUDE: Masks(IMU_ANGLES_MASK, 0),
        MotionGroup.LOCATION: Masks(0, ODOMETER_MASK2 | VELOCITY_MASK2),
    }
    async_id: int = AsyncId.SENSOR_STREAM
    rate_hz = BASE_RATE_HZ / STREAM_DIVISOR

    def commands(self, masks: Masks) -> list[cmd.Command]:
        """SetDataStreaming at 10 Hz, one frame per packet, forever: one command sets both masks."""
        return [streaming_command(StreamLayout(masks.mask, masks.mask2))]

    def masks_of(self, command: cmd.Command) -> Masks | None:
        """Return the masks of a SetDataStreaming command, in force once it is answered."""
        if command.name != "set_data_streaming":
            return None
        layout = layout_of(command)
        return Masks(layout.mask, layout.mask2)

    def decode(self, masks: Masks, data: bytes) -> list[MotionSample]:
        """int16 frames in the specification's units (``motion.decode_frames``)."""
        frames = decode_frames(StreamLayout(masks.mask, masks.mask2), data, FRAMES_PER_PACKET)
        return [MotionSample.from_frame(frame) for frame in frames]

    def reset_locator(self, heading: int) -> cmd.Command:
        """ConfigureLocator to 0,0 with +Y the way the toy faces (yaw tare 0 faces +Y, the spec says)."""
        return cmd.configure_locator(x=0, y=0, yaw_tare=heading)


V1_STREAM: Final = SensorStreamV1()

type Sender = Callable[[cmd.Command], Awaitable[Response]]


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

    def __init__(
        self,
        name: str,
        counters: SessionCounters,
        on_demand_change: Callable[[], None],
        codec: StreamCodec = V1_STREAM,
    ) -> None:
        """Start with no demand; ``on_demand_change()`` is called when the wanted masks change.

        ``codec`` is how the toy's protocol streams (its ``models.ToyModel.sensor_stream``).
        """
        self._name = name
        self._on_demand_change = on_demand_change
        self.codec = codec
        self._demand: dict[int, frozenset[MotionGroup]] = {}
        self._next_key = 0
        self._listeners: Listeners[[]] = Listeners(name, "motion", counters)
        self._applied: Masks | None = None
        """What the toy acknowledged on this link (None: not known, e.g. after a connect)."""
        self._expected: list[Masks] = []
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
    def wanted(self) -> Masks:
        """The layout the current demand asks for (no bits: nothing wanted)."""
        mask = mask2 = 0
        for groups in self._demand.values():
            for group in groups:
                mask |= self.codec.group_masks[group].mask
                mask2 |= self.codec.group_masks[group].mask2
        return Masks(mask, mask2)

    @property
    def async_id(self) -> int:
        """The id of the unasked packets that carry the stream (the codec's)."""
        return self.codec.async_id

    @property
    def streaming(self) -> bool:
        """Whether the toy acknowledged a stream with some bits set on this link."""
        return self._applied is not None and self._applied.streams

    def setup_commands(self) -> list[cmd.Command]:
        """Return what a fresh link needs: the wanted stream, or a stop if nothing is wanted.

        A toy that stayed awake while the link was down (or while Home Assistant restarted)
        may still stream what it was last told, so with no demand the stream is stopped.
        """
        return self.codec.commands(self.wanted)

    def next_commands(self) -> list[cmd.Command]:
        """Return what brings the toy to the wanted stream; empty if it is there."""
        wanted = self.wanted
        if self._applied == wanted or (self._applied is None and not wanted.streams):
            return []
        return self.codec.commands(wanted)

    def sent(self, command: cmd.Command) -> None:
        """Note that ``command`` was written: its packets may arrive before its answer."""
        masks = self.codec.masks_of(command)
        if masks is not None and masks not in self._expected:
            self._expected.append(masks)

    def applied(self, command: cmd.Command) -> None:
        """Note that the toy acknowledged ``command``: once it is the last step, packets come in its layout."""
        masks = self.codec.masks_of(command)
        if masks is None:
            return
        self._applied = masks
        self._expected = [masks]

    async def update(self, send: Sender) -> None:
        """Tell the toy the wanted stream until it has it; one update at a time.

        Runs over a link that is set up; a failure is logged and left to the next connect,
        whose set-up sends the wanted stream again.
        """
        if self._updating:
            return
        self._updating = True
        try:
            while commands := self.next_commands():
                for command in commands:
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
        layouts = [masks for masks in reversed(self._expected) if masks.streams]
        if not layouts:
            # Not asked for on this link (yet), or a packet still in flight after a stop.
            self.unexpected_packets += 1
            _LOGGER.debug("%s: dropping a sensor stream packet nobody asked for", self._name)
            return
        for masks in layouts:
            try:
                samples = self.codec.decode(masks, data)
            except ValueError:
                continue
            for sample in samples:
                self.frames_received += 1
                self.tracker.add(sample)
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
            "rate_hz": self.codec.rate_hz,
            "frames_received": self.frames_received,
            "malformed_packets": self.malformed_packets,
            "unexpected_packets": self.unexpected_packets,
        }
