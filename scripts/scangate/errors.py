"""The error tree: every failure scangate reports knows its message and its exit code.

Only these are caught at the top of the CLI (anything else is a bug and still exits 2, with a
traceback, so it is never mistaken for a pass).
"""

from __future__ import annotations

EXIT_PASS = 0
EXIT_VIOLATION = 1
EXIT_ERROR = 2


class ScangateError(Exception):
    """A failure scangate explains in one line: what, where, how to fix. Exit code 2."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ReportError(ScangateError):
    """A scanner report is missing, empty, truncated, not JSON or not a Trivy report."""


class PolicyError(ScangateError):
    """The policy cannot be read or does not follow the policy schema."""


class OutputError(ScangateError):
    """An output cannot be written."""


class UsageError(ScangateError):
    """The command line asks for something contradictory."""


class AwsError(ScangateError):
    """An AWS call failed or returned a partial result that cannot be completed."""


class NotifyError(ScangateError):
    """A notification could not be delivered."""


class ScanError(ScangateError):
    """The scanner could not be run, or did not write a report."""
