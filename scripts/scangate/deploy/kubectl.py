"""Run a kubectl whose sha256 was checked, with a kubeconfig of our own and nothing else.

The binary is copied into a private directory, the copy is hashed and the copy is run, so the
file that runs is the file that was checked. Its environment holds only PATH, HOME (the private
directory), KUBECONFIG and the proxy variables: no kubeconfig, kubectl plugins or AWS
credentials of the runner reach it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from scangate.deploy.errors import DeployError

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY",
                   "no_proxy")


def install_kubectl(source: Path, expected_sha256: str, workdir: Path) -> Path:
    """Copy ``source`` into ``workdir`` and return the copy if its sha256 is as expected."""
    expected = expected_sha256.strip().lower().removeprefix("sha256:")
    if not _SHA256_RE.match(expected):
        raise DeployError(f"--kubectl-sha256 {expected_sha256!r} is not 64 hex digits")
    resolved = shutil.which(str(source)) if source.parent == Path() else str(source)
    if not resolved or not Path(resolved).is_file():
        raise DeployError(f"--kubectl {source}: no such file; pass the path of the kubectl "
                          "binary whose sha256 you pinned")
    target = workdir / "kubectl"
    try:
        shutil.copyfile(resolved, target)
        os.chmod(target, 0o700)
    except OSError as exc:
        raise DeployError(f"--kubectl {source}: cannot copy it ({exc.strerror or exc})") from None
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    if digest != expected:
        raise DeployError(
            f"--kubectl {resolved} has sha256 {digest}, not --kubectl-sha256 {expected}: "
            "refusing to run an unverified kubectl"
        )
    return target


class Kubectl:
    def __init__(self, binary: Path, home: Path) -> None:
        self.binary = binary
        self.home = home
        self.kubeconfig = home / "kubeconfig"

    def write_kubeconfig(self, text: str) -> None:
        fd = os.open(self.kubeconfig, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW,
                     0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)

    def run(self, args: list[str], what: str, timeout: float, echo: bool = True) -> str:
        """Run kubectl; its stdout, or a one-line error quoting the end of its stderr."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "KUBECONFIG": str(self.kubeconfig),
        }
        # A runner that reaches the API server through a proxy must keep doing so.
        env.update({name: os.environ[name] for name in PROXY_VARIABLES if name in os.environ})
        command = [str(self.binary), "--kubeconfig", str(self.kubeconfig), *args]
        try:
            proc = subprocess.run(command, capture_output=True, text=True, env=env,
                                  timeout=timeout, cwd=self.home, check=False)
        except subprocess.TimeoutExpired:
            raise DeployError(f"{what}: kubectl did not finish within {timeout:.0f}s") from None
        except OSError as exc:
            raise DeployError(f"{what}: cannot run kubectl ({exc.strerror or exc})") from None
        if proc.stdout and echo:
            print(proc.stdout, end="" if proc.stdout.endswith("\n") else "\n")
        if proc.returncode != 0:
            tail = " | ".join(proc.stderr.strip().splitlines()[-3:]) or "no message"
            raise DeployError(f"{what}: kubectl exited {proc.returncode}: {tail}")
        return proc.stdout
