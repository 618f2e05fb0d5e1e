"""``scangate --inputs-from-env COMMAND``: a CI step's inputs as environment variables.

A GitHub composite action or workflow step hands its inputs to a script through its `env:`
block (never through `${{ }}` inside the script). Spelling each one out again as a flag in shell
(`if [ -n "$INPUT_X" ]; then args+=(--x "$INPUT_X"); fi`) is logic written per platform; this
reads them once, here. The convention is GitHub's own for action inputs (actions/toolkit
`core.getInput` reads `INPUT_<NAME>`): each long option `--some-name` of the command that the
command line does not give takes `INPUT_SOME_NAME` when that is set and not blank:

- an option that takes a value gets it as it is (`--some-name=VALUE`);
- a repeatable option gets one value per non-blank line (GitHub's multi-line inputs);
- an on/off flag takes `true` (on) or `false` (off); anything else is refused, naming it.

Only with `--inputs-from-env`: no other invocation reads `INPUT_*`, so a stray variable in a
GitLab pipeline or a shell never changes what scangate does.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from scangate.errors import UsageError

FLAG = "--inputs-from-env"
PREFIX = "INPUT_"


def _subparser(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.ArgumentParser:
    """The parser of the (nested) subcommand `argv` names: its options are the inputs."""
    positionals = iter(arg for arg in argv if not arg.startswith("-"))
    while True:
        subs = [action for action in parser._actions
                if isinstance(action, argparse._SubParsersAction)]
        if not subs:
            return parser
        name = next(positionals, None)
        if name is None or name not in subs[0].choices:
            return parser  # argparse itself then says what is missing
        parser = subs[0].choices[name]


def _given(option: str, argv: list[str]) -> bool:
    return any(arg == option or arg.startswith(option + "=") for arg in argv)


def env_name(option: str) -> str:
    return PREFIX + option.lstrip("-").upper().replace("-", "_")


def argv_with_env_inputs(parser: argparse.ArgumentParser, argv: list[str],
                         environ: Mapping[str, str]) -> list[str]:
    """`argv` and, appended, each of its command's options that only the environment gives."""
    extra: list[str] = []
    for action in _subparser(parser, argv)._actions:
        longs = [s for s in action.option_strings if s.startswith("--")]
        if not longs or isinstance(action, argparse._HelpAction | argparse._VersionAction):
            continue
        if any(_given(s, argv) for s in action.option_strings):
            continue  # the command line wins
        # The first of its long names that the environment sets (`--report`, `--reports`).
        option = next((s for s in longs if environ.get(env_name(s), "").strip()), "")
        if not option:
            continue
        name = env_name(option)
        value = environ[name]
        if isinstance(action, argparse._StoreTrueAction):
            if value.strip() not in ("true", "false"):
                raise UsageError(f"the input {option[2:]} must be true or false ({name}), "
                                 f"not {value!r}")
            if value.strip() == "true":
                extra.append(option)
        elif isinstance(action, argparse._AppendAction):
            lines = [line.rstrip("\r") for line in value.split("\n")]
            extra += [f"{option}={line}" for line in lines if line.strip()]
        else:
            extra.append(f"{option}={value}")
    return [*argv, *extra]
