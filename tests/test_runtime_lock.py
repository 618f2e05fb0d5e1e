"""requirements/runtime.lock pins, by version and hash, everything the actions install.

The composite actions install scangate's dependencies from this lock with --require-hashes and
scangate itself with --no-deps: a dependency added to pyproject.toml but missing from the lock
would make every pipeline fail to install, so the two must agree.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from tests.support.lock import LOCK, locked_pins

REPO = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_runtime_dependency_and_the_build_backend_islocked_pins() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    wanted = {_name(r) for r in project["project"]["dependencies"]}
    wanted |= {_name(r) for r in project["build-system"]["requires"]}
    missing = wanted - set(locked_pins())
    assert not missing, f"not in {LOCK.name}: {sorted(missing)}: regenerate it (see its header)"


def test_every_pin_carries_hashes() -> None:
    text = LOCK.read_text(encoding="utf-8")
    blocks = re.split(r"\n(?=[A-Za-z0-9._-]+==)", text)
    pinned = [b for b in blocks if re.match(r"^[A-Za-z0-9._-]+==", b)]
    assert pinned
    for block in pinned:
        assert "--hash=sha256:" in block, block.splitlines()[0]


def test_the_setup_action_installs_from_the_lock_with_hashes() -> None:
    script = (REPO / "actions" / "setup" / "install.sh").read_text(encoding="utf-8")
    assert '--require-hashes -r "$lock"' in script
    assert "--no-deps --no-build-isolation" in script
