"""``scangate deploy``: pin the pushed image by digest, check the manifests, apply to EKS, wait."""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from pathlib import Path
from typing import Any

from scangate import __version__
from scangate.aws.identity import (
    MAX_DURATION,
    add_identity_arguments,
    session_from_args,
    session_region,
)
from scangate.commands.mark_deployed import images_of_record, mark
from scangate.deploy.errors import DeployError
from scangate.deploy.kubectl import Kubectl, install_kubectl
from scangate.deploy.manifests import (
    DEFAULT_ALLOWED_KINDS,
    ROLLOUT_KINDS,
    check_objects,
    load_objects,
    parse_kinds,
)
from scangate.deploy.ordering import ORDER_KEY, check_order
from scangate.errors import EXIT_PASS, ScangateError, UsageError
from scangate.k8s_pin import parse_pinned_image, pin_manifests
from scangate.outputs.atomic import OutputSet, check_writable

NAME = "deploy"
# An EKS token is accepted for 15 minutes and a new one is made for every kubectl call; a
# rollout watch longer than that could not reconnect.
MAX_ROLLOUT_SECONDS = 14 * 60
APPLY_TIMEOUT = 300.0
_DURATION_RE = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_NAMESPACE_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_CLUSTER_RE = re.compile(r"^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        allow_abbrev=False,
        help="deploy the pushed image by digest to EKS (pin, check kinds, apply, rollout)",
        description="Pin every container of the pushed image(s) in --manifests to "
        "REPOSITORY@sha256:DIGEST, refuse the whole deploy if any object is of a kind outside "
        "--allowed-kinds or in another namespace, then, with a kubeconfig made from "
        "eks:DescribeCluster and an EKS token, run the checksum-pinned kubectl: apply, then "
        "rollout status for every Deployment, StatefulSet and DaemonSet. Exit 0 rolled out, "
        "2 refused or failed.",
    )
    parser.add_argument("--image", action="append", default=[], metavar="REPO@sha256:DIGEST",
                        help="pushed image by digest (repeat for several; tags are refused)")
    parser.add_argument("--push-record", action="append", default=[], type=Path,
                        metavar="push.json", help="read the image-uri of a `scangate push` "
                        "result (repeatable; same as --image)")
    parser.add_argument("--manifests", required=True, type=Path, metavar="DIR",
                        help="Kubernetes manifests (*.yaml, *.yml, recursively; never modified)")
    parser.add_argument("--namespace", required=True, metavar="NAMESPACE",
                        help="namespace to deploy to; objects naming another are refused")
    parser.add_argument("--cluster", required=True, metavar="NAME", help="EKS cluster name")
    parser.add_argument("--allowed-kinds", type=parse_kinds,
                        default=DEFAULT_ALLOWED_KINDS, metavar="KIND[,KIND...]",
                        help="kinds the deploy may apply (default: "
                        f"{','.join(DEFAULT_ALLOWED_KINDS)}, what "
                        "templates/k8s/platform/deployer-rbac.yaml grants)")
    parser.add_argument("--kubectl", type=Path, metavar="PATH",
                        help="kubectl binary (default: kubectl on PATH)")
    parser.add_argument("--kubectl-version", metavar="VERSION",
                        help="instead of --kubectl: download that kubectl release (v1.36.4) as "
                        "`scangate install-tool kubectl` does, refused unless its sha256 is "
                        "--kubectl-sha256")
    parser.add_argument("--kubectl-sha256", required=True, metavar="HEX",
                        help="sha256 of that kubectl binary; any other is refused")
    parser.add_argument("--rollout-timeout", type=_duration, default=300, metavar="DURATION",
                        help="per rollout, e.g. 300, 300s, 5m (default 5m, at most 14m)")
    parser.add_argument("--order", type=_order, metavar="N",
                        help="this run's place in the deploy order (GitHub: github.run_id; "
                        "GitLab: CI_PIPELINE_ID): refused when a live object records a higher "
                        "one, recorded on every object applied (scangate/deploy/ordering.py)")
    parser.add_argument("--output", type=Path, metavar="deploy.json",
                        help="write what was deployed (cluster, namespace, region, images, "
                        "objects) after every rollout completed")
    parser.add_argument("--monitoring-event-bus", default="", metavar="NAME",
                        help="after every rollout completed and --output is written, tell "
                        "the registry monitor on this EventBridge bus what now runs and tag "
                        "each deployed digest (`scangate mark-deployed --deploy-record`), with "
                        "the same AWS identity; empty: no event, no tag")
    # Every kubectl call gets an EKS token signed with the role's credentials, so they must
    # outlive the apply and all rollouts (each up to 14 minutes), not just the first call.
    add_identity_arguments(parser, duration=MAX_DURATION)
    parser.set_defaults(run=run)


