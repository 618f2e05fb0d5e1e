"""Validators for the SARIF and GitLab schemas kept in ../shared/schemas.

Those files are reference data that stays outside the repository: a clone without ../shared
gets None here, and schema checks are skipped with a reason (the structural checks in each test
still run, so no behaviour is tested only against ../shared).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SARIF_SCHEMA = SHARED / "schemas" / "sarif-schema-2.1.0.json"
GITLAB_SCHEMA = SHARED / "schemas" / "gitlab-container-scanning-report-format-15.2.1.json"
GOLDENS = SHARED / "conformance" / "trivy-goldens"


def _validator(path: Path) -> Any:
    if not path.is_file():
        return None
    schema = json.loads(path.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


@cache
def sarif_validator() -> Any:
    return _validator(SARIF_SCHEMA)


@cache
def gitlab_validator() -> Any:
    return _validator(GITLAB_SCHEMA)
