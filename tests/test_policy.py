"""The reconnect policy: exact delays for a seed, the cap, jitter bounds, give-up and reset."""

from __future__ import annotations

import logging
import random

import pytest

from custom_components.bb8.sphero.policy import Backoff, FailureReason, ReconnectPolicy


def test_delays_for_a_fixed_seed_are_reproducible() -> None:
    policy = ReconnectPolicy(initial_delay=1.0, max_delay=30.0, multiplier=2.0, jitter=0.2)
    first = [policy.delay(n, random.Random(42)) for n in range(8)]
    again = [policy.delay(n, random.Random(42)) for n in range(8)]
    assert first == again
    rng = random.Random(42)
    expected = []
    for n in range(8):
        base = min(30.0, 1.0 * 2.0**n) * (1 + random.Random(42).uniform(-0.2, 0.2))
        expected.append(min(30.0, base))
    assert first == pytest.approx(expected)
    sequence = Backoff(policy, rng)
    delays = [sequence.next_delay(FailureReason.DROPPED) for _ in range(8)]
    assert delays[0] == pytest.approx(1.0 * (1 + random.Random(42).uniform(-0.2, 0.2)))


def test_without_jitter_the_sequence_doubles_up_to_the_cap() -> None:
    policy = ReconnectPolicy(initial_delay=1.0, max_delay=10.0, jitter=0.0)
    backoff = Backoff(policy, random.Random(0))
    assert [backoff.next_delay(FailureReason.TIMEOUT) for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


@pytest.mark.parametrize("seed", range(20))
def test_jitter_stays_within_its_bounds_and_under_the_cap(seed: int) -> None:
    policy = ReconnectPolicy(initial_delay=2.0, max_delay=60.0, jitter=0.25)
    backoff = Backoff(policy, random.Random(seed))
    for attempt in range(12):
        delay = backoff.next_delay(FailureReason.CONNECTION)
        assert delay is not None
        base = min(60.0, 2.0 * 2**attempt)
        assert base * 0.75 - 1e-9 <= delay <= min(60.0, base * 1.25) + 1e-9


def test_finite_attempts_give_up() -> None:
    backoff = Backoff(ReconnectPolicy(max_attempts=3, jitter=0.0), random.Random(0))
    assert [backoff.next_delay(FailureReason.NOT_FOUND) for _ in range(4)] == [2.0, 4.0, 8.0, None]
    assert backoff.attempts == 3


def test_reset_starts_over_from_the_first_delay_and_logs_it(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.bb8")
    backoff = Backoff(ReconnectPolicy(initial_delay=1.0, jitter=0.0), random.Random(0), "BB-1234")
    for _ in range(4):
        backoff.next_delay(FailureReason.DROPPED)
    backoff.reset("stable connection")
    assert backoff.attempts == 0
    assert backoff.next_delay(FailureReason.DROPPED) == 1.0
    backoff.reset("nothing to reset")
    backoff.reset("again")
    resets = [record.getMessage() for record in caplog.records if "backoff reset" in record.getMessage()]
    assert resets == [
        "BB-1234: backoff reset (stable connection)",
        "BB-1234: backoff reset (nothing to reset)",
    ]


def test_out_of_slots_waits_at_least_the_slot_delay() -> None:
    policy = ReconnectPolicy(initial_delay=1.0, max_delay=300.0, jitter=0.0, out_of_slots_delay=30.0)
    assert policy.delay(0, random.Random(0), FailureReason.OUT_OF_SLOTS) == 30.0
    assert policy.delay(0, random.Random(0), FailureReason.TIMEOUT) == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial_delay": 0},
        {"initial_delay": 5, "max_delay": 1},
        {"multiplier": 0.5},
        {"jitter": 1.0},
        {"max_attempts": 0},
        {"stable_window": -1},
    ],
)
def test_settings_that_would_spin_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ReconnectPolicy(**kwargs)
