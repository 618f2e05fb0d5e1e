"""Alerts: the gate's decision, counts and violations, to Slack (webhook) and SNS.

The summary is ``scangate gate --json-summary`` output, read and validated by
scangate.gate_summary (the reader ``push --decision`` uses too) before anything is sent: an
alert built from a broken summary could announce a pass that never happened. A gate that ended
in an error (exit 2, or a crash) leaves no summary on purpose (a failed run writes no output
that could pass for a result), so the pipeline passes the gate's exit code instead and the alert
says the gate did not decide: that release is stopped too, and someone has to look.

The Slack webhook URL is a credential (anyone holding it can post). It is never printed: errors
name the HTTP status or the failure's kind, and any text that came from the HTTP library is
scrubbed of the URL first.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scangate import gate_summary
from scangate.errors import NotifyError
from scangate.gate_summary import GateSummary
from scangate.outputs.text import one_line, printable, truncate

ERROR = "error"
# The gate's exit codes: 0 pass, 1 policy violated; anything else, it did not decide.
EXIT_DECISIONS = {0: "pass", 1: "fail"}
SLACK_TEXT_MAX = 2900  # a section block holds 3,000 characters
IMAGE_NAME_MAX = 200
SLACK_ATTEMPTS = 5
RETRY_AFTER_CAP = 30.0
LOOPBACK = ("127.0.0.1", "localhost", "::1")


# --- the message -----------------------------------------------------------------------------


def run_link(env: Mapping[str, str]) -> str:
    """The CI run that produced the summary, from the CI system's own variables."""
    server, repo, run_id = (env.get("GITHUB_SERVER_URL"), env.get("GITHUB_REPOSITORY"),
                            env.get("GITHUB_RUN_ID"))
    candidates = []
    if server and repo and run_id:
        link = f"{server.rstrip('/')}/{repo}/actions/runs/{run_id}"
        attempt = env.get("GITHUB_RUN_ATTEMPT", "")
        if attempt.isdigit() and int(attempt) > 1:
            link += f"/attempts/{attempt}"
        candidates.append(link)
    candidates += [env.get(name, "") for name in (
        "CI_JOB_URL", "CI_PIPELINE_URL", "CODEBUILD_BUILD_URL", "BUILDKITE_BUILD_URL", "BUILD_URL"
    )]
    for link in candidates:
        if link.startswith(("https://", "http://")):
            return link
    return ""


def run_context(env: Mapping[str, str]) -> str:
    repo = env.get("GITHUB_REPOSITORY") or env.get("CI_PROJECT_PATH") or ""
    sha = env.get("GITHUB_SHA", "")[:12] or env.get("CI_COMMIT_SHORT_SHA", "")
    ref = env.get("GITHUB_REF_NAME") or env.get("CI_COMMIT_REF_NAME") or ""
    where = " ".join(p for p in (ref, sha) if p)
    if repo and where:
        return f"{repo} ({where})"
    return repo or where


@dataclass(frozen=True, slots=True)
class Message:
    headline: str
    lines: list[str]
    link: str

    def text(self) -> str:
        body = [self.headline, *self.lines]
        if self.link:
            body.append(f"Run: {self.link}")
        return "\n".join(body)


def error_summary() -> GateSummary:
    """The gate did not decide (no summary): no counts to report."""
    return GateSummary(decision=ERROR, counts={}, violations=[], expired_waivers=[])


def summary_for_exit_code(path: str | None, exit_code: int) -> GateSummary:
    """The summary the gate left for its exit code: 0 and 1 need one that agrees; any other code
    is an error, whatever file may be lying around (a stale one from an earlier run must not
    turn an error into a pass)."""
    decision = EXIT_DECISIONS.get(exit_code)
    if decision is None:
        return error_summary()
    if not path:
        raise NotifyError(f"--gate-exit-code {exit_code} means the gate decided {decision!r}: "
                          "pass its --summary too")
    summary = gate_summary.read_decided(path)
    if summary.decision != decision:
        raise NotifyError(f"{path}: decision is {summary.decision!r} but the gate exited "
                          f"{exit_code} ({decision}): the summary is not this run's")
    return summary


def _subject(image: str | None, context: str) -> str:
    """Whom the alert is about: the image first, so the alerts of two calls in one run differ."""
    if image:
        return f" for {image}" + (f" in {context}" if context else "")
    return f" for {context}" if context else ""


def _text_only(env: Mapping[str, str]) -> dict[str, str]:
    """The CI variables with any lone surrogate (bytes that are not UTF-8 in a variable) shown
    as its escape: the alert is still sent, and no encoder (SNS's UTF-8 body) crashes on it."""
    return {name: value.encode("utf-8", "backslashreplace").decode("utf-8")
            for name, value in env.items()}


