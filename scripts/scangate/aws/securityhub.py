"""Security Hub calls: an import that loses nothing, and the active findings of a resource.

Limits enforced here (Security Hub's, which moto does not check): at most 100 findings and 6 MB
per call. Throttling, 5xx and connection failures are retried with backoff; so are entries of
``FailedFindings`` whose error is transient. A call rejected as invalid is split in halves until
the finding at fault is named. Whatever cannot be imported is returned by Id, never dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from scangate.aws.asff import ID_PREFIX, size_of
from scangate.aws.clients import AWS_FAILURES, describe, error_code, error_message
from scangate.aws.retry import Backoff, transient, transient_code
from scangate.errors import AwsError

MAX_FINDINGS_PER_CALL = 100
# 6 MB per call, less room for the request envelope.
MAX_BYTES_PER_CALL = 6 * 1024 * 1024 - 64 * 1024
GET_FINDINGS_PAGE = 100
IMPORT_NEEDS = "securityhub:BatchImportFindings"
GET_NEEDS = "securityhub:GetFindings"


@dataclass(frozen=True, slots=True)
class FailedFinding:
    id: str
    code: str
    message: str


@dataclass
class ImportOutcome:
    imported: int = 0
    calls: int = 0
    retried_findings: int = 0
    failed: list[FailedFinding] = field(default_factory=list)


def batches(records: list[dict[str, Any]], max_count: int = MAX_FINDINGS_PER_CALL,
            max_bytes: int = MAX_BYTES_PER_CALL) -> Iterator[list[dict[str, Any]]]:
    """Consecutive batches of at most ``max_count`` records and ``max_bytes`` of JSON."""
    batch: list[dict[str, Any]] = []
    size = 0
    for record in records:
        record_size = size_of(record) + 1  # the comma between array items
        if batch and (len(batch) >= max_count or size + record_size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += record_size
    if batch:
        yield batch


class Importer:
    def __init__(self, client: Any, backoff: Backoff | None = None,
                 progress: Callable[[str], None] | None = None) -> None:
        self.client = client
        self.backoff = backoff or Backoff()
        self.progress = progress or (lambda _message: None)

    # --- one call, with retries of the whole call ------------------------------------------

    def _call(self, batch: list[dict[str, Any]], outcome: ImportOutcome) -> dict[str, Any]:
        attempt = 0
        while True:
            outcome.calls += 1
            try:
                response: dict[str, Any] = self.client.batch_import_findings(Findings=batch)
                return response
            except AWS_FAILURES as exc:
                attempt += 1
                if not transient(exc) or attempt >= self.backoff.attempts:
                    raise
                self.progress(f"BatchImportFindings: {error_code(exc) or type(exc).__name__}, "
                              f"retrying ({attempt}/{self.backoff.attempts - 1})")
                self.backoff.wait(attempt)

    @staticmethod
    def _check(batch: list[dict[str, Any]], response: dict[str, Any]) -> list[FailedFinding]:
        """Every finding of the batch must be accounted for: succeeded, or failed by Id."""
        ids = {r["Id"] for r in batch}
        failed = [
            FailedFinding(str(f.get("Id", "")), str(f.get("ErrorCode", "")),
                          " ".join(str(f.get("ErrorMessage", "")).split()))
            for f in response.get("FailedFindings") or []
        ]
        success = response.get("SuccessCount")
        failed_count = response.get("FailedCount")
        unknown = [f.id for f in failed if f.id not in ids]
        if (not isinstance(success, int) or not isinstance(failed_count, int)
                or success + failed_count != len(batch) or failed_count != len(failed) or unknown):
            raise AwsError(
                f"BatchImportFindings: response does not account for the batch of {len(batch)} "
                f"(SuccessCount {success}, FailedCount {failed_count}, {len(failed)} failures "
                f"named, unknown Ids {unknown[:3]}): cannot tell which findings were imported"
            )
        return failed

    def _import_batch(self, batch: list[dict[str, Any]], outcome: ImportOutcome,
                      failures: list[FailedFinding]) -> None:
        try:
            response = self._call(batch, outcome)
        except AWS_FAILURES as exc:
            if error_code(exc) in ("InvalidInputException", "ValidationException"):
                # One bad finding rejects the whole call: split until it is named.
                if len(batch) > 1:
                    middle = len(batch) // 2
                    self._import_batch(batch[:middle], outcome, failures)
                    self._import_batch(batch[middle:], outcome, failures)
                    return
                failures.append(
                    FailedFinding(batch[0]["Id"], error_code(exc), error_message(exc))
                )
                return
            raise describe(
                exc, f"BatchImportFindings ({outcome.imported} findings imported before this)",
                IMPORT_NEEDS,
            ) from None
        failed = self._check(batch, response)
        outcome.imported += int(response["SuccessCount"])
        failures.extend(failed)

    # --- all records, with retries of transient FailedFindings ----------------------------

    def run(self, records: list[dict[str, Any]]) -> ImportOutcome:
        outcome = ImportOutcome()
        by_id = {r["Id"]: r for r in records}
        if len(by_id) != len(records):
            raise AwsError("internal: duplicate finding Ids in one import (a scangate bug)")
        pending = records
        attempt = 0
        while pending:
            failures: list[FailedFinding] = []
            for batch in batches(pending):
                self._import_batch(batch, outcome, failures)
            retry = [f for f in failures if transient_code(f.code)]
            outcome.failed.extend(f for f in failures if not transient_code(f.code))
            if not retry:
                break
            attempt += 1
            if attempt >= self.backoff.attempts:
                outcome.failed.extend(
                    FailedFinding(f.id, f.code, f"{f.message} (still failing after {attempt} "
                                  "attempts)") for f in retry
                )
                break
            self.progress(f"BatchImportFindings: {len(retry)} findings failed transiently "
                          f"({retry[0].code}), retrying ({attempt}/{self.backoff.attempts - 1})")
            outcome.retried_findings += len(retry)
            self.backoff.wait(attempt)
            pending = [by_id[f.id] for f in retry]
        return outcome


# --- the active findings of a resource -------------------------------------------------------


def active_filters(product_arn: str, resource_id: str) -> dict[str, Any]:
    return {
        "ProductArn": [{"Value": product_arn, "Comparison": "EQUALS"}],
        "ResourceId": [{"Value": resource_id, "Comparison": "EQUALS"}],
        "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}],
        # The default product is shared with every other custom integration of the account:
        # only scangate's own findings are scangate's to archive.
        "GeneratorId": [{"Value": ID_PREFIX, "Comparison": "PREFIX"}],
    }


def _is_active_of(finding: dict[str, Any], product_arn: str, resource_id: str) -> bool:
    """The same filter, client-side: emulators (and any API drift) must not widen the set."""
    return (
        finding.get("ProductArn") == product_arn
        and finding.get("RecordState") == "ACTIVE"
        and str(finding.get("Id", "")).startswith(ID_PREFIX)
        and str(finding.get("GeneratorId", "")).startswith(ID_PREFIX)
        and any(r.get("Id") == resource_id for r in finding.get("Resources") or [])
    )


def active_findings(client: Any, product_arn: str, resource_id: str,
                    backoff: Backoff | None = None) -> list[dict[str, Any]]:
    backoff = backoff or Backoff()
    filters = active_filters(product_arn, resource_id)
    found: dict[str, dict[str, Any]] = {}
    token: str | None = None
    seen_tokens: set[str] = set()
    while True:
        kwargs: dict[str, Any] = {"Filters": filters, "MaxResults": GET_FINDINGS_PAGE}
        if token:
            kwargs["NextToken"] = token
        attempt = 0
        while True:
            try:
                page = client.get_findings(**kwargs)
                break
            except AWS_FAILURES as exc:
                attempt += 1
                if not transient(exc) or attempt >= backoff.attempts:
                    raise describe(exc, f"GetFindings for {resource_id}", GET_NEEDS) from None
                backoff.wait(attempt)
        for finding in page.get("Findings") or []:
            if _is_active_of(finding, product_arn, resource_id):
                found[str(finding["Id"])] = finding
        token = page.get("NextToken") or None
        if not token:
            return list(found.values())
        if token in seen_tokens:
            raise AwsError(f"GetFindings for {resource_id}: the same NextToken came back twice")
        seen_tokens.add(token)


# --- archiving what a scan no longer finds ---------------------------------------------------

# The fields a finding provider may send back through BatchImportFindings. Everything else that
# GetFindings returns (Workflow, Note, UserDefinedFields, ProcessedAt, ...) belongs to Security
# Hub or to its users and is left out.
_PROVIDER_FIELDS = (
    "SchemaVersion", "Id", "ProductArn", "GeneratorId", "AwsAccountId", "Types",
    "FirstObservedAt", "LastObservedAt", "CreatedAt", "Severity", "Confidence", "Criticality",
    "Title", "Description", "Remediation", "SourceUrl", "ProductFields", "Resources",
    "Compliance", "Vulnerabilities", "FindingProviderFields", "RelatedFindings", "PatchSummary",
)


def archive_record(existing: dict[str, Any], updated_at: str, reason: str) -> dict[str, Any]:
    """The existing finding, re-imported with RecordState ARCHIVED and a newer UpdatedAt."""
    record = {k: existing[k] for k in _PROVIDER_FIELDS if k in existing}
    fields = {k: v for k, v in (record.get("ProductFields") or {}).items()
              if not str(k).startswith("aws/")}
    fields["scangate/ArchivedReason"] = reason
    record["ProductFields"] = fields
    record["UpdatedAt"] = updated_at
    record["RecordState"] = "ARCHIVED"
    return record
