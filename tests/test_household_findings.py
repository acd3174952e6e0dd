"""What the mixed household's soak found: a disconnect on a full node must not end in an ERROR.

A full node (every slot held) makes bleak-esphome wait, after a disconnect, up to its own
``DISCONNECT_TIMEOUT`` (5 s) for a slot to be reported free. The session bounds the whole
disconnect too. When the session's bound fell due in the same turn of the loop as bleak-esphome's
wait (in the soak's simulated time, where the node's answer takes no time, they tied; on a real
loop, when it is busy across that moment, as this test makes it), the session's timeout cancelled
bleak-esphome's wait and bleak-esphome 2.12's timer then set an exception on the cancelled future:
``InvalidStateError`` reached the loop and Home Assistant logged it at ERROR (the household soak's
first 100-round run). Newer bleak-esphome checks ``fut.done()``; the session's bound now outlasts
bleak-esphome's wait, so the wait ends by itself on every release.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import logging
from unittest.mock import MagicMock, patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest

from bb8sim import SimClock, SimulatedBB8, registry
from bb8sim.esphome import SimulatedESPHomeNode
from soak.node_faults import add_esphome_node
from soak.world import simulated_world

from .conftest import LoopClock, make_entry, wait_for
from .esphome_support import running_node

TIE = 5.0
"""Seconds after which the session's bound and bleak-esphome's slot wait both fell due (5 s each)."""
BUSY = 0.5
"""Seconds the loop is busy across the moment both bounds fall due."""


@pytest.fixture
async def full_node(socket_enabled: None) -> AsyncIterator[SimulatedESPHomeNode]:
    """A node of one slot, which the toy's link takes."""
    async with running_node(slots=1) as started:
        yield started


async def test_a_disconnect_on_a_full_node_reaches_the_loop_with_no_exception(
    hass: HomeAssistant,
    enable_bluetooth: None,
    mock_async_zeroconf: MagicMock,
    sim_clock: SimClock,
    full_node: SimulatedESPHomeNode,
    loop_clock: LoopClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The toy's entry unloads while another device holds the slot its link lets go of."""
    caplog.set_level(logging.DEBUG, "bleak_esphome.backend.client")
    toy = registry.register(SimulatedBB8("C0:FF:EE:00:E5:00", clock=sim_clock))
    # Collected here and not passed on: the harness would fail the teardown of the expected failure.
    reached_the_loop: list[str] = []
    with simulated_world(loop_clock):
        assert await async_setup_component(hass, "homeassistant", {})
        esphome = await add_esphome_node(hass, full_node)
        entry = make_entry(toy)
        entry.add_to_hass(hass)
        await loop_clock.advance(15, 0.1)
        if entry.state is not ConfigEntryState.LOADED:
            await hass.config_entries.async_setup(entry.entry_id)
        await wait_for(lambda: entry.runtime_data.session.is_connected, timeout=30)
        # Another device holds the slot the toy's link lets go of: none is reported free.
        full_node.slots_taken_by_others = 1
        previous = hass.loop.get_exception_handler()
        hass.loop.set_exception_handler(
            lambda _loop, context: reached_the_loop.append(
                f"{context.get('message')}: {context.get('exception')!r}"
            )
        )
        try:
            # bleak-esphome's wait starts just after the session's bound does (the node's answer
            # to the disconnect comes between: 10 ms here) and is made to fall due just after
            # TIE. Just before, the loop is busy for half a second (a slow callback: the clock
            # jumps inside it): a session bound of TIE would fall due in the same turn, first.
            def busy() -> None:
                loop_clock.elapsed += BUSY
                sim_clock.advance(BUSY)

            with patch("bleak_esphome.backend.client.DISCONNECT_TIMEOUT", TIE + 0.01):
                hass.loop.call_later(TIE - 0.001, busy)
                assert await hass.config_entries.async_unload(entry.entry_id)
                await loop_clock.advance(2, 0.1)
        finally:
            hass.loop.set_exception_handler(previous)
            full_node.set_slots_taken_by_others(0)
            await hass.config_entries.async_unload(esphome.entry_id)
            await loop_clock.advance(2, 0.1)
    assert "Out of connection slots, waiting for a free one" in caplog.text, "bleak-esphome waited"
    assert not toy.connected
    assert reached_the_loop == []
