"""GitLab's server-side rules that gitlab-ci-local and the bundled CI schema do not enforce,
encoded here and checked against the template as GitLab renders it.

Each test names the GitLab source (gitlab-org/gitlab, mirrored as gitlabhq/gitlabhq) or issue
it encodes. The rendering is glci.interpolate: GitLab's
`lib/gitlab/ci/config/interpolation/template.rb` replaces a string node that is exactly one
`$[[ inputs.x ]]` block by the typed value (`get_interpolated_node_content!` returns
`blocks.first.value`), and interpolates `value.to_s` into any longer string
(`used_inside_a_string?`); keys are interpolated the same way (`config.rb`, `recursive_replace`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.gitlab import gitlab_expression as gx
from tests.gitlab import glci
from tests.support.reports import image_report, vuln

DOCS = glci.REPO_ROOT / "docs" / "gitlab.md"
COMPONENT = glci.REPO_ROOT / "templates" / "container-scan.yml"
MINIMUM_GITLAB = "17.9"

# The include combinations the README and docs show, plus every switch on.
COMBINATIONS: dict[str, list[dict[str, Any]]] = {
    "defaults": [{}],
    "push": [{"push": True, "registry": "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
              "aws-region": "eu-west-1", "push-role-arn": "arn:aws:iam::123456789012:role/p"}],
    "push+deploy": [{"push": True, "deploy": True, "registry": "r.example", "aws-region": "x",
                     "deploy-role-arn": "arn:aws:iam::123456789012:role/d",
                     "eks-cluster": "prod"}],
    "two prefixes": [{"job-prefix": "api"}, {"job-prefix": "worker", "docker-mode": "host"}],
    "everything on": [{"push": True, "deploy": True, "securityhub": True,
                       "ignore-unfixed": True, "trivy-skip-db-update": True,
                       "merge-request-pipelines": True, "max-critical": "0",
                       "sns-topic-arn": "arn:aws:sns:eu-west-1:123456789012:t",
                       "thresholds-ssm-prefix": "/scangate/limits"}],
}
ALL_INCLUDES = [(name, inputs) for name, includes in COMBINATIONS.items() for inputs in includes]


def every_rendered_combination() -> list[tuple[str, dict[str, Any]]]:
    """Defaults, each boolean input flipped, each `options:` value, every optional string
    input set, and everything on together: the includes whose `rules:if` GitLab must accept."""
    spec, _ = glci.load_template()
    combinations: list[tuple[str, dict[str, Any]]] = [("defaults", {})]
    everything: dict[str, Any] = {}
    for name, definition in spec.items():
        if definition.get("type") == "boolean":
            combinations.append((f"{name}={not definition['default']}",
                                 {name: not definition["default"]}))
            everything[name] = True
        for option in definition.get("options") or []:
            if option != definition["default"]:
                combinations.append((f"{name}={option}", {name: option}))
        if (definition.get("type", "string") == "string" and definition.get("default") == ""
                and "options" not in definition):
            everything[name] = f"set-{name}"
    combinations.append(("everything on", everything))
    return combinations + ALL_INCLUDES


RENDERED = every_rendered_combination()


def jobs_of(inputs: dict[str, Any]) -> dict[str, Any]:
    return glci.rendered_jobs(inputs)


def prefix_of(inputs: dict[str, Any]) -> str:
    return str(inputs.get("job-prefix", "scangate"))


# --- variables: strings or integers only ---------------------------------------------------


def variable_problems(jobs: dict[str, Any]) -> list[str]:
    """GitLab's `variables:` entry accepts a string or an integer (or a hash with `value:`) per
    key; a boolean makes the whole configuration invalid ("should be a hash of key value pairs"):
    gitlab-org/gitlab `spec/lib/gitlab/ci/config/entry/variables_spec.rb`, "when value is a
    boolean"; `lib/gitlab/ci/config/entry/variables.rb`."""
    problems = []
    for name, job in jobs.items():
        for key, value in (job.get("variables") or {}).items():
            if isinstance(value, bool) or not isinstance(value, str | int):
                problems.append(f"{name}: {key} = {value!r} ({type(value).__name__})")
    return problems


@pytest.mark.parametrize("combination, inputs", ALL_INCLUDES, ids=[c for c, _ in ALL_INCLUDES])
def test_every_variable_value_is_a_string_or_an_integer(
    combination: str, inputs: dict[str, Any],
) -> None:
    """MR 144065/145257 (issue 434826): a whole-node `$[[ inputs.flag ]]` stays a boolean, and
    `variables:` refuses booleans; so no variable may be a bare typed input."""
    assert variable_problems(jobs_of(inputs)) == []


def test_the_variable_check_catches_a_bare_boolean_input() -> None:
    """The check above is not vacuous: `VAR: "$[[ inputs.push ]]"` renders as `VAR: true`."""
    spec, jobs = glci.load_template()
    jobs["scangate-bad"] = {"variables": {"SCANGATE_PUSH": "$[[ inputs.push ]]"}}
    rendered = glci.interpolate(jobs, glci.input_values(spec, {"push": True}))
    assert variable_problems(rendered) == ["scangate-bad: SCANGATE_PUSH = True (bool)"]


def test_booleans_are_never_whole_nodes() -> None:
    """Boolean inputs appear only inside longer strings (rules literals, `name=value`)."""
    spec, _ = glci.load_template()
    jobs_text = glci.split_documents(glci.TEMPLATE.read_text(encoding="utf-8"))[1]
    for name, definition in spec.items():
        if definition.get("type") != "boolean":
            continue
        whole = re.search(
            rf"""^\s*(-\s*)?[\w"'.-]*:?\s*["']?\$\[\[\s*inputs\.{name}\s*\]\]["']?\s*$""",
            jobs_text, re.MULTILINE)
        assert whole is None, f"{name} is a whole node: {whole.group(0) if whole else ''}"


# --- inputs: defaults, regexes, options ------------------------------------------------------


def test_every_default_satisfies_its_regex_with_gitlab_semantics() -> None:
    """`lib/gitlab/ci/config/interpolation/inputs/string_input.rb` (`validate_regex!`):
    `Gitlab::UntrustedRegexp.new(regex).match?(value)`, an unanchored RE2 search, applied to the
    default too ("default value does not match required RegEx pattern")."""
    spec, _ = glci.load_template()
    for name, definition in spec.items():
        if "regex" in definition:
            assert re.search(definition["regex"], str(definition["default"])), name


def test_no_regex_input_has_an_empty_default() -> None:
    """Before GitLab 18.1 an empty default is refused by any regex (gitlab-org/gitlab issue
    477707, fixed by MR 192082). The template supports 17.9, so inputs whose default is empty
    carry no regex; their values are validated in the job (scangate refuses a bad limit, exit
    2) instead."""
    spec, _ = glci.load_template()
    for name, definition in spec.items():
        if "regex" in definition:
            assert definition["default"] != "", name


