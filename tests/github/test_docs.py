"""The GitHub tables in docs/github-reference.md are what the workflow and action YAML say
(tools/gendocs).

`python -m tools.gendocs --check` checks every generator's blocks at once; this checks the
GitHub ones on their own, so a drift here names its cause.
"""

from __future__ import annotations

from tools.gendocs import DOCS_DIR, apply
from tools.gendocs.github import render

REFERENCE = DOCS_DIR / "github-reference.md"


def test_github_tables_are_fresh() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    assert apply(text, render()) == text, (
        "docs/github-reference.md differs from the workflow/action YAML: run `make docs`"
    )


def test_every_github_block_is_in_the_reference_page() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    blocks = render()
    assert set(blocks) >= {
        "github-workflow-inputs",
        "github-workflow-outputs",
        "github-action-gate",
        "github-action-securityhub",
    }
    for name in blocks:
        assert text.count(f"<!-- BEGIN GENERATED: {name} -->") == 1, name


def test_tables_list_every_input() -> None:
    blocks = render()
    for name in ("image-name", "policy", "images", "upload-sarif"):
        assert f"| `{name}` |" in blocks["github-workflow-inputs"], name
    for name in ("decision", "counts", "handoff", "slack-webhook-url"):
        assert f"| `{name}` |" in blocks["github-workflow-outputs"], name
    for name in ("scan", "push-role-arn", "deploy", "environment", "limits-ssm-prefix"):
        assert f"| `{name}` |" in blocks["github-release-inputs"], name
    assert "| `image-digest` |" in blocks["github-release-outputs"]
    assert "| `reports` | required |" in blocks["github-action-gate"]
