"""Developer mode offers a BB-8, an R2-D2 and a Mini to add, or any lineup of the eight models
(``scripts/develop --toys bb8,sprk2,ollie``).

The lineup is parsed once (``bb8sim.devmode.parse_lineup``) for the script, the configuration
folder and the companion integration; the companion is then set up in a real ``hass`` with its
default block, and the Sphero integration discovers each of its toys as the model it is.
"""

from __future__ import annotations

import json
from pathlib import Path
import re

from homeassistant.components import bluetooth
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.setup import async_setup_component
import pytest
import yaml

from bb8sim import registry
from bb8sim.companion import bb8_simulator as companion
from bb8sim.devmode import DEFAULT_LINEUP, banner, parse_lineup, prepare_config, toy_addresses, toy_name
from bb8sim.v2 import SimulatedV2Toy
from custom_components.bb8.const import DOMAIN

from .conftest import wait_for

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_the_default_lineup_is_a_bb8_an_r2d2_and_a_mini_in_the_scripts_too() -> None:
    """``scripts/develop`` and ``scripts/screenshot`` default to the lineup the Python side does."""
    assert parse_lineup(DEFAULT_LINEUP) == ["bb8", "r2d2", "mini"]
    for script in ("develop", "screenshot"):
        text = (REPO_ROOT / "scripts" / script).read_text()
        assert re.findall(r"^TOYS=(\S+)", text, re.MULTILINE) == [DEFAULT_LINEUP], script


README = " ".join((REPO_ROOT / "README.md").read_text(encoding="utf-8").split())


def test_readme_says_scripts_develop_runs_a_simulated_bb8_r2d2_and_mini_each_waiting_to_be_added() -> None:
    """README: "`scripts/develop` ... with a simulated BB-8, R2-D2 and Mini" (the quick start) and
    "a simulated BB-8, R2-D2 and Mini, each waiting to be added (`--toys` picks others, e.g.
    `--toys bb8,sprk2,ollie`" (Developer mode); that they are offered to add is
    test_developer_mode_offers_its_lineup_to_add_a_bb8_an_r2d2_and_a_mini_among_them."""
    assert (
        "scripts/develop # run today's Home Assistant (2026.10.4) with a simulated BB-8, R2-D2 and Mini on"
        in README
    )
    assert (
        "and a simulated BB-8, R2-D2 and Mini, each waiting to be added (`--toys` picks others, e.g. `--toys bb8,sprk2,ollie`"
        in README
    )
    assert parse_lineup(DEFAULT_LINEUP) == ["bb8", "r2d2", "mini"]
    assert parse_lineup("bb8,sprk2,ollie") == ["bb8", "sprk2", "ollie"]


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
    text = (tmp_path / "configuration.yaml").read_text()
    assert '  toys: "bb8,r2d2,mini"\n' in text
    assert "  name: Sphero developer mode\n" in text


@pytest.mark.parametrize("node", [None, {"port": 40123, "added": True, "title": "Sphero simulator proxy"}])
def test_the_banner_says_sphero_developer_mode_and_names_each_toy_by_its_model(
    node: dict[str, object] | None,
) -> None:
    """docs/developer-mode.md's banner: " Sphero developer mode is ready", the proxy "Sphero
    simulator proxy", each toy by the name its model advertises; no toy is called a BB-8."""
    lineup = parse_lineup(DEFAULT_LINEUP)
    addresses = toy_addresses(len(lineup))
    names = [toy_name(address, model) for address, model in zip(addresses, lineup, strict=True)]
    assert names == ["BB-B54A", "D2-C0DE", "SM-7A11"]
    result = {
        "node": node,
        "toys": [
            {"address": address, "name": name, "configured": False, "discovered": True}
            for address, name in zip(addresses, names, strict=True)
        ],
    }
    text = banner("http://127.0.0.1:8123", "/tmp/config", result, "")
    assert text.splitlines()[1] == " Sphero developer mode is ready: http://127.0.0.1:8123"
    assert "'Sphero simulator proxy'" in text
    assert "BB-8" not in text
    for name, address in zip(names, addresses, strict=True):
        assert f"   {name} ({address}): discovered: Settings > Devices & services > Discovered > Add" in text
    documented = (REPO_ROOT / "docs" / "developer-mode.md").read_text()
    if node is not None:
        assert "\n".join(text.splitlines()[1:8]).replace("40123", "46653") in documented


