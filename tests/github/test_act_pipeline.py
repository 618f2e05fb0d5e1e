"""The reusable workflow end to end with act, called as users call it: README's caller, verbatim.

Each test makes a caller repository of its own (`acme/service`: the example service at its
root, `.scangate/policy.yaml`, and README.md's caller workflow as it is, pinning
`scangate/scangate/.github/workflows/container-scan.yml@<SHA>`). The fork pull request and the
other-repository caller also gate the vulnerable build in the same act run: README's job is
left as it is and a copy of it (`_with_vulnerable_call`: renamed, another image name and ECR
repository, `build-args: REQUIREMENTS=requirements-vulnerable.txt`) follows it, so each of
these callers gates both images. act fetches that reusable
workflow and its pinned `scangate/scangate/actions/*` from a snapshot of this repository
(`--local-repository`, as the runner would download them: no checkout of scangate, no OIDC
token, no extra input). What is real: the workflow's jobs, `needs`/`if` logic, matrix,
artifacts between jobs (through the stand-ins' store), scangate's own actions (installed from
the snapshot), `docker build`, Trivy (the real binary, offline test DB) run by `scangate scan`
on the very tarball the build job saved, `scangate push` into a distribution registry on
127.0.0.1:5000, `scangate securityhub` against a moto server. Test doubles: the third-party
actions (tests/github/standins/, see the README there), which refuse what GitHub refuses.

The Trivy release cannot be downloaded here. The tests seed the Actions cache stand-in with a
tarball of the test Trivy binary under actions/trivy's key, and the snapshot pins it: its
actions/trivy/checksums.txt gets that tarball's sha256 for the binary's own version, which
becomes the default `trivy-version` (scangate install-tool checks the version the binary
reports too), so the checks themselves run unchanged. The corrupted-cache test leaves the pin
alone and seeds a tarball that does not match it. Nor can Trivy's DB be downloaded: the local
registry serves the test DB as Trivy's repositories serve theirs
(tests/support/trivy_registry.py), and the snapshot's `trivy-db-repository` default names it
(the other edit of the snapshot).

The DB cache is poisoned in every run (issue 19 §3): any job on the default branch can write a
cache entry ahead of time, so each test's cache holds, under every key the workflow used to
restore (the ref and the day, today and tomorrow), a DB with the CRITICAL's advisory removed and
NextUpdate in 2099. The workflow restores a DB only when pinned, so no run uses it: the vulnerable
image still FAILs on the CRITICAL, and the report of the run that pushes names the served DB.
"""

from __future__ import annotations

import datetime
import fcntl
import gzip
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_httpserver import HTTPServer
from scangate._cli import main as scangate_main

from tests.gate.review_standin import StandIn, serve
from tests.github.actrun import (
    REPO_ROOT,
    SELF_REPOSITORY,
    ActRun,
    host_python,
    install_lines,
    run_act,
    shared_root,
    shared_venv,
    snapshot_repository,
)
from tests.github.test_caller_workflow import MARKER, SCAN_ONLY, caller_text
from tests.github.test_workflow_steps import _docker_archive
from tests.support.docker import BASE_IMAGE, remove_image
from tests.support.moto_server import MotoServer, run_moto_server
from tests.support.reports import image_report, write
from tests.support.trivy import db_digest, trivy_binary, write_tampered_db
from tests.support.trivy_registry import serve_db

pytestmark = [pytest.mark.docker, pytest.mark.slow]

TRIVY_VERSION = "0.76.0"  # tools/setup's Trivy, the binary packed below (checked there)
TRIVY_ASSET = f"trivy_{TRIVY_VERSION}_Linux-64bit.tar.gz"
# actions/trivy's cache key for the default trivy-version on act's runner (Linux, X64).
TRIVY_KEY = f"scangate-trivy-{TRIVY_VERSION}-Linux-X64"
CRITICAL = "CVE-2020-14343"  # pyyaml in requirements-vulnerable.txt (tools/trivydb/fixtures)
SHARED_SCHEMA = REPO_ROOT.parent / "shared" / "schemas" / "sarif-schema-2.1.0.json"
# snapshot -> the virtualenv of its scangate that every act job of these tests reuses
# (actrun.shared_venv); tests/gate/test_review_act.py keeps installing it in each job for real.
_VENVS: dict[Path, Path] = {}
PR_NUMBER = 7
# README's callers name no image: it is the repository's name (acme/service).
CLEAN, VULNERABLE, LOOSE = "service", "service-vulnerable", "service-loose"


