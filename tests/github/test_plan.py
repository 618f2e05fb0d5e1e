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


def _base_checkout(tmp_path: Path) -> Path:
    base = tmp_path / ".scangate-base"
    (base / ".scangate").mkdir(parents=True)
    (base / ".scangate" / "policy.yaml").write_text(BASE_POLICY, encoding="utf-8")
    (base / ".github" / "workflows").mkdir(parents=True)
    (base / ".github" / "workflows" / "ci.yml").write_text(BASE_CALLER, encoding="utf-8")
    return base


def test_the_base_checkout_gives_the_base_policy_and_caller(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The gate job's step: the base's files found from github.workflow_ref alone."""
    base = _base_checkout(tmp_path)
    ref = "acme/my-service/.github/workflows/ci.yml@refs/pull/7/merge"
    argv = ["plan", "pull-request", "--base-checkout", str(base), "--workflow-ref", ref]
    assert main([*argv, "--policy", ".scangate/policy.yaml", "--max-high", "2"]) == 0
    assert main([*argv, "--policy", ".scangate/policy.yaml", "--max-high", "3"]) == 2
    assert "max-high" in capsys.readouterr().err
    # A policy path the base's caller does not pass is refused too.
    assert main([*argv, "--policy", "loose.yaml"]) == 2


def _choose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "github_output"
    out.write_text("", encoding="utf-8")
    assert main(["plan", "policy", "--policy", ".scangate/policy.yaml", "--outputs", str(out),
                 "--step-summary", str(tmp_path / "summary.md"), "--base-sha", "b" * 40,
                 *args]) == 0
    return dict(line.split("=", 1) for line in out.read_text().splitlines())


def test_a_pull_request_gets_the_base_policy_and_its_change_is_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = _base_checkout(tmp_path)
    (tmp_path / ".scangate").mkdir()
    (tmp_path / ".scangate" / "policy.yaml").write_text("version: 1\nthresholds: {}\n")
    got = _choose(tmp_path, monkeypatch, "--from-base", "true", "--base-checkout", str(base))
    assert got == {"policy": str(base / ".scangate" / "policy.yaml")}
    shown = (tmp_path / "summary.md").read_text()
    assert "not applied" in shown and "+thresholds: {}" in shown and "-  high: 2" in shown
    # A push (or policy-from-base: false) applies the repository's own file.
    assert _choose(tmp_path, monkeypatch, "--from-base", "false") == {
        "policy": ".scangate/policy.yaml"}


def test_a_base_without_the_policy_gets_the_default_never_the_pull_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".scangate").mkdir()
    (tmp_path / ".scangate" / "policy.yaml").write_text("version: 1\nthresholds: {}\n")
    got = _choose(tmp_path, monkeypatch, "--from-base", "true", "--base-checkout",
                  str(tmp_path / "empty-base"))
    assert got == {"policy": ""}
    assert "(absent)" in (tmp_path / "summary.md").read_text()
