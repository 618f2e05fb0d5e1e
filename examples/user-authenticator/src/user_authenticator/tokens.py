"""Issuing and checking HS256 access tokens (JWT, RFC 7519)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt

# The only algorithm the service signs with, and so the only one it accepts: this is what
# stops 'alg: none' and HS/RS key-confusion tokens before any signature code runs.
ALGORITHM = "HS256"
ALLOWED_ALGORITHMS = (ALGORITHM,)
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub", "jti")
MAX_TOKEN_CHARS = 4096
LEEWAY_SECONDS = 5  # clock skew between hosts


class TokenError(Exception):
    """A token that does not verify; `reason` is a short code safe to return to the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenService:
    def __init__(self, secret: str, issuer: str, audience: str, ttl_seconds: int) -> None:
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self.ttl_seconds = ttl_seconds

    def issue(self, subject: str, now: int | None = None) -> str:
        issued_at = int(time.time()) if now is None else now
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": subject,
            "iat": issued_at,
            "exp": issued_at + self.ttl_seconds,
            "jti": uuid.uuid4().hex,
        }
        token: Any = jwt.encode(claims, self._secret, algorithm=ALGORITHM)
        # PyJWT 1.x returned bytes; 2.x returns str. Normalize rather than trust the pin.
        return token.decode() if isinstance(token, bytes) else str(token)

    def verify(self, token: str) -> dict[str, Any]:
        if len(token) > MAX_TOKEN_CHARS:
            raise TokenError("token_too_large")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise TokenError("malformed_token") from None
        # Checked before decoding as well, so the refusal has its own reason code and does
        # not depend on the library's own allow-list handling (which older PyJWT got wrong).
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise TokenError("algorithm_not_allowed")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=list(ALLOWED_ALGORITHMS),
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token_expired") from None
        except jwt.InvalidSignatureError:
            raise TokenError("bad_signature") from None
        except jwt.InvalidAudienceError:
            raise TokenError("wrong_audience") from None
        except jwt.InvalidIssuerError:
            raise TokenError("wrong_issuer") from None
        except jwt.MissingRequiredClaimError:
            raise TokenError("missing_claim") from None
        except jwt.InvalidTokenError:
            raise TokenError("invalid_token") from None
        if not isinstance(claims.get("sub"), str) or not isinstance(claims.get("jti"), str):
            raise TokenError("invalid_token")
        return claims
