"""README tables of the reusable workflow and the composite actions, from their YAML.

Blocks: ``github-workflow-inputs``, ``github-workflow-outputs`` (outputs and secrets) of
.github/workflows/container-scan.yml, ``github-release-inputs``, ``github-release-outputs`` of
.github/workflows/container-release.yml, and ``github-action-<name>`` (inputs and outputs) for
every actions/<name>/action.yml. The YAML is the single source: every input there has a
description and a default (tests/github/test_workflow_static.py enforces that).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tools.gendocs import REPO_ROOT, markdown_table

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "container-scan.yml"
RELEASE_WORKFLOW = REPO_ROOT / ".github" / "workflows" / "container-release.yml"
ACTIONS = REPO_ROOT / "actions"


def _load(path: Path) -> dict[str, Any]:
    # PyYAML (YAML 1.1) reads the key `on` as True; the workflow keeps it as a key.
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        raise SystemExit(f"{path}: not a YAML mapping")
    if True in doc and "on" not in doc:
        doc["on"] = doc.pop(True)
    return doc


def _default(spec: dict[str, Any]) -> str:
    if spec.get("required") and "default" not in spec:
        return "required"
    value = spec.get("default")
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value is None or value == "":
        return '`""`'
    return f"`{value}`"


def _code(name: str) -> str:
    return f"`{name}`"


def workflow_blocks(path: Path = WORKFLOW) -> dict[str, str]:
    call = _load(path)["on"]["workflow_call"]
    inputs = [
        [_code(name), str(spec.get("type", "")), _default(spec), str(spec.get("description", ""))]
        for name, spec in call.get("inputs", {}).items()
    ]
    outputs = [
        [_code(name), "output", str(spec.get("description", ""))]
        for name, spec in call.get("outputs", {}).items()
    ]
    outputs += [
        [
            _code(name),
            "secret" + (" (required)" if spec.get("required") else ""),
            str(spec.get("description", "")),
        ]
        for name, spec in call.get("secrets", {}).items()
    ]
    return {
        "github-workflow-inputs": markdown_table(
            ["input", "type", "default", "description"], inputs
        ),
        "github-workflow-outputs": markdown_table(["name", "kind", "description"], outputs),
    }


def action_block(path: Path) -> str:
    action = _load(path)
    inputs = [
        [_code(name), _default(spec), str(spec.get("description", ""))]
        for name, spec in (action.get("inputs") or {}).items()
    ]
    outputs = [
        [_code(name), str(spec.get("description", ""))]
        for name, spec in (action.get("outputs") or {}).items()
    ]
    text = f"{action.get('description', '')}\n\n"
    text += markdown_table(["input", "default", "description"], inputs)
    if outputs:
        text += "\n" + markdown_table(["output", "description"], outputs)
    return text


def render() -> dict[str, str]:
    blocks = workflow_blocks()
    release = workflow_blocks(RELEASE_WORKFLOW)
    blocks["github-release-inputs"] = release["github-workflow-inputs"]
    blocks["github-release-outputs"] = release["github-workflow-outputs"]
    for action in sorted(ACTIONS.glob("*/action.yml")):
        blocks[f"github-action-{action.parent.name}"] = action_block(action)
    return blocks
