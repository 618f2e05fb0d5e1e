"""A small client for GitHub's and GitLab's REST APIs, shared by the pipeline steps that call
them (``scangate comment``, ``scangate fetch-baseline``).

The token goes only to the API URL given, over https (http only to a loopback address, for
tests), and no redirect is followed with it (a redirect would carry it elsewhere: a download
that redirects is fetched again without any header). Answers are read up to a size limit. A
failed read is retried; a failed POST is not (it may have been done).
"""

from __future__ import annotations

import ipaddress
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

from scangate.errors import ApiError

ATTEMPTS = 3
TIMEOUT = (10, 30)
MAX_RESPONSE = 32 << 20
GITHUB_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _may_follow(location: str) -> bool:
    parts = urllib.parse.urlsplit(location)
    return parts.scheme == "https" or (parts.scheme == "http"
                                       and _is_loopback(parts.hostname or ""))


def check_api_url(url: str, what: str) -> str:
    """``url`` without a trailing slash, when it is https (or http to loopback)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "https" and not (parts.scheme == "http" and _is_loopback(host)):
        raise ApiError(f"{what} {url[:200]!r} is not an https URL; the token is only ever "
                       "sent over https")
    if parts.username or parts.password or parts.query or parts.fragment or not host:
        raise ApiError(f"{what} {url[:200]!r}: give the API's base URL only (no credentials, "
                       "query or fragment)")
    return url.rstrip("/")


class ApiClient:
    """Calls to one API base URL with one set of headers (the token among them)."""

    def __init__(self, base: str, headers: dict[str, str], platform: str,
                 hints: Mapping[int, str] | None = None, session: Any = None) -> None:
        import requests

        self.base = base
        self.headers = headers
        self.platform = platform
        self.hints = dict(hints or {})
        self.http = session or requests.Session()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             params: dict[str, str] | None = None) -> Any:
        """The JSON answer of a 2xx; ApiError (one line, with a hint) for anything else."""
        status, content, _ = self._send(method, self.base + path, body, params, self.headers)
        if 200 <= status < 300:
            return self._json(content, method, path)
        raise self._refused(status, method, path, content)

    def download(self, path: str, limit: int) -> bytes:
        """The bytes at ``path``; a redirect (GitHub's artifact downloads answer 302 to a
        signed storage URL) is fetched once more without any of our headers."""
        status, content, location = self._send("GET", self.base + path, None, None,
                                               self.headers, limit)
        if status in (301, 302, 303, 307, 308) and _may_follow(location):
            status, content, _ = self._send("GET", location, None, None, {}, limit)
        if 200 <= status < 300:
            if len(content) > limit:
                raise ApiError(f"{self.platform} API GET {path}: larger than {limit >> 20} MiB")
            return content
        raise self._refused(status, "GET", path, content)

    def _send(self, method: str, url: str, body: dict[str, Any] | None,
              params: dict[str, str] | None, headers: dict[str, str],
              limit: int = MAX_RESPONSE) -> tuple[int, bytes, str]:
        import requests

        # A POST that failed on the way back may have been done: repeating it could make a
        # second comment. It is repeated only when the server said it did nothing (429).
        repeatable = method != "POST"
        path = url[len(self.base):] if url.startswith(self.base) else "(redirect)"
        last = ""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = self.http.request(method, url, json=body, params=params,
                                             headers=headers, timeout=TIMEOUT,
                                             allow_redirects=False, stream=True)
                try:
                    content = response.raw.read(limit + 1, decode_content=True)
                finally:
                    response.close()
            except (requests.RequestException, OSError) as exc:
                last = type(exc).__name__
                if not repeatable:
                    break
            else:
                status = response.status_code
                if status != 429 and (status < 500 or not repeatable):
                    return status, content, str(response.headers.get("Location") or "")
                last = f"HTTP {status}"
            if attempt < ATTEMPTS:
                _sleep(2 ** attempt)
        raise ApiError(f"{self.platform} API {method} {path}: failed ({last}); rerun the job")

    def _json(self, content: bytes, method: str, path: str) -> Any:
        import orjson

        if len(content) > MAX_RESPONSE:
            raise ApiError(f"{self.platform} API {method} {path}: answer larger than "
                           f"{MAX_RESPONSE >> 20} MiB")
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError:
            raise ApiError(f"{self.platform} API {method} {path}: the answer is not "
                           "JSON") from None

    def _refused(self, status: int, method: str, path: str, content: bytes) -> ApiError:
        detail = " ".join(content[:300].decode("utf-8", "replace").split())
        hint = self.hints.get(status) or {
            401: "the token is missing, expired or wrong",
            404: "not found, or the token cannot see it",
            429: "rate limited; rerun the job later",
        }.get(status, "unexpected answer" if status < 500 else "the server failed")
        return ApiError(f"{self.platform} API {method} {path}: HTTP {status}: {hint}"
                        + (f" ({detail})" if detail else ""))
