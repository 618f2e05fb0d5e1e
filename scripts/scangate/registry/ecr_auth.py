"""ECR login through boto3: ``ecr:GetAuthorizationToken`` gives HTTP Basic credentials.

This is what ``aws ecr get-login-password`` does, without installing the AWS CLI (or a Docker
credential helper) in a job that holds the ID token.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from scangate.aws.clients import AWS_FAILURES, STANDARD_RETRIES, describe
from scangate.registry.errors import RegistryError


def ecr_credentials(session: Any, account: str, region: str) -> tuple[str, str]:
    """(user, password) for the registry of ``account`` in ``region``."""
    try:
        ecr = session.client("ecr", region_name=region, config=STANDARD_RETRIES)
        # registryIds is deprecated: the token opens every registry the identity may use
        # (the repository policy decides), including other accounts'.
        response = ecr.get_authorization_token()
    except AWS_FAILURES as exc:
        raise describe(exc, f"ecr:GetAuthorizationToken for {account} in {region}",
                       needs="ecr:GetAuthorizationToken") from None
    data = response.get("authorizationData") or []
    token = data[0].get("authorizationToken") if data and isinstance(data[0], dict) else None
    if not isinstance(token, str):
        raise RegistryError(f"ecr:GetAuthorizationToken for {account}: no token in the answer")
    try:
        user, sep, password = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise RegistryError(
            f"ecr:GetAuthorizationToken for {account}: the token is not base64 user:password"
        ) from None
    if not sep or not user or not password:
        raise RegistryError(
            f"ecr:GetAuthorizationToken for {account}: the token is not base64 user:password"
        )
    return user, password
