"""scangate comment: one comment per key on the pull or merge request, updated in place.

The APIs are a recording stand-in on loopback (tests/gate/review_standin.py, a test double:
no GitHub or GitLab runs here); it follows GitHub's "Issue comments" and GitLab's "Notes" REST
documentation and refuses what they refuse (too long, read-only token, editing another's
comment, a job token).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scangate import ci_api
from scangate._cli import main
from scangate.review_comment import MAX_BODY, marker, render, utf16_length

from tests.gate.review_standin import StandIn, serve
from tests.support.reports import image_report, vuln, write

TODAY = dt.datetime.now(dt.UTC).date()
CI_VARIABLES = ("GITHUB_TOKEN", "GITHUB_API_URL", "GITHUB_REPOSITORY", "GITHUB_SERVER_URL",
                "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "CI_API_V4_URL", "CI_PROJECT_ID",
                "CI_MERGE_REQUEST_IID", "SCANGATE_GITLAB_TOKEN", "CI_JOB_URL", "CI_PIPELINE_URL",
                "CODEBUILD_BUILD_URL", "BUILDKITE_BUILD_URL", "BUILD_URL")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(ci_api, "_sleep", lambda _seconds: None)


@pytest.fixture
def api() -> Iterator[StandIn]:
    state = StandIn(github_tokens={"bot": "github-actions[bot]", "fork": None,
                                   "someone": "mallory"},
                    gitlab_tokens={"glpat": 11, "other": 12})
    with serve(state) as running:
        yield running


def summary(tmp_path: Path, head: list[dict[str, Any]], base: list[dict[str, Any]] | None,
            policy: str | None = None, name: str = "summary.json") -> str:
    argv = ["gate", "--quiet", "--report", write(tmp_path / "head.json", image_report(head)),
            "--json-summary", str(tmp_path / name)]
    if base is not None:
        argv += ["--baseline", write(tmp_path / "base.json", image_report(base))]
    if policy is not None:
        (tmp_path / "policy.yaml").write_text(policy, encoding="utf-8")
        argv += ["--policy", str(tmp_path / "policy.yaml")]
    assert main(argv) in (0, 1)
    return str(tmp_path / name)


def github(api: StandIn, path: str, key: str = "container-scan / app",
           *extra: str) -> int:
    return main(["comment", "--summary", path, "--key", key, "--platform", "github",
                 "--api-url", api.url, "--repository", "o/r", "--number", "7",
                 "--run-url", "https://github.example/o/r/actions/runs/1", *extra])


def test_github_creates_once_then_updates_in_place(tmp_path: Path, api: StandIn,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "bot")
    first = summary(tmp_path, [vuln("CVE-1", severity="CRITICAL")], base=[])
    assert github(api, first) == 0
    assert len(api.comments()) == 1
    body = api.comments()[0]["body"]
    assert body.startswith(marker("container-scan / app"))
    assert "FAILED" in body and "**1 new**" in body and "`CVE-1`" in body
    assert "[The run](https://github.example/o/r/actions/runs/1)" in body
    post = next(r for r in api.requests if r.method == "POST")
    assert post.headers["Authorization"] == "Bearer bot"
    assert post.headers["Accept"] == "application/vnd.github+json"

    fixed = summary(tmp_path, [], base=[vuln("CVE-1", severity="CRITICAL")], name="s2.json")
    assert github(api, fixed) == 0
    comments = api.comments()
    assert len(comments) == 1, "a second run must update, never add"
    assert "PASSED" in comments[0]["body"] and "#### Fixed" in comments[0]["body"]
    assert [r.method for r in api.requests] == ["GET", "POST", "GET", "PATCH"]

    # Another image (another key) of the same call gets a comment of its own.
    assert github(api, fixed, "container-scan / worker") == 0
    assert len(api.comments()) == 2


def test_github_never_edits_a_comment_someone_else_wrote_with_the_marker(
        tmp_path: Path, api: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    decoy = {"id": 5, "body": marker("container-scan / app") + "\nall clear!",
             "user": {"login": "mallory", "type": "User"}}
    api.comments().append(decoy)
    # Ours sits on the second page: 100 other comments come first.
    api.comments().extend({"id": 10 + n, "body": "lgtm", "user": {"login": "dev"}}
                          for n in range(100))
    monkeypatch.setenv("GITHUB_TOKEN", "bot")
    path = summary(tmp_path, [vuln()], base=None)
    assert github(api, path) == 0
    assert github(api, path) == 0
    ours = [c for c in api.comments() if c["user"]["login"] == "github-actions[bot]"]
    assert len(ours) == 1 and decoy["body"].endswith("all clear!")
    pages = [r.query["page"] for r in api.requests if r.method == "GET"]
    assert pages == [["1"], ["2"], ["1"], ["2"]]


def test_github_fork_token_fails_with_one_line_naming_the_fix(
        tmp_path: Path, api: StandIn, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A fork's pull request gets a read-only GITHUB_TOKEN (GitHub docs, "Automatic token
    authentication"): the POST is 403."""
    monkeypatch.setenv("GITHUB_TOKEN", "fork")
    assert github(api, summary(tmp_path, [vuln()], base=None)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "HTTP 403" in err and "pull-requests: write" in err and "workflow_run" in err
    assert api.comments() == []


def test_a_long_comment_is_cut_within_githubs_limit(tmp_path: Path, api: StandIn,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "bot")
    head = [vuln(f"CVE-2026-{n:05d}", pkg="p" * 60 + str(n), installed="1" * 60)
            for n in range(3000)]
    path = summary(tmp_path, head, base=[])
    assert github(api, path) == 0  # the stand-in refuses over 65,536 like GitHub (422)
    body = api.comments()[0]["body"]
    assert utf16_length(body) <= MAX_BODY
    assert "more not shown here" in body and "**3000 new**" in body


def test_render_cuts_even_what_no_row_limit_can_fit() -> None:
    doc = {"decision": "fail", "counts": {}, "today": TODAY.isoformat(),
           "violations": [{"severity": "x" * 70_000, "count": 1, "limit": 0}]}
    body = render(doc, "k")
    assert utf16_length(body) <= MAX_BODY and body.startswith(marker("k"))
    assert "65,536-character comment limit" in body
    # Characters outside the BMP count twice in UTF-16 (GitHub's count is never lower).
    doc["violations"] = [{"severity": "\U0001f600" * 40_000, "count": 1, "limit": 0}]
    assert utf16_length(render(doc, "k")) <= MAX_BODY


def test_everything_from_the_summary_is_escaped(tmp_path: Path) -> None:
    path = summary(tmp_path, [vuln("CVE-1](https://evil.example)", pkg="<img src=x>|",
                                   installed="`1`")], base=[])
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    body = render(doc, "key --> <script>", "javascript:alert(1)")
    assert "<img" not in body.replace("`<img src=x>\\|`", "")
    assert "](https://evil.example)" not in body.replace("`CVE-1](https://evil.example)`", "")
    assert "<script>" not in body.replace("`key --> <script>`", "")
    assert "javascript:" not in body
    assert body.splitlines()[0] == marker("key --> <script>")
    assert "-->" not in body.splitlines()[0][4:-3]


def test_waivers_that_expire_within_14_days_are_listed(tmp_path: Path) -> None:
    soon, later = TODAY + dt.timedelta(days=13), TODAY + dt.timedelta(days=15)
    policy = (f"version: 1\nwaivers:\n"
              f"  - {{id: CVE-1, reason: ticket SEC-1, expires: {soon.isoformat()}}}\n"
              f"  - {{id: CVE-2, reason: ticket SEC-2, expires: {later.isoformat()}}}\n"
              f"  - {{id: CVE-3, reason: unused soon, expires: {TODAY.isoformat()}}}\n")
    path = summary(tmp_path, [vuln("CVE-1"), vuln("CVE-2", pkg="zlib")], None, policy)
    body = render(json.loads(Path(path).read_text(encoding="utf-8")), "k")
    section = body.split("#### Waivers that expire within 14 days")[1]
    assert "`CVE-1` in `openssl`" in section and "`CVE-3`" in section
    assert "CVE-2" not in section
    assert "No baseline: every finding counts." in body


def test_gitlab_note_created_then_updated_with_the_token_input(
        tmp_path: Path, api: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCANGATE_GITLAB_TOKEN", "glpat")
    monkeypatch.setenv("CI_API_V4_URL", api.url + "/api/v4")
    monkeypatch.setenv("CI_PROJECT_ID", "42")
    monkeypatch.setenv("CI_MERGE_REQUEST_IID", "3")
    monkeypatch.setenv("CI_JOB_URL", "https://gitlab.example/g/p/-/jobs/9")
    api.notes().append({"id": 1, "body": marker("container-scanning") + " forged",
                        "system": False, "author": {"id": 12}})
    api.notes().append({"id": 2, "body": marker("container-scanning"), "system": True,
                        "author": {"id": 11}})
    path = summary(tmp_path, [vuln("CVE-1", severity="CRITICAL")], base=[])
    argv = ["comment", "--summary", path, "--key", "container-scanning", "--platform", "gitlab"]
    assert main(argv) == 0
    assert main(argv) == 0
    ours = [n for n in api.notes() if n["author"]["id"] == 11 and not n["system"]]
    assert len(ours) == 1 and "FAILED" in ours[0]["body"]
    assert "(https://gitlab.example/g/p/-/jobs/9)" in ours[0]["body"]
    assert api.notes()[0]["body"].endswith(" forged")
    assert [r.method for r in api.requests] == ["GET", "GET", "POST", "GET", "GET", "PUT"]
    assert all(r.headers.get("PRIVATE-TOKEN") == "glpat" for r in api.requests)


def test_gitlab_without_token_or_merge_request_is_an_error(
        tmp_path: Path, api: StandIn, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = summary(tmp_path, [vuln()], base=None)
    argv = ["comment", "--summary", path, "--key", "k", "--platform", "gitlab", "--api-url",
            api.url + "/api/v4", "--repository", "42"]
    assert main([*argv, "--number", "3"]) == 2
    assert "$SCANGATE_GITLAB_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("SCANGATE_GITLAB_TOKEN", "glpat")
    assert main(argv) == 2
    assert "$CI_MERGE_REQUEST_IID" in capsys.readouterr().err
    assert api.requests == []


@pytest.mark.parametrize("url", ["http://api.github.example", "ftp://127.0.0.1",
                                 "https://user:pw@api.github.example",
                                 "https://api.github.example?x=1"])
def test_the_token_only_goes_to_an_https_api(tmp_path: Path, url: str,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "bot")
    path = summary(tmp_path, [vuln()], base=None)
    assert main(["comment", "--summary", path, "--key", "k", "--platform", "github",
                 "--api-url", url, "--repository", "o/r", "--number", "7"]) == 2
    assert "API URL" in capsys.readouterr().err


def test_a_redirect_is_not_followed_with_the_token(tmp_path: Path, api: StandIn,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(StandIn(github_tokens={"bot": "github-actions[bot]"})) as elsewhere:
        api.redirect_to = elsewhere.url
        monkeypatch.setenv("GITHUB_TOKEN", "bot")
        assert github(api, summary(tmp_path, [vuln()], base=None)) == 2
        assert elsewhere.requests == []


def test_a_failed_post_is_not_repeated_a_failed_read_is(
        tmp_path: Path, api: StandIn, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "bot")
    path = summary(tmp_path, [vuln()], base=None)
    api.failures = {"GET": [502], "POST": [500]}
    assert github(api, path) == 2
    assert [r.method for r in api.requests] == ["GET", "GET", "POST"]
    assert "HTTP 500" in capsys.readouterr().err
    assert github(api, path) == 0 and len(api.comments()) == 1


def test_render_only_writes_the_body(tmp_path: Path) -> None:
    path = summary(tmp_path, [vuln()], base=None)
    out = tmp_path / "comment.md"
    assert main(["comment", "--summary", path, "--key", "k", "--output", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith(marker("k"))


@pytest.mark.parametrize("content", ["", "[]", '{"decision": "maybe", "counts": {}}',
                                     '{"decision": "pass", "counts": {}, "today": "x"}',
                                     '{"decision": "pass", "counts": {}, "today": "2026-01-01",'
                                     ' "findings": [{"severity": "bad"}]}'])
def test_a_bad_summary_is_an_error(tmp_path: Path, content: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "summary.json"
    path.write_text(content, encoding="utf-8")
    assert main(["comment", "--summary", str(path), "--key", "k", "--output",
                 str(tmp_path / "c.md")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("scangate: error:") and "Traceback" not in err
    assert not (tmp_path / "c.md").exists()
