"""``scangate plan``: check a pipeline's inputs before anything is built, pushed or gated.

``scangate plan images`` turns the image inputs into the matrix the build, scan and gate jobs
run once per entry (scangate.images_plan), and names this call's artifacts: it prints
``matrix=<JSON>`` and ``call=<8 hex>`` (GITHUB_OUTPUT lines) on stdout, the images on stderr.

``scangate plan pull-request`` is the check of a pull request's (or merge request's) gate
inputs against the base branch's policy (scangate.pull_request): exit 0 when every input is at
least as strict, 2 naming each one that is not. The GitHub workflow runs it in the gate job on
pull-request events; the GitLab template and CodeBuild can call it the same way.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from scangate.commands import arg_types
from scangate.errors import EXIT_PASS, UsageError
from scangate.severity import Severity

NAME = "plan"


def _count(value: str) -> int:
    if not value.isdigit() or len(value) > 9:
        raise argparse.ArgumentTypeError(f"{value!r} is not a count (0 or more)")
    return int(value)


def _boolean(value: str) -> bool:
    if value not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"{value!r} is not true or false")
    return value == "true"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="check a pipeline's inputs before anything runs",
        description="Check a pipeline's inputs. `plan pull-request`: on a pull request, refuse "
        "(exit 2, naming them) gate inputs less strict than the base branch's policy.",
    )
    sub = parser.add_subparsers(dest="plan", metavar="PLAN", required=True)
    images = sub.add_parser(
        "images",
        help="the image matrix and this call's artifact id",
        description="Validate the image inputs and print `matrix=<JSON>` and `call=<id>` (one "
        "line each, GITHUB_OUTPUT format); exit 2 with one line on any bad entry.",
    )
    images.add_argument("--images", default="", metavar="JSON",
                        help="a JSON array of image objects; empty: the single-image flags")
    images.add_argument("--image-name", default="", metavar="NAME")
    images.add_argument("--context", default=".", metavar="DIR")
    images.add_argument("--dockerfile", default="", metavar="FILE")
    images.add_argument("--build-args", default="", metavar="LINES",
                        help="KEY=VALUE lines, the default of every entry")
    images.add_argument("--sarif-category", default="", metavar="CATEGORY")
    images.add_argument("--repository", default="", metavar="OWNER/NAME",
                        help="the default image name's source (GITHUB_REPOSITORY)")
    images.add_argument("--record", default="", metavar="FILE",
                        help="also write the matrix and call id to FILE (the plan's artifact)")
    images.set_defaults(run=run_images)
    release = sub.add_parser(
        "release",
        help="check the scan's hand-off and the AWS inputs of a release",
        description="Check container-scan.yml's hand-off and container-release.yml's inputs "
        "before any role is assumed; print `matrix=`, `call=`, `tag-environment=` and "
        "`decision=` (GITHUB_OUTPUT lines); exit 2 naming every problem.",
    )
    release.add_argument("--scan", default="", metavar="JSON", help="the scan's handoff output")
    for name in ("aws-region", "publish-role-arn", "push-role-arn", "deploy-role-arn",
                 "ecr-repository", "manifests", "eks-cluster", "image-tag", "tag-environment",
                 "limits-ssm-prefix", "limits-role-arn", "sns-topic-arn", "notify-role-arn",
                 "monitoring-event-bus"):  # fmt: skip
        release.add_argument(f"--{name}", default="", metavar="VALUE")
    release.add_argument("--eks-namespace", default="default", metavar="NAME")
    for name in ("push", "deploy", "security-hub"):
        release.add_argument(f"--{name}", type=_boolean, default=False, metavar="true|false")
    release.add_argument("--ref", default="", help="the run's git ref (GITHUB_REF)")
    release.add_argument("--default-branch", default="", metavar="BRANCH")
    release.set_defaults(run=run_release)
    pr = sub.add_parser(
        "pull-request",
        help="refuse gate inputs that loosen the base branch's policy",
        description="On a pull request the caller's inputs come from the pull request: every "
        "max-*, ignore-unfixed and policy-from-base must be at least as strict as the base "
        "commit's policy, and the policy path one that the base commit's caller passes.",
    )
    pr.add_argument("--base-policy", metavar="FILE", default="",
                    help="the policy file as the base commit has it; empty or missing: "
                    "scangate's default policy")
    pr.add_argument("--base-caller", metavar="FILE", default="",
                    help="the caller workflow as the base commit has it (optional; missing: "
                    "the policy path is not compared)")
    pr.add_argument("--workflow-file", default="container-scan.yml", metavar="NAME",
                    help="the reusable workflow's file name the caller uses")
    pr.add_argument("--policy", default="", metavar="PATH", help="the policy input")
    pr.add_argument("--policy-from-base", type=_boolean, default=True, metavar="true|false")
    pr.add_argument("--fail-on", type=arg_types.severity, metavar="SEVERITY")
    for severity in Severity:
        pr.add_argument(f"--max-{severity.key}", type=_count, metavar="N")
    pr.add_argument("--ignore-unfixed", type=_boolean, default=False, metavar="true|false")
    pr.add_argument("--base-checkout", metavar="DIR", default="",
                    help="the base commit checked out here: --base-policy defaults to its "
                    "--policy, --base-caller to its copy of the --workflow-ref caller")
    pr.add_argument("--workflow-ref", metavar="OWNER/REPO/PATH@REF", default="",
                    help="the caller workflow (GitHub: github.workflow_ref)")
    pr.set_defaults(run=run)
    policy = sub.add_parser(
        "policy",
        help="which policy file the gate applies (the base's on a pull request)",
        description="With --from-base true (a pull request, a policy file in the repository), "
        "the base commit's copy in --base-checkout applies, or scangate's default when the base "
        "has none, and the pull request's own change is shown in --step-summary as proposed, "
        "not applied. Appends policy=<path> to --outputs.")
    policy.add_argument("--policy", default="", metavar="PATH", help="the policy input")
    policy.add_argument("--from-base", type=_boolean, default=False, metavar="true|false")
    policy.add_argument("--base-checkout", default="", metavar="DIR")
    policy.add_argument("--base-sha", default="", metavar="COMMIT")
    policy.add_argument("--outputs", required=True, metavar="FILE", help="$GITHUB_OUTPUT")
    policy.add_argument("--step-summary", default="", metavar="FILE",
                        help="where a proposed policy change is shown ($GITHUB_STEP_SUMMARY)")
    policy.set_defaults(run=run_policy)


def run_images(args: argparse.Namespace) -> int:
    import json
    import secrets
    import sys

    from scangate.images_plan import image_matrix, parse_images, single_image

    entries: list[Any]
    if args.images:
        entries = parse_images(args.images)
    else:
        if not args.image_name and not args.repository:
            raise UsageError("no image name: pass --image-name or --repository")
        entries = single_image(args.image_name, args.context or ".", args.dockerfile,
                               args.sarif_category, args.repository)
    matrix = image_matrix(entries, args.build_args)
    # Names this call's artifacts: two calls in one run never collide.
    call = secrets.token_hex(4)
    print("images:", json.dumps(matrix, indent=2), file=sys.stderr)
    print(f"artifacts of this call: scangate-*-<image>-{call}-<attempt>", file=sys.stderr)
    if args.record:
        from pathlib import Path

        record = Path(args.record)
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"call": call, "matrix": matrix}, indent=2) + "\n",
                          encoding="utf-8")
    print(f"matrix={json.dumps(matrix, separators=(',', ':'))}")
    print(f"call={call}")
    return EXIT_PASS


def run_release(args: argparse.Namespace) -> int:
    import json
    import sys

    from scangate.release_plan import (
        ReleaseInputs,
        fill_matrix,
        parse_handoff,
        problems,
        tag_environment,
    )

    handoff = parse_handoff(args.scan)
    inputs = ReleaseInputs(**{
        key: getattr(args, key) for key in ReleaseInputs.__dataclass_fields__
    })  # fmt: skip
    matrix = fill_matrix(handoff["matrix"], inputs.ecr_repository, inputs.manifests)
    found = problems(inputs, matrix)
    if found:
        raise UsageError("; ".join(found))
    environment = tag_environment(inputs.tag_environment, args.ref, args.default_branch)
    print("images:", json.dumps(matrix, indent=2), file=sys.stderr)
    print(f"the scan decided: {handoff['decision']}; tags for: {environment}", file=sys.stderr)
    print(f"matrix={json.dumps(matrix, separators=(',', ':'))}")
    print(f"call={handoff['call']}")
    print(f"tag-environment={environment}")
    print(f"decision={handoff['decision']}")
    return EXIT_PASS


def run(args: argparse.Namespace) -> int:
    from scangate.policy import DEFAULT_POLICY, load_policy_file
    from scangate.pull_request import (
        GateInputs,
        base_caller_policies,
        changed_policy,
        loosened,
    )

    if args.base_checkout:
        if args.policy and not args.base_policy:
            args.base_policy = os.path.join(args.base_checkout, args.policy)
        if args.workflow_ref and not args.base_caller:
            # OWNER/REPO/PATH@REF: the caller's path, as the base commit has it.
            path = args.workflow_ref.rsplit("@", 1)[0].split("/", 2)[-1]
            args.base_caller = os.path.join(args.base_checkout, path)
    base = DEFAULT_POLICY
    source = "(scangate's default)"
    if args.base_policy and os.path.isfile(args.base_policy):
        base = load_policy_file(args.base_policy)
        source = args.base_policy
    inputs = GateInputs(
        policy=args.policy,
        policy_from_base=args.policy_from_base,
        fail_on=args.fail_on,
        max_counts={s: getattr(args, f"max_{s.key}") for s in Severity
                    if getattr(args, f"max_{s.key}") is not None},
        ignore_unfixed=args.ignore_unfixed,
    )
    problems = loosened(inputs, base, source)
    if args.base_caller and Path(args.base_caller).is_file():
        text = Path(args.base_caller).read_text(encoding="utf-8", errors="replace")
        problems += changed_policy(inputs, base_caller_policies(text, args.workflow_file))
    if problems:
        raise UsageError(
            "on a pull request the gate's inputs may only tighten the base branch's policy; "
            "this one loosens it: " + "; ".join(problems)
            + ". Change them in a pull request of their own, reviewed and merged first")
    print(f"scangate: plan: the pull request's gate inputs are at least as strict as {source}")
    return EXIT_PASS


def run_policy(args: argparse.Namespace) -> int:
    import difflib

    from scangate.step_outputs import append_outputs

    if not args.from_base or not args.policy:
        append_outputs(args.outputs, [f"policy={args.policy}"])
        return EXIT_PASS
    if not args.base_checkout:
        raise UsageError("--from-base true needs --base-checkout (the base commit's checkout)")
    # A pull request must not loosen its own gate: the base commit's policy applies, the pull
    # request's own change is only shown.
    base = Path(args.base_checkout) / args.policy
    head = Path(args.policy)
    if base.is_file():
        append_outputs(args.outputs, [f"policy={base}"])
        print(f"policy: {args.policy} of the base commit {args.base_sha}")
    else:
        # No policy on the base yet: scangate's default policy, never the pull request's own.
        append_outputs(args.outputs, ["policy="])
        print(f"policy: the base commit {args.base_sha} has no {args.policy}; scangate's "
              "default policy applies")
    if not head.is_file():
        return EXIT_PASS
    old = base.read_text(encoding="utf-8", errors="replace") if base.is_file() else ""
    new = head.read_text(encoding="utf-8", errors="replace")
    if base.is_file() and old == new:
        return EXIT_PASS
    absent = "" if base.is_file() else " (absent)"
    diff = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                f"base/{args.policy}{absent}", f"proposed/{args.policy}")
    text = "".join(line if line.endswith("\n") else line + "\n" for line in diff)
    shown = (f"### Policy changes proposed by this pull request (not applied)\n\nThe gate used "
             f"`{args.policy}` from the base commit `{args.base_sha}`. This pull request changes "
             f"it; the change applies once it is merged:\n\n```diff\n{text}```\n")
    print(shown)
    if args.step_summary:
        with open(args.step_summary, "a", encoding="utf-8") as summary:
            summary.write(shown)
    print(f"::notice title=scangate policy::this pull request changes {args.policy}; the base "
          "commit's policy was applied (see the job summary)")
    return EXIT_PASS
