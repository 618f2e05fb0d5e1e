"""Re-read the gate's decision before pushing: the push step does not trust the pipeline.

A pipeline can be told to carry on after a failed gate (GitLab ``allow_failure``, a GitHub
``if: always()``, a variable). So push reads the ``summary.json`` that ``scangate gate
--json-summary`` wrote, through scangate.gate_summary (the reader ``notify`` uses too, so both
agree on what the file says), and refuses unless it records a pass FOR THIS IMAGE ID.

The image ID is where scangate.outputs.summary writes it: ``image_id`` of each entry of
``reports`` (null for a report that is not of an image). Every recorded ID must be this image's,
and at least one must exist.
"""

from __future__ import annotations

from pathlib import Path

from scangate import gate_summary
from scangate.errors import SummaryError
from scangate.registry.errors import DecisionError, NotPassedError


def check_decision(path: Path, image_id: str) -> None:
    """Raise unless ``path`` records a pass of the gate for ``image_id``."""
    try:
        summary = gate_summary.read(path)
    except SummaryError as exc:
        raise DecisionError(f"--decision {exc}") from None
    if not summary.image_ids:
        raise DecisionError(
            f"--decision {path} records no image id, so it cannot vouch for {image_id}: run "
            "`scangate gate` on the report of this image's scan (it records the image id)"
        )
    others = sorted({value for value in summary.image_ids if value != image_id})
    if others:
        raise DecisionError(
            f"--decision {path} is about image {others[0]}, not --image-id {image_id}: the "
            "gate result of another image cannot release this one"
        )
    if not summary.passed:
        code = summary.recorded_exit_code
        raise NotPassedError(
            f"--decision {path}: the gate decided {summary.recorded_decision!r} (exit code "
            f"{code if code is not None else 0!r}) for {image_id}: refusing to push an image "
            "that did not pass"
        )
