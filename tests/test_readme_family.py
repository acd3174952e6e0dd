"""The README's words about the Sphero family and its name, held against the code and docs/family.md.

The README's *Supported hardware* table is read row by row and compared with the catalog (the
models, their prefixes, which are supported, which have Center head) and with docs/family.md's
own tables (what the simulator took from captures); its title and the paragraph on why
everything says ``bb8`` with the manifest, hacs.json and the registered actions.
"""

from __future__ import annotations

import json
from pathlib import Path
import re

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import yaml

from custom_components.bb8.const import DOMAIN
from custom_components.bb8.sphero.catalog import CATALOG, Feature

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
FAMILY = (ROOT / "docs" / "family.md").read_text(encoding="utf-8")
INTEGRATION = ROOT / "custom_components" / DOMAIN


def section(text: str, heading: str) -> str:
    """The text under ``heading`` up to the next heading of any level."""
    start = text.index(f"{heading}\n") + len(heading) + 1
    following = re.search(r"^#+ ", text[start:], re.MULTILINE)
    return text[start : start + following.start()] if following else text[start:]


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the first Markdown table in ``text``, cells stripped."""
    rows = [line for line in text.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


HARDWARE = {row[0]: row for row in table_rows(section(README, "### Supported hardware"))}


def test_the_title_is_sphero_as_the_manifest_and_hacs_name_it() -> None:
    assert README.startswith("# Sphero for Home Assistant\n")
    assert json.loads((INTEGRATION / "manifest.json").read_text())["name"] == "Sphero"
    assert json.loads((ROOT / "hacs.json").read_text())["name"] == "Sphero"


async def test_why_everything_says_bb8_names_the_domain_and_every_action(hass: HomeAssistant) -> None:
    """README: "the actions are `bb8.roll`, `bb8.stop`, `bb8.set_heading` and `bb8.aim` ... the
    domain, the actions and every stored id stay `bb8`"."""
    paragraph = README[README.index("**Why everything says `bb8`.**") :].split("\n\n")[0]
    assert json.loads((INTEGRATION / "manifest.json").read_text())["domain"] == "bb8" == DOMAIN
    assert await async_setup_component(hass, DOMAIN, {})
    actions = set(hass.services.async_services()[DOMAIN])
    assert actions == set(yaml.safe_load((INTEGRATION / "services.yaml").read_text()))
    assert set(re.findall(r"`bb8\.(\w+)`", paragraph)) == actions
    assert "Home Assistant has no way to rename an integration's domain" in " ".join(paragraph.split())


def test_the_hardware_table_lists_every_model_of_the_catalog_with_its_prefix_and_support() -> None:
    assert len(HARDWARE) == len(CATALOG)
    for model in CATALOG:
        (row,) = [row for name, row in HARDWARE.items() if name.split(" (")[0] == model.name]
        assert row[1] == f"`{model.prefix}XXXX`", model.name
        assert row[2] == ("yes" if model.supported else "not yet"), model.name


def test_the_v2_rows_name_the_entities_their_model_has_beyond_the_common_ones() -> None:
    """README: each v2 row's entities column (the entities themselves: tests/test_family_v2.py)."""
    named = {
        Feature.MAIN_LED: "Main LED",
        Feature.CHARGING: "Charging",
        Feature.BATTERY_PERCENT: "Battery (its own percentage)",
        Feature.FRONT_BACK_LEDS: "Front LED, Back LED",
        Feature.LOGIC_DISPLAYS: "Logic displays",
        Feature.HOLO_PROJECTOR: "Holo projector",
        Feature.DOME: "Dome",
        Feature.STANCE: "Stance",
        Feature.ANIMATIONS: "Animation, ",
        Feature.SOUNDS: "Sound, ",
        Feature.AIMING_LIGHT: "Tail light (its aiming LED)",
        Feature.HEAD_LIGHT: "Head light",
        Feature.MATRIX: "Matrix text and `bb8.matrix`",
    }
    for model in CATALOG:
        if model.protocol != "v2":
            continue
        (row,) = [row for name, row in HARDWARE.items() if name.split(" (")[0] == model.name]
        for feature, words in named.items():
            assert (words in row[3]) is model.has(feature), (model.name, words)
        assert (row[3] == "none yet") is not any(model.has(feature) for feature in named), model.name


def test_center_head_is_in_the_table_for_the_models_with_a_head_only() -> None:
    """README: "Center head ... a BB-8 only (the SPRK+ and the Ollie have no head)" (its entity:
    tests/test_family_v1.py, test_the_sibling_has_every_bb8_entity_but_center_head)."""
    for model in CATALOG:
        if not model.supported:
            continue
        (row,) = [row for name, row in HARDWARE.items() if name.split(" (")[0] == model.name]
        assert (row[3] == "Center head") is model.has(Feature.HEAD), model.name


def test_what_came_from_captures_agrees_with_docs_family() -> None:
    """The README and docs/family.md agree on which models any capture covers."""
    family_rows = {
        row[0]: row
        for heading in ("## v1 siblings (`bb8sim/v1models.py`)", "## v2 toys (`bb8sim/v2/`)")
        for row in table_rows(section(FAMILY, heading))
    }
    for model in CATALOG:
        if not model.supported:
            continue
        readme_row = next(row for name, row in HARDWARE.items() if name.split(" (")[0] == model.name)
        family_row = next(row for name, row in family_rows.items() if row[1] == f"`{model.prefix}`")
        assert readme_row[4].startswith("None") is family_row[2].startswith("None"), model.name
