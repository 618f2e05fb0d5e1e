"""Helpers for the GitLab template tests: read the template, interpolate its inputs, and run it
through gitlab-ci-local (tools/setup/40-node.sh installs 4.60.1 into .tools/node).

The template is a two-document YAML file: the `spec: inputs:` header, `---`, then the jobs.
``interpolate`` mirrors GitLab's rules for `$[[ inputs.NAME ]]`: a block that is a whole value
keeps the input's type (boolean, number, array); a block inside a longer string becomes text.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "gitlab" / "container-scan.gitlab-ci.yml"
TEMPLATE_REL = "gitlab/container-scan.gitlab-ci.yml"
GITLAB_CI_LOCAL = REPO_ROOT / ".tools" / "node" / "node_modules" / ".bin" / "gitlab-ci-local"
GITLAB_CI_LOCAL_VERSION = "4.60.1"
SETUP_HINT = "run `make setup` (tools/setup/40-node.sh installs gitlab-ci-local)"

_BLOCK = re.compile(r"\$\[\[\s*inputs\.([\w-]+)\s*\]\]")
_DOC_SEPARATOR = re.compile(r"(?m)^---[ \t]*$")


def split_documents(text: str) -> tuple[str, str]:
    """(header text, jobs text) of a `spec:` template."""
    parts = _DOC_SEPARATOR.split(text, maxsplit=1)
    if len(parts) != 2:
        raise ValueError("the template has no `---` between its spec header and its jobs")
    return parts[0], parts[1]


def load_template(path: Path = TEMPLATE) -> tuple[dict[str, Any], dict[str, Any]]:
    """(spec inputs, jobs document) of the template, as parsed YAML (not interpolated): a
    copy of its own for every caller, the file read every time."""
    spec, jobs = _parsed(path.read_text(encoding="utf-8"))
    return copy.deepcopy(spec), copy.deepcopy(jobs)


@functools.lru_cache(maxsize=8)
def _parsed(text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parsed once per text: the tests render the template a few hundred times, and PyYAML's
    parser takes 30 to 80 ms of CPU each time, a deep copy a fraction of a millisecond."""
    header, jobs = split_documents(text)
    return yaml.safe_load(header)["spec"]["inputs"], yaml.safe_load(jobs)