def test_every_default_is_one_of_its_options() -> None:
    """`lib/gitlab/ci/config/header/input.rb`: `options:` must contain the default."""
    spec, _ = glci.load_template()
    for name, definition in spec.items():
        if "options" in definition:
            assert definition["default"] in definition["options"], name


# --- rules expressions ---------------------------------------------------------------------

def rule_ifs(job: dict[str, Any]) -> list[Any]:
    return [rule["if"] for rule in job.get("rules") or [] if "if" in rule]


@pytest.mark.parametrize("combination, inputs", RENDERED, ids=[c for c, _ in RENDERED])
def test_every_rule_is_an_expression_gitlab_accepts(
    combination: str, inputs: dict[str, Any],
) -> None:
    """`entry/rules/rule.rb` validates `if` with `ExpressionValidator`
    (`entry/validators.rb`): a String that GitLab's lexer and parser accept
    (`Statement#valid?`, fewer than `Lexer::MAX_TOKENS` = 100 tokens); anything else is
    "Invalid expression syntax" and no pipeline is created. Checked on every rendered
    combination: a
    string literal ends at the next quote (`lexeme/string.rb`), so an interpolated input can
    change the tokens."""
    problems = []
    for name, job in jobs_of(inputs).items():
        for expression in rule_ifs(job):
            reason = gx.error(expression) if isinstance(expression, str) else "not a string"
            if reason:
                problems.append(f"{name}: {reason}: {expression!r}")
    assert problems == []


def test_the_largest_rule_is_within_the_token_limit_with_room_to_spare() -> None:
    """The longest `rules:if` of the template, counted as GitLab's lexer counts (99 at most are
    accepted): a rule that sits at the limit breaks with the next input, so each leaves room
    for one more comparison (4 tokens)."""
    counts = {}
    for _, inputs in RENDERED:
        for name, job in jobs_of(inputs).items():
            for expression in rule_ifs(job):
                counts[(name, expression)] = len(gx.tokens(expression))
    (name, expression), largest = max(counts.items(), key=lambda item: item[1])
    assert largest <= gx.MAX_TOKENS - 1 - 4, (name, largest)


def override_pairs(jobs: dict[str, Any], prefix: str) -> dict[str, str]:
    """{variable: the literal it is compared with} in `<prefix>-overridden-inputs`' rules, each
    a chain of `$SCANGATE_X != "literal"` joined by `||` (and nothing else, so no comparison can
    be shadowed by an operator of higher precedence)."""
    job = jobs[f"{prefix}-overridden-inputs"]
    expressions = [e for e in rule_ifs(job) if "SCANGATE_" in e]
    assert expressions, job
    pairs = {}
    for expression in expressions:
        tokens = gx.tokens(expression)
        for index, token in enumerate(tokens):
            if token.lexeme == "variable" and token.value.startswith("SCANGATE_"):
                assert tokens[index + 1].lexeme == "not_equals", tokens[index:index + 3]
                assert tokens[index + 2].lexeme == "string", tokens[index:index + 3]
                assert token.value not in pairs, f"{token.value} is compared twice"
                pairs[token.value] = tokens[index + 2].value
            elif token.kind != "value":
                assert token.lexeme in ("not_equals", "or"), f"only `!=` joined by `||`: {token}"
    return pairs


@pytest.mark.parametrize("combination, inputs", ALL_INCLUDES, ids=[c for c, _ in ALL_INCLUDES])
def test_every_input_variable_is_compared_with_its_input(
    combination: str, inputs: dict[str, Any],
) -> None:
    """Pipeline, schedule, trigger and project variables take precedence over a job's YAML
    `variables:` (GitLab docs, "CI/CD variable precedence"), so every variable the template
    derives from an input is compared, in `rules:`, with the input's literal: the rendered
    variable equals its literal (no false alarm), and no variable is left out."""
    prefix = prefix_of(inputs)
    jobs = jobs_of(inputs)
    variables = jobs[f".{prefix}-inputs"]["variables"]
    pairs = override_pairs(jobs, prefix)
    assert set(pairs) == set(variables)
    for name, value in variables.items():
        assert pairs[name] == value, name
    # Every script that reads an input reads it from that set (or a dotenv/ID token).
    for name in jobs:
        if name.startswith(".") or name.endswith("-overridden-inputs"):
            continue
        merged = glci.merged_job(jobs, name)
        if glci.script_lines(merged):
            assert set(variables) <= set(merged.get("variables") or {}), name


def test_scangate_reads_only_compared_input_variables() -> None:
    """`scangate --inputs-from-env=gitlab` reads the variables of env_inputs.GITLAB: each one
    is an input variable of the template, so the override check above compares it, and each
    feeds an option of the commands it names (a row for a renamed option would feed nothing)."""
    from scangate import env_inputs
    from scangate._cli import build_parser

    jobs = jobs_of({})
    variables = jobs[".scangate-inputs"]["variables"]
    pairs = override_pairs(jobs, "scangate")
    _, raw = glci.load_template()
    written = raw[".$[[ inputs.job-prefix ]]-inputs"]["variables"]
    for row in env_inputs.GITLAB:
        assert row.name in variables and row.name in pairs, row
        # The input the row names is the one the variable holds (its error messages say so).
        assert f"$[[ inputs.{row.input} ]]" in written[row.name], row
        assert set(row.required) <= set(row.commands or row.required), row
        for command in row.commands:
            parser = build_parser(command.split())
            for word in command.split():
                parser = next(a for a in parser._actions
                              if isinstance(a, argparse._SubParsersAction)).choices[word]
            assert any(f"--{row.option}" in a.option_strings for a in parser._actions), row
    script = "\n".join(line for name in jobs for line in glci.script_lines(jobs[name]))
    assert "--inputs-from-env=gitlab" in script and "--inputs-from-env " not in script


def test_enforce_push_and_deploy_need_the_override_check() -> None:
    jobs = jobs_of({"push": True, "deploy": True})
    for suffix in ("enforce", "push", "deploy"):
        needs = {n["job"]: n for n in jobs[f"scangate-{suffix}"]["needs"]}
        assert needs["scangate-overridden-inputs"].get("optional") is True, suffix
    script = "\n".join(glci.script_lines(jobs["scangate-overridden-inputs"]))
    assert "exit 1" in script


# --- publish, enforce, push ------------------------------------------------------------------


def needs(job: dict[str, Any]) -> set[str]:
    return {n["job"] if isinstance(n, dict) else n for n in job.get("needs") or []}


def upstream(jobs: dict[str, Any], name: str) -> set[str]:
    seen: set[str] = set()
    stack = [name]
    while stack:
        for need in needs(jobs[stack.pop()]):
            if need not in seen:
                seen.add(need)
                stack.append(need)
    return seen


