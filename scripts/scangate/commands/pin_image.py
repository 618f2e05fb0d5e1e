"""``scangate pin-image``: pin the scanned image by digest in Kubernetes manifests."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from scangate.errors import EXIT_PASS
from scangate.k8s_pin import pin_manifests

NAME = "pin-image"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="pin an image by digest in Kubernetes manifests",
        description="Replace the image of every container whose repository equals the given "
        "image's repository with REPOSITORY@sha256:DIGEST, in every YAML manifest under "
        "--manifests, and write the result to --output. Exit 2 when the image has no sha256 "
        "digest or no container matched.",
    )
    parser.add_argument(
        "--manifests",
        required=True,
        type=Path,
        metavar="DIR",
        help="directory of Kubernetes YAML manifests (read recursively, never modified)",
    )
    parser.add_argument(
        "--image",
        required=True,
        metavar="REPO@sha256:DIGEST",
        help="the image that passed the gate, by digest (a tag alone is refused)",
    )
    parser.add_argument(
        "--output",
        required=True,
        type=Path,
        metavar="DIR",
        help="directory to write the pinned manifests to (same relative paths)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    changes = pin_manifests(args.manifests, args.image, args.output)
    for change in changes:
        print(
            f"pinned {change.file}: {change.kind}/{change.name} container {change.container}: "
            f"{change.old_image} -> {change.new_image}"
        )
    return EXIT_PASS
