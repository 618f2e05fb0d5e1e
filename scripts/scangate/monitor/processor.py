"""One action at a time: evaluate an image and record it in order, or fan the sweep out."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from scangate.aws.clients import AWS_FAILURES, client, describe
from scangate.aws.ecr import IMAGE_DELETED, REPOSITORY_DELETED, ImageUnavailable
from scangate.errors import AwsError, ScangateError
from scangate.monitor import alerts, metrics
from scangate.monitor.evaluate import Evaluation, Observed, judge
from scangate.monitor.events import OWN_SOURCE, SWEEP_IMAGE, Evaluate, ImageRef, Sweep
from scangate.monitor.store import Store
from scangate.policy import Policy

POLICY_CACHE_SECONDS = 60.0
GONE = (IMAGE_DELETED, REPOSITORY_DELETED)
SQS_BATCH = 10


@dataclass(frozen=True)
class Config:
    table: str
    policy_parameter: str
    queue_url: str = ""
    dlq_url: str = ""
    topic_arn: str = ""
    slack_parameter: str = ""
    region: str = ""
    max_attempts: int = 3

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        missing = [n for n in ("SCANGATE_TABLE", "SCANGATE_POLICY_PARAMETER") if not env.get(n)]
        if missing:
            raise AwsError(f"monitor: environment variable(s) {', '.join(missing)} not set; "
                           "the templates set them (templates/terraform/monitoring)")
        attempts = env.get("SCANGATE_MAX_ATTEMPTS", "3")
        return cls(
            table=env["SCANGATE_TABLE"],
            policy_parameter=env["SCANGATE_POLICY_PARAMETER"],
            queue_url=env.get("SCANGATE_QUEUE_URL", ""),
            dlq_url=env.get("SCANGATE_DLQ_URL", ""),
            topic_arn=env.get("SCANGATE_SNS_TOPIC_ARN", ""),
            slack_parameter=env.get("SCANGATE_SLACK_WEBHOOK_PARAMETER", ""),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "",
            max_attempts=int(attempts) if attempts.isdigit() and int(attempts) > 0 else 3,
        )


class WrongRegion(ScangateError):
    """The event is about an image in another region than the one this monitor reads (or names
    no region where a deletion would be recorded): a configuration error, never a deletion.

    ECR's API names no region (the client's endpoint does), and it answers an image or
    repository of another region with ImageNotFoundException / RepositoryNotFoundException,
    the very answers a deletion gives. The account needs no such check: the event's registry
    travels in every call as ``registryId``, so a "not found" is about that registry."""


@dataclass
class Outcome:
    status: str  # "recorded", "unchanged", "stale", "swept", "terminal"
    decision: str = ""
    alert: str = ""


@dataclass
class Processor:
    config: Config
    ecr: Any
    store: Store
    sqs: Any = None
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    metrics_stream: IO[str] | None = None
    policy_ttl: float = POLICY_CACHE_SECONDS
    alerts_sent: list[dict[str, Any]] = field(default_factory=list)
    _policy: tuple[float, Policy, int] | None = None
    _slack_url: str | None = None
    _sns: Any = None

    @classmethod
    def from_config(cls, config: Config) -> Processor:
        region = config.region or None
        return cls(config=config, ecr=client("ecr", region),
                   store=Store(client("dynamodb", region, botocore_retries=False), config.table),
                   sqs=client("sqs", region))

    # --- inputs --------------------------------------------------------------------------

    def policy(self) -> tuple[Policy, int]:
        """The CI policy from SSM, re-read at most once a minute per Lambda container."""
        from scangate.aws.ssm import load_versioned_policy_from_ssm

        cached = self._policy
        if cached and time.monotonic() - cached[0] < self.policy_ttl:
            return cached[1], cached[2]
        policy, version = load_versioned_policy_from_ssm(self.config.policy_parameter,
                                                          region=self.config.region or None)
        self._policy = (time.monotonic(), policy, version)
        return policy, version

    def forget_policy(self) -> None:
        self._policy = None

    def slack_url(self) -> str:
        if self._slack_url is None:
            self._slack_url = ""
            if self.config.slack_parameter:
                ssm = client("ssm", self.config.region or None)
                try:
                    response = ssm.get_parameter(Name=self.config.slack_parameter,
                                                 WithDecryption=True)
                except AWS_FAILURES as exc:
                    raise describe(exc, f"ssm:{self.config.slack_parameter}: ssm GetParameter "
                                   "(Slack webhook)", "ssm:GetParameter, kms:Decrypt") from None
                self._slack_url = str(response["Parameter"]["Value"])
        return self._slack_url

    def sns(self) -> Any:
        """The alert topic's SNS client, made at the first alert and kept with the processor
        (one per Lambda container, like the other clients: a client per alert cost more CPU
        than the alert)."""
        if self._sns is None:
            from scangate.aws.sns import topic_client

            self._sns = topic_client(self.config.topic_arn)
        return self._sns

    # --- actions -------------------------------------------------------------------------

    def run(self, action: Evaluate | Sweep) -> Outcome:
        if isinstance(action, Sweep):
            return self.sweep()
        return self.evaluate(action)

    @property
    def region(self) -> str:
        """The region every ECR read goes to: the client's."""
        return str(self.ecr.meta.region_name)

    def check_region(self, action: Evaluate) -> None:
        """WrongRegion when the event places the image in another region than ECR's here."""
        if action.region and action.region != self.region:
            raise WrongRegion(
                f"monitor: {action.kind} event {action.event_id[:80]} is about "
                f"{action.image.key} in region {action.region}, but this monitor reads ECR in "
                f"{self.region}: nothing read or recorded (an answer from here would make the "
                f"image look deleted). Deploy the monitoring stack in {action.region} and stop "
                f"forwarding its events here; the message is in the dead-letter queue")

    def evaluate(self, action: Evaluate) -> Outcome:
        started = time.monotonic()
        self.check_region(action)
        key = action.image.key
        state = self.store.state(key)
        if action.closes_finding and state and state.get("terminal") in GONE \
                and not state.get("alert_pending"):
            # A deleted image's next CLOSED finding: the deletion is recorded, nothing to read
            # (a re-pushed image is scanned again and its scan event re-evaluates it).
            return Outcome("unchanged", str(state["terminal"]).lower())
        if action.deployed is not None:
            self.store.set_deployed(key, action.deployed)
        deployed = action.deployed if action.deployed is not None else \
            bool(state and state.get("deployed"))
        policy, version = self.policy()
        try:
            ev = judge(self.ecr, action.image, policy, version, self.now())
        except ImageUnavailable as exc:
            return self._terminal(action.image, state, deployed, exc, action.region)
        stored_key = str(state.get("order_key", "")) if state else ""
        if stored_key and stored_key >= ev.order_key:
            pending = state.get("alert_pending") if state else None
            if pending and stored_key == ev.order_key:
                # An earlier attempt recorded this result but could not deliver its alert.
                self._deliver(pending, ev)
                self.store.clear_alert(key, ev.order_key)
                return Outcome("recorded", ev.decision, str(pending.get("kind", "")))
            return Outcome("unchanged" if stored_key == ev.order_key else "stale",
                           str(state.get("decision", "")) if state else "")
        writes, new = self._inventory_writes(key, ev)
        previous = str(state["decision"]) if state and state.get("decision") else None
        kind = alerts.change(previous, ev, deployed, new)
        alert = alerts.build(kind, ev, new, self.config.region or "us-east-1") if kind else None
        if not self.store.record_scan(key, ev, writes, action.kind, alert):
            return Outcome("stale", ev.decision)  # a newer result landed meanwhile
        if alert:
            self._deliver(alert, ev)
            self.store.clear_alert(key, ev.order_key)
        metrics.image_metrics(ev.image.repository, ev.counts, ev.decision == "fail",
                              (time.monotonic() - started) * 1000, ev.image.digest,
                              stream=self.metrics_stream)
        return Outcome("recorded", ev.decision, kind or "")

    def _inventory_writes(self, key: str, ev: Evaluation) -> tuple[list[dict[str, Any]],
                                                                    list[Observed]]:
        """The writes that record every finding of this scan and close those gone (one Query
        reads what is known); and the findings new to it."""
        known = self.store.inventory(key)
        new: list[Observed] = []
        writes: list[dict[str, Any]] = []
        for fingerprint, found in ev.findings.items():
            item = known.get(fingerprint)
            reopened = item is None or (bool(item.get("fixed_at"))
                                        and str(item.get("fixed_key", "")) < ev.order_key)
            # A retry of this very evaluation finds its own writes: they are still new.
            if reopened or (item is not None and item.get("opened_key") == ev.order_key):
                new.append(found)
            if item is None or reopened or str(item.get("order_key", "")) < ev.order_key:
                writes.append(self.store.finding_write(key, found, ev, reopened))
        for fingerprint, item in known.items():
            if fingerprint not in ev.findings and not item.get("fixed_at") \
                    and str(item.get("order_key", "")) < ev.order_key:
                writes.append(self.store.fixed_write(key, fingerprint, item, ev))
        return writes, new

    def _terminal(self, image: ImageRef, state: dict[str, Any] | None, deployed: bool,
                  exc: ImageUnavailable, action_region: str) -> Outcome:
        """Record once that the image was deleted or will not be scanned again; alert once if
        it is deployed. Done either way: retrying cannot bring the findings back, and a deleted
        image's CLOSED finding events (one per finding) all end here."""
        status = exc.status
        gone = status in GONE
        if gone and not action_region:
            raise WrongRegion(
                f"monitor: {image.key}: ECR in {self.region} answers {status} ({exc.message}), "
                "but the event names no region, so a deletion cannot be told from an image in "
                "another region: nothing recorded (EventBridge sets every event's region; send "
                "our own events with 'region' or detail 'registry-region')")
        if state and state.get("terminal") == status:
            if gone and deployed:
                # Marked deployed after its deletion was recorded: it still cannot count.
                self.store.set_deployed(image.key, False)
            pending = state.get("alert_pending")
            if pending and pending.get("kind") == alerts.UNMONITORED:
                # An earlier attempt recorded this state but could not deliver its alert.
                self._send(pending, image, status.lower())
                self.store.clear_terminal_alert(image.key, status)
                return Outcome("terminal", status.lower(), alerts.UNMONITORED)
            return Outcome("unchanged", status.lower())
        alert = alerts.terminal(image, status, exc.message, self.config.region or "us-east-1") \
            if deployed else None
        at_ms = int(self.now().timestamp() * 1000)
        if not self.store.record_terminal(image, status, exc.message, at_ms, alert, gone=gone):
            return Outcome("unchanged", status.lower())  # recorded meanwhile by another
        metrics.outcome_metric("ImageDeleted" if gone else "ScanUnavailable",
                               stream=self.metrics_stream)
        if alert:
            self._send(alert, image, status.lower())
            self.store.clear_terminal_alert(image.key, status)
        return Outcome("terminal", status.lower(), alert["kind"] if alert else "")

    def _deliver(self, alert: dict[str, Any], ev: Evaluation) -> None:
        self._send(alert, ev.image, ev.decision)

    def _send(self, alert: dict[str, Any], image: ImageRef, decision: str) -> None:
        alerts.send(alert, topic_arn=self.config.topic_arn, slack_url=self.slack_url(),
                    attributes={"repository": image.repository, "digest": image.digest,
                                "decision": decision},
                    sns=self.sns() if self.config.topic_arn else None)
        self.alerts_sent.append(alert)

    def sweep(self) -> Outcome:
        """Queue one re-evaluation per deployed image (each its own SQS message and retry)."""
        if not self.config.queue_url:
            raise AwsError("monitor: SCANGATE_QUEUE_URL not set; the sweep needs the queue")
        images = self.store.deployed()
        failing = sum(1 for i in images if i.get("decision") == "fail")
        metrics.sweep_metrics(len(images), failing, stream=self.metrics_stream)
        stamp = self.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        entries = []
        for number, item in enumerate(images):
            event = {"version": "0", "id": f"sweep-{stamp}-{number}", "source": OWN_SOURCE,
                     "detail-type": SWEEP_IMAGE, "account": str(item["registry_id"]),
                     "time": stamp, "region": self.region, "resources": [],
                     "detail": {"repository-name": str(item["repository"]),
                                "registry-id": str(item["registry_id"]),
                                "image-digest": str(item["digest"])}}
            entries.append({"Id": str(number % SQS_BATCH), "MessageBody": json.dumps(event)})
        for start in range(0, len(entries), SQS_BATCH):
            batch = entries[start:start + SQS_BATCH]
            try:
                response = self.sqs.send_message_batch(QueueUrl=self.config.queue_url,
                                                       Entries=batch)
            except AWS_FAILURES as exc:
                raise describe(exc, "sqs SendMessageBatch (sweep)", "sqs:SendMessage") from None
            if response.get("Failed"):
                raise AwsError(f"sqs SendMessageBatch (sweep): {len(response['Failed'])} "
                               "messages refused; the sweep is retried")
        return Outcome("swept", alert=str(len(entries)))
