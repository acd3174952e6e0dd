"""Developer mode offers a BB-8, a SPRK+ and an Ollie to add, or any lineup of the eight models
(``scripts/develop --toys bb8,r2d2,mini``).

The lineup is parsed once (``bb8sim.devmode.parse_lineup``) for the script, the configuration
folder and the companion integration; the companion is then set up in a real ``hass`` with its
default block, and the Sphero integration discovers each of its toys as the model it is.
"""

from __future__ import annotations

from pathlib import Path

from homeassistant.components import bluetooth
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest

from bb8sim import registry
from bb8sim.companion import bb8_simulator as companion
from bb8sim.devmode import DEFAULT_LINEUP, banner, parse_lineup, prepare_config, toy_addresses
from custom_components.bb8.const import DOMAIN

from .conftest import wait_for

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_the_default_lineup_is_a_bb8_a_sprk_and_an_ollie() -> None:
    assert parse_lineup(DEFAULT_LINEUP) == ["bb8", "sprk2", "ollie"]


def test_a_number_asks_for_that_many_bb8s_and_models_may_repeat() -> None:
    assert parse_lineup("2") == ["bb8", "bb8"]
    assert parse_lineup(3) == ["bb8"] * 3
    assert parse_lineup("ollie, ollie") == ["ollie", "ollie"]


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("rvr", "no model 'rvr'; the models are bb8, sprk2, ollie, r2d2, r2q5, bb9e, mini, bolt"),
        ("bb8,,ollie", "no model ''"),
        ("0", "between 1 and 8"),
        ("9", "between 1 and 8"),
        (",".join(["bb8"] * 9), "between 1 and 8"),
    ],
)
def test_a_bad_lineup_says_what_is_wrong(spec: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_lineup(spec)


def test_the_configuration_folder_holds_the_lineup(tmp_path: Path) -> None:
    prepare_config(tmp_path, REPO_ROOT, port=8123, toys=DEFAULT_LINEUP, faults="", proxy="scanner")
    assert '  toys: "bb8,sprk2,ollie"\n' in (tmp_path / "configuration.yaml").read_text()


def test_the_banner_names_each_toy_by_its_model() -> None:
    addresses = toy_addresses(3)
    result = {
        "node": None,
        "toys": [
            {"address": address, "name": name, "configured": False, "discovered": True}
            for address, name in zip(addresses, ["BB-B54A", "SK-C0DE", "2B-7A11"], strict=True)
        ],
    }
    text = banner("http://127.0.0.1:8123", "/tmp/config", result, "")
    for name, address in zip(["BB-B54A", "SK-C0DE", "2B-7A11"], addresses, strict=True):
        assert f"   {name} ({address}): discovered: Settings > Devices & services > Discovered > Add" in text


@pytest.mark.parametrize(
    ("toys", "expected"),
    [
        (None, {"BB-B54A": "BB-8", "SK-C0DE": "SPRK+", "2B-7A11": "Ollie"}),
        ("bb8,r2d2,mini", {"BB-B54A": "BB-8", "D2-C0DE": "R2-D2", "SM-7A11": "Sphero Mini"}),
    ],
)
async def test_developer_mode_offers_its_lineup_to_add_a_bb8_an_r2d2_and_a_mini_among_them(
    hass: HomeAssistant, enable_bluetooth: None, toys: str | None, expected: dict[str, str]
) -> None:
    """The companion's toys (the default v1 lineup, or ``--toys bb8,r2d2,mini``) are each
    discovered by the Sphero integration as their model."""
    assert await async_setup_component(hass, "http", {})
    block = {"proxy": "scanner"} | ({} if toys is None else {"toys": toys})
    config = companion.CONFIG_SCHEMA({companion.DOMAIN: block})
    assert await companion.async_setup(hass, config)
    simulator = hass.data[companion.DATA]
    try:
        names = [toy.name for toy in simulator.toys]
        assert names == list(expected)
        addresses = [toy.address for toy in simulator.toys]
        await wait_for(
            lambda: all(bluetooth.async_address_present(hass, a, connectable=True) for a in addresses)
        )

        def offered() -> dict[str, str]:
            return {
                flow["context"]["unique_id"]: flow["context"]["title_placeholders"]["name"]
                for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
            }

        await wait_for(lambda: len(offered()) == 3)
        assert offered() == dict(zip(addresses, names, strict=True))
        models = {}
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN):
            form = await hass.config_entries.flow.async_configure(flow["flow_id"], None)
            models[form["description_placeholders"]["name"]] = form["description_placeholders"]["model"]
            hass.config_entries.flow.async_abort(flow["flow_id"])
        assert models == expected
    finally:
        await simulator.async_close()
        assert registry.all_toys() == []


async def test_developer_mode_offers_a_mini_an_r2d2_and_a_bolt_beside_the_v1_toys(
    hass: HomeAssistant, enable_bluetooth: None
) -> None:
    """``--toys bb8,mini,r2d2,bolt``: each is discovered by the Sphero integration as its model."""
    assert parse_lineup("bb8,mini,r2d2,bolt") == ["bb8", "mini", "r2d2", "bolt"]
    assert await async_setup_component(hass, "http", {})
    config = companion.CONFIG_SCHEMA({companion.DOMAIN: {"proxy": "scanner", "toys": "bb8,mini,r2d2,bolt"}})
    assert await companion.async_setup(hass, config)
    simulator = hass.data[companion.DATA]
    try:
        addresses = [toy.address for toy in simulator.toys]
        names = [toy.name for toy in simulator.toys]
        assert [name[:3] for name in names] == ["BB-", "SM-", "D2-", "SB-"]
        await wait_for(
            lambda: all(bluetooth.async_address_present(hass, a, connectable=True) for a in addresses)
        )
        await wait_for(lambda: len(hass.config_entries.flow.async_progress_by_handler(DOMAIN)) == 4)
        models = {}
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN):
            form = await hass.config_entries.flow.async_configure(flow["flow_id"], None)
            models[form["description_placeholders"]["name"]] = form["description_placeholders"]["model"]
            hass.config_entries.flow.async_abort(flow["flow_id"])
        assert models == dict(zip(names, ["BB-8", "Sphero Mini", "R2-D2", "BOLT"], strict=True))
        mini = simulator.toys[1]
        assert 3.5 <= mini.battery_voltage <= 4.2, "a Mini keeps its own one-cell battery"
        # The companion's collide action reaches a v2 toy too (unlinked, it reports nothing).
        await hass.services.async_call(companion.DOMAIN, "collide", {"address": mini.address}, blocking=True)
    finally:
        await simulator.async_close()
        assert registry.all_toys() == []


def test_the_toys_option_in_docs_names_every_offered_model() -> None:
    """docs/developer-mode.md: every offered model named ("`r2d2` (R2-D2)", ...) and "`--toys
    bb8,r2d2,mini` offers a BB-8, an R2-D2 and a Mini"."""
    from bb8sim.devmode import OFFERED_MODELS

    (row,) = [
        line
        for line in (REPO_ROOT / "docs" / "developer-mode.md").read_text().splitlines()
        if line.startswith("| `--toys LIST` |")
    ]
    assert all(f"`{key}` (" in row for key in OFFERED_MODELS)
    assert "`--toys bb8,r2d2,mini` offers a BB-8, an R2-D2 and a Mini" in row
    assert parse_lineup("bb8,r2d2,mini") == ["bb8", "r2d2", "mini"]
