"""`scangate push --push-target`: the target a CI's inputs name, resolved once in scangate
(GitLab's push job; tests/gitlab/test_push_target.py runs the job's call through it)."""

from __future__ import annotations

import pytest
from scangate._cli import build_parser
from scangate.commands.push import target_repository
from scangate.errors import UsageError

GITLAB = {"CI_REGISTRY_IMAGE": "registry.gitlab.example.com/g/p", "CI_REGISTRY_USER": "u"}
BASE = ["push", "--archive", "a.tar", "--image-id", "sha256:" + "1" * 64, "--tag", "t",
        "--output", "p.json"]


def resolve(*argv: str, environ: dict[str, str] | None = None) -> str:
    args = build_parser(["push"]).parse_args([*BASE, *argv])
    return target_repository(args, GITLAB if environ is None else environ)


@pytest.mark.parametrize(("argv", "repository"), [
    (["--repository", "r.example/x"], "r.example/x"),
    (["--push-target", "registry", "--registry", "r.example", "--image-name", "app"],
     "r.example/app"),
    (["--push-target", "registry", "--registry", "r.example", "--image-name", "app",
      "--repository-name", "team/app"], "r.example/team/app"),
    (["--push-target", "gitlab"], "registry.gitlab.example.com/g/p"),
    (["--push-target", "gitlab", "--repository-name", "api"],
     "registry.gitlab.example.com/g/p/api"),
])
def test_each_target(argv: list[str], repository: str) -> None:
    assert resolve(*argv) == repository


@pytest.mark.parametrize(("argv", "message"), [
    ([], "push needs --repository"),
    (["--repository", "r.example/x", "--push-target", "gitlab"], "not both"),
    (["--push-target", "registry", "--image-name", "app"], "needs the registry input"),
    (["--push-target", "registry", "--registry", "r.example"], "no repository"),
    (["--push-target", "gitlab", "--registry", "r.example"], "leave the registry"),
    (["--push-target", "gitlab", "--role-arn", "arn:aws:iam::1:role/x"], "push-role-arn"),
])
def test_what_no_target_can_be(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        resolve(*argv)


def test_gitlab_logs_in_with_the_job_token_by_name_only() -> None:
    args = build_parser(["push"]).parse_args([*BASE, "--push-target", "gitlab"])
    target_repository(args, GITLAB)
    assert (args.registry_username, args.registry_password_env) == ("u", "CI_REGISTRY_PASSWORD")
    with pytest.raises(UsageError, match="CI_REGISTRY_IMAGE is not set"):
        resolve("--push-target", "gitlab", environ={})


def test_an_empty_tag_adds_none_but_one_tag_is_needed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from scangate._cli import main

    argv = ["push", "--archive", "a.tar", "--image-id", "sha256:" + "1" * 64,
            "--output", "p.json", "--repository", "r.example/x", "--tag", ""]
    assert main(argv) == 2
    assert "no tag given (every --tag was empty, and no --pipeline-tag)" in capsys.readouterr().err
