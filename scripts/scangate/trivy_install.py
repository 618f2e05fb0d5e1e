"""A Trivy release tarball, used only when its sha256 is the pinned one.

The tarball may come from a CI cache (any job of the default branch can write a cache key, so
a restored file is untrusted input) or from the release download; either way it is hashed
before anything in it runs, and a mismatch fails closed with what to do. The pins are a table
`<version> <asset> <sha256>` (actions/trivy/checksums.txt) or one sha256 given for the run.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import subprocess
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from scangate.errors import ScangateError

DEFAULT_DOWNLOAD_URL = "https://github.com/aquasecurity/trivy/releases/download"
_VERSION = re.compile(r"v?([0-9]+\.[0-9]+\.[0-9]+)")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_PLATFORMS = {("Linux", "x86_64"): "Linux-64bit", ("Linux", "amd64"): "Linux-64bit",
              ("Linux", "aarch64"): "Linux-ARM64", ("Linux", "arm64"): "Linux-ARM64"}
MAX_TARBALL = 512 * 1024 * 1024
ATTEMPTS = 3


class TrivyInstallError(ScangateError):
    """No Trivy whose tarball is the pinned one can be installed."""


def release_version(text: str) -> str:
    match = _VERSION.fullmatch(text.strip())
    if not match:
        raise TrivyInstallError(f"trivy-version must be a release version like 0.70.0 (got "
                                f"{text!r}); never 'latest'")
    return match.group(1)


def asset_name(version: str, system: str | None = None, machine: str | None = None) -> str:
    key = (system or platform.system(), machine or platform.machine())
    if key not in _PLATFORMS:
        raise TrivyInstallError(f"no Trivy release is pinned for {key[0]} {key[1]}")
    return f"trivy_{version}_{_PLATFORMS[key]}.tar.gz"


def pinned_sha256(version: str, asset: str, given: str, checksums: Path | None) -> str:
    expected = given.strip().lower()
    if not expected and checksums is not None:
        for line in checksums.read_text(encoding="utf-8").splitlines():
            fields = line.split()
            if len(fields) == 3 and fields[0] == version and fields[1] == asset:
                expected = fields[2].lower()
    if not _SHA256.fullmatch(expected):
        raise TrivyInstallError(
            f"no pinned sha256 for {asset}: pass trivy-sha256 (from trivy_{version}_checksums"
            ".txt of the release) or use a version listed in actions/trivy/checksums.txt")
    return expected


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(url: str, target: Path) -> None:
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("https", "http"):
        raise TrivyInstallError(f"{url}: not an http(s) URL; set trivy-download-url to the "
                                "base URL of a release mirror")
    problem = ""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            # The scheme is checked above: http(s) only.
            with urllib.request.urlopen(url, timeout=60) as response, target.open("wb") as out:  # noqa: S310
                copied = 0
                for block in iter(lambda: response.read(1 << 20), b""):
                    copied += len(block)
                    if copied > MAX_TARBALL:
                        raise TrivyInstallError(f"{url} is larger than {MAX_TARBALL} bytes")
                    out.write(block)
            return
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            problem = str(getattr(exc, "reason", exc))
            if attempt < ATTEMPTS:
                time.sleep(2 * attempt)
    target.unlink(missing_ok=True)
    raise TrivyInstallError(f"could not download Trivy from {url} ({problem}); the scan fails "
                            "closed (set trivy-download-url to a reachable mirror)")


def verified_tarball(directory: Path, asset: str, expected: str, base_url: str,
                     version: str) -> Path:
    """directory/asset, from the cache or downloaded, with the pinned sha256; else an error."""
    directory.mkdir(parents=True, exist_ok=True)
    tarball = directory / asset
    if tarball.is_file():
        actual = _sha256(tarball)
        if actual != expected:
            # A restored cache is untrusted: a mismatch is an attack or a corruption, never a
            # reason to run that file.
            raise TrivyInstallError(
                f"the cached {asset} has sha256 {actual}, not the pinned {expected}: the cache "
                "is corrupted or poisoned. Delete the Actions cache entry (or run with cache: "
                "false); nothing was run")
        print(f"using the cached {asset} (sha256 verified)")
        return tarball
    url = f"{(base_url or DEFAULT_DOWNLOAD_URL).rstrip('/')}/v{version}/{asset}"
    part = directory / f"{asset}.part"
    _download(url, part)
    actual = _sha256(part)
    if actual != expected:
        part.unlink()
        raise TrivyInstallError(f"{url} has sha256 {actual}, not the pinned {expected}; "
                                "refusing to run it")
    part.replace(tarball)
    print(f"downloaded {asset} (sha256 verified)")
    return tarball


def extract_trivy(tarball: Path, directory: Path) -> Path:
    """The `trivy` regular file of the verified tarball, as directory/bin/trivy, and it runs."""
    binary = directory / "bin" / "trivy"
    binary.parent.mkdir(parents=True, exist_ok=True)
    binary.unlink(missing_ok=True)
    with tarfile.open(tarball, "r:gz") as archive:
        member = next((m for m in archive.getmembers() if m.name in ("trivy", "./trivy")), None)
        source = archive.extractfile(member) if member is not None and member.isfile() else None
        if source is None:
            raise TrivyInstallError(f"{tarball.name} has no trivy binary")
        with source, binary.open("wb") as out:
            for block in iter(lambda: source.read(1 << 20), b""):
                out.write(block)
    os.chmod(binary, 0o700)  # only this job's user runs it
    try:
        subprocess.run([str(binary), "--version"], capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        raise TrivyInstallError(f"the verified {tarball.name} does not run on this "
                                "runner") from None
    return binary
