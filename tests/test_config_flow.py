"""The config flow, step by step, against the simulator: discovery, user step, options."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from bleak.backends.scanner import AdvertisementData
from homeassistant.components import bluetooth
from homeassistant.components.bluetooth import BluetoothServiceInfoBleak
from homeassistant.config_entries import SOURCE_BLUETOOTH, SOURCE_USER, ConfigFlow
from homeassistant.const import CONF_ADDRESS
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.translation import async_get_translations
import pytest

from bb8sim import ConnectFailure, SimClock, SimulatedBB8
from bb8sim.proxy import SimProxy
from bb8sim.testing import make_ble_device
from custom_components.bb8.const import (
    CONF_CONNECTION_MODE,
    CONF_IDLE_TIMEOUT,
    CONF_INACTIVITY_TIMEOUT,
    CONF_POLL_INTERVAL,
    CONF_RECONNECT_MAX_ATTEMPTS,
    CONF_RECONNECT_MAX_DELAY,
    DOMAIN,
)

from .conftest import SECOND_ADDRESS, TOY_ADDRESS, make_entry, wait_for

BOTH_PROXY_PATHS = True  # run through the project's scanner and through the real esphome stack


def service_info(toy: SimulatedBB8, *, connectable: bool = True) -> BluetoothServiceInfoBleak:
    """A discovery as Home Assistant's Bluetooth manager would hand it to the flow."""
    device = make_ble_device(toy.address, toy.name, {}, rssi=-60)
    advertisement = AdvertisementData(
        local_name=toy.name,
        manufacturer_data={},
        service_data={},
        service_uuids=[],
        tx_power=None,
        rssi=-60,
        platform_data=(),
    )
    return BluetoothServiceInfoBleak(
        name=toy.name,
        address=toy.address,
        rssi=-60,
        manufacturer_data={},
        service_data={},
        service_uuids=[],
        source="local",
        device=device,
        advertisement=advertisement,
        connectable=connectable,
        time=0,
        tx_power=None,
    )


@pytest.fixture
def unseen_toy(proxy: SimProxy, sim_clock: SimClock) -> SimulatedBB8:
    """A toy no scanner has advertised, so Home Assistant has started no flow of its own for it.

    For the tests that start a discovery flow themselves: with an advertised toy, Home
    Assistant's own discovery flow for the same address races theirs, and which one goes on
    (the other aborts ``already_in_progress``) depends on the release.
    """
    return SimulatedBB8(TOY_ADDRESS, clock=sim_clock, seed=1)


async def discovery_flow(hass: HomeAssistant) -> dict[str, Any]:
    """The discovery flow Home Assistant started for the advertised toy (the one a user sees)."""
    await hass.async_block_till_done(wait_background_tasks=True)
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert len(flows) == 1, "the proxy's advertisement should start one discovery flow"
    return dict(flows[0])


async def test_discovery_is_offered_and_confirmed(hass: HomeAssistant, toy: SimulatedBB8) -> None:
    flow = await discovery_flow(hass)
    assert flow["step_id"] == "bluetooth_confirm"
    assert flow["context"]["unique_id"] == TOY_ADDRESS

    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "BB-B54A"
    assert result["data"] == {CONF_ADDRESS: TOY_ADDRESS, "model": "bb8"}  # the catalog key of its model
    assert result["result"].unique_id == TOY_ADDRESS
    # The connection test really talked to the toy: handshake and a power state query.
    assert toy.handshake_log
    assert any(record.cid == 0x20 for record in toy.commands_received)
    await hass.async_block_till_done()


async def test_discovery_confirm_calls_nothing_home_assistant_2026_11_deprecates(
    hass: HomeAssistant, toy: SimulatedBB8
) -> None:
    """``ConfigFlow._set_confirm_only`` is a deprecated no-op since 2026.11 (its flag was never read).

    Home Assistant does not report it for custom integrations, so the deprecation guard in
    ``conftest.py`` cannot see it; here it fails the flow if it is called at all.
    """
    flow = await discovery_flow(hass)
    with patch.object(ConfigFlow, "_set_confirm_only", side_effect=AssertionError("deprecated no-op")):
        form = await hass.config_entries.flow.async_configure(flow["flow_id"], None)
        assert form["step_id"] == "bluetooth_confirm"
        result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_discovery_confirm_dialog_is_titled_with_the_toys_name(
    hass: HomeAssistant, toy: SimulatedBB8
) -> None:
    """The confirm step shows which toy was found, in its title and in the discovery card."""
    flow = await discovery_flow(hass)
    assert flow["context"]["title_placeholders"] == {"name": toy.name}
    form = await hass.config_entries.flow.async_configure(flow["flow_id"], None)
    assert form["step_id"] == "bluetooth_confirm"
    placeholders = form["description_placeholders"]
    assert placeholders == {"name": toy.name, "model": "BB-8"}

    strings = await async_get_translations(hass, "en", "config", [DOMAIN])
    prefix = f"component.{DOMAIN}.config"
    title = strings.get(f"{prefix}.step.bluetooth_confirm.title")
    assert title is not None, "the confirm dialog has a title"
    assert title.format(**placeholders) == f"BB-8 found: {toy.name}"
    assert toy.name in strings[f"{prefix}.step.bluetooth_confirm.description"].format(**placeholders)
    assert strings[f"{prefix}.flow_title"].format(**flow["context"]["title_placeholders"]) == toy.name


