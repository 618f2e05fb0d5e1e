"""templates/codebuild/buildspec.yml, run phase by phase on this machine.

A small harness runs each phase's real commands in order in bash, as CodeBuild does: the
commands of a phase share one shell (exports persist into later phases), a failing command ends
its phase, ``on-failure: ABORT`` ends the build, ``finally`` runs whatever happened, and
``CODEBUILD_BUILD_SUCCEEDING`` turns 0 after a failed phase
(https://docs.aws.amazon.com/codebuild/latest/userguide/build-spec-ref.html). Nothing stands in
for scangate or Trivy: the install phase builds a venv from requirements/runtime.lock (wheels
from the project's wheelhouse through PIP_FIND_LINKS), Trivy is the project's pinned binary with
its offline DB, the image is pushed to the local registry on 127.0.0.1:5000, SSM, SNS and ECR
are a moto server. ECR's registry API is the one thing moto lacks: after the build phase the
harness puts the pushed manifest into moto's repository under the pushed tag and seeds its scan
result, as ECR would scan the pushed image.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from tests.monitor.world import REPO_ROOT, World, basic_finding
from tests.support.docker import REGISTRY, docker_available
from tests.support.trivy import db_digest, ensure_db, trivy_binary
from tools.pkgindex import DEFAULT_WHEELHOUSE, download

BUILDSPEC = REPO_ROOT / "templates" / "codebuild" / "buildspec.yml"
pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _phase_script(commands: list[str], state: Path, workdir: Path) -> str:
    lines = ["set +e", f'cd "{workdir}"', f'[ -f "{state}" ] && . "{state}"', "rc=0"]
    for number, command in enumerate(commands):
        path = state.with_name(f"{state.stem}-{uuid.uuid4().hex}-{number}.sh")
        path.write_text(command + "\n", encoding="utf-8")
        lines.append(f'if [ "$rc" = 0 ]; then echo "[Container] Running command {number}" >&2; '
                     f'. "{path}"; rc=$?; fi')
    lines.append(f'export -p > "{state}"')
    lines.append('exit "$rc"')
    return "\n".join(lines)


class CodeBuild:
    def __init__(self, workdir: Path, env: dict[str, str], state: Path) -> None:
        self.spec: dict[str, Any] = yaml.safe_load(BUILDSPEC.read_text(encoding="utf-8"))
        self.workdir = workdir
        self.state = state
        self.env = {**env, **self.spec["env"]["variables"], "CODEBUILD_BUILD_SUCCEEDING": "1"}
        self.log: list[str] = []

    def _run(self, commands: list[str]) -> int:
        script = _phase_script(commands, self.state, self.workdir)
        result = subprocess.run(["bash", "-c", script], env=self.env, capture_output=True,
                                text=True, timeout=900, check=False)
        self.log.append(result.stdout + result.stderr)
        return result.returncode

    def phase(self, name: str) -> int:
        phase = self.spec["phases"][name]
        rc = self._run(phase["commands"])
        if rc != 0:
            # Later phases see the failure (the harness edits the saved shell state).
            self.env["CODEBUILD_BUILD_SUCCEEDING"] = "0"
            with self.state.open("a", encoding="utf-8") as handle:
                handle.write("export CODEBUILD_BUILD_SUCCEEDING=0\n")
        if "finally" in phase:
            self._run(phase["finally"])
        return rc


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not docker_available():
        pytest.fail("docker is not running: run `make setup`")
    root = tmp_path_factory.mktemp("codebuild")
    workdir = root / "src"
    workdir.mkdir()
    (workdir / "Dockerfile").write_text("FROM scratch\nCOPY hello.txt /hello.txt\n")
    (workdir / "hello.txt").write_text("hello\n")
    # The install phase reads runtime.lock's wheels from the wheelhouse (no index here): put them
    # there first, as a fresh clone's wheelhouse may not hold them yet.
    download([REPO_ROOT / "requirements" / "runtime.lock"], DEFAULT_WHEELHOUSE)
    env = _base_env(workdir, {})
    build = CodeBuild(workdir, env, root / "install-state.sh")
    assert build.phase("install") == 0, build.log[-1]
    # What the install phase exported (the venv's scangate, the source, Trivy) is all a later
    # build reuses of it: each build below starts from this, as one CodeBuild build would.
    exported = [line for line in build.state.read_text().splitlines()
                if line.startswith(("declare -x SCANGATE=", "declare -x SCANGATE_SOURCE=",
                                    "declare -x SCANGATE_TRIVY="))]
    assert len(exported) == 3, exported
    (root / "installed.sh").write_text("\n".join(exported) + "\n")
    return workdir


def _base_env(workdir: Path, extra: dict[str, str]) -> dict[str, str]:
    cache = ensure_db()
    return {
        "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"),
        "DOCKER_BUILDKIT": "0",
        "CODEBUILD_SRC_DIR": str(workdir), "CODEBUILD_BUILD_NUMBER": "7",
        "CODEBUILD_RESOLVED_SOURCE_VERSION": "0123456789abcdef0123456789abcdef01234567",
        "SCANGATE_SOURCE": str(REPO_ROOT),
        "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(DEFAULT_WHEELHOUSE),
        "SCANGATE_TRIVY": trivy_binary(),
        "SCANGATE_SCAN_FLAGS": f"--cache-dir {cache} --skip-db-update --offline-scan",
        # The offline DB, pinned (the buildspec's --fresh-db needs a DB repository online).
        "SCANGATE_TRIVY_DB_DIGEST": db_digest(cache),
        "SCANGATE_TAG_ENVIRONMENT": "dev",
        **extra,
    }


def _run_build(world: World, workdir: Path, findings: list[dict[str, Any]]) -> tuple[
        CodeBuild, int]:
    repository = f"h7/codebuild-{uuid.uuid4().hex[:8]}"
    env = _base_env(workdir, {
        **world.moto.env(),
        "SCANGATE_REGISTRY": REGISTRY, "SCANGATE_REPOSITORY": repository,
        "SCANGATE_POLICY": "ssm:/scangate/monitor/policy",
        "SCANGATE_SNS_TOPIC_ARN": world.topic_arn, "SCANGATE_ECR_TIMEOUT": "30",
    })
    state = workdir.parent / f"state-{repository.replace('/', '-')}.sh"
    state.write_text((workdir.parent / "installed.sh").read_text())
    shutil.rmtree(workdir / "scangate-out", ignore_errors=True)  # a fresh checkout has none
    build = CodeBuild(workdir, env, state)
    assert build.phase("build") == 0, build.log[-1]
    push = json.loads((workdir / "scangate-out" / "push.json").read_text())
    # ECR's side of the push (moto has no registry API): the manifest under the pushed tag,
    # then its scan result.
    ecr = boto3.client("ecr")
    ecr.create_repository(repositoryName=repository)
    manifest = subprocess.run(
        ["curl", "-fsS", "-H", "Accept: application/vnd.docker.distribution.manifest.v2+json,"
         "application/vnd.oci.image.manifest.v1+json",
         f"http://{REGISTRY}/v2/{repository}/manifests/{push['image-digest']}"],
        capture_output=True, text=True, check=True).stdout
    [tag] = push["tags"]
    # PutImage's imageDigest: the digest of the manifest, as ECR records the pushed image.
    digest = ecr.put_image(repositoryName=repository, imageManifest=manifest, imageTag=tag,
                           imageDigest=push["image-digest"])["image"]["imageId"]["imageDigest"]
    assert digest == push["image-digest"]
    world.images[digest] = (repository, 0, tag)
    world.scan(digest, findings, dt.datetime(2026, 4, 1, tzinfo=dt.UTC), manifest=manifest)
    return build, build.phase("post_build")


def test_clean_image_passes_both_gates_and_is_pushed(world: World, installed: Path) -> None:
    build, rc = _run_build(world, installed, [])
    assert rc == 0, "\n".join(build.log)
    out = installed / "scangate-out"
    assert json.loads((out / "summary.json").read_text())["decision"] == "pass"
    assert json.loads((out / "ecr-summary.json").read_text())["decision"] == "pass"
    assert (out / "ecr-gate.exit").read_text().strip() == "0"
    [alert] = world.alerts()
    assert "PASSED" in alert["Subject"]


def test_a_critical_in_the_ecr_scan_fails_the_build_and_alerts(world: World,
                                                                installed: Path) -> None:
    build, rc = _run_build(world, installed,
                           [basic_finding("CVE-2026-7777", "CRITICAL", "openssl")])
    assert rc == 1, "\n".join(build.log)
    out = installed / "scangate-out"
    assert json.loads((out / "ecr-summary.json").read_text())["decision"] == "fail"
    [alert] = world.alerts()
    assert "FAILED" in alert["Subject"]
