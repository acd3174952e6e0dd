"""The joystick card is served by the integration and loads itself on every dashboard.

README, "Drive it from a dashboard": "The card comes with the integration and loads itself on
every dashboard: there is no resource to add, whether it was installed with HACS or by hand."
These tests set up Home Assistant's real frontend (the component that renders every dashboard
page) next to a simulated toy and read what a browser would get.
"""

from __future__ import annotations

import json
from pathlib import Path
from unittest.mock import patch

from homeassistant.components.frontend import DATA_EXTRA_MODULE_URL
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from bb8sim import SimulatedBB8
from custom_components.bb8.card import CARD_URL_BASE, DATA_CARD_URL, async_register_card

from .conftest import set_up_toy

CARD_DIR = Path(__file__).resolve().parents[1] / "custom_components" / "bb8" / "frontend"


async def _frontend_and_toy(hass: HomeAssistant, toy: SimulatedBB8) -> None:
    """What a Home Assistant with ``default_config`` has: the frontend, then the toy's entry."""
    assert await async_setup_component(hass, "frontend", {})
    await set_up_toy(hass, toy)


def _extra_modules(hass: HomeAssistant) -> set[str]:
    return set(hass.data[DATA_EXTRA_MODULE_URL].urls)


async def test_the_card_loads_itself_on_every_dashboard_with_no_resource_to_add(
    hass: HomeAssistant, toy: SimulatedBB8, hass_client: ClientSessionGenerator
) -> None:
    """The dashboard page itself names the card's module: no dashboard resource is involved."""
    await _frontend_and_toy(hass, toy)
    url = hass.data[DATA_CARD_URL]
    assert url.startswith(f"{CARD_URL_BASE}/bb8-joystick-card.js?v=")
    assert url in _extra_modules(hass)

    client = await hass_client()
    # An onboarded Home Assistant serves the dashboard page (a new one sends to onboarding).
    with patch("homeassistant.components.onboarding.async_is_onboarded", return_value=True):
        page = await client.get("/lovelace/0")
    assert page.status == 200
    assert url in await page.text(), "the dashboard page loads the card's module"
    assert "lovelace_resources" not in hass.data or not hass.data["lovelace_resources"].async_items()


async def test_the_card_and_its_joystick_module_are_served_as_shipped(
    hass: HomeAssistant, toy: SimulatedBB8, hass_client: ClientSessionGenerator
) -> None:
    await _frontend_and_toy(hass, toy)
    client = await hass_client()
    for name in ("bb8-joystick-card.js", "joystick.js"):
        response = await client.get(f"{CARD_URL_BASE}/{name}")
        assert response.status == 200, name
        assert response.content_type in ("application/javascript", "text/javascript"), name
        assert await response.text() == (CARD_DIR / name).read_text(), name
    card = await client.get(hass.data[DATA_CARD_URL])
    assert card.status == 200


async def test_the_card_is_registered_once_per_run_whatever_entries_come_and_go(
    hass: HomeAssistant, toy: SimulatedBB8
) -> None:
    await _frontend_and_toy(hass, toy)
    url = hass.data[DATA_CARD_URL]
    entry = hass.config_entries.async_entries("bb8")[0]
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    # A second registration would add the static route twice, which aiohttp refuses.
    await async_register_card(hass)
    assert hass.data[DATA_CARD_URL] == url
    assert [module for module in _extra_modules(hass) if module.startswith(CARD_URL_BASE)] == [url]


async def test_the_card_url_changes_when_the_card_does(hass: HomeAssistant, tmp_path: Path) -> None:
    """A browser never keeps an older card after an update: the digest is in the URL."""
    from custom_components.bb8 import card

    before = card._card_version()
    original = card.CARD_DIR
    copy = tmp_path / "frontend"
    copy.mkdir()
    for path in original.glob("*.js"):
        (copy / path.name).write_text(path.read_text())
    (copy / "joystick.js").write_text((copy / "joystick.js").read_text() + "\n// changed\n")
    try:
        card.CARD_DIR = copy  # type: ignore[misc]
        assert card._card_version() != before
    finally:
        card.CARD_DIR = original  # type: ignore[misc]


async def test_without_a_frontend_nothing_is_registered(hass: HomeAssistant, toy: SimulatedBB8) -> None:
    """A set-up without dashboards (no frontend configured) still sets the toy up."""
    await set_up_toy(hass, toy)
    assert DATA_CARD_URL not in hass.data
    assert "frontend" not in hass.config.components


def test_the_manifest_sets_up_the_frontend_first_when_there_is_one() -> None:
    manifest = json.loads((CARD_DIR.parent / "manifest.json").read_text())
    assert set(manifest["after_dependencies"]) == {"frontend", "http"}
