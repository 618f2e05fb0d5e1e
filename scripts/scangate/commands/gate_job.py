"""``scangate gate-job``: the gate as a CI job runs it, around ``scangate gate``.

A CI job must keep its reports whatever the decision, so the step that gates must not fail
the job itself; a later step does, on the recorded decision alone. Three steps:

- ``gate-job run``: fetch the baseline (``fetch-baseline``) and the risk feeds (``feeds fetch``)
  when asked, run ``scangate gate`` once, keep the input reports beside the outputs (the
  artifact is the whole record of the decision), and append ``exit-code``, ``decision``,
  ``output-dir`` and, with a decision, ``counts``, one count per severity, ``summary-json`` and
  ``sarif`` to ``--outputs`` (GITHUB_OUTPUT format). Exit 0 whatever was decided.
- ``gate-job sarif-status``: after the (optional) upload to code scanning, say where the SARIF
  is; a refused upload is a warning in the step summary, never a failure.

A last step fails the job on the recorded decision: ``scangate enforce --summary`` (exit 0
only on a recorded pass, 1 on a violation, 2 on anything else, a missing summary included).
actions/gate runs them (`scangate --inputs-from-env gate-job run`).

``gate-job run --platform gitlab`` is the GitLab template's report job
(`scangate --inputs-from-env=gitlab gate-job run ...`): GitLab ingests the container-scanning
report of successful jobs only, so a pass or a violation exits 0 with the reports written
(the enforce job decides), while an error (no decision, or a decision without its summary)
fails the job with the gate's code: no report is better than a wrong one. The gate's exit code
goes to ``--exit-code-file`` (read by the notify job), the baseline of a merge request comes
from the target branch's gate job (``fetch-baseline --platform gitlab``), and messages are
plain lines instead of GitHub's workflow commands.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scangate.errors import EXIT_ERROR, EXIT_PASS, EXIT_VIOLATION, UsageError
from scangate.severity import Severity
from scangate.step_outputs import append_outputs, run_scangate

NAME = "gate-job"
# gate's options that gate-job passes on as they are (values are checked by gate itself, so a
# bad one is that gate's error, recorded as such).
PASSED_ON = ("policy", "thresholds-from-ssm", "fail-on", *(f"max-{s.key}" for s in Severity),
             "dockerfile", "feeds-dir", "gitlab-report", "aws-region", "role-arn",
             "web-identity-token-file")  # fmt: skip
PLATFORMS = ("github", "gitlab")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="the gate as a CI job step: gate, keep every report, fail only on the decision",
        description="Steps of a CI gate job (actions/gate runs them): `run` gates and records "
        "the decision without failing, `sarif-status` reports the SARIF upload, `enforce` "
        "fails on the recorded decision.",
    )
    sub = parser.add_subparsers(dest="step", metavar="STEP", required=True)
    run_parser = sub.add_parser(
        "run", help="gate and record the decision (exit 0 whatever it is)",
        description="Run scangate gate once, keep the inputs beside the outputs, append the "
        "decision to --outputs; exit 0 unless --outputs cannot be written.")
    run_parser.add_argument("--report", "--reports", action="append", default=[],
                            metavar="PATH", help="a Trivy JSON report (repeatable)")
    for name in PASSED_ON:
        run_parser.add_argument(f"--{name}", default="", metavar="VALUE",
                                help=f"passed to scangate gate as --{name}")
    run_parser.add_argument("--ignore-unfixed", action="store_true")
    run_parser.add_argument("--sarif-category", action="append", default=[],
                            metavar="CATEGORY", help="one for all reports, or one per report")
    run_parser.add_argument("--baseline", default="", metavar="PATH")
    run_parser.add_argument("--baseline-branch", default="", metavar="BRANCH",
                            help="fetch the baseline from this branch's last push run (with "
                            "--baseline-image; the token is $SCANGATE_FETCH_TOKEN)")
    run_parser.add_argument("--baseline-image", default="", metavar="NAME",
                            help="GitHub: the image name of the base's reports artifact")
    run_parser.add_argument("--baseline-job", default="", metavar="NAME",
                            help="GitLab: the gate job whose summary.json (in --output-dir) is "
                            "the baseline")
    run_parser.add_argument("--baseline-source", default="newest", metavar="newest|deployed",
                            help="which push run of --baseline-branch (fetch-baseline --from-run)")
    run_parser.add_argument("--sarif-overflow", default="refuse", metavar="MODE",
                            help="passed to scangate gate (refuse when the SARIF is uploaded)")
    run_parser.add_argument("--fetch-feeds", action="store_true",
                            help="run scangate feeds fetch into --feeds-dir first")
    run_parser.add_argument("--output-dir", default="", metavar="DIR",
                            help="where the reports go (default $RUNNER_TEMP/scangate-reports)")
    run_parser.add_argument("--outputs", default="", metavar="FILE",
                            help="file the step outputs are appended to ($GITHUB_OUTPUT)")
    run_parser.add_argument("--platform", choices=PLATFORMS, default="github",
                            help="gitlab: exit with the gate's error instead of recording it, "
                            "baseline from --baseline-job, plain messages (default github)")
    run_parser.add_argument("--exit-code-file", default="", metavar="FILE",
                            help="also write the gate's exit code to FILE")
    run_parser.set_defaults(run=run_gate)
    status = sub.add_parser(
        "sarif-status", help="say what happened to the SARIF upload (never fails)")
    status.add_argument("--upload-outcome", default="", metavar="OUTCOME",
                        help="the upload step's outcome: success, failure, or empty (not asked)")
    status.add_argument("--sarif", default="", metavar="PATH")
    status.add_argument("--artifact-name", default="", metavar="NAME")
    status.add_argument("--step-summary", default="", metavar="FILE",
                        help="file a refused upload's warning is appended to")
    status.set_defaults(run=run_sarif_status)



@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _runner_temp(name: str) -> str:
    if not os.environ.get("RUNNER_TEMP"):
        raise UsageError(f"RUNNER_TEMP is not set: pass the directory for {name} explicitly")
    return os.path.join(os.environ["RUNNER_TEMP"], name)


def _problem(args: argparse.Namespace) -> str:
    """An input combination no gate can run with, or empty."""
    if not args.report:
        return "the reports input names no file"
    source = args.baseline_job if args.platform == "gitlab" else args.baseline_image
    if (args.baseline and args.baseline_branch) or (args.baseline_branch and not source) \
            or args.baseline_source not in ("newest", "deployed"):
        return (f"give baseline or baseline-branch (with baseline-"
                f"{'job' if args.platform == 'gitlab' else 'image'}), not both; "
                "baseline-source is newest or deployed")
    return ""


def _say(args: argparse.Namespace, level: str, title: str, message: str) -> None:
    """A warning or error as the platform shows it: a GitHub annotation, or a plain line."""
    if args.platform == "github":
        print(f"::{level} title={title}::{message}")
    else:
        print(f"scangate: {level}: {message}", file=sys.stderr)


def _fetch_baseline(args: argparse.Namespace, fetched: Path) -> int:
    if args.platform == "gitlab":
        # The target branch's last successful gate job, by the job token (CI_JOB_TOKEN).
        return run_scangate(["fetch-baseline", "--platform=gitlab",
                             f"--branch={args.baseline_branch}", f"--job={args.baseline_job}",
                             f"--artifact-path={Path(args.output_dir) / 'summary.json'}",
                             f"--output={fetched}"])
    with _environment(GITHUB_TOKEN=os.environ.get("SCANGATE_FETCH_TOKEN", "")):
        return run_scangate(["fetch-baseline", "--platform=github",
                             f"--branch={args.baseline_branch}",
                             f"--from-run={args.baseline_source}",
                             f"--image={args.baseline_image}", f"--output={fetched}"])


def gate_arguments(args: argparse.Namespace) -> list[str]:
    """scangate gate's arguments from the step's inputs (before baseline, feeds and outputs)."""
    gate = ["gate", *(f"--report={r}" for r in args.report)]
    gate += [f"--{name}={getattr(args, name.replace('-', '_'))}" for name in PASSED_ON
             if getattr(args, name.replace("-", "_")) and name != "feeds-dir"]
    gate += ["--ignore-unfixed"] * args.ignore_unfixed
    return gate + [f"--sarif-category={c}" for c in args.sarif_category]


def _record(args: argparse.Namespace, lines: list[str], code: int) -> None:
    if args.exit_code_file:
        Path(args.exit_code_file).write_text(f"{code}\n", encoding="utf-8")
    if args.outputs:
        append_outputs(args.outputs, lines)


def run_gate(args: argparse.Namespace) -> int:
    if args.platform == "gitlab" and not args.output_dir:
        raise UsageError("gate-job run --platform gitlab needs --output-dir (the job's "
                         "artifacts directory)")
    out_dir = Path(args.output_dir or _runner_temp("scangate-reports")).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    summary_json, sarif = out_dir / "summary.json", out_dir / "scangate.sarif"
    # Nothing a previous gate left may pass for this one's record.
    for stale in (summary_json, sarif, out_dir / "summary.md", out_dir / "baseline-summary.json",
                  *(Path(f) for f in (args.exit_code_file, args.gitlab_report) if f)):
        stale.unlink(missing_ok=True)
    problem = _problem(args)
    if problem:
        _say(args, "error", "scangate gate", problem)
        _record(args, ["exit-code=2", "decision=error"], EXIT_ERROR)
        return EXIT_ERROR if args.platform == "gitlab" else EXIT_PASS
    gate = gate_arguments(args)
    outputs: list[str] = []
    if args.baseline_branch:
        # Nothing found is a warning and no file; the gate then counts every finding.
        fetched = out_dir / "baseline-summary.json"
        if _fetch_baseline(args, fetched) != EXIT_PASS:
            _say(args, "warning", "scangate baseline",
                 "fetch-baseline failed (see above): every finding counts")
        gate.append(f"--baseline={fetched}")
    elif args.baseline:
        gate.append(f"--baseline={args.baseline}")
    feeds_dir = args.feeds_dir
    if args.fetch_feeds:
        # GitLab: a fresh directory every run (a cached feed could be any branch's).
        feeds_dir = feeds_dir or (tempfile.mkdtemp(prefix="scangate-feeds-")
                                  if args.platform == "gitlab" else _runner_temp("scangate-feeds"))
        # A failed download is a warning: a policy with kev:/epss: rules then stops the gate
        # with an error (the feed is missing or too old); one without them only shows less.
        fetch = ["feeds", "fetch", f"--dir={feeds_dir}"]
        if args.platform == "github":  # the runner's own temporary directory
            fetch.append("--max-cache-age=24")
        if run_scangate(fetch) == 0:
            outputs.append("feeds-fetched=true")
        else:
            _say(args, "warning", "scangate feeds", "feeds fetch failed (see above): a policy "
                 "that rules on KEV or EPSS will stop the gate")
    if feeds_dir:
        gate.append(f"--feeds-dir={feeds_dir}")
    gate += [f"--json-summary={summary_json}", f"--sarif={sarif}",
             f"--sarif-overflow={args.sarif_overflow}",
             f"--summary-md={out_dir / 'summary.md'}"]
    code = run_scangate(gate)
    if args.platform == "github":  # GitLab's scan job keeps the report in its own artifact
        kept = out_dir / "reports"
        kept.mkdir(exist_ok=True)
        for index, report in enumerate(args.report, 1):
            if os.path.isfile(report):
                shutil.copyfile(report, kept / f"{index}-{os.path.basename(report)}")
    decision = {EXIT_PASS: "pass", EXIT_VIOLATION: "fail"}.get(code, "error")
    if decision != "error" and not summary_json.is_file():
        _say(args, "error", "scangate gate",
             f"the gate exited {code} without writing {summary_json}: no decision")
        decision, code = "error", EXIT_ERROR
    outputs += [f"exit-code={code}", f"decision={decision}", f"output-dir={out_dir}"]
    if decision != "error" and summary_json.is_file():
        counts = json.loads(summary_json.read_text(encoding="utf-8"))["counts"]
        outputs.append(f"counts={json.dumps(counts, separators=(',', ':'))}")
        outputs += [f"{s.key}={counts.get(s.key, 0)}" for s in Severity]
        outputs.append(f"summary-json={summary_json}")
        if sarif.is_file():
            outputs.append(f"sarif={sarif}")
    _record(args, outputs, code)
    if args.platform == "gitlab" and decision == "error":
        print(f"scangate: the gate failed with exit {code}: no report is published (fail "
              "closed)", file=sys.stderr)
        return code
    print(f"scangate gate: {decision} (exit {code})"
          + (f"; recorded in {summary_json}, the enforce job decides"
             if args.platform == "gitlab" else ""))
    return EXIT_PASS


def run_sarif_status(args: argparse.Namespace) -> int:
    if args.upload_outcome == "success":
        print(f"SARIF uploaded to code scanning: {args.sarif}")
    elif args.upload_outcome == "failure":
        message = ("the SARIF upload to code scanning failed (private repositories need GitHub "
                   "Code Security; fork and Dependabot pull requests get a read-only token). The "
                   "gate's decision is unaffected; the SARIF is in the "
                   f"'{args.artifact_name}' artifact. Set upload-sarif: false to skip the upload.")
        print(f"::warning title=scangate code scanning::{message}")
        if args.step_summary:
            append_outputs(args.step_summary, ["", "> [!WARNING]", f"> Code scanning: {message}"])
    else:
        print("SARIF not uploaded (upload-sarif is not true); it is in the "
              f"'{args.artifact_name}' artifact")
    return EXIT_PASS
