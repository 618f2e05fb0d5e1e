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
actions/gate runs them (`scangate --inputs-from-env gate-job run`); the other platforms can
run them with flags.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scangate.errors import EXIT_PASS, EXIT_VIOLATION, UsageError
from scangate.severity import Severity
from scangate.step_outputs import append_outputs, run_scangate

NAME = "gate-job"
# gate's options that gate-job passes on as they are (values are checked by gate itself, so a
# bad one is that gate's error, recorded as such).
PASSED_ON = ("policy", "thresholds-from-ssm", "fail-on", *(f"max-{s.key}" for s in Severity),
             "dockerfile", "feeds-dir")  # fmt: skip


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
    run_parser.add_argument("--baseline-image", default="", metavar="NAME")
    run_parser.add_argument("--baseline-source", default="newest", metavar="newest|deployed",
                            help="which push run of --baseline-branch (fetch-baseline --from-run)")
    run_parser.add_argument("--sarif-overflow", default="refuse", metavar="MODE",
                            help="passed to scangate gate (refuse when the SARIF is uploaded)")
    run_parser.add_argument("--fetch-feeds", action="store_true",
                            help="run scangate feeds fetch into --feeds-dir first")
    run_parser.add_argument("--output-dir", default="", metavar="DIR",
                            help="where the reports go (default $RUNNER_TEMP/scangate-reports)")
    run_parser.add_argument("--outputs", required=True, metavar="FILE",
                            help="file the step outputs are appended to ($GITHUB_OUTPUT)")
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
    if (args.baseline and args.baseline_branch) or (args.baseline_branch
                                                    and not args.baseline_image) \
            or args.baseline_source not in ("newest", "deployed"):
        return ("give baseline or baseline-branch (with baseline-image), not both; "
                "baseline-source is newest or deployed")
    return ""


def run_gate(args: argparse.Namespace) -> int:
    out_dir = Path(args.output_dir or _runner_temp("scangate-reports")).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    problem = _problem(args)
    if problem:
        print(f"::error title=scangate gate::{problem}")
        append_outputs(args.outputs, ["exit-code=2", "decision=error"])
        return EXIT_PASS
    gate = ["gate", *(f"--report={r}" for r in args.report)]
    gate += [f"--{name}={getattr(args, name.replace('-', '_'))}" for name in PASSED_ON
             if getattr(args, name.replace("-", "_")) and name != "feeds-dir"]
    gate += ["--ignore-unfixed"] * args.ignore_unfixed
    gate += [f"--sarif-category={c}" for c in args.sarif_category]
    outputs: list[str] = []
    if args.baseline_branch:
        # Nothing found is a warning and no file; the gate then counts every finding.
        fetched = out_dir / "baseline-summary.json"
        fetched.unlink(missing_ok=True)
        with _environment(GITHUB_TOKEN=os.environ.get("SCANGATE_FETCH_TOKEN", "")):
            code = run_scangate(["fetch-baseline", "--platform=github",
                              f"--branch={args.baseline_branch}",
                              f"--from-run={args.baseline_source}",
                              f"--image={args.baseline_image}", f"--output={fetched}"])
        if code != EXIT_PASS:
            print("::warning title=scangate baseline::fetch-baseline failed (see above): every "
                  "finding counts")
        gate.append(f"--baseline={fetched}")
    elif args.baseline:
        gate.append(f"--baseline={args.baseline}")
    feeds_dir = args.feeds_dir
    if args.fetch_feeds:
        feeds_dir = feeds_dir or _runner_temp("scangate-feeds")
        # A failed download is a warning: a policy with kev:/epss: rules then stops the gate
        # with an error (the feed is missing or too old); one without them only shows less.
        if run_scangate(["feeds", "fetch", f"--dir={feeds_dir}", "--max-cache-age=24"]) == 0:
            outputs.append("feeds-fetched=true")
        else:
            print("::warning title=scangate feeds::feeds fetch failed (see above): a policy that "
                  "rules on KEV or EPSS will stop the gate")
    if feeds_dir:
        gate.append(f"--feeds-dir={feeds_dir}")
    summary_json, sarif = out_dir / "summary.json", out_dir / "scangate.sarif"
    gate += [f"--json-summary={summary_json}", f"--sarif={sarif}",
             f"--sarif-overflow={args.sarif_overflow}",
             f"--summary-md={out_dir / 'summary.md'}"]
    code = run_scangate(gate)
    kept = out_dir / "reports"
    kept.mkdir(exist_ok=True)
    for index, report in enumerate(args.report, 1):
        if os.path.isfile(report):
            shutil.copyfile(report, kept / f"{index}-{os.path.basename(report)}")
    decision = {EXIT_PASS: "pass", EXIT_VIOLATION: "fail"}.get(code, "error")
    outputs += [f"exit-code={code}", f"decision={decision}", f"output-dir={out_dir}"]
    if decision != "error" and summary_json.is_file():
        counts = json.loads(summary_json.read_text(encoding="utf-8"))["counts"]
        outputs.append(f"counts={json.dumps(counts, separators=(',', ':'))}")
        outputs += [f"{s.key}={counts.get(s.key, 0)}" for s in Severity]
        outputs.append(f"summary-json={summary_json}")
        if sarif.is_file():
            outputs.append(f"sarif={sarif}")
    append_outputs(args.outputs, outputs)
    print(f"scangate gate: {decision} (exit {code})")
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
