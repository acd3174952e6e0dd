"""Print a test harness's requirements as they must be installed beside another Home Assistant.

Usage: python scripts/_harness_requirements.py (run with the leg's own Python, after the harness
was installed with ``--no-deps``). Used only when BB8_CURRENT_HA runs the current leg on a Home
Assistant release other than the one pytest-homeassistant-custom-component pins: the harness pins
some packages Home Assistant pins too (aiohasupervisor, SQLAlchemy, pydantic, numpy...), and a
harness built for an older release pins older versions than the newer release needs (2026.11's
hassio imports names aiohasupervisor 0.6.0 does not have). So Home Assistant's pin wins: a
package one of its manifests pins is printed at that pin, one its package_constraints.txt names is
printed bare (the caller installs under those constraints), and the rest as the harness pins them.
"""

from importlib import metadata
import json
from pathlib import Path
import re

import homeassistant

HARNESS = "pytest-homeassistant-custom-component"


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _home_assistant_pins() -> tuple[dict[str, str], set[str]]:
    """Every manifest's requirement by name, and the names package_constraints.txt pins."""
    root = Path(homeassistant.__file__).parent
    manifest_pins: dict[str, str] = {}
    for manifest in (root / "components").glob("*/manifest.json"):
        for requirement in json.loads(manifest.read_text()).get("requirements", []):
            manifest_pins[_name(requirement)] = requirement
    constrained = set()
    for line in (root / "package_constraints.txt").read_text().splitlines():
        if re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*\s*(==|>=|<=|~=|<|>|!=)", line):
            constrained.add(_name(line))
    return manifest_pins, constrained


def requirements() -> list[str]:
    manifest_pins, constrained = _home_assistant_pins()
    found = []
    for requirement in metadata.requires(HARNESS) or []:
        if "extra ==" in requirement.partition(";")[2]:  # an optional extra of the harness
            continue
        name = _name(requirement)
        if name == "homeassistant":
            continue
        if name in manifest_pins:
            found.append(manifest_pins[name])
        elif name in constrained:
            found.append(name)
        else:
            found.append(requirement)
    return sorted(set(found))


if __name__ == "__main__":
    print("\n".join(requirements()))
