"""Re-read the gate's decision before pushing: the push step does not trust the pipeline.

A pipeline can be told to carry on after a failed gate (GitLab ``allow_failure``, a GitHub
``if: always()``, a variable). So push reads the ``summary.json`` that ``scangate gate
--json-summary`` wrote and refuses unless it records a pass FOR THIS IMAGE ID. The summary is
read defensively: anything missing, unexpected or contradictory refuses the push.

The image ID is where scangate.outputs.summary writes it: ``image_id`` of each entry of
``reports`` (null for a report that is not of an image). Every recorded ID must be this image's,
and at least one must exist.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scangate.registry.errors import DecisionError, NotPassedError
from scangate.registry.reference import DIGEST

MAX_SUMMARY_BYTES = 64 * 1024 * 1024


def _recorded_image_ids(summary: dict[str, Any], path: Path) -> list[str]:
    found: list[Any] = []
    reports = summary.get("reports")
    if isinstance(reports, list):
        for report in reports:
            # null: a report that is not of an image (a filesystem scan) names no image.
            if isinstance(report, dict) and report.get("image_id") is not None:
                found.append(report["image_id"])
    for value in found:
        if not isinstance(value, str) or not DIGEST.fullmatch(value):
            raise DecisionError(
                f"--decision {path}: recorded image id {value!r} is not sha256:<64 hex>"
            )
    return [str(value) for value in found]


def check_decision(path: Path, image_id: str) -> None:
    """Raise unless ``path`` records a pass of the gate for ``image_id``."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SUMMARY_BYTES + 1)
    except OSError as exc:
        raise DecisionError(f"--decision {path}: cannot read it ({exc.strerror or exc}); pass "
                            "the summary.json `scangate gate --json-summary` wrote") from None
    if len(raw) > MAX_SUMMARY_BYTES:
        raise DecisionError(f"--decision {path}: larger than {MAX_SUMMARY_BYTES} bytes")
    try:
        summary = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecisionError(f"--decision {path}: not JSON ({exc})") from None
    if not isinstance(summary, dict) or "decision" not in summary:
        raise DecisionError(f"--decision {path}: not a scangate gate summary (no \"decision\")")
    recorded = _recorded_image_ids(summary, path)
    if not recorded:
        raise DecisionError(
            f"--decision {path} records no image id, so it cannot vouch for {image_id}: run "
            "`scangate gate` on the report of this image's scan (it records the image id)"
        )
    others = sorted({value for value in recorded if value != image_id})
    if others:
        raise DecisionError(
            f"--decision {path} is about image {others[0]}, not --image-id {image_id}: the "
            "gate result of another image cannot release this one"
        )
    decision = summary.get("decision")
    exit_code = summary.get("exit_code", 0)
    if decision != "pass" or type(exit_code) is not int or exit_code != 0:
        raise NotPassedError(
            f"--decision {path}: the gate decided {decision!r} (exit code {exit_code!r}) for "
            f"{image_id}: refusing to push an image that did not pass"
        )
