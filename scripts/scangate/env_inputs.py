"""``scangate --inputs-from-env COMMAND``: a CI step's inputs as environment variables.

A GitHub composite action or workflow step hands its inputs to a script through its `env:`
block (never through `${{ }}` inside the script). Spelling each one out again as a flag in shell
(`if [ -n "$INPUT_X" ]; then args+=(--x "$INPUT_X"); fi`) is logic written per platform; this
reads them once, here. The convention is GitHub's own for action inputs (actions/toolkit
`core.getInput` reads `INPUT_<NAME>`): each long option `--some-name` of the command that the
command line does not give takes `INPUT_SOME_NAME` when that is set and not blank:

- an option that takes a value gets it as it is (`--some-name=VALUE`);
- a repeatable option gets one value per non-blank line (GitHub's multi-line inputs);
- an on/off flag takes `true` (on) or `false` (off); anything else is refused, naming it.

Only with `--inputs-from-env`: no other invocation reads `INPUT_*`, so a stray variable in a
GitLab pipeline or a shell never changes what scangate does.

``--inputs-from-env=gitlab``: the same rules, with the GitLab template's own variables instead
(the `.<prefix>-inputs` block of gitlab/container-scan.gitlab-ci.yml), through the fixed table
``GITLAB`` below. A GitLab job sees every CI/CD variable of the pipeline, so reading
`SCANGATE_<OPTION>` for any option would let a pipeline variable add one the template never
sets (`--baseline`, `--vex`): only the variables of the table are read, each one the template
defines and `<prefix>-overridden-inputs` compares with its input (tests/gitlab checks both). A
GitLab variable cannot hold a boolean, so an on/off input is `<name>=true` or `<name>=false`.

The job's GitLab ID token (`id_tokens: SCANGATE_ID_TOKEN` of the template's AWS jobs) is not an
input: with ``=gitlab`` a command that takes ``--web-identity-token-file`` (and was given none)
gets it as a file that only this process can read, written here and removed when scangate
exits; the token itself is never an argument, so it cannot reach a command line or an error
line (which name the file). A pipeline variable of that name could only stand in a token its
setter already holds: GitLab signs it, and each role trusts its own `aud` only.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from typing import NamedTuple

from scangate.errors import UsageError

FLAG = "--inputs-from-env"
PREFIX = "INPUT_"
GITLAB_SOURCE = "gitlab"
# The template's `id_tokens:` variable, and the option that takes its token as a file.
GITLAB_ID_TOKEN = "SCANGATE_ID_TOKEN"  # noqa: S105 - a variable name, not a secret
TOKEN_FILE_OPTION = "--web-identity-token-file"  # noqa: S105 - an option name


class Variable(NamedTuple):
    """A template variable, the include input it holds, and the option it feeds in some
    commands (none named: in every command that has the option)."""

    name: str
    input: str
    option: str
    commands: tuple[str, ...] = ()
    flag_prefix: str = ""  # an on/off input's value is `<flag_prefix>true|false`
    required: tuple[str, ...] = ()  # commands that cannot run without it: empty is refused
    # The input's documented default, when it is empty, from the job's other variables.
    fallback: Callable[[Mapping[str, str]], str] | None = None


_GATE, _SCAN, _DEPLOY = ("gate-job run",), ("scan",), ("deploy",)


def _project_name(environ: Mapping[str, str]) -> str:
    """image-name's default: the project's name (GitLab's CI_PROJECT_NAME), lowercased."""
    return environ.get("CI_PROJECT_NAME", "").lower()


def _context_dockerfile(environ: Mapping[str, str]) -> str:
    """dockerfile's default: `<context>/Dockerfile` (the build job's own default); none
    without a context (never `/Dockerfile`)."""
    context = environ.get("SCANGATE_CONTEXT", "")
    return f"{context}/Dockerfile" if context.strip() else ""


# The GitLab template's variables and the options they feed. Add a row only for a variable the
# template's `.<prefix>-inputs` block sets from that input (tests/gitlab/test_gitlab_rules.py).
GITLAB: tuple[Variable, ...] = (
    Variable("SCANGATE_POLICY_FILE", "policy", "policy", _GATE),
    Variable("SCANGATE_THRESHOLDS_SSM", "thresholds-ssm-prefix", "thresholds-from-ssm", _GATE),
    Variable("SCANGATE_FAIL_ON", "fail-on", "fail-on", _GATE),
    *(Variable(f"SCANGATE_MAX_{s.upper()}", f"max-{s}", f"max-{s}", _GATE)
      for s in ("critical", "high", "medium", "low", "unknown")),
    Variable("SCANGATE_IGNORE_UNFIXED", "ignore-unfixed", "ignore-unfixed", _GATE,
             "ignore-unfixed="),
    Variable("SCANGATE_GATE_ROLE_ARN", "gate-role-arn", "role-arn", (*_GATE, "notify")),
    Variable("SCANGATE_SECURITYHUB_ROLE_ARN", "securityhub-role-arn", "role-arn",
             ("securityhub",), required=("securityhub",)),
    Variable("SCANGATE_DEPLOY_ROLE_ARN", "deploy-role-arn", "role-arn", _DEPLOY,
             required=_DEPLOY),
    Variable("SCANGATE_AWS_REGION", "aws-region", "aws-region", required=_DEPLOY),
    Variable("SCANGATE_AWS_REGION", "aws-region", "region", ("securityhub",),
             required=("securityhub",)),
    Variable("SCANGATE_SNS_TOPIC_ARN", "sns-topic-arn", "sns-topic-arn", ("notify",)),
    Variable("SCANGATE_TRIVY_SCANNERS", "trivy-scanners", "scanners", _SCAN),
    Variable("SCANGATE_TRIVY_DB_REPOSITORY", "trivy-db-repository", "db-repository", _SCAN),
    Variable("SCANGATE_TRIVY_SKIP_DB_UPDATE", "trivy-skip-db-update", "skip-db-update", _SCAN,
             "skip-db-update="),
    Variable("SCANGATE_TRIVY_DB_DIGEST", "trivy-db-digest", "db-digest", _SCAN),
    Variable("SCANGATE_IMAGE_NAME", "image-name", "image-name", ("push",),
             fallback=_project_name),
    Variable("SCANGATE_IMAGE_NAME", "image-name", "image", ("notify",), fallback=_project_name),
    Variable("SCANGATE_DOCKERFILE", "dockerfile", "dockerfile", _GATE,
             fallback=_context_dockerfile),
    Variable("SCANGATE_IMAGE_TAG", "image-tag", "tag", ("push",)),
    Variable("SCANGATE_TAG_ENVIRONMENT", "tag-environment", "tag-environment", ("push",)),
    Variable("SCANGATE_PUSH_TARGET", "push-target", "push-target", ("push",)),
    Variable("SCANGATE_REGISTRY", "registry", "registry", ("push",)),
    Variable("SCANGATE_REPOSITORY", "ecr-repository", "repository-name", ("push",)),
    Variable("SCANGATE_PUSH_ROLE_ARN", "push-role-arn", "role-arn", ("push",)),
    Variable("SCANGATE_EKS_CLUSTER", "eks-cluster", "cluster", _DEPLOY, required=_DEPLOY),
    Variable("SCANGATE_NAMESPACE", "eks-namespace", "namespace", _DEPLOY, required=_DEPLOY),
    Variable("SCANGATE_MANIFESTS", "manifests", "manifests", _DEPLOY, required=_DEPLOY),
    Variable("SCANGATE_ROLLOUT_TIMEOUT", "rollout-timeout", "rollout-timeout", _DEPLOY),
    Variable("SCANGATE_KUBECTL_VERSION", "kubectl-version", "kubectl-version", _DEPLOY),
    Variable("SCANGATE_KUBECTL_SHA256", "kubectl-sha256", "kubectl-sha256", _DEPLOY),
    Variable("SCANGATE_MONITORING_EVENT_BUS", "monitoring-event-bus", "monitoring-event-bus",
             _DEPLOY),
)


def _subparser(parser: argparse.ArgumentParser,
               argv: list[str]) -> tuple[argparse.ArgumentParser, str]:
    """The parser of the (nested) subcommand `argv` names (its options are the inputs), and
    that command's words (`gate-job run`)."""
    positionals = iter(arg for arg in argv if not arg.startswith("-"))
    words: list[str] = []
    while True:
        subs = [action for action in parser._actions
                if isinstance(action, argparse._SubParsersAction)]
        if not subs:
            return parser, " ".join(words)
        name = next(positionals, None)
        if name is None or name not in subs[0].choices:
            return parser, " ".join(words)  # argparse itself then says what is missing
        parser = subs[0].choices[name]
        words.append(name)


def _given(option: str, argv: list[str]) -> bool:
    return any(arg == option or arg.startswith(option + "=") for arg in argv)


def env_name(option: str) -> str:
    return PREFIX + option.lstrip("-").upper().replace("-", "_")


def gitlab_variable(command: str, option: str) -> Variable | None:
    """The template variable that feeds `option` (`--max-high`) of `command`, if any."""
    for row in GITLAB:
        if row.option == option.lstrip("-") and (not row.commands or command in row.commands):
            return row
    return None


def _check_required(command: str, environ: Mapping[str, str]) -> None:
    """The template's inputs `command` cannot run without, named as the user sets them."""
    missing = [row for row in GITLAB
               if command in row.required and not environ.get(row.name, "").strip()]
    if missing:
        names = ", ".join(f"{row.input} ({row.name})" for row in missing)
        raise UsageError(f"{command}: the include's input{'s' * (len(missing) > 1)} {names} "
                         f"{'are' if len(missing) > 1 else 'is'} empty: set "
                         f"{'them' if len(missing) > 1 else 'it'} in the include's inputs")


def _with_fallbacks(environ: Mapping[str, str]) -> Mapping[str, str]:
    """The variables, each empty one that has a fallback set to it (see Variable.fallback)."""
    filled = {row.name: row.fallback(environ) for row in GITLAB
              if row.fallback and not environ.get(row.name, "").strip()}
    return {**environ, **filled} if filled else environ


def _namer(source: str, command: str) -> Callable[[str], tuple[str, str]]:
    """Where an option's value comes from: (variable name, prefix of an on/off value)."""
    if source == GITLAB_SOURCE:
        def gitlab(option: str) -> tuple[str, str]:
            row = gitlab_variable(command, option)
            return (row.name, row.flag_prefix) if row else ("", "")
        return gitlab
    if source:
        raise UsageError(f"{FLAG}={source}: the only source is {GITLAB_SOURCE} (or none: "
                         "GitHub's INPUT_<OPTION>)")
    return lambda option: (env_name(option), "")


def id_token_file(token: str) -> str:
    """``token`` in a new file of a new directory only this user can read (0600 in 0700),
    both removed when the process exits."""
    directory = tempfile.mkdtemp(prefix="scangate-id-token-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    path = os.path.join(directory, "token")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(token)
    return path


def _gitlab_id_token(command_parser: argparse.ArgumentParser, argv: list[str],
                     environ: Mapping[str, str]) -> list[str]:
    """`--web-identity-token-file=<a private file holding $SCANGATE_ID_TOKEN>` for a command
    that takes one, when the job has a token and the command line names no file."""
    token = environ.get(GITLAB_ID_TOKEN, "")
    takes = any(TOKEN_FILE_OPTION in action.option_strings for action in command_parser._actions)
    if not token.strip() or not takes or _given(TOKEN_FILE_OPTION, argv):
        return []
    return [f"{TOKEN_FILE_OPTION}={id_token_file(token)}"]


def argv_with_env_inputs(parser: argparse.ArgumentParser, argv: list[str],
                         environ: Mapping[str, str], source: str = "") -> list[str]:
    """`argv` and, appended, each of its command's options that only the environment gives
    (`source`: empty for GitHub's INPUT_<OPTION>, or `gitlab` for the template's table)."""
    extra: list[str] = []
    command_parser, command = _subparser(parser, argv)
    namer = _namer(source, command)
    if source == GITLAB_SOURCE:
        environ = _with_fallbacks(environ)
        _check_required(command, environ)
        extra += _gitlab_id_token(command_parser, argv, environ)
    for action in command_parser._actions:
        longs = [s for s in action.option_strings if s.startswith("--")]
        if not longs or isinstance(action, argparse._HelpAction | argparse._VersionAction):
            continue
        if any(_given(s, argv) for s in action.option_strings):
            continue  # the command line wins
        # The first of its long names that the environment sets (`--report`, `--reports`).
        option = next((s for s in longs
                       if namer(s)[0] and environ.get(namer(s)[0], "").strip()), "")
        if not option:
            continue
        name, flag_prefix = namer(option)
        value = environ[name]
        if isinstance(action, argparse._StoreTrueAction):
            if value.strip() not in (f"{flag_prefix}true", f"{flag_prefix}false"):
                raise UsageError(f"the input {option[2:]} must be {flag_prefix}true or "
                                 f"{flag_prefix}false ({name}), not {value!r}")
            if value.strip() == f"{flag_prefix}true":
                extra.append(option)
        elif isinstance(action, argparse._AppendAction):
            lines = [line.rstrip("\r") for line in value.split("\n")]
            extra += [f"{option}={line}" for line in lines if line.strip()]
        else:
            extra.append(f"{option}={value}")
    return [*argv, *extra]
