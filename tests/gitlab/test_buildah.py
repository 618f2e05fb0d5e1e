"""`docker-mode: buildah`: the GitLab build job with no Docker engine and no privileged service
(Kubernetes-executor runners), run for real on this machine (issue 18 §5).

The build job's script comes from the rendered template and runs in `sh`, with Debian's buildah
(tools/setup/10-apt.sh) on PATH, its own storage in a temporary directory (vfs, chroot
isolation, as in an unprivileged pod), and the base image served by the local registry. The
archive it writes is then scanned by the real Trivy through this checkout's `scangate scan`,
which must report the image ID the build recorded: the bytes built are the bytes scanned.
Only the runner is left out (the script runs here as root, not in the python-image pod).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scangate._cli import main

from tests.gitlab import glci
from tests.support import docker as docker_support

pytestmark = [pytest.mark.docker, pytest.mark.slow]

OUT = "scangate-out/scangate"


# The base the build starts FROM: a Debian image of only what the build's RUN (sh in chroot
# isolation) and Trivy's OS detection read (os-release, debian_version, the dpkg database),
# copied from the local python base. Every step of the job is the same as with a full image;
# the bytes it pulls, commits, saves, compresses and scans are a few MB instead of 220.
MINIMAL_DEBIAN = """\
FROM {debian} AS debian
FROM scratch
COPY --from=debian /usr/bin/dash /bin/sh
COPY --from=debian /usr/lib/x86_64-linux-gnu/libc.so.6 /lib/x86_64-linux-gnu/libc.so.6
COPY --from=debian /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 /lib64/ld-linux-x86-64.so.2
COPY --from=debian /usr/lib/os-release /etc/os-release
COPY --from=debian /etc/debian_version /etc/debian_version
COPY --from=debian /var/lib/dpkg/status /var/lib/dpkg/status
"""


def _dotenv(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines())


@pytest.fixture(scope="module")
def buildah_build(tmp_path_factory: pytest.TempPathFactory, docker_engine: str,
                  registry: str) -> Iterator[tuple[Path, subprocess.CompletedProcess[str]]]:
    """(work directory, result) of the build job's script in buildah mode."""
    buildah = shutil.which("buildah")
    if buildah is None:
        pytest.fail("buildah is missing: run `make setup` (tools/setup/10-apt.sh installs it)")
    root = tmp_path_factory.mktemp("buildah")
    repository = f"scangate-tests/buildah-base-{uuid.uuid4().hex[:12]}"
    local = f"{repository}:debian-minimal"
    (root / "base").mkdir()
    (root / "base" / "Dockerfile").write_text(MINIMAL_DEBIAN.format(debian=docker_engine),
                                              encoding="utf-8")
    docker_support.build_image(root / "base", local)
    docker_support.push_image(local, repository, "debian-minimal")
    base = f"{registry}/{repository}:debian-minimal"
    for tag in (local, base):  # Buildah pulls from the registry into storage of its own
        docker_support.remove_image(tag)
    work = root / "project"
    (work / "app").mkdir(parents=True)
    (work / "app" / "Dockerfile").write_text(
        "ARG BASE\nFROM $BASE\nRUN echo built-by-buildah > /built\n", encoding="utf-8")
    # The runner's configuration (not CI/CD variables, which the template refuses): a plain
    # HTTP registry on loopback, and storage in a directory of this test.
    (root / "registries.conf").write_text(
        f'[[registry]]\nlocation = "{registry}"\ninsecure = true\n', encoding="utf-8")
    (root / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{root}/storage"\nrunroot = "{root}/run"\n',
        encoding="utf-8")
    job = glci.merged_job(glci.rendered_jobs({"docker-mode": "buildah", "context": "app",
                                              "build-args": f"BASE={base}"}), "scangate-build")
    env = {"PATH": os.environ["PATH"], "HOME": str(root),
           "CONTAINERS_REGISTRIES_CONF": str(root / "registries.conf"),
           "CONTAINERS_STORAGE_CONF": str(root / "storage.conf"),
           "CI_PROJECT_NAME": "Buildah-App", "CI_PIPELINE_ID": "7", "CI_JOB_ID": "8",
           "CI_COMMIT_SHA": "0" * 40}
    env.update({k: str(v) for k, v in (job.get("variables") or {}).items()})
    result = subprocess.run(["sh", "-c", "\n".join(glci.script_lines(job))], cwd=work, env=env,
                            capture_output=True, text=True, timeout=1200)
    yield work, result
    subprocess.run([buildah, "--storage-driver", "vfs", "rmi", "--all", "--force"], env=env,
                   capture_output=True, timeout=300, check=False)
    shutil.rmtree(root, ignore_errors=True)


def test_the_build_job_needs_no_docker_engine_nor_a_service() -> None:
    job = glci.merged_job(glci.rendered_jobs({"docker-mode": "buildah"}), "scangate-build")
    assert "services" not in job
    assert not any(key.startswith("DOCKER_") for key in job.get("variables") or {})
    script = "\n".join(glci.script_lines(job))
    assert "buildah" in script


def test_buildah_builds_the_archive_the_job_records(
    buildah_build: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    work, result = buildah_build
    assert result.returncode == 0, result.stdout + result.stderr
    build = _dotenv(work / OUT / "build.env")
    archive = work / OUT / "image.tar"
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == \
        build["SCANGATE_IMAGE_ARCHIVE_SHA256"]
    assert build["SCANGATE_IMAGE_LOCAL_REF"] == "buildah-app:scangate-7-8"
    assert build["SCANGATE_IMAGE_ID"].startswith("sha256:") and \
        len(build["SCANGATE_IMAGE_ID"]) == 71


def test_trivy_scans_the_same_bytes(
    buildah_build: tuple[Path, subprocess.CompletedProcess[str]], trivy_cache_dir: Path,
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """What `scangate push --image-id` later requires: the archive's image is the one built."""
    work, result = buildah_build
    assert result.returncode == 0, result.stderr
    build = _dotenv(work / OUT / "build.env")
    cache = tmp_path / "cache"
    shutil.copytree(trivy_cache_dir / "db", cache / "db")
    digest = "sha256:" + hashlib.sha256((cache / "db" / "trivy.db").read_bytes()).hexdigest()
    report = tmp_path / "trivy-image.json"
    code = main(["scan", "--input", str(work / OUT / "image.tar"), "--output", str(report),
                 "--trivy", str(shutil.which("trivy") or glci.REPO_ROOT / ".venv/bin/trivy"),
                 "--cache-dir", str(cache), "--skip-db-update", "--db-digest", digest])
    assert code == 0, capsys.readouterr().err
    scanned: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    assert scanned["Metadata"]["ImageID"] == build["SCANGATE_IMAGE_ID"]
    assert scanned["ArtifactName"].endswith("image.tar")
    assert scanned["Metadata"]["OS"]["Family"] == "debian"  # the base's packages were read
