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
updated: anyone can paste a marker into a comment of their own. Transport rules (https, no
redirects, retries): scangate.ci_api.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

from scangate.ci_api import GITHUB_HEADERS, ApiClient, check_api_url
from scangate.errors import CommentError
from scangate.review_comment import marker

PER_PAGE = 100
MAX_PAGES = 50  # 5,000 comments; beyond, ours might be missed and a second one created

GITHUB_HINTS = {
    403: "the token may not write comments: the caller must grant `pull-requests: write` (a "
         "pull request from a fork never can: use the workflow_run pattern of "
         "docs/review-feedback.md)",
    404: "no such pull request, or the token cannot see it",
    422: "the comment was refused (too long, or not valid)",
}
GITLAB_HINTS = {
    403: "the token may not write notes: use a project or personal access token with the api "
         "scope and at least the Reporter role (the job token cannot)",
    404: "no such merge request, or the token cannot see it",
}


@dataclass(frozen=True, slots=True)
class Posted:
    action: str  # "created" or "updated"
    id: int
    url: str


def _pages(api: ApiClient, path: str, extra: dict[str, str] | None = None
           ) -> list[dict[str, Any]]:
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
    api = ApiClient(base, {**GITHUB_HEADERS, "Authorization": f"Bearer {token}"}, "GitHub",
                    GITHUB_HINTS, session)
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
    api = ApiClient(base, {"PRIVATE-TOKEN": token}, "GitLab", GITLAB_HINTS, session)
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
