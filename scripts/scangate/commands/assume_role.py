"""``scangate assume-role``: a role from the CI job's ID token, as a shared-credentials file.

For steps that are not scangate (a tool that only reads AWS's own configuration): the caller sets
``AWS_SHARED_CREDENTIALS_FILE`` to the file written here. scangate's own subcommands take
``--role-arn`` and ``--web-identity-token-file`` directly and need no file.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any

from scangate.aws.identity import add_identity_arguments, assume_role
from scangate.errors import EXIT_PASS, OutputError, UsageError

NAME = "assume-role"
# The first line of every file this command writes: how it recognises a file it may replace.
MARKER = "# Written by scangate assume-role; temporary credentials, delete after the job."
_PROFILE_RE = re.compile(r"^[\w.+@-]{1,64}$")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        # No abbreviations: "--web-identity-token TOKEN" must not be read as the file flag.
        allow_abbrev=False,
        help="assume an IAM role with the CI job's ID token; write a credentials file",
        description="Call STS AssumeRoleWithWebIdentity with the token read from "
        "--web-identity-token-file and write the temporary credentials to --output, an AWS "
        "shared-credentials file with mode 0600. Secrets are never printed. An existing file is "
        "replaced only if this command wrote it. Exit 0 written, 2 error.",
    )
    add_identity_arguments(parser)
    parser.add_argument("--output", required=True, type=Path, metavar="FILE",
                        help="credentials file to write (use it with "
                        "AWS_SHARED_CREDENTIALS_FILE=FILE)")
    parser.add_argument("--profile", default="default", metavar="NAME",
                        help="profile section to write (default: default)")
    parser.set_defaults(run=run)


def _check_target(path: Path) -> None:
    """Refuse to replace anything that is not a regular file this command wrote."""
    if path.is_symlink():
        raise OutputError(f"--output {path} is a symbolic link: refusing to write credentials "
                          "through it; pass a new path")
    if not path.exists():
        return
    if not path.is_file():
        raise OutputError(f"--output {path} exists and is not a regular file; pass a new path")
    try:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            first = handle.readline().rstrip("\n")
    except OSError as exc:
        raise OutputError(f"--output {path}: cannot read it ({exc.strerror or exc})") from None
    if first != MARKER:
        raise OutputError(
            f"--output {path} exists and was not written by scangate assume-role: refusing to "
            "overwrite it; pass a new path or remove the file"
        )


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a new 0600 file beside ``path`` and rename it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, text.encode("utf-8"))
            os.fchmod(fd, 0o600)  # the umask could only have removed bits; be explicit
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    if not args.role_arn or not args.web_identity_token_file:
        raise UsageError("assume-role needs --role-arn and --web-identity-token-file")
    if not _PROFILE_RE.match(args.profile):
        raise UsageError(f"--profile {args.profile!r}: use letters, digits and . _ + @ - only")
    output: Path = args.output
    _check_target(output)
    role = assume_role(
        args.role_arn,
        args.web_identity_token_file,
        region=args.aws_region,
        session_name=args.role_session_name,
        duration=args.role_duration_seconds,
    )
    text = (
        f"{MARKER}\n"
        f"# role {args.role_arn}, session {role.session_name}, "
        f"expires {role.expiration.isoformat()}\n"
        f"[{args.profile}]\n"
        f"aws_access_key_id = {role.access_key_id}\n"
        f"aws_secret_access_key = {role.secret_access_key}\n"
        f"aws_session_token = {role.session_token}\n"
    )
    _write_private(output, text)
    print(
        f"assumed {role.assumed_role_arn or args.role_arn} as session {role.session_name} "
        f"until {role.expiration.isoformat()}; credentials in {output} (profile "
        f"{args.profile}): set AWS_SHARED_CREDENTIALS_FILE={output}"
    )
    return EXIT_PASS
