"""Installing a pinned tool binary (``scangate install-tool``): Trivy and kubectl.

A pipeline downloads the tools it runs. What makes a download the pinned tool is its SHA-256,
so nothing is run or kept before the hash matches: not a mirror's answer, not a file a cache
restored (caches are written by other pipelines, so a cached file is as untrusted as a
download). After unpacking, the binary must report the pinned version. One implementation for
the GitLab template, the GitHub actions and the CodeBuild buildspec.
"""

from __future__ import annotations

import hashlib
import io
import platform
import re
import shutil
import subprocess
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from scangate import __version__
from scangate.errors import ScangateError
from scangate.outputs.atomic import write_replacing

SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Bigger than any Trivy archive (about 50 MB) or kubectl binary (about 60 MB) so far.
MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024
CHUNK = 1024 * 1024


class ToolInstallError(ScangateError):
    """A tool cannot be downloaded, is not the pinned one, or does not run."""


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    version_pattern: str  # what a version must look like (never `latest`)
    default_url: str  # {version}, {asset} and {arch} are replaced (nothing else: not format())
    asset: str  # file name of the download; {version} and {platform} are replaced
    archive_member: str  # "" when the download is the binary itself
    version_command: tuple[str, ...]
    version_output: str  # regex whose group 1 is the version the binary reports

    def platform_asset(self, version: str, machine: str) -> str:
        return self.asset.format(version=version, platform=_platform(self.name, machine))


TOOLS = {
    "trivy": Tool(
        name="trivy",
        version_pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$",
        default_url="https://github.com/aquasecurity/trivy/releases/download/v{version}/{asset}",
        asset="trivy_{version}_{platform}.tar.gz",
        archive_member="trivy",
        version_command=("--version",),
        version_output=r"^Version: *(\S+)",
    ),
    "kubectl": Tool(
        name="kubectl",
        version_pattern=r"^v[0-9]+\.[0-9]+\.[0-9]+$",
        default_url="https://dl.k8s.io/release/{version}/bin/linux/{arch}/kubectl",
        asset="kubectl",
        archive_member="",
        version_command=("version", "--client"),
        version_output=r"^Client Version: *(\S+)",
    ),
}

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
_TRIVY_PLATFORM = {"amd64": "Linux-64bit", "arm64": "Linux-ARM64"}


def _arch(machine: str) -> str:
    arch = _ARCH.get(machine.lower())
    if arch is None:
        raise ToolInstallError(f"no release is pinned for the machine type {machine!r} "
                               "(amd64 and arm64 Linux only)")
    return arch


def _platform(name: str, machine: str) -> str:
    return _TRIVY_PLATFORM[_arch(machine)] if name == "trivy" else _arch(machine)


def check_url(url: str) -> None:
    """http(s) only: the hash decides what is run, but file:// or ftp:// have no place here."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ToolInstallError(f"{url}: not an http(s) URL")


def download(url: str, timeout: float) -> bytes:
    check_url(url)
    request = urllib.request.Request(  # noqa: S310 - check_url allows http(s) only
        url, headers={"User-Agent": f"scangate/{__version__}"})
    buffer = io.BytesIO()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            while chunk := response.read(CHUNK):
                buffer.write(chunk)
                if buffer.tell() > MAX_DOWNLOAD_BYTES:
                    raise ToolInstallError(f"{url}: larger than {MAX_DOWNLOAD_BYTES} bytes: "
                                           "not a tool release")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ToolInstallError(f"cannot download {url}: {exc}; set the download URL to a "
                               "reachable mirror (the pinned sha256 still decides)") from None
    return buffer.getvalue()


def _verified(data: bytes, wanted: str, what: str) -> bytes:
    actual = hashlib.sha256(data).hexdigest()
    if actual != wanted:
        raise ToolInstallError(f"{what} has sha256 {actual}, not the pinned {wanted}: refused, "
                               "nothing was run")
    return data


def _binary(tool: Tool, data: bytes, what: str) -> bytes:
    """The archive member named tool.archive_member: its last occurrence, as `tar -x` leaves
    it, which must be a regular file. One pass over the stream (`r|gz`): getmember() reads the
    whole archive to find the name and extractfile() then seeks back, which for a .tar.gz
    means decompressing all of it a second time (Trivy's 175 MB: about 0.8 s of CPU)."""
    if not tool.archive_member:
        return data
    found: tarfile.TarInfo | None = None
    content: bytes | None = None
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r|gz") as archive:
            for member in archive:
                if member.name != tool.archive_member:
                    continue
                found = member
                handle = archive.extractfile(member) if member.isfile() else None
                content = handle.read() if handle is not None else None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ToolInstallError(f"{what} is not a {tool.name} release archive: {exc}") from None
    if found is None:
        raise ToolInstallError(f"{what} is not a {tool.name} release archive: it has no "
                               f"{tool.archive_member}")
    if content is None:
        raise ToolInstallError(f"{what}: its {tool.archive_member} is not a file")
    return content


def pinned_sha256(name: str, version: str, checksums: Path, machine: str = "") -> str:
    """The sha256 `checksums` pins for this version's asset on this machine (lines of
    `<version> <asset> <sha256>`, `#` comments); none is an error, never a fallback."""
    asset = TOOLS[name].platform_asset(version.strip(), machine or platform.machine())
    try:
        lines = checksums.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ToolInstallError(f"{checksums}: cannot read the pins ({exc.strerror})") from None
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) == 3 and fields[:2] == [version.strip(), asset] and SHA256.match(fields[2]):
            return fields[2]
    raise ToolInstallError(f"no pinned sha256 for {asset} in {checksums}: pass the sha256 of "
                           f"that release's asset (from its checksums file), or use a version "
                           "it lists")


