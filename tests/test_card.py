"""The joystick card is served by the integration and loads itself on every dashboard.

README, "Drive it from a dashboard": "The card comes with the integration and loads itself on
every dashboard: there is no resource to add, whether it was installed with HACS or by hand."
These tests set up Home Assistant's real frontend (the component that renders every dashboard
page) next to a simulated toy and read what a browser would get.
"""

from __future__ import annotations

import json
from pathlib import Path
import re
from unittest.mock import patch

from homeassistant.components.frontend import DATA_EXTRA_MODULE_URL
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
import yaml

from bb8sim import SimulatedBB8
from bb8sim.devmode_card import CARD_TYPE as DEVMODE_CARD_TYPE
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


# -- the README's words about the card, held against the card's own source -------------------

README = CARD_DIR.parents[2] / "README.md"
CARD_SOURCE = CARD_DIR / "bb8-joystick-card.js"
JOYSTICK_SOURCE = CARD_DIR / "joystick.js"


def _readme_card_section() -> str:
    text = README.read_text()
    start = text.index("#### Drive it from a dashboard: the joystick card")
    return text[start : text.index("\n#### ", start + 1)]


def _js_constant(name: str) -> str:
    match = re.search(rf"^export const {name} = ([^;]+);", JOYSTICK_SOURCE.read_text(), re.MULTILINE)
    assert match, f"joystick.js has no {name}"
    return match.group(1)


def test_readme_card_yaml_is_the_card_and_its_default_max_speed() -> None:
    """README: ``type: custom:bb8-joystick-card`` with ``max_speed`` 0-255 (default 100)."""
    section = _readme_card_section()
    block = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert block
    config = yaml.safe_load(block.group(1))
    assert set(config) == {"type", "device_id", "max_speed"}
    defined = re.search(r'const CARD_TYPE = "([^"]+)";', CARD_SOURCE.read_text())
    assert defined
    assert config["type"] == f"custom:{defined.group(1)}" == DEVMODE_CARD_TYPE
    assert "customElements.define(CARD_TYPE" in CARD_SOURCE.read_text()
    assert config["max_speed"] == int(_js_constant("DEFAULT_MAX_SPEED"))
    assert "# 0-255, the speed at the rim (default 100)" in block.group(1)
    assert "const MAX_TOY_SPEED = 255;" in JOYSTICK_SOURCE.read_text()


def test_readme_card_pacing_sentence_matches_the_card() -> None:
    """README: "at most ten commands a second. Each roll lasts 1.5 s and the card renews it every
    half second"."""
    section = " ".join(_readme_card_section().split())
    assert "at most ten commands a second" in section
    assert int(_js_constant("SEND_INTERVAL_MS")) == 100
    assert "Each roll lasts 1.5 s and the card renews it every half second" in section
    assert float(_js_constant("ROLL_DURATION_S")) == 1.5
    assert int(_js_constant("REFRESH_INTERVAL_MS")) == 500
    assert "stops within 1.5 s" in section
    # The roll the card sends carries that duration (bb8.roll's own timed roll ends it).
    assert "duration: ROLL_DURATION_S" in CARD_SOURCE.read_text()


def test_readme_the_card_follows_the_theme_and_fetches_nothing_from_the_internet() -> None:
    """README: "It follows the Home Assistant theme and fetches nothing from the internet"."""
    assert "It follows the Home Assistant theme and fetches nothing from the internet." in " ".join(
        _readme_card_section().split()
    )
    for path in CARD_DIR.glob("*.js"):
        source = path.read_text()
        assert "http" not in source.lower(), f"{path.name} names a web address"
        assert "fetch(" not in source, path.name
        for module in re.findall(r'^import .* from "([^"]+)";', source, re.MULTILINE | re.DOTALL):
            assert module.startswith("./"), f"{path.name} imports {module} from outside the card"
    style = re.search(r"const STYLE = `(.*?)`;", CARD_SOURCE.read_text(), re.DOTALL)
    assert style
    css = style.group(1)
    # Theme variables (fallbacks included) are the theme's; any colour left is hard-coded.
    while (stripped := re.sub(r"var\(--[\w-]+(, [^()]*)?\)", "THEME", css)) != css:
        css = stripped
    literal = re.search(r"#[0-9a-fA-F]{3,8}\b|rgba?\(|hsla?\(|\b(white|black|red|blue|green|gr[ae]y)\b", css)
    assert literal is None, f"a colour that is not the theme's: {literal.group(0) if literal else ''}"
    assert css.count("THEME") >= 10


def test_readme_the_stick_takes_the_keyboard_focus() -> None:
    """README: "once the stick has the keyboard focus (click it or Tab to it)"."""
    assert "(click it or Tab to it)" in " ".join(_readme_card_section().split())
    source = CARD_SOURCE.read_text()
    assert '<div class="pad" tabindex="0"' in source
    assert "event.currentTarget.focus(" in source


def test_readme_shows_the_screenshot_the_script_makes() -> None:
    assert "![The joystick card on a dashboard (developer mode, simulated toy)](docs/joystick-card.png)" in (
        README.read_text()
    )
    assert (README.parent / "docs" / "joystick-card.png").stat().st_size > 20000
    script = (README.parent / "scripts" / "screenshot").read_text()
    assert 'OUT="${OUT:-docs/joystick-card.png}"' in script