@pytest.fixture(scope="session")
def stand_in_trivy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(tarball, sha256): the test Trivy binary packed as the release asset is packed. Packed
    once per pytest run (~3 s of CPU for 175 MB), by the first xdist worker to ask; the others
    wait for it and read it (each act run may take its own worker)."""
    version = subprocess.run([trivy_binary(), "--version"], capture_output=True, text=True,
                             check=True).stdout
    assert f"Version: {TRIVY_VERSION}" in version, version
    root = shared_root(tmp_path_factory)
    path = root / "act-trivy-release" / TRIVY_ASSET
    with (root / "act-trivy-release.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            raw = io.BytesIO()
            with tarfile.open(fileobj=raw, mode="w") as tar:
                tar.add(trivy_binary(), arcname="trivy")
            path.parent.mkdir(exist_ok=True)
            partial = path.with_name(f"{path.name}.partial")
            partial.write_bytes(gzip.compress(raw.getvalue(), compresslevel=1))
            partial.rename(path)  # a worker that failed half-way leaves no tarball behind
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def served_db(registry: str, trivy_cache_dir: Path) -> str:
    """The test DB, served by the local registry: `--db-repository` for the workflow."""
    return serve_db(trivy_cache_dir, registry, "scangate-test/trivy-db-act")


@pytest.fixture(scope="session")  # cheap: each act run may take its own worker
def scangate_dir(
    tmp_path_factory: pytest.TempPathFactory, stand_in_trivy: tuple[Path, str], served_db: str
) -> Path:
    """This repository as the runner would download `scangate/scangate@<release>`."""
    repo = tmp_path_factory.mktemp("scangate") / "scangate"
    snapshot_repository(repo, served_only=True)
    # A runner downloads an action's repository as an archive of the tree, with no .git; act
    # copies the directory for every `uses:` of it in every job (some 50 in the fork pull
    # request's run), and .git would be more than half of the files it creates each time.
    shutil.rmtree(repo / ".git")
    checksums = repo / "actions" / "trivy" / "checksums.txt"
    checksums.write_text(checksums.read_text() + f"{TRIVY_VERSION} {TRIVY_ASSET} "
                         f"{stand_in_trivy[1]}\n")
    workflow = repo / ".github" / "workflows" / "container-scan.yml"
    text, count = re.subn(r'(trivy-version:\n(?:        .*\n)*?        default: )"[0-9.]+"',
                          rf'\g<1>"{TRIVY_VERSION}"', workflow.read_text())
    assert count == 1, "container-scan.yml's trivy-version default is not where it was"
    # Trivy's default DB repositories are out of reach here: the served test DB stands in.
    text, count = re.subn(r'^(      trivy-db-repository:\n(?:        .*\n)*?        default: )""$',
                          rf'\g<1>"{served_db}"', text, flags=re.M)
    assert count == 1, "container-scan.yml's trivy-db-repository input no longer defaults to \"\""
    # act keeps one outputs map for all legs of a matrix job: the first leg to finish replaces
    # every output expression with its own values (act pkg/runner/run_context.go
    # interpolateOutputs), where GitHub merges the legs' outputs (docs, "Using job outputs in a
    # matrix job"). One leg at a time, in matrix order, makes index 0 the first to finish: a
    # later leg's artifact ids are then lost under act, so no act test needs one.
    for path in (workflow, repo / ".github" / "workflows" / "container-release.yml"):
        source = text if path == workflow else path.read_text()
        source, count = re.subn(r"^(    strategy:\n      fail-fast: false\n)",
                                r"\g<1>      max-parallel: 1\n", source, flags=re.M)
        assert count >= 3, f"{path.name}: no matrix strategy to run one leg at a time"
        # act evaluates each job's matrix before its `if:` and before it knows whether a job it
        # needs failed (pkg/runner/runner.go, NewPlanExecutor), and a matrix expression that
        # fails to evaluate ends act itself (log.Fatalf in pkg/model's decodeNode): a call whose
        # plan refused its inputs would end the whole run, other calls included, where GitHub
        # skips the jobs that need the failed plan. Under act an empty plan output is no image.
        source, count = re.subn(r"fromJSON\(needs\.plan\.outputs\.matrix\)",
                                "fromJSON(needs.plan.outputs.matrix || '[]')", source)
        assert count >= 3, f"{path.name}: no matrix from the plan's output"
        path.write_text(source)
    _VENVS[repo] = shared_venv(repo, shared_root(tmp_path_factory), host_python())
    return repo


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with run_moto_server() as server:
        yield server


def _git(repo: Path, *args: str) -> str:
    git = ["git", "-C", str(repo), "-c", "user.name=act", "-c", "user.email=act@localhost",
           "-c", "commit.gpgsign=false"]  # fmt: skip
    return subprocess.run([*git, *args], capture_output=True, text=True, check=True).stdout.strip()


def _caller_repo(
    root: Path, package_index: str, requirements: str, marker: str = MARKER
) -> tuple[Path, str]:
    """acme/service: the example at its root, our policy, a documented caller (README's full
    release unless marker names another shape), verbatim; returns (dir, sha)."""
    repo = root / "service"
    shutil.copytree(REPO_ROOT / "examples" / "user-authenticator", repo,
                    ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    dockerfile = repo / "Dockerfile"
    text = dockerfile.read_text()
    # The build arguments' defaults point at what this machine has (no public registry or
    # index is reachable); the caller passes no build-args, as README's does not.
    text = re.sub(r"^ARG BASE_IMAGE=.*$", f"ARG BASE_IMAGE={BASE_IMAGE}", text, flags=re.M)
    text = re.sub(r"^ARG PIP_INDEX_URL$", f"ARG PIP_INDEX_URL={package_index}", text, flags=re.M)
    text = re.sub(r"^ARG REQUIREMENTS=.*$", f"ARG REQUIREMENTS={requirements}", text, flags=re.M)
    dockerfile.write_text(text)
    (repo / ".scangate").mkdir()
    shutil.copy(REPO_ROOT / ".scangate" / "policy.yaml", repo / ".scangate" / "policy.yaml")
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "container-scan.yml").write_text(caller_text(marker))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    # A commit of its own: the workflow tags images by commit, and two callers with the same tree
    # committed in the same second on two workers would share (and delete) each other's tag.
    _git(repo, "commit", "-q", "-m", f"service {uuid.uuid4().hex}")
    _git(repo, "remote", "add", "origin", "https://github.com/acme/service.git")
    return repo, _git(repo, "rev-parse", "HEAD")


def _with_vulnerable_call(repo: Path) -> None:
    """Add a copy of README's caller jobs (scan and release), text for text, renamed and gating
    `service-vulnerable`, the same context built with `REQUIREMENTS=requirements-vulnerable.txt`
    (a documented input of the example's Dockerfile). Two calls rather than one call with two
    `images`: a call's push waits for every image's pass (a release is all or nothing), and the
    clean image must still be pushed while the vulnerable one fails. One act run gates both;
    README's jobs are unchanged; the copy also sends the Slack alert."""
    text = caller_text()
    head, jobs = text.split("jobs:\n", 1)
    copy = jobs
    for old, new in (
        ("  scan:\n", "  scan-vulnerable:\n"),
        ("  release:\n", "  release-vulnerable:\n"),
        ("    needs: scan\n", "    needs: scan-vulnerable\n"),
        ("needs.scan.outputs.handoff", "needs.scan-vulnerable.outputs.handoff"),
        ("      policy: .scangate/policy.yaml\n",
         "      policy: .scangate/policy.yaml\n"
         f"      image-name: {VULNERABLE}\n"
         "      build-args: REQUIREMENTS=requirements-vulnerable.txt\n"
         # The Slack alert (docs/github-reference.md, secrets): by name, as a secret must be.
         "    secrets:\n"
         "      slack-webhook-url: ${{ secrets.SLACK_WEBHOOK_URL }}\n"),
    ):  # fmt: skip
        assert copy.count(old) == 1, f"README's caller no longer has {old.strip()!r} once"
        copy = copy.replace(old, new)
    workflow = head + "jobs:\n" + jobs.rstrip("\n") + "\n" + copy
    doc = yaml.safe_load(workflow)
    assert list(doc["jobs"]) == ["scan", "release", "scan-vulnerable", "release-vulnerable"]
    (repo / ".github" / "workflows" / "container-scan.yml").write_text(workflow)
    _git(repo, "commit", "-q", "-am", "gate the vulnerable build too")


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _cache_store(root: Path, tarball: Path, refs: list[str]) -> Path:
    """The Actions cache as a default branch would have it: the Trivy tarball, and a poisoned
    DB (the CRITICAL's advisory removed, NextUpdate 2099) under every key the workflow used to
    restore for these refs, today's and tomorrow's, as a default-branch job can write them."""
    store = root / "cache"
    store.mkdir()

    def entry(key: str) -> Path:
        return store / urllib.parse.quote(key, safe="-_.~")

    entry(TRIVY_KEY).mkdir()
    shutil.copy(tarball, entry(TRIVY_KEY) / TRIVY_ASSET)
    poisoned = write_tampered_db(root / "poisoned", CRITICAL) / "db"
    today = datetime.datetime.now(datetime.UTC).date()
    for ref in refs:
        for day in (today, today + datetime.timedelta(days=1)):  # a run across midnight
            shutil.copytree(poisoned, entry(f"scangate-trivy-db-{ref}-{day.isoformat()}"))
    return store


def _assert_scanned_with_the_served_db(
    run: ActRun, image: str, served_db: str, trivy_cache_dir: Path
) -> None:
    """The image's report names the DB this scan downloaded from the served repository (the
    genuine test DB), never the poisoned one the cache held; a vulnerable image's report has
    the CRITICAL the poisoned DB hides."""
    scanned = json.loads((_artifact(run, "scan", image) / "trivy.json").read_text())
    db = scanned["Metadata"]["ScangateVulnerabilityDB"]
    assert db["VerifiedBy"] == "download" and db["Repository"] == [served_db], db
    assert db["Digest"] == db_digest(trivy_cache_dir), db
    if image != CLEAN:
        found = {v["VulnerabilityID"] for r in scanned.get("Results") or []
                 for v in r.get("Vulnerabilities") or []}
        assert CRITICAL in found, sorted(found)


def _readme_self_pins() -> dict[str, str]:
    """`owner/repo@ref` of README's `uses:` and of the workflow's own pins."""
    refs = re.findall(rf"uses: ({re.escape(SELF_REPOSITORY)})/\S+@([0-9a-f]{{40}})",
                      caller_text())
    return {f"{repo}@{ref}": ref for repo, ref in refs}


def _run(
    tmp_path: Path,
    caller: Path,
    scangate: Path,
    cache: Path,
    *,
    event: str,
    payload: dict[str, Any],
    env: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
) -> ActRun:
    full_env = {
        "SCANGATE_STANDIN_SOURCE": str(caller),
        "SCANGATE_STANDIN_CACHE": str(cache),
        # upload-sarif's validate.py needs jsonschema: the venv's interpreter has it.
        "SCANGATE_STANDIN_VENV_PYTHON": str(Path(sys.executable)),
        **({"SCANGATE_STANDIN_SARIF_SCHEMA": str(SHARED_SCHEMA)} if SHARED_SCHEMA.exists()
           else {}),
        # Every job's install.sh finds the shared virtualenv of this very source and reuses it.
        "SCANGATE_VENV": str(_VENVS[scangate]),
        # ... when given the interpreter it was built with: install.sh's stamp names it.
        "SCANGATE_STANDIN_PYTHON": host_python(),
        **(env or {}),
    }  # fmt: skip
    extra = {key: scangate for key in _readme_self_pins()}
    try:
        run = run_act(caller, "container-scan.yml", tmp_path / "state", full_env, secrets,
                      event=event, payload=payload, self_dir=scangate, extra_local=extra)
    finally:
        for build in ActRun(0, "", 0, tmp_path / "state").records("build-push"):
            remove_image(build["tags"], keep_cache=True)
    print(f"act ran in {run.seconds:.1f}s (exit {run.returncode}); log: {run.state / 'act.log'}")
    # Each install.sh took the shared virtualenv (a rebuild would pull it from under the runs
    # of the other workers, and cost the ~17 s of CPU it is there to save).
    installs, reused = install_lines(run)
    assert installs and len(reused) == len(installs), "\n".join(installs + reused)
    return run


def _artifact(run: ActRun, kind: str, name: str) -> Path:
    """The newest attempt's `scangate-<kind>-<name>-<call>-<attempt>` artifact (`my-service`
    is not `my-service-vulnerable`'s)."""
    pattern = re.compile(rf"scangate-{kind}-{re.escape(name)}-[0-9a-f]{{8}}-(\d+)")
    found = sorted(
        (int(m[1]), p)
        for p in (run.state / "artifacts").glob(f"scangate-{kind}-{name}-*-*")
        if (m := pattern.fullmatch(p.name))
    )
    assert found, (f"no {kind} artifact for {name}: "
                   f"{list((run.state / 'artifacts').iterdir())}\n{_tail(run)}")
    return found[-1][1]


def _has_artifact(run: ActRun, kind: str, name: str) -> bool:
    pattern = re.compile(rf"scangate-{kind}-{re.escape(name)}-[0-9a-f]{{8}}-\d+")
    return any(pattern.fullmatch(p.name) for p in (run.state / "artifacts").iterdir())


def _tail(run: ActRun, lines: int = 120) -> str:
    return "\n".join(run.output.splitlines()[-lines:])


def _job_succeeded(run: ActRun, job: str) -> bool:
    """act's log has `[<caller job>/<workflow>/<job name>   ] 🏁  Job succeeded`."""
    return any(f"/{job}" in line and "Job succeeded" in line for line in run.output.splitlines())


def test_fork_pull_request_adding_a_waiver_still_fails(
    tmp_path: Path,
    scangate_dir: Path,
    stand_in_trivy: tuple[Path, str],
    package_index: str,
    registry: str,
    served_db: str,
    trivy_cache_dir: Path,
) -> None:
    """A pull request from a fork (read-only token, no secrets, no OIDC token) whose tree adds
    a waiver for the vulnerable image's CRITICAL and raises the limits, to a caller that gates
    the clean and the vulnerable build (README's job and its copy): the base commit's policy
    applies to both, the vulnerable image FAILS and the clean one PASSES, the summary shows the
    waiver as proposed, the SARIF uploads are refused (read-only token) without failing
    anything but the decision, both images' reports are artifacts, and nothing is pushed.
    The pull request also adds a third calling job whose inputs loosen the base policy
    (`max-critical: 5`, `ignore-unfixed: true`): it FAILS, its inputs refused by name in its
    plan, before anything is built or scanned.
    The reusable workflow compares the pull request with its base branch's last successful
    push run (issue 22): read through the Actions API stand-in with the fork's read-only
    token, the base without the CVE makes it new in the vulnerable image's summary."""
    del registry  # the fixture only asserts the engine is up
    caller, _ = _caller_repo(tmp_path, package_index, "requirements.txt")
    _with_vulnerable_call(caller)
    base = _git(caller, "rev-parse", "HEAD")
    policy = caller / ".scangate" / "policy.yaml"
    doc = yaml.safe_load(policy.read_text())
    doc["thresholds"] = {"critical": 100, "high": 100, "medium": 100}
    doc["waivers"] = [{"id": CRITICAL, "reason": "PR says it is fine", "expires": "2099-12-31"}]
    policy.write_text(yaml.safe_dump(doc, sort_keys=False))
    # ... and its caller: a third job gates the vulnerable build as `service-loose` with inputs
    # that would let its CRITICAL (and unfixed ones) through.
    workflow = caller / ".github" / "workflows" / "container-scan.yml"
    doc = yaml.safe_load(workflow.read_text())
    loose = json.loads(json.dumps(doc["jobs"]["scan-vulnerable"]))
    loose["with"].update({"image-name": LOOSE, "max-critical": "5", "ignore-unfixed": True})
    doc["jobs"]["scan-loose"] = loose
    doc["on"] = doc.pop(True)  # YAML 1.1 reads the key `on` as a boolean
    workflow.write_text(yaml.safe_dump(doc, sort_keys=False))
    _git(caller, "commit", "-q", "-am", "loosen the gate")
    head = _git(caller, "rev-parse", "HEAD")
    payload = {
        "number": PR_NUMBER,
        "pull_request": {
            "number": PR_NUMBER,
            "head": {"sha": head, "ref": "feature", "repo": {"fork": True,
                                                             "full_name": "mallory/service"}},
            "base": {"sha": base, "ref": "main", "repo": {"full_name": "acme/service"}},
        },
        "repository": {"full_name": "acme/service", "default_branch": "main"},
    }  # fmt: skip
    cache = _cache_store(tmp_path, stand_in_trivy[0],
                         [f"refs/pull/{PR_NUMBER}/merge", "refs/heads/main"])
    # Issue 22: the base branch's last successful push run, as GitHub's Actions API lists it
    # (the loopback stand-in of tests/gate/review_standin.py, a test double), gated the
    # vulnerable image's name without the CVE. container-scan.yml fetches it with the pull
    # request's own token (read-only from a fork: reading Actions is allowed).
    base_summary = tmp_path / "base-summary.json"
    base_report = write(tmp_path / "base-trivy.json", image_report([], name=f"{VULNERABLE}:1"))
    assert scangate_main(["gate", "--quiet", "--report", base_report,
                          "--json-summary", str(base_summary)]) == 0
    with serve(StandIn(github_tokens={"fork-read-token": None})) as api:
        api.github_runs.append({
            "id": 1, "workflow": "container-scan.yml", "branch": "main", "event": "push",
            "conclusion": "success", "html_url": "https://github.example/acme/service/runs/1",
            "artifacts": [{"id": 11, "name": f"scangate-reports-{VULNERABLE}-0a1b2c3d-1",
                           "expired": False, "zip": _zip({"summary.json":
                                                          base_summary.read_bytes()})}]})
        run = _run(tmp_path, caller, scangate_dir, cache, event="pull_request",
                   payload=payload, secrets={"GITHUB_TOKEN": "fork-read-token"},
                   env={"SCANGATE_STANDIN_TOKEN": "read-only", "GITHUB_API_URL": api.url,
                        "GITHUB_WORKFLOW_REF": "acme/service/.github/workflows/"
                                               f"container-scan.yml@refs/pull/{PR_NUMBER}/merge"})

    assert run.returncode != 0, "a failed gate must fail the run:\n" + _tail(run)
    vulnerable = _artifact(run, "reports", VULNERABLE)
    summary = json.loads((vulnerable / "summary.json").read_text())
    assert summary["decision"] == "fail", summary
    assert summary["counts"]["critical"] >= 1, "the PR's waiver must not apply"
    # The real workflow compared the pull request with the base run: the CVE it adds is new.
    assert summary["baseline"]["used"] is True, summary["baseline"]
    assert (vulnerable / "baseline-summary.json").read_bytes() == base_summary.read_bytes()
    changes = {f["id"]: f["change"] for f in summary["findings"]}
    assert changes[CRITICAL] == "new", changes
    listed = [r for r in api.requests if r.path.endswith("/actions/workflows/"
                                                          "container-scan.yml/runs")]
    assert listed and {r.query["branch"][0] for r in listed} == {"main"}, api.requests
    assert {r.headers.get("Authorization") for r in listed} == {"Bearer fork-read-token"}
    # The poisoned DB under this ref's and main's keys was not used: the served one found it.
    _assert_scanned_with_the_served_db(run, VULNERABLE, served_db, trivy_cache_dir)
    clean = _artifact(run, "reports", CLEAN)
    summary = json.loads((clean / "summary.json").read_text())
    assert summary["decision"] == "pass", summary
    for reports in (vulnerable, clean):
        assert (reports / "scangate.sarif").is_file(), "the SARIF is kept whatever the upload did"
    assert _job_succeeded(run, f"Gate ({CLEAN})"), (
        "the clean image's gate must pass:\n" + _tail(run)
    )
    assert not _job_succeeded(run, f"Gate ({VULNERABLE})")
    # The loosened caller inputs are refused by name, by the call's plan, before anything is
    # built: that call cannot pass either, and costs no build, scan or gate.
    refusal = "this one loosens it: max-critical: 5 (the base policy"
    lines = run.output.splitlines()
    refused = [x for x in lines
               if x.startswith("[scan-loose/container-scan/Plan]") and refusal in x]
    assert len(refused) == 1 and "ignore-unfixed: true" in refused[0], _tail(run)
    assert not _job_succeeded(run, f"Gate ({LOOSE})")
    assert not _has_artifact(run, "reports", LOOSE), "no decision from refused inputs"
    # act prefixes a called job's lines with `[scan-loose/container-scan/Build (service-loose)]`.
    for job in ("Build", "Scan", "Gate", "Results"):
        assert not [x for x in lines if x.startswith(f"[scan-loose/container-scan/{job}")], (
            f"{job} ran after plan refused its inputs")
    for kind in ("image", "scan"):
        assert not _has_artifact(run, kind, LOOSE), f"a {kind} artifact of refused inputs"
    # The PR's policy is shown, not applied.
    proposed = run.output.split("Policy changes proposed by this pull request (not applied)")
    assert len(proposed) > 1, _tail(run)
    assert any(CRITICAL in part[:4000] for part in proposed[1:])
    # The read-only token's refused uploads were only warnings.
    uploads = run.records("upload-sarif")
    assert len(uploads) == 2 and {u["accepted"] for u in uploads} == {"false"}, uploads
    assert "Code scanning" in run.output or "SARIF upload to code scanning failed" in run.output
    # scangate's code came from its pinned actions: nothing checked out our repository.
    assert {c["repository"] for c in run.records("checkout")} <= {"acme/service", ""}, (
        run.records("checkout")
    )
    # The base's policy and callers: for each call's plan (the inputs' check) and for the
    # clean and vulnerable images' gates (the policy applied).
    base_checkouts = sorted((c["job"], c["commit"]) for c in run.records("checkout")
                            if c["path"] == ".scangate-base")
    assert base_checkouts == [("gate", base)] * 2 + [("plan", base)] * 3, base_checkouts
    # Nothing past the gate: no credentials, no push, for either image.
    assert run.records("configure-aws-credentials") == []
    assert run.records("amazon-ecr-login") == []
    assert not list((run.state / "artifacts").glob("scangate-push-*"))


def test_scan_only_caller_on_a_fork_pull_request_passes_without_any_token(
    tmp_path: Path,
    scangate_dir: Path,
    stand_in_trivy: tuple[Path, str],
    package_index: str,
    registry: str,
) -> None:
    """README's scan-only caller, verbatim, on a fork pull request (read-only token, no OIDC):
    it grants `contents: read` alone and the whole call runs (GitHub would refuse any nested
    job asking for more: tests/github/test_caller_workflow.py); the clean image PASSES, its
    reports are an artifact, no SARIF upload is attempted, and nothing reaches AWS."""
    del registry
    caller, base = _caller_repo(tmp_path, package_index, "requirements.txt", SCAN_ONLY)
    payload = {
        "number": PR_NUMBER,
        "pull_request": {
            "number": PR_NUMBER,
            "head": {"sha": base, "ref": "feature", "repo": {"fork": True,
                                                             "full_name": "mallory/service"}},
            "base": {"sha": base, "ref": "main", "repo": {"full_name": "acme/service"}},
        },
        "repository": {"full_name": "acme/service", "default_branch": "main"},
    }  # fmt: skip
    cache = _cache_store(tmp_path, stand_in_trivy[0], [f"refs/pull/{PR_NUMBER}/merge"])
    run = _run(tmp_path, caller, scangate_dir, cache, event="pull_request", payload=payload,
               env={"SCANGATE_STANDIN_TOKEN": "read-only"})

    assert run.returncode == 0, _tail(run)
    summary = json.loads((_artifact(run, "reports", CLEAN) / "summary.json").read_text())
    assert summary["decision"] == "pass", summary
    assert run.records("upload-sarif") == []
    assert run.records("configure-aws-credentials") == []
    assert not list((run.state / "artifacts").glob("scangate-push-*"))


def test_caller_in_another_repository_without_code_security_passes_and_pushes(
    tmp_path: Path,
    scangate_dir: Path,
    stand_in_trivy: tuple[Path, str],
    package_index: str,
    registry: str,
    moto: MotoServer,
    served_db: str,
    trivy_cache_dir: Path,
) -> None:
    """A push to main of acme/service, a repository that cannot read ours and has no Code
    Security, with README's full-release caller verbatim: the scan job (no id-token) builds,
    scans and gates; the image PASSES (the refused SARIF upload is a warning); the release job
    (container-release.yml, after `needs: scan`, the hand-off as `scan`) pushes it under a
    `prod-` tag to the registry, which then holds exactly the scanned image, Security Hub gets
    its findings as the pushed image (by digest), and deploy starts only after the push (there
    is no Kubernetes here, so it stops at kubectl).

    A stale higher-attempt artifact (issue 19 §4): right after the build uploads
    `scangate-image-service-<call>-1`, another job of the run uploads a look-alike, a
    self-consistent tarball of another image with its own image.json, as
    `scangate-image-service-<call>-2` (the upload stand-in's plant hook: the call id is made at
    run time). Every job downloads by the artifact id the build leg handed on, so the planted
    tarball is never downloaded, scanned, gated or pushed.

    The vulnerable build is not in this run: act stops a run at the first failed reusable-
    workflow call, before any later `needs:` stage, where GitHub would still run the clean
    call's release. The fork pull request test gates it (FAIL, nothing pushed)."""
    caller, _ = _caller_repo(tmp_path, package_index, "requirements.txt")
    sha = _git(caller, "rev-parse", "HEAD")
    payload = {"ref": "refs/heads/main", "after": sha,
               "repository": {"full_name": "acme/service", "default_branch": "main"}}
    cache = _cache_store(tmp_path, stand_in_trivy[0], ["refs/heads/main"])
    plant = tmp_path / "plant" / f"scangate-image-{CLEAN}"
    plant.mkdir(parents=True)
    planted_id = _docker_archive(plant / "image.tar", {
        "architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
        "config": {"Labels": {"planted": "true"}}})  # fmt: skip
    assert scangate_main(["image", "record", "--image-dir", str(plant), "--name", CLEAN]) == 0
    moto.reset()
    run = _run(tmp_path, caller, scangate_dir, cache, event="push", payload=payload,
               env={"SCANGATE_STANDIN_CODE_SECURITY": "disabled",
                    "SCANGATE_STANDIN_REGISTRY": registry,
                    "SCANGATE_STANDIN_AWS_ENDPOINT_URL": moto.url,
                    "SCANGATE_STANDIN_PLANT": str(tmp_path / "plant")})  # fmt: skip

    reports = _artifact(run, "reports", CLEAN)
    summary = json.loads((reports / "summary.json").read_text())
    assert summary["decision"] == "pass", summary
    assert (reports / "scangate.sarif").is_file()
    uploads = run.records("upload-sarif")
    assert len(uploads) == 1 and {u["accepted"] for u in uploads} == {"false"}, uploads
    assert _job_succeeded(run, f"Gate ({CLEAN})"), (
        "a refused SARIF upload must not fail the gate:\n" + _tail(run)
    )
    pushed = json.loads((_artifact(run, "push", CLEAN) / "push.json").read_text())
    scanned = json.loads((_artifact(run, "scan", CLEAN) / "trivy.json").read_text())
    # A run that pushes never used the poisoned DB under main's keys (issue 19 §3).
    _assert_scanned_with_the_served_db(run, CLEAN, served_db, trivy_cache_dir)
    tags = pushed["tags"]
    assert len(tags) == 1 and tags[0].startswith(f"prod-{sha}-"), tags
    assert pushed["image-id"] == scanned["Metadata"]["ImageID"]
    assert pushed["image-uri"].startswith(f"{registry}/{CLEAN}@sha256:")
    # Beside the push record, the policy's waivers as OpenVEX (`scangate push --openvex`): the
    # policy waives nothing, so a document with no statement.
    vex = json.loads((_artifact(run, "push", CLEAN) / "scangate.openvex.json").read_text())
    assert vex["tooling"] == "scangate" and vex["statements"] == [], vex
    # Read the registry directly: the manifest it serves for the tag is the pushed digest, and
    # its config is the image Trivy scanned.
    request = urllib.request.Request(
        f"http://{registry}/v2/{CLEAN}/manifests/{tags[0]}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json, "
                           "application/vnd.docker.distribution.manifest.v2+json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Docker-Content-Digest"] == pushed["image-digest"]
        assert json.load(response)["config"]["digest"] == scanned["Metadata"]["ImageID"]
    assert run.records("setup-kubectl"), "deploy should start after the push"
    assert {c["repository"] for c in run.records("checkout")} <= {"acme/service", ""}
    # The OIDC roles were assumed by the release's jobs only, each with its own role.
    assumed = {(r["job"], r["role"].rsplit("/", 1)[1])
               for r in run.records("configure-aws-credentials")}  # fmt: skip
    assert assumed == {("push", "scangate-push"), ("security-hub", "scangate-publish"),
                       ("deploy", "scangate-deploy")}, assumed  # fmt: skip

    import boto3

    hub = boto3.client("securityhub", endpoint_url=moto.url, region_name="eu-west-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    findings = hub.get_findings(MaxResults=100)["Findings"]
    assert findings, "no finding reached Security Hub"
    # The image's resource is the pushed image by digest. This registry is not ECR, so
    # scangate names it `Container` REGISTRY/REPO@DIGEST; the AwsEcrContainerImage form for
    # ECR hosts is tested in tests/aws.
    resources = {(r["Type"], r["Id"]) for f in findings for r in f["Resources"]}
    assert resources == {("Container", pushed["image-uri"])}, resources

    # The planted look-alike was in the run's artifacts, under the name for attempt 2, and no
    # download ever fetched it: the scanned and pushed image is the one the build leg uploaded.
    [planted] = run.records("planted-artifact")
    built_name = re.sub(r"-2$", "-1", planted["name"])
    assert planted["name"].startswith(f"scangate-image-{CLEAN}-") and built_name != planted["name"]
    downloads = run.records("download-artifact")
    assert downloads and not [d for d in downloads
                              if planted["name"] in d["downloaded"].split()
                              or planted["id"] in d["ids"].replace(" ", "").split(",")]
    assert {d["name"] for d in downloads} == {""} and {d["pattern"] for d in downloads} == {""}
    built = json.loads((run.artifact(built_name) / "image.json").read_text())["image-id"]
    assert built != planted_id
    assert scanned["Metadata"]["ImageID"] == built == pushed["image-id"]


def test_a_corrupted_cached_trivy_fails_closed(
    tmp_path: Path,
    scangate_dir: Path,
    stand_in_trivy: tuple[Path, str],
    package_index: str,
    registry: str,
) -> None:
    """The cache holds a Trivy tarball that is not the pinned one (a poisoned default-branch
    cache): no Trivy runs, the scan fails with a message that says so, the image's gate still
    runs (`!cancelled()`, as it does for every other image of a matrix) and decides `error`;
    nothing is pushed."""
    del registry
    caller, sha = _caller_repo(tmp_path, package_index, "requirements.txt")
    cache = _cache_store(tmp_path, stand_in_trivy[0], ["refs/heads/main"])
    poisoned = cache / TRIVY_KEY / TRIVY_ASSET
    poisoned.write_bytes(poisoned.read_bytes() + b"\0")
    repository = "acme/service"
    payload = {"ref": "refs/heads/main", "after": sha,
               "repository": {"full_name": repository, "default_branch": "main"}}
    run = _run(tmp_path, caller, scangate_dir, cache, event="push", payload=payload,
               env={"SCANGATE_STANDIN_REGISTRY": "127.0.0.1:1"})

    assert run.returncode != 0
    assert "the cache is corrupted or poisoned" in run.output, _tail(run)
    assert not list((run.state / "artifacts").glob("scangate-scan-*"))
    assert not list((run.state / "artifacts").glob("scangate-push-*"))
    # The README's caller names no image: the workflow names it after the repository.
    image = repository.split("/")[1]
    assert f"no Trivy report for {image}:" in run.output, "the gate must still run and say why"
    assert run.records("amazon-ecr-login") == []



def test_one_broken_image_does_not_skip_the_others_gate(
    tmp_path: Path,
    scangate_dir: Path,
    stand_in_trivy: tuple[Path, str],
    package_index: str,
    registry: str,
    httpserver: HTTPServer,
) -> None:
    """Two images (`images`), one whose build fails: the other is still scanned and gated
    (PASS, with its reports), the broken one's gate decides `error`, nothing is pushed (a
    release is all or nothing), and the Slack alert goes out for the error.

    Each leg hands its artifacts' ids on as job outputs of its index, which GitHub merges over
    the legs; act lets the first leg to finish fix every output of the job, so under act the
    snapshot runs a matrix's legs one at a time, in order (`scangate_dir`): `api`, index 0,
    finishes first. tests/github/test_artifact_ids.py checks the outputs against GitHub's
    rule."""
    del registry
    httpserver.expect_request("/slack-hook", method="POST").respond_with_data("ok")
    caller, sha = _caller_repo(tmp_path, package_index, "requirements.txt")
    doc = yaml.safe_load(caller_text())
    doc["on"] = doc.pop(True)  # YAML 1.1 reads the key `on` as a boolean
    doc["jobs"]["scan"]["with"] = {
        "images": json.dumps([{"name": "api", "context": "."},
                              {"name": "broken", "context": ".", "dockerfile": "Nope.Dockerfile"}]),
        "policy": ".scangate/policy.yaml",
    }  # fmt: skip
    doc["jobs"]["scan"]["secrets"] = {"slack-webhook-url": "${{ secrets.SLACK_WEBHOOK_URL }}"}
    doc["jobs"]["release"]["with"] = {
        "scan": "${{ needs.scan.outputs.handoff }}",
        "push": True,
        "aws-region": "eu-west-1",
        "push-role-arn": "arn:aws:iam::123456789012:role/scangate-push",
    }
    workflow = caller / ".github" / "workflows" / "container-scan.yml"
    workflow.write_text(yaml.safe_dump(doc, sort_keys=False))
    _git(caller, "commit", "-q", "-am", "two images")
    sha = _git(caller, "rev-parse", "HEAD")
    payload = {"ref": "refs/heads/main", "after": sha,
               "repository": {"full_name": "acme/service", "default_branch": "main"}}
    cache = _cache_store(tmp_path, stand_in_trivy[0], ["refs/heads/main"])
    run = _run(tmp_path, caller, scangate_dir, cache, event="push", payload=payload,
               env={"SCANGATE_STANDIN_REGISTRY": "127.0.0.1:1"},
               secrets={"SLACK_WEBHOOK_URL": httpserver.url_for("/slack-hook")})  # fmt: skip

    assert run.returncode != 0
    summary = json.loads((_artifact(run, "reports", "api") / "summary.json").read_text())
    assert summary["decision"] == "pass", summary
    assert not list((run.state / "artifacts").glob("scangate-scan-broken-*"))
    assert "no Trivy report for broken" in run.output, _tail(run)
    assert run.records("amazon-ecr-login") == [], "push must wait for every image's pass"
    assert len(httpserver.log) == 1, httpserver.log
    message = json.loads(httpserver.log[0][0].get_data(as_text=True))
    assert "ERROR" in json.dumps(message), message
