"""Fixtures of the GitLab template tests: gitlab-ci-local, and a package index for image builds."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.gitlab import glci

EXAMPLE_DIR = glci.REPO_ROOT / "examples" / "user-authenticator"


@pytest.fixture(scope="session")
def gitlab_ci_local() -> Path:
    """gitlab-ci-local 4.60.1 from .tools/node. Missing is a broken setup: FAIL, never skip."""
    if not glci.gitlab_ci_local_available():
        pytest.fail(f"{glci.GITLAB_CI_LOCAL} is missing: {glci.SETUP_HINT}")
    version = subprocess.run(
        [str(glci.GITLAB_CI_LOCAL), "--version"], capture_output=True, text=True, timeout=60,
    ).stdout.strip()
    if version != glci.GITLAB_CI_LOCAL_VERSION:
        pytest.fail(f"gitlab-ci-local is {version!r}, expected {glci.GITLAB_CI_LOCAL_VERSION}: "
                    f"{glci.SETUP_HINT}")
    if shutil.which("rsync") is None:
        pytest.fail("gitlab-ci-local needs rsync: run `make setup` (tools/setup/10-apt.sh)")
    return glci.GITLAB_CI_LOCAL


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _project(filename: str) -> str:
    stem = filename.split("-")[0] if filename.endswith(".whl") else filename.rsplit("-", 1)[0]
    return re.sub(r"[-_.]+", "-", stem).lower()


@pytest.fixture(scope="session")
def gitlab_package_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PEP 503 index on 127.0.0.1 with every file the example's requirements pin.

    The example's Dockerfile runs `pip install --require-hashes`; a build container here cannot
    verify the TLS chain of this machine's route to the package index (only the host trusts
    it). So the files are downloaded on the host, hash-checked, and served on loopback; the
    template's build job reaches them through its `build-args` input (PIP_INDEX_URL) and
    `build-network: host`. The hashes in the requirements files still decide what is installed.
    """
    root = tmp_path_factory.mktemp("gitlab-package-index")
    downloads = root / "downloads"
    pip = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(downloads)]
    for requirements in ("requirements.txt", "requirements-vulnerable.txt"):
        subprocess.run([*pip, "--no-deps", "--require-hashes", "-r",
                        str(EXAMPLE_DIR / requirements)], check=True, timeout=900)
    # An sdist in the vulnerable set needs a build backend.
    subprocess.run([*pip, "setuptools", "wheel"], check=True, timeout=900)
    for file in downloads.iterdir():
        project = root / "simple" / _project(file.name)
        project.mkdir(parents=True, exist_ok=True)
        shutil.move(file, project / file.name)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    finally:
        server.shutdown()
        server.server_close()
