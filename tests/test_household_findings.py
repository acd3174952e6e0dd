"""What the mixed household's soak found outside this area, kept as a test until it is fixed.

A full node (every slot held) makes bleak-esphome wait, after a disconnect, up to its own
``DISCONNECT_TIMEOUT`` (5 s) for a slot to be reported free. The session bounds the same
disconnect by its own 5 s (``custom_components/bb8/sphero/link.py``, ``DISCONNECT_TIMEOUT``).
When both fall due in the same turn of the loop (in the soak's simulated time, where the node's
answer takes no time, they tie; on a real loop, when it is busy across that moment, as this test
makes it), the session's timeout cancels bleak-esphome's wait and bleak-esphome 2.12's timer then
sets an exception on the cancelled future: ``InvalidStateError`` reaches the loop and Home
Assistant logs it at ERROR (docs/reliability.md's household run). Newer bleak-esphome checks
``fut.done()`` (the current leg): there the test runs plain. A fix in the integration would be a
disconnect bound that does not coincide with bleak-esphome's (its wait ends first).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import inspect
import logging
from unittest.mock import MagicMock, patch

from bleak_esphome.backend.device import ESPHomeBluetoothDevice
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

SESSION_BOUND = 5.0
"""The session's disconnect bound (``custom_components/bb8/sphero/link.py``), written here apart."""
BUSY = 0.5
"""Seconds the loop is busy across the moment both bounds fall due."""
BLEAK_ESPHOME_TIMER_CHECKS_ITS_FUTURE = "done()" in inspect.getsource(
    ESPHomeBluetoothDevice._wait_for_ble_connections_free_timeout
)


@pytest.fixture
async def full_node(socket_enabled: None) -> AsyncIterator[SimulatedESPHomeNode]:
    """A node of one slot, which the toy's link takes."""
    async with running_node(slots=1) as started:
        yield started


@pytest.mark.xfail(
    not BLEAK_ESPHOME_TIMER_CHECKS_ITS_FUTURE,
    strict=True,
    reason="the session's disconnect bound (5 s, sphero/link.py) falls due with bleak-esphome's slot "
    "wait (5 s); bleak-esphome 2.12 then sets an exception on the cancelled future",
)
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
            # bleak-esphome's wait starts just after the session's bound (the node's answer to
            # the disconnect comes between: 10 ms here). Just before both fall due the loop is
            # busy for half a second (a slow callback: the clock jumps inside it), so both are
            # due in the same turn, the session's first.
            def busy() -> None:
                loop_clock.elapsed += BUSY
                sim_clock.advance(BUSY)

            with patch("bleak_esphome.backend.client.DISCONNECT_TIMEOUT", SESSION_BOUND + 0.01):
                hass.loop.call_later(SESSION_BOUND - 0.001, busy)
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
