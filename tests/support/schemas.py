"""Validators for the SARIF and GitLab schemas kept in ../shared/schemas, with format checking.

Those files are reference data that stays outside the repository. ``sarif_validator()`` and
``gitlab_validator()`` return None without them, for tests that also check structure on their
own; ``require_sarif_validator()`` and ``require_gitlab_validator()`` skip the calling test
with the reason, so a clone without ../shared shows schema checks as SKIPPED, never as passed.

Formats are checked (``uri``, ``uri-reference`` per RFC 3986, ``date-time``): GitHub logs a URI
that breaks its format and may then not open the alert at a file, and SARIF Multitool calls
it an error.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.support import rfc3986

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SARIF_SCHEMA = SHARED / "schemas" / "sarif-schema-2.1.0.json"
GITLAB_SCHEMA = SHARED / "schemas" / "gitlab-container-scanning-report-format-15.2.1.json"
GOLDENS = SHARED / "conformance" / "trivy-goldens"


def format_checker() -> Any:
    """jsonschema's checker, with URI checks that do not depend on optional packages."""
    checker = jsonschema.FormatChecker()
    checker.checks("uri")(rfc3986.is_uri)
    checker.checks("uri-reference")(rfc3986.is_uri_reference)
    if "date-time" not in checker.checkers:  # rfc3339-validator is in the dev lock
        raise RuntimeError("jsonschema cannot check date-time here: rfc3339-validator missing")
    return checker


def _validator(path: Path) -> Any:
    if not path.is_file():
        return None
    schema = json.loads(path.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=format_checker())


@cache
def sarif_validator() -> Any:
    return _validator(SARIF_SCHEMA)


@cache
def gitlab_validator() -> Any:
    return _validator(GITLAB_SCHEMA)


def require_sarif_validator() -> Any:
    validator = sarif_validator()
    if validator is None:
        pytest.skip(f"SARIF schema not found at {SARIF_SCHEMA} (../shared is absent)")
    return validator


def require_gitlab_validator() -> Any:
    validator = gitlab_validator()
    if validator is None:
        pytest.skip(f"GitLab report schema not found at {GITLAB_SCHEMA} (../shared is absent)")
    return validator


def schema_errors(validator: Any, doc: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(doc)]
