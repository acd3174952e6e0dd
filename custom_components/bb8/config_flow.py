"""Config flow: Bluetooth discovery (with confirm) and a user step, each tested before creating.

Both offer only the models the session drives (``sphero.catalog``: the v1 BB-8, SPRK+ and
Ollie, the v2 BB-9E, R2-D2, R2-Q5, Mini and BOLT), told apart by their advertised name's prefix;
the entry keeps the model.

The connection test is the real thing: connect, hand-shake, read the battery, disconnect.
Nothing is created unless the toy answered. The options flow sets the connection mode, the idle
timeout, the poll interval and the reconnect policy's limits; saving reloads the entry.
"""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.components.bluetooth import (
    BluetoothServiceInfoBleak,
    async_discovered_service_info,
)
from homeassistant.config_entries import ConfigFlow, ConfigFlowResult, OptionsFlow
from homeassistant.const import CONF_ADDRESS
from homeassistant.core import callback
from homeassistant.helpers import selector

from .const import (
    CONF_CONNECTION_MODE,
    CONF_IDLE_TIMEOUT,
    CONF_INACTIVITY_TIMEOUT,
    CONF_POLL_INTERVAL,
    CONF_RECONNECT_MAX_ATTEMPTS,
    CONF_RECONNECT_MAX_DELAY,
    DATA_MODEL,
    DOMAIN,
    MODE_ALWAYS,
    MODE_ON_DEMAND,
    OPTION_DEFAULTS,
)
from .sphero.catalog import BB8, BY_KEY, CatalogEntry, model_for_name
from .sphero.const import MIN_INACTIVITY_TIMEOUT
from .sphero.errors import BB8ConnectionError, BB8Error
from .sphero.policy import FailureReason
from .sphero.session import BB8Session, ConnectionMode
from .validation import vol

_LOGGER = logging.getLogger(__name__)


async def _async_test_connection(service_info: BluetoothServiceInfoBleak, model: CatalogEntry) -> str | None:
    """Connect, hand-shake, read the battery (as ``model`` speaks), disconnect; return an error key or None.

    A proxy out of connection slots gets its own error: waking the toy or bringing it closer
    does not help there, freeing a slot does. The library's text (it carries the address) goes
    to the debug log only.
    """
    session = BB8Session(
        service_info.device, name=service_info.name, mode=ConnectionMode.ON_DEMAND, model=model.toy_model
    )
    try:
        await session.connect()
        await session.poll()
    except BB8ConnectionError as err:
        _LOGGER.debug("%s: connection test failed: %s", service_info.name, err)
        return "out_of_slots" if err.reason is FailureReason.OUT_OF_SLOTS else "cannot_connect"
    except BB8Error as err:
        _LOGGER.debug("%s: connection test failed: %s", service_info.name, err)
        return "cannot_connect"
    except Exception:
        _LOGGER.exception("%s: unexpected error while testing the connection", service_info.name)
        return "unknown"
    finally:
        await session.close()
    return None


def _supported_model(service_info: BluetoothServiceInfoBleak) -> CatalogEntry | None:
    """Return the model the advertised name says, if the session can drive it."""
    model = model_for_name(service_info.name)
    return model if model is not None and model.supported else None


def _entry_data(info: BluetoothServiceInfoBleak, model: CatalogEntry) -> dict[str, str]:
    return {CONF_ADDRESS: info.address, DATA_MODEL: model.key}


