"""The module map in ``sphero/__init__.py`` is the truth about the package's imports.

Its docstring promises, for every module of ``custom_components/bb8/sphero``, its job and the
modules of the package it may import, and that nothing there imports Home Assistant. These
tests read the sources (nothing is imported) and hold every import against that map.
"""

from __future__ import annotations

import ast
from pathlib import Path
import re

import pytest

import custom_components.bb8.sphero as sphero

PACKAGE = Path(sphero.__file__).parent
ENTRY = re.compile(r"^(\w+): ([^;\n]+); may import:(.+?)(?=\n\w|\Z)", re.MULTILINE | re.DOTALL)


def module_map() -> dict[str, set[str]]:
    """Return the map's entries: module -> the package modules it may import."""
    doc = sphero.__doc__ or ""
    entries: dict[str, set[str]] = {}
    for name, _job, allowed in ENTRY.findall(doc):
        words = allowed.replace("\n", " ").split(",")
        entries[name] = {word.strip() for word in words if word.strip() not in ("", "-")}
    return entries


def modules() -> list[str]:
    return sorted(path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__")


def imports_of(name: str) -> tuple[set[str], set[str]]:
    """Return the package modules ``name`` imports, and the top-level outside packages it imports."""
    tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
    inside: set[str] = set()
    outside: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module is None:
                inside.update(alias.name for alias in node.names)
            else:
                inside.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level > 1:
            outside.add("..")  # the Home Assistant layer above this package
        elif isinstance(node, ast.ImportFrom) and node.module:
            outside.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            outside.update(alias.name.split(".")[0] for alias in node.names)
    return inside, outside


def test_the_map_names_every_module_of_the_package_once() -> None:
    entries = module_map()
    assert sorted(entries) == modules(), "a module without an entry, or an entry without a module"


@pytest.mark.parametrize("name", modules())
def test_each_module_imports_only_what_its_entry_allows(name: str) -> None:
    inside, _outside = imports_of(name)
    allowed = module_map().get(name, set())
    assert inside <= allowed, f"{name} imports {sorted(inside - allowed)}, which its entry does not allow"


@pytest.mark.parametrize("name", modules())
def test_no_module_imports_home_assistant_or_the_layer_above(name: str) -> None:
    _inside, outside = imports_of(name)
    assert not outside & {"homeassistant", "..", "custom_components"}, f"{name} imports {sorted(outside)}"


def test_the_map_catches_an_import_it_does_not_allow() -> None:
    """The check itself can fail: ``link`` imports ``protocol``, which ``const``'s entry forbids."""
    inside, _outside = imports_of("link")
    assert "protocol" in inside
    assert not inside <= module_map()["const"]


@pytest.mark.parametrize("name", modules())
def test_no_class_inherits_a_class_of_another_module_of_the_package(name: str) -> None:
    """The session is composed, not inherited: only errors may build on another module's class."""
    tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
    imported_from = {
        alias.asname or alias.name: node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
        for alias in node.names
    }
    inherited = {
        (cls.name, base.id, imported_from[base.id])
        for cls in ast.walk(tree)
        if isinstance(cls, ast.ClassDef)
        for base in cls.bases
        if isinstance(base, ast.Name) and base.id in imported_from
    }
    assert {row for row in inherited if row[2] != "errors"} == set()
