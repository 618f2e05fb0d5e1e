"""Reading ``summary.json`` back: the one reader for every step after the gate.

``scangate notify`` (what to announce: ``read_decided``) and ``scangate push --decision``
(whether to release: ``read`` and ``GateSummary.passed``) both act on the summary
``scangate gate --json-summary`` wrote (scangate.outputs.summary). Read twice, a summary could
pass one reader and fail the other, or mean two things. So both read it here, defensively:
anything missing, unexpected or contradictory is a :class:`SummaryError` (exit 2) naming the
file and the field, never a guess. Keys the readers do not use are left alone (the gate adds
fields over time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from scangate.errors import SummaryError
from scangate.input_files import InputFileError, InputFileNotFound, read_input
from scangate.registry.reference import DIGEST
from scangate.severity import DESCENDING, Severity

DECISIONS = ("pass", "fail")
MAX_SUMMARY_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class GateSummary:
    decision: str  # "pass" or "fail"; "" when the file records anything else (see `recorded`)
    counts: dict[str, int]
    violations: list[dict[str, Any]]
    expired_waivers: list[dict[str, str]]
    # Vulnerabilities failing the policy's kev:/epss: rules: rule, id, detail (and more).
    risk_violations: list[dict[str, Any]] = field(default_factory=list)
    waived: int = 0
    ignored_unfixed: int = 0
    artifacts: list[str] = field(default_factory=list)
    policy_source: str = ""
    # reports[].image_id of every image report (filesystem reports record null).
    image_ids: list[str] = field(default_factory=list)
    # decision and exit_code exactly as recorded, for messages (the gate writes no exit_code).
    recorded_decision: object = None
    recorded_exit_code: object = None

    @property
    def passed(self) -> bool:
        """A pass, and nothing recorded against it: exactly "pass", and an exit code that is
        absent or the integer 0 (not "0", 0.0 or false)."""
        code = self.recorded_exit_code
        return self.decision == "pass" and (code is None or (type(code) is int and code == 0))

    @property
    def decided(self) -> bool:
        """The gate reached a decision that this file states without contradiction."""
        code = self.recorded_exit_code
        return self.decision in DECISIONS and (
            code is None or (type(code) is int and code == DECISIONS.index(self.decision)))


def _count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SummaryError(f"{where} is {value!r}, not a whole number >= 0")
    return value


def _violations(doc: dict[str, Any], where: str) -> list[dict[str, Any]]:
    violations = doc.get("violations")
    if not isinstance(violations, list):
        raise SummaryError(f"{where} violations is missing or not a list")
    for number, item in enumerate(violations):
        at = f"{where} violations[{number}]"
        if not isinstance(item, dict):
            raise SummaryError(f"{at} is not an object")
        try:
            Severity.parse(item.get("severity"))
        except ValueError as exc:
            raise SummaryError(f"{at}.severity: {exc}") from None
        _count(item.get("count"), f"{at}.count")
        _count(item.get("limit"), f"{at}.limit")
    return violations


def _risk_violations(doc: dict[str, Any], where: str) -> list[dict[str, Any]]:
    risks = doc.get("risk_violations", [])  # absent in summaries of gates before the rules
    if not isinstance(risks, list):
        raise SummaryError(f"{where} risk_violations is not a list")
    for number, item in enumerate(risks):
        at = f"{where} risk_violations[{number}]"
        if not isinstance(item, dict) or item.get("rule") not in ("kev", "epss") or \
                not isinstance(item.get("id"), str) or not isinstance(item.get("detail"), str):
            raise SummaryError(f"{at} is not a kev/epss violation (rule, id, detail)")
    return risks


def _reports(doc: dict[str, Any], where: str) -> tuple[list[str], list[str]]:
    """(artifact names, image ids) of ``reports``."""
    reports = doc.get("reports", [])
    if not isinstance(reports, list) or not all(isinstance(r, dict) for r in reports):
        raise SummaryError(f"{where} reports is not a list of objects")
    artifacts = [str(r.get("artifact_name") or r.get("path") or "") for r in reports]
    image_ids = []
    for number, report in enumerate(reports):
        value = report.get("image_id")
        if value is None:
            continue  # a report that is not of an image (a filesystem scan) names none
        if not isinstance(value, str) or not DIGEST.fullmatch(value):
            raise SummaryError(f"{where} reports[{number}].image_id {value!r} is not "
                               "sha256:<64 hex>")
        image_ids.append(value)
    return [a for a in artifacts if a], image_ids


def parse(doc: object, path: str) -> GateSummary:
    where = f"{path}: not a scangate gate summary:"
    if not isinstance(doc, dict):
        raise SummaryError(f"{where} top level is {type(doc).__name__}, not an object")
    decision = doc.get("decision")
    counts_doc = doc.get("counts")
    if not isinstance(counts_doc, dict):
        raise SummaryError(f"{where} counts is missing or not an object")
    counts = {}
    for severity in DESCENDING:
        if severity.key not in counts_doc:
            raise SummaryError(f"{where} counts.{severity.key} is missing")
        counts[severity.key] = _count(counts_doc[severity.key], f"{where} counts.{severity.key}")
    violations = _violations(doc, where)
    if decision == "pass" and violations:
        raise SummaryError(f"{where} decision is 'pass' but it lists violations")
    risks = _risk_violations(doc, where)
    if decision == "pass" and risks:
        raise SummaryError(f"{where} decision is 'pass' but it lists risk_violations")
    expired = doc.get("expired_waivers", [])
    if not isinstance(expired, list) or not all(
        isinstance(w, dict) and isinstance(w.get("id"), str) for w in expired
    ):
        raise SummaryError(f"{where} expired_waivers is not a list of waivers")
    artifacts, image_ids = _reports(doc, where)
    policy = doc.get("policy")
    return GateSummary(
        decision=decision if isinstance(decision, str) and decision in DECISIONS else "",
        counts=counts,
        violations=violations,
        risk_violations=risks,
        expired_waivers=[{"id": str(w["id"]), "expires": str(w.get("expires", ""))}
                         for w in expired],
        waived=_count(doc.get("waived", 0), f"{where} waived"),
        ignored_unfixed=_count(doc.get("ignored_unfixed", 0), f"{where} ignored_unfixed"),
        artifacts=artifacts,
        policy_source=str(policy.get("source", "")) if isinstance(policy, dict) else "",
        image_ids=image_ids,
        recorded_decision=decision,
        recorded_exit_code=doc.get("exit_code"),
    )


def read(path: str | Path) -> GateSummary:
    """``path`` read and checked; every problem is one SummaryError line naming the file."""
    try:
        # The shared bounded reader: a FIFO or a device named as the summary cannot hang us.
        data = read_input(str(path), MAX_SUMMARY_BYTES)
    except InputFileNotFound:
        raise SummaryError(f"{path}: summary not found; write it with scangate gate "
                           "--json-summary PATH") from None
    except InputFileError as exc:
        raise SummaryError(f"{path}: cannot read summary: {exc}") from None
    try:
        # orjson refuses lone surrogates ("\udc80"): an edited summary cannot crash the
        # JSON writers (OpenVEX) its strings reach.
        doc = orjson.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SummaryError(f"{path}: summary is not valid JSON ({exc})") from None
    return parse(doc, str(path))


def read_decided(path: str | Path) -> GateSummary:
    """``read``, and the file must state a decision: "pass" or "fail", with an exit code (when
    it records one) that agrees. For steps that report the decision rather than act on a pass."""
    summary = read(path)
    if not summary.decided:
        code = summary.recorded_exit_code
        raise SummaryError(
            f"{path}: not a scangate gate summary: decision is {summary.recorded_decision!r}"
            + (f" with exit code {code!r}" if code is not None else "")
            + ", not 'pass' (0) or 'fail' (1)")
    return summary
