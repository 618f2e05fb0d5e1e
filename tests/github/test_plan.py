"""`scangate plan pull-request`: a pull request's gate inputs may only tighten the base's policy.

For `pull_request` the caller workflow (and so every `with:` input) comes from the pull
request's merge commit (GitHub docs, "Events that trigger workflows", pull_request;
../shared/notes/platform-rules.md): a pull request could raise `max-critical`, set
`ignore-unfixed` or `policy-from-base: false`, or point `policy` at another file. The CLI is run
in-process through `main(argv)` with real policy files.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scangate._cli import main

BASE_POLICY = """\
version: 1
thresholds:
  critical: 0
  high: 2
"""

BASE_CALLER = """\
on: pull_request
jobs:
  scan:
    uses: scangate/scangate/.github/workflows/container-scan.yml@v1.2.0
    with:
      policy: .scangate/policy.yaml
  other:
    uses: acme/else/.github/workflows/x.yml@main
    with:
      policy: elsewhere.yaml
"""


def _plan(tmp_path: Path, *args: str, base: str | None = BASE_POLICY,
          caller: str | None = BASE_CALLER) -> int:  # fmt: skip
    argv = ["plan", "pull-request", "--policy", ".scangate/policy.yaml"]
    if base is not None:
        (tmp_path / "base-policy.yaml").write_text(base, encoding="utf-8")
    argv += ["--base-policy", str(tmp_path / "base-policy.yaml")]
    if caller is not None:
        (tmp_path / "caller.yml").write_text(caller, encoding="utf-8")
    argv += ["--base-caller", str(tmp_path / "caller.yml")]
    return main([*argv, *args])


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--max-critical", "0", "--max-high", "1", "--max-low", "50"],  # low: the base has none
        ["--fail-on", "HIGH"],
        ["--fail-on", "MEDIUM", "--max-low", "3"],
        ["--policy-from-base", "true", "--ignore-unfixed", "false"],
    ],
)
def test_inputs_as_strict_or_stricter_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    assert _plan(tmp_path, *args) == 0
    assert "at least as strict" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--max-critical", "1"], "max-critical: 1 (the base policy"),
        (["--max-high", "3"], "max-high: 3"),
        (["--ignore-unfixed", "true"], "ignore-unfixed: true"),
        (["--policy-from-base", "false"], "policy-from-base: false"),
        (["--policy", "loose.yaml"], "policy: 'loose.yaml' (the base branch's caller passes "
                                     "'.scangate/policy.yaml')"),
    ],
)
def test_each_loosening_input_is_refused_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], named: str
) -> None:
    assert _plan(tmp_path, *args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("scangate: error: on a pull request")
    assert named in err


def test_every_loosening_input_is_named_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _plan(tmp_path, "--max-critical", "9", "--ignore-unfixed", "true",
                 "--policy-from-base", "false")  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    for name in ("max-critical: 9", "ignore-unfixed: true", "policy-from-base: false"):
        assert name in err, name


def test_a_base_without_the_policy_file_is_scangates_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No policy on the base yet: the default policy (no CRITICAL) is what may not loosen."""
    assert _plan(tmp_path, "--max-critical", "1", base=None) == 2
    assert "scangate's default" in capsys.readouterr().err
    assert _plan(tmp_path, "--max-high", "100", base=None) == 0


def test_the_base_policys_own_ignore_unfixed_may_be_repeated(tmp_path: Path) -> None:
    assert _plan(tmp_path, "--ignore-unfixed", "true",
                 base=BASE_POLICY + "ignore_unfixed: true\n") == 0  # fmt: skip


@pytest.mark.parametrize(
    "caller",
    [None, "not: [a workflow", "jobs:\n  x:\n    runs-on: ubuntu-latest\n",
     BASE_CALLER.replace("policy: .scangate/policy.yaml", "policy: ${{ vars.POLICY }}")],
    ids=["no-caller", "not-yaml", "no-calling-job", "expression"],
)
def test_a_policy_path_is_compared_only_with_a_literal_base_one(
    tmp_path: Path, caller: str | None
) -> None:
    """A caller new in this pull request, or whose base passes an expression, has nothing to
    compare with (docs/github-actions.md says what remains out of reach)."""
    assert _plan(tmp_path, "--policy", "loose.yaml", caller=caller) == 0


def test_a_broken_base_policy_fails_closed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _plan(tmp_path, base="thresholds: [") == 2
    err = capsys.readouterr().err
    assert err.startswith("scangate: error:") and "Traceback" not in err


@pytest.mark.parametrize("args", [["--max-high", "-1"], ["--max-high", "x"],
                                  ["--ignore-unfixed", "yes"], ["--fail-on", "SEVERE"]])
def test_bad_values_are_usage_errors(tmp_path: Path, args: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        _plan(tmp_path, *args)
    assert exit_.value.code == 2


# --- scangate plan images (the workflow's plan step runs it: test_workflow_steps.py covers
# every refusal through the step itself) -----------------------------------------------------


def test_images_prints_github_output_lines_only_on_stdout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json
    import re

    assert main(["plan", "images", "--repository=acme/My-Service", "--build-args=-A=1"]) == 0
    out, err = capsys.readouterr()
    matrix_line, call_line = out.splitlines()
    assert matrix_line.startswith("matrix=") and re.fullmatch(r"call=[0-9a-f]{8}", call_line)
    (image,) = json.loads(matrix_line[len("matrix="):])
    assert image["name"] == "my-service" and image["build_args"] == "-A=1"
    assert "images:" in err


def test_each_call_gets_its_own_id(capsys: pytest.CaptureFixture[str]) -> None:
    calls = set()
    for _ in range(3):
        assert main(["plan", "images", "--image-name=api"]) == 0
        calls.add(capsys.readouterr().out.splitlines()[1])
    assert len(calls) == 3


def test_images_refuses_without_any_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "images"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "no image name" in err
