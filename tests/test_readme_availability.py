"""The README's "Availability and reconnection" section, sentence by sentence.

Each test's name says the sentence it proves. The first bullet (available while linked or
advertising; about 195 s; going and coming back logged once) is proved in test_availability.py:
``test_toy_that_still_advertises_stays_available_without_a_link``,
``test_linked_toy_stays_available_after_bluetooth_calls_it_gone`` and
``test_without_link_or_advertisements_entities_go_unavailable_and_come_back``. The reconnect waits
and the longest wait are proved with the options in test_options.py
(``test_longest_wait_caps_the_doubling_wait_between_reconnects``).
"""

from __future__ import annotations

import logging

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bb8sim import SimulatedBB8
from bb8sim.faults import ConnectFailure

from .conftest import LoopClock, toy_is_set_up, wait_for
from .test_options import SESSION_LOGGER, reconnect_delays

SLOT_ADVICE = "has no free connection slot"
SLOT_BACK = "connection slot again"


def session_messages(caplog: pytest.LogCaptureFixture, text: str, level: int = logging.INFO) -> int:
    return sum(
        1
        for record in caplog.records
        if record.name == SESSION_LOGGER and record.levelno >= level and text in record.getMessage()
    )


async def test_running_out_of_proxy_slots_waits_at_least_30s_and_logs_advice_once_per_episode(
    hass: HomeAssistant,
    ready_entry: MockConfigEntry,
    toy: SimulatedBB8,
    loop_clock: LoopClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 13, item 7: the advice is logged once per episode, not on every attempt."""
    caplog.set_level(logging.INFO, logger=SESSION_LOGGER)
    session = ready_entry.runtime_data.session
    for episode in (1, 2):
        toy.faults.connect_failure = ConnectFailure.OUT_OF_SLOTS
        toy.faults.refuse_connect = True
        delays_before = len(reconnect_delays(caplog))
        toy.disconnect_now()
        wanted = delays_before + 4
        await loop_clock.advance_until(lambda n=wanted: len(reconnect_delays(caplog)) >= n, limit=600)
        # The first wait follows the drop (2 s); every wait after an out-of-slots failure is long.
        assert min(reconnect_delays(caplog)[delays_before + 1 :]) >= 30.0
        assert session_messages(caplog, SLOT_ADVICE, logging.WARNING) == episode, "once per episode"

        # The slot comes back: connected again, and that is said once too.
        toy.faults.refuse_connect = False
        await loop_clock.advance_until(lambda: session.is_connected, limit=60)
        await wait_for(toy_is_set_up(ready_entry, toy))
        assert session_messages(caplog, SLOT_BACK) == episode
        await loop_clock.advance(61)  # a stable link: the next episode's waits start over
