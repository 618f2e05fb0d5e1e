"""The skeleton every loopback HTTP stand-in of the tests shares: a threaded server on
127.0.0.1 (a free port, HTTPS when given a TLS context), stopped and joined on exit, and a
request handler that logs nothing and answers bytes or JSON.

What each stand-in answers (and which platform rules it follows) stays in its own module:
tests/gate/review_standin.py, tests/templates/kube_apiserver.py, tests/steps/registry_double.py
and the token service of tests/gitlab/gitlab_registry.py.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    """A handler that keeps the test output clean and answers in one call."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_bytes(self, status: int, body: bytes = b"",
                   headers: Mapping[str, str] | None = None) -> None:
        """The status, the headers and Content-Length; the body unless the request is a HEAD
        (RFC 9110 section 9.3.2: same headers as GET, no content)."""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, document: Any,
                  headers: Mapping[str, str] | None = None) -> None:
        self.send_bytes(status, json.dumps(document).encode(),
                        {"Content-Type": "application/json", **(headers or {})})


@dataclass(frozen=True)
class Loopback:
    server: ThreadingHTTPServer
    url: str  # scheme://127.0.0.1:port

    @property
    def host(self) -> str:
        """127.0.0.1:port (what a registry reference starts with)."""
        return self.url.split("://", 1)[1]


@contextlib.contextmanager
def serve(handler: Callable[..., BaseHTTPRequestHandler],
          tls: ssl.SSLContext | None = None) -> Iterator[Loopback]:
    """``handler`` on a free loopback port until the block ends (then shut down, closed and
    its thread joined, so no request outlives the test)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    scheme = "https" if tls is not None else "http"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Loopback(server, f"{scheme}://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def get(url: str, headers: Mapping[str, str] | None = None,
        timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    """GET ``url``: (status, headers, body), an HTTP error status included (not raised)."""
    request = urllib.request.Request(url)
    for name, value in (headers or {}).items():
        if value:
            request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()
