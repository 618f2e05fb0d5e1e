"""Placeholder until the subcommand lands; it always fails closed."""

from __future__ import annotations

import argparse
from typing import Any

from scangate.errors import ScangateError

NAME = "notify"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(NAME, help="(not yet available)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    raise ScangateError(f"{NAME} is not available in this build")
