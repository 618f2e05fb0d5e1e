"""boto3 clients and the translation of botocore failures into one-line scangate errors."""

from __future__ import annotations

import os
import threading
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)
from botocore.loaders import Loader

from scangate import __version__
from scangate.errors import AwsError

# botocore's "standard" mode retries throttling, 5xx and connection errors with exponential
# backoff and jitter. Security Hub imports opt out (max_attempts=1) and retry in
# scangate.aws.retry instead, where tests can see every attempt.
STANDARD_RETRIES = Config(
    retries={"mode": "standard", "max_attempts": 5},
    user_agent_extra=f"scangate/{__version__}",
)
NO_RETRIES = Config(
    retries={"mode": "standard", "max_attempts": 1},
    user_agent_extra=f"scangate/{__version__}",
)


# boto3 adds its own data directory (resource models) to every Session's loader.
_BOTO3_DATA = os.path.join(os.path.dirname(boto3.__file__), "data")


class _SharedLoader(Loader):  # type: ignore[misc]  # botocore has no type stubs here
    """botocore's data loader (endpoints, partitions, service models), one per process.

    A new Session parses those JSON files again: about 0.1 s of CPU per client, paid by every
    invocation of the monitor Lambda and every AWS call of a CLI step. A Session's clients
    already share its loader, across threads too (clients are thread-safe and load paginators
    and waiters through it), so the sessions share one as well. Each Session is still new, so
    credentials, region and endpoint are read afresh every time.

    boto3 appends its data directory to ``search_paths`` each time a Session is made; here that
    directory is in the paths from the start and the append lands in a copy, so the list does
    not grow by one per session.
    """

    def __init__(self, data_path: str | None) -> None:
        extra = [os.path.expanduser(os.path.expandvars(path))
                 for path in data_path.split(os.pathsep)] if data_path else []
        super().__init__(extra_search_paths=extra)
        self._paths = (*super().search_paths, _BOTO3_DATA)

    @property
    def search_paths(self) -> list[str]:
        return list(self._paths)


_LOADERS: dict[str | None, _SharedLoader] = {}
_LOADERS_LOCK = threading.Lock()


def new_session(**kwargs: Any) -> Any:
    """``boto3.session.Session(**kwargs)`` that reads botocore's data through the process's
    shared loader (the one for its ``data_path``: ``AWS_DATA_PATH`` or the config file)."""
    core = botocore.session.get_session()
    data_path = core.get_config_variable("data_path")
    with _LOADERS_LOCK:
        loader = _LOADERS.get(data_path)
        if loader is None:
            loader = _LOADERS[data_path] = _SharedLoader(data_path)
    core.register_component("data_loader", loader)
    return boto3.session.Session(botocore_session=core, **kwargs)


def client(service: str, region: str | None = None, *, botocore_retries: bool = True,
           session: Any = None) -> Any:
    """A client of ``session`` (default: the default credential chain; scangate.aws.identity
    makes one for a role assumed with a CI ID token); botocore honours ``AWS_ENDPOINT_URL``."""
    config = STANDARD_RETRIES if botocore_retries else NO_RETRIES
    try:
        return (session or new_session()).client(
            service, region_name=region or None, config=config
        )
    except NoRegionError:
        raise AwsError(
            f"{service}: no AWS region: pass --region or set AWS_REGION (or AWS_DEFAULT_REGION)"
        ) from None
    except BotoCoreError as exc:
        raise AwsError(f"{service}: cannot create the AWS client: {exc}") from None


def resolve_region(region: str | None) -> str:
    """The region from the flag, else the environment or AWS config files (no network)."""
    found = region or new_session().region_name
    if not found:
        raise AwsError("no AWS region: pass --region or set AWS_REGION (or AWS_DEFAULT_REGION)")
    return str(found)


def partition_for(region: str) -> str:
    try:
        return str(new_session().get_partition_for_region(region))
    except Exception:  # noqa: BLE001 - an unknown region still belongs to the main partition
        return "aws"


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def error_message(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return " ".join(str(exc.response.get("Error", {}).get("Message", "")).split())
    return str(exc)


def describe(exc: BaseException, action: str, needs: str = "") -> AwsError:
    """One line for a failed call: which call, what AWS said, and how to fix it."""
    hint = f" (needs IAM permission {needs})" if needs else ""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        message = " ".join(str(error.get("Message", "")).split())
        # SNS says AuthorizationError where other services say AccessDenied.
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
                    "InvalidAccessException", "UnrecognizedClientException",
                    "AuthorizationError"):
            return AwsError(f"{action}: {code}: {message}{hint}")
        return AwsError(f"{action}: {code}: {message}")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return AwsError(
            f"{action}: no AWS credentials found: configure the default credential chain "
            "(environment, profile, web identity/OIDC, instance role)"
        )
    if isinstance(exc, NoRegionError):
        return AwsError(f"{action}: no AWS region: pass --region or set AWS_REGION")
    if isinstance(exc, EndpointConnectionError):
        return AwsError(f"{action}: cannot reach the AWS endpoint: {exc}")
    return AwsError(f"{action}: {type(exc).__name__}: {exc}")


AWS_FAILURES: tuple[type[BaseException], ...] = (ClientError, BotoCoreError)
