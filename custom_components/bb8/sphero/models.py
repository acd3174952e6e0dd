"""Plain types the session's parts share: states, modes, purposes, counters, listeners, seams.

No behaviour beyond a dataclass's own, so every part (and its tests) can use it alone.
``ToyModel`` is the seam each protocol plugs into (``sphero_v1.SPHERO_V1``, the models of
``sphero_v2``): framing, handshake, and the commands the session's own verbs send.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
import logging
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .commands import Command
    from .motion_stream import StreamCodec
    from .protocol import Packet
    from .toy_state import ToyState

_LOGGER = logging.getLogger(__name__)


class SessionState(StrEnum):
    """Where the link is. CLOSING and CLOSED are the only record that ``close()`` was called."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTING = "disconnecting"
    CLOSING = "closing"
    CLOSED = "closed"


class ConnectionMode(StrEnum):
    """Keep the link up (reconnecting by policy), or connect per use and drop when idle."""

    ALWAYS = "always"
    ON_DEMAND = "on_demand"


class Purpose(StrEnum):
    """Why a command is sent. Only use may make a link, and only use keeps an on-demand link up.

    An on-demand link exists to serve people: if polls or the session's own traffic counted as
    use, a poll more frequent than the idle timeout would hold the proxy's connection slot for
    ever, and a poll that connected would wake a sleeping toy.
    """

    USE = "use"
    """A person or an automation asked for it. It connects when needed (on demand, after the
    toy slept, after the reconnect policy gave up) and restarts the on-demand idle time."""
    POLL = "poll"
    """A periodic read. Sent only over a link that is up; never extends the idle time."""
    SETUP = "setup"
    """The session's after-connect set-up and re-applied requested settings. Sent only over the link that is
    up; never extends the idle time, and its success does not reset the reconnect backoff (a
    link that drops seconds after every connect must still back off)."""
    SAFETY = "safety"
    """A stop the session sends by itself (a timed roll's end, a cancelled caller's roll, closing).
    Sent only over a link that is up: without one the toy has already stopped (stop on
    disconnect), and connecting to stop it would wake a sleeping toy."""


@dataclass(slots=True)
class SessionCounters:
    """What diagnostics show about the link's life."""

    connects: int = 0
    connect_failures: int = 0
    drops: int = 0
    reconnect_attempts: int = 0
    commands_sent: int = 0
    commands_failed: int = 0
    commands_coalesced: int = 0
    commands_timed_out: int = 0
    notifications: int = 0
    stale_notifications: int = 0
    dropped_bytes: int = 0
    unmatched_responses: int = 0
    listener_errors: int = 0
    last_error: str | None = None


@dataclass(slots=True)
class RequestedSettings:
    """The toy's requested settings: what a person or an automation asked it to show.

    The toy forgets it when it sleeps or the link drops, so the session re-applies every setting
    that is not None after each connect and wake.
    """

    main_led: tuple[int, int, int] | None = None
    tail_light: int | None = None
    """The aiming light's brightness (a v1 toy's back LED, a Mini's or BB-9E's aiming LED)."""
    stabilization: bool | None = None
    front_led: tuple[int, int, int] | None = None
    """An R2 unit's front LED (the v2 droids' parts below: ``sphero_v2.DROID_LEDS``)."""
    back_led: tuple[int, int, int] | None = None
    logic_displays: int | None = None
    holo_projector: int | None = None
    head_light: int | None = None
    """A BB-9E's head LED's brightness."""


class Reader(Protocol):
    """A toy model's inbound decoder: notification bytes in, whole packets out, never raising."""

    @property
    def pending(self) -> int:
        """Bytes held while waiting for the rest of a packet."""

    def feed(self, fragment: bytes | bytearray) -> list[Packet]:
        """Add one notification's bytes; return the packets they complete, in order."""

    def skip_stale_head(self) -> list[Packet]:
        """Give up on an incomplete packet that waited too long; return what follows it."""

    def reset(self) -> None:
        """Forget a partial packet (the link it came over is gone)."""


