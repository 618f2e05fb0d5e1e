"""The local Docker engine and registry that tools/setup/30-docker.sh starts, for tests.

dockerd runs without a bridge network here, so every build and run uses `--network host`.
No public registry is reachable: images build FROM the local base image (BASE_IMAGE, passed as
the `BASE_IMAGE` build argument) and are pushed to the registry on 127.0.0.1:5000, which stands
in for ECR's data plane. All helpers raise DockerError with the command's stderr on failure.
"""

from __future__ import annotations

import os
import re
import subprocess
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

BASE_IMAGE = "scangate.local/python-base:bookworm"
REGISTRY = "127.0.0.1:5000"
REGISTRY_URL = f"http://{REGISTRY}"
SETUP_HINT = "run `make setup` (tools/setup/30-docker.sh starts dockerd and the registry)"


class DockerError(RuntimeError):
    pass


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # The docker CLI here has no buildx plugin: BuildKit mode would refuse to build, so the
    # classic builder is asked for explicitly (it prints a deprecation notice, nothing more).
    env["DOCKER_BUILDKIT"] = "0"
    return env


def docker(args: Sequence[str], timeout: float = 600) -> str:
    """Run `docker ARGS`; return stdout, or raise DockerError naming the command and stderr."""
    try:
        proc = subprocess.run(
            ["docker", *args], capture_output=True, text=True, timeout=timeout, env=_env()
        )
    except FileNotFoundError as exc:
        raise DockerError(f"docker CLI not found: {SETUP_HINT}") from exc
    except subprocess.TimeoutExpired as exc:
        raise DockerError(f"`docker {' '.join(args)}` timed out after {timeout:.0f}s") from exc
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-20:])
        raise DockerError(f"`docker {' '.join(args)}` failed ({proc.returncode}):\n{tail}")
    return proc.stdout


def docker_available() -> bool:
    """True when a Docker engine answers (the CLI and the daemon both work)."""
    try:
        docker(["info", "--format", "{{.ServerVersion}}"], timeout=20)
    except DockerError:
        return False
    return True


def image_exists(ref: str) -> bool:
    try:
        docker(["image", "inspect", "--format", "{{.Id}}", ref], timeout=30)
    except DockerError:
        return False
    return True


def build_image(
    context: Path,
    tag: str,
    build_args: Mapping[str, str] | None = None,
    dockerfile: Path | None = None,
) -> str:
    """`docker build --network host`; return the image ID (sha256:... of its config).

    The ID names the exact image built; a registry (manifest) digest exists only after a
    push, see push_image.
    """
    args = ["build", "--network", "host", "--tag", tag]
    if dockerfile is not None:
        args += ["--file", str(dockerfile)]
    for key, value in (build_args or {}).items():
        args += ["--build-arg", f"{key}={value}"]
    docker([*args, str(context)], timeout=1800)
    return docker(["image", "inspect", "--format", "{{.Id}}", tag]).strip()


def save_image(tag: str, tar_path: Path) -> Path:
    """`docker save` to a tarball (the input of `trivy image --input`)."""
    tar_path.parent.mkdir(parents=True, exist_ok=True)
    docker(["save", "--output", str(tar_path), tag])
    return tar_path


def push_image(tag: str, repository: str, remote_tag: str = "latest") -> str:
    """Push a local image to the local registry; return its manifest digest (sha256:...)."""
    remote = f"{REGISTRY}/{repository}:{remote_tag}"
    docker(["tag", tag, remote])
    out = docker(["push", remote])
    match = re.search(r"digest: (sha256:[0-9a-f]{64})", out)
    if not match:
        raise DockerError(f"`docker push {remote}` printed no digest:\n{out[-2000:]}")
    return match.group(1)


def remove_image(ref: str, keep_cache: bool = False) -> None:
    """Best-effort cleanup: an image already gone is fine. keep_cache: untag only, keeping the
    build's intermediate layers (`--no-prune`), so the next build of the same Dockerfile and
    arguments (the example, built by many tests with the same shared package index) reuses them."""
    try:
        docker(["image", "rm", "--force", *(["--no-prune"] if keep_cache else []), ref],
               timeout=120)
    except DockerError:
        pass


def registry_available(timeout: float = 3) -> bool:
    """True when the distribution v2 registry answers on 127.0.0.1:5000."""
    try:
        with urllib.request.urlopen(REGISTRY_URL + "/v2/", timeout=timeout) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False
