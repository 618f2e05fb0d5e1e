"""Exponential backoff with full jitter, and which AWS failures are worth another attempt.

The Security Hub client is built without botocore's retries so that every attempt happens here,
where a test can count them and a run can say how often it waited. The Slack webhook uses the
same backoff.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# Error codes (with or without the "Exception" suffix) that mean "slow down" or "try again".
_TRANSIENT = {
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "TooManyRequests",
    "RequestLimitExceeded",
    # Security Hub answers its 10 requests/s rate limit with LimitExceededException.
    "LimitExceededException",
    "LimitExceeded",
    "InternalException",
    "InternalFailure",
    "InternalError",
    "InternalServerError",
    "InternalServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
}


def transient_code(code: str) -> bool:
    return code in _TRANSIENT


def transient(exc: BaseException) -> bool:
    """A throttling, 5xx or connection failure: the same call may succeed later."""
    # Imported here: Backoff also serves the Slack webhook, which needs no botocore.
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    connection = (EndpointConnectionError, ConnectionClosedError, ConnectTimeoutError,
                  ReadTimeoutError)
    if isinstance(exc, connection):
        return True
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return transient_code(code) or status == 429 or (isinstance(status, int) and status >= 500)
    return False


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


@dataclass
class Backoff:
    """Full-jitter exponential backoff: attempt n waits uniform(0, min(cap, base * 2**n))."""

    attempts: int = 8
    base: float = 0.5
    cap: float = 20.0
    # None: the module's sleep, looked up at call time so a test can replace it.
    sleep: Callable[[float], None] | None = None
    jitter: Callable[[], float] = field(default=random.random)
    waits: list[float] = field(default_factory=list)

    def wait(self, attempt: int, at_least: float = 0.0) -> None:
        """Sleep before attempt ``attempt + 1``; ``at_least`` honours a server's Retry-After."""
        delay = max(at_least, self.jitter() * min(self.cap, self.base * (2 ** attempt)))
        self.waits.append(delay)
        (self.sleep or _sleep)(delay)