async def test_discovery_of_a_configured_toy_aborts(hass: HomeAssistant, unseen_toy: SimulatedBB8) -> None:
    make_entry(unseen_toy).add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_BLUETOOTH}, data=service_info(unseen_toy)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_non_connectable_advertisement_is_not_supported(
    hass: HomeAssistant, unseen_toy: SimulatedBB8
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_BLUETOOTH}, data=service_info(unseen_toy, connectable=False)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_supported"


async def test_confirm_shows_cannot_connect_and_creates_nothing(
    hass: HomeAssistant, toy: SimulatedBB8
) -> None:
    toy.faults.refuse_connect = True
    toy.faults.connect_failure = ConnectFailure.ERROR
    flow = await discovery_flow(hass)
    assert flow["step_id"] == "bluetooth_confirm"
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
    assert not hass.config_entries.async_entries(DOMAIN)

    toy.faults.refuse_connect = False
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_user_step_lists_unconfigured_toys(
    hass: HomeAssistant, proxy: SimProxy, toy: SimulatedBB8, sim_clock: object
) -> None:
    second = SimulatedBB8(SECOND_ADDRESS, seed=2)
    proxy.advertise(second)
    await wait_for(lambda: bluetooth.async_address_present(hass, SECOND_ADDRESS, connectable=True))
    make_entry(toy).add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    choices = result["data_schema"].schema[CONF_ADDRESS].container
    assert list(choices) == [SECOND_ADDRESS], "the configured toy is not offered again"

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_ADDRESS: SECOND_ADDRESS})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == second.name
    await hass.async_block_till_done()


async def test_user_step_without_toys_aborts(hass: HomeAssistant, proxy: SimProxy) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_devices_found"


async def test_user_step_error_then_success(hass: HomeAssistant, toy: SimulatedBB8) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    toy.faults.refuse_connect = True
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_ADDRESS: TOY_ADDRESS})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
    assert not hass.config_entries.async_entries(DOMAIN)
    toy.faults.refuse_connect = False
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_ADDRESS: TOY_ADDRESS})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_user_step_aborts_when_configured_meanwhile(hass: HomeAssistant, toy: SimulatedBB8) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    make_entry(toy).add_to_hass(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_ADDRESS: TOY_ADDRESS})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.mark.usefixtures("setup_entry")
async def test_options_flow_saves_and_reloads(hass: HomeAssistant, setup_entry) -> None:  # type: ignore[no-untyped-def]
    old_session = setup_entry.runtime_data.session
    result = await hass.config_entries.options.async_init(setup_entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    assert [str(key) for key in result["data_schema"].schema] == [
        CONF_CONNECTION_MODE,
        CONF_INACTIVITY_TIMEOUT,
        CONF_IDLE_TIMEOUT,
        CONF_POLL_INTERVAL,
        CONF_RECONNECT_MAX_DELAY,
        CONF_RECONNECT_MAX_ATTEMPTS,
    ], "every option, in the form's order (strings.json labels each)"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_CONNECTION_MODE: "on_demand",
            CONF_IDLE_TIMEOUT: 30,
            CONF_POLL_INTERVAL: 120,
            CONF_RECONNECT_MAX_DELAY: 60,
            CONF_RECONNECT_MAX_ATTEMPTS: 5,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert setup_entry.options[CONF_CONNECTION_MODE] == "on_demand"
    new_session = setup_entry.runtime_data.session
    assert new_session is not old_session, "saving options reloads the entry"
    assert old_session.closed
    assert new_session.mode == "on_demand"
    assert new_session.idle_timeout == 30
    assert new_session.policy.max_delay == 60
    assert new_session.policy.max_attempts == 5
    await wait_for(lambda: True)


@pytest.mark.scanner_path_only(
    "an exception that is no Bluetooth error cannot cross the native API: the node reports any "
    "failed connect as ESP_GATT_CONN_FAIL_ESTABLISH, which is cannot_connect"
)
async def test_unexpected_error_shows_unknown_and_creates_nothing(
    hass: HomeAssistant, toy: SimulatedBB8, caplog: pytest.LogCaptureFixture
) -> None:
    # Not a Bluetooth failure but a bug somewhere: the session lets it through, the form says
    # "unknown" and the log keeps the traceback.
    toy.faults.unexpected_connect_error = True
    flow = await discovery_flow(hass)
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "bluetooth_confirm"
    assert result["errors"] == {"base": "unknown"}
    assert not hass.config_entries.async_entries(DOMAIN)
    assert "simulated firmware bug" in caplog.text
    assert not toy.connected

    toy.faults.unexpected_connect_error = False
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
