"""The published repository's habits: its workflows, pre-commit hooks and release checklist.

GitHub Actions and pre-commit cannot run on the project's own machines, so these tests hold what
can be checked here: each file parses, each workflow runs what it says on every push, the test
workflow runs exactly the README's test command, and the release checklist's steps (manifest
version, changelog section, tag) agree with the files they name.
"""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

import yaml

ROOT = Path(__file__).parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"


def _workflow(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict), name
    # YAML 1.1 reads the bare key `on` as True; GitHub reads it as the trigger list.
    data["on"] = data.pop(True, data.get("on"))
    return data


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def _readme_test_command() -> str:
    """The README's second command under "Two commands": the one that runs every test."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Two commands.*?```bash\n(.*?)```", readme, re.S)
    assert block, "README has no Two commands block"
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    tests = [command for command in commands if command.startswith("scripts/test")]
    assert tests, "README names no test command"
    return tests[0]


def test_test_workflow_runs_the_readmes_test_command_on_every_push() -> None:
    """.github/workflows/test.yml: "Runs the README's test command ... on every push"."""
    workflow = _workflow("test.yml")
    assert "push" in workflow["on"]
    assert "pull_request" in workflow["on"]
    runs = [step["run"] for step in _steps(workflow) if "run" in step]
    command = _readme_test_command()
    assert any(run.split()[-2:] == ["bash", command] for run in runs), runs
    # .ci/run, the project's own CI, runs the same script and nothing else.
    ci_lines = [
        line
        for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    assert ci_lines[-1] == f"exec bash {command}"


def test_validate_workflow_runs_hassfest_and_the_hacs_action_on_every_push() -> None:
    """.github/workflows/validate.yml: "hassfest ... and the HACS action ... on every push"."""
    workflow = _workflow("validate.yml")
    assert "push" in workflow["on"]
    uses = [step["uses"] for step in _steps(workflow) if "uses" in step]
    assert any(use.startswith("home-assistant/actions/hassfest@") for use in uses), uses
    hacs = [step for step in _steps(workflow) if step.get("uses", "").startswith("hacs/action@")]
    assert hacs, uses
    assert hacs[0]["with"]["category"] == "integration"


def test_pre_commit_runs_ruff_at_the_version_the_test_command_pins() -> None:
    """.pre-commit-config.yaml: "ruff as the README's test command runs it (same version)"."""
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    (repo,) = [repo for repo in config["repos"] if repo["repo"].endswith("/ruff-pre-commit")]
    assert {hook["id"] for hook in repo["hooks"]} == {"ruff", "ruff-format"}
    pinned = re.search(r"^ruff==(\S+)$", (ROOT / "requirements_test.txt").read_text(encoding="utf-8"), re.M)
    assert pinned, "requirements_test.txt pins no ruff"
    assert repo["rev"] == f"v{pinned.group(1)}"


def test_release_checklist_manifest_version_has_the_newest_changelog_section() -> None:
    """RELEASING.md: "the manifest's version has a changelog section (and that section is the
    newest one below ## Unreleased)"."""
    manifest = json.loads((ROOT / "custom_components" / "bb8" / "manifest.json").read_text(encoding="utf-8"))
    headings = re.findall(r"^## (.+)$", (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), re.M)
    assert headings[0] == "Unreleased"
    newest = re.fullmatch(r"(\d+\.\d+\.\d+) — \d{4}-\d{2}-\d{2}", headings[1])
    assert newest, headings[1]
    assert newest.group(1) == manifest["version"]
    checklist = (ROOT / "RELEASING.md").read_text(encoding="utf-8")
    for step in ("manifest.json", "CHANGELOG.md", "git tag -a vX.Y.Z", "## X.Y.Z — YYYY-MM-DD"):
        assert step in checklist, step
