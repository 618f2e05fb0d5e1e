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
- ``ATTEMPTS#<SQS message id>`` / ``ATTEMPTS``: how many times processing that message failed
  (expires after 14 days).
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
from scangate.monitor.evaluate import Evaluation, Observed, iso_ms
from scangate.monitor.events import ImageRef

STATE = "STATE"
FINDING = "FINDING#"
HISTORY = "HISTORY#"
# History items expire this long after they are written (the table's TTL on expires_at): 13
# months of decisions, so a year-on-year comparison still has its first month.
HISTORY_DAYS = 400
DEPLOYED_INDEX = "deployed"
FIXED_INDEX = "fixed"
DEPLOYED_PK = "DEPLOYED"
TERMINAL_FIELDS = "terminal, terminal_reason, terminal_at"
ATTEMPTS = "ATTEMPTS#"
ATTEMPT_DAYS = 14
TRANSACT_ITEMS = 100  # actions per TransactWriteItems (DynamoDB API Reference)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in values.items()}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


# A transaction cancelled only because another one held an item, or by throttling, may succeed
# when sent again (DynamoDB API Reference, "TransactWriteItems": CancellationReasons).
_RETRYABLE_CANCELLATIONS = frozenset({"None", "TransactionConflict", "ThrottlingError",
                                      "ProvisionedThroughputExceeded"})


def _cancellation_codes(exc: BaseException) -> list[str]:
    if error_code(exc) != "TransactionCanceledException":
        return []
    reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
    return [str(r.get("Code") or "None") for r in reasons if isinstance(r, dict)]


