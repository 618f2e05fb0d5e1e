"""The GitLab template's README blocks, from the template itself (`make docs` writes them).

``gitlab-inputs``: one row per `spec: inputs:` entry (type, default, description, allowed values).
``gitlab-include``: the `include:` to copy, with the `integrity:` hash of the template in this
commit, so the README and the file it describes cannot disagree.
``gitlab-include-gitlab-registry``: the same for a team without AWS (`push-target: gitlab`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml

from tools.gendocs import REPO_ROOT, markdown_table

TEMPLATE = REPO_ROOT / "gitlab" / "container-scan.gitlab-ci.yml"
TEMPLATE_PATH = "gitlab/container-scan.gitlab-ci.yml"
# Where the project publishes the template (the same OWNER placeholder as the GitHub docs).
RAW_URL = "https://raw.githubusercontent.com/OWNER/scangate/<full commit SHA>/" + TEMPLATE_PATH
ARCHIVE_URL = "https://github.com/OWNER/scangate/archive/<full commit SHA>.tar.gz"


def spec_inputs(path: Path = TEMPLATE) -> dict[str, dict[str, Any]]:
    header = re.split(r"(?m)^---[ \t]*$", path.read_text(encoding="utf-8"), maxsplit=1)[0]
    inputs: dict[str, dict[str, Any]] = yaml.safe_load(header)["spec"]["inputs"]
    return inputs


def integrity(path: Path = TEMPLATE) -> str:
    """GitLab's `include: remote: integrity:` value: SRI sha256 of the file's bytes."""
    digest = hashlib.sha256(path.read_bytes()).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def _default(definition: dict[str, Any]) -> str:
    if "default" not in definition:
        return "required"
    value = definition["default"]
    if isinstance(value, bool):
        return f"`{json.dumps(value)}`"
    if value == "":
        return '`""`'
    return f"`{value}`"


def _meaning(definition: dict[str, Any]) -> str:
    text = str(definition.get("description", "")).strip()
    options = definition.get("options")
    if options:
        shown = ", ".join(f"`{o}`" if o != "" else '`""`' for o in options)
        text += f" One of: {shown}."
    return text


def inputs_table(path: Path = TEMPLATE) -> str:
    rows = []
    for name, definition in spec_inputs(path).items():
        kind = definition.get("type", "string")
        rows.append([f"`{name}`", kind, _default(definition), _meaning(definition)])
    return markdown_table(["input", "type", "default", "description"], rows)


def _include(path: Path, push_inputs: list[str]) -> str:
    """The README's include of the template: the common inputs, then how it pushes."""
    return "\n".join([
        "```yaml",
        "stages: [build, test, deploy]",
        "include:",
        f"  - remote: {RAW_URL}",
        f"    integrity: {integrity(path)}",
        "    inputs:",
        "      image-name: my-service",
        "      context: .",
        "      policy: .scangate/policy.yaml",
        f"      scangate-source: {ARCHIVE_URL}#sha256=<sha256 of that archive>",
        "      push: true",
        *(f"      {line}" for line in push_inputs),
        "```",
        "",
    ])


def include_example(path: Path = TEMPLATE) -> str:
    return _include(path, [
        "aws-region: eu-west-1",
        "registry: 123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        "push-role-arn: arn:aws:iam::123456789012:role/my-service-push",
    ])


def include_example_gitlab_registry(path: Path = TEMPLATE) -> str:
    """The same include for a team without AWS: push to the project's own GitLab registry."""
    return _include(path, ["push-target: gitlab"])


def render() -> dict[str, str]:
    return {"gitlab-inputs": inputs_table(), "gitlab-include": include_example(),
            "gitlab-include-gitlab-registry": include_example_gitlab_registry()}
