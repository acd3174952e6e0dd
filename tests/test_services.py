"""The ``bb8.roll``, ``bb8.stop`` and ``bb8.set_heading`` actions, and what they refuse."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from spherov2.controls.v1 import Packet as SpheroV2Packet
import voluptuous as vol

from bb8sim import SimulatedBB8
from custom_components.bb8.const import (
    CONF_CONNECTION_MODE,
    DOMAIN,
    MODE_ON_DEMAND,
    SERVICE_ROLL,
    SERVICE_SET_HEADING,
    SERVICE_STOP,
)

from .conftest import device_id_of, set_up_toy, wait_for

BOTH_PROXY_PATHS = True  # run through the project's scanner and through the real esphome stack


async def _action(hass: HomeAssistant, service: str, **data: Any) -> None:
    await hass.services.async_call(DOMAIN, service, data, blocking=True)


def _rolls(toy: SimulatedBB8) -> list[tuple[int, int, int]]:
    """Every roll the toy received, as (speed, heading, mode); mode 0 is a stop."""
    return [
        (record.data[0], int.from_bytes(record.data[1:3]), record.data[3])
        for record in toy.commands_received
        if record.kind == "roll"
    ]


async def _start_timed_roll(
    hass: HomeAssistant, toy: SimulatedBB8, device_id: str, heading: int
) -> asyncio.Task[None]:
    """Start a 0.2 s roll at speed 60 and return the action's task once the toy rolls."""
    timed = hass.async_create_task(
        _action(hass, SERVICE_ROLL, device_id=device_id, heading=heading, speed=60, duration=0.2)
    )
    await wait_for(lambda: toy.rolling)
    return timed


# ----------------------------------------------------------------------------------- rolling


async def test_roll_without_duration_keeps_rolling(
    hass: HomeAssistant, toy: SimulatedBB8, device_id: str
) -> None:
    await _action(hass, SERVICE_ROLL, device_id=device_id, heading=90, speed=100)
    assert toy.rolling
    assert (toy.speed, toy.heading) == (100, 90)
    await asyncio.sleep(0.3)
    assert toy.rolling, "no stop follows a roll without a duration"
    assert _rolls(toy) == [(100, 90, 1)]


