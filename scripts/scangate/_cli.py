"""The ``scangate`` command line: one entry point, one module per subcommand."""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import traceback
from pathlib import PurePath
from types import ModuleType

from scangate import __version__, env_inputs
from scangate.errors import EXIT_ERROR, ScangateError, UsageError

# Each module in scangate.commands provides add_parser(subparsers) and run(args) -> int.
COMMANDS = (
    "scan", "gate", "securityhub", "ecr_findings", "notify", "pin_image", "assume_role", "push",
    "deploy", "image_tag", "mark_deployed", "comment", "fetch_baseline",
    "feeds", "openvex", "plan", "install_tool", "enforce", "gate_job", "artifact", "results",
    "comment_job", "image", "deploy_job",
)


def _command_modules(names: tuple[str, ...] = COMMANDS) -> list[ModuleType]:
    return [importlib.import_module(f"scangate.commands.{name}") for name in names]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse exits 2 on usage errors, which is our error code too; keep its message.
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"scangate: error: {message}\n")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand; with ``argv`` naming one, of that one only.

    Importing a subcommand's module can be costly (the AWS ones load boto3: about 0.1 s and
    18 MiB), and ``scangate gate`` in every pipeline would pay for all of them.
    """
    wanted = next((arg for arg in argv or [] if not arg.startswith("-")), "")
    names: tuple[str, ...] = (
        (wanted.replace("-", "_"),) if wanted.replace("-", "_") in COMMANDS else COMMANDS
    )
    if argv == ["--version"]:
        names = ()  # every install checks it, in every job: no subcommand's module at all
    parser = _Parser(
        prog="scangate",
        description="Container-image security gate: gate Trivy reports on a policy and publish "
        "the findings (SARIF, GitLab, Security Hub, summaries). Exit codes: 0 pass, 1 policy "
        "violated, 2 error.",
    )
    parser.add_argument("--version", action="version", version=f"scangate {__version__}")
    parser.add_argument(env_inputs.FLAG, nargs="?", const="", metavar="gitlab",
                        help="first argument only: each option of COMMAND not on the command "
                        "line is taken from INPUT_<OPTION> (GitHub's action-input convention), "
                        "or with =gitlab from the GitLab template's variables (see "
                        "scangate/env_inputs.py)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for module in _command_modules(names):
        module.add_parser(subparsers)
    if names and names != COMMANDS and wanted not in subparsers.choices:
        return build_parser()  # a module whose command has another name: all of them
    return parser


_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_surrogates(args: argparse.Namespace) -> None:
    """A command-line value that is not UTF-8 (a file name, a --tag, an --author) reaches Python
    as lone surrogates, which no JSON output (summary.json, SARIF, the GitLab report, OpenVEX,
    ASFF) can carry: refused up front for every command, whichever outputs were asked for,
    instead of crashing in a writer."""
    for name, value in vars(args).items():
        for item in value if isinstance(value, list) else [value]:
            text = str(item) if isinstance(item, PurePath) else item
            if isinstance(text, str) and _SURROGATE.search(text):
                try:
                    shown = os.fsencode(text).decode("utf-8", "backslashreplace")
                except UnicodeEncodeError:  # a surrogate no file name decodes to
                    shown = text.encode("utf-8", "backslashreplace").decode("utf-8")
                raise UsageError(f"{shown}: --{name.replace('_', '-')} is not UTF-8 text (a "
                                 "file name with bytes that are not UTF-8?): rename it or "
                                 "pass another value to it")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from_env = bool(argv) and argv[0].split("=", 1)[0] == env_inputs.FLAG
    source = argv[0].partition("=")[2] if from_env else ""
    if from_env:
        argv = argv[1:]
    parser = build_parser(argv)
    if from_env:
        try:
            argv = env_inputs.argv_with_env_inputs(parser, argv, os.environ, source)
        except ScangateError as exc:
            print(f"scangate: error: {exc.message}", file=sys.stderr)
            return exc.exit_code
    args = parser.parse_args(argv)
    try:
        _refuse_surrogates(args)
        code: int = args.run(args)
    except ScangateError as exc:
        print(f"scangate: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("scangate: error: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except Exception:  # noqa: BLE001 - a bug must still fail closed, and never look like exit 1
        traceback.print_exc()
        print("scangate: error: internal error (a bug: please report it with the traceback "
              "above); failing closed", file=sys.stderr)
        return EXIT_ERROR
    return code


if __name__ == "__main__":
    sys.exit(main())
