"""``scangate image``: the built image's identity, recorded once and checked wherever it travels.

- ``image record``: the image ID (sha256 of the config, which survives the push to a registry
  whatever the manifest format) of the one image a docker-archive or OCI-layout tarball holds,
  and the tarball's sha256, as image.json beside it.
- ``image check``: the tarball in ``--image-dir`` is the one recorded (its sha256); with
  ``--report`` Trivy scanned that image; with ``--decision`` the gate recorded a pass for it.
  Exit 1 on a mismatch or no pass, 2 when something is missing.

The build, scan and push jobs of container-scan.yml and container-release.yml run them; any
pipeline that hands a tarball from job to job can.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from scangate.errors import EXIT_PASS, EXIT_VIOLATION, ScangateError, UsageError

NAME = "image"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME, help="record an image tarball's identity, and check it where it is used",
        description="The image ID and tarball sha256 of a built image: record, then check.")
    sub = parser.add_subparsers(dest="image", metavar="ACTION", required=True)
    record = sub.add_parser("record", help="write image.json beside the tarball")
    record.add_argument("--image-dir", required=True, type=Path, metavar="DIR",
                        help="holds image.tar; image.json is written there")
    record.add_argument("--name", required=True, help="the image's name")
    record.add_argument("--build-image-id", default="", metavar="ID",
                        help="what the build tool reported (only compared: the tarball's wins)")
    record.set_defaults(run=run_record)
    check = sub.add_parser("check", help="the tarball is the recorded one (and scanned, passed)")
    check.add_argument("--image-dir", required=True, type=Path, metavar="DIR",
                       help="holds image.tar and its image.json")
    check.add_argument("--name", default="", help="the image's name, for messages")
    check.add_argument("--report", type=Path, metavar="trivy.json",
                       help="Trivy's report: it must be of the recorded image")
    check.add_argument("--decision", type=Path, metavar="summary.json",
                       help="the gate's summary: it must record a pass")
    check.add_argument("--copy-record", type=Path, metavar="DIR",
                       help="also copy image.json into DIR (the scan artifact)")
    check.add_argument("--outputs", metavar="FILE",
                       help="append image-id= and tarball-sha256= ($GITHUB_OUTPUT)")
    check.set_defaults(run=run_check)


class ImageMismatch(ScangateError):
    """The tarball, the report or the decision is not of the recorded image."""

    exit_code = EXIT_VIOLATION


def run_record(args: argparse.Namespace) -> int:
    from scangate.registry.archive import ImageArchive

    tarball = args.image_dir / "image.tar"
    with tempfile.TemporaryDirectory(prefix="scangate-image-") as work, \
            ImageArchive(tarball, Path(work)) as archive:
        ids = archive.image_ids()
        sha256 = archive.sha256
    if len(ids) != 1:
        raise UsageError(f"{tarball} holds {len(ids)} images ({', '.join(ids) or 'none'}), "
                         "expected 1: build one image per tarball")
    if args.build_image_id and args.build_image_id != ids[0]:
        print(f"::warning title=scangate::the build reported image ID {args.build_image_id}, "
              f"the tarball's config is {ids[0]}; the tarball's is used")
    record = {"name": args.name, "image-id": ids[0], "tarball-sha256": sha256}
    (args.image_dir / "image.json").write_text(json.dumps(record) + "\n", encoding="utf-8")
    print(json.dumps(record, indent=2))
    return EXIT_PASS


def _recorded(image_dir: Path, name: str) -> dict[str, str]:
    for file in (image_dir / "image.tar", image_dir / "image.json"):
        if not file.is_file():
            raise UsageError(f"{file} is missing: no image tarball for {name or 'the image'} (its "
                             "build failed, see its Build job); nothing is scanned or pushed")
    try:
        record = json.loads((image_dir / "image.json").read_text(encoding="utf-8"))
        return {"image-id": str(record["image-id"]),
                "tarball-sha256": str(record["tarball-sha256"])}
    except (ValueError, KeyError, TypeError):
        raise UsageError(f"{image_dir / 'image.json'} is not what scangate image record "
                         "writes") from None


def _scanned(report: Path) -> str:
    from scangate.input_files import InputFileError, read_input

    try:
        doc = json.loads(read_input(str(report), 256 * 1024 * 1024))
        return str((doc.get("Metadata") or {}).get("ImageID") or "")
    except (InputFileError, ValueError, AttributeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{report}: not a Trivy JSON report ({exc})") from None


def run_check(args: argparse.Namespace) -> int:
    from scangate import gate_summary
    from scangate.registry.archive import sha256_file
    from scangate.step_outputs import append_outputs

    record = _recorded(args.image_dir, args.name)
    actual = sha256_file(args.image_dir / "image.tar")
    if actual != record["tarball-sha256"]:
        raise ImageMismatch(f"image.tar is not the tarball the build job wrote (sha256 {actual}, "
                            f"expected {record['tarball-sha256']})")
    if args.report is not None:
        scanned = _scanned(args.report)
        if scanned != record["image-id"]:
            raise ImageMismatch(f"Trivy scanned image '{scanned}', the build produced "
                                f"'{record['image-id']}'")
    if args.decision is not None:
        if not args.decision.is_file():
            raise UsageError(f"{args.decision} is missing: nothing is pushed without a passing "
                             "decision")
        summary = gate_summary.read(args.decision)
        if not summary.passed:
            raise ImageMismatch(f"the gate's recorded decision is "
                                f"'{summary.recorded_decision}', not 'pass': not pushing")
    if args.copy_record is not None:
        args.copy_record.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.image_dir / "image.json", args.copy_record / "image.json")
    if args.outputs:
        append_outputs(args.outputs, [f"image-id={record['image-id']}",
                                      f"tarball-sha256={record['tarball-sha256']}"])
    print(f"image {record['image-id']}: the tarball the build wrote"
          + (", the image Trivy scanned" if args.report else "")
          + (", passed" if args.decision else ""))
    return EXIT_PASS
