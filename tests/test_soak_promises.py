"""The soaks' bounds are the README's numbers, and the README still says them (soak.promises)."""

from __future__ import annotations

from pathlib import Path
import re

import pytest

from soak import promises
from soak.week import CONNECTS_PER_START, RECONNECT_BOUND, WAKE_TIME, WeekReport

README = Path(__file__).resolve().parents[1] / "README.md"


def _spaced(text: str) -> str:
    """``text`` with every run of whitespace (the README's line breaks) as one space."""
    return " ".join(text.split())


def _number_in(written: str) -> float:
    """The number ``written`` says: ``2 s`` is 2, ``±20 %`` is 0.2."""
    found = re.search(r"\d+(?:\.\d+)?", written)
    assert found is not None, f"no number in {written!r}"
    number = float(found.group())
    return number / 100 if "%" in written else number


@pytest.mark.parametrize("promise", promises.ALL, ids=lambda promise: promise.written)
def test_the_readme_still_says_every_number_the_soaks_hold_the_integration_to(
    promise: promises.Promise,
) -> None:
    assert promise.written in promise.words
    assert _number_in(promise.written) == promise.value
    assert _spaced(promise.words) in _spaced(README.read_text(encoding="utf-8")), (
        f"README.md no longer says {promise.words!r}: change the bound in soak/promises.py with it"
    )


def test_the_weeks_bounds_are_the_readmes_numbers_before_any_session_exists() -> None:
    """Read from nowhere else: the report carries them before the week has set a toy up."""
    report = WeekReport(toys=1, days=1, seed=0)
    assert report.use_bound == WAKE_TIME == 4.0
    assert report.reconnect_bound == report.restore_bound == RECONNECT_BOUND == pytest.approx(2 * 1.2 + 1)
    assert report.connects_per_start_bound == CONNECTS_PER_START == 0