def build_message(summary: GateSummary, env: Mapping[str, str] | None = None,
                  exit_code: int | None = None, image: str | None = None) -> Message:
    env = _text_only(os.environ if env is None else env)
    if image is not None:
        image = truncate(one_line(printable(image)), IMAGE_NAME_MAX)
    if summary.decision == ERROR:
        context = run_context(env)
        headline = "scangate gate ERROR" + _subject(image, context)
        code = f" (exit code {exit_code})" if exit_code is not None else ""
        lines = [f"The gate did not reach a decision{code}: nothing was pushed.",
                 "Open the run's log for the one-line error (what, where, how to fix)."]
        return Message(headline=headline, lines=lines, link=run_link(env))
    verdict = "PASSED" if summary.decision == "pass" else "FAILED"
    context = run_context(env)
    headline = f"scangate gate {verdict}" + _subject(image, context)
    counts = ", ".join(f"{k} {v}" for k, v in summary.counts.items())
    lines = [f"Findings counted: {counts}"]
    extras = []
    if summary.waived:
        extras.append(f"{summary.waived} waived")
    if summary.ignored_unfixed:
        extras.append(f"{summary.ignored_unfixed} unfixed ignored")
    if extras:
        lines.append("Not counted: " + ", ".join(extras))
    for violation in summary.violations:
        lines.append(f"Violation: {violation['count']} {violation['severity']} "
                     f"(limit {violation['limit']})")
    for risk in summary.risk_violations:
        lines.append(f"Exploitation ({risk['rule'].upper()}): {risk['id']} {risk['detail']}")
    for waiver in summary.expired_waivers:
        lines.append(f"Expired waiver: {waiver['id']} (expired {waiver['expires']})")
    # With the image named, the scanned files (a runner-local tarball path) add nothing.
    if summary.artifacts and not image:
        shown = summary.artifacts[:5]
        more = f" and {len(summary.artifacts) - 5} more" if len(summary.artifacts) > 5 else ""
        lines.append("Artifacts: " + ", ".join(shown) + more)
    if summary.policy_source:
        lines.append(f"Policy: {summary.policy_source}")
    return Message(headline=headline, lines=lines, link=run_link(env))


# --- Slack -----------------------------------------------------------------------------------


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(message: Message) -> dict[str, Any]:
    body = _slack_escape("\n".join(message.lines))
    if len(body) > SLACK_TEXT_MAX:
        body = body[:SLACK_TEXT_MAX] + "\n... (truncated)"
    headline = _slack_escape(message.headline)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline}*"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": body}},
    ]
    if message.link:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"<{message.link}|View the run>"}
        ]})
    return {"text": headline, "blocks": blocks}


def check_webhook_url(url: str) -> None:
    """https, or http to loopback (a local test server); the URL itself is never echoed."""
    try:
        parsed = urllib.parse.urlsplit(url)
    except ValueError:
        raise NotifyError("the Slack webhook URL is not a URL") from None
    if parsed.scheme == "https" and parsed.hostname:
        return
    if parsed.scheme == "http" and parsed.hostname in LOOPBACK:
        return
    raise NotifyError("the Slack webhook URL must be an https:// URL")


def scrub(text: str, url: str) -> str:
    """Remove the webhook URL and its secret path from text that came from the HTTP library."""
    parsed = urllib.parse.urlsplit(url)
    for secret in sorted({url, url.rstrip("/"), parsed.path, parsed.query}, key=len,
                         reverse=True):
        if secret and secret not in ("/", ""):
            text = text.replace(secret, "<webhook>")
    # Slack webhook paths look like /services/T.../B.../secret; catch a re-encoded one too.
    return re.sub(r"/services/[A-Za-z0-9/_-]+", "/services/<redacted>", text)


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value or 0), 0.0), RETRY_AFTER_CAP)
    except ValueError:
        return 0.0


def post_slack(url: str, payload: dict[str, Any], *, session: Any = None,
               backoff: Any = None) -> int:
    """POST with retries on 429, 5xx and connection failures; returns the attempts used."""
    import requests

    from scangate.aws.retry import Backoff

    check_webhook_url(url)
    backoff = backoff or Backoff(attempts=SLACK_ATTEMPTS)
    http = session or requests.Session()
    last = ""
    for attempt in range(1, backoff.attempts + 1):
        wait_at_least = 0.0
        try:
            response = http.post(url, json=payload, timeout=(5, 15), allow_redirects=False)
        except requests.RequestException as exc:
            # requests puts the URL (with its secret path) in str(exc): scrub it.
            last = f"{type(exc).__name__}: {scrub(str(exc), url)}"
        except Exception as exc:  # noqa: BLE001 - anything else would reach a traceback, URL and all
            raise NotifyError(f"Slack webhook: {type(exc).__name__}: {scrub(str(exc), url)}"
                              ) from None
        else:
            if 200 <= response.status_code < 300:
                return attempt
            detail = scrub(" ".join(response.text.split())[:200], url)
            last = f"HTTP {response.status_code}" + (f" ({detail})" if detail else "")
            if response.status_code != 429 and response.status_code < 500:
                raise NotifyError(f"Slack rejected the message: {last}; check the webhook "
                                  "(revoked, wrong channel) and the payload")
            wait_at_least = _retry_after(response.headers.get("Retry-After"))
        if attempt < backoff.attempts:
            backoff.wait(attempt, wait_at_least)
    raise NotifyError(f"Slack webhook failed after {backoff.attempts} attempts: {last}")
