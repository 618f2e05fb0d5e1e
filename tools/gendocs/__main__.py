"""``python -m tools.gendocs --write | --check``: README.md and docs/*.md against the YAML."""

from __future__ import annotations

import argparse
import sys

from tools.gendocs import REPO_ROOT, refreshed


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.gendocs")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    args = parser.parse_args()
    stale = []
    for path, (current, fresh) in refreshed().items():
        if fresh == current:
            continue
        if args.write:
            path.write_text(fresh, encoding="utf-8")
        else:
            stale.append(str(path.relative_to(REPO_ROOT)))
    if stale:
        print(f"{', '.join(stale)} out of date with the YAML: run `make docs`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