def _conflict_only(exc: BaseException) -> bool:
    codes = _cancellation_codes(exc)
    return set(codes) <= _RETRYABLE_CANCELLATIONS and any(c != "None" for c in codes)


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
                if error_code(exc) == "ConditionalCheckFailedException" \
                        or not (transient(exc) or _conflict_only(exc)) \
                        or attempt + 1 == backoff.attempts:
                    raise
                self.counter.retries += 1
                backoff.wait(attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _transact(self, items: list[dict[str, Any]], what: str) -> bool:
        """One TransactWriteItems (all or nothing); False when a condition did not hold.

        IAM authorizes each action as its single operation (DynamoDB developer guide, "Using IAM
        with DynamoDB transactions"): Put needs dynamodb:PutItem, Update dynamodb:UpdateItem."""
        try:
            self._call("transact_write_items", TransactItems=items)
        except AWS_FAILURES as exc:
            if "ConditionalCheckFailed" in _cancellation_codes(exc):
                return False
            raise describe(exc, f"dynamodb TransactWriteItems {self.table} ({what})",
                           "dynamodb:PutItem, dynamodb:UpdateItem") from None
        return True

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

    def finding_write(self, image_key: str, found: Observed, ev: Evaluation,
                      reopened: bool) -> dict[str, Any]:
        """A finding of this scan (first seen kept; reopened when it had been fixed)."""
        values = {":k": ev.order_key, ":t": ev.scanned_at, ":id": found.id,
                  ":sev": found.severity, ":pkg": found.package,
                  ":ver": found.installed_version, ":fix": found.fixed_version,
                  ":disp": found.disposition, ":why": found.reason,
                  ":repo": ev.image.repository}
        opened = ", opened_key = :k" if reopened else ""
        return {"Update": {
            "TableName": self.table,
            "Key": _item({"pk": f"IMAGE#{image_key}", "sk": FINDING + found.fingerprint}),
            "UpdateExpression": "SET vulnerability_id = :id, severity = :sev, package = :pkg, "
            "installed_version = :ver, fixed_version = :fix, disposition = :disp, "
            "waived_reason = :why, "
            "repository = :repo, last_seen = :t, order_key = :k, "
            f"first_seen = if_not_exists(first_seen, :t){opened} "
            "REMOVE fixed_at, fixed_severity, fixed_key, mttr_seconds",
            "ConditionExpression": "attribute_not_exists(order_key) OR order_key <= :k",
            "ExpressionAttributeValues": _item(values)}}

    def fixed_write(self, image_key: str, fingerprint: str, item: dict[str, Any],
                    ev: Evaluation) -> dict[str, Any]:
        """A finding this scan no longer has: fixed, with its time to remediate."""
        first = dt.datetime.fromisoformat(str(item.get("first_seen")).replace("Z", "+00:00"))
        fixed = dt.datetime.fromisoformat(ev.scanned_at.replace("Z", "+00:00"))
        mttr = max(0, int((fixed - first).total_seconds()))
        return {"Update": {
            "TableName": self.table,
            "Key": _item({"pk": f"IMAGE#{image_key}", "sk": FINDING + fingerprint}),
            "UpdateExpression": "SET fixed_at = :t, fixed_severity = :sev, fixed_key = :k, "
            "mttr_seconds = :m, order_key = :k",
            "ConditionExpression": "order_key <= :k",
            "ExpressionAttributeValues": _item({":t": ev.scanned_at, ":sev": item["severity"],
                                                ":k": ev.order_key, ":m": mttr})}}

    def _history_write(self, image_key: str, ev: Evaluation, event_kind: str) -> dict[str, Any]:
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=HISTORY_DAYS)
        item = {"pk": f"IMAGE#{image_key}", "sk": HISTORY + ev.order_key,
                "decision": ev.decision, "counts": ev.counts, "scanned_at": ev.scanned_at,
                "policy_version": ev.policy_version, "event_kind": event_kind,
                "expires_at": int(expires.timestamp())}
        return {"Put": {"TableName": self.table, "Item": _item(item)}}

    def _state_write(self, image_key: str, ev: Evaluation,
                     alert: dict[str, Any] | None) -> dict[str, Any]:
        """The image's new current state, only over an older one (its order key grows)."""
        values: dict[str, Any] = {
            ":k": ev.order_key, ":repo": ev.image.repository, ":reg": ev.image.registry_id,
            ":dig": ev.image.digest, ":tags": list(ev.tags), ":dec": ev.decision,
            ":counts": ev.counts, ":viol": ev.violations, ":pv": ev.policy_version,
            ":ps": ev.policy_source, ":scan": ev.scanned_at, ":st": ev.scan_type,
        }
        update = ("SET order_key = :k, repository = :repo, registry_id = :reg, digest = :dig, "
                  "tags = :tags, decision = :dec, counts = :counts, violations = :viol, "
                  "policy_version = :pv, policy_source = :ps, last_scan = :scan, scan_type = :st")
        # A scan result means the image is there and scanned again (re-pushed, or scanning
        # resumed): a terminal state recorded earlier no longer holds.
        if alert:
            values[":alert"] = alert
            update += f", alert_pending = :alert REMOVE {TERMINAL_FIELDS}"
        else:
            update += f" REMOVE alert_pending, {TERMINAL_FIELDS}"
        return {"Update": {
            "TableName": self.table, "Key": _item({"pk": f"IMAGE#{image_key}", "sk": STATE}),
            "UpdateExpression": update,
            "ConditionExpression": "attribute_not_exists(order_key) OR order_key < :k",
            "ExpressionAttributeValues": _item(values)}}

    def record_scan(self, image_key: str, ev: Evaluation, finding_writes: list[dict[str, Any]],
                    event_kind: str, alert: dict[str, Any] | None) -> bool:
        """The scan's inventory writes, its history item and the new state, as one transaction
        (one request instead of one per item); False when a newer (or the same) result is
        stored, and then nothing of this one is written.

        A transaction holds at most TRANSACT_ITEMS actions (DynamoDB API Reference,
        "TransactWriteItems"): findings beyond what fits with history and state go first, in
        transactions of their own, so the state is still written last."""
        final = [self._history_write(image_key, ev, event_kind),
                 self._state_write(image_key, ev, alert)]
        split = max(0, len(finding_writes) - (TRANSACT_ITEMS - len(final)))
        ahead, last = finding_writes[:split], finding_writes[split:]
        for start in range(0, len(ahead), TRANSACT_ITEMS):
            if not self._transact(ahead[start:start + TRANSACT_ITEMS], "inventory"):
                return False
        return self._transact([*last, *final], "scan result")

    def clear_alert(self, image_key: str, order_key: str) -> None:
        self._update({"pk": f"IMAGE#{image_key}", "sk": STATE},
                     UpdateExpression="REMOVE alert_pending",
                     ConditionExpression="order_key = :k",
                     ExpressionAttributeValues=_item({":k": order_key}))

    def record_terminal(self, image: ImageRef, status: str, reason: str, at_ms: int,
                        alert: dict[str, Any] | None, *, gone: bool) -> bool:
        """The image's terminal state (deleted, or never to be scanned again), with one history
        item, in one transaction; False when this very state is already recorded (a duplicate,
        or the next of a deleted image's CLOSED finding events). ``gone``: the image no longer
        exists, so it stops counting as deployed (out of the sparse ``deployed`` index)."""
        key = image.key
        values: dict[str, Any] = {":s": status, ":why": reason[:1000], ":at": iso_ms(at_ms),
                                  ":repo": image.repository, ":reg": image.registry_id,
                                  ":dig": image.digest}
        update = ("SET terminal = :s, terminal_reason = :why, terminal_at = :at, "
                  "repository = :repo, registry_id = :reg, digest = :dig")
        if alert:
            values[":alert"] = alert
            update += ", alert_pending = :alert"
        if gone:
            values[":f"] = False
            update += ", deployed = :f REMOVE deployed_pk"
        expires = dt.datetime.fromtimestamp(at_ms / 1000, dt.UTC) + dt.timedelta(days=HISTORY_DAYS)
        history = {"pk": f"IMAGE#{key}", "sk": f"{HISTORY}{at_ms:015d}#{status}",
                   "decision": status.lower(), "terminal": status, "reason": reason[:1000],
                   "event_kind": "terminal", "expires_at": int(expires.timestamp())}
        return self._transact([
            {"Update": {"TableName": self.table, "Key": _item({"pk": f"IMAGE#{key}", "sk": STATE}),
                        "UpdateExpression": update,
                        "ConditionExpression": "attribute_not_exists(terminal) OR terminal <> :s",
                        "ExpressionAttributeValues": _item(values)}},
            {"Put": {"TableName": self.table, "Item": _item(history)}},
        ], "terminal state")

    def count_failure(self, message_id: str) -> int:
        """One more failed attempt of this SQS message; how many it has had.

        Lambda's ApproximateReceiveCount counts receives, not failures: a batch returned because
        the function was throttled or timed out, or a record not started for lack of time,
        raises it too. Only a record that ran and failed comes here. The item expires with the
        longest an SQS message can live (14 days)."""
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=ATTEMPT_DAYS)
        try:
            response = self._call(
                "update_item", TableName=self.table,
                Key=_item({"pk": f"{ATTEMPTS}{message_id}", "sk": ATTEMPTS.rstrip("#")}),
                UpdateExpression="ADD attempts :one SET expires_at = :e",
                ExpressionAttributeValues=_item({":one": 1, ":e": int(expires.timestamp())}),
                ReturnValues="UPDATED_NEW")
        except AWS_FAILURES as exc:
            raise describe(exc, f"dynamodb UpdateItem {self.table} (failed attempts)",
                           "dynamodb:UpdateItem") from None
        return int(_plain(response["Attributes"])["attempts"])

    def clear_terminal_alert(self, image_key: str, status: str) -> None:
        self._update({"pk": f"IMAGE#{image_key}", "sk": STATE},
                     UpdateExpression="REMOVE alert_pending",
                     ConditionExpression="terminal = :s",
                     ExpressionAttributeValues=_item({":s": status}))
