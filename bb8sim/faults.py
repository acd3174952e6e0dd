"""Fault injection for the simulated BB-8: everything off by default, seeded, changeable at runtime.

A :class:`FaultPlan` is plain data the toy and its bleak backend consult at the moment a fault
could happen, so a test can flip a knob halfway through a session. Random choices draw from the
plan's own ``random.Random(seed)`` and only when a probability is above zero, so turning on one
fault never shifts the random sequence of another and every run with the same seed is the same.

Link latency (``response_delay``, ``write_latency``, ``connect_latency``) runs on the event loop's
clock (``asyncio.sleep`` / ``loop.call_at``): it models the radio, not the toy, and the code under
test must survive it with its own timeouts, which run on the same clock. That clock is real time,
or simulated time where a test drives the loop's clock (``tests.conftest.LoopClock``: a delay
then passes when simulated time does, never by real time passing). The toy's own behaviour runs
on the simulated clock.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
import random
from typing import Final

from bleak.exc import BleakError

# bleak-retry-connector classifies a connect error as "out of connection slots" when its text
# contains "available connection" or "connection slot" (OUT_OF_SLOTS_ERRORS in its 3.9.0
# __init__.py); this message carries both, as an ESPHome proxy's does.
OUT_OF_SLOTS_MESSAGE: Final = (
    "No available connection slot: the simulated Bluetooth proxy is out of connection slots"
)
REFUSED_MESSAGE: Final = "Simulated BB-8 refused the connection"
UNEXPECTED_ERROR_MESSAGE: Final = "simulated firmware bug"


class ConnectFailure(StrEnum):
    """How a refused connect fails."""

    ERROR = "error"
    """A plain ``BleakError`` that bleak-retry-connector counts as a connect error."""
    TIMEOUT = "timeout"
    """``TimeoutError``, what bleak raises when the toy never answers the connect."""
    OUT_OF_SLOTS = "out_of_slots"
    """A ``BleakError`` whose text bleak-retry-connector recognises as out of connection slots."""


@dataclass
class FaultPlan:
    """What goes wrong, and how often. All knobs are off by default and may change at any time."""

    seed: int = 0
    """Seed of :attr:`rng`; :meth:`reseed` restarts the sequence."""

    refuse_connect: bool = False
    """Every connect fails (with :attr:`connect_failure`) while this is set."""
    connect_failures: int = 0
    """The next N connects fail (with :attr:`connect_failure`); counts down."""
    connect_failure: ConnectFailure = ConnectFailure.ERROR
    """The kind of failure a refused connect raises."""
    connect_latency: float = 0.0
    """Seconds of loop time a connect takes (``asyncio.sleep``)."""
    unexpected_connect_error: bool = False
    """Every connect raises ``RuntimeError`` (not a Bluetooth error: a bug somewhere) while set."""

    drop_response_probability: float = 0.0
    """Probability that a response packet is lost on the way back (async packets are not)."""
    drop_next_responses: int = 0
    """The next N responses are lost; counts down (deterministic alternative to a probability)."""
    response_delay: float = 0.0
    """Seconds of loop time a response takes to arrive; later notifications queue behind it."""

    disconnect_on_write: int | None = None
    """The N-th command write from now (1 = the next) drops the link instead of arriving."""

    corrupt_probability: float = 0.0
    """Probability that a notification chunk has bytes flipped."""
    corrupt_next_notifications: int = 0
    """The next N notification chunks are corrupted; counts down."""
    corrupt_bytes: int = 1
    """How many bytes of a corrupted chunk are flipped."""

    pacing: bool = False
    """Drop a command that completes sooner than :attr:`min_interval` after the last accepted one."""
    min_interval: float = 0.05
    """Pacing interval in seconds of the event loop's time (bb8-esphome throttles to 50 ms)."""

    write_latency: float = 0.0
    """Seconds of loop time every GATT write takes (``asyncio.sleep``), e.g. for benchmarks."""

    rng: random.Random = field(init=False, repr=False)
    stats: Counter[str] = field(init=False, repr=False)
    """How often each fault struck, by name (``response_dropped``, ``dropped_for_pacing``, ...)."""

    def __post_init__(self) -> None:
        """Seed the random source and start the counters at zero."""
        self.rng = random.Random(self.seed)
        self.stats = Counter()

    def reseed(self, seed: int | None = None) -> None:
        """Restart the random sequence (with a new seed if given)."""
        if seed is not None:
            self.seed = seed
        self.rng = random.Random(self.seed)

    def clear(self) -> None:
        """Turn every fault off again (counters and the random sequence are kept)."""
        fresh = FaultPlan(seed=self.seed)
        for name in (
            "refuse_connect",
            "connect_failures",
            "connect_failure",
            "connect_latency",
            "unexpected_connect_error",
            "drop_response_probability",
            "drop_next_responses",
            "response_delay",
            "disconnect_on_write",
            "corrupt_probability",
            "corrupt_next_notifications",
            "corrupt_bytes",
            "pacing",
            "min_interval",
            "write_latency",
        ):
            setattr(self, name, getattr(fresh, name))

    # -- decisions, each consuming what it uses ---------------------------------------------

    def take_connect_failure(self, address: str) -> BaseException | None:
        """Return the exception this connect attempt must fail with, or None to let it through."""
        if not self.refuse_connect and self.connect_failures <= 0:
            return None
        if self.connect_failures > 0:
            self.connect_failures -= 1
        self.stats[f"connect_{self.connect_failure.value}"] += 1
        match self.connect_failure:
            case ConnectFailure.TIMEOUT:
                return TimeoutError(f"Timed out connecting to simulated BB-8 {address}")
            case ConnectFailure.OUT_OF_SLOTS:
                return BleakError(f"{OUT_OF_SLOTS_MESSAGE} ({address})")
            case _:
                return BleakError(f"{REFUSED_MESSAGE} ({address})")

    def take_unexpected_connect_error(self) -> RuntimeError | None:
        """Return the non-Bluetooth error this connect must raise, or None."""
        if not self.unexpected_connect_error:
            return None
        self.stats["connect_unexpected_error"] += 1
        return RuntimeError(UNEXPECTED_ERROR_MESSAGE)

    def take_response_drop(self) -> bool:
        """Whether the response about to be sent is lost."""
        if self.drop_next_responses > 0:
            self.drop_next_responses -= 1
            self.stats["response_dropped"] += 1
            return True
        if self.drop_response_probability > 0 and self.rng.random() < self.drop_response_probability:
            self.stats["response_dropped"] += 1
            return True
        return False

    def take_disconnect_on_write(self) -> bool:
        """Whether this command write is the one that drops the link."""
        if self.disconnect_on_write is None:
            return False
        self.disconnect_on_write -= 1
        if self.disconnect_on_write > 0:
            return False
        self.disconnect_on_write = None
        self.stats["disconnect_on_write"] += 1
        return True

    def corrupt(self, chunk: bytes) -> bytes:
        """Return ``chunk``, with bytes flipped if this chunk is to be corrupted."""
        if not chunk:
            return chunk
        if self.corrupt_next_notifications > 0:
            self.corrupt_next_notifications -= 1
        elif not (self.corrupt_probability > 0 and self.rng.random() < self.corrupt_probability):
            return chunk
        data = bytearray(chunk)
        # Distinct positions, each XORed with a non-zero value, so every chosen byte really changes.
        for index in self.rng.sample(range(len(data)), min(len(data), max(1, self.corrupt_bytes))):
            data[index] ^= self.rng.randrange(1, 0x100)
        self.stats["notification_corrupted"] += 1
        return bytes(data)
