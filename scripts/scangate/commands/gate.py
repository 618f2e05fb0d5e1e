"""``scangate gate``: read Trivy reports once, decide on the policy, write every output."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import os
import stat
import sys
from collections.abc import Iterator
from typing import Any

from scangate.aws.identity import token_file_argument
from scangate.baseline import load_baseline
from scangate.commands import arg_types
from scangate.errors import EXIT_PASS, EXIT_VIOLATION, OutputError, PolicyError, UsageError
from scangate.feed_options import add_feed_arguments, load_feeds
from scangate.gate import GateResult, annotate_risk, evaluate
from scangate.outputs import gitlab, openvex, sarif, summary
from scangate.outputs.atomic import OutputSet, check_writable
from scangate.outputs.text import printable
from scangate.policy import (
    DEFAULT_POLICY,
    MAX_LIMIT,
    Policy,
    load_policy_file,
    with_overrides,
)
from scangate.report import load_reports
from scangate.severity import Severity


def _count(value: str) -> int:
    try:
        number = int(value, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is negative")
    if number > MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"{value!r} is larger than {MAX_LIMIT}")
    return number


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "gate",
        help="gate Trivy JSON reports on a policy and write SARIF, GitLab and summaries",
        description="Exit 0 when the findings are within the policy, 1 when the policy is "
        "violated, 2 on any error (bad input, bad policy, unwritable output).",
    )
    parser.add_argument("--report", action="append", default=[], metavar="PATH", required=True,
                        help="Trivy JSON report (SchemaVersion 2); repeat for several")
    parser.add_argument("--policy", metavar="FILE|ssm:NAME",
                        help="policy YAML file, or ssm:/parameter/name to read it from SSM "
                        "Parameter Store (default: fail on any CRITICAL)")
    parser.add_argument("--thresholds-from-ssm", metavar="PREFIX",
                        help="read limits from PREFIX/{critical,high,medium,low} in SSM")
    parser.add_argument("--fail-on", type=arg_types.severity, metavar="SEVERITY",
                        help="fail on any finding at or above SEVERITY")
    for severity in reversed(list(Severity)):
        parser.add_argument(f"--max-{severity.key}", type=_count, metavar="N",
                            help=f"allow at most N {severity.name} findings")
    parser.add_argument("--baseline", metavar="PATH",
                        help="summary.json or Trivy JSON report of the base (the base branch's "
                        "or the deployed image's scan): classify every finding as new, "
                        "unchanged or fixed, and apply the policy's new_only; a missing or "
                        "unreadable baseline is not used and every finding counts")
    parser.add_argument("--ignore-unfixed", action="store_true",
                        help="do not count vulnerabilities without a fixed version (never "
                        "applies to secrets or misconfigurations)")
    # For --policy ssm:... and --thresholds-from-ssm. The names match scangate.aws.identity's
    # (its session_from_args reads them); not added through it so that a gate without SSM
    # never imports boto3.
    aws = parser.add_argument_group("AWS (for --policy ssm:... and --thresholds-from-ssm)")
    aws.add_argument("--aws-region", metavar="REGION",
                     help="SSM region (default: AWS_REGION, AWS_DEFAULT_REGION or config)")
    aws.add_argument("--role-arn", metavar="ARN",
                     help="IAM role to assume with the web identity token")
    aws.add_argument("--web-identity-token-file", metavar="FILE", type=token_file_argument,
                     help="file holding the CI job's OIDC ID token")
    add_feed_arguments(parser)
    parser.add_argument("--json-summary", metavar="PATH", help="write the JSON summary")
    parser.add_argument("--sarif", metavar="PATH", help="write SARIF 2.1.0 for code scanning")
    parser.add_argument("--sarif-category", action="append", default=[], metavar="CATEGORY",
                        help="SARIF category (once, or once per --report); default from the "
                        "artifact name")
    parser.add_argument("--sarif-overflow", choices=sarif.OVERFLOW_CHOICES,
                        default=sarif.OVERFLOW_REFUSE,
                        help="a SARIF run over GitHub's limits (25,000 results or rules per "
                        "run, 10 MB gzip): refuse it, exit 2 (default; an upload of part would "
                        "close the alerts of the rest as fixed), or keep the most severe "
                        "results and say what was dropped (for a SARIF that is not uploaded)")
    parser.add_argument("--dockerfile", metavar="PATH",
                        help="anchor image findings in SARIF on this Dockerfile's final FROM line")
    parser.add_argument("--gitlab-report", metavar="PATH",
                        help="write a GitLab container-scanning report (schema 15.2.1)")
    parser.add_argument("--summary-md", metavar="PATH", help="write a Markdown summary")
    parser.add_argument("--openvex", metavar="PATH",
                        help="write an OpenVEX document: one statement per waiver that matched a "
                        "vulnerability, for the image's registry digest (not_affected with the "
                        "waiver's justification, else affected)")
    parser.add_argument("--openvex-author", metavar="NAME", default="scangate",
                        help="the OpenVEX document's author (default: scangate)")
    parser.add_argument("--quiet", action="store_true", help="no terminal summary")
    parser.set_defaults(run=run)


def _outputs(args: argparse.Namespace) -> list[tuple[str, str]]:
    pairs = [("--json-summary", args.json_summary), ("--sarif", args.sarif),
             ("--gitlab-report", args.gitlab_report), ("--summary-md", args.summary_md),
             ("--openvex", args.openvex)]
    chosen = [(flag, path) for flag, path in pairs if path]
    seen: dict[str, str] = {}
    reports = {os.path.realpath(p) for p in args.report}
    for flag, path in chosen:
        real = os.path.realpath(path)
        if real in seen:
            raise UsageError(f"{path}: given to both {seen[real]} and {flag}")
        if real in reports:
            raise UsageError(f"{path}: {flag} would overwrite an input report")
        seen[real] = flag
    return chosen


def _check_flags(args: argparse.Namespace) -> dict[Severity, int]:
    """The --max-* limits given; refused when one loosens what --fail-on tightens (``--fail-on
    LOW --max-critical 5`` would otherwise let five CRITICALs through a "fail on LOW")."""
    given = {s: getattr(args, f"max_{s.key}") for s in Severity
             if getattr(args, f"max_{s.key}") is not None}
    if args.fail_on is not None:
        for severity in sorted(given, reverse=True):
            if severity >= args.fail_on and given[severity] > 0:
                raise UsageError(
                    f"--max-{severity.key} {given[severity]} contradicts --fail-on "
                    f"{args.fail_on.name}, which allows no {severity.name} finding: drop one "
                    "of the two")
    return given


def _ssm_access(args: argparse.Namespace) -> tuple[str, Any]:
    """The region and boto3 session for SSM, or a one-line error naming gate's own flags."""
    from scangate.aws.identity import session_from_args  # boto3 only when asked for

    session = session_from_args(args)
    region = session.region_name
    if not region:
        raise UsageError("SSM needs an AWS region: pass --aws-region or set AWS_REGION (or "
                         "AWS_DEFAULT_REGION)")
    return str(region), session