@pytest.mark.parametrize("combination, inputs", ALL_INCLUDES, ids=[c for c, _ in ALL_INCLUDES])
def test_push_deploy_and_securityhub_need_enforce(combination: str, inputs: dict[str, Any]) -> None:
    """`needs:` starts a job once its needs succeeded, and an allowed failure counts as success
    (GitLab CI YAML reference, `allow_failure` and `needs`): push needs enforce directly, and
    re-checks the decision itself (`scangate push --decision`) because allow_failure on enforce
    would let it start."""
    prefix = prefix_of(inputs)
    jobs = jobs_of(inputs)
    for suffix in ("push", "deploy", "securityhub"):
        assert f"{prefix}-enforce" in upstream(jobs, f"{prefix}-{suffix}"), suffix
    assert f"{prefix}-enforce" in needs(jobs[f"{prefix}-push"])
    push = "\n".join(glci.script_lines(jobs[f"{prefix}-push"]))
    assert '--decision "$SCANGATE_OUT/summary.json"' in push
    assert '--image-id "$SCANGATE_IMAGE_ID"' in push
    for name, job in jobs.items():
        assert "allow_failure" not in job, f"{name}: the template never allows a failure"


@pytest.mark.parametrize("combination, inputs", ALL_INCLUDES, ids=[c for c, _ in ALL_INCLUDES])
def test_only_the_report_job_carries_the_container_scanning_report(
    combination: str, inputs: dict[str, Any],
) -> None:
    """GitLab ignores the security report of a failed job (gitlab-org/gitlab issues 358600 and
    500171; "Security scanner integration": a scan that found vulnerabilities is a success).
    One job publishes it, and that job is the one whose script maps a violation to exit 0."""
    prefix = prefix_of(inputs)
    jobs = jobs_of(inputs)
    carriers = [name for name, job in jobs.items()
                if "container_scanning" in ((job.get("artifacts") or {}).get("reports") or {})]
    assert carriers == [f"{prefix}-report"]
    assert jobs[f"{prefix}-report"]["artifacts"]["when"] == "always"
    assert "artifacts" not in jobs[f"{prefix}-enforce"]


def write_fake_scangate(bin_dir: Path, exit_code: int, writes_summary: bool) -> None:
    """A stand-in for the scangate CLI (a test double: this test is about the job's shell
    around it; the real gate runs in tests/gitlab/test_pipeline.py). It records its arguments,
    writes the summary where --json-summary says when asked to, and exits with `exit_code`."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "scangate"
    write = ('for a in "$@"; do if [ "$prev" = --json-summary ]; then '
             'printf \'{"decision": "fail"}\' > "$a"; fi; prev=$a; done') if writes_summary else ":"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = --version ]; then echo "scangate test double"; exit 0; fi\n'
        'if [ "$1" = image-tag ]; then echo staging-0123456-1-2; fi\n'
        'if [ "$1" = scan ]; then for a in "$@"; do if [ "$prev" = --output ]; then '
        'printf \'{"Metadata": {"ImageID": "%s"}}\' "$SCANGATE_IMAGE_ID" > "$a"; fi; '
        'prev=$a; done; fi\n'
        'printf "%s\\n" "$*" >> "$SCANGATE_TEST_ARGS"\n'
        # Every call, its arguments separated by US (\037), for the real parser to read back.
        'for a in "$@"; do printf "%s\\037" "$a"; done >> "$SCANGATE_TEST_ARGS.argv"\n'
        'echo >> "$SCANGATE_TEST_ARGS.argv"\n'
        # install-tool prints the installed binary's path (and succeeds, whatever exit_code).
        'if [ "$1" = install-tool ]; then echo "/opt/tools/$2"; exit 0; fi\n'
        f"prev=\n{write}\n"
        f"exit {exit_code}\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def run_job_script(job: dict[str, Any], workdir: Path, bin_dir: Path,
                   env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The job's before_script + script, as one POSIX sh script (as the runner runs them), with
    the job's variables in the environment."""
    environment = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "HOME": str(workdir),
                   "CI_JOB_NAME": "job", "SCANGATE_TEST_ARGS": str(workdir / "args")}
    environment.update({k: str(v) for k, v in (job.get("variables") or {}).items()})
    environment.update(env or {})
    script = "\n".join(glci.script_lines(job))
    return subprocess.run(["sh", "-c", script], cwd=workdir, env=environment,
                          capture_output=True, text=True, timeout=120)


