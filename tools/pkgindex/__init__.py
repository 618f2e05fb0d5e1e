"""A local PEP 503 package index of hash-pinned requirements, for `docker build` behind a proxy.

Some machines reach the package index only through a TLS-intercepting proxy whose certificate
the host trusts and containers do not, so `pip install` inside `docker build` fails there. The
files the requirements pin are downloaded on the host instead (hash-checked by pip), cached in a
wheelhouse, and served over plain HTTP on loopback; the Dockerfile takes the URL through its
`PIP_INDEX_URL` build argument (reachable with `docker build --network host`). The hashes in the
requirements files still decide what gets installed, exactly as with any mirror.

    download(requirements, wheelhouse) -> wheelhouse    (offline when the cache already holds all)
    serve_index(requirements) -> "http://127.0.0.1:PORT/simple/"    (a context manager)
    serve_index(requirements, shared=True) -> "http://127.0.0.1:5050/simple/"

The URL is part of every image layer's cache key after `ARG PIP_INDEX_URL` (Docker hashes a
RUN with the build arguments it sees), so a fresh random port per process made every build of
the example install its packages again. `shared=True` serves on one fixed port instead, with
SO_REUSEPORT: every process that serves the wheelhouse (parallel test workers, concurrent
runs) listens on the same address, the kernel hands each connection to one of them, and each
serves the wheelhouse as it is on disk at the request, so they all answer alike; a process
that stops takes only its own listener away.

Online, real users need none of this: without PIP_INDEX_URL pip uses its default index.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import html
import re
import subprocess
import sys
import tarfile
import threading
import tomllib
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WHEELHOUSE = REPO_ROOT / ".tools" / "wheelhouse"
# What pip assumes for an sdist without pyproject.toml (PEP 517's legacy fallback, as in the
# pip 23 that Debian 12's venv module ships); PyYAML 5.3.1 is such an sdist.
LEGACY_BUILD_REQUIRES = ("setuptools>=40.8.0", "wheel")
DISTRIBUTION_SUFFIXES = (".whl", ".tar.gz", ".zip")
PIP_TIMEOUT = 900
# The fixed port of shared=True: below Linux's ephemeral range (32768-60999), so no port-0
# bind of another program lands on it; not 5000 (tools/setup/30-docker.sh's registry).
SHARED_PORT = 5050
# Keys of (requirements file, target Python, wheelhouse listing) pip found complete; the
# last few.
SATISFIED = ".satisfied"
SATISFIED_KEEP = 32


class PackageIndexError(RuntimeError):
    """A download or the server failed; the message says what and how to fix it."""


def normalize(name: str) -> str:
    """PEP 503 project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def project_of(filename: str) -> str:
    """PEP 503 name of a wheel (name-ver-...whl) or an sdist (name-ver.tar.gz / .zip) file."""
    if filename.endswith(".whl"):
        return normalize(filename.split("-")[0])
    stem = filename.removesuffix(".tar.gz").removesuffix(".zip")
    return normalize(stem.rsplit("-", 1)[0])


def _distributions(wheelhouse: Path) -> list[Path]:
    return sorted(
        p for p in wheelhouse.iterdir() if p.is_file() and p.name.endswith(DISTRIBUTION_SUFFIXES)
    )


