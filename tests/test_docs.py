"""README.md is short and points at docs/; every generated block is fresh and in one place.

The README is what a new user reads first (issue 24): at most 12 KB, the two commands, the three
quick starts and a table of the docs. Reference material lives in docs/, generated from the YAML
by tools/gendocs, which this checks over every file at once (`make docs` fixes a drift).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tools import gendocs

README_LIMIT = 12 * 1024


def _readme() -> str:
    return gendocs.README.read_text(encoding="utf-8")


def test_the_readme_is_at_most_12_kb() -> None:
    size = len(gendocs.README.read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes; move reference material to docs/"


def test_the_readme_has_the_two_commands_and_three_quick_starts() -> None:
    text = _readme()
    assert "make demo " in text and "make test " in text
    headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
    for wanted in ("Quick start: GitHub, scan only", "Quick start: GitHub, full release",
                   "Quick start: GitLab", "Documentation", "Development"):
        assert wanted in headings, f"README.md has no `## {wanted}`"
    assert "--durations" in text, "the development section shows where test time goes"


def test_the_docs_table_lists_every_page_and_every_link_resolves() -> None:
    text = _readme()
    table = text[text.index("## Documentation"):]
    listed = set(re.findall(r"\]\((docs/[^)#]+\.md)\)", table))
    pages = {f"docs/{p.name}" for p in gendocs.DOCS_DIR.glob("*.md")}
    assert pages - listed == set(), f"pages missing from README's docs table: {pages - listed}"
    for page in [gendocs.README, *gendocs.DOCS_DIR.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:\s]+\.md)(?:#[^)]*)?\)", page.read_text("utf-8")):
            assert (page.parent / target).resolve().exists(), f"{page.name}: broken link {target}"


def test_every_generated_block_is_fresh() -> None:
    stale = [str(path.relative_to(gendocs.REPO_ROOT))
             for path, (current, fresh) in gendocs.refreshed().items() if current != fresh]
    assert not stale, f"{stale} differ from the YAML: run `make docs`"


def test_a_block_in_two_files_or_in_none_is_refused(tmp_path: Path) -> None:
    files = gendocs.doc_files()
    copies = []
    for path in files:
        copy = tmp_path / path.name
        copy.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
        copies.append(copy)
    block = re.search(r"<!-- BEGIN GENERATED: [a-z-]+ -->\n.*?<!-- END GENERATED: [a-z-]+ -->\n",
                      copies[0].read_text(encoding="utf-8"), re.DOTALL)
    assert block, "README.md holds at least one generated block (the GitLab include)"
    twice = tmp_path / "twice.md"
    twice.write_text(block.group(0), encoding="utf-8")
    with pytest.raises(SystemExit, match="exactly once"):
        gendocs.refreshed([*copies, twice])
    with pytest.raises(SystemExit, match="exactly once"):
        gendocs.refreshed(copies[1:])
    assert gendocs.refreshed(copies)  # the copies as they are: accepted
