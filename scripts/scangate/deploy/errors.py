"""Errors of the deploy step, each a one-line :class:`ScangateError` (exit 2)."""

from __future__ import annotations

from scangate.errors import ScangateError


class DeployError(ScangateError):
    """The manifests cannot be deployed as asked, or kubectl failed."""
