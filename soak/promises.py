"""The README's promises the soaks hold the integration to: literal numbers, next to the README's words.

A bound computed from the integration's own constants or reconnect policy moves with them: a
regressed default (a first reconnect wait of 20 s, a connect that may take ten attempts) would
widen the bound that was to catch it. So each bound here is the number a person reads in the
README, written out, with the README's sentence beside it; ``tests/test_soak_promises.py``
checks that the README still says every one of these sentences, so the two cannot drift apart
without a test failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Promise:
    """A number from the README, as the README writes it and in the sentence that says it."""

    value: float
    written: str
    """The number as the README writes it (e.g. ``2 s``), found within :attr:`words`."""
    words: str
    """The README's words, whitespace aside (line breaks in the README are spaces here)."""


FIRST_RECONNECT_DELAY: Final = Promise(
    2.0,
    "2 s",
    "**Always connected:** after a drop the integration reconnects after 2 s, then waits twice as "
    "long after each failure",
)
RECONNECT_JITTER: Final = Promise(0.2, "±20 %", "(with ±20 % jitter so several toys don't retry in lockstep)")
READY_AFTER_WAKE: Final = Promise(
    4.0,
    "4 s",
    "the integration pings until the toy answers (up to 4 s).",
)
COMMAND_ANSWER_TIMEOUT: Final = Promise(
    5.0, "5 s", "**Timeouts**: a command the toy does not answer fails after 5 s"
)
CONNECT_TIMEOUT: Final = Promise(45.0, "45 s", "a connect (the readiness pings included) gives up after 45 s")
CONNECTS_PER_START_ASLEEP: Final = Promise(
    0,
    "0",
    "0, a start of Home Assistant during the sleep included",
)
STOP_AFTER_CANCEL: Final = Promise(
    1.0,
    "1 s",
    "Home Assistant stopping), the toy stops at once (within 1 s).",
)
OUTAGE_LOG_LINES: Final = Promise(
    2,
    "2 lines",
    "so an outage adds at most those 2 lines to the log, however long it lasts.",
)

ALL: Final = (
    FIRST_RECONNECT_DELAY,
    RECONNECT_JITTER,
    READY_AFTER_WAKE,
    COMMAND_ANSWER_TIMEOUT,
    CONNECT_TIMEOUT,
    CONNECTS_PER_START_ASLEEP,
    STOP_AFTER_CANCEL,
    OUTAGE_LOG_LINES,
)
