"""This run's per-attempt artifacts: scangate names each `<prefix>-<run attempt>`.

Artifact names are unique within a workflow run, so a job re-run ("Re-run failed jobs") uploads
under its own attempt's name. The jobs download what they read by artifact id
(scangate.artifact_ids), several legs' artifacts at once into one directory each; of those,
`scangate results` and `deploy-job` read each image's newest attempt, never one named for an
attempt above this one's (no job of this attempt or an earlier one wrote it). Two names for one
attempt (`-2`, `-02`) are refused rather than one chosen.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from scangate.errors import ScangateError

_ATTEMPT = re.compile(r"[0-9]{1,9}")


class ArtifactError(ScangateError):
    """This run's artifacts are not what scangate's jobs upload."""


def newest(downloads: Path, prefix: str, attempt: int) -> Path | None:
    """`downloads/<prefix>-<n>/` with the highest n not above `attempt`; None when there is
    none. `downloads` is where download-artifact put every artifact (one directory each)."""
    found: dict[int, Path] = {}
    entries = sorted(downloads.iterdir()) if downloads.is_dir() else []
    for entry in entries:
        suffix = entry.name.removeprefix(f"{prefix}-")
        if suffix == entry.name or not _ATTEMPT.fullmatch(suffix) or not entry.is_dir():
            continue  # another artifact (another image whose name starts with this prefix)
        number = int(suffix)
        if number < 1 or number > attempt:
            print(f"::warning title=scangate::ignoring artifact {entry.name}: not an attempt of "
                  f"this run up to {attempt}", file=sys.stderr)
            continue
        if number in found:
            raise ArtifactError(f"artifacts {found[number].name} and {entry.name} both claim "
                                f"attempt {number}: scangate uploads one per attempt; someone "
                                "else uploaded the other one. Re-run the whole workflow")
        found[number] = entry
    return found[max(found)] if found else None
