"""A CI step's outputs: `KEY=VALUE` lines appended to a file (GitHub's GITHUB_OUTPUT; a dotenv
report on GitLab). Values are single lines: scangate's outputs are compact JSON or words. And
run_scangate, for a step that runs several subcommands."""

from __future__ import annotations

from scangate.errors import EXIT_ERROR, OutputError


def run_scangate(argv: list[str]) -> int:
    """Another scangate subcommand, in this process, as its own exit code (a step that runs
    several, such as gate-job run, records each one's result instead of ending with it)."""
    from scangate._cli import main

    try:
        return main(argv)
    except SystemExit as exc:  # argparse's usage error: its message is out, its code is 2
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR


def append_outputs(path: str, lines: list[str]) -> None:
    # A line break inside a value would start an output of its own (`decision=pass`).
    broken = [line.split("=", 1)[0] for line in lines if "\n" in line or "\r" in line]
    if broken:
        raise OutputError(f"the step output {broken[0]} would span lines: refusing to write it "
                          "(a path or name with a line break?)")
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.writelines(f"{line}\n" for line in lines)
    except OSError as exc:
        raise OutputError(f"{path}: cannot append the step outputs ({exc.strerror}); check "
                          "--outputs ($GITHUB_OUTPUT)") from None
