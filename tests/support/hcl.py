"""Terraform files as python-hcl2 parses them, with its quoting and block markers taken out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hcl2


def unquote(value: Any) -> Any:
    """python-hcl2 keeps string literals quoted ('"x"') and marks blocks with __is_block__."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if k != "__is_block__"}
    return value


def load_terraform(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return dict(unquote(hcl2.load(handle)))
