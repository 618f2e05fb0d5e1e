"""Running the tools the demo drives: logged commands, the local moto server."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
SETUP_HINT = "run `make setup` first"


class DemoError(RuntimeError):
    """The demo could not finish (exit 2); the message says what failed and how to fix it."""


def tool(name: str) -> str:
    """The venv's copy of a tool (beside this Python) first, else the one on PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise DemoError(f"{name} not found: {SETUP_HINT}")
    return found


def tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@dataclass(frozen=True)
class Result:
    returncode: int
    output: str  # stdout and stderr, interleaved as the tool wrote them


class Runner:
    """Runs commands from the repository root, each with its output in logs_dir/<log>.log.

    verbose echoes the output as it comes; otherwise the log is shown only on failure.
    """

    def __init__(self, logs_dir: Path, verbose: bool) -> None:
        self.logs_dir = logs_dir
        self.verbose = verbose

    def log_path(self, log: str) -> Path:
        return self.logs_dir / f"{log}.log"

    def run(
        self,
        cmd: Sequence[str],
        *,
        log: str,
        timeout: float,
        env: Mapping[str, str] | None = None,
        ok: Sequence[int] = (0,),
    ) -> Result:
        """Run cmd; raise DemoError unless its exit code is in ok (or on a timeout)."""
        path = self.log_path(log)
        path.parent.mkdir(parents=True, exist_ok=True)
        chunks: list[str] = []
        with path.open("a", encoding="utf-8") as handle:
            handle.write(f"$ {' '.join(cmd)}\n")
            proc = subprocess.Popen(
                list(cmd),
                cwd=REPO_ROOT,
                env=dict(env) if env is not None else None,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
            # A timer rather than a deadline check per line: a silent, hung tool must die too.
            timed_out = threading.Event()

            def kill() -> None:
                timed_out.set()
                proc.kill()

            timer = threading.Timer(timeout, kill)
            timer.start()
            try:
                assert proc.stdout is not None
                for line in proc.stdout:
                    handle.write(line)
                    chunks.append(line)
                    if self.verbose:
                        print(f"      | {line}", end="", flush=True)
                code = proc.wait()
            finally:
                timer.cancel()
                if proc.poll() is None:  # interrupted while reading: take the child down too
                    proc.kill()
                    proc.wait()
        output = "".join(chunks)
        if code not in ok or timed_out.is_set():
            why = f"timed out after {timeout:.0f}s" if timed_out.is_set() else f"exited {code}"
            raise DemoError(f"`{' '.join(cmd[:3])} ...` {why} (full log: {path}):\n{tail(output)}")
        return Result(code, output)

    def capture(self, cmd: Sequence[str], *, log: str, timeout: float = 120) -> str:
        """Run a short query command; return its output, stripped."""
        return self.run(cmd, log=log, timeout=timeout).output.strip()


# What werkzeug (moto_server's HTTP server) logs once its socket is bound: the port it got.
_LISTENING = re.compile(rb"Running on http://127\.0\.0\.1:(\d+)")


@contextmanager
def moto_server(log: Path, timeout: float = 30,
                env: Mapping[str, str] | None = None) -> Iterator[str]:
    """A moto server (AWS emulator) on loopback for the block's duration; yields its URL.

    ``env`` is the server's whole environment (default: this process's). The tests share it.
    The server binds port 0 itself and its URL is the port it logs: choosing a free port first
    and passing it on left a gap in which another process could take the port, and a server
    started by another test worker then answered in place of this one (sharing its state and
    its resets); the second moto exited with "address in use" into the log.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as handle:
        start = handle.tell()
        proc = subprocess.Popen(
            [tool("moto_server"), "-H", "127.0.0.1", "-p", "0"],
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=None if env is None else dict(env),
        )
    try:
        deadline = time.monotonic() + timeout
        url = ""
        while True:
            if not url:
                with log.open("rb") as reader:
                    reader.seek(start)
                    found = _LISTENING.search(reader.read())
                url = f"http://127.0.0.1:{int(found[1])}" if found else ""
            if url:
                try:
                    with urllib.request.urlopen(url + "/moto-api/", timeout=1):  # noqa: S310
                        break
                except OSError:
                    pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise DemoError(f"moto server did not start on {url or 'a port of its own'}; "
                                f"see {log}")
            time.sleep(0.2)
        yield url
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[Any], grace: float = 10) -> None:
    """End a server we started: SIGTERM, then SIGKILL if it is still there after ``grace``."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def aws_env(endpoint: str, region: str) -> dict[str, str]:
    """This process's environment pointed at the local moto server and nothing else.

    Every AWS_* variable (profiles, tokens, per-service endpoints) and the shared config files
    are dropped, so the demo can never reach or modify a real AWS account.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )
    return env
