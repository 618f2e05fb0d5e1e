"""``scangate notify``: Slack through a real local HTTP server, SNS through a real moto server."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from pytest_httpserver import HTTPServer
from scangate.aws import retry
from scangate.errors import SummaryError
from scangate.gate_summary import parse as parse_summary
from scangate.notify import build_message, run_link, scrub
from werkzeug import Request, Response

from tests.support.moto_server import MotoServer

Cli = Callable[[list[str]], int]
SECRET_PATH = "/services/T0000/B0000/s3cr3tT0k3n"
FAILING: dict[str, Any] = {
    "decision": "fail",
    "counts": {"critical": 3, "high": 1, "medium": 0, "low": 2, "unknown": 0},
    "waived": 1, "ignored_unfixed": 4,
    "violations": [{"severity": "critical", "count": 3, "limit": 0}],
    "expired_waivers": [{"id": "CVE-2024-1234", "expires": "2026-01-31", "reason": "x"}],
    "reports": [{"path": "r.json", "artifact_name": "registry.test/team/app:1.0 <b>"}],
    "policy": {"source": "ssm:/scangate/policy"},
}


@pytest.fixture(autouse=True)
def _quiet_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """A known CI environment (GitHub Actions) and no real waiting between retries."""
    for name in ("CI_JOB_URL", "CI_PIPELINE_URL", "CODEBUILD_BUILD_URL", "BUILDKITE_BUILD_URL",
                 "BUILD_URL", "CI_PROJECT_PATH", "CI_COMMIT_SHORT_SHA", "CI_COMMIT_REF_NAME",
                 "SCANGATE_SLACK_WEBHOOK_URL", "GITHUB_RUN_ATTEMPT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/app")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    monkeypatch.setenv("GITHUB_SHA", "0123456789abcdef0123")
    monkeypatch.setenv("GITHUB_REF_NAME", "main")
    monkeypatch.setattr(retry, "_sleep", lambda _seconds: None)


def summary_file(tmp_path: Path, doc: Any = None) -> str:
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(FAILING if doc is None else doc))
    return str(path)


def assert_no_secret(text: str, url: str) -> None:
    assert url not in text and SECRET_PATH not in text and "s3cr3tT0k3n" not in text


def test_slack_500_then_200_is_delivered_once(
    httpserver: HTTPServer, cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    httpserver.expect_ordered_request(SECRET_PATH, method="POST").respond_with_data(
        "internal error", status=500)
    httpserver.expect_ordered_request(SECRET_PATH, method="POST").respond_with_data("ok")
    url = httpserver.url_for(SECRET_PATH)
    assert cli(["notify", "--summary", summary_file(tmp_path), "--slack-webhook-url", url]) == 0
    httpserver.check_assertions()  # type: ignore[no-untyped-call]
    assert len(httpserver.log) == 2
    payload = httpserver.log[-1][0].get_json()
    assert payload["text"] == "scangate gate FAILED for acme/app (main 0123456789ab)"
    body = json.dumps(payload["blocks"])
    assert "critical 3, high 1, medium 0, low 2, unknown 0" in body
    assert "Violation: 3 critical (limit 0)" in body
    assert "Expired waiver: CVE-2024-1234 (expired 2026-01-31)" in body
    assert "&lt;b&gt;" in body, "Slack control characters are escaped"
    assert "<https://github.example/acme/app/actions/runs/42|View the run>" in body
    captured = capsys.readouterr()
    assert "sent to Slack (2 attempts)" in captured.out
    assert_no_secret(captured.out + captured.err, url)


def test_slack_429_honours_retry_after(httpserver: HTTPServer, tmp_path: Path) -> None:
    from scangate.aws.retry import Backoff
    from scangate.notify import post_slack

    httpserver.expect_ordered_request(SECRET_PATH).respond_with_data(
        "rate_limited", status=429, headers={"Retry-After": "7"})
    httpserver.expect_ordered_request(SECRET_PATH).respond_with_data("ok")
    slept: list[float] = []
    attempts = post_slack(httpserver.url_for(SECRET_PATH), {"text": "x"},
                          backoff=Backoff(attempts=5, sleep=slept.append, jitter=lambda: 0.0))
    assert attempts == 2 and slept == [7.0]


def test_slack_rejection_is_not_retried_and_never_shows_the_url(
    httpserver: HTTPServer, cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def echo(request: Request) -> Response:
        # A hostile server echoing the URL back must not get it into our output either.
        return Response(f"invalid_token for {request.url}", status=403)

    httpserver.expect_request(SECRET_PATH).respond_with_handler(echo)
    url = httpserver.url_for(SECRET_PATH)
    assert cli(["notify", "--summary", summary_file(tmp_path), "--slack-webhook-url", url]) == 2
    assert len(httpserver.log) == 1
    captured = capsys.readouterr()
    assert "Slack rejected the message: HTTP 403 (invalid_token for" in captured.err
    assert_no_secret(captured.out + captured.err, url)


def test_slack_always_failing_gives_up_after_5_attempts(
    httpserver: HTTPServer, cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    httpserver.expect_request(SECRET_PATH).respond_with_data("down", status=503)
    url = httpserver.url_for(SECRET_PATH)
    monkeypatch.setenv("SCANGATE_SLACK_WEBHOOK_URL", url)  # the environment, not the flag
    assert cli(["notify", "--summary", summary_file(tmp_path)]) == 2
    assert len(httpserver.log) == 5
    err = capsys.readouterr().err
    assert "Slack webhook failed after 5 attempts: HTTP 503 (down)" in err
    assert_no_secret(err, url)


def test_connection_failure_is_scrubbed(
    cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}{SECRET_PATH}"  # nothing listens there any more
    assert cli(["notify", "--summary", summary_file(tmp_path), "--slack-webhook-url", url]) == 2
    captured = capsys.readouterr()
    assert "ConnectionError" in captured.err
    assert_no_secret(captured.out + captured.err, url)


def test_scrub_removes_the_url_and_its_path() -> None:
    url = "https://hooks.example/services/T1/B2/abc"
    text = ("HTTPSConnectionPool(host='hooks.example', port=443): Max retries exceeded with "
            f"url: /services/T1/B2/abc and {url} and /services/T1/B2/abc%2F")
    cleaned = scrub(text, url)
    assert "/abc" not in cleaned and cleaned.count("<webhook>") == 3
    # A webhook path in another form (re-encoded, another hook) is caught by its shape.
    assert scrub("url: /services/T9/B9/zzz", url) == "url: /services/<redacted>"


def test_webhook_must_be_https(cli: Cli, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    url = "http://hooks.example" + SECRET_PATH
    assert cli(["notify", "--summary", summary_file(tmp_path), "--slack-webhook-url", url]) == 2
    err = capsys.readouterr().err
    assert "must be an https:// URL" in err
    assert_no_secret(err, url)


@pytest.mark.parametrize(("doc", "problem"), [
    ([], "top level is list"),
    ({**FAILING, "decision": "maybe"}, "decision is 'maybe'"),
    ({k: v for k, v in FAILING.items() if k != "counts"}, "counts is missing"),
    ({**FAILING, "counts": {**FAILING["counts"], "high": -1}}, "counts.high is -1"),
    ({**FAILING, "counts": {**FAILING["counts"], "low": True}}, "counts.low is True"),
    ({**FAILING, "violations": [{"severity": "dire", "count": 1, "limit": 0}]}, "severity"),
    ({**FAILING, "decision": "pass"}, "'pass' but it lists violations"),
])
def test_a_broken_summary_is_exit_2(cli: Cli, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str], doc: Any,
                                    problem: str) -> None:
    assert cli(["notify", "--summary", summary_file(tmp_path, doc), "--slack-webhook-url",
                "https://hooks.example/x"]) == 2
    assert problem in capsys.readouterr().err


def test_missing_or_truncated_summary_is_exit_2(cli: Cli, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--slack-webhook-url", "https://hooks.example/x"]
    assert cli(["notify", "--summary", str(tmp_path / "none.json"), *args]) == 2
    assert "summary not found" in capsys.readouterr().err
    (tmp_path / "cut.json").write_text('{"decision": "pass", "cou')
    assert cli(["notify", "--summary", str(tmp_path / "cut.json"), *args]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_nothing_to_notify_is_exit_2(cli: Cli, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["notify", "--summary", summary_file(tmp_path)]) == 2
    assert "nothing to notify" in capsys.readouterr().err


def test_run_links_of_each_ci_system() -> None:
    assert run_link({"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "a/b",
                     "GITHUB_RUN_ID": "9", "GITHUB_RUN_ATTEMPT": "2"}) == \
        "https://github.com/a/b/actions/runs/9/attempts/2"
    assert run_link({"CI_JOB_URL": "https://gitlab.example/a/b/-/jobs/7"}) == \
        "https://gitlab.example/a/b/-/jobs/7"
    assert run_link({"BUILD_URL": "javascript:alert(1)"}) == ""
    assert run_link({}) == ""


def test_a_passing_summary_message() -> None:
    summary = parse_summary({"decision": "pass", "counts": dict.fromkeys(
        ("critical", "high", "medium", "low", "unknown"), 0), "violations": []}, "s.json")
    message = build_message(summary, env={})
    assert message.headline == "scangate gate PASSED"
    assert message.link == ""
    with pytest.raises(SummaryError):
        parse_summary({"decision": "pass"}, "s.json")


def test_sns_publish_reaches_a_subscribed_queue(
    moto: MotoServer, cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topic, queue = _subscribed_queue()
    sqs = boto3.client("sqs")
    assert cli(["notify", "--summary", summary_file(tmp_path), "--sns-topic-arn", topic]) == 0
    assert f"published to {topic}" in capsys.readouterr().out
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    envelope = json.loads(messages[0]["Body"])
    assert envelope["Subject"] == "scangate gate FAILED for acme/app (main 0123456789ab)"
    assert "Violation: 3 critical (limit 0)" in envelope["Message"]
    assert "Run: https://github.example/acme/app/actions/runs/42" in envelope["Message"]
    assert envelope["MessageAttributes"]["decision"]["Value"] == "fail"


def test_sns_missing_topic_and_bad_arn_are_exit_2(
    moto: MotoServer, cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = summary_file(tmp_path)
    missing = "arn:aws:sns:us-east-1:123456789012:nope"
    assert cli(["notify", "--summary", path, "--sns-topic-arn", missing]) == 2
    assert "nope" in capsys.readouterr().err
    assert cli(["notify", "--summary", path, "--sns-topic-arn", "arn:aws:sqs:x"]) == 2
    assert "is not an SNS topic ARN" in capsys.readouterr().err


def test_both_targets_tried_when_one_fails(
    moto: MotoServer, httpserver: HTTPServer, cli: Cli, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    httpserver.expect_request(SECRET_PATH).respond_with_data("no_service", status=404)
    topic = boto3.client("sns").create_topic(Name="t")["TopicArn"]
    url = httpserver.url_for(SECRET_PATH)
    assert cli(["notify", "--summary", summary_file(tmp_path), "--slack-webhook-url", url,
                "--sns-topic-arn", topic]) == 2
    captured = capsys.readouterr()
    assert f"published to {topic}" in captured.out
    assert "1 of 2 notifications failed" in captured.err
    assert_no_secret(captured.out + captured.err, url)


def test_an_unexpected_http_library_failure_is_scrubbed_too(
    cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The CLI prints tracebacks of unexpected errors: none may carry the URL out."""
    import requests

    url = "https://hooks.example" + SECRET_PATH

    def explode(self: Any, target: str, **kwargs: Any) -> Any:
        raise UnicodeError(f"cannot encode {target}")

    monkeypatch.setattr(requests.Session, "post", explode)
    assert cli(["notify", "--summary", summary_file(tmp_path), "--slack-webhook-url", url]) == 2
    captured = capsys.readouterr()
    assert "Slack webhook: UnicodeError: cannot encode <webhook>" in captured.err
    assert "Traceback" not in captured.err
    assert_no_secret(captured.out + captured.err, url)


