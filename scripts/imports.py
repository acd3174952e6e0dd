"""Draw the imports between the integration's modules, as a Mermaid graph plus a table of floors.

Run with Python 3.13 or newer: ``.venv/bin/python scripts/imports.py > docs/imports-after.md``. It reads the
sources (``ast``; nothing is imported or run) and lists, for every module of
``custom_components/bb8``, the package modules it imports. A module stands on a floor one above
the highest it imports, so a floor-1 module imports nothing of the package. GitHub renders the
Mermaid block as a drawing; the table says the same in words.
"""

from __future__ import annotations

import ast
from pathlib import Path
import sys

PACKAGE = Path(__file__).resolve().parent.parent / "custom_components" / "bb8"


def module_name(path: Path) -> str:
    """Name a file as its dotted module inside the package (``sphero.link``, ``coordinator``)."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or "__init__"


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Return the package modules ``path`` imports (relative imports, resolved)."""
    here = module_name(path).split(".") if module_name(path) != "__init__" else []
    package = here if path.name == "__init__.py" else here[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom) or node.level == 0:
            continue
        base = package[: len(package) - (node.level - 1)]
        stem = [*base, *(node.module.split(".") if node.module else [])]
        for alias in node.names:
            for candidate in (".".join([*stem, alias.name]), ".".join(stem)):
                if candidate in modules:
                    found.add(candidate)
                    break
    found.discard(module_name(path))
    return found


def graph() -> dict[str, set[str]]:
    """Return every module of the package with the package modules it imports."""
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in files}
    return {module_name(path): imports_of(path, modules) for path in files}


def floors(edges: dict[str, set[str]]) -> dict[str, int]:
    """Return each module's floor: 1 + the highest floor it imports (1 for none)."""
    floor: dict[str, int] = {}

    def visit(name: str, seen: frozenset[str]) -> int:
        if name not in floor:
            below = [visit(dep, seen | {name}) for dep in edges[name] if dep not in seen]
            floor[name] = 1 + max(below, default=0)
        return floor[name]

    for name in edges:
        visit(name, frozenset())
    return floor


def main() -> None:
    """Print the drawing."""
    edges = graph()
    floor = floors(edges)
    lines = {
        name: len(path.read_text(encoding="utf-8").splitlines())
        for name, path in ((module_name(path), path) for path in PACKAGE.rglob("*.py"))
    }
    out = ["```mermaid", "graph TD"]
    for name in sorted(edges):
        out += [
            f"  {name.replace('.', '_')}[{name}] --> {dep.replace('.', '_')}[{dep}]"
            for dep in sorted(edges[name])
        ]
    out += ["```", "", "| floor | module | lines | imports |", "|---|---|---|---|"]
    for name in sorted(edges, key=lambda n: (-floor[n], n)):
        out.append(f"| {floor[name]} | {name} | {lines[name]} | {', '.join(sorted(edges[name])) or '-'} |")
    out.append(
        f"\n{len(edges)} modules, {sum(lines.values())} lines, {sum(map(len, edges.values()))} imports."
    )
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
