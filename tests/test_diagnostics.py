"""The diagnostics download: what helps a maintainer, without the toy's address."""

from __future__ import annotations

from dataclasses import fields
from datetime import timedelta
import json
import re
from types import MappingProxyType

from homeassistant.components.diagnostics import REDACTED
from homeassistant.const import CONF_ADDRESS
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.discovery_flow import DiscoveryKey
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.diagnostics import get_diagnostics_for_config_entry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from bb8sim import ConnectFailure, SimulatedBB8
from custom_components.bb8.const import CONF_IDLE_TIMEOUT, DOMAIN
from custom_components.bb8.diagnostics import identifying_pattern, redact_everywhere
from custom_components.bb8.sphero.models import SessionCounters
from custom_components.bb8.sphero.policy import ReconnectPolicy

from .conftest import TOY_ADDRESS, bring_back, make_unreachable, set_up_toy, toy_is_set_up, wait_for


async def test_diagnostics_show_the_session_state_and_counters(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, ready_entry)
    assert diagnostics["available"] is True
    assert diagnostics["last_update_success"] is True
    assert diagnostics["rssi"] == -60
    advertisement = diagnostics["advertisement"]
    assert isinstance(advertisement, dict)
    assert advertisement["connectable"] is True
    session = diagnostics["session"]
    assert isinstance(session, dict)
    assert session["state"] == "connected"
    assert session["mode"] == "always"
    assert session["firmware"] == "4.69"
    assert session["power_state"] == {
        "state": "ok",
        "voltage": 8.0,
        "charge_count": 0,
        "seconds_since_charge": 0,
    }
    counters = session["counters"]
    assert isinstance(counters, dict)
    assert counters["connects"] == 1
    assert counters["drops"] == 0
    # Options, power notifications, collision detection, versions, power state after connecting.
    assert counters["commands_sent"] >= 5
    assert counters["last_error"] is None
    assert {"reconnect_attempts", "commands_failed", "commands_timed_out", "notifications"} <= set(counters)
    assert session["writer"] == "idle", "nothing waits to be written once the toy is set up"
    assert "stable" in session["timers"], "the stable-connection window of the link that is up"


async def test_diagnostics_show_the_whole_reconnect_policy_and_every_session_counter(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, ready_entry: MockConfigEntry
) -> None:
    """CHANGELOG: "Diagnostics show the whole reconnect policy and every session counter"."""
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, ready_entry)
    session = diagnostics["session"]
    policy = ready_entry.runtime_data.session.policy
    assert session["policy"] == {field.name: getattr(policy, field.name) for field in fields(ReconnectPolicy)}
    assert set(session["counters"]) == {field.name for field in fields(SessionCounters)}


async def _one_failed_reconnect(hass: HomeAssistant, entry: MockConfigEntry, toy: SimulatedBB8) -> None:
    """The toy goes out of reach and the session's first reconnect attempt fails."""
    await make_unreachable(entry, toy)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=3))
    await wait_for(lambda: entry.runtime_data.session.counters.connect_failures > 0)


async def test_diagnostics_show_drops_and_the_last_error(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    await _one_failed_reconnect(hass, ready_entry, toy)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, ready_entry)
    session = diagnostics["session"]
    assert isinstance(session, dict)
    assert session["state"] == "disconnected"
    counters = session["counters"]
    assert isinstance(counters, dict)
    assert counters["drops"] == 1
    assert counters["reconnect_attempts"] >= 1
    assert counters["connect_failures"] >= 1
    assert isinstance(counters["last_error"], str)
    assert counters["last_error"]

    await bring_back(hass, ready_entry, toy, after=10)


async def test_diagnostics_show_the_options(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, toy: SimulatedBB8
) -> None:
    entry = await set_up_toy(hass, toy, **{CONF_IDLE_TIMEOUT: 30, "connection_mode": "on_demand"})
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    entry_data = diagnostics["entry"]
    assert isinstance(entry_data, dict)
    assert entry_data["options"] == {CONF_IDLE_TIMEOUT: 30, "connection_mode": "on_demand"}
    session = diagnostics["session"]
    assert isinstance(session, dict)
    assert session["mode"] == "on_demand"
    assert session["state"] == "disconnected"


async def test_diagnostics_never_contain_the_address(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    # Home Assistant may record the rediscovered toy's address on the entry as a discovery key
    # (2025.4 does, 2026.10 not for an entry already set up): make sure it is there to redact.
    await hass.async_block_till_done(wait_background_tasks=True)
    hass.config_entries.async_update_entry(
        ready_entry,
        discovery_keys=MappingProxyType(
            {"bluetooth": (DiscoveryKey(domain="bluetooth", key=TOY_ADDRESS, version=1),)}
        ),
    )
    assert TOY_ADDRESS in str(ready_entry.discovery_keys)

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, ready_entry)
    text = json.dumps(diagnostics)
    assert TOY_ADDRESS not in text
    assert TOY_ADDRESS.replace(":", "")[-4:] not in text, "the name and title end with the address"
    entry_data = diagnostics["entry"]
    assert isinstance(entry_data, dict)
    assert entry_data["data"] == {"address": REDACTED}
    assert entry_data["unique_id"] == REDACTED
    assert entry_data["title"] == REDACTED
    advertisement = diagnostics["advertisement"]
    assert isinstance(advertisement, dict)
    assert advertisement["name"] == REDACTED


def identifying_forms(toy: SimulatedBB8) -> list[str]:
    """The address in every spelling a text may use, the toy's name and its four-digit suffix."""
    pairs = toy.address.split(":")
    return [
        *(separator.join(pairs).lower() for separator in (":", "-", "_", "")),
        toy.name.lower(),
        "".join(pairs[-2:]).lower(),
    ]


