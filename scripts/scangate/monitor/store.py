"""The monitor's DynamoDB table: image state, vulnerability inventory, decision history.

One table, keyed ``pk`` (``IMAGE#<registry>/<repository>@<digest>``) and ``sk``:
- ``STATE``: current decision, counts, policy version, last scan time, tags, deployed flag,
  and ``order_key`` (scan time, policy version, day: see Evaluation.order_key). It is written
  last and only when its order key grows (a conditional write), so a duplicate or an older
  event changes nothing, even when two invocations race.
- ``FINDING#<fingerprint>``: first seen, last seen, fixed at (scan times); ``mttr_seconds``
  once fixed. GSI ``fixed`` (``fixed_severity``, ``fixed_at``) answers "mean time to remediate
  per severity" with one Query per severity.
- ``HISTORY#<order_key>``: one item per decision taken.
GSI ``deployed`` (``deployed_pk``, ``pk``) is sparse: only images marked deployed, for the sweep.

Every call goes through ``_call``: throttling and 5xx are retried with scangate.aws.retry's
backoff (the client has botocore's own retries off, so each attempt is counted here).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from scangate.aws.clients import AWS_FAILURES, describe, error_code
from scangate.aws.retry import Backoff, transient
from scangate.monitor.evaluate import Evaluation, Observed

STATE = "STATE"
FINDING = "FINDING#"
HISTORY = "HISTORY#"
# History items expire this long after they are written (the table's TTL on expires_at): 13
# months of decisions, so a year-on-year comparison still has its first month.
HISTORY_DAYS = 400
DEPLOYED_INDEX = "deployed"
FIXED_INDEX = "fixed"
DEPLOYED_PK = "DEPLOYED"

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in values.items()}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


@dataclass
class Counter:
    """DynamoDB calls made (the benchmark's 'calls per event')."""

    calls: int = 0
    retries: int = 0


@dataclass
class Store:
    client: Any
    table: str
    backoff_factory: Callable[[], Backoff] = field(default=lambda: Backoff(attempts=6))
    counter: Counter = field(default_factory=Counter)

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        backoff = self.backoff_factory()
        for attempt in range(backoff.attempts):
            self.counter.calls += 1
            try:
                response: dict[str, Any] = getattr(self.client, operation)(**kwargs)
                return response
            except AWS_FAILURES as exc:
                if error_code(exc) == "ConditionalCheckFailedException" or not transient(exc) \
                        or attempt + 1 == backoff.attempts:
                    raise
                self.counter.retries += 1
                backoff.wait(attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _update(self, key: dict[str, str], **kwargs: Any) -> bool:
        """An UpdateItem; False when its condition did not hold (a newer write won)."""
        try:
            self._call("update_item", TableName=self.table, Key=_item(key), **kwargs)
        except AWS_FAILURES as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise describe(exc, f"dynamodb UpdateItem {self.table}",
                           "dynamodb:UpdateItem") from None
        return True

    # --- reads ---------------------------------------------------------------------------

    def state(self, image_key: str) -> dict[str, Any] | None:
        try:
            response = self._call("get_item", TableName=self.table, ConsistentRead=True,
                                  Key=_item({"pk": f"IMAGE#{image_key}", "sk": STATE}))
        except AWS_FAILURES as exc:
            raise describe(exc, f"dynamodb GetItem {self.table}", "dynamodb:GetItem") from None
        item = response.get("Item")
        return _plain(item) if item else None

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        token: dict[str, Any] | None = None
        while True:
            args = dict(kwargs, TableName=self.table)
            if token:
                args["ExclusiveStartKey"] = token
            try:
                page = self._call("query", **args)
            except AWS_FAILURES as exc:
                raise describe(exc, f"dynamodb Query {self.table}", "dynamodb:Query") from None
            for item in page.get("Items") or []:
                yield _plain(item)
            token = page.get("LastEvaluatedKey")
            if not token:
                return

    def inventory(self, image_key: str) -> dict[str, dict[str, Any]]:
        items = self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues=_item({":pk": f"IMAGE#{image_key}", ":prefix": FINDING}),
            ConsistentRead=True)
        return {str(i["sk"])[len(FINDING):]: i for i in items}

    def history(self, image_key: str) -> list[dict[str, Any]]:
        return list(self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues=_item({":pk": f"IMAGE#{image_key}", ":prefix": HISTORY}),
            ConsistentRead=True))

    def deployed(self) -> list[dict[str, Any]]:
        return list(self._query(IndexName=DEPLOYED_INDEX,
                                KeyConditionExpression="deployed_pk = :d",
                                ExpressionAttributeValues=_item({":d": DEPLOYED_PK})))

    def fixed(self, severity: str) -> list[dict[str, Any]]:
        return list(self._query(IndexName=FIXED_INDEX,
                                KeyConditionExpression="fixed_severity = :s",
                                ExpressionAttributeValues=_item({":s": severity})))

    def mean_time_to_remediate(self, severity: str) -> tuple[int, float | None]:
        """(findings fixed, mean seconds from first seen to fixed) for one severity, from the
        sparse ``fixed`` index (one Query, every page)."""
        times = [int(item["mttr_seconds"]) for item in self.fixed(severity)
                 if "mttr_seconds" in item]
        return len(times), (sum(times) / len(times) if times else None)

    # --- writes --------------------------------------------------------------------------

    def set_deployed(self, image_key: str, deployed: bool) -> None:
        key = {"pk": f"IMAGE#{image_key}", "sk": STATE}
        if deployed:
            self._update(key, UpdateExpression="SET deployed = :t, deployed_pk = :d",
                         ExpressionAttributeValues=_item({":t": True, ":d": DEPLOYED_PK}))
        else:
            self._update(key, UpdateExpression="SET deployed = :f REMOVE deployed_pk",
                         ExpressionAttributeValues=_item({":f": False}))

    def record_finding(self, image_key: str, found: Observed, ev: Evaluation,
                       reopened: bool) -> None:
        values = {":k": ev.order_key, ":t": ev.scanned_at, ":id": found.id,
                  ":sev": found.severity, ":pkg": found.package,
                  ":ver": found.installed_version, ":fix": found.fixed_version,
                  ":disp": found.disposition, ":why": found.reason,
                  ":repo": ev.image.repository}
        opened = ", opened_key = :k" if reopened else ""
        self._update(
            {"pk": f"IMAGE#{image_key}", "sk": FINDING + found.fingerprint},
            UpdateExpression="SET vulnerability_id = :id, severity = :sev, package = :pkg, "
            "installed_version = :ver, fixed_version = :fix, disposition = :disp, "
            "waived_reason = :why, "
            "repository = :repo, last_seen = :t, order_key = :k, "
            f"first_seen = if_not_exists(first_seen, :t){opened} "
            "REMOVE fixed_at, fixed_severity, fixed_key, mttr_seconds",
            ConditionExpression="attribute_not_exists(order_key) OR order_key <= :k",
            ExpressionAttributeValues=_item(values))

    def record_fixed(self, image_key: str, fingerprint: str, item: dict[str, Any],
                     ev: Evaluation) -> None:
        first = dt.datetime.fromisoformat(str(item.get("first_seen")).replace("Z", "+00:00"))
        fixed = dt.datetime.fromisoformat(ev.scanned_at.replace("Z", "+00:00"))
        mttr = max(0, int((fixed - first).total_seconds()))
        self._update(
            {"pk": f"IMAGE#{image_key}", "sk": FINDING + fingerprint},
            UpdateExpression="SET fixed_at = :t, fixed_severity = :sev, fixed_key = :k, "
            "mttr_seconds = :m, order_key = :k",
            ConditionExpression="order_key <= :k",
            ExpressionAttributeValues=_item({":t": ev.scanned_at, ":sev": item["severity"],
                                             ":k": ev.order_key, ":m": mttr}))

    def record_history(self, image_key: str, ev: Evaluation, event_kind: str) -> None:
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=HISTORY_DAYS)
        item = {"pk": f"IMAGE#{image_key}", "sk": HISTORY + ev.order_key,
                "decision": ev.decision, "counts": ev.counts, "scanned_at": ev.scanned_at,
                "policy_version": ev.policy_version, "event_kind": event_kind,
                "expires_at": int(expires.timestamp())}
        try:
            self._call("put_item", TableName=self.table, Item=_item(item))
        except AWS_FAILURES as exc:
            raise describe(exc, f"dynamodb PutItem {self.table}", "dynamodb:PutItem") from None

    def record_state(self, image_key: str, ev: Evaluation, alert: dict[str, Any] | None) -> bool:
        """The image's new current state; False when a newer (or the same) result is stored."""
        values: dict[str, Any] = {
            ":k": ev.order_key, ":repo": ev.image.repository, ":reg": ev.image.registry_id,
            ":dig": ev.image.digest, ":tags": list(ev.tags), ":dec": ev.decision,
            ":counts": ev.counts, ":viol": ev.violations, ":pv": ev.policy_version,
            ":ps": ev.policy_source, ":scan": ev.scanned_at, ":st": ev.scan_type,
        }
        update = ("SET order_key = :k, repository = :repo, registry_id = :reg, digest = :dig, "
                  "tags = :tags, decision = :dec, counts = :counts, violations = :viol, "
                  "policy_version = :pv, policy_source = :ps, last_scan = :scan, scan_type = :st")
        if alert:
            values[":alert"] = alert
            update += ", alert_pending = :alert"
        else:
            update += " REMOVE alert_pending"
        return self._update(
            {"pk": f"IMAGE#{image_key}", "sk": STATE}, UpdateExpression=update,
            ConditionExpression="attribute_not_exists(order_key) OR order_key < :k",
            ExpressionAttributeValues=_item(values))

    def clear_alert(self, image_key: str, order_key: str) -> None:
        self._update({"pk": f"IMAGE#{image_key}", "sk": STATE},
                     UpdateExpression="REMOVE alert_pending",
                     ConditionExpression="order_key = :k",
                     ExpressionAttributeValues=_item({":k": order_key}))
