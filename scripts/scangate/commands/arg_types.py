"""argparse ``type=`` functions more than one subcommand uses.

argparse answers a ``type=`` function's ValueError with "invalid <name> value" and drops the
reason; an ArgumentTypeError's message is shown as it is. ``reasoned`` turns a parser's
ValueError into that one-line usage error (exit 2) with the parser's own reason.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

from scangate.severity import Severity

T = TypeVar("T")


def reasoned(parse: Callable[[str], T]) -> Callable[[str], T]:
    def convert(value: str) -> T:
        try:
            return parse(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


# --fail-on of `gate` and `plan pull-request`.
severity = reasoned(Severity.parse)
