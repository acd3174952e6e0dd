"""The Sphero integration (domain ``bb8``): one config entry per toy, driven over Bluetooth Low Energy."""

from __future__ import annotations

import logging
from typing import Any

from bleak_retry_connector import close_stale_connections_by_address
from homeassistant.components import bluetooth
from homeassistant.const import CONF_ADDRESS, EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.storage import Store
from homeassistant.helpers.typing import ConfigType

from .card import async_register_card
from .const import (
    CONF_CONNECTION_MODE,
    CONF_IDLE_TIMEOUT,
    CONF_INACTIVITY_TIMEOUT,
    CONF_POLL_INTERVAL,
    CONF_RECONNECT_MAX_ATTEMPTS,
    CONF_RECONNECT_MAX_DELAY,
    DATA_MODEL,
    DOMAIN,
    OPTION_DEFAULTS,
)
from .coordinator import STORAGE_VERSION, BB8ConfigEntry, BB8Coordinator, storage_key
from .services import async_setup_services
from .sphero.catalog import BB8, BY_KEY
from .sphero.policy import ReconnectPolicy
from .sphero.session import BB8Session, ConnectionMode

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.EVENT,
    Platform.LIGHT,
    Platform.NUMBER,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

_LOGGER = logging.getLogger(__name__)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions (so automations always validate) and the dashboard card, once."""
    async_setup_services(hass)
    await async_register_card(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: BB8ConfigEntry) -> bool:
    """Set up one toy: find it, start its session, create its entities."""
    address: str = entry.data[CONF_ADDRESS]
    # A link left open by a previous run (or another program) would make the toy invisible.
    await close_stale_connections_by_address(address)
    ble_device = bluetooth.async_ble_device_from_address(hass, address.upper(), connectable=True)
    if ble_device is None:
        if bluetooth.async_ble_device_from_address(hass, address.upper(), connectable=False):
            # Heard, but only by scanners that cannot connect: something a person can change.
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN,
                translation_key="heard_only_by_passive_scanners",
                translation_placeholders={"name": entry.title},
            )
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="device_not_found",
            translation_placeholders={"name": entry.title, "address": address},
        )
    options = {**OPTION_DEFAULTS, **entry.options}
    # What outlives a reload or a restart: whether the toy was put to sleep (only use wakes it).
    store: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, storage_key(entry.entry_id))
    stored = await store.async_load() or {}
    max_attempts = int(options[CONF_RECONNECT_MAX_ATTEMPTS])
    max_delay = float(options[CONF_RECONNECT_MAX_DELAY])
    model = BY_KEY[entry.data.get(DATA_MODEL, BB8.key)]
    session = BB8Session(
        ble_device,
        name=entry.title,
        mode=ConnectionMode(options[CONF_CONNECTION_MODE]),
        idle_timeout=float(options[CONF_IDLE_TIMEOUT]),
        inactivity_timeout=int(options[CONF_INACTIVITY_TIMEOUT]),
        inactivity_timeout_on_toy=stored.get("inactivity_timeout_on_toy"),
        asleep=bool(stored.get("asleep", False)),
        policy=ReconnectPolicy(
            initial_delay=min(2.0, max_delay),
            max_delay=max_delay,
            max_attempts=max_attempts or None,
        ),
        model=model.toy_model,
    )
    coordinator = BB8Coordinator(
        hass,
        entry,
        session,
        model,
        address,
        float(options[CONF_POLL_INTERVAL]),
        store,
    )
    entry.runtime_data = coordinator
    # Registered before anything can fail, so the session never outlives this entry. Home
    # Assistant runs the unload callbacks last-registered first: the listeners below are gone
    # before the link closes, so closing pushes nothing to them.
    entry.async_on_unload(coordinator.async_close)
    entry.async_on_unload(coordinator.async_start())
    setup_options = dict(entry.options)

    async def _async_entry_updated(hass: HomeAssistant, entry: BB8ConfigEntry) -> None:
        """Apply changed options by reloading the entry (new session, new policy).

        Only a change of options reloads: update listeners also run when a rediscovery of the
        configured toy records a new discovery key on the entry (Home Assistant 2026.2 does so
        right after setup), and that must not drop a working link.
        """
        if dict(entry.options) != setup_options:
            await hass.config_entries.async_reload(entry.entry_id)

    entry.async_on_unload(entry.add_update_listener(_async_entry_updated))

    async def _async_stop(_event: Event) -> None:
        await coordinator.async_close()

    # A plain listener (not listen_once): removing a fired once-listener on unload logs an error.
    entry.async_on_unload(hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, _async_stop))

    try:
        await session.start()
        await coordinator.async_config_entry_first_refresh()
        await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    except BaseException:
        # Home Assistant runs the unload callbacks after ConfigEntryNotReady, but not after an
        # unexpected error or a cancellation: close here, so no link or task outlives a failed
        # set-up (closing twice is harmless).
        await coordinator.async_close()
        raise
    return True


async def async_unload_entry(hass: HomeAssistant, entry: BB8ConfigEntry) -> bool:
    """Remove the entities; the session is closed by the unload callback set up with it."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: BB8ConfigEntry) -> None:
    """Forget what was kept for the toy across restarts (whether it sleeps)."""
    await Store[dict[str, Any]](hass, STORAGE_VERSION, storage_key(entry.entry_id)).async_remove()
