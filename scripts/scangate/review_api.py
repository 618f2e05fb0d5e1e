"""Create or update the one review comment of a key, through GitHub's or GitLab's REST API.

GitHub (REST API, "Issue comments"; a pull request is an issue):
  GET   {api}/repos/{owner}/{repo}/issues/{number}/comments?per_page=100&page=N
  POST  {api}/repos/{owner}/{repo}/issues/{number}/comments          {"body": ...}
  PATCH {api}/repos/{owner}/{repo}/issues/comments/{comment_id}      {"body": ...}
  with ``Authorization: Bearer``, ``Accept: application/vnd.github+json`` and
  ``X-GitHub-Api-Version: 2022-11-28``.
GitLab (REST API v4, "Notes"):
  GET   {api}/user                                   (whose notes are ours)
  GET   {api}/projects/{id}/merge_requests/{iid}/notes?per_page=100&page=N
        (&sort=asc&order_by=created_at)
  POST  {api}/projects/{id}/merge_requests/{iid}/notes                {"body": ...}
  PUT   {api}/projects/{id}/merge_requests/{iid}/notes/{note_id}      {"body": ...}
  with ``PRIVATE-TOKEN``.

Only a comment that carries the key's marker *and* was written by the same author as this run
(GitHub: the bot login, by default ``github-actions[bot]``; GitLab: the token's user) is
updated: anyone can paste a marker into a comment of their own. The token goes only to the API
URL given, over https (http only to a loopback address, for tests), and no redirect is followed
(a redirect would carry it elsewhere).
"""

from __future__ import annotations

import ipaddress
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from scangate.errors import CommentError
from scangate.review_comment import marker


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


PER_PAGE = 100
MAX_PAGES = 50  # 5,000 comments; beyond, ours might be missed and a second one created
ATTEMPTS = 3
TIMEOUT = (10, 30)
MAX_RESPONSE = 32 << 20
GITHUB_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


