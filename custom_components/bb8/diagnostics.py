"""Diagnostics download: the session's state, counters and last error, the options, the link."""

from __future__ import annotations

from typing import Any

from homeassistant.components import bluetooth
from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_ADDRESS
from homeassistant.core import HomeAssistant

from .coordinator import BB8ConfigEntry

# The title and the advertised name end with the address's last four digits; the discovery keys
# Home Assistant records on the entry carry the whole address.
TO_REDACT = {CONF_ADDRESS, "unique_id", "title", "name", "discovery_keys"}


async def async_get_config_entry_diagnostics(hass: HomeAssistant, entry: BB8ConfigEntry) -> dict[str, Any]:
    """Return what helps a maintainer see why a toy misbehaves, without its address."""
    coordinator = entry.runtime_data
    service_info = bluetooth.async_last_service_info(hass, coordinator.address, connectable=True)
    diagnostics = {
        "entry": entry.as_dict(),
        "available": coordinator.available,
        "rssi": coordinator.rssi,
        "advertisement": None
        if service_info is None
        else {
            "name": service_info.name,
            "rssi": service_info.rssi,
            "source": service_info.source,
            "connectable": service_info.connectable,
        },
        "last_update_success": coordinator.last_update_success,
        "session": coordinator.session.diagnostics(),
    }
    redacted: dict[str, Any] = async_redact_data(diagnostics, TO_REDACT)
    return redacted
