"""Loaded into the monitor tests' moto server (its PYTHONPATH: tests/monitor/conftest.py).

Five patches to moto_server (moto 5.1.4), each in its own module:
- eventbridge_arrays: EventBridge's documented array matching, which moto's matcher lacks (a
  correction: the monitor's rules depend on it);
- sqs_retention: the same answer as moto's retention check on receive, without computing every
  queue attribute for every message (a speed-up only: a queue of 1,000 messages cost moto
  seconds per receive);
- sqs_counts: the same message counts with one clock read per count, not two per message (a
  speed-up only: every SendMessage built them);
- dynamodb_rollback: TransactWriteItems backs up and restores the items it names, not every
  table (a speed-up only: the monitor writes every scan as one transaction);
- request_overhead: the server's per-request listing of moto's package and access log line
  (a speed-up only).
"""

import dynamodb_rollback
import eventbridge_arrays
import request_overhead
import sqs_counts
import sqs_retention

dynamodb_rollback.install()
eventbridge_arrays.install()
request_overhead.install()
sqs_counts.install()
sqs_retention.install()