async def test_roll_with_duration_stops_afterwards(
    hass: HomeAssistant, toy: SimulatedBB8, device_id: str
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await _action(hass, SERVICE_ROLL, device_id=device_id, heading=45, speed=80, duration=0.2)
    assert loop.time() - started >= 0.2
    assert not toy.rolling
    (speed, heading, mode), (stop_speed, _, stop_mode) = _rolls(toy)
    assert (speed, heading, mode) == (80, 45, 1)
    assert (stop_speed, stop_mode) == (0, 0), "then a stop"


async def test_newer_roll_during_a_timed_roll_is_not_stopped_by_it(
    hass: HomeAssistant, toy: SimulatedBB8, device_id: str
) -> None:
    timed = await _start_timed_roll(hass, toy, device_id, heading=0)
    await _action(hass, SERVICE_ROLL, device_id=device_id, heading=270, speed=150)
    await timed  # the timed roll's duration is over
    assert toy.rolling, "the older roll's stop must not end the newer roll"
    assert (toy.speed, toy.heading) == (150, 270)
    assert _rolls(toy) == [(60, 0, 1), (150, 270, 1)]


async def test_stop_action_stops_the_toy(hass: HomeAssistant, toy: SimulatedBB8, device_id: str) -> None:
    await _action(hass, SERVICE_ROLL, device_id=device_id, heading=180, speed=200)
    assert toy.rolling
    await _action(hass, SERVICE_STOP, device_id=device_id)
    assert not toy.rolling
    assert _rolls(toy)[-1][2] == 0


async def test_stop_during_a_timed_roll_is_final(
    hass: HomeAssistant, toy: SimulatedBB8, device_id: str
) -> None:
    timed = await _start_timed_roll(hass, toy, device_id, heading=10)
    await _action(hass, SERVICE_STOP, device_id=device_id)
    assert not toy.rolling
    await timed
    assert len(_rolls(toy)) == 2, "the timed roll sends no second stop once stopped"


async def test_set_heading_reaches_the_toy(hass: HomeAssistant, toy: SimulatedBB8, device_id: str) -> None:
    await _action(hass, SERVICE_SET_HEADING, device_id=device_id, heading=300)
    assert toy.heading == 300
    last = toy.commands_received[-1]
    assert (last.kind, last.data) == ("set_heading", (300).to_bytes(2))


async def test_numbers_given_as_text_are_accepted(
    hass: HomeAssistant, toy: SimulatedBB8, device_id: str
) -> None:
    # What a template in an automation produces.
    await _action(hass, SERVICE_ROLL, device_id=device_id, heading="120", speed="30")
    assert (toy.speed, toy.heading) == (30, 120)


# ------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("service", "data"),
    [
        (SERVICE_ROLL, {"heading": 360, "speed": 10}),
        (SERVICE_ROLL, {"heading": -1, "speed": 10}),
        (SERVICE_ROLL, {"heading": 0, "speed": 256}),
        (SERVICE_ROLL, {"heading": 0, "speed": -5}),
        (SERVICE_ROLL, {"heading": 0, "speed": 10, "duration": 0}),
        (SERVICE_ROLL, {"heading": 0, "speed": 10, "duration": 30.5}),
        (SERVICE_ROLL, {"heading": "north", "speed": 10}),
        (SERVICE_ROLL, {"speed": 10}),
        (SERVICE_ROLL, {"heading": 0, "speed": 10, "colour": "red"}),
        (SERVICE_SET_HEADING, {"heading": 360}),
        (SERVICE_SET_HEADING, {}),
    ],
)
async def test_out_of_range_or_missing_fields_are_refused_by_the_schema(
    hass: HomeAssistant, service: str, data: dict[str, Any]
) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    with pytest.raises(vol.Invalid):
        await _action(hass, service, device_id="0123456789abcdef", **data)


