"""A stand-in for GitHub's and GitLab's comment APIs, on loopback, that records every request.

A test double: no real GitHub or GitLab can run here. It follows the documented endpoints and
the rules scangate relies on, and refuses what the real services refuse:

- GitHub REST API, "Issue comments" (docs.github.com/en/rest/issues/comments): list
  ``GET /repos/{owner}/{repo}/issues/{n}/comments`` (``per_page`` at most 100, ``page``,
  ascending ids), create ``POST`` there (201), update
  ``PATCH /repos/{owner}/{repo}/issues/comments/{id}`` (200). ``Authorization: Bearer``;
  a body over 65,536 characters is 422 ("Body is too long (maximum is 65536 characters)");
  a read-only ``GITHUB_TOKEN`` (a fork's pull request) is 403 "Resource not accessible by
  integration" (docs, "Automatic token authentication"); only the author may edit a comment
  (otherwise 403 here; GitHub lets admins edit, which scangate never relies on).
- GitLab REST API v4, "Notes" (docs.gitlab.com/ee/api/notes.html): list
  ``GET /projects/{id}/merge_requests/{iid}/notes``, create ``POST`` (201), update
  ``PUT .../notes/{note_id}`` (200, the author only); ``GET /user`` (docs.gitlab.com/ee/api/
  users.html) names the token's user. ``PRIVATE-TOKEN``; a job token (``JOB-TOKEN``) cannot
  use the notes API (GitLab docs, "CI/CD job token": the allowed endpoints do not include
  notes); a note is at most 1,000,000 characters.
- GitHub REST API, "Workflow runs" and "Artifacts" (docs.github.com/en/rest/actions/
  workflow-runs, .../actions/artifacts): ``GET /repos/{o}/{r}/actions/workflows/{file}/runs``
  filtered by ``branch``, ``event`` and ``status=success``, newest first;
  ``GET /repos/{o}/{r}/actions/runs/{id}/artifacts``; ``GET /repos/{o}/{r}/actions/artifacts/
  {id}/zip`` answers 302 with a short-lived storage URL in ``Location`` (served here under
  ``/storage/``, which records any Authorization header it receives).
- GitLab REST API v4, "Job artifacts" (docs.gitlab.com/ee/api/job_artifacts.html):
  ``GET /projects/{id}/jobs/artifacts/{ref}/raw/{path}?job=NAME``, the file of the ref's latest
  successful pipeline; the job token (``JOB-TOKEN``) may call it.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support import loopback
from tests.support.loopback import QuietHandler


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class StandIn:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    # GitHub: token -> login (None: a read-only token). GitLab: token -> user id.
    github_tokens: dict[str, str | None] = field(default_factory=dict)
    gitlab_tokens: dict[str, int] = field(default_factory=dict)
    # (owner/repo, number) -> comments; (project, iid) -> notes.
    github_comments: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    gitlab_notes: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    # Answers to give first, by method: a list of status codes consumed in order.
    failures: dict[str, list[int]] = field(default_factory=dict)
    redirect_to: str = ""
    next_id: int = 1000
    # GitHub runs: {id, workflow, branch, event, conclusion, html_url, artifacts: [{id, name,
    # expired, zip}]}, oldest first. GitLab artifacts: (ref, job, path) -> bytes.
    github_runs: list[dict[str, Any]] = field(default_factory=list)
    gitlab_artifacts: dict[tuple[str, str, str], bytes] = field(default_factory=dict)
    gitlab_job_tokens: set[str] = field(default_factory=set)

    def comments(self, repo: str = "o/r", number: int = 7) -> list[dict[str, Any]]:
        return self.github_comments.setdefault((repo, number), [])

    def notes(self, project: str = "42", iid: int = 3) -> list[dict[str, Any]]:
        return self.gitlab_notes.setdefault((project, iid), [])

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


_GH_LIST = re.compile(r"/repos/([^/]+/[^/]+)/issues/(\d+)/comments")
_GH_EDIT = re.compile(r"/repos/([^/]+/[^/]+)/issues/comments/(\d+)")
_GL_LIST = re.compile(r"/api/v4/projects/([^/]+)/merge_requests/(\d+)/notes")
_GL_EDIT = re.compile(r"/api/v4/projects/([^/]+)/merge_requests/(\d+)/notes/(\d+)")


def _handler(state: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def _handle(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            raw = self.read_body()
            body = json.loads(raw) if raw else None
            state.requests.append(Recorded(self.command, parts.path,
                                           urllib.parse.parse_qs(parts.query),
                                           dict(self.headers.items()), body))
            pending = state.failures.get(self.command)
            if pending:
                self.send_json(pending.pop(0), {"message": "stand-in failure"})
                return
            if state.redirect_to:
                self.send_bytes(302, headers={"Location": state.redirect_to + self.path})
                return
            if parts.path.startswith("/storage/"):
                self._storage(parts.path)
                return
            if parts.path.startswith("/api/v4/") and "/jobs/artifacts/" in parts.path:
                self._gitlab_artifact(parts.path, urllib.parse.parse_qs(parts.query))
                return
            if "/actions/" in parts.path:
                self._actions(parts.path, urllib.parse.parse_qs(parts.query))
                return
            if parts.path.startswith("/api/v4/"):
                self._gitlab(parts.path, urllib.parse.parse_qs(parts.query), body)
            else:
                self._github(parts.path, urllib.parse.parse_qs(parts.query), body)

        do_GET = do_POST = do_PATCH = do_PUT = _handle

        def _storage(self, path: str) -> None:
            for run in state.github_runs:
                for artifact in run["artifacts"]:
                    if path == f"/storage/{artifact['id']}.zip":
                        self.send_bytes(200, artifact["zip"],
                                        {"Content-Type": "application/octet-stream"})
                        return
            self.send_json(404, {"message": "BlobNotFound"})

        def _actions(self, path: str, query: dict[str, list[str]]) -> None:
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if token not in state.github_tokens:
                self.send_json(401, {"message": "Bad credentials"})
                return
            if (match := re.fullmatch(r"/repos/[^/]+/[^/]+/actions/workflows/([^/]+)/runs",
                                      path)) is not None:
                want = {name: query.get(name, [""])[0] for name in ("branch", "event", "status")}
                runs = [r for r in reversed(state.github_runs)
                        if r["workflow"] == match.group(1)
                        and want["branch"] in ("", r["branch"])
                        and want["event"] in ("", r["event"])
                        and want["status"] in ("", r["conclusion"])]
                per_page = min(int(query.get("per_page", ["30"])[0]), 100)
                shown = [{k: v for k, v in r.items() if k != "artifacts"} for r in runs]
                self.send_json(200, {"total_count": len(runs), "workflow_runs": shown[:per_page]})
                return
            if (match := re.fullmatch(r"/repos/[^/]+/[^/]+/actions/runs/(\d+)/artifacts",
                                      path)) is not None:
                for run in state.github_runs:
                    if run["id"] == int(match.group(1)):
                        listed = [{k: v for k, v in a.items() if k != "zip"}
                                  for a in run["artifacts"]]
                        per_page = int(query.get("per_page", ["30"])[0])
                        page = int(query.get("page", ["1"])[0])
                        self.send_json(200, {"total_count": len(listed), "artifacts":
                                          listed[(page - 1) * per_page: page * per_page]})
                        return
                self.send_json(404, {"message": "Not Found"})
                return
            if (match := re.fullmatch(r"/repos/[^/]+/[^/]+/actions/artifacts/(\d+)/zip",
                                      path)) is not None:
                self.send_bytes(302, headers={
                    "Location": f"{state.url}/storage/{match.group(1)}.zip"})
                return
            self.send_json(404, {"message": "Not Found"})

        def _gitlab_artifact(self, path: str, query: dict[str, list[str]]) -> None:
            if self.headers.get("JOB-TOKEN", "") not in state.gitlab_job_tokens:
                self.send_json(401, {"message": "401 Unauthorized"})
                return
            match = re.fullmatch(r"/api/v4/projects/[^/]+/jobs/artifacts/([^/]+)/raw/(.+)", path)
            key = (urllib.parse.unquote(match.group(1)) if match else "",
                   query.get("job", [""])[0], urllib.parse.unquote(match.group(2)) if match
                   else "")
            if key not in state.gitlab_artifacts:
                self.send_json(404, {"message": "404 Not found"})
                return
            self.send_bytes(200, state.gitlab_artifacts[key],
                            {"Content-Type": "application/octet-stream"})

        def _page(self, items: list[dict[str, Any]], query: dict[str, list[str]]) -> None:
            per_page = int(query.get("per_page", ["30"])[0])
            page = int(query.get("page", ["1"])[0])
            if per_page > 100:
                per_page = 100  # both APIs cap per_page at 100
            self.send_json(200, items[(page - 1) * per_page: page * per_page])

        def _github(self, path: str, query: dict[str, list[str]], body: Any) -> None:
            auth = self.headers.get("Authorization", "")
            token = auth.removeprefix("Bearer ")
            if not auth.startswith("Bearer ") or token not in state.github_tokens:
                self.send_json(401, {"message": "Bad credentials"})
                return
            if self.headers.get("Accept") != "application/vnd.github+json" or \
                    self.headers.get("X-GitHub-Api-Version") != "2022-11-28":
                self.send_json(400, {"message": "stand-in: missing documented headers"})
                return
            login = state.github_tokens[token]
            if self.command in ("POST", "PATCH"):
                if login is None:
                    self.send_json(403, {"message": "Resource not accessible by integration"})
                    return
                text = body.get("body") if isinstance(body, dict) else None
                if not isinstance(text, str) or not text:
                    self.send_json(422, {"message": "Validation Failed"})
                    return
                if len(text) > 65536:
                    self.send_json(422, {"message": "Validation Failed", "errors": [
                        {"message": "Body is too long (maximum is 65536 characters)"}]})
                    return
            if (match := _GH_LIST.fullmatch(path)) is not None:
                comments = state.comments(match.group(1), int(match.group(2)))
                if self.command == "GET":
                    self._page(comments, query)
                    return
                if self.command == "POST":
                    ident = state.new_id()
                    comment = {"id": ident, "body": body["body"],
                               "user": {"login": login, "type": "Bot"},
                               "html_url": f"https://github.example/{match.group(1)}/pull/"
                                           f"{match.group(2)}#issuecomment-{ident}"}
                    comments.append(comment)
                    self.send_json(201, comment)
                    return
            if (match := _GH_EDIT.fullmatch(path)) is not None and self.command == "PATCH":
                for comments in state.github_comments.values():
                    for comment in comments:
                        if comment["id"] == int(match.group(2)):
                            if comment["user"]["login"] != login:
                                self.send_json(403, {"message": "Forbidden"})
                                return
                            comment["body"] = body["body"]
                            self.send_json(200, comment)
                            return
                self.send_json(404, {"message": "Not Found"})
                return
            self.send_json(404, {"message": "Not Found"})

        def _gitlab(self, path: str, query: dict[str, list[str]], body: Any) -> None:
            if "JOB-TOKEN" in self.headers and "PRIVATE-TOKEN" not in self.headers:
                self.send_json(401, {"message": "401 Unauthorized"})
                return
            token = self.headers.get("PRIVATE-TOKEN", "")
            if token not in state.gitlab_tokens:
                self.send_json(401, {"message": "401 Unauthorized"})
                return
            user = state.gitlab_tokens[token]
            if path == "/api/v4/user" and self.command == "GET":
                self.send_json(200, {"id": user, "username": f"user{user}"})
                return
            if self.command in ("POST", "PUT"):
                text = body.get("body") if isinstance(body, dict) else None
                if not isinstance(text, str) or not text or len(text) > 1_000_000:
                    self.send_json(400, {"message": {"note": ["is too long or empty"]}})
                    return
            if (match := _GL_EDIT.fullmatch(path)) is not None and self.command == "PUT":
                notes = state.notes(urllib.parse.unquote(match.group(1)), int(match.group(2)))
                for note in notes:
                    if note["id"] == int(match.group(3)):
                        if note["author"]["id"] != user:
                            self.send_json(403, {"message": "403 Forbidden"})
                            return
                        note["body"] = body["body"]
                        self.send_json(200, note)
                        return
                self.send_json(404, {"message": "404 Not found"})
                return
            if (match := _GL_LIST.fullmatch(path)) is not None:
                notes = state.notes(urllib.parse.unquote(match.group(1)), int(match.group(2)))
                if self.command == "GET":
                    self._page(notes, query)
                    return
                if self.command == "POST":
                    note = {"id": state.new_id(), "body": body["body"], "system": False,
                            "author": {"id": user, "username": f"user{user}"}}
                    notes.append(note)
                    self.send_json(201, note)
                    return
            self.send_json(404, {"message": "404 Not found"})

    return Handler


@contextmanager
def serve(state: StandIn | None = None) -> Iterator[StandIn]:
    state = state or StandIn()
    with loopback.serve(_handler(state)) as server:
        state.url = server.url
        yield state
