"""``scangate push``: push the scanned image archive by digest and verify the registry has it."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scangate import __version__
from scangate.aws.identity import add_identity_arguments, session_from_args
from scangate.aws.tags import ENVIRONMENTS
from scangate.errors import EXIT_PASS, ScangateError, UsageError
from scangate.outputs.atomic import OutputSet, check_writable
from scangate.registry.archive import normalize_sha256
from scangate.registry.client import RegistryClient
from scangate.registry.decision import check_decision
from scangate.registry.push import PushResult, push_and_verify, read_archive
from scangate.registry.reference import Repository, check_tags, parse_repository

NAME = "push"
TARGETS = ("registry", "gitlab")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        allow_abbrev=False,
        help="push the scanned image archive to a registry and verify it by digest",
        description="Push the image whose config digest is --image-id from a docker-archive or "
        "OCI-layout tarball (gzip or not) to --repository under every --tag, then read the "
        "manifest (by digest and by each tag) and the config back from the registry and check "
        "them. Refuses an archive that is not the scanned image, and (with --decision) an image "
        "the gate did not pass. ECR is logged in to through boto3; plain HTTP only for a "
        "registry on loopback. Exit 0 pushed and verified, 1 the gate did not pass, 2 error.",
    )
    parser.add_argument("--archive", required=True, type=Path, metavar="IMAGE.tar[.gz]",
                        help="the tarball that was scanned (docker save, Buildx type=docker/oci)")
    parser.add_argument("--image-id", required=True, metavar="sha256:HEX",
                        help="the scanned image ID (the sha256 of the image config)")
    parser.add_argument("--archive-sha256", metavar="HEX",
                        help="sha256 of the archive file as scanned (refuse any other file)")
    parser.add_argument("--repository", metavar="REGISTRY/REPO",
                        help="target repository, registry host included, no tag")
    target = parser.add_argument_group(
        "target from CI inputs (instead of --repository; GitLab's push-target)")
    target.add_argument("--push-target", choices=TARGETS, metavar="|".join(TARGETS),
                        help="registry: --registry/--repository-name (else --image-name); "
                        "gitlab: $CI_REGISTRY_IMAGE[/--repository-name] as $CI_REGISTRY_USER "
                        "with the job token in CI_REGISTRY_PASSWORD (no --registry, no role)")
    target.add_argument("--registry", default="", metavar="HOST", help="the registry host")
    target.add_argument("--repository-name", default="", metavar="NAME",
                        help="repository below the registry (default --image-name)")
    target.add_argument("--image-name", default="", metavar="NAME",
                        help="the image's name, the default repository name")
    parser.add_argument("--tag", action="append", default=[], metavar="TAG",
                        help="tag to push (repeat for several, e.g. prod-<sha> for lifecycle "
                        "rules); an empty one adds none (an optional CI input), but one tag "
                        "(this or --pipeline-tag) is needed")
    parser.add_argument("--pipeline-tag", action="store_true",
                        help="also push under the GitLab job's own tag, "
                        "<environment>-$CI_COMMIT_SHA-$CI_PIPELINE_ID-$CI_JOB_ID (`scangate "
                        "image-tag`: the format the ECR lifecycle rules act on; the job ID "
                        "keeps a re-run's tag new)")
    parser.add_argument("--tag-environment", choices=sorted(ENVIRONMENTS), metavar="ENV",
                        help="the --pipeline-tag's environment (default: prod in a tag "
                        "pipeline, $CI_COMMIT_TAG set; staging otherwise)")
    parser.add_argument("--decision", type=Path, metavar="summary.json",
                        help="summary.json of `scangate gate`: refuse unless it records a pass "
                        "for --image-id")
    parser.add_argument("--output", required=True, type=Path, metavar="push.json",
                        help="where to write the result (image-uri, image-digest, tags, ...)")
    parser.add_argument("--dotenv", type=Path, metavar="push.env",
                        help="also write SCANGATE_IMAGE_* variables (GitLab dotenv report)")
    parser.add_argument("--openvex", type=Path, metavar="PATH",
                        help="after the push, also write the --decision's waivers as OpenVEX "
                        "for the pushed digest (`scangate openvex` with the push record)")
    parser.add_argument("--registry-username", metavar="USER",
                        help="user for a registry that is not ECR (GitLab: $CI_REGISTRY_USER)")
    password = parser.add_mutually_exclusive_group()
    password.add_argument("--registry-password-file", type=Path, metavar="FILE",
                          help="file holding that user's password or token (never on the "
                          "command line)")
    password.add_argument("--registry-password-env", metavar="NAME",
                          help="name of the environment variable holding that password or "
                          "token (GitLab: CI_REGISTRY_PASSWORD, the job token)")
    add_identity_arguments(parser)
    parser.set_defaults(run=run)


def target_repository(args: argparse.Namespace, environ: Mapping[str, str]) -> str:
    """--repository, or the one --push-target names (GitLab: also its registry login)."""
    if args.push_target is None:
        if not args.repository:
            raise UsageError("push needs --repository (REGISTRY/REPO) or --push-target")
        return str(args.repository)
    if args.repository:
        raise UsageError("give --repository or --push-target, not both")
    where = f"push-target {args.push_target}:"
    if args.push_target == "gitlab":
        if args.registry or args.role_arn:
            raise UsageError(f"{where} pushes to the project's GitLab registry with the job "
                             "token: leave the registry and push-role-arn inputs empty (or use "
                             "push-target registry)")
        base = environ.get("CI_REGISTRY_IMAGE", "")
        if not base:
            raise UsageError(f"{where} CI_REGISTRY_IMAGE is not set: enable the project's "
                             "container registry (Settings > General > Visibility)")
        if args.registry_username is None and args.registry_password_file is None \
                and args.registry_password_env is None:
            # A project without a registry has no CI_REGISTRY_USER: refused as empty below.
            args.registry_username = environ.get("CI_REGISTRY_USER", "")
            args.registry_password_env = "CI_REGISTRY_PASSWORD"  # noqa: S105 - a name
        return base + (f"/{args.repository_name}" if args.repository_name else "")
    if not args.registry:
        raise UsageError(f"{where} needs the registry input (the host; for ECR "
                         "<account>.dkr.ecr.<region>.amazonaws.com); push-target gitlab takes "
                         "neither registry nor push-role-arn")
    name = args.repository_name or args.image_name
    if not name:
        raise UsageError(f"{where} no repository: set the ecr-repository or image-name input")
    return f"{args.registry}/{name}"


def pipeline_tag(environment: str | None, environ: Mapping[str, str]) -> str:
    """The GitLab job's own tag: ``<environment>-<commit>-<pipeline>-<job>``."""
    from scangate.aws.tags import image_tag

    names = ("CI_COMMIT_SHA", "CI_PIPELINE_ID", "CI_JOB_ID")
    missing = [name for name in names if not environ.get(name, "").strip()]
    if missing:
        raise UsageError(f"--pipeline-tag is made of GitLab's {', '.join(names)}: "
                         f"{', '.join(missing)} not set (not a GitLab job?): pass --tag instead")
    environment = environment or ("prod" if environ.get("CI_COMMIT_TAG") else "staging")
    try:
        return image_tag(environment, *(environ[name] for name in names))
    except UsageError as exc:
        raise UsageError(f"--pipeline-tag from {', '.join(names)}: {exc.message}") from None


