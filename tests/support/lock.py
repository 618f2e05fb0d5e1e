"""requirements/runtime.lock as data: the pins the actions and the GitLab template install."""

from __future__ import annotations

import re
from pathlib import Path

LOCK = Path(__file__).resolve().parents[2] / "requirements" / "runtime.lock"


def normalized(name: str) -> str:
    """PEP 503's normal form: `ruamel.yaml`, `Ruamel_Yaml` and `ruamel-yaml` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_pins(lock: Path = LOCK) -> dict[str, str]:
    """Package name (normalized) -> pinned version."""
    pins = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9._-]+)==(\S+)", line)
        if match:
            pins[normalized(match.group(1))] = match.group(2)
    return pins
