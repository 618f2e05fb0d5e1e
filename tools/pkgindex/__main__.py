"""`python -m tools.pkgindex`: a local package index of hash-pinned requirements.

    download --requirements F [--requirements F2 ...]   fill the wheelhouse (.tools/wheelhouse)
    serve    --requirements F [...] [--port P]           ... and serve it until interrupted

`serve` prints the index URL on stdout (pass it as `--build-arg PIP_INDEX_URL=URL` to
`docker build --network host`). Exit 0 on success or interruption, 2 on any error.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from tools.pkgindex import DEFAULT_WHEELHOUSE, IndexServer, PackageIndexError, download


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.pkgindex",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("download", "fill the wheelhouse"), ("serve", "fill it and serve it")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument(
            "--requirements",
            action="append",
            required=True,
            type=Path,
            metavar="FILE",
            help="hash-pinned requirements file; repeatable",
        )
        sub.add_argument(
            "--wheelhouse",
            type=Path,
            default=DEFAULT_WHEELHOUSE,
            help="download cache (default: .tools/wheelhouse)",
        )
        sub.add_argument(
            "--python-version",
            metavar="X.Y",
            help="pick wheels for this Python (the image's), not the host's",
        )
        if name == "serve":
            sub.add_argument(
                "--host",
                default="127.0.0.1",
                help="address to listen on (default: 127.0.0.1, loopback only)",
            )
            sub.add_argument(
                "--port", type=int, default=0, help="port to listen on (default: a free one)"
            )
    return parser


def _serve_until_stopped(server: IndexServer) -> None:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    print(server.url, flush=True)
    print("pkgindex: serving until interrupted (Ctrl-C)", file=sys.stderr)
    try:
        stop.wait()
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        wheelhouse = download(args.requirements, args.wheelhouse, args.python_version)
        if args.command == "download":
            print(f"pkgindex: {wheelhouse} ready", file=sys.stderr)
            return 0
        _serve_until_stopped(IndexServer(wheelhouse, args.host, args.port))
    except (PackageIndexError, OSError) as exc:
        print(f"pkgindex: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
