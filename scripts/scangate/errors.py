"""The error tree: every failure scangate reports knows its message and its exit code.

Only these are caught at the top of the CLI (anything else is a bug and still exits 2, with a
traceback, so it is never mistaken for a pass).
"""

from __future__ import annotations

import re

EXIT_PASS = 0
EXIT_VIOLATION = 1
EXIT_ERROR = 2


# An error message is one line a person reads: whatever it quotes (a key, a YAML snippet, a
# scanner's output) must not make it megabytes long or move the terminal's cursor.
MAX_MESSAGE = 2000
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def bounded(message: str) -> str:
    """``message`` on one line, control characters escaped, at most MAX_MESSAGE characters."""
    if len(message) > 4 * MAX_MESSAGE:
        message = message[: 4 * MAX_MESSAGE]  # escaping below never needs more than this
        cut = True
    else:
        cut = False
    one_line = _CONTROL.sub(lambda m: " " if m.group() in "\r\n\t" else
                            f"\\x{ord(m.group()):02x}", message)
    if cut or len(one_line) > MAX_MESSAGE:
        return one_line[: MAX_MESSAGE - 40] + " ... (message cut short)"
    return one_line


class ScangateError(Exception):
    """A failure scangate explains in one line: what, where, how to fix. Exit code 2."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str) -> None:
        message = bounded(message)
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


class SummaryError(ScangateError):
    """The gate's summary.json is missing, unreadable or not what `scangate gate` writes."""


class ScanError(ScangateError):
    """The scanner could not be run, or did not write a report."""


class CommentError(ScangateError):
    """The review comment cannot be rendered or posted."""


class FeedError(ScangateError):
    """A risk feed (CISA KEV, FIRST EPSS) is missing, malformed or too old for the policy."""


class ApiError(ScangateError):
    """A call to GitHub's or GitLab's REST API failed or was refused."""