def _subscribed_queue() -> tuple[str, str]:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="scangate-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue


def _received(queue: str) -> list[dict[str, Any]]:
    messages = boto3.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


@pytest.mark.parametrize("code", [2, 137])
def test_gate_error_without_a_summary_is_an_error_alert(
    moto: MotoServer, cli: Cli, tmp_path: Path, code: int
) -> None:
    """The gate writes no summary when it errors (a failed run leaves no output that could pass
    for a result): the exit code alone makes the alert."""
    topic, queue = _subscribed_queue()
    assert cli(["notify", "--gate-exit-code", str(code), "--sns-topic-arn", topic]) == 0
    (envelope,) = _received(queue)
    assert envelope["Subject"] == "scangate gate ERROR for acme/app (main 0123456789ab)"
    assert f"did not reach a decision (exit code {code})" in envelope["Message"]
    assert envelope["MessageAttributes"]["decision"]["Value"] == "error"


def test_gate_error_ignores_a_stale_passing_summary(
    moto: MotoServer, cli: Cli, tmp_path: Path
) -> None:
    """A summary from an earlier run lying around must not turn an error into a pass."""
    topic, queue = _subscribed_queue()
    passing = dict(FAILING, decision="pass", violations=[])
    path = summary_file(tmp_path, passing)
    assert cli(["notify", "--summary", path, "--gate-exit-code", "2", "--skip-pass",
                "--sns-topic-arn", topic]) == 0
    (envelope,) = _received(queue)
    assert envelope["MessageAttributes"]["decision"]["Value"] == "error"