def input_values(spec: dict[str, Any], given: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every input's value: the given one, else its default (KeyError for a missing required)."""
    given = dict(given or {})
    unknown = set(given) - set(spec)
    if unknown:
        raise KeyError(f"unknown inputs: {sorted(unknown)}")
    values = {}
    for name, definition in spec.items():
        if name in given:
            values[name] = given[name]
        elif "default" in definition:
            values[name] = definition["default"]
        else:
            raise KeyError(f"input {name} is required and was not given")
    return values


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _interpolate_string(value: str, values: dict[str, Any]) -> Any:
    whole = _BLOCK.fullmatch(value)
    if whole:
        return values[whole.group(1)]
    return _BLOCK.sub(lambda m: _text(values[m.group(1)]), value)


def interpolate(node: Any, values: dict[str, Any]) -> Any:
    """The document with every `$[[ inputs.x ]]` block replaced (keys too)."""
    if isinstance(node, dict):
        return {
            (_text(_interpolate_string(k, values)) if isinstance(k, str) else k):
                interpolate(v, values)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [interpolate(item, values) for item in node]
    if isinstance(node, str):
        return _interpolate_string(node, values)
    return node


def rendered_jobs(given: dict[str, Any] | None = None) -> dict[str, Any]:
    """The jobs document interpolated with the given inputs (defaults for the rest)."""
    spec, jobs = load_template()
    rendered: dict[str, Any] = interpolate(jobs, input_values(spec, given))
    return rendered


def merged_job(jobs: dict[str, Any], name: str) -> dict[str, Any]:
    """The job with its `extends:` parents merged in, as GitLab does: parents in order, later
    ones win; hashes (`variables:`) deep-merged; the job itself wins over every parent."""
    job = jobs[name]
    parents = job.get("extends") or []
    merged: dict[str, Any] = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        merged = _merge(merged, merged_job(jobs, parent))
    return _merge(merged, {k: v for k, v in job.items() if k != "extends"})


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def script_lines(job: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for key in ("before_script", "script", "after_script"):
        value = job.get(key) or []
        for entry in [value] if isinstance(value, str) else value:
            lines += str(entry).splitlines()
    return lines


def checkout_scangate(bin_dir: Path) -> Path:
    """A `scangate` on PATH that runs this checkout's code with this interpreter (the venv's
    own `scangate` is an install of another checkout; a job drops PYTHONPATH before starting
    it). Not a test double: the real CLI, started the way the jobs start theirs."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "scangate"
    program = (f"import sys; sys.path.insert(0, {str(REPO_ROOT / 'scripts')!r}); "
               "from scangate._cli import main; sys.exit(main())")
    script.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -c "
                      f"{shlex.quote(program)} \"$@\"\n", encoding="utf-8")
    script.chmod(0o755)
    return script


# --- gitlab-ci-local -------------------------------------------------------------------------


def gitlab_ci_local_available() -> bool:
    return GITLAB_CI_LOCAL.is_file() and os.access(GITLAB_CI_LOCAL, os.X_OK)


def job_env() -> dict[str, str]:
    """The environment of gitlab-ci-local, which shell-executor jobs inherit.

    The project's venv comes first on PATH (its `trivy` and `scangate` are the ones under test);
    variables that could change a job (a developer's TRIVY_*, AWS credentials, a surrounding
    CI's CI_* and GITLAB_*) are dropped.
    """
    dropped = ("TRIVY_", "SCANGATE_", "AWS_", "CI_", "GITLAB_", "DOCKER_BUILDKIT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    # gitlab-ci-local starts its shells as `bash -c` with a socket for stdin (node's stdio), which
    # bash takes for a remote shell daemon's and so reads ~/.bashrc, unless SHLVL says it is
    # nested (bash(1), INVOCATION; shell.c: isnetconn(stdin) && shell_level < 2). Launched
    # with no SHLVL (a service, a background job), every job would run the developer's shell
    # setup (here pyenv init and rehash, which changes PATH): SHLVL 1, as make gives it.
    if not env.get("SHLVL", "").isdigit() or int(env["SHLVL"]) < 1:
        env["SHLVL"] = "1"
    return env


def _git(project: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=scangate-tests", "-c", "user.email=tests@scangate.invalid",
         "-c", "commit.gpgsign=false", *args],
        cwd=project, check=True, capture_output=True, text=True, timeout=120,
    )


def make_project(project: Path, ci_yaml: str, files: dict[str, Path]) -> Path:
    """A git repository at ``project`` holding ``files`` (destination -> source, files or
    directories) and ``.gitlab-ci.yml``, committed on `main` with a GitLab-like remote."""
    project.mkdir(parents=True, exist_ok=True)
    for dest, source in files.items():
        target = project / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns(
                "__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache", ".mypy_cache"))
        else:
            shutil.copy2(source, target)
    (project / ".gitlab-ci.yml").write_text(ci_yaml, encoding="utf-8")
    _git(project, "init", "--quiet", "--initial-branch=main")
    _git(project, "remote", "add", "origin",
         "https://gitlab.scangate.invalid/platform/user-authenticator.git")
    _git(project, "add", "--all")
    _git(project, "commit", "--quiet", "--message", "scangate gitlab test project")
    return project


@dataclass
class PipelineRun:
    project: Path
    returncode: int
    output: str
    stdout: str = ""
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)

    @property
    def state_dir(self) -> Path:
        return self.project / ".gitlab-ci-local"

    def artifact(self, job: str, path: str) -> Path:
        return self.state_dir / "artifacts" / job / path

    def job_log(self, job: str) -> str:
        log = self.state_dir / "output" / f"{job}.log"
        return log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""

    def describe(self) -> str:
        return f"gitlab-ci-local exit {self.returncode}; output tail:\n{self.output[-6000:]}"


_SUMMARY = re.compile(r"^\s*(PASS|FAIL)\s+(\S+)", re.MULTILINE)
_STARTING = re.compile(r"^(\S+)\s+starting\s", re.MULTILINE)


def run_gitlab_ci_local(
    project: Path,
    args: list[str],
    timeout: float = 1800,
) -> PipelineRun:
    """Run gitlab-ci-local in ``project``; never raises on a failed pipeline (see returncode)."""
    home = project.parent / (project.name + "-gcl-home")
    home.mkdir(exist_ok=True)
    cmd = [str(GITLAB_CI_LOCAL), "--home", str(home), "--no-color", *args]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=job_env(), cwd=project,
    )
    output = proc.stdout + proc.stderr
    run = PipelineRun(project=project, returncode=proc.returncode, output=output,
                      stdout=proc.stdout)
    for status, job in _SUMMARY.findall(output):
        (run.passed if status == "PASS" else run.failed).append(job)
    run.started = _STARTING.findall(output)
    return run


# gitlab-ci-local checks each pipeline against its copy of GitLab's CI schema, about 0.5 s of
# CPU a run. GitLab's own schema is checked by check-jsonschema for every rendered include and
# including pipeline (tests/gitlab/test_template.py: test_interpolated_jobs_validate_against_
# the_gitlab_ci_schema, test_including_pipelines_validate), and gitlab-ci-local's by every
# pipeline it runs (tests/gitlab/test_pipeline.py) and by test_the_repository_pipeline_includes_
# the_template_twice: a run that only lists the jobs the rules add skips it.
NO_SCHEMA = "--json-schema-validation=false"


def list_jobs(project: Path, variables: dict[str, str] | None = None,
              validate: bool = False) -> dict[str, dict[str, Any]]:
    """`gitlab-ci-local --list-json`: every job with its `when` after the rules ran."""
    args = ["--list-json", *([] if validate else [NO_SCHEMA])]
    for key, value in (variables or {}).items():
        args += ["--variable", f"{key}={value}"]
    run = run_gitlab_ci_local(project, args, timeout=300)
    if run.returncode != 0:
        raise AssertionError(run.describe())
    start = re.search(r"^\[", run.stdout, re.MULTILINE)
    if start is None:
        raise AssertionError("gitlab-ci-local --list-json printed no JSON:\n" + run.describe())
    jobs, _ = json.JSONDecoder().raw_decode(run.stdout[start.start():])
    return {job["name"]: job for job in jobs}