def reported_version(tool: Tool, binary: str) -> str:
    try:
        proc = subprocess.run([binary, *tool.version_command], capture_output=True, text=True,
                              errors="replace", timeout=120, check=False)
    except OSError as exc:
        raise ToolInstallError(f"{binary} does not run on this machine: {exc}") from None
    match = re.search(tool.version_output, proc.stdout, re.MULTILINE)
    if proc.returncode != 0 or match is None:
        raise ToolInstallError(f"`{binary} {' '.join(tool.version_command)}` exited "
                               f"{proc.returncode} without reporting a version")
    return match.group(1)


def _write_executable(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ToolInstallError(f"{path.parent}: cannot create: {exc.strerror or exc}") from None
    # 0o755: an executable others may run, as a release is.
    write_replacing(path, data, str(path), mode=0o755, error=ToolInstallError)


def install(
    name: str,
    version: str,
    sha256: str,
    dest: Path,
    url: str = "",
    cache_dir: Path | None = None,
    timeout: float = 300,
    machine: str = "",
) -> Path:
    """The pinned ``name`` at ``dest/name``; with an empty ``sha256``, the ``name`` on PATH.
    Either way the binary must report ``version``. Returns the binary's path."""
    tool = TOOLS[name]
    version = version.strip()
    if not re.match(tool.version_pattern, version):
        raise ToolInstallError(f"{name} version {version!r} is not a release version "
                               f"({tool.version_pattern}); never `latest`")
    wanted = sha256.strip().lower()
    if not wanted:
        found = shutil.which(name)
        if found is None:
            raise ToolInstallError(f"no {name} sha256 is pinned and there is no {name} on PATH: "
                                   f"pin the release's sha256, or provide {name} {version}")
        binary = Path(found)
    else:
        if not SHA256.match(wanted):
            raise ToolInstallError(f"{name} sha256 {sha256!r} is not 64 hex digits")
        machine = machine or platform.machine()
        asset = tool.platform_asset(version, machine)
        source = url or tool.default_url
        for key, value in (("version", version), ("asset", asset), ("arch", _arch(machine))):
            source = source.replace("{" + key + "}", value)
        cached = cache_dir / asset if cache_dir is not None else None
        if cached is not None and cached.is_file():
            data = _verified(cached.read_bytes(), wanted,
                             f"the cached {cached} (a cache other pipelines can write; the "
                             "cache is corrupted or poisoned: delete that cache entry, or "
                             "run without the cache)")
        else:
            data = _verified(download(source, timeout), wanted, source)
            if cached is not None:
                _write_executable(cached, data)
        binary = dest / name
        _write_executable(binary, _binary(tool, data, source))
    reported = reported_version(tool, str(binary))
    if reported.removeprefix("v") != version.removeprefix("v"):
        raise ToolInstallError(f"{binary} reports {name} {reported}, not the pinned {version}")
    return binary