def _order(text: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise argparse.ArgumentTypeError(f"{text!r} is not a run number")
    return int(text)


def _duration(text: str) -> int:
    value = text.strip()
    if value.isdigit():
        seconds = int(value)
    else:
        match = _DURATION_RE.match(value)
        if not value or not match:
            raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 300, 90s or 5m")
        hours, minutes, secs = (int(g) if g else 0 for g in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    if not 1 <= seconds <= MAX_ROLLOUT_SECONDS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is outside 1s..{MAX_ROLLOUT_SECONDS // 60}m (EKS tokens last 15 minutes)"
        )
    return seconds


def _kubectl(args: argparse.Namespace, work: Path) -> Path:
    """--kubectl, or the pinned release --kubectl-version names, downloaded (install_kubectl
    then checks the hash of what it runs again)."""
    if args.kubectl_version is None:
        return args.kubectl or Path("kubectl")
    if args.kubectl is not None:
        raise UsageError("give --kubectl or --kubectl-version, not both")
    if not args.kubectl_sha256.strip():
        raise UsageError("--kubectl-version needs the release's --kubectl-sha256")
    from scangate.tool_install import install

    return install("kubectl", args.kubectl_version, args.kubectl_sha256, work / "download")


def _images(args: argparse.Namespace) -> list[str]:
    images = list(args.image)
    for record in args.push_record:
        try:
            uri = json.loads(record.read_text(encoding="utf-8")).get("image-uri")
        except (OSError, ValueError, AttributeError) as exc:
            raise DeployError(f"--push-record {record}: not a push.json ({exc})") from None
        if not isinstance(uri, str):
            raise DeployError(f"--push-record {record}: no \"image-uri\"")
        images.append(uri)
    if not images:
        raise DeployError("nothing to deploy: pass --image REPO@sha256:DIGEST or --push-record")
    for image in images:
        parse_pinned_image(image)  # refuses tags and malformed digests
    return images


def run(args: argparse.Namespace) -> int:
    if not _NAMESPACE_RE.match(args.namespace):
        raise DeployError(f"--namespace {args.namespace!r} is not a Kubernetes namespace name")
    if not _CLUSTER_RE.match(args.cluster):
        raise DeployError(f"--cluster {args.cluster!r} is not an EKS cluster name")
    images = _images(args)
    if args.monitoring_event_bus:
        if args.output is None:
            raise UsageError("--monitoring-event-bus marks what the deploy record names: pass "
                             "--output deploy.json too")
        # Before anything is applied: an image the monitor cannot watch (outside ECR) stops
        # the deploy here, not after the rollouts.
        images_of_record({"images": images}, "--monitoring-event-bus")
    targets = []
    if args.output is not None:
        check_writable(str(args.output), "--output")
        targets.append(str(args.output))
    outputs = OutputSet(targets)  # an earlier run's record goes at once
    try:
        result, session = _deploy(args, images)
        if args.output is not None:
            outputs.add(str(args.output), json.dumps(result, indent=2).encode("utf-8") + b"\n")
        outputs.commit()
    except BaseException:
        outputs.abort(targets)
        raise
    if args.monitoring_event_bus:
        # Only reached after every rollout completed and the record is written: the monitor
        # watches the digests applied, never a tag, through the identity that applied them.
        try:
            mark(session, images_of_record(result, f"--output {args.output}"),
                 args.monitoring_event_bus)
        except ScangateError as exc:
            raise ScangateError(f"{exc.message} (the deploy succeeded; the registry monitor "
                                "was not told: re-run the job once the bus is reachable)"
                                ) from None
    return EXIT_PASS


def _deploy(args: argparse.Namespace, images: list[str]) -> tuple[dict[str, Any], Any]:
    with tempfile.TemporaryDirectory(prefix="scangate-deploy-") as tmp:
        work = Path(tmp)
        source: Path = args.manifests
        for position, image in enumerate(images):
            pinned = work / f"pinned-{position}"
            for change in pin_manifests(source, image, pinned):
                print(f"pinned {change.file}: {change.kind}/{change.name} container "
                      f"{change.container}: {change.old_image} -> {change.new_image}")
            source = pinned
        objects = load_objects(source)
        check_objects(objects, args.allowed_kinds, args.namespace)

        home = work / "kubectl-home"
        home.mkdir(mode=0o700)
        kubectl = Kubectl(install_kubectl(_kubectl(args, work), args.kubectl_sha256, home),
                          home)

        # boto3 here, not at import: `scangate --version` and --help build every parser.
        from scangate.deploy.eks_auth import describe_cluster, eks_token, kubeconfig

        session = session_from_args(args)
        region = session_region(session, f"EKS cluster {args.cluster}")
        endpoint, ca_data = describe_cluster(session, args.cluster, region)

        def fresh_credentials() -> None:
            token = eks_token(session, args.cluster, region)
            kubectl.write_kubeconfig(kubeconfig(args.cluster, endpoint, ca_data, token,
                                                args.namespace))

        fresh_credentials()
        files = ["--namespace", args.namespace, "--recursive", "--filename", str(source)]
        if args.order is not None:
            live = kubectl.run(["get", *files, "--ignore-not-found", "--output", "json"],
                               "kubectl get (the deploy order)", APPLY_TIMEOUT, echo=False)
            check_order(live, args.order)
        kubectl.run(["apply", *files, "--output", "name"], "kubectl apply", APPLY_TIMEOUT)
        if args.order is not None:
            kubectl.run(["annotate", *files, "--overwrite", f"{ORDER_KEY}={args.order}"],
                        "kubectl annotate (the deploy order)", APPLY_TIMEOUT)
        waited = 0
        for obj in objects:
            if obj.kind not in ROLLOUT_KINDS:
                continue
            fresh_credentials()
            kubectl.run(["rollout", "status", "--namespace", args.namespace, "--timeout",
                         f"{args.rollout_timeout}s", f"{obj.kind.lower()}/{obj.name}"],
                        f"rollout of {obj.kind}/{obj.name}", args.rollout_timeout + 60.0)
            waited += 1
    print(f"deployed {', '.join(images)} to {args.cluster}/{args.namespace}: "
          f"{len(objects)} object(s) applied, {waited} rollout(s) complete")
    return {
        "cluster": args.cluster,
        "namespace": args.namespace,
        "region": region,
        "images": images,
        "objects": [f"{obj.kind}/{obj.name}" for obj in objects],
        "order": args.order,
        "scangate-version": __version__,
    }, session
