"""Publishing the gate's decision to an SNS topic."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from scangate.aws.clients import AWS_FAILURES, client, describe, error_code
from scangate.errors import AwsError

_TOPIC_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):sns:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):"
    r"(?P<name>[A-Za-z0-9_-]{1,256}(?P<fifo>\.fifo)?)"
)
SUBJECT_MAX = 100
MESSAGE_MAX_BYTES = 256 * 1024


def check_topic_arn(arn: str) -> str:
    """The topic's region; an error when ``arn`` is not an SNS topic ARN."""
    match = _TOPIC_ARN.fullmatch(arn)
    if not match:
        raise AwsError(f"--sns-topic-arn {arn!r} is not an SNS topic ARN "
                       "(arn:aws:sns:REGION:ACCOUNT:NAME)")
    return match["region"]


def topic_client(topic_arn: str, *, session: Any = None) -> Any:
    """An SNS client for the topic's region, for a caller that publishes to it again and again
    (the monitor's Lambda: one per container, not one per alert)."""
    return client("sns", check_topic_arn(topic_arn), session=session)


def _subject(text: str) -> str:
    # SNS subjects: ASCII, no line breaks, at most 100 characters.
    ascii_only = "".join(c if 32 <= ord(c) < 127 else "?" for c in text.splitlines()[0])
    return ascii_only[:SUBJECT_MAX]


def publish(topic_arn: str, subject: str, message: str, attributes: dict[str, str],
            *, session: Any = None, sns: Any = None) -> str:
    """Publish and return the MessageId (``session``: a boto3 session, default the default
    credential chain; ``sns``: a client for the topic's region to reuse: :func:`topic_client`)."""
    region = check_topic_arn(topic_arn)
    body = message.encode("utf-8")
    if len(body) > MESSAGE_MAX_BYTES:
        message = body[: MESSAGE_MAX_BYTES - 64].decode("utf-8", "ignore") + "\n... (truncated)"
    kwargs = {
        "TopicArn": topic_arn,
        "Subject": _subject(subject),
        "Message": message,
        "MessageAttributes": {k: {"DataType": "String", "StringValue": v}
                              for k, v in attributes.items() if v},
    }
    if topic_arn.endswith(".fifo"):
        kwargs["MessageGroupId"] = "scangate"
        kwargs["MessageDeduplicationId"] = hashlib.sha256(message.encode()).hexdigest()
    if sns is None:
        sns = client("sns", region, session=session)
    try:
        response = sns.publish(**kwargs)
    except AWS_FAILURES as exc:
        if error_code(exc) in ("NotFound", "NotFoundException"):
            raise AwsError(f"SNS topic {topic_arn} not found; check --sns-topic-arn") from None
        raise describe(exc, f"sns Publish to {topic_arn}",
                       "sns:Publish (plus kms:GenerateDataKey and kms:Decrypt on an encrypted "
                       "topic's key)") from None
    return str(response.get("MessageId", ""))
