"""The pipelines' image tag format (scangate.aws.tags, `scangate image-tag`).

That the lifecycle rules select these tags is tested against the templates in
tests/templates/test_aws_moto.py (test_each_lifecycle_rule_selects_the_tags_the_pipelines_write).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from scangate.aws.tags import ENVIRONMENTS, TAG_MAX, environment_of, image_tag
from scangate.errors import UsageError

SHA = "0123456789abcdef0123456789abcdef01234567"
# Docker/OCI distribution spec: a tag is [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
OCI_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")


@pytest.mark.parametrize("environment", sorted(ENVIRONMENTS))
def test_tag_starts_with_the_environment_prefix_and_is_a_valid_tag(environment: str) -> None:
    tag = image_tag(environment, SHA, "9" * 20, "9" * 20)
    assert tag.startswith(ENVIRONMENTS[environment])
    assert OCI_TAG.fullmatch(tag) and len(tag) <= TAG_MAX
    assert environment_of(tag) == environment


def test_each_attempt_gets_a_new_tag() -> None:
    """Tags are immutable in the repository: a re-run must not reuse one."""
    assert image_tag("prod", SHA, "42", "1") != image_tag("prod", SHA, "42", "2")
    assert image_tag("prod", SHA.upper()[:12], "42") == "prod-0123456789ab-42-1"


@pytest.mark.parametrize(("environment", "sha", "run", "attempt"), [
    ("production", SHA, "1", "1"),
    ("prod", "main", "1", "1"),
    ("prod", SHA + "0", "1", "1"),
    ("prod", "abc", "1", "1"),
    ("prod", SHA, "1; rm -rf /", "1"),
    ("prod", SHA, "", "1"),
    ("prod", SHA, "1", "-1"),
])
def test_bad_parts_are_refused(environment: str, sha: str, run: str, attempt: str) -> None:
    with pytest.raises(UsageError):
        image_tag(environment, sha, run, attempt)


def test_tags_of_other_formats_have_no_environment() -> None:
    assert environment_of(f"{SHA}-42-1") is None
    assert environment_of("latest") is None
    assert environment_of(f"prod-{SHA}-42") is None


def test_cli_prints_the_tag(cli: Callable[[list[str]], int],
                            capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["image-tag", "--environment", "staging", "--sha", SHA, "--run", "7",
                "--attempt", "3"]) == 0
    assert capsys.readouterr().out == f"staging-{SHA}-7-3\n"
    assert cli(["image-tag", "--environment", "staging", "--sha", "HEAD", "--run", "7"]) == 2
    assert "is not a commit id" in capsys.readouterr().err
