"""Running the repository's workflows with act on this machine (helpers for test_act_pipeline).

act 0.2.89 (requirements/act-hashed.txt) runs each job's steps on the host
(`-P ubuntu-latest=-self-hosted`) in a fresh workspace. No remote action can be cloned here, so
every pinned `owner/repo@SHA` that the workflow and the composite actions use is mapped with
`--local-repository` to its stand-in under tests/github/standins/ (see the README there). The
stand-ins read their settings from SCANGATE_STANDIN_* variables given with `--env` (act does not
pass the host environment to steps) and record what they were asked in STATE/records/.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_SH = Path("actions") / "setup" / "install.sh"
STANDINS = Path(__file__).resolve().parent / "standins"
ACT = REPO_ROOT / ".venv" / "bin" / "act"
ACT_HINT = "run `make setup` (requirements/act-hashed.txt installs act into .venv)"
# The workflow pins scangate's own actions as `SELF_REPOSITORY/actions/<name>@<release commit>`;
# act runs them from the repository under test instead (never a stand-in).
SELF_REPOSITORY = "scangate/scangate"

# `uses: owner/repo[/path]@<40 hex> # vX.Y.Z`
# What a job reads of scangate's tree when act serves it as `scangate/scangate@<ref>`: the
# workflows, the actions, and what install.sh builds scangate from (the top-level files,
# scripts/, requirements/). act copies the tree for each `uses:` of it in each job, and its CPU
# time is mostly the kernel creating those files: tests/, docs/, templates/, tools/ and the
# rest were two thirds of them. A step that read one of them would fail under act.
SERVED_DIRECTORIES = frozenset({".github", "actions", "requirements", "scripts"})

REMOTE_USES = re.compile(
    r"^\s*(?:-\s*)?uses:\s*(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)(?P<path>/[^@\s]*)?"
    r"@(?P<ref>[^\s#]+)(?:\s*#\s*(?P<comment>.*))?$"
)


def workflow_files() -> list[Path]:
    """The YAML that act loads when it runs container-scan.yml: the workflows and actions."""
    files = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
    files += sorted((REPO_ROOT / "actions").glob("*/action.yml"))
    return files


def remote_uses(files: Iterable[Path]) -> list[tuple[Path, int, re.Match[str]]]:
    """Every `uses:` of a remote action or workflow, with its file and line number."""
    found = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = REMOTE_USES.match(line)
            if match:
                found.append((path, number, match))
    return found


def local_repositories(files: Iterable[Path], self_dir: Path | None = None) -> dict[str, Path]:
    """`owner/repo@SHA` -> its stand-in directory, for every pinned remote action; scangate's
    own actions -> self_dir (the snapshot under test)."""
    mapping: dict[str, Path] = {}
    for _, _, match in remote_uses(files):
        key = f"{match['repo']}@{match['ref']}"
        if match["repo"] == SELF_REPOSITORY:
            if self_dir is not None:
                mapping[key] = self_dir
            continue
        mapping[key] = STANDINS / match["repo"]
    return mapping


def _copy_ignored(directory: str, names: list[str]) -> set[str]:
    del directory
    return {
        n
        for n in names
        if n
        in {
            ".git",
            ".venv",
            ".tools",
            "__pycache__",
            ".pytest_cache",
            ".mypy_cache",
            ".ruff_cache",
            "node_modules",
        }
    }


def snapshot_repository(dest: Path, origin: str = "scangate/scangate",
                        served_only: bool = False) -> str:
    """Copy the working tree (tracked and untracked files git does not ignore) into a fresh git
    repository at dest, commit it, and return the commit: the checkout stand-in exports it.
    served_only: only the top-level files and SERVED_DIRECTORIES."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    if served_only:
        listed = [n for n in listed if "/" not in n or n.split("/", 1)[0] in SERVED_DIRECTORIES]
    dest.mkdir(parents=True)
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if not source.is_file():  # deleted but still in the index
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    git = ["git", "-C", str(dest), "-c", "user.name=act", "-c", "user.email=act@localhost",
           "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"]  # fmt: skip
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "snapshot for act"], check=True)
    # act names the repository after the origin remote; nothing is ever fetched from it.
    subprocess.run(
        [*git, "remote", "add", "origin", f"https://github.com/{origin}.git"], check=True
    )
    return subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def install_source_id(source: Path, python: str) -> str:
    """What actions/setup/install.sh stamps a virtualenv with for this checkout and interpreter:
    its own `source_id=$(...)` line, run by bash (the script's logic, not a copy of it)."""
    script = (source / INSTALL_SH).read_text(encoding="utf-8")
    line = next(x for x in script.splitlines() if x.startswith("source_id=$("))
    proc = subprocess.run(
        ["bash", "-c", f"set -euo pipefail\nsource_dir={shlex.quote(str(source))}\n"
                       f"python={shlex.quote(python)}\n{line}\nprintf %s \"$source_id\""],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert proc.stdout, proc.stderr
    return proc.stdout


@functools.cache
def host_python() -> str:
    """The host's python3 itself (not a version manager's shim, which costs a shell per call),
    as actions/setup-python hands out an interpreter's path: what the stand-in gives the act
    jobs (SCANGATE_STANDIN_PYTHON) and what a shared virtualenv is built with."""
    python3 = shutil.which("python3")
    assert python3, "no python3 on PATH"
    return subprocess.run([python3, "-c", "import sys; print(sys.executable)"],
                          capture_output=True, text=True, check=True).stdout.strip()


def shared_root(tmp_path_factory: Any) -> Path:
    """A directory every xdist worker of this pytest run shares (their base temp's parent), or
    the base temp itself without xdist (never a directory that outlives the run)."""
    root: Path = tmp_path_factory.getbasetemp()
    return root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root


def install_lines(run: ActRun) -> tuple[list[str], list[str]]:
    """act's log lines of install.sh: (every install, those that reused a virtualenv)."""
    lines = run.output.splitlines()
    return ([x for x in lines if "installed scangate " in x],
            [x for x in lines if "scangate already installed from the same source" in x])


def shared_venv(source: Path, root: Path, python: str) -> Path:
    """One virtualenv of `source`'s scangate, built by its own install.sh once under root (an
    xdist run's shared temporary directory), by content: every act job given it as SCANGATE_VENV
    finds install.sh's stamp and reuses it instead of running pip (issue 24: ~15 s of CPU per
    job). Test-only: a real runner starts each job with an empty RUNNER_TEMP. Built from a copy,
    so the snapshot act serves stays as committed (pip writes build/ into the source). Then
    byte-compiled: a runner's first import writes the .pyc files (install.sh's --no-compile),
    this host's PYTHONDONTWRITEBYTECODE=1 would recompile boto3 in every scangate call."""
    key = hashlib.sha256(install_source_id(source, python).encode()).hexdigest()[:16]
    venv = root / f"act-scangate-venv-{key}"
    with (root / f"{venv.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build; the other workers wait and reuse it
        build = root / f"{venv.name}-source-{os.getpid()}"
        shutil.copytree(source, build, ignore=_copy_ignored)
        proc = subprocess.run(
            ["bash", str(build / INSTALL_SH)],
            env={**os.environ, "SCANGATE_VENV": str(venv), "SCANGATE_PYTHON": python,
                 "GITHUB_OUTPUT": os.devnull},
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        shutil.rmtree(build)
        assert proc.returncode == 0, f"install.sh failed:\n{proc.stdout}{proc.stderr}"
        subprocess.run([str(venv / "bin" / "python"), "-m", "compileall", "-q", "-x", "/tests?/",
                        *map(str, venv.glob("lib/python3*/site-packages"))],
                       check=True, capture_output=True, timeout=900)  # fmt: skip
    return venv


@dataclass
class ActRun:
    returncode: int
    output: str
    seconds: float
    state: Path

    def records(self, name: str) -> list[dict[str, Any]]:
        path = self.state / "records" / f"{name}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]

    def artifact(self, name: str) -> Path:
        return self.state / "artifacts" / name

    def job_lines(self, job: str) -> list[str]:
        """act's log lines of a job of the called workflow (`[caller/container-scan/<job>...`)."""
        return [
            line for line in self.output.splitlines() if re.search(rf"/{re.escape(job)}\b", line)
        ]


def run_act(
    repo: Path,
    caller: str,
    state: Path,
    env: Mapping[str, str],
    secrets: Mapping[str, str] | None = None,
    timeout: float = 1500,
    event: str = "workflow_dispatch",
    payload: Mapping[str, Any] | None = None,
    self_dir: Path | None = None,
    extra_local: Mapping[str, Path] | None = None,
) -> ActRun:
    """Run `act EVENT` on repo/.github/workflows/<caller>; never raises on failure. scangate's
    own pinned actions come from self_dir (default: repo); extra_local maps more
    `owner/repo@ref` (a remote reusable workflow) to directories; payload is the event JSON."""
    if not ACT.exists():
        raise FileNotFoundError(f"{ACT} is missing: {ACT_HINT}")
    (state / "records").mkdir(parents=True, exist_ok=True)
    (state / "artifacts").mkdir(parents=True, exist_ok=True)
    event_args: list[str] = []
    if payload is not None:
        (state / "event.json").write_text(json.dumps(payload), encoding="utf-8")
        event_args = ["--eventpath", str(state / "event.json")]
    cmd = [
        str(ACT), event, *event_args,
        "--workflows", str(repo / ".github" / "workflows" / caller),
        "--platform", "ubuntu-latest=-self-hosted",
        "--action-cache-path", str(state / "act-cache"),
        "--no-cache-server",
        "--env-file", str(state / "none.env"),
        "--secret-file", str(state / "none.secrets"),
        "--var-file", str(state / "none.vars"),
        "--input-file", str(state / "none.input"),
    ]  # fmt: skip
    local = {**local_repositories(workflow_files(), self_dir or repo), **(extra_local or {})}
    for key, directory in sorted(local.items()):
        cmd += ["--local-repository", f"{key}={directory}"]
    for key, value in sorted({**env, "SCANGATE_STANDIN_STATE": str(state)}.items()):
        cmd += ["--env", f"{key}={value}"]
    for key, value in sorted((secrets or {}).items()):
        cmd += ["--secret", f"{key}={value}"]
    started = time.monotonic()
    proc = subprocess.run(
        cmd,
        cwd=repo,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1"},
    )
    seconds = time.monotonic() - started
    output = proc.stdout + proc.stderr
    (state / "act.log").write_text(output, encoding="utf-8")
    return ActRun(proc.returncode, output, seconds, state)