def test_exit_code_and_summary_must_agree(
    moto: MotoServer, cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topic, queue = _subscribed_queue()
    path = summary_file(tmp_path)  # decision fail
    assert cli(["notify", "--summary", path, "--gate-exit-code", "0",
                "--sns-topic-arn", topic]) == 2
    assert "not this run's" in capsys.readouterr().err
    assert cli(["notify", "--gate-exit-code", "1", "--sns-topic-arn", topic]) == 2
    assert "pass its --summary too" in capsys.readouterr().err
    assert cli(["notify", "--sns-topic-arn", topic]) == 2
    assert "--gate-exit-code" in capsys.readouterr().err
    assert _received(queue) == []


def test_skip_pass_sends_nothing_on_pass_and_alerts_on_fail(
    moto: MotoServer, cli: Cli, tmp_path: Path
) -> None:
    topic, queue = _subscribed_queue()
    passing = summary_file(tmp_path, dict(FAILING, decision="pass", violations=[]))
    assert cli(["notify", "--summary", passing, "--gate-exit-code", "0", "--skip-pass",
                "--sns-topic-arn", topic]) == 0
    assert _received(queue) == []
    failing = summary_file(tmp_path)
    assert cli(["notify", "--summary", failing, "--gate-exit-code", "1", "--skip-pass",
                "--sns-topic-arn", topic]) == 0
    (envelope,) = _received(queue)
    assert envelope["MessageAttributes"]["decision"]["Value"] == "fail"


def test_slack_error_alert_says_the_gate_did_not_decide(
    httpserver: HTTPServer, cli: Cli, tmp_path: Path
) -> None:
    httpserver.expect_request(SECRET_PATH, method="POST").respond_with_data("ok")
    url = httpserver.url_for(SECRET_PATH)
    assert cli(["notify", "--gate-exit-code", "2", "--slack-webhook-url", url]) == 0
    (entry,) = httpserver.log
    payload = entry[0].get_json()
    assert payload["text"] == "scangate gate ERROR for acme/app (main 0123456789ab)"
    body = json.dumps(payload["blocks"])
    assert "did not reach a decision (exit code 2): nothing was pushed" in body
    assert "<https://github.example/acme/app/actions/runs/42|View the run>" in body


def test_the_image_is_named_first_so_two_images_alerts_differ(
    moto: MotoServer, cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run that gates two images sends two alerts: each names its image (first, before the
    run's context), and no runner-local file path stands in for it."""
    topic, queue = _subscribed_queue()
    sqs = boto3.client("sqs")
    for image in ("my-service", "my-service-vulnerable"):
        assert cli(["notify", "--summary", summary_file(tmp_path), "--gate-exit-code", "1",
                    "--sns-topic-arn", topic, "--image", image]) == 0
    assert cli(["notify", "--gate-exit-code", "2", "--sns-topic-arn", topic,
                "--image", "broken\x1b[31m\nname"]) == 0
    bodies = [json.loads(m["Body"]) for m in
              sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]]
    subjects = sorted(b["Subject"] for b in bodies)
    assert subjects == [
        "scangate gate ERROR for broken name in acme/app (main 0123456789ab)",
        "scangate gate FAILED for my-service in acme/app (main 0123456789ab)",
        "scangate gate FAILED for my-service-vulnerable in acme/app (main 0123456789ab)",
    ]
    assert not any("Artifacts:" in b["Message"] for b in bodies)


def test_without_an_image_the_artifacts_still_say_what_was_scanned() -> None:
    counts = dict.fromkeys(("critical", "high", "medium", "low", "unknown"), 0)
    summary = parse_summary({"decision": "fail", "counts": counts, "violations": [],
                             "reports": [{"artifact_name": "app.tar"}]}, "s.json")
    assert "Artifacts: app.tar" in build_message(summary, env={}).lines
    assert "Artifacts: app.tar" not in build_message(summary, env={}, image="app").lines
