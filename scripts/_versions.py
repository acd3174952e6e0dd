"""Print the versions a test leg runs on, on one line (the scripts put it in their output)."""

from importlib import metadata
import platform

PACKAGES = (
    ("Home Assistant", "homeassistant"),
    ("bleak", "bleak"),
    ("bleak-retry-connector", "bleak-retry-connector"),
    ("habluetooth", "habluetooth"),
    ("pytest-homeassistant-custom-component", "pytest-homeassistant-custom-component"),
)


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "(not installed)"


print(
    ", ".join(
        [f"{label} {_version(dist)}" for label, dist in PACKAGES] + [f"Python {platform.python_version()}"]
    )
)
