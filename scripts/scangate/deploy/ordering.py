"""An older run never rolls back a newer deploy.

Each deploy records its run's order on every object it applies, as the annotation ORDER_KEY
(the CI's run number that only grows: GitHub's run id, GitLab's pipeline id; a re-run keeps
it). Before applying, the live objects are read: one that a newer run deployed stops the whole
deploy. The concurrency group serialises deploys of one namespace, but a re-run of an old run
("Re-run jobs" on last week's run) or a run that queued behind a newer one would otherwise
apply its older images over the newer ones.
"""

from __future__ import annotations

import json
from typing import Any

from scangate.deploy.errors import DeployError

ORDER_KEY = "scangate.dev/deploy-order"


def _objects(live: str) -> list[dict[str, Any]]:
    """The objects of `kubectl get --output json`: a List, one object, or nothing."""
    if not live.strip():
        return []  # --ignore-not-found and nothing exists yet
    try:
        doc = json.loads(live)
    except ValueError as exc:
        raise DeployError(f"kubectl get returned no JSON ({exc})") from None
    items = doc.get("items") if isinstance(doc, dict) and "items" in doc else [doc]
    return [item for item in items or [] if isinstance(item, dict)]


def check_order(live: str, order: int) -> None:
    """Refuse when a live object was deployed by a run newer than `order`."""
    newer = []
    for obj in _objects(live):
        meta = obj.get("metadata") or {}
        name = f"{obj.get('kind', '?')}/{meta.get('name', '?')}"
        value = (meta.get("annotations") or {}).get(ORDER_KEY)
        if value is None:
            continue  # never deployed by scangate (or before this guard)
        if not isinstance(value, str) or not value.isdigit() or len(value) > 20:
            raise DeployError(f"{name} has the annotation {ORDER_KEY}={value!r}, not a run "
                              f"number: remove it (kubectl annotate {name} {ORDER_KEY}-) once "
                              "you know which deploy is live")
        if int(value) > order:
            newer.append(f"{name} (run {value})")
    if newer:
        raise DeployError(f"a newer run deployed {', '.join(newer)}; this run ({order}) is older "
                          "and never rolls it back: deploy from a new run of the commit you "
                          "want live")
