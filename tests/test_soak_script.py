"""scripts/soak.py's partial runs: ``--parts week`` replaces the week's rows of "Every test run".

docs/reliability.md's last table lists every test a full run ran, with its outcome and time. A
partial run (``--parts week``, ``--parts node``) rewrites only its own section above; the rows of
its tests in that table must follow (renamed tests, new times), and the rows of the other checks
must stay as the last full run wrote them.
"""

from __future__ import annotations

from collections.abc import Iterator
import importlib.util
from pathlib import Path
import sys
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "soak.py"

DOC = """# Reliability

## Every test run

| check | test | outcome | time |
|---|---|---|---:|
| fuzz | `test_decoders` | passed | 12.8 s |
| week | `test_week_of_proxy_reboots` | passed | 169.3 s |
| week | `test_farther_proxy` | passed | 18.1 s |

Fuzzing ran 10,000 hypothesis examples per property.
"""

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="{count}">{cases}</testsuite></testsuites>
"""


@pytest.fixture(scope="module")
def soak_script() -> Iterator[ModuleType]:
    """scripts/soak.py loaded as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("soak_script", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["soak_script"] = module  # dataclasses look their module up by name
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["soak_script"]


def run_with(soak_script: ModuleType, tmp_path: Path, name: str, cases: dict[str, float]) -> object:
    """A finished run named ``name`` whose JUnit report lists ``cases`` (test name: seconds), all passed."""
    junit = tmp_path / f"{name}.xml"
    junit.write_text(
        JUNIT.format(
            count=len(cases),
            cases="".join(f'<testcase name="{case}" time="{seconds}"/>' for case, seconds in cases.items()),
        )
    )
    return soak_script.Run(name, [], {}, junit=junit, returncode=0)


def test_a_partial_run_replaces_its_own_rows_and_leaves_the_other_checks_rows(
    soak_script: ModuleType, tmp_path: Path
) -> None:
    run = run_with(
        soak_script, tmp_path, "week", {"test_week_of_node_reboots": 184.9, "test_farther_node": 13.7}
    )

    text = soak_script.splice_test_rows(DOC, run)

    assert "| fuzz | `test_decoders` | passed | 12.8 s |" in text
    assert "proxy" not in text
    table = [line for line in text.splitlines() if line.startswith("| week |")]
    assert table == [
        "| week | `test_week_of_node_reboots` | passed | 184.9 s |",
        "| week | `test_farther_node` | passed | 13.7 s |",
    ]
    assert text.endswith("Fuzzing ran 10,000 hypothesis examples per property.\n")


def test_a_partial_run_with_no_rows_yet_adds_them_at_the_end_of_the_table(
    soak_script: ModuleType, tmp_path: Path
) -> None:
    run = run_with(soak_script, tmp_path, "node faults", {"test_node_faults": 99.0})

    lines = soak_script.splice_test_rows(DOC, run).splitlines()

    added = lines.index("| node faults | `test_node_faults` | passed | 99.0 s |")
    assert lines[added - 1] == "| week | `test_farther_proxy` | passed | 18.1 s |"
    assert lines[added + 1] == ""
