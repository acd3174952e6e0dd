"""Diagnostics download: the session's state, counters and last error, the options, the link."""

from __future__ import annotations

from collections.abc import Iterable
import re
from typing import Any

from homeassistant.components import bluetooth
from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.const import CONF_ADDRESS
from homeassistant.core import HomeAssistant
from homeassistant.helpers.json import json_dumps
from homeassistant.util.json import json_loads

from .coordinator import BB8ConfigEntry

# The title and the advertised name end with the address's last four digits; the discovery keys
# Home Assistant records on the entry carry the whole address.
TO_REDACT = {CONF_ADDRESS, "unique_id", "title", "name", "discovery_keys"}

# Between the address's bytes a text may put a colon, a dash, an underscore (BlueZ's object paths,
# ``dev_F1_2C_…``), a dot or nothing.
_SEPARATOR = r"[:\-_.]?"

# A match must be a whole word: neither side may touch a letter or a digit. A title such as "R2"
# or "Max" is then redacted where it names the toy ("R2 - F1:2C:…: Failed to connect"), and left
# alone inside an entry id, a hex mask or any other longer word that merely contains it.
_WORD_START = r"(?<![0-9A-Za-z])"
_WORD_END = r"(?![0-9A-Za-z])"


def identifying_pattern(address: str, names: Iterable[str | None]) -> re.Pattern[str]:
    """Match, as whole words, the toy's address in any spelling, its last four digits, its names.

    Free text carries them where no key says so: bleak-retry-connector's connect errors read
    ``BB-B54A - F1:2C:…: Failed to connect…``, and an entry's title is the name a person chose.
    The longest alternatives come first, so a whole address is never left half redacted. Case
    is ignored: an address may be written in either case, and a title that stands alone as a
    word is the title whatever its case.
    """
    pairs = re.findall(r"[0-9A-Fa-f]{2}", address)
    alternatives = [_SEPARATOR.join(pairs), _SEPARATOR.join(pairs[-2:])]
    alternatives += (re.escape(name.strip()) for name in names if name and name.strip())
    alternatives.sort(key=len, reverse=True)
    return re.compile(f"{_WORD_START}(?:{'|'.join(alternatives)}){_WORD_END}", re.IGNORECASE)


def redact_everywhere(data: Any, pattern: re.Pattern[str]) -> Any:
    """Replace what ``pattern`` matches in every string value of ``data``.

    ``data`` is first made plain JSON (as the download will be), so no string hides inside an
    object the walk would not look into. Keys are left alone: they are this integration's own
    names (and Home Assistant's), never a title or an address, and a key a title happened to
    contain ("max_delay" for a toy called "Max") must stay readable.
    """

    def _walk(value: Any) -> Any:
        if isinstance(value, str):
            return pattern.sub(REDACTED, value)
        if isinstance(value, dict):
            return {key: _walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [_walk(item) for item in value]
        return value

    return _walk(json_loads(json_dumps(data)))


def _scanner(hass: HomeAssistant, source: str) -> dict[str, Any] | None:
    """Name the scanner that heard the toy (a local adapter, or e.g. an ESPHome proxy's)."""
    scanner = bluetooth.async_scanner_by_source(hass, source)
    if scanner is None:
        return None
    # "scanner_name", not "name": "name" is redacted (the toy's advertised name); a proxy's is not the toy's.
    return {"scanner_name": scanner.name, "type": type(scanner).__name__, "connectable": scanner.connectable}


async def async_get_config_entry_diagnostics(hass: HomeAssistant, entry: BB8ConfigEntry) -> dict[str, Any]:
    """Return what helps a maintainer see why a toy misbehaves, without its address or name."""
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
            "scanner": _scanner(hass, service_info.source),
        },
        "last_update_success": coordinator.last_update_success,
        "session": coordinator.session.diagnostics(),
    }
    pattern = identifying_pattern(
        coordinator.address,
        (entry.title, coordinator.session.name, None if service_info is None else service_info.name),
    )
    redacted: dict[str, Any] = redact_everywhere(async_redact_data(diagnostics, TO_REDACT), pattern)
    return redacted
