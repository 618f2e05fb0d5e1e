"""actions/setup/install.sh reuses a virtualenv only when it is made of the same bytes.

Every scangate action of a job runs install.sh (setup, trivy, gate, comment,
securityhub). GitHub unpacks one commit of a repository once per job, so their checkouts share a
path; act unpacks each action on its own. The stamp is therefore the content the virtualenv is
built from (interpreter, package files, pyproject.toml, runtime.lock), not the path, and one
changed byte of it is a rebuild, never a reuse. These tests run install.sh itself with bash; no
package is installed (a rebuild is stopped at pip, offline, with no index).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.github.actrun import INSTALL_SH, REPO_ROOT, install_source_id

PYTHON = sys.executable
# What install.sh reads from a checkout (and what is stamped).
PARTS = ("pyproject.toml", "requirements/runtime.lock", "scripts/scangate", str(INSTALL_SH))


def _checkout(dest: Path) -> Path:
    for part in PARTS:
        source, target = REPO_ROOT / part, dest / part
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    return dest


def _fake_venv(venv: Path, stamp: str) -> Path:
    """A virtualenv as install.sh leaves it: bin/scangate and the stamp (plus a marker)."""
    (venv / "bin").mkdir(parents=True)
    scangate = venv / "bin" / "scangate"
    scangate.write_text("#!/bin/sh\necho 'scangate 0.1.0'\n")
    scangate.chmod(0o755)
    (venv / ".scangate-source").write_text(stamp)
    (venv / "marker").write_text("built earlier")
    return venv


def _install(checkout: Path, venv: Path, output: Path) -> subprocess.CompletedProcess[str]:
    empty = output.parent / "no-wheels"
    empty.mkdir(exist_ok=True)
    return subprocess.run(
        ["bash", str(checkout / INSTALL_SH)],
        env={"PATH": os.environ["PATH"], "HOME": str(output.parent), "SCANGATE_PYTHON": PYTHON,
             "SCANGATE_VENV": str(venv), "GITHUB_OUTPUT": str(output),
             # A rebuild stops at pip: no index, no wheels, no user configuration.
             "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(empty), "PIP_CONFIG_FILE": os.devnull},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_stamp_is_of_the_bytes_not_of_the_path(tmp_path: Path) -> None:
    first = _checkout(tmp_path / "a" / "actions-setup@sha")
    second = _checkout(tmp_path / "b" / "actions-gate@sha")
    stamp = install_source_id(first, PYTHON)
    assert stamp == install_source_id(second, PYTHON)
    # What pip leaves in the checkout it builds from, and files install.sh does not install,
    # are not part of it: the second action of a job still reuses the first one's virtualenv.
    for leftover in ("build/lib/scangate/__init__.py", "scripts/scangate.egg-info/PKG-INFO",
                     "scripts/scangate/__pycache__/_cli.cpython-311.pyc", "README.md",
                     "actions/gate/action.yml"):  # fmt: skip
        (second / leftover).parent.mkdir(parents=True, exist_ok=True)
        (second / leftover).write_text("x")
    assert install_source_id(second, PYTHON) == stamp


@pytest.mark.parametrize(
    "changed",
    ["pyproject.toml", "requirements/runtime.lock", "scripts/scangate/_cli.py",
     "scripts/scangate/schemas/policy.schema.json", "scripts/scangate/new_module.py"],
)  # fmt: skip
def test_one_changed_byte_changes_the_stamp(tmp_path: Path, changed: str) -> None:
    checkout = _checkout(tmp_path / "checkout")
    stamp = install_source_id(checkout, PYTHON)
    target = checkout / changed
    target.write_bytes((target.read_bytes() if target.exists() else b"") + b"\n")
    assert install_source_id(checkout, PYTHON) != stamp


def test_another_interpreter_changes_the_stamp(tmp_path: Path) -> None:
    checkout = _checkout(tmp_path / "checkout")
    other = tmp_path / "python3"
    other.write_text(f'#!/bin/sh\n[ "$1" = -VV ] && {{ echo "Python 3.99.0"; exit 0; }}\n'
                     f'exec {PYTHON} "$@"\n')  # fmt: skip
    other.chmod(0o755)
    assert install_source_id(checkout, str(other)) != install_source_id(checkout, PYTHON)


def test_a_virtualenv_of_the_same_source_elsewhere_is_reused(tmp_path: Path) -> None:
    built_from = _checkout(tmp_path / "setup")  # e.g. actions/setup, unpacked on its own
    checkout = _checkout(tmp_path / "gate")
    venv = _fake_venv(tmp_path / "venv", install_source_id(built_from, PYTHON))
    output = tmp_path / "github_output"
    proc = _install(checkout, venv, output)
    assert proc.returncode == 0, proc.stderr
    assert "scangate already installed from the same source" in proc.stdout
    assert (venv / "marker").exists()
    assert output.read_text() == f"scangate={venv}/bin/scangate\nversion=0.1.0\n"


def test_a_virtualenv_of_other_bytes_is_rebuilt_never_reused(tmp_path: Path) -> None:
    older = _checkout(tmp_path / "older")
    (older / "scripts" / "scangate" / "_cli.py").write_text("raise SystemExit('older')\n")
    checkout = _checkout(tmp_path / "checkout")
    venv = _fake_venv(tmp_path / "venv", install_source_id(older, PYTHON))
    output = tmp_path / "github_output"
    proc = _install(checkout, venv, output)
    # It removed the older virtualenv and went to pip, which has nothing to install from here.
    assert "already installed" not in proc.stdout
    assert not (venv / "marker").exists()
    assert proc.returncode != 0 and not output.exists(), proc.stdout + proc.stderr


def test_a_checkout_without_its_lock_is_refused_before_anything(tmp_path: Path) -> None:
    checkout = _checkout(tmp_path / "checkout")
    (checkout / "requirements" / "runtime.lock").unlink()
    venv = _fake_venv(tmp_path / "venv", install_source_id(_checkout(tmp_path / "b"), PYTHON))
    proc = _install(checkout, venv, tmp_path / "github_output")
    assert proc.returncode == 2
    assert "runtime.lock is missing: this checkout cannot be installed" in proc.stderr
    assert (venv / "marker").exists()
