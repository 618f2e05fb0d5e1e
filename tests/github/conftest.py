"""Fixtures of the GitHub Actions tests: a package index the example image builds can reach."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.github.actrun import REPO_ROOT

EXAMPLE_DIR = REPO_ROOT / "examples" / "user-authenticator"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _project(filename: str) -> str:
    stem = filename.split("-")[0] if filename.endswith(".whl") else filename.rsplit("-", 1)[0]
    return re.sub(r"[-_.]+", "-", stem).lower()


@pytest.fixture(scope="session")
def package_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PEP 503 index on 127.0.0.1 with every file the example's requirements pin.

    The image build runs `pip install --require-hashes` in a container, which cannot verify the
    TLS chain of this machine's route to the package index (only the host trusts it). So the
    files are downloaded on the host, hash-checked, and served over loopback; the build reaches
    them with `--network host` through the Dockerfile's PIP_INDEX_URL argument. The hashes in
    the requirements files still decide what is installed.
    """
    root = tmp_path_factory.mktemp("package-index")
    downloads = root / "downloads"
    pip = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(downloads)]
    for requirements in ("requirements.txt", "requirements-vulnerable.txt"):
        subprocess.run(
            [*pip, "--no-deps", "--require-hashes", "-r", str(EXAMPLE_DIR / requirements)],
            check=True,
            timeout=600,
        )
    # An sdist in the vulnerable set needs a build backend.
    subprocess.run([*pip, "setuptools", "wheel"], check=True, timeout=600)
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