class ToyModel(Protocol):
    """What a toy model supplies: its GATT layout, codec, handshake, and its own verbs' commands.

    The link and the pipeline only move bytes and match sequence numbers, and the session sends
    what this names for a roll, a stop, a sleep and the after-connect set-up; everything that
    depends on how a toy frames packets, is woken or is told to move comes from here.
    """

    commands_char: str
    """The characteristic commands are written to."""
    notify_char: str
    """The characteristic answers and unasked packets arrive on."""
    max_chunk: int
    """The most bytes one GATT write carries."""
    sequence_numbers: int
    """How many sequence numbers requests use, counting from 0."""
    speaks_v1: bool
    """Whether the toy speaks the Sphero API 1.x: the session's v1-only verbs (aim, heading, self
    level, the power state) are sent to such a toy only."""
    stops_on_disconnect: bool
    """Whether the toy stops by itself when its link goes. A v1 toy does (an option every connect
    sets); no v2 equivalent is known, so a v2 toy may roll on without its link."""

    @property
    def sensor_stream(self) -> StreamCodec:
        """How the toy streams motion (``motion_stream.StreamCodec``).

        The commands for a layout, the id and decoding of the packets, the locator reset.
        """

    def encode(self, command: Command, seq: int, reset_timeout: bool) -> bytes:
        """Frame ``command`` with sequence number ``seq``."""

    def reader(self, on_drop: Callable[[bytes, str], None]) -> Reader:
        """Return a fresh decoder for one session's notifications."""

    async def handshake(self, client: Any) -> None:
        """Make a freshly connected (and subscribed) toy accept commands."""

    async def wake(self, client: Any) -> None:
        """Wake the toy over a link that is up."""

    def ready_probe(self) -> Command:
        """Return a harmless command whose answer proves the toy listens."""

    def roll(self, speed: int, heading: int) -> Command:
        """Return the command that rolls at ``speed`` towards ``heading``."""

    def stop(self, heading: int) -> Command:
        """Return the command that stops, keeping ``heading``."""

    def sleep(self) -> Command:
        """Return the command that puts the toy to sleep (one a connect wakes it from)."""

    def setup_commands(self, toy: ToyState) -> list[Command]:
        """Return what every connect sends before the requested settings."""

    def poll_commands(self) -> list[Command]:
        """Return the queries a periodic poll sends (the battery's), answered into ``ToyState``."""

    def setting_command(self, name: str, setting: Any) -> Command:
        """Return the command that shows ``setting`` (a ``RequestedSettings`` field) on the toy.

        Raises ``NotSupportedError`` for a setting the toy has no part for.
        """


class Subscription:
    """A token for a listener; ``cancel()`` removes it. ``close()`` cancels them all."""

    __slots__ = ("_remove", "active")

    def __init__(self, remove: Callable[[], None]) -> None:
        """Remember how to remove the listener."""
        self._remove = remove
        self.active = True

    def cancel(self) -> None:
        """Remove the listener; calling twice is harmless."""
        if self.active:
            self.active = False
            self._remove()

    __call__ = cancel


class Listeners[**P]:
    """A set of callbacks, each wrapped so a faulty one cannot break the link."""

    def __init__(self, name: str, kind: str, counters: SessionCounters) -> None:
        """Name the owner and the kind for the log; count failures in ``counters``."""
        self._name = name
        self._kind = kind
        self._counters = counters
        self._callbacks: dict[int, Callable[P, None]] = {}
        self._next = 0

    def add(self, callback: Callable[P, None]) -> Subscription:
        """Register ``callback``; the returned token removes it."""
        key = self._next
        self._next += 1
        self._callbacks[key] = callback
        return Subscription(lambda: self._callbacks.pop(key, None) and None)

    def __len__(self) -> int:
        """How many callbacks are registered."""
        return len(self._callbacks)

    def clear(self) -> None:
        """Forget every callback."""
        self._callbacks.clear()

    def notify(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Call every callback; one that raises is logged and counted, the rest still run."""
        for callback in list(self._callbacks.values()):
            try:
                callback(*args, **kwargs)
            except Exception:
                self._counters.listener_errors += 1
                _LOGGER.exception("%s: a %s listener failed", self._name, self._kind)
