"""Severities, their order, and the numbers GitHub and GitLab want for them."""

from __future__ import annotations

from enum import IntEnum


class Severity(IntEnum):
    UNKNOWN = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def key(self) -> str:
        """The lowercase name used in policies and the JSON summary."""
        return self.name.lower()

    @classmethod
    def parse(cls, value: object) -> Severity:
        """Parse a severity name in any case; raise ValueError for anything else."""
        if isinstance(value, str):
            member = _BY_NAME.get(value.strip().upper())
            if member is not None:
                return member
        raise ValueError(
            f"unknown severity {value!r} (expected one of {', '.join(s.name for s in cls)})"
        )


_BY_NAME = {s.name: s for s in Severity}

# Highest first: the order of every list a human reads.
DESCENDING = sorted(Severity, reverse=True)

# GitHub's security-severity when the report carries no CVSS score (Trivy's own mapping).
DEFAULT_SECURITY_SEVERITY = {
    Severity.CRITICAL: 9.5,
    Severity.HIGH: 8.0,
    Severity.MEDIUM: 5.5,
    Severity.LOW: 2.0,
    Severity.UNKNOWN: 0.0,
}

SARIF_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.UNKNOWN: "note",
}

GITLAB_SEVERITY = {
    Severity.CRITICAL: "Critical",
    Severity.HIGH: "High",
    Severity.MEDIUM: "Medium",
    Severity.LOW: "Low",
    Severity.UNKNOWN: "Unknown",
}
