"""The development venv is as reproducible as the actions' install.

tools/setup/20-python.sh builds .venv only from hash-pinned locks (requirements/dev.lock and
requirements/*-hashed.txt) plus scangate itself with --no-deps. These tests fail when the venv
holds anything else, a different version, or a broken dependency: a venv that drifted from the
locks passes for one developer and fails for everyone else (issue 13, section 0).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.lock import locked_pins, normalized

REPO = Path(__file__).resolve().parents[1]
REQ = REPO / "requirements"
LOCKS = [REQ / "dev.lock", *sorted(REQ.glob("*-hashed.txt"))]
IN_VENV = Path(sys.prefix).resolve() == (REPO / ".venv").resolve()


def _all_pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for lock in LOCKS:
        pins.update(locked_pins(lock))
    return pins


def _blocks(lock: Path) -> list[str]:
    text = lock.read_text(encoding="utf-8")
    return [b for b in re.split(r"\n(?=[A-Za-z0-9._-]+==)", text)
            if re.match(r"^[A-Za-z0-9._-]+==", b)]


@pytest.mark.parametrize("lock", [*LOCKS, REQ / "checkov.lock"], ids=lambda p: p.name)
def test_every_pin_carries_hashes(lock: Path) -> None:
    blocks = _blocks(lock)
    assert blocks, f"{lock.name} pins nothing"
    for block in blocks:
        assert "--hash=sha256:" in block, f"{lock.name}: {block.splitlines()[0]} has no hash"


def test_dev_lock_runs_scangate_on_the_runtime_pins() -> None:
    runtime = locked_pins()
    dev = locked_pins(REQ / "dev.lock")
    differ = {name: (version, dev.get(name)) for name, version in runtime.items()
              if dev.get(name) != version}
    assert not differ, (f"dev.lock and runtime.lock disagree (runtime, dev): {differ}; "
                        "regenerate dev.lock (see requirements/dev.in)")


def test_every_requirements_input_is_locked() -> None:
    """Each requirements/*.txt that is not a hashed lock itself is an input of dev.in."""
    dev_in = (REQ / "dev.in").read_text(encoding="utf-8")
    inputs = {p.name for p in REQ.glob("*.txt") if not p.name.endswith("-hashed.txt")}
    named = set(re.findall(r"^-r (\S+)$", dev_in, flags=re.M))
    assert inputs <= named, f"not in requirements/dev.in: {sorted(inputs - named)}"


def test_setup_installs_only_from_locks() -> None:
    script = (REPO / "tools" / "setup" / "20-python.sh").read_text(encoding="utf-8")
    installs = [line.strip() for line in script.splitlines() if "pip install" in line]
    assert installs
    for line in installs:
        assert "--no-deps" in line or line.endswith("\\"), line
    assert "--require-hashes --no-deps" in script
    assert "--no-deps --no-build-isolation -e ." in script
    assert "--upgrade" not in script, "an unpinned upgrade resolves whatever is newest"


@pytest.mark.skipif(not IN_VENV, reason="runs in the project's .venv (make test) only")
def test_venv_matches_the_locks_exactly() -> None:
    out = subprocess.run([sys.executable, "-m", "pip", "list", "--format=freeze",
                          "--disable-pip-version-check"],
                         capture_output=True, text=True, check=True).stdout
    installed = {}
    for line in out.splitlines():
        name, _, version = line.partition("==")
        installed[normalized(name)] = version
    installed.pop("scangate", None)
    want = _all_pins()
    extra = sorted(set(installed) - set(want))
    missing = sorted(set(want) - set(installed))
    wrong = sorted(f"{n} {installed[n]} (lock: {want[n]})" for n in set(want) & set(installed)
                   if installed[n] != want[n])
    assert not (extra or missing or wrong), (
        f".venv differs from the locks: extra {extra}, missing {missing}, wrong {wrong}; "
        "run `rm -rf .venv && make setup`")


@pytest.mark.skipif(not IN_VENV, reason="runs in the project's .venv (make test) only")
def test_pip_check_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "pip", "check",
                             "--disable-pip-version-check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
