"""When to try the next connection: capped exponential backoff with jitter.

bleak-retry-connector already retries a few times inside one ``establish_connection``; this policy
decides how long the session rests between such connects after they fail or the link drops.
The random source is injectable so tests can pin the exact delay sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
import logging
import random

_LOGGER = logging.getLogger(__name__)


class FailureReason(StrEnum):
    """Why a connection attempt failed or a link was lost, as the policy and logs see it."""

    NOT_FOUND = "not_found"
    OUT_OF_SLOTS = "out_of_slots"
    ABORTED = "aborted"
    TIMEOUT = "timeout"
    HANDSHAKE = "handshake"
    CONNECTION = "connection"
    DROPPED = "dropped"
    ASLEEP = "asleep"


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Backoff settings.

    The n-th delay (from 0) is ``min(max_delay, initial_delay * multiplier**n)``, scaled by a
    random factor in ``[1 - jitter, 1 + jitter]`` and capped again, so many toys that lost their
    proxy together do not all come back in the same instant. ``max_attempts`` None retries forever.
    Running out of proxy connection slots waits at least ``out_of_slots_delay``: retrying sooner
    only competes with whatever holds the slots.
    """

    initial_delay: float = 2.0
    max_delay: float = 300.0
    multiplier: float = 2.0
    jitter: float = 0.2
    max_attempts: int | None = None
    stable_window: float = 60.0
    out_of_slots_delay: float = 30.0

    def __post_init__(self) -> None:
        """Refuse settings that would spin or never wait."""
        if self.initial_delay <= 0 or self.max_delay < self.initial_delay:
            raise ValueError("need 0 < initial_delay <= max_delay")
        if self.multiplier < 1:
            raise ValueError("multiplier must be at least 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1 (or None for unlimited)")
        if self.stable_window < 0 or self.out_of_slots_delay < 0:
            raise ValueError("windows and delays cannot be negative")

    def delay(self, attempt: int, rng: random.Random, reason: FailureReason | None = None) -> float:
        """Delay before attempt number ``attempt`` (0 is the first retry)."""
        base = min(self.max_delay, self.initial_delay * self.multiplier ** min(attempt, 64))
        if self.jitter:
            base *= 1 + rng.uniform(-self.jitter, self.jitter)
        delay = min(self.max_delay, base)
        if reason is FailureReason.OUT_OF_SLOTS:
            delay = max(delay, min(self.out_of_slots_delay, self.max_delay))
        return delay


@dataclass(slots=True)
class Backoff:
    """The running state of a policy: how many attempts since the last reset."""

    policy: ReconnectPolicy
    rng: random.Random = field(default_factory=random.Random)
    name: str = ""
    """The toy's name, for the log."""
    attempts: int = 0

    def next_delay(self, reason: FailureReason) -> float | None:
        """Count one more attempt and return its delay, or None once the policy gives up."""
        if self.policy.max_attempts is not None and self.attempts >= self.policy.max_attempts:
            return None
        delay = self.policy.delay(self.attempts, self.rng, reason)
        self.attempts += 1
        return delay

    def reset(self, why: str) -> None:
        """Start over from the first delay (a stable window passed or a command succeeded)."""
        if self.attempts:
            self.attempts = 0
            _LOGGER.debug("%s: backoff reset (%s)", self.name, why)
