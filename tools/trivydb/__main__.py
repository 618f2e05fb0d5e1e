"""`python -m tools.trivydb --cache-dir DIR`: build the offline Trivy DB into DIR (idempotent).

Prints the Trivy flags to use it. Exit 0 built or already current, 2 on bad fixtures or I/O.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from tools.trivydb import DEFAULT_CACHE_DIR, FixtureError, build_db, offline_args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.trivydb", description=__doc__)
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=DEFAULT_CACHE_DIR,
        help="Trivy cache dir to write db/ into (default: .tools/trivy-cache)",
    )
    parser.add_argument("--force", action="store_true", help="rebuild even when current")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        db_path = build_db(args.cache_dir, force=args.force)
    except (FixtureError, OSError) as exc:
        hint = "fix tools/trivydb/fixtures/*.yaml or the cache dir"
        print(f"trivydb: {exc} ({hint})", file=sys.stderr)
        return 2
    print(f"trivydb: {db_path} ready in {time.monotonic() - started:.2f}s", file=sys.stderr)
    print(shlex.join(offline_args(args.cache_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
