"""A real moto server on loopback for tests (``moto_server`` from ``moto[server]``).

Started as a subprocess on a port it binds itself; tests talk to it over HTTP with boto3 exactly
as the product talks to AWS (``AWS_ENDPOINT_URL``). ``reset()`` wipes its state between tests.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tools.demo.procs import moto_server


@dataclass(frozen=True)
class MotoServer:
    url: str

    def env(self) -> dict[str, str]:
        """Environment for a subprocess (or boto3) that should talk to this server."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
        }

    def reset(self) -> None:
        req = urllib.request.Request(self.url + "/moto-api/reset", method="POST")
        # botocore's own read timeout: a loaded machine slows the reset as much as any request.
        with urllib.request.urlopen(req, timeout=60):
            pass


@contextlib.contextmanager
def run_moto_server(extra_env: dict[str, str] | None = None) -> Iterator[MotoServer]:
    """The demo's moto server (tools/demo), with ``extra_env`` added to its environment."""
    env = {**os.environ, **(extra_env or {})}
    # A log of its own: the server's port is read from it (tools/demo/procs.moto_server).
    with tempfile.TemporaryDirectory(prefix="scangate-moto-") as logs, \
            moto_server(Path(logs) / "moto.log", env=env) as url:
        yield MotoServer(url)