def _check_outputs(args: argparse.Namespace) -> list[str]:
    inputs = {p.resolve() for p in (args.archive, args.decision) if p is not None}
    targets: list[str] = []
    if args.openvex is not None and args.decision is None:
        raise UsageError("--openvex writes the waivers of --decision: pass --decision "
                         "summary.json too")
    outputs = (("--output", args.output), ("--dotenv", args.dotenv), ("--openvex", args.openvex))
    if len({path.resolve() for _, path in outputs if path is not None}) < len(
            [path for _, path in outputs if path is not None]):
        raise UsageError("--output, --dotenv and --openvex must be three different files")
    for flag, path in outputs:
        if path is None:
            continue
        if path.resolve() in inputs:
            raise UsageError(f"{flag} {path} is an input of this command: refusing to overwrite it")
        check_writable(str(path), flag)
        targets.append(str(path))
    return targets


def _password(args: argparse.Namespace) -> str:
    if args.registry_password_env is not None:
        name = args.registry_password_env
        # Never the value in a message: only the variable's name.
        where = f"--registry-password-env {name}"
        value = os.environ.get(name)
        if value is None:
            raise UsageError(f"{where}: no such environment variable (GitLab sets "
                             "CI_REGISTRY_PASSWORD only when the project's container registry "
                             "is enabled)")
        text = value
    else:
        path = args.registry_password_file
        where = f"--registry-password-file {path}"
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{where}: cannot read it ({exc})") from None
    password = text.rstrip("\r\n")
    if not password or "\n" in password:
        raise UsageError(f"{where}: must hold exactly one line, the password or token")
    return password


