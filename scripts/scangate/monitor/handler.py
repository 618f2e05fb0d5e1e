"""The Lambda entry point: an SQS batch of EventBridge events -> partial batch response.

- A record that is not an event the monitor handles goes to the dead-letter queue at once,
  with the reason as a message attribute, and counts as done (retrying cannot fix it).
- A record that fails otherwise (AWS throttled past the retries, an image being rescanned) is
  reported in ``batchItemFailures``: SQS redelivers only that one; the rest of the batch is
  done and never replayed. Its failed attempts are counted in the table (not Lambda's
  ApproximateReceiveCount, which a throttled or timed-out invocation raises for records that
  never ran); on its last attempt (``SCANGATE_MAX_ATTEMPTS``) it goes to the dead-letter queue
  with the reason instead of looping.
- A record is not started when the invocation's remaining time
  (``context.get_remaining_time_in_millis()``) is below ``RECORD_RESERVE_MS``: it goes back as a
  batch item failure, no attempt counted, rather than being cut off by the timeout (which
  would return the whole batch). The first record of an invocation always starts: the
  function's timeout is the promise that one record fits.
- A terminal state (the image deleted, or never to be scanned again) is recorded once and the
  record is done (scangate.monitor.processor).
- An event about an image in another region than the monitor's (scangate.monitor.processor.
  WrongRegion) is a configuration error, never a deletion: it is logged as an error, counted
  in the ``WrongRegion`` metric and dead-lettered at once with the reason (no retry can change
  the region; the dead-letter alarm alerts the topic, and the message waits for a redrive).
- Events about one image in one batch are evaluated once: a second scan or finding event of
  the same image reads the same scan moments later, so it takes the first one's outcome (done,
  or redelivered with it). A deployment mark still runs (it changes what is recorded).
- Nothing escapes as an exception: an uncaught error would fail the whole batch and replay the
  records that succeeded. The queue's own redrive policy stays as the backstop for a crash.

Lambda setting: handler ``scangate.monitor.handler.handler``, event source mapping with
``FunctionResponseTypes: [ReportBatchItemFailures]``.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from typing import Any

from scangate.aws.clients import AWS_FAILURES, describe
from scangate.errors import ScangateError
from scangate.monitor import metrics
from scangate.monitor.events import Evaluate, MalformedEvent, parse
from scangate.monitor.processor import Config, Processor, WrongRegion

REASON_MAX = 1000
# The longest a record is expected to take: three ECR reads, the policy, up to a few DynamoDB
# requests with their backoff, SNS and Slack. The templates' 60 s timeout holds several.
RECORD_RESERVE_MS = 10_000
_processor: Processor | None = None


def _log(level: str, message: str, **fields: Any) -> None:
    print(json.dumps({"level": level, "message": message, **fields}, sort_keys=True,
                     default=str), file=sys.stderr, flush=True)


def processor() -> Processor:
    """One processor per Lambda container: clients and the policy cache are reused."""
    global _processor  # Lambda reuses the module (and this processor) between invocations
    if _processor is None:
        _processor = Processor.from_config(Config.from_env())
    return _processor


def dead_letter(proc: Processor, body: str, reason: str, message_id: str) -> None:
    if not proc.config.dlq_url:
        raise ScangateError("monitor: SCANGATE_DLQ_URL not set; cannot dead-letter "
                            f"record {message_id}")
    try:
        proc.sqs.send_message(
            QueueUrl=proc.config.dlq_url, MessageBody=body or "(empty)",
            MessageAttributes={
                "reason": {"DataType": "String", "StringValue": reason[:REASON_MAX] or "?"},
                "source-message-id": {"DataType": "String", "StringValue": message_id or "?"},
            })
    except AWS_FAILURES as exc:
        raise describe(exc, "sqs SendMessage (dead-letter queue)", "sqs:SendMessage") from None


def _dead_letter_now(proc: Processor, metric: str, body: object, reason: str,
                     message_id: str) -> bool:
    """A record no retry can fix: counted under ``metric`` and dead-lettered with the reason;
    False (redeliver it) only when the dead-letter queue itself cannot take it."""
    metrics.outcome_metric(metric, stream=proc.metrics_stream)
    try:
        dead_letter(proc, body if isinstance(body, str) else "", reason, message_id)
    except ScangateError as dlq_error:
        _log("ERROR", "dead-letter queue unavailable", reason=dlq_error.message)
        return False
    return True


def _attempt(record: dict[str, Any]) -> int:
    value = str((record.get("attributes") or {}).get("ApproximateReceiveCount") or "1")
    return int(value) if value.isdigit() else 1


def _failed_attempts(proc: Processor, record: dict[str, Any], message_id: str) -> int:
    """This failure counted with the earlier ones of the same message; should the count itself
    fail (the table is what failed), the receive count bounds it instead."""
    if not message_id:
        return _attempt(record)
    try:
        return proc.store.count_failure(message_id)
    except ScangateError as exc:
        _log("ERROR", "failed attempts not counted; using the receive count", reason=exc.message,
             messageId=message_id)
        return _attempt(record)


def process_record(proc: Processor, record: dict[str, Any],
                   evaluated: dict[str, bool] | None = None) -> bool:
    """True when the record is done (processed or dead-lettered); False: redeliver it.

    ``evaluated``: the images this batch already evaluated (key -> done), shared by the
    records of one batch."""
    message_id = str(record.get("messageId") or "")
    body = record.get("body")
    try:
        try:
            event = json.loads(body) if isinstance(body, str) else None
        except ValueError as exc:
            raise MalformedEvent(f"body is not JSON ({exc})") from None
        if event is None:
            raise MalformedEvent("record has no body")
        action = parse(event)
    except MalformedEvent as exc:
        _log("WARNING", "dead-lettered", reason=exc.message, messageId=message_id)
        return _dead_letter_now(proc, "Malformed", body, exc.message, message_id)
    key = action.image.key if isinstance(action, Evaluate) and action.deployed is None else ""
    try:
        if isinstance(action, Evaluate):
            # Before the batch's outcomes: another region's event never takes this one's.
            proc.check_region(action)
        if key and evaluated is not None and key in evaluated:
            _log("INFO", "evaluated earlier in this batch", messageId=message_id,
                 done=evaluated[key])
            return evaluated[key]
        done = _run(proc, action, record, message_id, body)
    except WrongRegion as exc:
        # Not kept as the image's outcome for the batch: the image is not what failed.
        _log("ERROR", "dead-lettered: wrong region", reason=exc.message, messageId=message_id)
        return _dead_letter_now(proc, "WrongRegion", body, exc.message, message_id)
    if key and evaluated is not None:
        evaluated[key] = done
    return done


def _run(proc: Processor, action: Any, record: dict[str, Any], message_id: str,
         body: object) -> bool:
    try:
        outcome = proc.run(action)
    except WrongRegion:
        raise  # a configuration error, not a failed attempt (process_record dead-letters it)
    except Exception as exc:  # noqa: BLE001 - one record must never fail the batch
        reason = exc.message if isinstance(exc, ScangateError) else \
            f"internal error: {type(exc).__name__}: {exc}"
        if not isinstance(exc, ScangateError):
            traceback.print_exc()
        attempt = _failed_attempts(proc, record, message_id)
        _log("ERROR", "record failed", reason=reason, messageId=message_id, attempt=attempt)
        if attempt >= proc.config.max_attempts:
            try:
                dead_letter(proc, body if isinstance(body, str) else "",
                            f"failed {attempt} times: {reason}", message_id)
            except ScangateError:
                return False
            return True
        metrics.outcome_metric("Retried", stream=proc.metrics_stream)
        return False
    _log("INFO", "processed", messageId=message_id, status=outcome.status,
         decision=outcome.decision, alert=outcome.alert)
    return True


class NotAnSqsBatch(ScangateError):
    """The function was invoked with something that is neither an SQS batch nor an event."""


def handle(proc: Processor, event: dict[str, Any],
           remaining_ms: Callable[[], int] | None = None) -> dict[str, Any]:
    """``remaining_ms``: the invocation's remaining time (Lambda's context), when known."""
    failures = []
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        if isinstance(event, dict) and "detail-type" in event:
            # Invoked by EventBridge directly (a rule targeting the function): one event, and a
            # failure raises so Lambda's asynchronous retries and dead-letter queue take it.
            record = {"messageId": str(event.get("id") or ""), "body": json.dumps(event),
                      "attributes": {"ApproximateReceiveCount": "1"}}
            if not process_record(proc, record):
                raise ScangateError(f"monitor: event {record['messageId']} failed; see the "
                                    "log line above (Lambda retries it)")
            return {"batchItemFailures": []}
        # Never silently succeed on an invocation that processed nothing.
        raise NotAnSqsBatch("monitor: invoked with neither an SQS batch (Records) nor an "
                            "EventBridge event; the templates connect it to the SQS queue")
    evaluated: dict[str, bool] = {}
    started = 0
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            continue
        left = remaining_ms() if remaining_ms is not None and started else None
        if left is not None and left < RECORD_RESERVE_MS:
            later = [str(r.get("messageId") or "") for r in records[index:] if isinstance(r, dict)]
            _log("WARNING", "records not started: too little time left", remaining_ms=left,
                 reserve_ms=RECORD_RESERVE_MS, messageIds=later)
            metrics.outcome_metric("NotStarted", stream=proc.metrics_stream)
            failures += [{"itemIdentifier": m} for m in later]
            break
        started += 1
        if not process_record(proc, record, evaluated):
            failures.append({"itemIdentifier": str(record.get("messageId") or "")})
    return {"batchItemFailures": failures}


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Lambda's entry point."""
    try:
        proc = processor()
    except Exception as exc:  # misconfiguration: retry every record (re-raised), say why
        reason = exc.message if isinstance(exc, ScangateError) else repr(exc)
        _log("ERROR", "monitor cannot start", reason=reason)
        records = event.get("Records") if isinstance(event, dict) else None
        if not isinstance(records, list):
            raise  # not a batch: fail the invocation itself (Lambda retries it)
        return {"batchItemFailures": [{"itemIdentifier": str(r.get("messageId") or "")}
                                      for r in records if isinstance(r, dict)]}
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return handle(proc, event, remaining if callable(remaining) else None)