class BB8ConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up a Sphero toy found by Home Assistant's Bluetooth (adapter or ESPHome proxy)."""

    VERSION = 1

    def __init__(self) -> None:
        """Start with nothing discovered."""
        self._discovery_info: BluetoothServiceInfoBleak | None = None
        self._model: CatalogEntry | None = None
        self._discovered: dict[str, tuple[BluetoothServiceInfoBleak, CatalogEntry]] = {}

    async def async_step_bluetooth(self, discovery_info: BluetoothServiceInfoBleak) -> ConfigFlowResult:
        """Handle a toy found by the manifest's Bluetooth matcher."""
        await self.async_set_unique_id(discovery_info.address)
        self._abort_if_unique_id_configured()
        if not discovery_info.connectable:
            return self.async_abort(reason="not_supported")
        if (model := _supported_model(discovery_info)) is None:
            return self.async_abort(
                reason="unsupported_model", description_placeholders={"name": discovery_info.name}
            )
        self._discovery_info, self._model = discovery_info, model
        self.context["title_placeholders"] = {"name": discovery_info.name}
        return await self.async_step_bluetooth_confirm()

    async def async_step_bluetooth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask before connecting to a discovered toy (connecting wakes it up)."""
        info, model = self._discovery_info, self._model
        assert info is not None
        assert model is not None
        errors: dict[str, str] = {}
        if user_input is not None:
            if (error := await _async_test_connection(info, model)) is None:
                return self.async_create_entry(title=info.name, data=_entry_data(info, model))
            errors["base"] = error
        return self.async_show_form(
            step_id="bluetooth_confirm",
            description_placeholders={"name": info.name, "model": model.name},
            errors=errors,
        )

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Pick one of the toys Home Assistant can see and that is not set up yet."""
        errors: dict[str, str] = {}
        if user_input is not None:
            address = user_input[CONF_ADDRESS]
            info, model = self._discovered[address]
            await self.async_set_unique_id(address, raise_on_progress=False)
            self._abort_if_unique_id_configured()
            if (error := await _async_test_connection(info, model)) is None:
                return self.async_create_entry(title=info.name, data=_entry_data(info, model))
            errors["base"] = error

        configured = self._async_current_ids(include_ignore=False)
        for info in async_discovered_service_info(self.hass, connectable=True):
            if info.address in configured or info.address in self._discovered:
                continue
            if (found := _supported_model(info)) is not None:
                self._discovered[info.address] = (info, found)
        if not self._discovered:
            return self.async_abort(reason="no_devices_found")
        return self.async_show_form(
            step_id="user",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_ADDRESS): vol.In(
                        {
                            address: f"{info.name} ({model.name}, {address})"
                            for address, (info, model) in self._discovered.items()
                        }
                    )
                }
            ),
            errors=errors,
        )

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: Any) -> BB8OptionsFlow:
        """Offer the options flow."""
        return BB8OptionsFlow()


def _box(low: int, high: int) -> selector.NumberSelectorConfig:
    return selector.NumberSelectorConfig(min=low, max=high, step=1, mode=selector.NumberSelectorMode.BOX)


def _seconds(low: int, high: int) -> selector.NumberSelector:
    return selector.NumberSelector(_box(low, high) | {"unit_of_measurement": "s"})


# The number options, in the form's order, each with its selector's bounds (the toy's sleep time
# as the protocol allows it, the others what makes sense for a toy at home).
_NUMBER_OPTIONS: dict[str, selector.NumberSelector] = {
    CONF_INACTIVITY_TIMEOUT: _seconds(MIN_INACTIVITY_TIMEOUT, 0xFFFF),
    CONF_IDLE_TIMEOUT: _seconds(10, 3600),
    CONF_POLL_INTERVAL: _seconds(10, 3600),
    CONF_RECONNECT_MAX_DELAY: _seconds(5, 3600),
    CONF_RECONNECT_MAX_ATTEMPTS: selector.NumberSelector(_box(0, 1000)),
}


class BB8OptionsFlow(OptionsFlow):
    """Connection mode, the toy's sleep time, idle timeout, poll interval, reconnect limits; saving reloads."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show and validate the options (the selectors bound every number).

        A v2 toy's sleep time is not offered: the v2 inactivity setting is not built, so the
        option would change nothing on the toy.
        """
        errors: dict[str, str] = {}
        model = BY_KEY[self.config_entry.data.get(DATA_MODEL, BB8.key)]
        number_options = {
            key: number
            for key, number in _NUMBER_OPTIONS.items()
            if key != CONF_INACTIVITY_TIMEOUT or model.protocol == "v1"
        }
        if user_input is not None:
            try:
                numbers = {key: int(user_input[key]) for key in number_options}
            except (ValueError, OverflowError):
                # The selectors bound every number, but NaN and infinity compare false with any
                # bound and slip through; int() then refuses them here.
                errors["base"] = "invalid_number"
            else:
                return self.async_create_entry(
                    data={CONF_CONNECTION_MODE: user_input[CONF_CONNECTION_MODE], **numbers}
                )
        options = {**OPTION_DEFAULTS, **self.config_entry.options}
        schema = vol.Schema(
            {
                vol.Required(
                    CONF_CONNECTION_MODE, default=options[CONF_CONNECTION_MODE]
                ): selector.SelectSelector(
                    selector.SelectSelectorConfig(
                        options=[MODE_ALWAYS, MODE_ON_DEMAND],
                        translation_key=CONF_CONNECTION_MODE,
                        mode=selector.SelectSelectorMode.LIST,
                    )
                ),
                **{vol.Required(key, default=options[key]): number for key, number in number_options.items()},
            }
        )
        return self.async_show_form(step_id="init", data_schema=schema, errors=errors)
