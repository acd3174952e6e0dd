"""Put the joystick card on developer mode's dashboard and open it in a logged-in browser.

Used by ``scripts/screenshot --card`` (the picture in docs/ and the README) and by the browser
test (``tests/test_card_browser.py``). The dashboard is saved the way the dashboard editor saves
it (the ``lovelace/config/save`` WebSocket command), so the card is on it exactly as a person who
picked it in the card picker would have it. The card's own code is not read here: its name is the
one the README tells people to use.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
from collections.abc import Sequence
import json
from typing import Any, Final
from urllib.parse import urlencode

import aiohttp

from .devmode import DEV_PASSWORD, DEV_USERNAME, SCREENSHOT_LED, toy_addresses
from .devmode_api import HomeAssistantApi

CARD_TYPE: Final = "custom:bb8-joystick-card"
"""The card's type, as the README gives it for a dashboard's YAML."""
CARD_MAX_SPEED: Final = 120
"""The card's max_speed on developer mode's dashboard."""
DASHBOARD_URL_PATH: Final = "dashboard-bb8"
"""A dashboard of its own (Settings > Dashboards > Add dashboard), on every release alike: the
default one is a generated overview in today's Home Assistant."""
DASHBOARD_PATH: Final = f"/{DASHBOARD_URL_PATH}/0"
"""That dashboard's first view, where the card is put."""


def dashboard_config(device_id: str, *, max_speed: int = CARD_MAX_SPEED) -> dict[str, Any]:
    """Build the dashboard: one view holding the joystick card for ``device_id``."""
    return {
        "title": "BB-8",
        "views": [
            {
                "title": "BB-8",
                "path": "bb8",
                "cards": [{"type": CARD_TYPE, "device_id": device_id, "max_speed": max_speed}],
            }
        ],
    }


async def logged_in_url(api: HomeAssistantApi, path: str) -> str:
    """``path`` on Home Assistant, logged in through the frontend's own OAuth callback.

    The frontend logs itself in when it opens with ``?auth_callback=1&code=...&state=...``, so a
    headless browser needs no driver to log in.
    """
    code = await api.authorization_code(DEV_USERNAME, DEV_PASSWORD)
    state = json.dumps({"hassUrl": api.base_url, "clientId": api.client_id})
    query = urlencode(
        {"auth_callback": "1", "code": code, "state": base64.b64encode(state.encode()).decode()}
    )
    return f"{api.base_url}{path}?{query}"


async def put_card_on_dashboard(api: HomeAssistantApi, address: str, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
    """Save the BB-8 dashboard with the card for the toy at ``address``; return its device.

    The dashboard is created the first time, as Settings > Dashboards > Add dashboard does.
    """
    device = await api.wait_for_device(address, timeout)
    dashboards = await api.websocket_command({"type": "lovelace/dashboards/list"})
    if all(dashboard["url_path"] != DASHBOARD_URL_PATH for dashboard in dashboards):
        await api.websocket_command(
            {
                "type": "lovelace/dashboards/create",
                "url_path": DASHBOARD_URL_PATH,
                "title": "BB-8",
                "icon": "mdi:robot",
                "show_in_sidebar": True,
                "require_admin": False,
                "mode": "storage",
            }
        )
    await api.websocket_command(
        {
            "type": "lovelace/config/save",
            "url_path": DASHBOARD_URL_PATH,
            "config": dashboard_config(device["id"]),
        }
    )
    return device


async def card_screenshot_url(url: str, address: str, timeout: float) -> str:  # noqa: ASYNC109
    """Light the toy up, put the card on the dashboard and return the dashboard's logged-in URL."""
    async with aiohttp.ClientSession() as http:
        api = HomeAssistantApi(http, url)
        await api.login(DEV_USERNAME, DEV_PASSWORD)
        device = await put_card_on_dashboard(api, address, timeout)
        # This toy's entities: developer mode's other toys have lights of the same names.
        entities = (await api.render(f"{{{{ device_entities('{device['id']}') | join(',') }}}}")).split(",")
        main_led = next(entity for entity in entities if entity.endswith("_main_led"))
        await api.call("light", "turn_on", {"entity_id": main_led, "rgb_color": list(SCREENSHOT_LED)})
        return await logged_in_url(api, DASHBOARD_PATH)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the logged-in URL of developer mode's dashboard with the card on it."""
    parser = argparse.ArgumentParser(prog="python -m bb8sim.devmode_card", description=main.__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    print(asyncio.run(card_screenshot_url(args.url, toy_addresses(1)[0], args.timeout)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
