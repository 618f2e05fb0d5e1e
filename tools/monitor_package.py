"""Build the monitor's Lambda zip reproducibly: scangate + requirements/runtime.lock, nothing else.

    python -m tools.monitor_package --output dist/scangate-monitor.zip

- Dependencies: exactly the pins of requirements/runtime.lock, installed with --require-hashes
  and --no-deps as wheels for the Lambda runtime (CPython 3.12, manylinux x86_64): the templates'
  runtime is python3.12, the first Python runtime on Amazon Linux 2023 (python3.11 runs on
  Amazon Linux 2, whose support ended 2026-06-30), and the lock is compiled with Python 3.12
  (tests/monitor/test_runtime_lock.py). Wheels come from the project's wheelhouse
  (tools/pkgindex: downloaded once through pip, hash-checked).
- scangate: the package's files under scripts/scangate as committed at a git revision (default
  HEAD), never the working tree's uncommitted state.
- The zip: entries sorted by name, every timestamp 1980-01-01 00:00, mode 0644 (0755 for
  directories), deflate level 9, no extra fields: the same inputs give the same bytes.
The handler setting is ``scangate.monitor.handler.handler``.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from tools.pkgindex import DEFAULT_WHEELHOUSE, download

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCK = REPO_ROOT / "requirements" / "runtime.lock"
SOURCE = REPO_ROOT / "scripts" / "scangate"
PYTHON_VERSION = "3.12"
PLATFORM = "manylinux2014_x86_64"
EPOCH = (1980, 1, 1, 0, 0, 0)
# The lock's build backend pins (setuptools, wheel) build scangate; the function never runs them.
# Console scripts (bin/) carry this machine's interpreter path and are never used by Lambda.
NOT_SHIPPED = ("setuptools", "wheel", "pkg_resources", "_distutils_hack",
               "distutils-precedence.pth", "bin")


def _install(stage: Path, wheelhouse: Path) -> None:
    download([LOCK], wheelhouse, python_version=PYTHON_VERSION)
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-index", "--find-links", str(wheelhouse), "--require-hashes", "--no-deps",
        "--only-binary", ":all:", "--platform", PLATFORM, "--python-version", PYTHON_VERSION,
        "--implementation", "cp", "--no-compile", "--target", str(stage), "-r", str(LOCK),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"monitor_package: pip install failed:\n{result.stderr.strip()}")
    for name in NOT_SHIPPED:
        for path in stage.glob(f"{name}*"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def _git(*args: str) -> bytes:
    result = subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True,
                            check=False)
    if result.returncode != 0:
        raise SystemExit(f"monitor_package: git {' '.join(args)}: "
                         f"{result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def _copy_source(stage: Path, revision: str) -> None:
    prefix = SOURCE.relative_to(REPO_ROOT).as_posix() + "/"
    listing = _git("ls-tree", "-r", "-z", "--full-tree", revision, "--", prefix)
    for entry in filter(None, listing.split(b"\0")):
        meta, path = entry.decode().split("\t", 1)
        if meta.split()[1] != "blob" or "__pycache__" in path:
            continue
        target = stage / "scangate" / path[len(prefix):]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_git("cat-file", "blob", meta.split()[2]))


def _zip(stage: Path, output: Path) -> None:
    entries = sorted((p.relative_to(stage).as_posix() + ("/" if p.is_dir() else ""), p)
                      for p in stage.rglob("*") if "__pycache__" not in p.parts)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(output.suffix + ".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for name, path in entries:
            if path.is_dir():
                info = zipfile.ZipInfo(name, EPOCH)
                info.external_attr = (0o40755 << 16) | 0x10
                archive.writestr(info, b"")
                continue
            info = zipfile.ZipInfo(name, EPOCH)
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    partial.replace(output)


def build(output: Path, revision: str = "HEAD", wheelhouse: Path = DEFAULT_WHEELHOUSE) -> str:
    """Write the zip; return its sha256."""
    with tempfile.TemporaryDirectory(prefix="scangate-monitor-") as temp:
        stage = Path(temp) / "package"
        stage.mkdir()
        _install(stage, wheelhouse)
        _copy_source(stage, revision)
        _zip(stage, output)
    return hashlib.sha256(output.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.monitor_package",
                                     description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "dist" / "scangate-monitor.zip")
    parser.add_argument("--revision", default="HEAD",
                        help="git revision whose scripts/scangate is packaged (default HEAD)")
    args = parser.parse_args(argv)
    digest = build(args.output, args.revision)
    print(f"{args.output}: sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
