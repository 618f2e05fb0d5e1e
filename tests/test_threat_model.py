"""docs/threat-model.md: every actor has a row and every row names tests that exist (issue 21
§6). A row without a test is a bug."""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DOC = REPO_ROOT / "docs" / "threat-model.md"
ACTORS = ("Fork pull-request author", "Branch pusher", "Pipeline-variable setter", "Cache writer",
          "Base-image or image author", "Report producer", "Policy author",
          "Sender of AWS events", "Registry user")
_TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def _rows() -> list[list[str]]:
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("| ") and not line.startswith(("| Actor", "| ---")):
            rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


def test_every_actor_has_a_row() -> None:
    actors = [row[0] for row in _rows()]
    assert all(actor in actors for actor in ACTORS), actors


def test_every_row_names_tests_that_exist() -> None:
    rows = _rows()
    assert rows
    for row in rows:
        assert len(row) == 4, row
        refs = _TEST_REF.findall(row[3])
        assert refs, f"{row[0]}: no test named"
        assert len(refs) == row[3].count("`") // 2, f"{row[0]}: a reference is malformed"
        for path, name in refs:
            source = REPO_ROOT / path
            assert source.is_file(), f"{row[0]}: {path} does not exist"
            assert re.search(rf"^def {name}\(", source.read_text(encoding="utf-8"), re.M), \
                f"{row[0]}: {path} has no {name}"