async def test_diagnostics_redact_the_address_and_name_inside_error_texts(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, toy: SimulatedBB8, ready_entry: MockConfigEntry
) -> None:
    """Redaction covers every string: bleak-retry-connector's connect errors name the toy."""
    toy.faults.connect_failure = ConnectFailure.ERROR
    await _one_failed_reconnect(hass, ready_entry, toy)
    session = ready_entry.runtime_data.session
    # The raw error text does carry the address: the promise is about what the download shows.
    assert session.counters.last_error is not None
    assert toy.address in session.counters.last_error

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, ready_entry)
    text = json.dumps(diagnostics).lower()
    for form in identifying_forms(toy):
        assert form not in text, form
    counters = diagnostics["session"]["counters"]  # type: ignore[index]
    assert "Failed to connect" in counters["last_error"], "the rest of the message stays readable"
    assert REDACTED in counters["last_error"]

    await bring_back(hass, ready_entry, toy, after=10)


async def test_diagnostics_redact_the_title_a_person_gave_the_toy(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, toy: SimulatedBB8
) -> None:
    """A renamed toy's title is its name in every message, so it is redacted from them too."""
    entry = await set_up_toy(hass, toy, title="Kitchen droid")
    await wait_for(toy_is_set_up(entry, toy))
    await make_unreachable(entry, toy)
    with pytest.raises(HomeAssistantError):
        await hass.services.async_call(
            "light", "turn_on", {"entity_id": "light.kitchen_droid_main_led"}, blocking=True
        )
    assert "Kitchen droid" in (entry.runtime_data.session.counters.last_error or "")

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diagnostics).lower()
    assert "kitchen droid" not in text
    for form in identifying_forms(toy):
        assert form not in text, form


def _keys_in(value: object) -> set[str]:
    """Every key of every mapping in ``value``, at any depth."""
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in _keys_in(item)}
    if isinstance(value, list):
        return {key for item in value for key in _keys_in(item)}
    return set()


def _strings_in(value: object) -> list[str]:
    """Every string value in ``value``, at any depth (not the keys)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings_in(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings_in(item)]
    return []


@pytest.mark.parametrize(
    ("title", "entry_id"),
    [
        # A short name a person gives; the entry id (a ULID) holds "R2" inside a longer word.
        ("R2", "01JR2QF8M6W3XKD4Z7N9PAR2VT"),
        # A name that is also part of the download's keys (max_delay, max_attempts).
        ("Max", "01JMAXQF8M6W3XKD4Z7N9PAVT0"),
        # The default title, the advertised name: "BB-" and the address's last four digits.
        (None, "01JB54AQF8M6W3XKD4Z7N9PAVT"),
    ],
    ids=["R2", "Max", "default"],
)
async def test_diagnostics_redact_the_title_as_a_whole_word_in_values_and_leave_keys_and_other_words_whole(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    toy: SimulatedBB8,
    title: str | None,
    entry_id: str,
) -> None:
    """Item 10 of issue 21: a short title such as "R2" must not mangle the download."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        entry_id=entry_id,
        unique_id=toy.address,
        title=toy.name if title is None else title,
        data={CONF_ADDRESS: toy.address},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await wait_for(toy_is_set_up(entry, toy))
    toy.faults.connect_failure = ConnectFailure.ERROR
    await _one_failed_reconnect(hass, entry, toy)
    last_error = entry.runtime_data.session.counters.last_error
    assert last_error is not None
    assert toy.address in last_error
    assert entry.title in last_error, "the message names the toy by its title"

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    assert not any(REDACTED in key for key in _keys_in(diagnostics)), "every key stays whole"
    session = diagnostics["session"]
    assert set(session["policy"]) == {field.name for field in fields(ReconnectPolicy)}
    assert set(session["counters"]) == {field.name for field in fields(SessionCounters)}
    assert diagnostics["entry"]["entry_id"] == entry_id, "a word that only contains the title stays whole"
    assert diagnostics["entry"]["title"] == REDACTED
    redacted_error = session["counters"]["last_error"]
    assert "Failed to connect" in redacted_error, "the rest of the message stays readable"
    values = " ".join(_strings_in(diagnostics)).lower()
    for form in [*identifying_forms(toy), entry.title.lower()]:
        assert re.search(rf"(?<![0-9a-z]){re.escape(form)}(?![0-9a-z])", values) is None, form

    await bring_back(hass, entry, toy, after=10)


def test_the_address_is_redacted_in_every_spelling_bluetooth_messages_use() -> None:
    """bleak-retry-connector and BlueZ write the address with colons or inside an object path."""
    pattern = identifying_pattern(TOY_ADDRESS, ["BB-B54A"])
    texts = {
        "BB-B54A - F1:2C:3D:4E:B5:4A: Failed to connect": "**REDACTED** - **REDACTED**: Failed to connect",
        "[org.bluez.Error] /org/bluez/hci0/dev_F1_2C_3D_4E_B5_4A": "[org.bluez.Error] /org/bluez/hci0/dev_**REDACTED**",
        "f1-2c-3d-4e-b5-4a f12c3d4eb54a f1.2c.3d.4e.b5.4a": "**REDACTED** **REDACTED** **REDACTED**",
        "mask 0xB54A00, id 01JB54AQF8": "mask 0xB54A00, id 01JB54AQF8",
    }
    for text, redacted in texts.items():
        assert redact_everywhere({"message": text}, pattern) == {"message": redacted}
