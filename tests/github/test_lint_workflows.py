"""actionlint, zizmor, yamllint, shellcheck and the GitHub JSON schemas report nothing on
.github/ and actions/ (and the act stand-ins, which must stay honest too).

The linters are the pinned ones from requirements/lint.txt in .venv (shellcheck from Debian,
tools/setup/10-apt.sh). zizmor runs `--offline`: its online audits (impostor commits, known
vulnerable actions) need GitHub's API, which this machine cannot reach.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.github.actrun import REPO_ROOT, STANDINS

VENV_BIN = Path(sys.executable).parent
WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((REPO_ROOT / "actions").glob("*/action.yml"))
SCRIPTS = sorted((REPO_ROOT / "actions").glob("*/*.sh"))
STANDIN_ACTIONS = sorted(STANDINS.rglob("action.yml"))


def tool(name: str) -> str:
    found = VENV_BIN / name
    if found.exists():
        return str(found)
    which = shutil.which(name)
    if not which:
        pytest.fail(
            f"{name} not found: run `make setup` (requirements/lint.txt, tools/setup/10-apt.sh)"
        )
    return which


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)


def test_actionlint_is_clean() -> None:
    # actionlint also runs shellcheck on every `run:` of the workflows when it is on PATH.
    assert shutil.which("shellcheck"), "shellcheck missing: tools/setup/10-apt.sh installs it"
    proc = run([tool("actionlint"), "-no-color", *map(str, WORKFLOWS)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_is_clean() -> None:
    proc = run([tool("zizmor"), "--offline", "--no-progress", ".github/", "actions/"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout + proc.stderr


def test_yamllint_is_clean() -> None:
    proc = run(
        [
            tool("yamllint"),
            "--strict",
            "--format",
            "parsable",
            ".github",
            "actions",
            str(STANDINS),
            ".yamllint.yaml",
        ]
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _inline_scripts() -> list[tuple[str, str]]:
    scripts = []
    for path in [*ACTIONS, *STANDIN_ACTIONS]:
        steps = yaml.safe_load(path.read_text(encoding="utf-8"))["runs"]["steps"]
        for index, step in enumerate(steps):
            if "run" in step:
                scripts.append((f"{path.relative_to(REPO_ROOT)} step {index + 1}", step["run"]))
    return scripts


def test_shellcheck_is_clean(tmp_path: Path) -> None:
    """The action scripts, and every inline `run:` of the composite actions (actionlint only
    checks workflows)."""
    files = [str(p) for p in SCRIPTS]
    for index, (where, script) in enumerate(_inline_scripts()):
        target = tmp_path / f"{index:03d}.sh"
        target.write_text(f"#!/usr/bin/env bash\n# {where}\n{script}", encoding="utf-8")
        files.append(str(target))
    proc = run([tool("shellcheck"), "--severity=style", *files])
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("schema", "paths"),
    [
        ("vendor.github-workflows", WORKFLOWS),
        ("vendor.github-actions", [*ACTIONS, *STANDIN_ACTIONS]),
        ("vendor.dependabot", [REPO_ROOT / ".github" / "dependabot.yml"]),
    ],
    ids=["workflows", "actions", "dependabot"],
)
def test_github_schemas_accept_the_files(schema: str, paths: list[Path]) -> None:
    proc = run([tool("check-jsonschema"), "--builtin-schema", schema, *map(str, paths)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
