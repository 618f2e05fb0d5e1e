"""``scangate install-tool``: download a pinned Trivy or kubectl, verify it, print its path."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from scangate.errors import EXIT_PASS

NAME = "install-tool"


def add_parser(subparsers: Any) -> None:
    from scangate.tool_install import TOOLS

    parser = subparsers.add_parser(
        NAME,
        help="download a pinned tool (trivy, kubectl), verify its sha256 and version",
        description="Downloads the release of TOOL (or takes it from --cache-dir), refuses it "
        "unless its SHA-256 is --sha256 (a cached file too: caches are written by other "
        "pipelines), writes the binary to --dest, and checks that it reports --version. Prints "
        "the binary's path on stdout. Exit 2 on any mismatch or failure; nothing is run before "
        "the hash matches.",
    )
    parser.add_argument("tool", choices=sorted(TOOLS), help="the tool to install")
    parser.add_argument("--version", required=True, dest="tool_version", metavar="VERSION",
                        help="the release (trivy: 0.75.0; kubectl: v1.36.4); never `latest`")
    parser.add_argument("--sha256", required=True, metavar="HEX",
                        help="SHA-256 of the release file (trivy: the .tar.gz of its "
                        "checksums.txt; kubectl: the binary). Empty: use TOOL from PATH, still "
                        "checked against --version (an image that ships it)")
    parser.add_argument("--url", default="", metavar="URL",
                        help="where to download it (a mirror); {version}, {asset} and {arch} "
                        "are replaced. Default: the tool's official release URL")
    parser.add_argument("--dest", type=Path, required=True, metavar="DIR",
                        help="directory the binary is written to")
    parser.add_argument("--cache-dir", type=Path, metavar="DIR",
                        help="keep the download here and reuse it when its sha256 matches")
    parser.add_argument("--timeout", type=float, default=300, metavar="SECONDS",
                        help="download timeout (default 300)")
    parser.add_argument("--checksums", type=Path, metavar="FILE",
                        help="pins, one `<version> <asset> <sha256>` per line: an empty "
                        "--sha256 is then this file's pin for --version (never PATH); none is "
                        "an error")
    parser.add_argument("--outputs", metavar="FILE",
                        help="also append TOOL=<path> to FILE ($GITHUB_OUTPUT)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from scangate.step_outputs import append_outputs
    from scangate.tool_install import install, pinned_sha256

    sha256 = args.sha256
    if not sha256.strip() and args.checksums is not None:
        sha256 = pinned_sha256(args.tool, args.tool_version, args.checksums)
    binary = install(args.tool, args.tool_version, sha256, args.dest, url=args.url,
                     cache_dir=args.cache_dir, timeout=args.timeout)
    print(binary)
    if args.outputs:
        append_outputs(args.outputs, [f"{args.tool}={binary}"])
    return EXIT_PASS
