"""The README's GitHub tables are what the workflow and action YAML say (tools/gendocs).

`python -m tools.gendocs --check` checks every generator's blocks at once; this checks the
GitHub ones on their own, so a drift here names its cause.
"""

from __future__ import annotations

from tools.gendocs import README, apply
from tools.gendocs.github import render


def test_readme_github_tables_are_fresh() -> None:
    text = README.read_text(encoding="utf-8")
    assert apply(text, render()) == text, (
        "README.md differs from the workflow/action YAML: run `make docs`"
    )


def test_every_github_block_is_in_the_github_section() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- BEGIN SECTION: github -->")
    end = text.index("<!-- END SECTION: github -->")
    blocks = render()
    assert set(blocks) >= {
        "github-workflow-inputs",
        "github-workflow-outputs",
        "github-action-gate",
        "github-action-securityhub",
    }
    for name in blocks:
        at = text.index(f"<!-- BEGIN GENERATED: {name} -->")
        assert start < at < end, name


def test_tables_list_every_input() -> None:
    blocks = render()
    for name in ("image-name", "policy", "push-role-arn", "deploy", "environment", "images"):
        assert f"| `{name}` |" in blocks["github-workflow-inputs"], name
    for name in ("decision", "counts", "image-digest", "slack-webhook-url"):
        assert f"| `{name}` |" in blocks["github-workflow-outputs"], name
    assert "| `reports` | required |" in blocks["github-action-gate"]
