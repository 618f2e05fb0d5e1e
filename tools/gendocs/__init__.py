"""Documentation tables generated from the YAML that defines them, so docs cannot drift.

Each generator module in this package has ``render() -> dict[str, str]`` mapping a block name to
its Markdown. A block lives in exactly one of the documentation files (README.md or a page under
docs/), between ``<!-- BEGIN GENERATED: name -->`` and ``<!-- END GENERATED: name -->``.
``python -m tools.gendocs --write`` rewrites them; ``--check`` (and the docs tests) fails when a
file differs from what the YAML says, or when a block is missing or placed twice.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"
DOCS_DIR = REPO_ROOT / "docs"
GENERATORS = ("policy", "github", "gitlab")


def doc_files() -> list[Path]:
    """Every file a generated block may live in: the README and the pages under docs/."""
    return [README, *sorted(DOCS_DIR.glob("*.md"))]


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


def holds(text: str, name: str) -> bool:
    return _pattern(name).search(text) is not None


def apply(text: str, rendered: dict[str, str], *, every: bool = True) -> str:
    """``text`` with each block of ``rendered`` it holds refreshed; with ``every``, a block
    missing from ``text`` is an error."""
    for name, content in rendered.items():
        pattern = _pattern(name)
        if not pattern.search(text):
            if every:
                raise SystemExit(f"no block '{name}' (add BEGIN/END GENERATED markers)")
            continue
        body = content if content.endswith("\n") else content + "\n"
        text = pattern.sub(lambda m, body=body: str(m.group(1) + body + m.group(3)), text)
    return text


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def refreshed(files: list[Path] | None = None) -> dict[Path, tuple[str, str]]:
    """{file: (current text, text with its blocks regenerated)} over the documentation files.
    Every block must be in exactly one file, once."""
    files = doc_files() if files is None else files
    rendered = blocks()
    texts = {path: path.read_text(encoding="utf-8") for path in files}
    for name in rendered:
        where = [p for p, t in texts.items() if holds(t, name)]
        count = sum(len(_pattern(name).findall(t)) for t in texts.values())
        if count != 1:
            places = ", ".join(_shown(p) for p in where) or "nowhere"
            raise SystemExit(f"generated block '{name}' must appear exactly once, found "
                             f"{count} ({places}): fix its BEGIN/END GENERATED markers")
    return {path: (text, apply(text, rendered, every=False)) for path, text in texts.items()}


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(value: str) -> str:
        return " ".join(str(value).split()).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