def _load_policy(args: argparse.Namespace) -> Policy:
    max_counts = _check_flags(args)
    uses_ssm = bool(args.thresholds_from_ssm) or bool(args.policy and
                                                       args.policy.startswith("ssm:"))
    region, session = _ssm_access(args) if uses_ssm else (None, None)
    policy = DEFAULT_POLICY
    if args.policy:
        if args.policy.startswith("ssm:"):
            from scangate.aws.ssm import load_policy_from_ssm

            policy = load_policy_from_ssm(args.policy[len("ssm:"):], region=region,
                                          session=session)
        else:
            policy = load_policy_file(args.policy)
    limits: dict[Severity, int] = {}
    if args.thresholds_from_ssm:
        from scangate.aws.ssm import thresholds_from_ssm

        limits.update(thresholds_from_ssm(args.thresholds_from_ssm, region=region,
                                          session=session))
        for severity, limit in limits.items():
            if limit > MAX_LIMIT:
                raise PolicyError(f"{args.thresholds_from_ssm.rstrip('/')}/{severity.key}: "
                                  f"{str(limit)[:30]}... is larger than {MAX_LIMIT}")
    limits.update(max_counts)
    policy = with_overrides(policy, fail_on=args.fail_on, max_counts=limits,
                            ignore_unfixed=args.ignore_unfixed)
    for note in policy.overrides:
        if "is stricter" in note:  # --fail-on over a looser SSM threshold: say which won
            print(f"scangate: note: {note}", file=sys.stderr)
    return policy


def _note_baseline(result: GateResult) -> None:
    """Say on stderr when a baseline or new_only was asked for and not used: the run then gates
    on every finding, which must not look like a comparison."""
    comparison = result.comparison
    if comparison is not None and not comparison.baseline.used:
        print(f"scangate: note: baseline {printable(comparison.baseline.path)} not used "
              f"({printable(comparison.baseline.reason)}): every finding counts",
              file=sys.stderr)
    if result.new_only_note:
        print(f"scangate: note: {printable(result.new_only_note)}", file=sys.stderr)
    for note in comparison.notes if comparison is not None else ():
        print(f"scangate: note: baseline: {printable(note)}", file=sys.stderr)


