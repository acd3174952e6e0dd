"""What hassfest and HACS would check, checked here (hassfest skips custom integrations' files)."""

from __future__ import annotations

import ast
import json
from pathlib import Path
import re
from typing import Any

from awesomeversion import AwesomeVersion
from homeassistant.core import HomeAssistant
import pytest
import yaml

from bb8sim import SimulatedBB8
from custom_components.bb8 import const
from custom_components.bb8.const import DOMAIN
from custom_components.bb8.sphero.catalog import CATALOG

ROOT = Path(__file__).parent.parent
INTEGRATION = ROOT / "custom_components" / DOMAIN

# Every rule of the Integration Quality Scale, by tier, as Home Assistant's developer docs and
# hassfest's script/hassfest/quality_scale.py list them (docs-conditions and docs-triggers are
# the newest Bronze rules).
QUALITY_RULES: dict[str, list[str]] = {
    "bronze": [
        "action-setup", "appropriate-polling", "brands", "common-modules", "config-flow",
        "config-flow-test-coverage", "dependency-transparency", "docs-actions", "docs-conditions",
        "docs-high-level-description", "docs-installation-instructions", "docs-removal-instructions",
        "docs-triggers", "entity-event-setup", "entity-unique-id", "has-entity-name", "runtime-data",
        "test-before-configure", "test-before-setup", "unique-config-entry",
    ],
    "silver": [
        "action-exceptions", "config-entry-unloading", "docs-configuration-parameters",
        "docs-installation-parameters", "entity-unavailable", "integration-owner",
        "log-when-unavailable", "parallel-updates", "reauthentication-flow", "test-coverage",
    ],
    "gold": [
        "devices", "diagnostics", "discovery", "discovery-update-info", "docs-data-update",
        "docs-examples", "docs-known-limitations", "docs-supported-devices", "docs-supported-functions",
        "docs-troubleshooting", "docs-use-cases", "dynamic-devices", "entity-category",
        "entity-device-class", "entity-disabled-by-default", "entity-translations",
        "exception-translations", "icon-translations", "reconfiguration-flow", "repair-issues",
        "stale-devices",
    ],
    "platinum": ["async-dependency", "inject-websession", "strict-typing"],
}  # fmt: skip
ALL_RULES = {rule for rules in QUALITY_RULES.values() for rule in rules}

# What Home Assistant itself ships: a custom integration must not pin these.
HA_PROVIDED = {
    "bleak", "bleak-retry-connector", "habluetooth", "bluetooth-adapters", "bluetooth-auto-recovery",
    "bluetooth-data-tools", "dbus-fast", "voluptuous", "probatio", "numpy",
}  # fmt: skip
# What HACS 2 and Home Assistant's built-in Marketplace read from hacs.json. ``render_readme`` is
# obsolete in both (the README is always rendered), so it is not accepted here.
HACS_KEYS = {
    "name", "content_in_root", "zip_release", "filename", "hide_default_branch", "country",
    "homeassistant", "persistent_directory", "hacs",
}  # fmt: skip


def load_json(name: str) -> Any:
    return json.loads((INTEGRATION / name).read_text())


def entity_translation_keys() -> dict[str, set[str]]:
    """Every (platform, translation_key) the platform modules declare, read from their source."""
    keys: dict[str, set[str]] = {}
    for platform in ("light", "switch", "button", "sensor", "binary_sensor", "event", "number"):
        source = (INTEGRATION / f"{platform}.py").read_text()
        keys[platform] = set(re.findall(r'translation_key="([a-z_]+)"', source))
        assert keys[platform], f"{platform} declares no translation keys"
    return keys


def test_quality_scale_lists_every_rule_done_or_exempt_with_a_reason() -> None:
    rules = yaml.safe_load((INTEGRATION / "quality_scale.yaml").read_text())["rules"]
    assert set(rules) - ALL_RULES == set(), "unknown rule ids"
    assert ALL_RULES - set(rules) == set(), "rules missing from quality_scale.yaml"
    for rule, value in rules.items():
        status = value if isinstance(value, str) else value["status"]
        assert status in {"done", "exempt"}, f"{rule} is {status}"
        if status == "exempt":
            assert isinstance(value, dict), f"{rule}: exempt without a reason"
            assert len(value.get("comment", "")) > 20, f"{rule}: exempt without a reason"


def test_repair_issues_are_exempt_and_no_issue_is_translated() -> None:
    """An unreachable toy is no repairs issue (a BB-8 sleeps most of the day): none exist."""
    rules = yaml.safe_load((INTEGRATION / "quality_scale.yaml").read_text())["rules"]
    assert rules["repair-issues"]["status"] == "exempt"
    assert "sleeps most of the" in rules["repair-issues"]["comment"]
    assert "issues" not in load_json("strings.json")
    for path in INTEGRATION.glob("*.py"):
        assert "issue_registry" not in path.read_text(), path.name