async def test_actions_need_a_device(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    with pytest.raises(vol.MultipleInvalid):
        await _action(hass, SERVICE_STOP)


async def test_unknown_device_is_refused(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    with pytest.raises(ServiceValidationError) as caught:
        await _action(hass, SERVICE_STOP, device_id="no-such-device")
    assert caught.value.translation_domain == DOMAIN
    assert caught.value.translation_key == "unknown_device"
    assert caught.value.translation_placeholders == {"device_id": "no-such-device"}


async def test_device_of_another_integration_is_refused(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    other = MockConfigEntry(domain="other_integration", title="Lamp")
    other.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=other.entry_id, identifiers={("other_integration", "lamp-1")}, name="Desk lamp"
    )
    with pytest.raises(ServiceValidationError) as caught:
        await _action(hass, SERVICE_ROLL, device_id=device.id, heading=0, speed=10)
    assert caught.value.translation_key == "not_a_bb8"
    assert caught.value.translation_placeholders == {"name": "Desk lamp"}


async def test_toy_whose_entry_is_not_loaded_is_refused(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry, device_id: str
) -> None:
    assert await hass.config_entries.async_unload(ready_entry.entry_id)
    await hass.async_block_till_done()
    commands = len(toy.commands_received)
    with pytest.raises(ServiceValidationError) as caught:
        await _action(hass, SERVICE_SET_HEADING, device_id=device_id, heading=10)
    assert caught.value.translation_key == "entry_not_loaded"
    assert caught.value.translation_placeholders == {"name": toy.name}
    assert len(toy.commands_received) == commands


# ------------------------------------------------------------------------- toy not reachable


async def test_every_action_on_an_unreachable_toy_tries_to_connect_and_says_it_could_not(
    hass: HomeAssistant, unreachable_toy: SimulatedBB8, device_id: str
) -> None:
    """README: "A person's command during a reconnect wait connects at once"; unreachable, it says so."""
    toy = unreachable_toy
    for service, data in (
        (SERVICE_ROLL, {"heading": 0, "speed": 50}),
        (SERVICE_STOP, {}),
        (SERVICE_SET_HEADING, {"heading": 0}),
    ):
        refused = toy.faults.stats["connect_error"]
        with pytest.raises(HomeAssistantError) as caught:
            await _action(hass, service, device_id=device_id, **data)
        assert toy.faults.stats["connect_error"] > refused, f"{service}: the action tried to connect"
        assert caught.value.translation_domain == DOMAIN
        assert caught.value.translation_key == "cannot_connect"
        assert caught.value.translation_placeholders is not None
        assert caught.value.translation_placeholders["name"] == toy.name


async def test_on_demand_toy_that_refuses_the_connection_gives_a_translated_error(
    hass: HomeAssistant, toy: SimulatedBB8
) -> None:
    entry = await set_up_toy(hass, toy, **{CONF_CONNECTION_MODE: MODE_ON_DEMAND})
    device_id = device_id_of(hass, entry)
    assert not entry.runtime_data.session.is_connected, "on demand: nothing connects until used"

    toy.faults.refuse_connect = True
    with pytest.raises(HomeAssistantError) as caught:
        await _action(hass, SERVICE_ROLL, device_id=device_id, heading=0, speed=50)
    assert caught.value.translation_key == "cannot_connect"
    assert caught.value.translation_placeholders is not None
    assert caught.value.translation_placeholders["name"] == toy.name

    # The same action works once the toy accepts connections again.
    toy.faults.refuse_connect = False
    await _action(hass, SERVICE_ROLL, device_id=device_id, heading=0, speed=50)
    assert toy.rolling


async def test_toy_that_does_not_answer_gives_a_timeout_error(
    hass: HomeAssistant, toy: SimulatedBB8, device_id: str
) -> None:
    toy.faults.drop_next_responses = 1
    call = hass.async_create_task(_action(hass, SERVICE_SET_HEADING, device_id=device_id, heading=90))
    await wait_for(lambda: toy.commands_received[-1].kind == "set_heading")
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=6))  # the command timeout
    with pytest.raises(HomeAssistantError) as caught:
        await call
    assert caught.value.translation_key == "command_timeout"
    assert caught.value.translation_placeholders == {"name": toy.name, "command": "set_heading"}


async def test_command_the_toy_rejects_gives_its_error_code(
    hass: HomeAssistant, toy: SimulatedBB8, device_id: str
) -> None:
    toy.faults.drop_next_responses = 1  # the toy's own answer is lost; a rejection replaces it
    call = hass.async_create_task(_action(hass, SERVICE_SET_HEADING, device_id=device_id, heading=90))
    await wait_for(lambda: toy.commands_received[-1].kind == "set_heading")
    seq = toy.commands_received[-1].seq
    rejection = SpheroV2Packet.Response(int(SpheroV2Packet.Error.parameter_value_invalid), seq, bytearray())
    toy.inject_notification(bytes(rejection.build()))
    with pytest.raises(HomeAssistantError) as caught:
        await call
    assert caught.value.translation_key == "command_rejected_unsupported", (
        "0x07: a value the toy does not take"
    )
    assert caught.value.translation_placeholders == {
        "name": toy.name,
        "command": "set_heading",
        "code": "0x07",
    }


async def test_action_after_home_assistant_stopped_the_session_says_so(
    hass: HomeAssistant, toy: SimulatedBB8, ready_entry: MockConfigEntry, device_id: str
) -> None:
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await wait_for(lambda: ready_entry.runtime_data.session.closed)
    await wait_for(lambda: not toy.connected)
    with pytest.raises(HomeAssistantError) as caught:
        await _action(hass, SERVICE_STOP, device_id=device_id)
    assert caught.value.translation_key == "session_closed"