@pytest.mark.parametrize(
    ("toys", "expected"),
    [
        (None, {"BB-B54A": "BB-8", "D2-C0DE": "R2-D2", "SM-7A11": "Sphero Mini"}),
        ("bb8,sprk2,ollie", {"BB-B54A": "BB-8", "SK-C0DE": "SPRK+", "2B-7A11": "Ollie"}),
    ],
)
async def test_developer_mode_offers_its_lineup_to_add_a_bb8_an_r2d2_and_a_mini_among_them(
    hass: HomeAssistant, enable_bluetooth: None, toys: str | None, expected: dict[str, str]
) -> None:
    """The companion's toys (its default block, a BB-8, an R2-D2 and a Mini, or ``--toys
    bb8,sprk2,ollie``) are each discovered by the Sphero integration as their model."""
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
    """docs/developer-mode.md: every offered model named ("`r2d2` (R2-D2)", ...), "By default
    (`--toys bb8,r2d2,mini`) it offers a BB-8, an R2-D2 and a Mini, `BB-B54A`, `D2-C0DE` and
    `SM-7A11`" and the SPRK+ and the Ollie "come with `--toys bb8,sprk2,ollie`"."""
    from bb8sim.devmode import OFFERED_MODELS

    (row,) = [
        line
        for line in (REPO_ROOT / "docs" / "developer-mode.md").read_text().splitlines()
        if line.startswith("| `--toys LIST` |")
    ]
    assert all(f"`{key}` (" in row for key in OFFERED_MODELS)
    assert row.startswith(f"| `--toys LIST` | `{DEFAULT_LINEUP}` |")
    assert (
        f"By default (`--toys {DEFAULT_LINEUP}`) it offers a BB-8, an R2-D2 and a Mini, `BB-B54A`, `D2-C0DE` and `SM-7A11`"
        in row
    )
    lineup = parse_lineup(DEFAULT_LINEUP)
    assert [toy_name(a, m) for a, m in zip(toy_addresses(3), lineup, strict=True)] == [
        "BB-B54A",
        "D2-C0DE",
        "SM-7A11",
    ]
    assert "come with `--toys bb8,sprk2,ollie`" in row
    assert parse_lineup("bb8,sprk2,ollie") == ["bb8", "sprk2", "ollie"]


async def test_set_battery_voltage_moves_each_toy_within_its_own_pack_and_refuses_what_one_cannot_hold(
    hass: HomeAssistant, enable_bluetooth: None
) -> None:
    """The companion's set_battery_voltage: "6.00 to 8.40 V for a BB-8, SPRK+ or Ollie ..., 7.00 to
    8.40 V for an R2-D2, R2-Q5 or BB-9E, 3.50 to 4.20 V for a Mini or a BOLT. A voltage one of the
    toys cannot hold changes none." (a Mini is in the default lineup: its one cell must be reachable)."""
    translations = json.loads((REPO_ROOT / "bb8sim/companion/bb8_simulator/translations/en.json").read_text())
    said = translations["services"]["set_battery_voltage"]["description"]
    fields = yaml.safe_load((REPO_ROOT / "bb8sim/companion/bb8_simulator/services.yaml").read_text())
    assert (
        fields["set_battery_voltage"]["fields"]["voltage"]["selector"]["number"]["min"]
        == companion.LOWEST_VOLTAGE
    )

    assert await async_setup_component(hass, "http", {})
    lineup = "bb8,sprk2,ollie,r2d2,r2q5,bb9e,mini,bolt"
    config = companion.CONFIG_SCHEMA({companion.DOMAIN: {"proxy": "scanner", "toys": lineup}})
    assert await companion.async_setup(hass, config)
    simulator = hass.data[companion.DATA]
    try:
        phrases = {
            "6.00 to 8.40 V for a BB-8, SPRK+ or Ollie": ("bb8", "sprk2", "ollie"),
            "7.00 to 8.40 V for an R2-D2, R2-Q5 or BB-9E": ("r2d2", "r2q5", "bb9e"),
            "3.50 to 4.20 V for a Mini or a BOLT": ("mini", "bolt"),
        }
        for key, toy in zip(parse_lineup(lineup), simulator.toys, strict=True):
            low, high = companion.battery_range(toy)
            (phrase,) = [phrase for phrase, keys in phrases.items() if key in keys]
            assert phrase in said
            assert phrase.startswith(f"{low:.2f} to {high:.2f} V for "), key
            for volts in (low, high):
                await hass.services.async_call(
                    companion.DOMAIN,
                    "set_battery_voltage",
                    {"address": toy.address, "voltage": volts},
                    blocking=True,
                )
                assert toy.battery_voltage == volts, key
        mini = next(
            toy for toy in simulator.toys if isinstance(toy, SimulatedV2Toy) and toy.model.key == "mini"
        )
        before = [toy.battery_voltage for toy in simulator.toys]
        with pytest.raises(
            ServiceValidationError, match=r"SM-\w+'s battery holds 3.50 to 4.20 V, not 7.20 V"
        ):
            await hass.services.async_call(
                companion.DOMAIN,
                "set_battery_voltage",
                {"address": mini.address, "voltage": 7.2},
                blocking=True,
            )
        with pytest.raises(ServiceValidationError, match="nothing was changed"):
            await hass.services.async_call(
                companion.DOMAIN, "set_battery_voltage", {"voltage": 7.2}, blocking=True
            )
        assert [toy.battery_voltage for toy in simulator.toys] == before
    finally:
        await simulator.async_close()
        assert registry.all_toys() == []
