"""Print the pinned requirements of Home Assistant integrations and everything they depend on.

Usage: python scripts/_ha_requirements.py DOMAIN... (run with the leg's own Python). The versions
come from the installed Home Assistant's own manifests, so a test leg or developer mode gets the
Bluetooth stack and the rest at exactly what that release was built for: the test harness installs
no integration's requirements, and an unpinned install would pull whatever is newest.
Standalone on purpose: it must run before anything but Home Assistant is installed.
"""

import json
from pathlib import Path
import sys

import homeassistant


def requirements(domains: list[str]) -> list[str]:
    components = Path(homeassistant.__file__).parent / "components"
    pending = list(domains)
    seen: set[str] = set()
    found: set[str] = set()
    while pending:
        domain = pending.pop()
        if domain in seen:
            continue
        seen.add(domain)
        manifest = json.loads((components / domain / "manifest.json").read_text())
        pending.extend(manifest.get("dependencies", []))
        found.update(manifest.get("requirements", []))
    return sorted(found)


if __name__ == "__main__":
    print("\n".join(requirements(sys.argv[1:])))
