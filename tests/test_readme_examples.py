"""Every YAML example in the README, loaded as written and run against the simulated BB-8."""

from __future__ import annotations

from pathlib import Path
import re
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import WebSocketGenerator
import yaml

from bb8sim import SimulatedBB8

from .conftest import state_of, wait_for

BOTH_PROXY_PATHS = True  # the examples run through the project's scanner and the real esphome stack

README = Path(__file__).parent.parent / "README.md"
EXAMPLE = re.compile(r"<!-- tested-example: (automation|script) -->\s*```yaml\n(.*?)```", re.DOTALL)
CARD = re.compile(r"<!-- tested-card -->\s*```yaml\n(.*?)```", re.DOTALL)


def readme_examples() -> list[tuple[str, Any]]:
    return [(kind, yaml.safe_load(body)) for kind, body in EXAMPLE.findall(README.read_text())]


def example(alias: str) -> tuple[str, Any]:
    for kind, body in readme_examples():
        items = body if kind == "automation" else list(body.values())
        if any(item.get("alias") == alias for item in items):
            return kind, body
    raise AssertionError(f"README has no example {alias!r}")


def test_the_readme_has_the_examples_this_file_runs() -> None:
    kinds = [kind for kind, _ in readme_examples()]
    assert kinds.count("automation") == 4
    assert kinds.count("script") == 2
    assert len(CARD.findall(README.read_text())) == 1


@pytest.fixture
async def setup_automation(hass: HomeAssistant) -> Any:
    """Load the README's automation called ``alias`` as written; turn automations off at the end
    so no time trigger lingers."""

    async def _setup(alias: str) -> None:
        kind, body = example(alias)
        assert kind == "automation", alias
        assert await async_setup_component(hass, "persistent_notification", {})
        assert await async_setup_component(hass, "automation", {"automation": body})
        await hass.async_block_till_done()

    yield _setup
    if hass.services.has_service("automation", "turn_off"):
        await hass.services.async_call("automation", "turn_off", {"entity_id": "all"}, blocking=True)


@pytest.fixture
async def notification_messages(hass: HomeAssistant, hass_ws_client: WebSocketGenerator) -> Any:
    """The persistent notifications' messages, read as the frontend reads them.

    Home Assistant's ``persistent_notification/get`` websocket command lists every notification
    on show; this asks it over a websocket connection of its own.
    """
    assert await async_setup_component(hass, "persistent_notification", {})
    client = await hass_ws_client(hass)

    async def _messages() -> list[str]:
        await client.send_json_auto_id({"type": "persistent_notification/get"})
        reply = await client.receive_json()
        assert reply["success"], reply
        # Home Assistant's own "discovered new devices" notice is left out: the toy advertises
        # before its entry is added, so it may start a discovery flow (through the esphome
        # scanner it does, whose advertisements arrive after a loop turn).
        return [
            notification["message"]
            for notification in reply["result"]
            if notification["notification_id"] != "config_entry_discovery"
        ]

    return _messages


async def test_collision_example_backs_off_in_red(
    hass: HomeAssistant, toy: SimulatedBB8, setup_entry: MockConfigEntry, setup_automation: Any
) -> None:
    await setup_automation("BB-8 backs off after a collision")
    session = setup_entry.runtime_data.session
    await wait_for(
        lambda: toy.collision_detection_enabled and session.is_set_up and session.pending_commands == 0
    )

    heard: list[object] = []
    session.toy.add_collision_listener(heard.append)
    toy.trigger_collision(x_magnitude=120, y_magnitude=0, speed=0)  # a light touch: no reaction
    await wait_for(lambda: bool(heard))
    await hass.async_block_till_done()
    assert toy.main_led != (255, 0, 0)

    toy.clock.advance(1.0)  # past the collision dead time
    toy.trigger_collision(x_magnitude=200, y_magnitude=10, speed=0)
    await wait_for(lambda: toy.main_led == (255, 0, 0) and toy.heading == 180 and toy.speed == 60)
    await wait_for(lambda: toy.speed == 0, timeout=5)  # stopped after the duration
    await hass.async_block_till_done()


async def test_square_script_rolls_four_headings(
    hass: HomeAssistant, toy: SimulatedBB8, setup_entry: MockConfigEntry
) -> None:
    _, body = example("BB-8 drives a square")
    body["bb8_square"]["sequence"][0]["repeat"]["sequence"][0]["data"]["duration"] = 0.1  # faster test
    assert await async_setup_component(hass, "script", {"script": body})
    await hass.services.async_call("script", "bb8_square", blocking=True)
    rolls = [record for record in toy.commands_received if record.did == 0x02 and record.cid == 0x30]
    headings = [int.from_bytes(record.data[1:3], "big") for record in rolls if record.data[0] == 70]
    assert headings == [0, 90, 180, 270]
    assert toy.speed == 0


