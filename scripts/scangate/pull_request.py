"""On a pull request, the gate's inputs may only tighten the base branch's policy.

For ``pull_request`` GitHub reads the caller workflow from the pull request's merge commit, so
``max-*``, ``fail-on``, ``ignore-unfixed``, ``policy`` and ``policy-from-base`` are the pull
request's to choose (GitHub docs, "Events that trigger workflows", pull_request; GitLab's merge
request pipelines read the MR's ``.gitlab-ci.yml`` likewise). Only the policy file is read from
the base commit. This module compares what the pull request asks for with the base commit's
policy (and the ``policy:`` the base commit's caller passes) and names every input that would
loosen it; the caller refuses the run when there is one. What stays out of reach (the caller
file as a whole, the ``uses:`` ref) is for rulesets and CODEOWNERS (docs/github-actions.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from scangate.policy import Policy
from scangate.severity import Severity


@dataclass(frozen=True)
class GateInputs:
    """The gating inputs a pull request's caller passes (None: not given)."""

    policy: str = ""
    policy_from_base: bool = True
    fail_on: Severity | None = None
    max_counts: dict[Severity, int] = field(default_factory=dict)
    ignore_unfixed: bool = False


def _limit(value: int | None) -> str:
    return "no limit" if value is None else str(value)


def loosened(inputs: GateInputs, base: Policy, base_source: str) -> list[str]:
    """Every input of ``inputs`` that is less strict than the base policy, one phrase each."""
    found = []
    if not inputs.policy_from_base:
        found.append("policy-from-base: false (the pull request's own policy would apply)")
    for severity in sorted(inputs.max_counts, reverse=True):
        asked = inputs.max_counts[severity]
        allowed = base.thresholds.get(severity)
        if inputs.fail_on is not None and severity >= inputs.fail_on:
            continue  # fail-on sets it to 0 whatever max-* says (scangate gate refuses both)
        if allowed is not None and asked > allowed:
            found.append(f"max-{severity.key}: {asked} (the base policy {base_source} allows "
                         f"{_limit(allowed)})")
    if inputs.ignore_unfixed and not base.ignore_unfixed:
        found.append(f"ignore-unfixed: true (the base policy {base_source} counts unfixed "
                     "vulnerabilities)")
    return found


def base_caller_policies(text: str, workflow_file: str) -> set[str] | None:
    """The literal ``policy:`` values the base commit's caller passes to ``workflow_file``; None
    when the caller has no job calling it (or is not a workflow): nothing to compare with."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("jobs"), dict):
        return None
    found: set[str] = set()
    calling = False
    for job in doc["jobs"].values():
        if not isinstance(job, dict) or f"/{workflow_file}@" not in str(job.get("uses", "")):
            continue
        calling = True
        with_: Any = job.get("with") or {}
        value = with_.get("policy", "") if isinstance(with_, dict) else ""
        if isinstance(value, str) and "${{" not in value:
            found.add(value)
    return found if calling else None


def changed_policy(inputs: GateInputs, base_policies: set[str] | None) -> list[str]:
    """The ``policy`` input, when the base commit's caller passes none of it."""
    if base_policies is None or not base_policies or inputs.policy in base_policies:
        return []
    shown = ", ".join(repr(p) for p in sorted(base_policies))
    return [f"policy: {inputs.policy!r} (the base branch's caller passes {shown})"]
