"""One way for every subcommand to get AWS credentials: ambient, or a role from a CI ID token.

Subcommands that call AWS add :func:`add_identity_arguments` to their parser and call
:func:`session_from_args`. Without ``--role-arn`` the boto3 default credential chain applies
(environment, profile, ``AWS_ROLE_ARN`` + ``AWS_WEB_IDENTITY_TOKEN_FILE``, instance role). With
``--role-arn`` and ``--web-identity-token-file`` scangate calls STS AssumeRoleWithWebIdentity
itself: the OIDC token is read from a FILE, never from the command line (argv is visible to every
process on the runner and lands in CI logs), and the session is named after the CI job so
CloudTrail ties every call to the job that made it.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from scangate.errors import AwsError, UsageError

# boto3 and scangate.aws.clients (botocore) are imported by the functions that call AWS, not
# here: every subcommand that can call AWS adds add_identity_arguments to its parser, and
# importing boto3 costs about a second of CPU where no .pyc is cached (a fresh virtualenv,
# PYTHONDONTWRITEBYTECODE) in runs that never call AWS (`scangate --version`, a push to GitLab's
# registry, `securityhub --asff-only`). tests/gate/test_cli_imports.py holds it.

# STS accepts 900..43200 s (capped by the role's MaxSessionDuration). A CI step needs minutes;
# one hour bounds what a leaked credential is worth.
MIN_DURATION = 900
MAX_DURATION = 3600
DEFAULT_DURATION = 900
# An OIDC token is a JWT of a few KiB; anything much bigger is not a token.
MAX_TOKEN_BYTES = 64 * 1024
# RoleSessionName: 2..64 characters of [\w+=,.@-] (STS API reference).
_SESSION_NAME_BAD = re.compile(r"[^\w+=,.@-]")
_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$")

# CI job identifiers, most specific first: (environment variables joined with '-', prefix).
_CI_JOB_IDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("CI_JOB_ID",), "gl"),  # GitLab
    (("GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT"), "gh"),  # GitHub Actions
    (("CODEBUILD_BUILD_ID",), "cb"),  # AWS CodeBuild ("project:uuid")
)


@dataclass(frozen=True)
class AssumedRole:
    """Temporary credentials from AssumeRoleWithWebIdentity (never printed or logged)."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime
    assumed_role_arn: str
    session_name: str


def add_identity_arguments(
    parser: argparse.ArgumentParser, *, region: bool = True, duration: int = DEFAULT_DURATION
) -> None:
    """Add ``--role-arn``, ``--web-identity-token-file``, ``--role-session-name``,
    ``--role-duration-seconds`` (default ``duration``) and (unless ``region=False``, for parsers
    that already have a ``--region``) ``--aws-region``."""
    group = parser.add_argument_group(
        "AWS identity",
        "Default: the AWS default credential chain. With --role-arn and "
        "--web-identity-token-file: AssumeRoleWithWebIdentity with the CI job's OIDC token.",
    )
    group.add_argument("--role-arn", metavar="ARN",
                       help="IAM role to assume with the web identity token")
    group.add_argument("--web-identity-token-file", type=token_file_argument, metavar="FILE",
                       help="file holding the CI job's OIDC ID token (never pass the token "
                       "itself on a command line); empty: none")
    group.add_argument("--role-session-name", metavar="NAME",
                       help="STS session name (default: scangate-<CI job id>, which CloudTrail "
                       "records)")
    group.add_argument("--role-duration-seconds", type=_duration, default=duration,
                       metavar="SECONDS",
                       help=f"credential lifetime, {MIN_DURATION}..{MAX_DURATION} "
                       f"(default {duration})")
    if region:
        group.add_argument("--aws-region", metavar="REGION",
                           help="AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or config)")


def token_file_argument(text: str) -> Path | None:
    """--web-identity-token-file: empty is none (a CI job without an ID token passes its empty
    variable), so --role-arn without a token is still the usage error `session` raises."""
    return Path(text) if text else None


