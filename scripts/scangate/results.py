"""A call's per-image results, read back from this run's artifacts (scangate.artifacts).

The results jobs of container-scan.yml and container-release.yml run whatever happened before
them: an image whose build, scan or gate broke has no summary and is an `error`, never skipped;
the call's decision is the worst of its images' (error > fail > pass).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scangate import gate_summary
from scangate.artifacts import newest
from scangate.errors import ScangateError, SummaryError, UsageError


@dataclass(frozen=True)
class Artifacts:
    """Where one call's artifacts were downloaded (one directory per artifact)."""

    downloads: Path
    call: str
    attempt: int

    def newest(self, kind: str, image: str) -> Path | None:
        return newest(self.downloads, f"scangate-{kind}-{image}-{self.call}", self.attempt)

    def file(self, kind: str, image: str, name: str) -> Path | None:
        found = self.newest(kind, image)
        return found / name if found is not None and (found / name).is_file() else None


def image_names(matrix: str) -> list[str]:
    try:
        entries = json.loads(matrix)
    except ValueError:
        entries = None
    if (not isinstance(entries, list) or not entries
            or not all(isinstance(e, dict) and isinstance(e.get("name"), str) for e in entries)):
        raise UsageError("--matrix is not the plan's image matrix (a JSON array of objects with "
                         "a name): pass the plan job's matrix output")
    return [e["name"] for e in entries]


def _decided(summary: Path | None) -> gate_summary.GateSummary | None:
    if summary is None:
        return None
    try:
        return gate_summary.read_decided(summary)
    except SummaryError as exc:
        print(f"::error title=scangate::{exc.message}")
        return None


def scan_results(names: list[str], artifacts: Artifacts) -> dict[str, dict[str, Any]]:
    """Per image: its image ID (from the scan's image.json), decision and counts."""
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        image_id = ""
        record = artifacts.file("scan", name, "image.json")
        if record is not None:
            try:
                image_id = str(json.loads(record.read_text(encoding="utf-8"))["image-id"])
            except (ValueError, KeyError, TypeError, OSError):
                print(f"::warning title=scangate::{record}: no image-id recorded")
        summary = _decided(artifacts.file("reports", name, "summary.json"))
        results[name] = {
            "image-id": image_id,
            "decision": summary.decision if summary is not None else "error",
            "counts": summary.counts if summary is not None else None,
        }
    return results


def overall(results: dict[str, dict[str, Any]]) -> str:
    decisions = {r["decision"] for r in results.values()}
    return "error" if "error" in decisions else "fail" if "fail" in decisions else "pass"


def summed_counts(results: dict[str, dict[str, Any]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for result in results.values():
        for key, value in (result["counts"] or {}).items():
            total[key] = total.get(key, 0) + value
    return total


def pushed(names: list[str], artifacts: Artifacts) -> dict[str, dict[str, str]]:
    """Per image pushed: its registry digest and URI, from its push record."""
    found: dict[str, dict[str, str]] = {}
    for name in names:
        record = artifacts.file("push", name, "push.json")
        if record is None:
            continue
        try:
            doc = json.loads(record.read_text(encoding="utf-8"))
            found[name] = {"image-digest": str(doc["image-digest"]),
                           "image-uri": str(doc["image-uri"])}
        except (ValueError, KeyError, TypeError, OSError):
            raise ScangateError(f"{record}: not a scangate push record (no image-digest and "
                                "image-uri)") from None
    return found


def compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))