def _client(args: argparse.Namespace, repository: Repository) -> RegistryClient:
    ecr = repository.ecr
    has_password = (args.registry_password_file, args.registry_password_env) != (None, None)
    if (args.registry_username is None) == has_password:
        raise UsageError("--registry-username and --registry-password-file (or "
                         "--registry-password-env) go together")
    if args.registry_username is not None and not args.registry_username.strip():
        raise UsageError("--registry-username is empty (GitLab: CI_REGISTRY_USER is set only "
                         "when the project's container registry is enabled)")
    if ecr is None:
        if args.role_arn:
            raise UsageError(
                f"--role-arn is for ECR registries; {repository.host} is not one (its login "
                "would not use the role)"
            )
        if args.registry_username is not None:
            return RegistryClient(repository, (args.registry_username, _password(args)))
        return RegistryClient(repository)
    if args.registry_username is not None:
        raise UsageError(f"{repository.host} is ECR: it is logged in to through AWS "
                         "(--role-arn or ambient credentials), not --registry-username")
    account, region = ecr.account, ecr.region
    session = session_from_args(args, region=args.aws_region or region)
    from scangate.registry.ecr_auth import ecr_credentials  # boto3: only for ECR

    return RegistryClient(repository, ecr_credentials(session, account, region))


def result_json(result: PushResult) -> bytes:
    document = {
        "image-uri": result.image_uri,
        "image-digest": result.digest,
        "repository": result.repository,
        "tags": list(result.tags),
        "image-id": result.image_id,
        "archive-sha256": result.archive_sha256,
        "scangate-version": __version__,
    }
    return json.dumps(document, indent=2).encode("utf-8") + b"\n"


def result_dotenv(result: PushResult) -> bytes:
    # Every value is a validated reference, digest or tag list: no quoting is ever needed.
    lines = [
        f"SCANGATE_IMAGE_URI={result.image_uri}",
        f"SCANGATE_IMAGE_DIGEST={result.digest}",
        f"SCANGATE_IMAGE_REPOSITORY={result.repository}",
        f"SCANGATE_IMAGE_TAGS={','.join(result.tags)}",
        f"SCANGATE_IMAGE_ID={result.image_id}",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def run(args: argparse.Namespace) -> int:
    image_id = normalize_sha256(args.image_id, "--image-id")
    # An empty value (a CI variable that was never set) is an error, not "no check".
    archive_sha256 = (normalize_sha256(args.archive_sha256, "--archive-sha256")
                      if args.archive_sha256 is not None else None)
    repository = parse_repository(target_repository(args, os.environ))
    given = [*(
        [pipeline_tag(args.tag_environment, os.environ)] if args.pipeline_tag else []),
        *args.tag]
    tags = list(check_tags(tag for tag in given if tag))
    if not tags:
        raise UsageError("--tag: no tag given (every --tag was empty, and no --pipeline-tag)")
    targets = _check_outputs(args)
    outputs = OutputSet(targets)  # clears results of an earlier run at once
    try:
        if args.decision is not None:
            check_decision(args.decision, image_id)
        with tempfile.TemporaryDirectory(prefix="scangate-push-") as workdir:
            image, blobs, sha256 = read_archive(args.archive, image_id, Path(workdir),
                                                archive_sha256)
            client = _client(args, repository)
            try:
                result = push_and_verify(client, image, blobs, tags, sha256, print)
            finally:
                client.close()
        outputs.add(str(args.output), result_json(result))
        if args.dotenv is not None:
            outputs.add(str(args.dotenv), result_dotenv(result))
        outputs.commit()
    except BaseException:
        outputs.abort(targets)
        raise
    print(f"image-uri {result.image_uri}")
    if args.openvex is not None:
        from scangate.step_outputs import run_scangate

        # The image is pushed and its record written: a failure here is said as such.
        code = run_scangate(["openvex", "--summary", str(args.decision), "--push-record",
                             str(args.output), "--output", str(args.openvex)])
        if code != EXIT_PASS:
            raise ScangateError(f"pushed {result.image_uri}, but no OpenVEX written to "
                                f"{args.openvex} (see above)")
    return EXIT_PASS
