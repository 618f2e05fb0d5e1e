"""Errors of the push step, each a one-line :class:`ScangateError`."""

from __future__ import annotations

from scangate.errors import EXIT_VIOLATION, ScangateError


class ArchiveError(ScangateError):
    """The image archive cannot be read, or is not the image that was scanned."""


class RegistryError(ScangateError):
    """The registry refused a request, or does not hold what was pushed."""


class DecisionError(ScangateError):
    """The gate's recorded decision is missing, unreadable or about another image."""


class NotPassedError(ScangateError):
    """The gate's recorded decision for this image is not a pass: exit 1, the policy's code."""

    exit_code = EXIT_VIOLATION
