"""README tables generated from the YAML that defines them, so docs cannot drift.

Each generator module in this package has ``render() -> dict[str, str]`` mapping a block name to
its Markdown. The README holds each block between
``<!-- BEGIN GENERATED: name -->`` and ``<!-- END GENERATED: name -->``.
``python -m tools.gendocs --write`` rewrites them; ``--check`` (and tests/test_docs.py) fails
when the README differs from what the YAML says.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"
GENERATORS = ("policy", "github", "gitlab")


def _pattern(name: str) -> re.Pattern[str]:
    name = re.escape(name)
    return re.compile(
        rf"(<!-- BEGIN GENERATED: {name} -->\n)(.*?)(<!-- END GENERATED: {name} -->)", re.DOTALL
    )


def blocks() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in GENERATORS:
        module = importlib.import_module(f"tools.gendocs.{name}")
        out.update(module.render())
    return out


def apply(text: str, rendered: dict[str, str]) -> str:
    for name, content in rendered.items():
        pattern = _pattern(name)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no block '{name}' (add BEGIN/END GENERATED markers)")
        body = content if content.endswith("\n") else content + "\n"
        text = pattern.sub(lambda m, body=body: str(m.group(1) + body + m.group(3)), text)
    return text


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(value: str) -> str:
        return " ".join(str(value).split()).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
