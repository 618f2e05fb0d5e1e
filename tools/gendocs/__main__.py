"""``python -m tools.gendocs --write | --check``."""

from __future__ import annotations

import argparse
import sys

from tools.gendocs import README, apply, blocks


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.gendocs")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    args = parser.parse_args()
    current = README.read_text(encoding="utf-8")
    fresh = apply(current, blocks())
    if args.write:
        README.write_text(fresh, encoding="utf-8")
        return 0
    if fresh != current:
        print("README.md is out of date with the YAML: run `make docs`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