def check_api_url(url: str, what: str) -> str:
    """``url`` without a trailing slash, when it is https (or http to loopback)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    loopback = host == "localhost"
    try:
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise CommentError(f"{what} {url[:200]!r} is not an https URL; the token is only ever "
                           "sent over https")
    if parts.username or parts.password or parts.query or parts.fragment or not host:
        raise CommentError(f"{what} {url[:200]!r}: give the API's base URL only (no "
                           "credentials, query or fragment)")
    return url.rstrip("/")


@dataclass(frozen=True, slots=True)
class Posted:
    action: str  # "created" or "updated"
    id: int
    url: str


class _Api:
    def __init__(self, base: str, headers: dict[str, str], platform: str,
                 session: Any = None) -> None:
        import requests

        self.base = base
        self.headers = headers
        self.platform = platform
        self.http = session or requests.Session()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             params: dict[str, str] | None = None) -> Any:
        import requests

        url = self.base + path
        # A POST that failed on the way back may have created the comment: repeating it could
        # make a second one. It is repeated only when the server said it did nothing (429).
        repeatable = method != "POST"
        last = ""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = self.http.request(method, url, json=body, params=params,
                                             headers=self.headers, timeout=TIMEOUT,
                                             allow_redirects=False, stream=True)
                try:
                    content = response.raw.read(MAX_RESPONSE + 1, decode_content=True)
                finally:
                    response.close()
            except (requests.RequestException, OSError) as exc:
                last = f"{type(exc).__name__}"
                if not repeatable:
                    break
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return self._json(content, method, path)
                last = f"HTTP {status}"
                if status != 429 and (status < 500 or not repeatable):
                    raise self._refused(status, method, path, content)
            if attempt < ATTEMPTS:
                _sleep(2 ** attempt)
        raise CommentError(f"{self.platform} API {method} {path}: failed ({last}); rerun "
                           "the job (a comment it made is updated, not repeated)")

    def _json(self, content: bytes, method: str, path: str) -> Any:
        import orjson

        if len(content) > MAX_RESPONSE:
            raise CommentError(f"{self.platform} API {method} {path}: answer larger than "
                               f"{MAX_RESPONSE >> 20} MiB")
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError:
            raise CommentError(f"{self.platform} API {method} {path}: the answer is not "
                               "JSON") from None

    def _refused(self, status: int, method: str, path: str, content: bytes) -> CommentError:
        detail = " ".join(content[:300].decode("utf-8", "replace").split())
        hint = {
            401: "the token is missing, expired or wrong",
            403: ("the token may not write comments: the caller must grant "
                  "`pull-requests: write` (a pull request from a fork never can: use the "
                  "workflow_run pattern of docs/review-feedback.md)" if self.platform == "GitHub"
                  else "the token may not write notes: use a project or personal access token "
                  "with the api scope and at least the Reporter role (the job token cannot)"),
            400: "the request was refused",
            404: "no such pull request or merge request, or the token cannot see it",
            422: "the comment was refused (too long, or not valid)",
            429: "rate limited; rerun the job later",
        }.get(status, "unexpected answer" if status < 500 else "the server failed")
        return CommentError(f"{self.platform} API {method} {path}: HTTP {status}: {hint}"
                            + (f" ({detail})" if detail else ""))


def _pages(api: _Api, path: str, extra: dict[str, str] | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in range(1, MAX_PAGES + 1):
        batch = api.call("GET", path, params={"per_page": str(PER_PAGE), "page": str(page),
                                              **(extra or {})})
        if not isinstance(batch, list):
            raise CommentError(f"{api.platform} API GET {path}: the answer is not a list")
        items += [item for item in batch if isinstance(item, dict)]
        if len(batch) < PER_PAGE:
            return items
    raise CommentError(f"{api.platform} API GET {path}: more than {MAX_PAGES * PER_PAGE} "
                       "comments: not looking further (a second comment could be created)")


def _posted(action: str, answer: Any, platform: str) -> Posted:
    if not isinstance(answer, dict) or not isinstance(answer.get("id"), int):
        raise CommentError(f"{platform} API: the {action} comment's answer has no id")
    url = answer.get("html_url") or ""
    return Posted(action, answer["id"], url if isinstance(url, str) else "")


def github_upsert(api_url: str, repository: str, number: int, token: str, key: str,
                  body: str, author: str = "github-actions[bot]",
                  session: Any = None) -> Posted:
    owner, _, repo = repository.partition("/")
    if not owner or not repo or "/" in repo:
        raise CommentError(f"repository {repository[:200]!r} is not OWNER/REPO")
    base = check_api_url(api_url, "GitHub API URL")
    api = _Api(base, {**GITHUB_HEADERS, "Authorization": f"Bearer {token}"}, "GitHub", session)
    prefix = f"/repos/{urllib.parse.quote(owner, safe='')}/{urllib.parse.quote(repo, safe='')}"
    comments = _pages(api, f"{prefix}/issues/{number}/comments")
    tag = marker(key)
    ours = [c for c in comments
            if isinstance(c.get("body"), str) and c["body"].startswith(tag)
            and isinstance(c.get("user"), dict) and c["user"].get("login") == author
            and isinstance(c.get("id"), int)]
    if ours:
        answer = api.call("PATCH", f"{prefix}/issues/comments/{ours[0]['id']}", {"body": body})
        return _posted("updated", answer, "GitHub")
    return _posted("created", api.call("POST", f"{prefix}/issues/{number}/comments",
                                       {"body": body}), "GitHub")


def gitlab_upsert(api_url: str, project: str, number: int, token: str, key: str, body: str,
                  session: Any = None) -> Posted:
    base = check_api_url(api_url, "GitLab API URL")
    api = _Api(base, {"PRIVATE-TOKEN": token}, "GitLab", session)
    me = api.call("GET", "/user")
    if not isinstance(me, dict) or not isinstance(me.get("id"), int):
        raise CommentError("GitLab API GET /user: no user id (is the token a user's, project's "
                           "or group's access token?)")
    prefix = f"/projects/{urllib.parse.quote(project, safe='')}/merge_requests/{number}/notes"
    notes = _pages(api, prefix, {"sort": "asc", "order_by": "created_at"})
    tag = marker(key)
    ours = [n for n in notes
            if isinstance(n.get("body"), str) and n["body"].startswith(tag)
            and not n.get("system") and isinstance(n.get("author"), dict)
            and n["author"].get("id") == me["id"] and isinstance(n.get("id"), int)]
    if ours:
        return _posted("updated", api.call("PUT", f"{prefix}/{ours[0]['id']}", {"body": body}),
                       "GitLab")
    return _posted("created", api.call("POST", prefix, {"body": body}), "GitLab")
