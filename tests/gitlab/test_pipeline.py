"""The GitLab template end to end, run by gitlab-ci-local 4.60.1 on this machine.

A temporary git project holds the example service, the repository's policy, the template, and a
`.gitlab-ci.yml` that includes it (`include: local:` with inputs). gitlab-ci-local runs it with
`--force-shell-executor --shell-isolation`: every job runs on this host in its own copy of the
project (artifacts and the dotenv reports flow only as the template declares them), with:
- the Docker engine of tools/setup/30-docker.sh (`docker-mode: host`, the build arguments
  BASE_IMAGE and PIP_INDEX_URL, `build-network: host`), the base image served by the local
  registry, and a poisoned image under the same name in the engine (`registry_base`);
- the project's Trivy (`trivy-sha256: ""`: the one on PATH) and the offline DB of
  tools/trivydb, seeded into the template's own `cache:` directory (`.trivy-cache`, key
  `scangate-trivy-<version>-<ref slug>`; `trivy-skip-db-update: true` with the seeded DB
  pinned by `trivy-db-digest`);
- scangate on PATH (`scangate-source: ""`; the jobs drop PYTHON* variables, so it is the venv's
  own install of the checkout it was installed from);
- the registry on 127.0.0.1:5000 as the push target (`registry:`; no AWS role, so no STS);
  for `push-target: gitlab`, a second real registry with GitLab's token auth, its token service
  a double of GitLab's `/jwt/auth` (tests/gitlab/gitlab_registry.py), and the predefined
  `CI_REGISTRY*` variables of a GitLab job;
- `CI_COMMIT_REF_PROTECTED=true`, standing for a protected default branch (push runs only there).

Two whole pipelines are built and scanned, the clean and the vulnerable example's, at once
(`pipelines`). Every other scenario (a tampered push, pipeline variables, a caller's
`allow_failure`, a merge request) copies one of those finished projects and runs again, with
gitlab-ci-local, the jobs it is about, on the earlier jobs' artifacts (gitlab-ci-local reads a
job's artifacts and dotenv from its state directory whether or not that job runs again).
Measured on this machine (the file's process tree, sampled): about 63 s of CPU besides the
Docker engine's, of which Trivy 16 (8 a scan: the build no longer gzips the tarball, which cost
gzip 10 s and Trivy 7 s more per pipeline), gitlab-ci-local 20 (about 1.8 a run) and the jobs'
scangate 15; 110 s before the gzip went (9a4423a).

No peer is mocked. Not exercised here: Docker-in-Docker, the Trivy download, the AWS STS
exchange and ECR login, and the deploy job beyond "it never starts after a failed gate" (no
Kubernetes API server).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from scangate._cli import build_parser

from tests.gate.review_standin import StandIn, serve
from tests.gitlab import glci
from tests.gitlab.gitlab_registry import GitLabRegistry, gitlab_registry
from tests.support import docker as docker_support
from tests.support import loopback
from tests.support.schemas import require_gitlab_validator, require_sarif_validator, schema_errors

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PREFIX = "scangate"
OUT = f"scangate-out/{PREFIX}"
MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])
GITLAB_SEVERITIES = {"Info", "Unknown", "Low", "Medium", "High", "Critical"}
GITLAB_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
# Every job on this host, each in its own copy of the project; Trivy offline.
RUN_ARGS = [
    "--force-shell-executor", "--shell-isolation", "--no-artifacts-to-source",
    "--variable", "DOCKER_BUILDKIT=0",  # this engine's CLI has no buildx plugin
    "--variable", "CI_COMMIT_REF_PROTECTED=true",  # a protected default branch
]
# What an attacker with "Run pipeline" would set to loosen the gate (GitLab gives pipeline
# variables precedence over the template's job variables).
LOOSENED = ["--variable", "SCANGATE_MAX_CRITICAL=999", "--variable", "SCANGATE_MAX_HIGH=999",
            "--variable", "SCANGATE_MAX_MEDIUM=999", "--variable", "SCANGATE_MAX_LOW=999",
            "--variable", "SCANGATE_MAX_UNKNOWN=999"]


def trivy_version() -> str:
    out = subprocess.run([str(Path(sys.executable).with_name("trivy")), "--version"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    match = re.search(r"^Version: (\S+)", out, re.MULTILINE)
    assert match, out
    return match.group(1)


@dataclass
class Pipeline:
    run: glci.PipelineRun
    repository: str  # in the registry
    inputs: dict[str, Any]

    def out(self, job: str, name: str) -> Path:
        return self.run.artifact(f"{PREFIX}-{job}", f"{OUT}/{name}")

    def dotenv(self, job: str, name: str) -> dict[str, str]:
        values = {}
        for line in self.out(job, name).read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            values[key] = value
        return values

    def json(self, job: str, name: str) -> Any:
        return json.loads(self.out(job, name).read_text(encoding="utf-8"))


def registry_get(registry: str, path: str, accept: str = "") -> tuple[int, dict[str, str], bytes]:
    return loopback.get(f"http://{registry}{path}", {"Accept": accept})


def run_pipeline(
    workdir: Path,
    *,
    vulnerable: bool,
    base_image: str,
    registry: str,
    package_index: str,
    trivy_cache_dir: Path,
    extra_args: list[str] | None = None,
    caller_jobs: dict[str, Any] | None = None,
) -> Pipeline:
    kind = "vulnerable" if vulnerable else "clean"
    repository = f"scangate-tests/gitlab-{kind}-{uuid.uuid4().hex[:12]}"
    build_args = f"BASE_IMAGE={base_image} PIP_INDEX_URL={package_index}"
    if vulnerable:
        build_args += " REQUIREMENTS=requirements-vulnerable.txt"
    version = trivy_version()
    inputs: dict[str, Any] = {
        "image-name": "scangate-test/user-authenticator",
        "context": "examples/user-authenticator",
        "build-args": build_args,
        "build-network": "host",
        "docker-mode": "host",
        "trivy-version": version,
        "trivy-sha256": "",
        "trivy-skip-db-update": True,
        # The seeded DB, pinned: a cached DB is refused unless it is the pinned one.
        "trivy-db-digest": "sha256:" + hashlib.sha256(
            (trivy_cache_dir / "db" / "trivy.db").read_bytes()).hexdigest(),
        "policy": ".scangate/policy.yaml",
        "scangate-source": "",
        "push": True,
        "registry": registry,
        "ecr-repository": repository,
        "artifacts-expire-in": "1 day",
        # Enabled so that the test can show they never start after a failed gate.
        "deploy": vulnerable,
        "eks-cluster": "never-reached",
        "aws-region": "eu-west-1",
        "deploy-role-arn": "arn:aws:iam::000000000000:role/never-assumed",
    }
    ci = yaml.safe_dump({
        "stages": ["build", "test", "deploy"],
        "include": [{"local": glci.TEMPLATE_REL, "inputs": inputs}],
        **(caller_jobs or {}),
    }, sort_keys=False)
    example = glci.REPO_ROOT / "examples" / "user-authenticator"
    files = {
        glci.TEMPLATE_REL: glci.TEMPLATE,
        ".scangate/policy.yaml": glci.REPO_ROOT / ".scangate" / "policy.yaml",
        "examples/user-authenticator": example,
    }
    project = glci.make_project(workdir / "project", ci, files)
    docker_support.docker(["tag", f"{base_image}-poisoned", base_image])  # see registry_base
    # The offline DB where the template's `cache:` puts Trivy's cache directory.
    # The key is per ref (`$CI_COMMIT_REF_SLUG`): this project's pipelines run on `main`.
    cache = (project / ".gitlab-ci-local" / "cache" / f"scangate-trivy-{version}-main"
             / ".trivy-cache")
    shutil.copytree(trivy_cache_dir / "db", cache / "db")
    run = glci.run_gitlab_ci_local(project, [*RUN_ARGS, *(extra_args or [])], timeout=2400)
    return Pipeline(run=run, repository=repository, inputs=inputs)


POISON_LABEL = "org.scangate.test.poisoned"


KINDS = ("vulnerable", "clean")


# Session, not module: one per xdist worker, so it ties no pipeline to another (make test runs
# the pipelines that share no module fixture on different workers: tests/support/xdist_groups).
# One tag per pipeline kind: the clean and vulnerable pipelines run at once, and a build that
# pulls replaces the engine's image under its own tag only, never the other's poison.
@pytest.fixture(scope="session")
def registry_base(docker_engine: str, registry: str, tmp_path_factory: pytest.TempPathFactory,
                  ) -> Iterator[dict[str, str]]:
    """Per pipeline kind, the base image as a registry serves it, while the shared engine holds
    a poisoned image under the same name (what another branch's pipeline on a `docker-mode:
    host` runner can leave there): a pipeline builds FROM this name, so a build that does not
    pull fresh inherits the poison's label (issue 18 §5)."""
    repository = f"scangate-tests/gitlab-base-{uuid.uuid4().hex[:12]}"
    context = tmp_path_factory.mktemp("poisoned-base")
    (context / "Dockerfile").write_text(
        f"FROM {docker_engine}\nLABEL {POISON_LABEL}=yes\n", encoding="utf-8")
    poison = f"{registry}/{repository}:poisoned"
    docker_support.build_image(context, poison)
    refs = {}
    for kind in KINDS:
        docker_support.push_image(docker_engine, repository, f"bookworm-{kind}")
        refs[kind] = f"{registry}/{repository}:bookworm-{kind}"
        # Kept under a tag of its own: run_pipeline puts it back under the base's name before
        # each pipeline (a build that pulls replaces the engine's image with the registry's).
        docker_support.docker(["tag", poison, f"{refs[kind]}-poisoned"])
    yield refs
    for ref in refs.values():
        docker_support.remove_image(ref)
        docker_support.remove_image(f"{ref}-poisoned")
    docker_support.remove_image(poison)


def archive_config(tarball: Path) -> Any:
    """The image config inside a `docker save` archive (a plain tar: the build gzips nothing)."""
    with tarfile.open(tarball, "r:") as archive:
        manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
        return json.load(archive.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]


def cleanup(pipeline: Pipeline, registry: str) -> None:
    """Best effort: the local build tag, the pushed manifest, the jobs' copies of the tarball."""
    shutil.rmtree(pipeline.run.state_dir / "builds", ignore_errors=True)
    build_env = pipeline.out("build", "build.env")
    if build_env.exists():
        local_ref = pipeline.dotenv("build", "build.env").get("SCANGATE_IMAGE_LOCAL_REF", "")
        if local_ref:
            docker_support.remove_image(local_ref, keep_cache=True)
    push_json = pipeline.out("push", "push.json")
    if push_json.exists():
        digest = pipeline.json("push", "push.json").get("image-digest", "")
        request = urllib.request.Request(
            f"http://{registry}/v2/{pipeline.repository}/manifests/{digest}", method="DELETE")
        try:
            urllib.request.urlopen(request, timeout=30).close()
        except OSError:
            pass
    pipeline.out("build", "image.tar").unlink(missing_ok=True)


@pytest.fixture(scope="module")
def pipelines(
    tmp_path_factory: pytest.TempPathFactory, gitlab_ci_local: Path, docker_engine: str,
    registry: str, package_index: str, trivy_cache_dir: Path, registry_base: dict[str, str],
) -> Iterator[dict[str, Pipeline]]:
    """The vulnerable and the clean example's pipelines, run at once: each waits on Docker,
    Trivy and gitlab-ci-local more than it computes, and nothing of one reaches the other (a
    project, a registry repository and a base image tag each)."""
    workdirs = {kind: tmp_path_factory.mktemp(f"gitlab-{kind}") for kind in KINDS}
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(KINDS)) as pool:
        started = {
            kind: pool.submit(run_pipeline, workdirs[kind], vulnerable=kind == "vulnerable",
                              base_image=registry_base[kind], registry=registry,
                              package_index=package_index, trivy_cache_dir=trivy_cache_dir)
            for kind in KINDS
        }
        runs = {kind: future.result() for kind, future in started.items()}
    yield runs
    for pipeline in runs.values():
        cleanup(pipeline, registry)


@pytest.fixture(scope="module")
def vulnerable_pipeline(pipelines: dict[str, Pipeline]) -> Pipeline:
    return pipelines["vulnerable"]


@pytest.fixture(scope="module")
def clean_pipeline(pipelines: dict[str, Pipeline]) -> Pipeline:
    return pipelines["clean"]


def rerun_after_the_scan(pipeline: Pipeline, workdir: Path, jobs: list[str], *,
                         extra_args: list[str] | None = None,
                         caller_jobs: dict[str, Any] | None = None) -> Pipeline:
    """The finished ``pipeline``'s project copied, and ``jobs`` (those after its scan) run again
    by gitlab-ci-local on its build and scan artifacts, with pipeline variables (``extra_args``)
    or jobs a caller adds to its `.gitlab-ci.yml` (``caller_jobs``).

    Only the image's bytes are reused: build and scan read no input the variables or the caller
    jobs change (test_reused_jobs_read_no_gate_input), and every job that decides, publishes or
    ships runs again. gitlab-ci-local starts a job only when the named jobs it needs passed, as
    in a whole pipeline (its Executor: `needs` among the jobs run, `allow_failure` honoured)."""
    project = workdir / "project"
    shutil.copytree(pipeline.run.project, project, symlinks=True,
                    ignore=shutil.ignore_patterns("builds"))
    state = project / ".gitlab-ci-local"
    # Nothing of the earlier run's jobs that run again may be taken for this run's.
    shutil.rmtree(state / "output", ignore_errors=True)
    for job in jobs:
        shutil.rmtree(state / "artifacts" / job, ignore_errors=True)
    if caller_jobs:
        ci_file = project / ".gitlab-ci.yml"
        ci = yaml.safe_load(ci_file.read_text(encoding="utf-8"))
        ci_file.write_text(yaml.safe_dump({**ci, **caller_jobs}, sort_keys=False),
                           encoding="utf-8")
        glci._git(project, "commit", "--quiet", "--all", "--message", "the caller's jobs")
    run = glci.run_gitlab_ci_local(project, [*RUN_ARGS, *(extra_args or []), *jobs],
                                   timeout=900)
    return Pipeline(run=run, repository=pipeline.repository, inputs=pipeline.inputs)


# The jobs whose artifacts a rerun takes from the finished pipeline: the image's bytes only.
REUSED_JOBS = ("build", "scan")
# Every job after them that runs on a protected default branch with the vulnerable inputs.
AFTER_THE_SCAN = [f"{PREFIX}-{job}" for job in ("report", "enforce", "push", "deploy")]


@pytest.fixture(scope="module")
def loosened_pipeline(tmp_path_factory: pytest.TempPathFactory,
                      vulnerable_pipeline: Pipeline) -> Iterator[Pipeline]:
    """The vulnerable image, with every limit variable set to 999 as pipeline variables: the
    override check and every job after the scan run with them."""
    pipeline = rerun_after_the_scan(
        vulnerable_pipeline, tmp_path_factory.mktemp("gitlab-loosened"),
        [f"{PREFIX}-overridden-inputs", *AFTER_THE_SCAN], extra_args=LOOSENED)
    yield pipeline
    shutil.rmtree(pipeline.run.project, ignore_errors=True)


@pytest.fixture(scope="module")
def permissive_pipeline(tmp_path_factory: pytest.TempPathFactory,
                        vulnerable_pipeline: Pipeline) -> Iterator[Pipeline]:
    """The vulnerable image, included by a caller who put `allow_failure: true` on enforce."""
    pipeline = rerun_after_the_scan(
        vulnerable_pipeline, tmp_path_factory.mktemp("gitlab-permissive"), AFTER_THE_SCAN,
        caller_jobs={f"{PREFIX}-enforce": {"allow_failure": True}})
    yield pipeline
    shutil.rmtree(pipeline.run.project, ignore_errors=True)


def check_gitlab_report(report: dict[str, Any], image_repository: str) -> None:
    """The parts of schema 15.2.1 GitLab rejects reports for, checked without ../shared."""
    assert report["version"] == "15.2.1"
    scan = report["scan"]
    assert scan["type"] == "container_scanning"
    assert scan["status"] == "success"
    for key in ("analyzer", "scanner"):
        assert scan[key]["id"] and scan[key]["name"] and scan[key]["version"]
        assert scan[key]["vendor"]["name"]
    assert GITLAB_TIME.match(scan["start_time"]) and GITLAB_TIME.match(scan["end_time"])
    ids = [v["id"] for v in report["vulnerabilities"]]
    assert len(ids) == len(set(ids))
    for vulnerability in report["vulnerabilities"]:
        uuid.UUID(vulnerability["id"])
        assert vulnerability["severity"] in GITLAB_SEVERITIES
        assert vulnerability["identifiers"], vulnerability
        location = vulnerability["location"]
        # The image as people name it (the tag inside the scanned tarball), not the file.
        assert location["image"].startswith(image_repository + ":"), location["image"]
        assert location["operating_system"]
        assert location["dependency"]["package"]["name"]


# --- 1. the vulnerable example: the gate fails, nothing ships --------------------------------


def test_vulnerable_report_succeeds_enforce_fails_and_push_and_deploy_never_start(
    vulnerable_pipeline: Pipeline, registry: str,
) -> None:
    """The report job publishes (exit 0: GitLab ingests reports of successful jobs only), the
    enforce job fails the pipeline, and nothing after it starts."""
    run = vulnerable_pipeline.run
    assert run.returncode != 0, run.describe()
    assert run.passed == [f"{PREFIX}-{job}" for job in ("build", "scan", "report")], run.describe()
    assert run.failed == [f"{PREFIX}-enforce"], run.describe()
    assert set(run.started) == {f"{PREFIX}-{job}" for job in ("build", "scan", "report",
                                                                 "enforce")}
    for job in ("push", "deploy"):
        assert f"{PREFIX}-{job}" not in run.output.replace(f"{PREFIX}-{job}:", ""), run.describe()
        assert run.job_log(f"{PREFIX}-{job}") == ""
        assert not run.artifact(f"{PREFIX}-{job}", OUT).exists()
    status, _, body = registry_get(registry, f"/v2/{vulnerable_pipeline.repository}/tags/list")
    assert status == 404, (status, body[:300])
    report_log = run.job_log(f"{PREFIX}-report")
    assert "gate FAIL" in report_log and "CVE-2020-14343" in report_log, report_log[-3000:]
    assert "the enforce job decides" in report_log
    enforce_log = run.job_log(f"{PREFIX}-enforce")
    assert "the gate failed: the policy is violated" in enforce_log, enforce_log[-3000:]


def test_vulnerable_reports_are_artifacts_of_the_report_job(vulnerable_pipeline: Pipeline) -> None:
    """The report job hands over every report of the failed decision."""
    summary = vulnerable_pipeline.json("report", "summary.json")
    assert summary["decision"] == "fail"
    assert summary["counts"]["critical"] >= 1 and summary["counts"]["high"] >= 1
    assert {v["severity"] for v in summary["violations"]} == {"critical", "high"}
    report = vulnerable_pipeline.json("report", "gl-container-scanning-report.json")
    check_gitlab_report(report, "scangate-test/user-authenticator")
    severities = {v["severity"] for v in report["vulnerabilities"]}
    assert {"Critical", "High"} <= severities
    names = {v["identifiers"][0]["value"] for v in report["vulnerabilities"]}
    assert {"CVE-2020-14343", "CVE-2022-29217"} <= names
    assert vulnerable_pipeline.out("report", "summary.md").read_text(encoding="utf-8").strip()
    sarif = vulnerable_pipeline.json("report", "scangate.sarif")
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"]
    # The scan's report is of the built image, which the build recorded.
    image_id = vulnerable_pipeline.dotenv("build", "build.env")["SCANGATE_IMAGE_ID"]
    trivy = vulnerable_pipeline.json("scan", "trivy-image.json")
    assert trivy["Metadata"]["ImageID"] == image_id


def test_vulnerable_container_scanning_report_validates_against_gitlab_schema(
    vulnerable_pipeline: Pipeline,
) -> None:
    """Skips, saying why, where ../shared's schema is absent (a user's clone); the structure
    GitLab rejects reports for is checked without it in the test above."""
    validator = require_gitlab_validator()
    report = vulnerable_pipeline.json("report", "gl-container-scanning-report.json")
    errors = schema_errors(validator, report)
    assert not errors, errors[:5]


def test_vulnerable_sarif_validates_against_the_sarif_schema(
    vulnerable_pipeline: Pipeline,
) -> None:
    validator = require_sarif_validator()
    assert not schema_errors(validator, vulnerable_pipeline.json("report", "scangate.sarif"))


def test_clean_container_scanning_report_validates_against_gitlab_schema(
    clean_pipeline: Pipeline,
) -> None:
    validator = require_gitlab_validator()
    report = clean_pipeline.json("report", "gl-container-scanning-report.json")
    assert not schema_errors(validator, report)


# --- 2. a clean image: the gate passes, the scanned image reaches the registry ---------------


def test_clean_image_passes_and_is_pushed(clean_pipeline: Pipeline) -> None:
    run = clean_pipeline.run
    assert run.returncode == 0, run.describe()
    expected = [f"{PREFIX}-{job}" for job in ("build", "scan", "report", "enforce", "push")]
    assert run.passed == expected, run.describe()
    assert run.failed == []
    assert f"{PREFIX}-deploy" not in run.started
    assert clean_pipeline.json("report", "summary.json")["decision"] == "pass"
    report = clean_pipeline.json("report", "gl-container-scanning-report.json")
    check_gitlab_report(report, "scangate-test/user-authenticator")


def test_registry_holds_the_scanned_image_under_the_recorded_digest(
    clean_pipeline: Pipeline, registry: str,
) -> None:
    build = clean_pipeline.dotenv("build", "build.env")
    image_id = build["SCANGATE_IMAGE_ID"]
    # The tarball that was scanned and pushed is the one the build recorded.
    tarball = clean_pipeline.out("build", "image.tar")
    archive_sha256 = hashlib.sha256(tarball.read_bytes()).hexdigest()
    assert archive_sha256 == build["SCANGATE_IMAGE_ARCHIVE_SHA256"]
    assert clean_pipeline.json("scan", "trivy-image.json")["Metadata"]["ImageID"] == image_id

    record = clean_pipeline.json("push", "push.json")
    digest = record["image-digest"]
    repository = clean_pipeline.repository
    assert record["image-id"] == image_id
    assert record["image-uri"] == f"{registry}/{repository}@{digest}"
    assert record["repository"] == f"{registry}/{repository}"
    assert record["archive-sha256"] == build["SCANGATE_IMAGE_ARCHIVE_SHA256"]
    [tag] = record["tags"]
    # The environment tag the ECR lifecycle rules act on: staging- on the default branch.
    assert re.fullmatch(r"staging-[0-9a-f]{40}-\d+-\d+", tag), tag
    push_env = clean_pipeline.dotenv("push", "push.env")
    assert push_env["SCANGATE_IMAGE_URI"] == record["image-uri"]
    assert push_env["SCANGATE_IMAGE_DIGEST"] == digest

    # Read the registry directly, not through the job: manifest by digest, then by tag.
    status, _, manifest_bytes = registry_get(
        registry, f"/v2/{repository}/manifests/{digest}", MANIFEST_TYPES)
    assert status == 200, manifest_bytes[:300]
    assert "sha256:" + hashlib.sha256(manifest_bytes).hexdigest() == digest
    manifest = json.loads(manifest_bytes)
    assert manifest["config"]["digest"] == image_id
    status, _, config = registry_get(registry, f"/v2/{repository}/blobs/{image_id}")
    assert status == 200 and "sha256:" + hashlib.sha256(config).hexdigest() == image_id
    status, headers, _ = registry_get(
        registry, f"/v2/{repository}/manifests/{tag}", MANIFEST_TYPES)
    assert status == 200
    assert {k.lower(): v for k, v in headers.items()}["docker-content-digest"] == digest


def test_host_mode_builds_from_the_registry_base_not_the_engine_tag(
    clean_pipeline: Pipeline,
) -> None:
    """The engine held a poisoned image under the base image's name when the build started
    (registry_base); `docker build --pull` took the registry's, so nothing of it is inherited."""
    config = archive_config(clean_pipeline.out("build", "image.tar"))
    labels = config["config"].get("Labels") or {}
    assert "org.opencontainers.image.revision" in labels  # the build's own label: labels read
    assert POISON_LABEL not in labels, labels
    assert clean_pipeline.inputs["docker-mode"] == "host"


# --- 3. the push job fails closed when what it would push is not what was scanned -----------


def rerun_push_on_a_copy(pipeline: Pipeline, workdir: Path, tamper: Any,
                         job: str = "build") -> glci.PipelineRun:
    """Copy the finished clean project, let ``tamper`` change ``job``'s artifacts, and run the
    push job alone (gitlab-ci-local reuses the earlier jobs' artifacts and dotenv)."""
    project = workdir / "project"
    shutil.copytree(pipeline.run.project, project, symlinks=True,
                    ignore=shutil.ignore_patterns("builds"))
    artifacts = project / ".gitlab-ci-local" / "artifacts" / f"{PREFIX}-{job}"
    tamper(artifacts)
    return glci.run_gitlab_ci_local(project, [*RUN_ARGS, f"{PREFIX}-push"], timeout=900)


def tags(registry: str, repository: str) -> list[str]:
    status, _, body = registry_get(registry, f"/v2/{repository}/tags/list")
    assert status == 200, body[:300]
    return sorted(json.loads(body)["tags"] or [])


def test_push_refuses_a_tarball_that_is_not_the_scanned_one(
    clean_pipeline: Pipeline, registry: str, tmp_path: Path,
) -> None:
    before = tags(registry, clean_pipeline.repository)

    def append_a_byte(artifacts: Path) -> None:
        with (artifacts / OUT / "image.tar").open("ab") as handle:
            handle.write(b"\0")

    run = rerun_push_on_a_copy(clean_pipeline, tmp_path, append_a_byte)
    assert run.returncode != 0 and run.failed == [f"{PREFIX}-push"], run.describe()
    assert "this is not the archive that was scanned" in run.output, run.describe()
    assert tags(registry, clean_pipeline.repository) == before


def test_push_refuses_an_image_that_is_not_the_scanned_one(
    clean_pipeline: Pipeline, registry: str, tmp_path: Path,
) -> None:
    """The build's record names another image ID: nothing is pushed."""
    before = tags(registry, clean_pipeline.repository)
    other = "sha256:" + "0" * 64

    def swap_the_image_id(artifacts: Path) -> None:
        for env in (artifacts / OUT / "build.env",
                    artifacts / ".gitlab-ci-reports" / "dotenv" / OUT / "build.env"):
            text = env.read_text(encoding="utf-8")
            env.write_text(re.sub(r"(?m)^SCANGATE_IMAGE_ID=.*$", f"SCANGATE_IMAGE_ID={other}",
                                  text), encoding="utf-8")

    run = rerun_push_on_a_copy(clean_pipeline, tmp_path, swap_the_image_id)
    assert run.returncode != 0 and run.failed == [f"{PREFIX}-push"], run.describe()
    assert f"not --image-id {other}" in run.output, run.describe()
    assert tags(registry, clean_pipeline.repository) == before


def test_push_rechecks_the_recorded_decision(
    clean_pipeline: Pipeline, registry: str, tmp_path: Path,
) -> None:
    """Had enforce been bypassed (an allow_failure a caller added), push still reads the
    decision itself: a summary that records a failure pushes nothing."""
    before = tags(registry, clean_pipeline.repository)

    def record_a_failure(artifacts: Path) -> None:
        summary_path = artifacts / OUT / "summary.json"
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        summary["decision"] = "fail"
        summary_path.write_text(json.dumps(summary), encoding="utf-8")

    run = rerun_push_on_a_copy(clean_pipeline, tmp_path, record_a_failure, job="report")
    assert run.returncode != 0 and run.failed == [f"{PREFIX}-push"], run.describe()
    assert "the gate decided 'fail'" in run.output, run.describe()
    assert tags(registry, clean_pipeline.repository) == before


# --- 4. a pipeline variable cannot loosen the gate ------------------------------------------


def _options_from_env(script: str) -> set[str]:
    """The long options of every `scangate --inputs-from-env... CMD` in a job's script: what the
    job's variables could set without the script naming them."""
    parser = build_parser()
    options: set[str] = set()
    for words in re.findall(r"scangate\s+--inputs-from-env\S*\s+([\w -]+)", script):
        command = _cli_subparser(parser, words.split())
        options |= {s for a in command._actions for s in a.option_strings if s.startswith("--")}
    return options


def _cli_subparser(parser: argparse.ArgumentParser, words: list[str]) -> argparse.ArgumentParser:
    for word in words:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or word not in subs[0].choices:
            break
        parser = subs[0].choices[word]
    return parser


def test_reused_jobs_read_no_gate_input() -> None:
    """What makes the loosened and permissive reruns whole pipelines: the jobs whose artifacts
    they reuse (build, scan) read none of the variables the attacker sets, neither by name nor
    through an option `--inputs-from-env` would fill; so they would have made the same bytes."""
    jobs = glci.rendered_jobs({"docker-mode": "host", "push": True})
    loosened = {arg.split("=", 1)[0] for arg in LOOSENED if arg != "--variable"}
    assert loosened and all(name.startswith("SCANGATE_MAX_") for name in loosened)
    for job in REUSED_JOBS:
        script = "\n".join(glci.script_lines(glci.merged_job(jobs, f"{PREFIX}-{job}")))
        assert script, job
        for name in loosened:
            assert name not in script, (job, name)
        assert not {o for o in _options_from_env(script) if o.startswith("--max-")}, job
    # The caller's change is to enforce only, which runs again.
    assert f"{PREFIX}-enforce" in AFTER_THE_SCAN


def test_limit_variables_passed_as_pipeline_variables_still_fail_the_pipeline(
    loosened_pipeline: Pipeline, registry: str,
) -> None:
    """`--variable SCANGATE_MAX_CRITICAL=999` (and the other limits) overrides the template's
    job variables, as a "Run pipeline" variable does on GitLab. The override check fails the
    pipeline, enforce (which needs it) never starts, and nothing is pushed."""
    run = loosened_pipeline.run
    assert run.returncode != 0, run.describe()
    # The attack is real: the override reached the gate, which passed the vulnerable image.
    summary = loosened_pipeline.json("report", "summary.json")
    assert summary["decision"] == "pass", summary
    assert summary["policy"]["thresholds"]["critical"] == 999
    # And it is stopped: the check fails, so neither enforce nor push starts.
    assert f"{PREFIX}-overridden-inputs" in run.failed, run.describe()
    log = run.job_log(f"{PREFIX}-overridden-inputs")
    assert "overrides an input" in log and "SCANGATE_MAX_CRITICAL=999" in log, log[-2000:]
    for job in ("enforce", "push", "deploy"):
        assert f"{PREFIX}-{job}" not in run.started, run.describe()
    status, _, body = registry_get(registry, f"/v2/{loosened_pipeline.repository}/tags/list")
    assert status == 404, (status, body[:300])


def test_allow_failure_on_enforce_still_ships_nothing(
    permissive_pipeline: Pipeline, registry: str,
) -> None:
    """`needs:` treats an allowed failure as success (GitLab CI YAML reference, `allow_failure`),
    so push starts; it reads the recorded decision itself and refuses (exit 1), so nothing
    reaches the registry."""
    run = permissive_pipeline.run
    assert f"{PREFIX}-push" in run.started, run.describe()
    assert f"{PREFIX}-push" in run.failed, run.describe()
    push_log = run.job_log(f"{PREFIX}-push")
    assert "the gate decided 'fail'" in push_log, push_log[-3000:]
    status, _, body = registry_get(registry, f"/v2/{permissive_pipeline.repository}/tags/list")
    assert status == 404, (status, body[:300])
    assert not permissive_pipeline.out("push", "push.json").exists()


# --- 5. a merge request against the default branch's gate summary ----------------------------

MR_POLICY = ("version: 1\nthresholds: {critical: 0, high: 0, medium: 0, low: 0}\n"
             "new_only: [medium, low]\nclasses: [vulnerability, secret, misconfiguration]\n")
MR_TOKEN = "glpat-reporter"


@dataclass
class MergeRequest:
    runs: list[glci.PipelineRun]
    api: StandIn
    base: dict[str, Any]  # the default branch's gate summary (the clean pipeline's)


@pytest.fixture(scope="module")
def merge_request(
    tmp_path_factory: pytest.TempPathFactory, clean_pipeline: Pipeline,
    vulnerable_pipeline: Pipeline,
) -> Iterator[MergeRequest]:
    """The vulnerable example as a merge request onto `main`, whose latest pipeline is the clean
    example's: the finished vulnerable project is copied, made a merge-request pipeline
    (`merge-request-pipelines: true`, GitLab's merge-request variables, a policy whose limits
    are 0 with `new_only: [medium, low]`), and its report, comment and enforce jobs run again
    with gitlab-ci-local on the scan's real artifacts, twice (a second push to the merge
    request). GitLab's API (`CI_API_V4_URL`) is the loopback stand-in of
    tests/gate/review_standin.py, a test double following GitLab's "Job artifacts" and "Notes"
    REST docs: it serves the clean pipeline's summary.json as the artifact of `main`'s latest
    successful pipeline and keeps the notes."""
    base = clean_pipeline.out("report", "summary.json").read_bytes()
    project = tmp_path_factory.mktemp("gitlab-merge-request") / "project"
    shutil.copytree(vulnerable_pipeline.run.project, project, symlinks=True,
                    ignore=shutil.ignore_patterns("builds", "image.tar*"))
    ci = yaml.safe_load((project / ".gitlab-ci.yml").read_text(encoding="utf-8"))
    ci["include"][0]["inputs"]["merge-request-pipelines"] = True
    (project / ".gitlab-ci.yml").write_text(yaml.safe_dump(ci, sort_keys=False),
                                            encoding="utf-8")
    (project / ".scangate" / "policy.yaml").write_text(MR_POLICY, encoding="utf-8")
    glci._git(project, "commit", "--quiet", "--all", "--message", "a merge request")
    with serve(StandIn(gitlab_tokens={MR_TOKEN: 31}, gitlab_job_tokens={"job-token"})) as api:
        api.gitlab_artifacts[("main", f"{PREFIX}-report", f"{OUT}/summary.json")] = base
        variables = {
            "CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_IID": "3",
            "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main", "CI_PROJECT_ID": "42",
            "CI_API_V4_URL": api.url + "/api/v4", "CI_JOB_TOKEN": "job-token",
            "SCANGATE_GITLAB_TOKEN": MR_TOKEN,
        }
        args = [*RUN_ARGS, *(a for k, v in variables.items() for a in ("--variable", f"{k}={v}")),
                f"{PREFIX}-report", f"{PREFIX}-comment", f"{PREFIX}-enforce"]
        runs = []
        for _ in range(2):
            runs.append(glci.run_gitlab_ci_local(project, args, timeout=900))
            # Each run's summary, before the next run's report job replaces it.
            summary = runs[-1].artifact(f"{PREFIX}-report", f"{OUT}/summary.json")
            if summary.exists():
                shutil.copy2(summary, project.parent / f"summary-{len(runs)}.json")
        yield MergeRequest(runs=runs, api=api, base=json.loads(base))


def test_a_merge_request_fails_on_the_findings_it_adds_only(merge_request: MergeRequest) -> None:
    """Issue 22 §1 on gitlab-ci-local: a base without the CVE and a change adding it FAIL on
    the new findings only. The base's own findings are unchanged and, with `new_only`, not
    counted, although every limit is 0."""
    run = merge_request.runs[0]
    assert f"{PREFIX}-report" in run.passed and f"{PREFIX}-enforce" in run.failed, run.describe()
    fetched = [r for r in merge_request.api.requests if "/jobs/artifacts/" in r.path]
    assert fetched and fetched[0].path == (f"/api/v4/projects/42/jobs/artifacts/main/raw/"
                                           f"{OUT}/summary.json")
    assert fetched[0].query == {"job": [f"{PREFIX}-report"]}
    assert fetched[0].headers.get("JOB-TOKEN") == "job-token"
    summary = json.loads((run.project.parent / "summary-1.json").read_text(encoding="utf-8"))
    assert summary["baseline"]["used"] is True, summary["baseline"]
    assert summary["decision"] == "fail"
    base_ids = {(f["id"], f.get("package")) for f in merge_request.base["findings"]}
    assert base_ids, "the clean image has no finding: nothing could be shown unchanged"
    changes = {f["change"] for f in summary["findings"]}
    assert changes == {"new", "unchanged"}, changes
    counted = [f for f in summary["findings"] if f["disposition"] == "counted"]
    assert counted and all(f["change"] == "new" for f in counted), counted
    assert "CVE-2020-14343" in {f["id"] for f in counted}
    unchanged = [f for f in summary["findings"] if f["change"] == "unchanged"]
    assert all(f["disposition"] != "counted" for f in unchanged
               if f["severity"] in ("medium", "low")), unchanged
    # Every violation is made of new findings only.
    for violation in summary["violations"]:
        assert violation["count"] == sum(1 for f in counted
                                         if f["severity"] == violation["severity"]), violation
    enforce_log = run.job_log(f"{PREFIX}-enforce")
    assert "the gate failed: the policy is violated" in enforce_log, enforce_log[-3000:]


def test_the_merge_request_note_is_posted_then_updated_in_place(
        merge_request: MergeRequest) -> None:
    """Issue 22 §2 on gitlab-ci-local: the comment job writes one note with the decision and the
    new finding, through SCANGATE_GITLAB_TOKEN (the job token cannot write notes), and the
    second pipeline updates that note rather than adding one."""
    first, second = merge_request.runs
    for run in (first, second):
        assert f"{PREFIX}-comment" in run.passed, run.describe()
    notes = merge_request.api.notes("42", 3)
    assert len(notes) == 1, notes
    assert "FAIL" in notes[0]["body"] and "CVE-2020-14343" in notes[0]["body"]
    writes = [(r.method, r.path) for r in merge_request.api.requests
              if r.method in ("POST", "PUT")]
    assert writes == [("POST", "/api/v4/projects/42/merge_requests/3/notes"),
                      ("PUT", f"/api/v4/projects/42/merge_requests/3/notes/{notes[0]['id']}")]
    for request in merge_request.api.requests:
        if "/notes" in request.path:
            assert request.headers.get("PRIVATE-TOKEN") == MR_TOKEN


# --- 6. GitLab's own container registry: the job's registry login, no AWS -------------------


@pytest.fixture(scope="module")
def gitlab_registry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitLabRegistry]:
    """The real registry with GitLab's token auth (its token service a double: see
    tests/gitlab/gitlab_registry.py)."""
    with gitlab_registry(tmp_path_factory.mktemp("gitlab-registry")) as server:
        yield server


def rerun_push_to_gitlab(pipeline: Pipeline, workdir: Path, gitlab: GitLabRegistry,
                         sub_path: str, tamper: Any = None) -> glci.PipelineRun:
    """The finished clean project, re-included with `push-target: gitlab` (no registry, no
    role), and its push job run alone with the predefined registry variables of a GitLab job."""
    project = workdir / "project"
    shutil.copytree(pipeline.run.project, project, symlinks=True,
                    ignore=shutil.ignore_patterns("builds"))
    ci_file = project / ".gitlab-ci.yml"
    ci = yaml.safe_load(ci_file.read_text(encoding="utf-8"))
    ci["include"][0]["inputs"].update({"push-target": "gitlab", "registry": "",
                                       "ecr-repository": sub_path})
    ci_file.write_text(yaml.safe_dump(ci, sort_keys=False), encoding="utf-8")
    # The clean run's push record is not this run's.
    shutil.rmtree(project / ".gitlab-ci-local" / "artifacts" / f"{PREFIX}-push")
    if tamper is not None:
        tamper(project / ".gitlab-ci-local" / "artifacts" / f"{PREFIX}-build")
    return glci.run_gitlab_ci_local(
        project, [*RUN_ARGS, *gitlab.pipeline_variables(), f"{PREFIX}-push"], timeout=900)


def test_push_to_gitlab_registry_with_the_job_token_and_the_digest_verified(
    clean_pipeline: Pipeline, gitlab_registry_server: GitLabRegistry, tmp_path: Path,
) -> None:
    """`push-target: gitlab`: the push job logs in as CI_REGISTRY_USER with CI_REGISTRY_PASSWORD
    at the registry's token service, pushes to $CI_REGISTRY_IMAGE/<ecr-repository>, and records
    the digest the registry (which checks every token itself) serves for the scanned image."""
    gitlab = gitlab_registry_server
    run = rerun_push_to_gitlab(clean_pipeline, tmp_path, gitlab, "user-authenticator")
    assert run.returncode == 0 and run.passed == [f"{PREFIX}-push"], run.describe()
    image_id = clean_pipeline.dotenv("build", "build.env")["SCANGATE_IMAGE_ID"]
    record = json.loads(run.artifact(f"{PREFIX}-push", f"{OUT}/push.json").read_text("utf-8"))
    repository = f"{gitlab.project_path}/user-authenticator"
    assert record["repository"] == f"{gitlab.image}/user-authenticator"
    assert record["image-id"] == image_id
    digest = record["image-digest"]
    # The registry, read with a pull token of its own: the digest is the scanned image's.
    status, _, manifest = gitlab.get(f"/v2/{repository}/manifests/{digest}", MANIFEST_TYPES)
    assert status == 200 and "sha256:" + hashlib.sha256(manifest).hexdigest() == digest
    assert json.loads(manifest)["config"]["digest"] == image_id
    [tag] = record["tags"]
    status, headers, _ = gitlab.get(f"/v2/{repository}/manifests/{tag}", MANIFEST_TYPES)
    assert status == 200
    assert {k.lower(): v for k, v in headers.items()}["docker-content-digest"] == digest
    # The job's own login, one token for pull and push of that repository; never printed.
    pushes = [r for r in gitlab.token_requests if "push" in str(r["query"].get("scope"))]
    assert pushes == [{"path": "/jwt/auth", "user": "gitlab-ci-token", "password_ok": True,
                       "query": {"scope": [f"repository:{repository}:pull,push"],
                                 "service": ["container_registry"]}}]
    assert gitlab.job_token not in run.job_log(f"{PREFIX}-push")


def test_push_to_gitlab_registry_refuses_a_tarball_that_is_not_the_scanned_one(
    clean_pipeline: Pipeline, gitlab_registry_server: GitLabRegistry, tmp_path: Path,
) -> None:
    """The same verification as for ECR: one byte more in the tarball, and nothing reaches the
    GitLab registry (not even a token is asked for)."""
    gitlab = gitlab_registry_server
    before = len(gitlab.token_requests)

    def append_a_byte(artifacts: Path) -> None:
        with (artifacts / OUT / "image.tar").open("ab") as handle:
            handle.write(b"\0")

    run = rerun_push_to_gitlab(clean_pipeline, tmp_path, gitlab, "tampered", append_a_byte)
    assert run.returncode != 0 and run.failed == [f"{PREFIX}-push"], run.describe()
    assert "this is not the archive that was scanned" in run.output, run.describe()
    assert gitlab.token_requests[before:] == []
    status, _, body = gitlab.get(f"/v2/{gitlab.project_path}/tampered/tags/list")
    assert status == 404, body[:300]
    assert not run.artifact(f"{PREFIX}-push", f"{OUT}/push.json").exists()
