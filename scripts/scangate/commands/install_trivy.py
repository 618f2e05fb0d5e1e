"""``scangate install-trivy``: a pinned Trivy release, verified by sha256 (scangate.trivy_install).

actions/trivy runs it after restoring its cache directory (untrusted); any platform can: the
tarball is taken from ``--dir`` when there, else downloaded, and used only when its sha256 is
the one pinned in ``--checksums`` (or ``--sha256``). Appends ``trivy=<path>`` to ``--outputs``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from scangate.errors import EXIT_PASS

NAME = "install-trivy"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME, help="install a pinned Trivy release, verified by sha256 (cache or download)",
        description="Take trivy_<version>_<platform>.tar.gz from --dir (a restored cache) or "
        "download it, refuse it unless its sha256 is pinned, put the binary in --dir/bin.")
    parser.add_argument("--version", required=True, help="Trivy release (0.70.0; never latest)")
    parser.add_argument("--sha256", default="", metavar="HEX",
                        help="the tarball's sha256 for this runner; empty: from --checksums")
    parser.add_argument("--checksums", type=Path, metavar="FILE",
                        help="pins, one `<version> <asset> <sha256>` per line")
    parser.add_argument("--download-url", default="", metavar="URL",
                        help="base URL of the releases (a mirror); the checksum still decides")
    parser.add_argument("--dir", required=True, type=Path,
                        help="where the tarball is kept (the cached directory) and bin/ goes")
    parser.add_argument("--outputs", metavar="FILE", help="append trivy=<path> ($GITHUB_OUTPUT)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from scangate.step_outputs import append_outputs
    from scangate.trivy_install import (
        asset_name,
        extract_trivy,
        pinned_sha256,
        release_version,
        verified_tarball,
    )

    version = release_version(args.version)
    asset = asset_name(version)
    expected = pinned_sha256(version, asset, args.sha256, args.checksums)
    tarball = verified_tarball(args.dir, asset, expected, args.download_url, version)
    binary = extract_trivy(tarball, args.dir)
    print(f"trivy={binary}")
    if args.outputs:
        append_outputs(args.outputs, [f"trivy={binary}"])
    return EXIT_PASS
