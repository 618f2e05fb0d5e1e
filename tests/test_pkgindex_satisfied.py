"""tools.pkgindex runs pip's download check again only when its answer could change.

The check (`pip download --no-index --find-links WHEELHOUSE`) cost about 6 s of CPU per
serve_index: the demo's two variants, every test worker's package index, the buildspec's and
the monitor package's wheelhouse. Its answer depends on the requirements, the target and host
Python and the wheelhouse's files, so the same inputs skip it, and any change runs it again.
Real pip runs here against a real (hand-made, pure-Python) wheel; the spy only counts.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tools import pkgindex

WHEEL = "demo_pkg-1.0-py3-none-any.whl"


def _wheel(path: Path) -> Path:
    files = {
        "demo_pkg/__init__.py": "",
        "demo_pkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\n",
        "demo_pkg-1.0.dist-info/WHEEL": ("Wheel-Version: 1.0\nGenerator: tests\n"
                                         "Root-Is-Purelib: true\nTag: py3-none-any\n"),
    }
    record = "".join(f"{name},,\n" for name in files) + "demo_pkg-1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in {**files, "demo_pkg-1.0.dist-info/RECORD": record}.items():
            archive.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), text)
    return path


@pytest.fixture
def pip_runs(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each pip download pkgindex starts is offline (from the wheelhouse only).

    The first one runs real pip (with no pip config): the wheelhouse below is one pip
    accepts. Later ones answer as that run did without starting pip again (about a second of
    CPU each): what is tested is whether pkgindex asks, not pip. A download from an index is
    refused: none is reachable from a test.
    """
    for name in list(os.environ):
        if name.startswith("PIP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    runs: list[bool] = []
    answers: list[tuple[bool, str]] = []
    real: Callable[..., tuple[bool, str]] = pkgindex._pip_download

    def spy(args: list[str], wheelhouse: Path, offline: bool) -> tuple[bool, str]:
        runs.append(offline)
        if not offline:
            return False, "no index in tests"
        if not answers:
            answers.append(real(args, wheelhouse, offline))
        return answers[0]

    monkeypatch.setattr(pkgindex, "_pip_download", spy)
    return runs


def test_the_check_runs_again_only_when_its_answer_could_change(
    tmp_path: Path, pip_runs: list[bool]
) -> None:
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    digest = hashlib.sha256(_wheel(wheelhouse / WHEEL).read_bytes()).hexdigest()
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"demo-pkg==1.0 --hash=sha256:{digest}\n")
    other = tmp_path / "requirements-other.txt"
    other.write_text(f"demo-pkg==1.0 \\\n    --hash=sha256:{digest}\n")

    def download(*files: Path, **kwargs: Any) -> int:
        before = len(pip_runs)
        pkgindex.download(list(files or [requirements]), wheelhouse, **kwargs)
        return len(pip_runs) - before

    assert download(requirements, other) == 2  # pip's check of each file, the first time
    assert download() == 0  # nothing changed
    assert download(other) == 0  # each file is remembered on its own
    third = tmp_path / "requirements-third.txt"
    third.write_text(f"demo-pkg==1.0 --hash=sha256:{digest} --hash=sha256:{'0' * 64}\n")
    assert download(requirements, third) == 2  # one of them is new: pip checks both
    runs = len(pip_runs)
    with pkgindex.serve_index([requirements], wheelhouse) as url:  # as download() does
        assert url.endswith("/simple/")
    assert len(pip_runs) == runs
    assert download(python_version="3.11") == 1  # another target Python
    assert download(python_version="3.11") == 0
    requirements.write_text(f"demo-pkg==1.0 --hash=sha256:{digest}  # same pin\n")
    assert download() == 1  # other requirements
    assert download(other) == 0
    _wheel(wheelhouse / "other_pkg-1.0-py3-none-any.whl")
    assert download() == 1  # another file in the wheelhouse
    (wheelhouse / "other_pkg-1.0-py3-none-any.whl").unlink()
    assert download() == 0  # the listing pip already checked
    os.utime(wheelhouse / WHEEL, ns=(1, 1))
    assert download() == 1  # a file changed
    including = tmp_path / "requirements-including.txt"
    including.write_text(f"-r {requirements.name}\n")
    assert download(including) == 1
    assert download(including) == 1  # what it includes may change unseen: never remembered
    assert all(pip_runs)  # every check was satisfied from the wheelhouse


def test_a_failed_check_is_never_remembered(tmp_path: Path, pip_runs: list[bool]) -> None:
    """Real pip refuses a wheel whose hash is not the pinned one, each time it is asked."""
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    _wheel(wheelhouse / WHEEL)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"demo-pkg==1.0 --hash=sha256:{'0' * 64}\n")
    for attempt in (1, 2):
        with pytest.raises(pkgindex.PackageIndexError, match="pip download"):
            pkgindex.download([requirements], wheelhouse)
        assert pip_runs == [True, False] * attempt  # the wheelhouse, then an index
    assert not (wheelhouse / pkgindex.SATISFIED).exists()
