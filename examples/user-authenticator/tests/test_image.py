"""The container image, built and run for real: read-only root, non-root user, HTTP end to end.

The build runs `pip install --require-hashes` inside the builder stage. On the machines that
run these tests the build container cannot verify the TLS chain of the machine's route to the
package index (only the host trusts it), so tools.pkgindex downloads the pinned files on the
host, hash-checked, and serves them as a PEP 503 index on 127.0.0.1 (reachable through
`--network host`) via the Dockerfile's PIP_INDEX_URL build argument. The hashes in the
requirements file still decide what gets installed, exactly as with any mirror.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

EXAMPLE_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = EXAMPLE_DIR.parents[1]
if str(REPO_ROOT) not in sys.path:  # for tests.support when pytest runs from elsewhere
    sys.path.insert(0, str(REPO_ROOT))

from tools.pkgindex import PackageIndexError, serve_index  # noqa: E402

from tests.support import docker as docker_support  # noqa: E402

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SECRET = "image-test-secret-" + "x" * 40
PASSWORD = "container passphrase 1234"
APP_UID = "10001"
BASE_PYTHON = "3.11"  # python3 of the local base image (Debian 12)


# --- a local package index ------------------------------------------------------------------


@pytest.fixture(scope="module")
def package_index() -> Iterator[str]:
    """Serve every file the two requirements files pin (and the sdist build backend) over HTTP,
    from the shared wheelhouse (.tools/wheelhouse): see tools/pkgindex."""
    requirements = [EXAMPLE_DIR / "requirements.txt", EXAMPLE_DIR / "requirements-vulnerable.txt"]
    try:
        # The image's Python (Debian 12's 3.11), not the host's, picks the wheels.
        # shared: the URL every test's builds use, so Docker's layer cache serves them all.
        with serve_index(requirements, python_version=BASE_PYTHON, shared=True) as url:
            yield url
    except PackageIndexError as exc:
        pytest.fail(str(exc))


# --- helpers ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _http(
    method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _wait_until_healthy(base_url: str, container: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = docker_support.docker(["inspect", "--format", "{{.State.Status}}", container])
        if state.strip() != "running":
            logs = docker_support.docker(["logs", "--tail", "40", container])
            pytest.fail(f"container stopped ({state.strip()}) before serving:\n{logs}")
        try:
            if _http("GET", f"{base_url}/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"/healthz did not answer within {timeout:.0f}s")


def _container_logs(container: str) -> str:
    proc = subprocess.run(
        ["docker", "logs", container], capture_output=True, text=True, timeout=60, check=True
    )
    return proc.stdout + proc.stderr


# --- the test --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def docker_engine() -> str:
    if not docker_support.docker_available():
        pytest.fail(f"no Docker engine answers `docker info`: {docker_support.SETUP_HINT}")
    if not docker_support.image_exists(docker_support.BASE_IMAGE):
        pytest.fail(f"{docker_support.BASE_IMAGE} is missing: {docker_support.SETUP_HINT}")
    return docker_support.BASE_IMAGE


@pytest.mark.parametrize("requirements", ["requirements.txt", "requirements-vulnerable.txt"])
def test_image_serves_auth_flow_read_only_as_non_root(
    docker_engine: str, package_index: str, requirements: str
) -> None:
    """Both variants must build and run: the vulnerable one is a demo of the gate, not of a
    broken build."""
    tag = f"scangate.local/user-authenticator-test:{uuid.uuid4().hex[:12]}"
    started = time.monotonic()
    docker_support.build_image(
        EXAMPLE_DIR,
        tag,
        build_args={
            "BASE_IMAGE": docker_engine,
            "REQUIREMENTS": requirements,
            "PIP_INDEX_URL": package_index,
        },
    )
    build_seconds = time.monotonic() - started
    print(f"built {requirements} image in {build_seconds:.1f}s")

    port = _free_port()
    name = f"user-authenticator-test-{uuid.uuid4().hex[:12]}"
    try:
        docker_support.docker(
            [
                "run", "--detach", "--name", name,
                "--read-only", "--network", "host",
                # The DB's directory, owned by the image's user (a plain tmpfs is root's).
                "--tmpfs", f"/data:uid={APP_UID},gid={APP_UID},mode=0700",
                "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                "--health-interval", "2s",
                "-e", f"AUTH_JWT_SECRET={SECRET}",
                "-e", f"PORT={port}",
                tag,
            ]
        )  # fmt: skip
        base_url = f"http://127.0.0.1:{port}"
        _wait_until_healthy(base_url, name)

        assert _http("GET", f"{base_url}/readyz") == (200, {"status": "ready"})
        carol = {"username": "carol", "password": PASSWORD}
        assert _http("POST", f"{base_url}/register", carol) == (201, {"username": "carol"})
        status, body = _http("POST", f"{base_url}/login", carol)
        assert status == 200, body
        token = body["access_token"]
        status, body = _http("GET", f"{base_url}/verify", token=token)
        assert status == 200, body
        assert body["claims"]["sub"] == "carol"
        wrong = {**carol, "password": "wrong guess 1234"}
        assert _http("POST", f"{base_url}/login", wrong) == (401, {"error": "invalid_credentials"})

        # Non-root, both as configured and as actually running (PID 1 is gunicorn's master).
        assert docker_support.docker(["inspect", "--format", "{{.Config.User}}", tag]).strip() == (
            f"{APP_UID}:{APP_UID}"
        )
        status_lines = docker_support.docker(["exec", name, "cat", "/proc/1/status"])
        uid_line = next(line for line in status_lines.splitlines() if line.startswith("Uid:"))
        assert uid_line.split()[1:] == [APP_UID] * 4
        # The root filesystem really is read-only, and the database went to the /data tmpfs.
        probe = subprocess.run(
            ["docker", "exec", name, "python3", "-c", "open('/app/probe', 'w')"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert probe.returncode != 0 and "Read-only file system" in probe.stderr
        docker_support.docker(["exec", name, "test", "-s", "/data/users.db"])

        # The image's own HEALTHCHECK command (run every 2 s here) reports healthy.
        deadline = time.monotonic() + 30
        health = ""
        while time.monotonic() < deadline and health != "healthy":
            health = docker_support.docker(
                ["inspect", "--format", "{{.State.Health.Status}}", name]
            ).strip()
            time.sleep(1)
        assert health == "healthy"

        # One JSON object per line, and neither the password nor the token in any of them.
        logs = _container_logs(name)
        lines = [json.loads(line) for line in logs.splitlines()]
        # Each line once (no root-logger echo), the app's request lines instead of gunicorn's.
        assert sum(line["event"].startswith("Starting gunicorn") for line in lines) == 1
        assert not [line for line in lines if line["logger"] == "gunicorn.access"]
        assert sum(line["event"] == "request" for line in lines) >= 5
        assert PASSWORD not in logs and token not in logs and SECRET not in logs
    finally:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True, timeout=120)
        docker_support.remove_image(tag, keep_cache=True)
