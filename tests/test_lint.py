"""`make lint` is clean: ruff, mypy, actionlint, zizmor, yamllint, shellcheck, hadolint and the
README's generated tables, all behind tools/lint.sh (what CI's lint job runs)."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_lint_entry_point_is_clean() -> None:
    proc = subprocess.run(["bash", "tools/lint.sh"], cwd=REPO, capture_output=True, text=True,
                          timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
