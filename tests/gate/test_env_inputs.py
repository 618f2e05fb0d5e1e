"""`scangate --inputs-from-env`: a step's INPUT_* variables become its command's options
(GitHub's action-input convention, actions/toolkit `core.getInput` reads `INPUT_<NAME>`), and
nothing else ever reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scangate._cli import build_parser, main
from scangate.env_inputs import argv_with_env_inputs
from scangate.errors import UsageError

from tests.support.reports import image_report, vuln, write


def expand(argv: list[str], **env: str) -> list[str]:
    return argv_with_env_inputs(build_parser(argv), argv, env)


def test_each_kind_of_option_takes_its_variable() -> None:
    argv = ["gate-job", "run", "--outputs", "o"]
    assert expand(argv, INPUT_POLICY="p.yaml", INPUT_MAX_HIGH="3", INPUT_IGNORE_UNFIXED="true",
                  INPUT_REPORTS="a.json\r\n\n  \nb c.json\n", INPUT_FETCH_FEEDS="false",
                  INPUT_FAIL_ON="") == [
        *argv, "--reports=a.json", "--reports=b c.json", "--policy=p.yaml", "--max-high=3",
        "--ignore-unfixed"]  # fmt: skip


def test_the_command_line_wins_and_nested_commands_are_found() -> None:
    argv = ["plan", "release", "--push=false"]
    got = expand(argv, INPUT_PUSH="true", INPUT_AWS_REGION="eu-west-1", INPUT_SCAN="{}")
    assert got == [*argv, "--scan={}", "--aws-region=eu-west-1"]


@pytest.mark.parametrize("value", ["yes", "True", "1"])
def test_a_flag_is_true_or_false_only(value: str) -> None:
    with pytest.raises(UsageError, match="ignore-unfixed must be true or false"):
        expand(["gate-job", "run"], INPUT_IGNORE_UNFIXED=value)


def test_without_the_flag_no_input_variable_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    report = write(tmp_path / "r.json", image_report([vuln(severity="CRITICAL")]))
    monkeypatch.setenv("INPUT_MAX_CRITICAL", "5")
    summary = tmp_path / "s.json"
    assert main(["gate", "--report", report, "--json-summary", str(summary)]) == 1
    assert main(["--inputs-from-env", "gate", "--report", report,
                 "--json-summary", str(summary)]) == 0
    monkeypatch.setenv("INPUT_IGNORE_UNFIXED", "maybe")
    assert main(["--inputs-from-env", "gate", "--report", report]) == 2
    assert "ignore-unfixed must be true or false" in capsys.readouterr().err
    assert json.loads(summary.read_text())["decision"] == "pass"


def gitlab(argv: list[str], **env: str) -> list[str]:
    return argv_with_env_inputs(build_parser(argv), argv, env, "gitlab")


def test_gitlab_reads_the_template_table_only() -> None:
    """`--inputs-from-env=gitlab`: the template's variables (env_inputs.GITLAB), never
    SCANGATE_<OPTION> for an option the table does not name, nor GitHub's INPUT_*."""
    argv = ["gate-job", "run", "--platform", "gitlab"]
    got = gitlab(argv, SCANGATE_POLICY_FILE="p.yaml", SCANGATE_MAX_HIGH="3",
                 SCANGATE_IGNORE_UNFIXED="ignore-unfixed=true", SCANGATE_BASELINE="x.json",
                 SCANGATE_POLICY="other.yaml", INPUT_FAIL_ON="LOW",
                 SCANGATE_GATE_ROLE_ARN="arn:gate", SCANGATE_PUSH_ROLE_ARN="arn:push",
                 SCANGATE_AWS_REGION="eu-west-1", SCANGATE_FAIL_ON=" ")
    assert got[:4] == argv and sorted(got[4:]) == [
        "--aws-region=eu-west-1", "--ignore-unfixed", "--max-high=3", "--policy=p.yaml",
        "--role-arn=arn:gate"]
    assert gitlab(argv, SCANGATE_IGNORE_UNFIXED="ignore-unfixed=false") == argv


@pytest.mark.parametrize("value", ["true", "ignore-unfixed=yes", "skip-db-update=true"])
def test_a_gitlab_flag_is_its_name_and_true_or_false(value: str) -> None:
    with pytest.raises(UsageError, match="ignore-unfixed=true or ignore-unfixed=false"):
        gitlab(["gate-job", "run"], SCANGATE_IGNORE_UNFIXED=value)


def test_an_unknown_source_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--inputs-from-env=gitlb", "enforce", "--summary", "s.json"]) == 2
    assert "the only source is gitlab" in capsys.readouterr().err