def test_manifest_follows_hassfest_and_hacs_rules() -> None:
    manifest = load_json("manifest.json")
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:]), "after domain and name, keys are alphabetical"
    assert manifest["domain"] == DOMAIN
    assert AwesomeVersion(manifest["version"]).valid
    assert manifest["documentation"].startswith("https://")
    assert manifest["issue_tracker"].startswith("https://")
    assert manifest["codeowners"]
    assert all(owner.startswith("@") for owner in manifest["codeowners"])
    assert manifest["config_flow"] is True
    assert manifest["dependencies"] == ["bluetooth_adapters"]
    # Discovered: the models the session drives, by name prefix (the v2 ones wait for their protocol).
    assert manifest["bluetooth"] == [
        {"connectable": True, "local_name": f"{model.prefix}*"} for model in CATALOG if model.supported
    ]
    assert manifest["integration_type"] == "device"
    assert manifest["iot_class"] == "local_push"
    pinned = {re.split(r"[=<>!~]", requirement)[0].lower() for requirement in manifest["requirements"]}
    assert pinned & HA_PROVIDED == set(), "never pin what Home Assistant ships"


def test_manifest_version_matches_the_changelog() -> None:
    version = load_json("manifest.json")["version"]
    changelog = (ROOT / "CHANGELOG.md").read_text()
    first_release = re.search(r"^## \[?(\d+\.\d+\.\d+)", changelog, re.MULTILINE)
    assert first_release is not None
    assert first_release.group(1) == version


def test_hacs_json_matches_the_hacs_schema() -> None:
    hacs = json.loads((ROOT / "hacs.json").read_text())
    assert set(hacs) <= HACS_KEYS, f"unknown keys: {set(hacs) - HACS_KEYS}"
    assert hacs["name"]
    assert hacs["homeassistant"] == "2025.4.0"


def test_english_translation_equals_strings() -> None:
    assert load_json("strings.json") == load_json("translations/en.json")


def test_strings_cover_every_entity_option_error_and_abort() -> None:
    strings = load_json("strings.json")
    for platform, keys in entity_translation_keys().items():
        for key in keys:
            assert strings["entity"][platform][key]["name"], f"{platform}.{key} has no name"
    flow_source = (INTEGRATION / "config_flow.py").read_text()
    errors = set(re.findall(r'return "([a-z_]+)"', flow_source))
    aborts = set(re.findall(r'reason="([a-z_]+)"', flow_source)) | {"already_configured"}
    assert errors == {"cannot_connect", "out_of_slots", "unknown"}
    assert errors <= set(strings["config"]["error"])
    assert aborts <= set(strings["config"]["abort"])
    option_step = strings["options"]["step"]["init"]
    option_keys = {value for name, value in vars(const).items() if name.startswith("CONF_")}
    assert len(option_keys) == 6
    assert set(option_step["data"]) == set(option_step["data_description"]) == option_keys
    assert strings["config"]["step"]["user"]["data_description"]["address"]


def test_every_translation_key_raised_in_code_is_translated() -> None:
    strings = load_json("strings.json")
    used: set[str] = set()
    for path in INTEGRATION.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                names = {kw.arg: kw.value for kw in node.keywords}
                if "translation_domain" in names and isinstance(names.get("translation_key"), ast.Constant):
                    used.add(names["translation_key"].value)  # type: ignore[union-attr]
    assert used, "no exception translations found"
    missing = used - set(strings["exceptions"])
    assert missing == set()


# The battery device class draws a level-dependent icon; a fixed one would hide the level.
ICON_FROM_DEVICE_CLASS = {("sensor", "battery_estimate")}


def test_icons_cover_every_entity_and_action() -> None:
    icons = load_json("icons.json")
    for platform, keys in entity_translation_keys().items():
        wanted = {key for key in keys if (platform, key) not in ICON_FROM_DEVICE_CLASS}
        assert wanted <= set(icons["entity"][platform]), f"{platform} icons missing"
    services = yaml.safe_load((INTEGRATION / "services.yaml").read_text())
    assert set(icons["services"]) == set(services)


def test_every_icon_exists_in_the_frontend() -> None:
    frontend = pytest.importorskip("hass_frontend")
    names = {
        icon["name"]
        for icon in json.loads((Path(frontend.__file__).parent / "static/mdi/iconList.json").read_text())
    }

    def walk(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [icon for value in node.values() for icon in walk(value)]
        return [node]

    used = walk(load_json("icons.json"))
    assert used
    assert [icon for icon in used if icon.removeprefix("mdi:") not in names] == []


@pytest.mark.usefixtures("toy")
async def test_services_yaml_matches_the_registered_actions(hass: HomeAssistant, toy: SimulatedBB8) -> None:
    from homeassistant.setup import async_setup_component

    assert await async_setup_component(hass, DOMAIN, {})
    registered = hass.services.async_services()[DOMAIN]
    described = yaml.safe_load((INTEGRATION / "services.yaml").read_text())
    assert set(registered) == set(described)
    strings = load_json("strings.json")["services"]
    for action, service in registered.items():
        schema_fields = {str(key) for key in service.schema.schema}  # type: ignore[union-attr]
        assert schema_fields == set(described[action]["fields"]), action
        assert schema_fields == set(strings[action]["fields"]), action
