"""Which artifact each matrix leg uploaded, by id: a job's outputs `<kind>-<index>`.

A later job downloads an image's artifacts by the ids upload-artifact gave the leg that uploaded
them (download-artifact's `artifact-ids`), never by a name another job of the run could also
upload. A matrix job's outputs are merged over its legs by output name, and a leg that leaves
an output empty does not clear another leg's (GitHub docs, "Workflow syntax", "Using job outputs
in a matrix job"), so each uploading job declares `<kind>-0` to `<kind>-<MAX_IMAGES - 1>` and
each leg fills the one of its image's `index` (scangate.images_plan).

Ids are checked here before they reach download-artifact: an empty `artifact-ids` input makes
it download every artifact of the run (actions/download-artifact v8, src/download-artifact.ts),
so a missing id must stay missing, and anything but digits is refused.
"""

from __future__ import annotations

import json
import re
from typing import Any

from scangate.errors import UsageError
from scangate.images_plan import MAX_IMAGES

ID = re.compile(r"[1-9][0-9]{0,18}")
KINDS = ("image", "scan", "reports", "push")


def check_id(value: Any, where: str) -> str:
    """`value` as an artifact id (digits), empty for none; anything else is a UsageError."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str | int) or isinstance(value, bool) \
            or not ID.fullmatch(str(value)):
        raise UsageError(f"{where}: {json.dumps(value)} is not an artifact id (digits)")
    return str(value)


def leg_ids(outputs: str, kind: str) -> dict[int, str]:
    """{index: artifact id} from a job's outputs as JSON (`toJSON(needs.<job>.outputs)`)."""
    where = f"the {kind} job's outputs"
    try:
        found = json.loads(outputs or "{}")
    except ValueError:
        found = None
    if not isinstance(found, dict):
        raise UsageError(f"{where} are not a JSON object: pass toJSON(needs.<job>.outputs)")
    ids = {}
    for key, value in found.items():
        match = re.fullmatch(rf"{kind}-([0-9]+)", key)
        if not match or int(match[1]) >= MAX_IMAGES:
            raise UsageError(f"{where}: unexpected output {key!r} (only {kind}-0 to "
                             f"{kind}-{MAX_IMAGES - 1})")
        artifact = check_id(value, f"{where}: {key}")
        if artifact:
            ids[int(match[1])] = artifact
    return ids


def with_artifact_ids(matrix: list[dict[str, Any]],
                      by_kind: dict[str, dict[int, str]]) -> list[dict[str, Any]]:  # fmt: skip
    """Each matrix entry with `<kind>_artifact`: its leg's id, empty when it uploaded none."""
    if not all(isinstance(e.get("index"), int) and not isinstance(e.get("index"), bool)
               for e in matrix):
        raise UsageError("--matrix has no `index` per image: pass this release's plan matrix")
    return [{**entry, **{f"{kind}_artifact": ids.get(int(entry["index"]), "")
                         for kind, ids in by_kind.items()}} for entry in matrix]


def check_handoff_ids(handoff: dict[str, Any]) -> None:
    """The ids container-scan.yml's results job put in its hand-off: the plan's artifact, and
    per image its index and `<kind>_artifact` (digits or empty), else a UsageError."""
    check_id(handoff.get("plan_artifact"), "the hand-off's plan_artifact")
    if not handoff.get("plan_artifact"):
        raise UsageError("the hand-off names no plan artifact: it is not the handoff output of "
                         "container-scan.yml at this release")
    for entry in handoff["matrix"]:
        where = f"the hand-off's image {entry.get('name')}"
        if not isinstance(entry.get("index"), int) or isinstance(entry.get("index"), bool):
            raise UsageError(f"{where} has no index: pass container-scan.yml's handoff output "
                             "at this release")
        for kind in ("image", "scan", "reports"):
            if f"{kind}_artifact" not in entry:
                raise UsageError(f"{where} has no {kind}_artifact: pass container-scan.yml's "
                                 "handoff output at this release")
            check_id(entry[f"{kind}_artifact"], f"{where}: {kind}_artifact")
