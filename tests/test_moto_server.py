"""The moto server a test area starts is its own, never another process's on the same port.

tools/demo/procs.moto_server used to pick a free port, close it and hand the number to
moto_server, then take the first answer to ``/moto-api/`` on it for a started server. Under
load the gap is long: another worker's moto could bind the same port in it, and this worker's
moto then died ("address in use", into /dev/null) while its tests ran against the other
worker's server, whose per-test resets wiped their tables mid-test. That is how a monitor test
could fail once under load and pass on every rerun. The server now binds port 0 itself and the
URL is the port it logs.
"""

from __future__ import annotations

import urllib.request
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest

from tests.support import loopback
from tools.demo import procs


class OtherMoto(loopback.QuietHandler):
    """Another worker's moto server: answers anything (its /moto-api/ included)."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        OtherMoto.seen.append(self.path)
        self.send_bytes(200, b"other")

    do_POST = do_GET


def test_a_server_already_answering_on_the_chosen_port_is_never_taken_for_ours(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    handler: type[BaseHTTPRequestHandler] = OtherMoto
    with loopback.serve(handler) as other:
        # The race, made certain: any free port this module would choose is the other's.
        port = int(other.host.rsplit(":", 1)[1])
        monkeypatch.setattr(procs, "free_port", lambda: port, raising=False)
        log = tmp_path / "moto.log"
        with procs.moto_server(log) as url:
            assert url != other.url
            request = urllib.request.Request(url + "/moto-api/reset", method="POST")
            with urllib.request.urlopen(request, timeout=60) as response:
                assert response.status == 200
        assert OtherMoto.seen == []
    assert f"Running on {url}" in log.read_text(encoding="utf-8")