async def test_the_dashboard_buttons_roll_the_toy_through_the_readmes_script(
    hass: HomeAssistant, toy: SimulatedBB8, setup_entry: MockConfigEntry
) -> None:
    """README: "a button that runs a script rolls it", until a driving card exists.

    Each button's tap action is performed as the frontend performs it: the action it names,
    with its data.
    """
    _, script = example("BB-8 rolls for a second")
    script["bb8_roll"]["sequence"][0]["data"]["duration"] = 0.1  # faster test
    assert await async_setup_component(hass, "script", {"script": script})
    await wait_for(lambda: setup_entry.runtime_data.session.is_set_up)
    (card,) = (yaml.safe_load(body) for body in CARD.findall(README.read_text()))
    for button in card["cards"]:
        tap = button["tap_action"]
        assert tap["action"] == "perform-action"
        domain, service = tap["perform_action"].split(".")
        before = len(toy.commands_received)
        await hass.services.async_call(domain, service, tap["data"], blocking=True)
        rolls = [
            record for record in toy.commands_received[before:] if record.did == 0x02 and record.cid == 0x30
        ]
        speed, heading = rolls[0].data[0], int.from_bytes(rolls[0].data[1:3], "big")
        assert (speed, heading) == (80, tap["data"]["heading"]), button["name"]
        await wait_for(lambda: toy.speed == 0)


async def test_good_night_example_turns_off_and_sleeps(
    hass: HomeAssistant, toy: SimulatedBB8, setup_entry: MockConfigEntry, setup_automation: Any
) -> None:
    await setup_automation("BB-8 goes to sleep at night")
    await hass.services.async_call("light", "turn_on", {"entity_id": "light.bb_b54a_main_led"}, blocking=True)
    await hass.services.async_call(
        "automation", "trigger", {"entity_id": "automation.bb_8_goes_to_sleep_at_night"}, blocking=True
    )
    await wait_for(lambda: toy.asleep)
    leds = [record.data[:3] for record in toy.commands_received if record.did == 0x02 and record.cid == 0x20]
    assert leds[-1] == bytes(3), "the LED was turned off before the toy slept"
    assert setup_entry.runtime_data.session.toy.asleep


@pytest.mark.parametrize("volts", [7.1])
async def test_battery_low_example_notifies(
    hass: HomeAssistant,
    toy: SimulatedBB8,
    setup_entry: MockConfigEntry,
    setup_automation: Any,
    notification_messages: Any,
    volts: float,
) -> None:
    await setup_automation("BB-8 battery low")
    battery = "sensor.bb_b54a_battery_estimate"
    await wait_for(lambda: state_of(hass, battery).state != "unknown")
    assert float(state_of(hass, battery).state) > 20
    toy.set_battery_voltage(volts)
    await setup_entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert await notification_messages() == ["Battery at 7 %, put it on its charger."]


async def test_distance_example_notifies_after_10_metres_and_resets_the_position(
    hass: HomeAssistant,
    toy: SimulatedBB8,
    ready_entry: MockConfigEntry,
    setup_automation: Any,
    notification_messages: Any,
) -> None:
    """Stream packets built from the spec (mask 2 odometer X, Y, velocity X, Y) and injected."""
    import struct

    from bb8sim.protocol import build_async

    await setup_automation("BB-8 rolled 10 metres")
    session = ready_entry.runtime_data.session
    await wait_for(lambda: session.toy.motion.streaming)
    distance = "sensor.bb_b54a_distance_since_reset"
    frames = session.toy.motion.frames_received
    for y in range(0, 1101, 50):
        toy.inject_notification(build_async(0x03, struct.pack(">4h", 0, y, 0, 500)), chunked=True)
    await wait_for(lambda: session.toy.motion.frames_received == frames + 23)
    await wait_for(lambda: toy.locator is not None)
    await hass.async_block_till_done()
    assert (toy.locator.x, toy.locator.y) == (0, 0), "the position was reset"
    messages = await notification_messages()
    assert len(messages) == 1
    assert re.fullmatch(r"Rolled 1\d{3} cm since the last reset\.", messages[0]), messages
    await wait_for(lambda: state_of(hass, distance).state == "0")