class _StepSummary:
    """GITHUB_STEP_SUMMARY, opened before anything is decided and appended to only once every
    output is committed; what this run appended is cut off again if the run then fails, so the
    job page never shows a decision the run did not stand by."""

    def __init__(self) -> None:
        self._path = os.environ.get("GITHUB_STEP_SUMMARY") or None
        self._fd: int | None = None
        self._start = 0
        if self._path is None:
            return
        try:
            # Non-blocking: a FIFO without a reader is an error here, not a hang.
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK,
                         0o644)
        except OSError as exc:
            raise self._error(exc) from None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise OutputError(f"{self._path}: GITHUB_STEP_SUMMARY is not a regular file")
        self._fd, self._start = fd, info.st_size

    def _error(self, exc: OSError) -> OutputError:
        return OutputError(f"{self._path}: cannot append to GITHUB_STEP_SUMMARY: "
                           f"{exc.strerror or exc}")

    def append(self, text: str) -> None:
        if self._fd is None:
            return
        data = memoryview(text.encode("utf-8", "replace"))
        try:
            while data:
                data = data[os.write(self._fd, data):]
        except OSError as exc:
            raise self._error(exc) from None

    def retract(self) -> None:
        """Cut off what this run appended (nothing when it appended nothing)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._start)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@contextlib.contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """A gate run builds a few hundred thousand objects that all live until it ends; Python's
    cycle collector would re-scan them again and again (a third of the time spent reading a
    large report) and free nothing. Reference counting still frees everything temporary."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def run(args: argparse.Namespace) -> int:
    with _without_cycle_collection():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    outputs = _outputs(args)
    inputs = [("--report", path) for path in args.report]
    if args.policy and not args.policy.startswith("ssm:"):
        inputs.append(("--policy", args.policy))
    if args.dockerfile:
        inputs.append(("--dockerfile", args.dockerfile))
    if args.baseline:
        inputs.append(("--baseline", args.baseline))
    for flag in ("kev", "epss"):
        if getattr(args, flag):
            inputs.append((f"--{flag}", getattr(args, flag)))
    for flag, path in outputs:
        check_writable(path, flag, inputs)
    step_summary = _StepSummary()
    writer = OutputSet(path for _, path in outputs)
    try:
        policy = _load_policy(args)
        reports = load_reports(args.report)
        base = load_baseline(args.baseline) if args.baseline else None
        kev, epss = load_feeds(args, policy)
        annotate_risk(reports, kev, epss)
        result = evaluate(reports, policy, dt.datetime.now(dt.UTC).date(), base)
        result.kev, result.epss = kev, epss
        _note_baseline(result)
        markdown = summary.markdown(result)
        for flag, path in outputs:
            if flag == "--json-summary":
                writer.add(path, summary.summary_json(result))
            elif flag == "--sarif":
                writer.add(path, lambda handle: sarif.write(
                    result, args.sarif_category, args.dockerfile, handle,
                    args.sarif_overflow))
            elif flag == "--gitlab-report":
                writer.add(path, gitlab.build(result))
            elif flag == "--openvex":
                writer.add(path, openvex.build(result, args.openvex_author))
            else:
                writer.add(path, markdown.encode("utf-8"))
        # No output states the decision before every output is committed: the files first
        # (all or none), then the step summary, then stdout. Whatever fails after the commit
        # takes the committed files and this run's step summary back, so a run that exits 2
        # leaves no "PASSED" anywhere.
        writer.commit()
        step_summary.append(markdown)
        if not args.quiet:
            _print(summary.terminal(result, [path for _, path in outputs]))
    except BaseException:
        # Whatever went wrong, no output of this run (or a stale one) may look like a result.
        step_summary.retract()
        writer.abort(stale_targets=[path for _, path in outputs])
        raise
    finally:
        step_summary.close()
    return EXIT_PASS if result.passed else EXIT_VIOLATION


def _print(text: str) -> None:
    """Write the terminal summary, or fail (exit 2) when stdout is closed or a broken pipe."""
    try:
        try:
            sys.stdout.write(text)
        except UnicodeEncodeError:
            # An ASCII (or other narrow) locale: print what it can show, escape the rest. Not a
            # closed stream, so the outputs stay.
            encoding = sys.stdout.encoding or "ascii"
            sys.stdout.write(text.encode(encoding, "backslashreplace").decode(encoding))
        sys.stdout.flush()
    except (OSError, ValueError, AttributeError) as exc:  # closed pipe, closed file, no stdout
        _silence_stdout()
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "closed"
        raise OutputError(f"stdout: cannot print the summary ({why}); no output of this run "
                          "was kept: rerun with stdout open, or with --quiet") from None


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's own flush at exit does not fail
    again on what is left in the buffer (and turn exit 2 into exit 120)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # lives until exit