NO_NETWORK = {"https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}


def run_report_job(tmp_path: Path, inputs: dict[str, Any], report: Any,
                   env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The report job's script with this checkout's scangate (the real CLI and gate). The risk
    feeds' download goes to a closed local port (no network here): the job must go on without
    them, as it does when KEV or EPSS is down."""
    job = glci.merged_job(jobs_of(inputs), "scangate-report")
    job["variables"]["SCANGATE_SOURCE"] = ""  # this checkout's CLI on PATH
    (tmp_path / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    out = tmp_path / "scangate-out" / "scangate"
    out.mkdir(parents=True)
    (out / "trivy-image.json").write_text(
        report if isinstance(report, str) else json.dumps(report), encoding="utf-8")
    # A previous gate's record must never pass for this one's.
    (out / "summary.json").write_text('{"decision": "pass"}', encoding="utf-8")
    (out / "gate-exit-code").write_text("0\n", encoding="utf-8")
    (out / "baseline-summary.json").write_text("{}", encoding="utf-8")
    glci.checkout_scangate(tmp_path / "bin")
    return run_job_script(job, tmp_path, tmp_path / "bin", {**NO_NETWORK, **(env or {})})


@pytest.mark.parametrize("findings, recorded", [
    ([vuln(severity="HIGH")], "0"),  # pass: published
    ([vuln(severity="CRITICAL")], "1"),  # violation: still published, enforce decides
    ([vuln(severity="CRITICAL", fixed="")], "0"),  # ignore-unfixed, from its variable
])
def test_the_report_job_exits_zero_on_a_pass_and_on_a_violation(
    tmp_path: Path, findings: list[dict[str, Any]], recorded: str,
) -> None:
    """GitLab ingests the container-scanning report of successful jobs only: the job publishes
    whatever the decision (`gate-job run --platform gitlab`), records the gate's code for the
    notify job, and its limits come from the include's variables (env_inputs.GITLAB)."""
    result = run_report_job(tmp_path, {"ignore-unfixed": True, "max-critical": "0"},
                            image_report(findings))
    assert result.returncode == 0, result.stderr
    out = tmp_path / "scangate-out" / "scangate"
    assert (out / "gate-exit-code").read_text(encoding="utf-8") == recorded + "\n"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["decision"] == ("pass" if recorded == "0" else "fail")
    for name in ("gl-container-scanning-report.json", "scangate.sarif", "summary.md"):
        assert (out / name).is_file(), name
    assert not (out / "baseline-summary.json").exists()  # no merge request: no baseline
    # The feeds were asked for (and their failure is a warning, not an error).
    assert "warning: feeds fetch failed" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_the_report_job_fails_on_an_error_and_publishes_nothing(tmp_path: Path) -> None:
    """Exit 2 (no decision): the job fails, so GitLab ingests no report, and the stale
    summary of an earlier gate is gone."""
    result = run_report_job(tmp_path, {}, "not json")
    out = tmp_path / "scangate-out" / "scangate"
    assert result.returncode == 2, result.stderr
    assert "no report is published (fail closed)" in result.stderr
    assert not (out / "summary.json").exists()
    assert not (out / "gl-container-scanning-report.json").exists()
    assert (out / "gate-exit-code").read_text(encoding="utf-8") == "2\n"
    assert "Traceback" not in result.stderr


def test_a_pipeline_variable_outside_the_table_never_reaches_the_gate(tmp_path: Path) -> None:
    """Only the template's own variables feed options (env_inputs.GITLAB): a pipeline variable
    named like another gate-job option (a baseline, more limits) is not read."""
    result = run_report_job(tmp_path, {}, image_report([vuln(severity="CRITICAL")]),
                            {"SCANGATE_BASELINE": "/dev/null", "SCANGATE_FAIL_ON": "",
                             "INPUT_MAX_CRITICAL": "9", "SCANGATE_SARIF_OVERFLOW": "refuse"})
    assert result.returncode == 0, result.stderr
    out = tmp_path / "scangate-out" / "scangate"
    assert (out / "gate-exit-code").read_text(encoding="utf-8") == "1\n"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["baseline"] is None


COUNTS = '"counts": {"critical": 2, "high": 0, "medium": 0, "low": 0, "unknown": 0}'


@pytest.mark.parametrize("summary, exit_code", [
    ('{"decision": "pass", "violations": [], ' + COUNTS + "}", 0),
    ('{"decision": "fail", "violations": [{"severity": "critical", "count": 2, "limit": 0}], '
     + COUNTS + "}", 1),
    ('{"decision": "pass"}', 2),  # what scangate gate never writes is not a pass
    (None, 2),
    ("not json", 2),
    ('{"decision": "maybe"}', 2),
    ('["pass"]', 2),
])
def test_the_enforce_job_fails_on_a_violation_and_on_anything_unreadable(
    tmp_path: Path, summary: str | None, exit_code: int,
) -> None:
    """The job's script with this checkout's scangate (`scangate enforce`)."""
    job = glci.merged_job(jobs_of({}), "scangate-enforce")
    out = tmp_path / "scangate-out" / "scangate"
    out.mkdir(parents=True)
    if summary is not None:
        (out / "summary.json").write_text(summary, encoding="utf-8")
    glci.checkout_scangate(tmp_path / "bin")
    result = run_job_script(job, tmp_path, tmp_path / "bin")
    assert result.returncode == exit_code, result.stderr
    assert "Traceback" not in result.stderr


# --- one pipeline per push, minimum version, component --------------------------------------


def evaluate(expression: str, variables: dict[str, str]) -> bool:
    """A `rules:if` as GitLab evaluates it (`Statement#truthful?`, ported in
    tests/gitlab/gitlab_expression.py)."""
    return gx.truthful(expression, variables)


def when(job: dict[str, Any], variables: dict[str, str]) -> str:
    """GitLab's rules: the first rule whose `if` holds decides; none: the job is not added."""
    for rule in job.get("rules") or []:
        if "if" not in rule or evaluate(rule["if"], variables):
            return str(rule.get("when", "on_success"))
    return "never"


MR_PIPELINE = {"CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_IID": "7",
               "CI_COMMIT_REF_PROTECTED": "false", "CI_DEFAULT_BRANCH": "main"}
BRANCH_PIPELINE = {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main",
                   "CI_DEFAULT_BRANCH": "main", "CI_COMMIT_REF_PROTECTED": "true"}


def pipeline_jobs(inputs: dict[str, Any], pipeline: dict[str, str],
                  overrides: dict[str, str] | None = None) -> dict[str, str]:
    """{job: when} of the rendered template in a pipeline; `overrides` are pipeline variables,
    which win over the job's own `variables:` (GitLab docs, "CI/CD variable precedence")."""
    jobs = jobs_of(inputs)
    result = {}
    for name in jobs:
        if name.startswith("."):
            continue
        job = glci.merged_job(jobs, name)
        variables = {**{k: str(v) for k, v in (job.get("variables") or {}).items()},
                     **pipeline, **(overrides or {})}
        result[name] = when(job, variables)
    return result


EVERY_JOB_ON = {"push": True, "deploy": True, "securityhub": True,
                "sns-topic-arn": "arn:aws:sns:eu-west-1:123456789012:t"}


def test_no_job_runs_in_a_merge_request_pipeline_by_default() -> None:
    """A job rule matching `merge_request_event` next to branch rules makes GitLab create a
    branch pipeline and a merge-request pipeline for one push (GitLab docs, "Avoid duplicate
    pipelines"). By default no job, not even the override check, is added to a merge-request
    pipeline, so GitLab creates none; with merge-request-pipelines they run there instead of in
    the branch pipeline of a branch with an open merge request."""
    overridden = {"SCANGATE_MAX_CRITICAL": "999"}
    by_default = pipeline_jobs(EVERY_JOB_ON, MR_PIPELINE, overridden)
    assert set(by_default.values()) == {"never"}, by_default
    opted_in = pipeline_jobs({**EVERY_JOB_ON, "merge-request-pipelines": True}, MR_PIPELINE)
    for suffix in ("build", "scan", "report", "enforce"):
        assert opted_in[f"scangate-{suffix}"] == "on_success", opted_in
    for suffix in ("push", "deploy", "securityhub"):
        assert opted_in[f"scangate-{suffix}"] == "never", opted_in
    branch_with_mr = {**BRANCH_PIPELINE, "CI_COMMIT_BRANCH": "feature",
                      "CI_OPEN_MERGE_REQUESTS": "group/project!7"}
    skipped = pipeline_jobs({**EVERY_JOB_ON, "merge-request-pipelines": True}, branch_with_mr,
                            overridden)
    assert set(skipped.values()) == {"never"}, skipped
    # The default branch's pipeline pushes even while a merge request from it is open (say to a
    # release branch): skipping it would skip the release, and push's needs would be missing.
    default_with_mr = {**BRANCH_PIPELINE, "CI_OPEN_MERGE_REQUESTS": "group/project!8"}
    kept = pipeline_jobs({**EVERY_JOB_ON, "merge-request-pipelines": True}, default_with_mr)
    for suffix in ("build", "scan", "report", "enforce", "push", "deploy", "securityhub"):
        assert kept[f"scangate-{suffix}"] == "on_success", kept


def test_a_pipeline_variable_named_like_an_input_variable_adds_the_failing_check() -> None:
    """The override check exists exactly when a variable differs from its input's literal."""
    inputs = {"max-critical": "0", "push": True, "registry": "r.example"}
    clean = pipeline_jobs(inputs, BRANCH_PIPELINE)
    assert clean["scangate-overridden-inputs"] == "never"
    assert clean["scangate-push"] == "on_success"
    jobs = jobs_of(inputs)
    for variable in jobs[".scangate-inputs"]["variables"]:
        overridden = pipeline_jobs(inputs, BRANCH_PIPELINE, {variable: "attacker-value"})
        assert overridden["scangate-overridden-inputs"] == "always", variable
    same = pipeline_jobs(inputs, BRANCH_PIPELINE, {"SCANGATE_MAX_CRITICAL": "0"})
    assert same["scangate-overridden-inputs"] == "never"


def test_the_evaluator_follows_gitlab_precedence() -> None:
    assert evaluate('$A == "1" || $B == "2" && $C == "3"', {"A": "1"})
    assert not evaluate('($A == "1" || $B == "2") && $C == "3"', {"A": "1"})
    assert evaluate("$A != null", {"A": ""}) and not evaluate("$A", {"A": ""})
    assert not evaluate('$MISSING == ""', {})


def test_minimum_gitlab_version_is_the_newest_feature_used() -> None:
    """The features the template and its documented includes use, with the GitLab version that
    introduced each (GitLab CI YAML reference and the CI/CD inputs and components pages):
    `spec:inputs` with `type`, `options`, `regex` (17.0 GA), `include:integrity` (17.9),
    `id_tokens` (15.7), `needs:optional` (13.10), CI/CD Catalog components (17.0). The docs
    state the newest of them."""
    features = {"spec:inputs": "17.0", "include:integrity": "17.9", "id_tokens": "15.7",
                "needs:optional": "13.10", "component": "17.0"}
    newest = max(features.values(), key=lambda v: tuple(int(p) for p in v.split(".")))
    assert newest == MINIMUM_GITLAB
    text = glci.TEMPLATE.read_text(encoding="utf-8")
    assert "integrity" in DOCS.read_text(encoding="utf-8")
    assert f"GitLab {MINIMUM_GITLAB} or newer" in text
    assert f"GitLab {MINIMUM_GITLAB} or newer" in DOCS.read_text(encoding="utf-8")
    assert "optional: true" in text and "id_tokens:" in text


def test_the_catalog_component_is_the_template() -> None:
    """CI/CD Catalog components live in `templates/<name>.yml` (GitLab docs, "CI/CD
    components", directory structure); the component is the template, byte for byte."""
    assert COMPONENT.read_bytes() == glci.TEMPLATE.read_bytes(), (
        "templates/container-scan.yml drifted: cp gitlab/container-scan.gitlab-ci.yml "
        "templates/container-scan.yml")
    header = yaml.safe_load(glci.split_documents(COMPONENT.read_text(encoding="utf-8"))[0])
    assert "inputs" in header["spec"]


SUMMARY_ARG = "--summary scangate-out/scangate/summary.json"


@pytest.mark.parametrize("recorded, summary, marker, expected", [
    ("1", '{"decision": "fail"}', False, 1),
    ("0", '{"decision": "pass"}', False, 0),
    ("2", None, False, 2),
    (None, None, False, 2),  # build or scan failed: no gate ran at all
    ("1", '{"decision": "fail"}', True, 2),  # the override check failed: an error
])
def test_the_notify_job_alerts_on_a_failure_and_on_an_error(
    tmp_path: Path, recorded: str | None, summary: str | None, marker: bool, expected: int,
) -> None:
    """Notify on fail and on error (issue 14): the report job's recorded exit code picks the
    alert; without one (an error before the gate) it is an ERROR alert, never silence. The
    job's call is recorded by the double above, expanded and parsed by the real CLI, and
    judged by notify's own reading of the record (no SNS here)."""
    from scangate import env_inputs
    from scangate._cli import build_parser
    from scangate.commands import notify

    inputs = {"sns-topic-arn": "arn:aws:sns:eu-west-1:123456789012:alerts",
              "gate-role-arn": "arn:aws:iam::123456789012:role/gate", "aws-region": "eu-west-1"}
    job = glci.merged_job(jobs_of(inputs), "scangate-notify")
    assert when(job, BRANCH_PIPELINE) == "on_failure"
    out = tmp_path / "scangate-out" / "scangate"
    out.mkdir(parents=True)
    if recorded is not None:
        (out / "gate-exit-code").write_text(recorded + "\n", encoding="utf-8")
    if summary is not None:
        (out / "summary.json").write_text(summary, encoding="utf-8")
    if marker:
        (tmp_path / ".scangate-overridden-inputs").write_text("overridden\n", encoding="utf-8")
    write_fake_scangate(tmp_path / "bin", 0, writes_summary=False)
    job["variables"]["SCANGATE_SOURCE"] = ""
    result = run_job_script(job, tmp_path, tmp_path / "bin", {"SCANGATE_ID_TOKEN": "a.b.c",
                                                              "CI_PROJECT_NAME": "My-App"})
    assert result.returncode == 0, result.stderr
    [argv] = [line.split("\037")[:-1] for line in
              (tmp_path / "args.argv").read_text(encoding="utf-8").splitlines()
              if "\037notify\037" in line]
    assert argv[0] == "--inputs-from-env=gitlab"
    parser = build_parser(argv[1:])
    args = parser.parse_args(env_inputs.argv_with_env_inputs(
        parser, argv[1:], {**job["variables"], "SCANGATE_ID_TOKEN": "a.b.c",
                           "CI_PROJECT_NAME": "My-App"}, "gitlab"))
    # The alert names the image (image-name, else the project's name in lower case).
    assert (args.image, args.skip_pass) == ("my-app", True)
    assert args.sns_topic_arn == "arn:aws:sns:eu-west-1:123456789012:alerts"
    assert (args.role_arn, args.aws_region) == ("arn:aws:iam::123456789012:role/gate",
                                                "eu-west-1")
    assert_private_token_file(args.web_identity_token_file, "a.b.c")
    assert "a.b.c" not in " ".join(argv)
    cwd = os.getcwd()
    os.chdir(tmp_path)  # the job's relative paths
    try:
        assert notify.gate_exit_code(args) == expected
    finally:
        os.chdir(cwd)


def test_the_report_job_reads_limits_from_ssm_through_the_gate_role(tmp_path: Path) -> None:
    """Limits from SSM Parameter Store (issue 14) reach `scangate gate` with the job's ID token
    as a file; the token itself is never an argument. The job's call is recorded by the double
    above, expanded by the real `--inputs-from-env=gitlab` with the job's variables, then
    gate-job's own gate call is read back (tests/gate/test_gate_job.py runs it for real)."""
    from scangate import env_inputs
    from scangate._cli import build_parser
    from scangate.commands import gate_job

    inputs = {"thresholds-ssm-prefix": "/scangate/limits", "aws-region": "eu-west-1",
              "gate-role-arn": "arn:aws:iam::123456789012:role/gate"}
    job = glci.merged_job(jobs_of(inputs), "scangate-report")
    job["variables"]["SCANGATE_SOURCE"] = ""
    (tmp_path / "scangate-out" / "scangate").mkdir(parents=True)
    write_fake_scangate(tmp_path / "bin", 0, writes_summary=True)
    result = run_job_script(job, tmp_path, tmp_path / "bin", {"SCANGATE_ID_TOKEN": "x.y.z"})
    assert result.returncode == 0, result.stderr
    [argv] = [line.split("\037")[:-1] for line in
              (tmp_path / "args.argv").read_text(encoding="utf-8").splitlines()
              if "gate-job" in line]
    assert "x.y.z" not in " ".join(argv)
    assert argv[0] == "--inputs-from-env=gitlab"
    parser = build_parser(argv[1:])
    expanded = env_inputs.argv_with_env_inputs(
        parser, argv[1:], {**job["variables"], "SCANGATE_ID_TOKEN": "x.y.z"}, "gitlab")
    args = parser.parse_args(expanded)
    token_file = args.web_identity_token_file
    assert_private_token_file(Path(token_file), "x.y.z")
    gate = gate_job.gate_arguments(args)
    for wanted in ("--thresholds-from-ssm=/scangate/limits", "--aws-region=eu-west-1",
                   f"--web-identity-token-file={token_file}",
                   "--role-arn=arn:aws:iam::123456789012:role/gate",
                   "--dockerfile=./Dockerfile"):  # dockerfile empty: <context>/Dockerfile
        assert wanted in gate, gate


@pytest.mark.parametrize(("inputs", "dockerfile"), [
    ({}, "./Dockerfile"),
    ({"context": "services/api"}, "services/api/Dockerfile"),
    ({"context": "services/api", "dockerfile": "build/Containerfile"}, "build/Containerfile"),
])
def test_the_report_job_anchors_image_findings_in_the_dockerfile_the_build_used(
    inputs: dict[str, Any], dockerfile: str,
) -> None:
    """The SARIF anchors image findings in the Dockerfile: the dockerfile input, else
    `<context>/Dockerfile`, the same default as the build job's `docker build --file`."""
    from scangate._cli import build_parser

    jobs = jobs_of(inputs)
    build = "\n".join(glci.script_lines(glci.merged_job(jobs, "scangate-build")))
    assert 'dockerfile="${SCANGATE_DOCKERFILE:-$SCANGATE_CONTEXT/Dockerfile}"' in build
    job = glci.merged_job(jobs, "scangate-report")
    call = ["--inputs-from-env=gitlab", "gate-job", "run", "--report", "r.json"]
    args = build_parser(call[1:]).parse_args(expand_gitlab(call, job))
    assert args.dockerfile == dockerfile


def test_security_hub_imports_the_pushed_image_and_archives_what_is_gone() -> None:
    """Issue 14: after the push, with the pushed image's identity (`--push-result`), and
    `--archive-missing`; only on protected default-branch and tag pipelines."""
    inputs = {"push": True, "securityhub": True, "registry": "r.example",
              "aws-region": "eu-west-1",
              "securityhub-role-arn": "arn:aws:iam::123456789012:role/publish"}
    jobs = jobs_of(inputs)
    job = jobs["scangate-securityhub"]
    assert needs(job) == {"scangate-scan", "scangate-push"}
    script = "\n".join(glci.script_lines(job))
    assert '--push-result "$SCANGATE_OUT/push.json" --archive-missing' in script
    # The publish role and the region from the include's variables, both required.
    from scangate import env_inputs

    rows = {(row.name, row.option) for row in env_inputs.GITLAB if "securityhub" in row.required}
    assert rows == {("SCANGATE_SECURITYHUB_ROLE_ARN", "role-arn"),
                    ("SCANGATE_AWS_REGION", "region")}
    assert "scangate --inputs-from-env=gitlab securityhub " in script
    assert pipeline_jobs(inputs, BRANCH_PIPELINE)["scangate-securityhub"] == "on_success"
    unprotected = {**BRANCH_PIPELINE, "CI_COMMIT_REF_PROTECTED": "false"}
    assert pipeline_jobs(inputs, unprotected)["scangate-securityhub"] == "never"
    assert pipeline_jobs({**inputs, "securityhub": False},
                         BRANCH_PIPELINE)["scangate-securityhub"] == "never"


@pytest.mark.parametrize("job_name", ["scan", "report", "push", "securityhub", "notify"])
def test_every_scangate_call_of_a_job_parses_with_the_real_cli(
    tmp_path: Path, job_name: str,
) -> None:
    """The arguments each job passes to scangate (every input on) are accepted by scangate's
    own parser (`scangate._cli.build_parser`), so a renamed or removed option fails here, not in
    a user's pipeline. The calls are recorded by the test double above, then parsed for real."""
    from scangate._cli import build_parser

    inputs = {"push": True, "securityhub": True, "registry": "123456789012.dkr.ecr.eu-west-1"
              ".amazonaws.com", "aws-region": "eu-west-1", "ecr-repository": "team/app",
              "push-role-arn": "arn:aws:iam::123456789012:role/push",
              "securityhub-role-arn": "arn:aws:iam::123456789012:role/publish",
              "gate-role-arn": "arn:aws:iam::123456789012:role/gate",
              "sns-topic-arn": "arn:aws:sns:eu-west-1:123456789012:alerts",
              "thresholds-ssm-prefix": "/scangate/limits", "policy": ".scangate/policy.yaml",
              "fail-on": "HIGH", "max-critical": "0", "max-high": "5", "max-medium": "20",
              "max-low": "100", "max-unknown": "100", "ignore-unfixed": True,
              "image-tag": "release-1"}
    job = glci.merged_job(jobs_of(inputs), f"scangate-{job_name}")
    job["variables"]["SCANGATE_SOURCE"] = ""
    out = tmp_path / "scangate-out" / "scangate"
    out.mkdir(parents=True)
    (out / "gate-exit-code").write_text("1\n", encoding="utf-8")
    (out / "summary.json").write_text('{"decision": "fail"}', encoding="utf-8")
    (out / "image.tar").write_bytes(b"an archive")
    write_fake_scangate(tmp_path / "bin", 0, writes_summary=True)
    env = {"SCANGATE_ID_TOKEN": "a.b.c", "CI_COMMIT_SHA": "0" * 40, "CI_PIPELINE_ID": "1",
           "CI_JOB_ID": "2", "SCANGATE_IMAGE_ID": "sha256:" + "1" * 64,
           "SCANGATE_IMAGE_ARCHIVE_SHA256": hashlib.sha256(b"an archive").hexdigest(),
           "CI_PROJECT_NAME": "app"}
    result = run_job_script(job, tmp_path, tmp_path / "bin", env)
    assert result.returncode == 0, result.stderr
    calls = [line.split("\037")[:-1] for line in
             (tmp_path / "args.argv").read_text(encoding="utf-8").splitlines()]
    calls = [argv[1:] if argv[0].startswith("--inputs-from-env") else argv for argv in calls]
    commands = [argv[0] for argv in calls]
    assert job_name.replace("report", "gate-job") in commands, commands
    parser = build_parser()
    for argv in calls:
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"scangate refuses the {job_name} job's call: {argv}")


DEPLOY_INPUTS = {"push": True, "deploy": True, "aws-region": "eu-west-1",
                 "registry": "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                 "ecr-repository": "team/app", "eks-cluster": "prod",
                 "deploy-role-arn": "arn:aws:iam::123456789012:role/deploy",
                 "monitoring-event-bus": "default"}
DEPLOY_SHA256 = glci.load_template()[0]["kubectl-sha256"]["default"]
DEPLOY_VERSION = glci.load_template()[0]["kubectl-version"]["default"]


def _run_deploy(tmp_path: Path, inputs: dict[str, Any], scangate_exit: int = 0,
                ) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    """The deploy job's script with the scangate double above: its calls, as the real CLI
    expands them."""
    job = glci.merged_job(jobs_of(inputs), "scangate-deploy")
    job["variables"]["SCANGATE_SOURCE"] = ""
    (tmp_path / "scangate-out" / "scangate").mkdir(parents=True)
    write_fake_scangate(tmp_path / "bin", scangate_exit, writes_summary=False)
    result = run_job_script(job, tmp_path, tmp_path / "bin", {"SCANGATE_ID_TOKEN": "d.e.f"})
    argv = tmp_path / "args.argv"
    calls = [line.split("\037")[:-1]
             for line in (argv.read_text(encoding="utf-8").splitlines() if argv.exists() else [])]
    assert not [call for call in calls if call and call[0] == "install-tool"]
    return result, [expand_gitlab(call, job, {"SCANGATE_ID_TOKEN": "d.e.f"}) for call in calls
                    if call and call[0] not in ("--version", "install-tool")]


def expand_gitlab(call: list[str], job: dict[str, Any],
                  extra_env: dict[str, str] | None = None) -> list[str]:
    """A recorded `scangate --inputs-from-env=gitlab CMD ...` call as the real CLI expands it
    with the job's variables (each option then one `--name=value` word, split here)."""
    from scangate import env_inputs
    from scangate._cli import build_parser

    assert call[0] == "--inputs-from-env=gitlab", call
    argv = env_inputs.argv_with_env_inputs(build_parser(call[1:]), call[1:],
                                           {**job["variables"], **(extra_env or {})}, "gitlab")
    return [word for arg in argv for word in (arg.split("=", 1) if arg.startswith("--")
                                                else [arg])]


def assert_private_token_file(path: Path, token: str) -> None:
    """The ID token as `--inputs-from-env=gitlab` hands it on: a file only this user can
    read, alone in a directory only this user can enter."""
    assert path.read_text(encoding="utf-8") == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_the_deploy_job_marks_the_deployed_digests_with_the_deploy_role(tmp_path: Path) -> None:
    """monitoring-event-bus (issue 15): one `scangate deploy`, which after its rollouts marks
    the digests of its own record (`--output`: the digests applied, never a tag) with the same
    session (tests/steps/test_deploy.py runs it), the deploy role assumed with the job's ID
    token as a 0600 file, never the token on a command line. The call parses with scangate's
    real parser."""
    from scangate._cli import build_parser

    result, calls = _run_deploy(tmp_path, DEPLOY_INPUTS)
    assert result.returncode == 0, result.stderr
    [deploy] = calls
    assert deploy[0] == "deploy"
    # kubectl: the pinned release, downloaded and checked by deploy itself.
    assert "--kubectl" not in deploy
    assert deploy[deploy.index("--kubectl-version") + 1] == DEPLOY_VERSION
    assert deploy[deploy.index("--output") + 1] == "scangate-out/scangate/deploy.json"
    assert deploy[deploy.index("--monitoring-event-bus") + 1] == "default"
    assert deploy[deploy.index("--role-arn") + 1] == "arn:aws:iam::123456789012:role/deploy"
    assert deploy[deploy.index("--cluster") + 1] == "prod"
    assert deploy[deploy.index("--kubectl-sha256") + 1] == DEPLOY_SHA256
    assert_private_token_file(Path(deploy[deploy.index("--web-identity-token-file") + 1]),
                              "d.e.f")
    assert "d.e.f" not in " ".join(deploy)
    build_parser(deploy).parse_args(deploy)
    _, [off] = _run_deploy(tmp_path / "off", {**DEPLOY_INPUTS, "monitoring-event-bus": ""})
    assert "--monitoring-event-bus" not in off


def test_the_id_token_reaches_scangate_as_a_private_file_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """The attacker's side (docs/threat-model.md): the job's ID token is a bearer credential
    for the job's role. `scangate --inputs-from-env=gitlab` reads SCANGATE_ID_TOKEN (GitLab's
    `id_tokens:` variable) itself and hands it on only as a file that only this user can read,
    removed when scangate exits: never an argument, so never in /proc/<pid>/cmdline, a log or
    an error line (which name the file). Only a command that can assume a role, only in gitlab
    mode (a stray variable in a GitHub job or a shell is never read), and a file named on the
    command line wins. A pipeline variable named SCANGATE_ID_TOKEN could only stand in a token
    its setter already holds (GitLab signs it; each role trusts its own `aud`): no gain."""
    from scangate import env_inputs
    from scangate._cli import build_parser, main

    environ = {"SCANGATE_ID_TOKEN": "eyJ.tok.en"}

    def expand(argv: list[str], source: str = "gitlab") -> list[str]:
        return env_inputs.argv_with_env_inputs(build_parser(argv), argv, environ, source)

    argv = expand(["notify", "--summary", "s.json"])
    [option] = [arg for arg in argv if arg.startswith("--web-identity-token-file=")]
    assert "eyJ.tok.en" not in " ".join(argv)
    assert_private_token_file(Path(option.split("=", 1)[1]), "eyJ.tok.en")
    # No role to assume: nothing written, nothing passed.
    for command in (["scan", "--input", "i.tar"], ["enforce", "--summary", "s.json"]):
        assert expand(command) == command
    # The command line wins; GitHub's mode and no mode never read the variable.
    given = ["notify", "--web-identity-token-file", "mine"]
    assert expand(given) == given
    assert not [a for a in expand(["notify"], "") if "token" in a]
    # An unusable token: one line naming the file, never the token.
    monkeypatch.setenv("SCANGATE_ID_TOKEN", "eyJ.not a token")
    code = main(["--inputs-from-env=gitlab", "assume-role", "--role-arn",
                 "arn:aws:iam::123456789012:role/deploy", "--output", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "scangate-id-token-" in err and "not a token" not in err
    # And the file is gone once scangate exits.
    program = ("import sys; sys.path.insert(0, sys.argv[1]); from scangate import env_inputs; "
               "print(env_inputs.id_token_file('eyJ.tok.en'))")
    printed = subprocess.run([sys.executable, "-c", program, str(glci.REPO_ROOT / "scripts")],
                             capture_output=True, text=True, check=True, timeout=60).stdout
    assert "scangate-id-token-" in printed and not Path(printed.strip()).parent.exists()


@pytest.mark.parametrize("empty", ["eks-cluster", "deploy-role-arn", "aws-region", "manifests"])
def test_the_deploy_job_refuses_an_empty_required_input(
    empty: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """One line naming the include's input, before anything is deployed."""
    from scangate._cli import main

    job = glci.merged_job(jobs_of({**DEPLOY_INPUTS, empty: ""}), "scangate-deploy")
    for name, value in job["variables"].items():
        monkeypatch.setenv(name, str(value))
    assert main(["--inputs-from-env=gitlab", "deploy", "--push-record", "p.json"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert re.search(f"input {empty} \\(SCANGATE_[A-Z_]+\\) is empty", line), line


# --- the other limits of GitLab's configuration entries the template comes near ---------------


def every_if_of(document: Any) -> list[Any]:
    """Every `if:` value anywhere in a parsed YAML document (workflow and job rules alike)."""
    if isinstance(document, dict):
        found = [value for key, value in document.items() if key == "if"]
        return found + [i for value in document.values() for i in every_if_of(value)]
    if isinstance(document, list):
        return [i for item in document for i in every_if_of(item)]
    return []


def test_every_rule_of_our_pipeline_and_of_the_docs_is_accepted() -> None:
    """The same `ExpressionValidator` for the repository's own .gitlab-ci.yml (which includes
    the template) and for the `workflow:rules` docs/gitlab.md tells users to add."""
    documents = [yaml.safe_load((glci.REPO_ROOT / ".gitlab-ci.yml").read_text(encoding="utf-8"))]
    docs = DOCS.read_text(encoding="utf-8")
    documents += [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", docs, re.S)]
    expressions = [e for document in documents for e in every_if_of(document)]
    assert len(expressions) >= 8, expressions
    assert [e for e in expressions if not gx.valid(e)] == []


def longest_prefix() -> str:
    spec, _ = glci.load_template()
    prefix = "a" * 300
    while not re.search(spec["job-prefix"]["regex"], prefix):
        prefix = prefix[:-1]
    return prefix


def test_job_names_stay_within_255_characters() -> None:
    """"Job names must be 255 characters or fewer" (GitLab CI YAML reference, job name
    limitations; `lib/gitlab/ci/config/entry/job.rb`). The job-prefix regex bounds the
    prefix, so the longest job name any include can produce is within the limit."""
    prefix = longest_prefix()
    assert 32 <= len(prefix) < 255
    jobs = jobs_of({"job-prefix": prefix})
    assert max(len(name) for name in jobs) <= 255
    assert not re.search(glci.load_template()[0]["job-prefix"]["regex"], prefix + "a")


def test_no_job_needs_more_than_50_jobs() -> None:
    """`ci_needs_size_limit` (plan limit, default 50: "one job can only need 50 others";
    `db/migrate/*_add_ci_needs_size_limit_to_plan_limit.rb`, doc/administration/cicd/limits.md)."""
    for _, inputs in RENDERED:
        for name, job in jobs_of(inputs).items():
            assert len(job.get("needs") or []) <= 50, name


def test_rules_when_values_are_the_ones_gitlab_allows() -> None:
    """`lib/gitlab/ci/config/entry/rules/rule.rb`: `when` of a rule is one of on_success,
    on_failure, always, never, manual, delayed (`ALLOWED_WHEN`); anything else is invalid."""
    allowed = {"on_success", "on_failure", "always", "never", "manual", "delayed"}
    for _, inputs in RENDERED:
        for name, job in jobs_of(inputs).items():
            for rule in job.get("rules") or []:
                assert rule.get("when", "on_success") in allowed, (name, rule)


def test_dotenv_reports_stay_within_20_variables_and_5120_bytes() -> None:
    """GitLab refuses a dotenv report of more than `dotenv_variables` (20) variables or of
    `dotenv_size` (5120 bytes) or more (plan limits, doc/administration/cicd/limits.md;
    `app/services/ci/parse_dotenv_artifact_service.rb`). build.env holds the lines the build
    job writes; push.env is `scangate push --dotenv` with the longest values a push can have
    (an ECR registry and a 256-character repository, two 128-character tags)."""
    from scangate.commands.push import result_dotenv
    from scangate.registry.push import PushResult

    build = "\n".join(glci.script_lines(jobs_of({})["scangate-build"]))
    written = re.findall(r"(SCANGATE_[A-Z0-9_]+)=%s", build)
    assert written == ["SCANGATE_IMAGE_ID", "SCANGATE_IMAGE_ARCHIVE_SHA256",
                       "SCANGATE_IMAGE_LOCAL_REF"]
    assert 0 < len(written) <= 20
    repository = "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/" + "r" * 256
    longest = PushResult(repository=repository, digest="sha256:" + "0" * 64,
                         tags=("t" * 128, "u" * 128), image_id="sha256:" + "1" * 64,
                         archive_sha256="2" * 64, layers=1)
    dotenv = result_dotenv(longest)
    assert len(dotenv) < 5120
    assert len(dotenv.splitlines()) <= 20


def test_the_interpolation_stays_within_gitlab_limits() -> None:
    """`lib/gitlab/ci/config/interpolation/template.rb`: at most `MAX_BLOCKS` (10 000)
    `$[[ ]]` blocks per file; "CI/CD inputs" docs: a string holding a block is at most 1 MB
    and a block's content at most 1 KB; MR 264013: at most 500 declared inputs."""
    text = glci.TEMPLATE.read_text(encoding="utf-8")
    blocks = re.findall(r"\$\[\[(.*?)\]\]", text)
    assert 0 < len(blocks) <= 10_000
    assert max(len(block) for block in blocks) <= 1024
    assert len(text.encode("utf-8")) < 1024 * 1024
    spec, _ = glci.load_template()
    assert len(spec) <= 500