def _duration(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if not MIN_DURATION <= value <= MAX_DURATION:
        raise argparse.ArgumentTypeError(
            f"{value} is outside {MIN_DURATION}..{MAX_DURATION} seconds"
        )
    return value


def default_session_name(environ: dict[str, str] | None = None) -> str:
    """``scangate-<ci>-<job id>`` from the CI environment, ``scangate-local`` outside CI."""
    env = os.environ if environ is None else environ
    for names, prefix in _CI_JOB_IDS:
        values = [env.get(name, "").strip() for name in names]
        if values[0]:
            job = "-".join(v for v in values if v)
            if prefix == "cb":  # "project:uuid": the uuid identifies the build
                job = job.rsplit(":", 1)[-1]
            return clean_session_name(f"scangate-{prefix}-{job}")
    return "scangate-local"


def clean_session_name(name: str) -> str:
    """Replace characters STS refuses and cut to 64 characters."""
    cleaned = _SESSION_NAME_BAD.sub("-", name)[:64]
    return cleaned if len(cleaned) >= 2 else "scangate"


def read_token(path: Path) -> str:
    """The web identity token from ``path``: one non-empty line of printable ASCII."""
    if _looks_like_jwt(str(path)) and not path.exists():
        # Never echo it: the error line would put the token in the CI log.
        raise UsageError(
            "--web-identity-token-file was given a token, not a file: write the CI job's ID "
            "token to a file and pass its path (a token on a command line leaks to logs)"
        )
    try:
        if path.stat().st_size > MAX_TOKEN_BYTES:
            raise UsageError(
                f"--web-identity-token-file {path}: larger than {MAX_TOKEN_BYTES} bytes, not an "
                "OIDC token; point it at the file the CI wrote the ID token to"
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(
            f"--web-identity-token-file {path}: cannot read it ({exc.strerror or exc}); write "
            "the CI job's ID token to a file first"
        ) from None
    try:
        token = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise UsageError(
            f"--web-identity-token-file {path}: not ASCII, so not an OIDC token"
        ) from None
    if not token:
        raise UsageError(
            f"--web-identity-token-file {path}: empty; the CI did not issue an ID token "
            "(GitHub: permissions id-token: write; GitLab: id_tokens:)"
        )
    if any(c.isspace() or not c.isprintable() for c in token):
        raise UsageError(
            f"--web-identity-token-file {path}: holds more than one token-like line; it must "
            "contain exactly the ID token"
        )
    return token


def _looks_like_jwt(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 3 and text.startswith("eyJ") and "/" not in text


def assume_role(
    role_arn: str,
    token_file: Path,
    *,
    region: str | None,
    session_name: str | None = None,
    duration: int = DEFAULT_DURATION,
) -> AssumedRole:
    """AssumeRoleWithWebIdentity through boto3; the token comes from ``token_file``."""
    if not _ROLE_ARN_RE.match(role_arn):
        raise UsageError(
            f"--role-arn {role_arn!r} is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)"
        )
    if not MIN_DURATION <= duration <= MAX_DURATION:
        raise UsageError(f"role duration {duration} is outside {MIN_DURATION}..{MAX_DURATION}")
    from scangate.aws.clients import AWS_FAILURES, STANDARD_RETRIES, describe, new_session

    token = read_token(token_file)
    name = clean_session_name(session_name) if session_name else default_session_name()
    try:
        # AssumeRoleWithWebIdentity is not signed: no ambient credentials are needed or used.
        sts = new_session(region_name=region or None).client(
            "sts", config=STANDARD_RETRIES
        )
        response = sts.assume_role_with_web_identity(
            RoleArn=role_arn,
            RoleSessionName=name,
            WebIdentityToken=token,
            DurationSeconds=duration,
        )
    except AWS_FAILURES as exc:
        raise describe(exc, f"sts:AssumeRoleWithWebIdentity {role_arn}") from None
    credentials = response.get("Credentials") or {}
    try:
        return AssumedRole(
            access_key_id=str(credentials["AccessKeyId"]),
            secret_access_key=str(credentials["SecretAccessKey"]),
            session_token=str(credentials["SessionToken"]),
            expiration=credentials["Expiration"],
            assumed_role_arn=str((response.get("AssumedRoleUser") or {}).get("Arn", "")),
            session_name=name,
        )
    except KeyError as exc:
        raise AwsError(
            f"sts:AssumeRoleWithWebIdentity {role_arn}: the answer has no {exc.args[0]}"
        ) from None


def session(
    *,
    role_arn: str | None = None,
    token_file: Path | None = None,
    region: str | None = None,
    session_name: str | None = None,
    duration: int = DEFAULT_DURATION,
) -> Any:
    """A boto3 Session: the assumed role's when both role and token file are given, else ambient.

    One of the two without the other is a usage error: silently falling back to ambient
    credentials would run the step as whatever identity the runner happens to have.
    """
    if (role_arn is None) != (token_file is None):
        raise UsageError(
            "--role-arn and --web-identity-token-file go together: pass both to assume a role "
            "with the CI job's ID token, or neither to use the default credential chain"
        )
    from scangate.aws.clients import new_session

    if role_arn is None or token_file is None:
        return new_session(region_name=region or None)
    role = assume_role(
        role_arn, token_file, region=region, session_name=session_name, duration=duration
    )
    return new_session(
        aws_access_key_id=role.access_key_id,
        aws_secret_access_key=role.secret_access_key,
        aws_session_token=role.session_token,
        region_name=region or None,
    )


def session_from_args(args: argparse.Namespace, region: str | None = None) -> Any:
    """:func:`session` from the arguments :func:`add_identity_arguments` added.

    ``region`` overrides ``--aws-region`` (for parsers that keep their own ``--region``).
    """
    return session(
        role_arn=getattr(args, "role_arn", None),
        token_file=getattr(args, "web_identity_token_file", None),
        region=region or getattr(args, "aws_region", None),
        session_name=getattr(args, "role_session_name", None),
        duration=getattr(args, "role_duration_seconds", DEFAULT_DURATION),
    )


def session_region(boto_session: Any, what: str) -> str:
    """The session's region, or a one-line error naming the flag to pass."""
    region = boto_session.region_name
    if not region:
        raise AwsError(
            f"{what}: no AWS region: pass --aws-region or set AWS_REGION (or AWS_DEFAULT_REGION)"
        )
    return str(region)
