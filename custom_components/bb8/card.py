"""The joystick card: served by the integration and loaded on every dashboard by itself.

The card's files (``frontend/``) are served under ``CARD_URL_BASE`` and the card's module is
added to the frontend's extra modules, the way a card shipped inside an integration is loaded:
no dashboard resource to add by hand, with HACS or a manual install alike. Both happen once per
Home Assistant run (a static route cannot be added twice), whatever entries come and go.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

from homeassistant.components.frontend import add_extra_js_url
from homeassistant.components.http import StaticPathConfig
from homeassistant.core import HomeAssistant
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN

CARD_DIR: Final = Path(__file__).parent / "frontend"
CARD_FILE: Final = "bb8-joystick-card.js"
CARD_URL_BASE: Final = f"/{DOMAIN}_frontend"
"""Where the card's files are served (the card and the joystick module it imports)."""

DATA_CARD_URL: HassKey[str] = HassKey(f"{DOMAIN}_card_url")
"""The card's URL as loaded on dashboards, set once the card is registered in this run."""


def _card_version() -> str:
    """Digest the card's files, so a browser never keeps an older card after an update.

    The files are served without long cache headers (the card imports ``joystick.js`` by a plain
    relative URL), and the digest in the card's own URL changes whenever either file does.
    """
    digest = hashlib.sha256()
    for path in sorted(CARD_DIR.glob("*.js")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


async def async_register_card(hass: HomeAssistant) -> None:
    """Serve the card and load it on every dashboard, once per run, where there is a frontend.

    Without the frontend (a headless set-up without ``default_config``) there is no dashboard to
    load it on, so nothing is registered; ``after_dependencies`` in the manifest makes sure the
    frontend, when configured, is set up before this runs.
    """
    if DATA_CARD_URL in hass.data or "frontend" not in hass.config.components:
        return
    version = await hass.async_add_executor_job(_card_version)
    await hass.http.async_register_static_paths([StaticPathConfig(CARD_URL_BASE, str(CARD_DIR), False)])
    url = f"{CARD_URL_BASE}/{CARD_FILE}?v={version}"
    add_extra_js_url(hass, url)
    hass.data[DATA_CARD_URL] = url