@contextmanager
def _locked(wheelhouse: Path) -> Iterator[None]:
    # Tests and the demo may fill the same wheelhouse at once; pip writes files non-atomically.
    wheelhouse.mkdir(parents=True, exist_ok=True)
    with (wheelhouse / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _pip_download(args: Sequence[str], wheelhouse: Path, offline: bool) -> tuple[bool, str]:
    """`pip download ARGS` into the wheelhouse; offline = only from files already there."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "--dest",
        str(wheelhouse),
    ]
    if offline:
        cmd += ["--no-index", "--find-links", str(wheelhouse)]
    cmd += list(args)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT)
    except subprocess.TimeoutExpired:
        return False, f"`{' '.join(cmd)}` timed out after {PIP_TIMEOUT}s"
    return proc.returncode == 0, proc.stdout + proc.stderr


def _fetch(args: Sequence[str], wheelhouse: Path, what: str) -> None:
    """From the cache when it holds everything (no network at all), else from the index."""
    if _pip_download(args, wheelhouse, offline=True)[0]:
        return
    ok, output = _pip_download(args, wheelhouse, offline=False)
    if not ok:
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise PackageIndexError(
            f"pip download of {what} failed (is a package index reachable from this host?):\n{tail}"
        )


def build_requires(sdist: Path) -> list[str]:
    """The build requirements an sdist declares (pyproject.toml), else pip's legacy fallback."""
    if not sdist.name.endswith(".tar.gz"):
        return list(LEGACY_BUILD_REQUIRES)
    try:
        with tarfile.open(sdist) as archive:
            member = next(
                (
                    m
                    for m in archive.getmembers()
                    if m.name.count("/") == 1 and m.name.endswith("/pyproject.toml")
                ),
                None,
            )
            stream = archive.extractfile(member) if member is not None else None
            if stream is None:
                return list(LEGACY_BUILD_REQUIRES)
            data: dict[str, Any] = tomllib.loads(stream.read().decode("utf-8"))
    except (tarfile.TarError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PackageIndexError(f"{sdist}: unreadable sdist ({exc}); delete it and retry") from exc
    requires = data.get("build-system", {}).get("requires")
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        return list(LEGACY_BUILD_REQUIRES)
    return requires


def download(
    requirements: Sequence[Path],
    wheelhouse: Path = DEFAULT_WHEELHOUSE,
    python_version: str | None = None,
) -> Path:
    """Put every file the requirements pin (hash-checked), and what their sdists need to
    build, into the wheelhouse; return it.

    python_version ("3.11"): pick wheels for the interpreter in the image rather than the
    host's. Each file is one of the requirements' hashes or pip refuses it.
    """
    with _locked(wheelhouse):
        _download(requirements, wheelhouse, python_version)
    return wheelhouse


# A line naming another file (-r, -c): pip's answer depends on that file too.
_INCLUDE = re.compile(rb"^\s*(?:-r|-c|--requirement|--constraint)\b", re.MULTILINE)


def _satisfied_key(requirements: Path, wheelhouse: Path, python_version: str | None) -> str:
    """What pip's answer for one requirements file depends on: its bytes, the target and host
    Python, and the wheelhouse's files (names, sizes, modification times). "" (never
    remembered) for a file that includes another."""
    data = Path(requirements).read_bytes()
    if _INCLUDE.search(data):
        return ""
    digest = hashlib.sha256()
    host = ".".join(map(str, sys.version_info[:3]))
    digest.update(f"{python_version}\0{host}\0{sys.platform}\0".encode())
    digest.update(f"{len(data)}\0".encode() + data)
    for path in _distributions(wheelhouse):
        stat = path.stat()
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def _satisfied(wheelhouse: Path) -> list[str]:
    try:
        return (wheelhouse / SATISFIED).read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError):
        return []


def _download(requirements: Sequence[Path], wheelhouse: Path, python_version: str | None) -> None:
    if not requirements:
        raise PackageIndexError("no requirements file given")
    for path in requirements:
        if not Path(path).is_file():
            raise PackageIndexError(f"{path}: requirements file not found")
    # pip's offline check costs about 6 s of CPU per call (the example's two files, and PyYAML's
    # sdist built for its metadata); an unchanged wheelhouse for unchanged requirements gets
    # the answer pip gave last time. Skipping it weakens nothing: the index serves each file
    # with its sha256 and pip in the build installs only what the requirements' hashes allow.
    # Keyed per file: the test workers serve both of the example's files, each demo variant one.
    satisfied = _satisfied(wheelhouse)
    if all(_satisfied_key(path, wheelhouse, python_version) in satisfied
           for path in requirements):
        return
    target = ["--python-version", python_version] if python_version else []
    for path in requirements:
        args = [*target, "--no-deps", "--require-hashes", "-r", str(path)]
        _fetch(args, wheelhouse, str(path))
    # pip in the image builds sdists in an isolated environment whose build requirements
    # (unpinned, as every PEP 517 frontend fetches them) must come from this index too.
    sdists = [f for f in _distributions(wheelhouse) if not f.name.endswith(".whl")]
    backend = sorted({r for f in sdists for r in build_requires(f)})
    if backend:
        what = "build requirements " + " ".join(backend)
        _fetch([*target, "--only-binary", ":all:", *backend], wheelhouse, what)
    keys = [*_satisfied(wheelhouse),
            *filter(None, (_satisfied_key(path, wheelhouse, python_version)
                           for path in requirements))]
    (wheelhouse / SATISFIED).write_text("\n".join(keys[-SATISFIED_KEEP:]) + "\n", "ascii")


@dataclass(frozen=True)
class _File:
    path: Path
    sha256: str


def _catalog(wheelhouse: Path) -> dict[str, dict[str, _File]]:
    """project -> filename -> file, for every distribution in the wheelhouse."""
    catalog: dict[str, dict[str, _File]] = {}
    for path in _distributions(wheelhouse):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        catalog.setdefault(project_of(path.name), {})[path.name] = _File(path, digest)
    return catalog


class _LiveCatalog:
    """The catalog of the wheelhouse as it is now: listed again at each request, and hashed
    again when a file was added or changed, under the download lock so never half-written.
    While another process holds that lock (filling the wheelhouse), the last catalog stands."""

    def __init__(self, wheelhouse: Path) -> None:
        """Hashes the wheelhouse now, as the caller (serve_index: under the lock) found it."""
        self._wheelhouse = wheelhouse
        self._mutex = threading.Lock()
        self._seen = self._listing()
        self._catalog = _catalog(wheelhouse)

    def _listing(self) -> tuple[tuple[str, int, int], ...]:
        return tuple(
            (p.name, (st := p.stat()).st_size, st.st_mtime_ns)
            for p in _distributions(self._wheelhouse)
        )

    def get(self) -> dict[str, dict[str, _File]]:
        with self._mutex:
            if self._listing() != self._seen:
                with (self._wheelhouse / ".lock").open("w") as lock:
                    try:
                        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        return self._catalog
                    try:
                        self._seen = self._listing()
                        self._catalog = _catalog(self._wheelhouse)
                    finally:
                        fcntl.flock(lock, fcntl.LOCK_UN)
            return self._catalog


class _IndexHandler(BaseHTTPRequestHandler):
    """/simple/, /simple/<project>/ (links carry #sha256=) and /files/<filename>; nothing else,
    so no path outside the catalog can be read."""

    catalog: dict[str, dict[str, _File]]

    def __init__(
        self,
        *args: Any,
        catalog: dict[str, dict[str, _File]] | None = None,
        live: _LiveCatalog | None = None,
        **kwargs: Any,
    ) -> None:
        self.catalog = live.get() if live is not None else catalog or {}
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # pip's own output says what it fetched

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _page(self, title: str, links: list[tuple[str, str]]) -> None:
        anchors = "\n".join(
            f'<a href="{html.escape(href)}">{html.escape(text)}</a><br>' for href, text in links
        )
        body = (
            f"<!DOCTYPE html>\n<html><head><title>{html.escape(title)}</title></head>"
            f"<body>\n{anchors}\n</body></html>\n"
        ).encode()
        self._send(200, body, "text/html; charset=utf-8")

    def do_GET(self) -> None:
        parts = [p for p in urllib.parse.urlsplit(self.path).path.split("/") if p]
        if parts == ["simple"]:
            self._page("Simple index", [(f"{name}/", name) for name in sorted(self.catalog)])
        elif len(parts) == 2 and parts[0] == "simple" and normalize(parts[1]) in self.catalog:
            files = self.catalog[normalize(parts[1])]
            links = [
                (f"../../files/{quoted}#sha256={f.sha256}", name)
                for name, f in sorted(files.items())
                for quoted in [urllib.parse.quote(name)]
            ]
            self._page(f"Links for {parts[1]}", links)
        elif len(parts) == 2 and parts[0] == "files":
            name = urllib.parse.unquote(parts[1])
            found = self.catalog.get(project_of(name), {}).get(name)
            if found is None:
                self._send(404, b"not found\n", "text/plain")
                return
            self._send(200, found.path.read_bytes(), "application/octet-stream")
        else:
            self._send(404, b"not found\n", "text/plain")

    do_HEAD = do_GET


class _SharedHTTPServer(ThreadingHTTPServer):
    allow_reuse_port = True  # SO_REUSEPORT: the other processes serving the wheelhouse too


class IndexServer:
    """The HTTP server of a wheelhouse, in a daemon thread of this process. shared: listen
    with SO_REUSEPORT and serve the wheelhouse live (see the module's docstring)."""

    def __init__(
        self, wheelhouse: Path, host: str = "127.0.0.1", port: int = 0, shared: bool = False
    ) -> None:
        live = _LiveCatalog(wheelhouse) if shared else None
        catalog = live.get() if live is not None else _catalog(wheelhouse)
        if not catalog:
            raise PackageIndexError(f"{wheelhouse}: no distributions to serve")
        handler = functools.partial(_IndexHandler, catalog=catalog, live=live)
        server_class = _SharedHTTPServer if shared else ThreadingHTTPServer
        try:
            self._server = server_class((host, port), handler)
        except OSError as exc:
            hint = " (a program that does not share it holds it)" if shared else ""
            raise PackageIndexError(f"cannot listen on {host}:{port}{hint}: {exc}") from exc
        bound_host, bound_port = self._server.server_address[:2]
        self.url = f"http://{bound_host!s}:{bound_port}/simple/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def serve_index(
    requirements: Sequence[Path],
    wheelhouse: Path = DEFAULT_WHEELHOUSE,
    host: str = "127.0.0.1",
    port: int = 0,
    python_version: str | None = None,
    shared: bool = False,
) -> Iterator[str]:
    """Download (or reuse) what the requirements pin and serve it; yield the index URL.

    The server stops when the block ends. It serves the whole wheelhouse: files of other
    requirements are harmless, since pip installs only what the hashes allow. shared: on
    SHARED_PORT (or port), beside every other process serving it; where a program that does
    not share the port holds it, on a free port instead (builds then miss Docker's cache,
    nothing else changes).
    """
    if shared and not port:
        port = SHARED_PORT
    # Hashed under the lock: another process filling the wheelhouse never leaves a
    # half-written file in the catalog.
    with _locked(wheelhouse):
        _download(requirements, wheelhouse, python_version)
        try:
            server = IndexServer(wheelhouse, host, port, shared=shared)
        except PackageIndexError:
            if not shared:
                raise
            server = IndexServer(wheelhouse, host, 0)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
