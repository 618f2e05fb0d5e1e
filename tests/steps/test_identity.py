"""Role assumption (scangate/aws/identity.py) and `scangate assume-role`, against moto server.

moto accepts ANY web identity token (it validates neither signature, issuer, audience nor the
role's trust policy), so these tests prove what scangate sends and what it does with the answer,
not that AWS would accept a given token: the trust policies are tested in tests/templates.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import boto3
import pytest
from scangate._cli import main
from scangate.aws import identity
from scangate.commands.assume_role import MARKER

from tests.support.moto_server import MotoServer

ACCOUNT = "123456789012"
ROLE_NAME = "scangate-push"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"
# A JWT-shaped token; moto does not check it. Tests assert it never leaks to output.
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOm93bmVyL25hbWUifQ.c2lnbmF0dXJlLW5vdC1jaGVja2Vk"


@pytest.fixture
def role(moto: MotoServer) -> str:
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
        "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.example"}}]}
    boto3.client("iam").create_role(RoleName=ROLE_NAME,
                                    AssumeRolePolicyDocument=json.dumps(trust))
    return ROLE_ARN


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "id-token"
    path.write_text(TOKEN + "\n", encoding="ascii")
    return path


def test_session_assumes_the_role_and_names_the_session_after_the_job(
    role: str, token_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI_JOB_ID", "4711")
    session = identity.session(role_arn=role, token_file=token_file, region="us-east-1")
    caller = session.client("sts").get_caller_identity()
    assert caller["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE_NAME}/scangate-gl-4711"
    assert session.get_credentials().access_key != "testing"


def test_without_a_role_the_ambient_credentials_are_used(moto: MotoServer) -> None:
    session = identity.session(region="us-east-1")
    assert session.get_credentials().access_key == "testing"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"CI_JOB_ID": "12"}, "scangate-gl-12"),
        ({"GITHUB_RUN_ID": "99", "GITHUB_RUN_ATTEMPT": "2"}, "scangate-gh-99-2"),
        ({"CODEBUILD_BUILD_ID": "proj:6a1b-22"}, "scangate-cb-6a1b-22"),
        ({"CI_JOB_ID": "a b/c" + "x" * 80}, ("scangate-gl-a-b-c" + "x" * 80)[:64]),
        ({}, "scangate-local"),
    ],
)
def test_default_session_name(env: dict[str, str], expected: str) -> None:
    assert identity.default_session_name(env) == expected


def test_role_without_token_file_is_refused(
    role: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["assume-role", "--role-arn", role, "--output", str(tmp_path / "c")])
    assert code == 2
    assert "--role-arn and --web-identity-token-file" in capsys.readouterr().err
    with pytest.raises(Exception, match="go together"):
        identity.session(role_arn=role)


def test_there_is_no_flag_for_a_token_on_the_command_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """argv is readable by every process on the runner and printed by CI: only a FILE is taken."""
    with pytest.raises(SystemExit) as exc:
        main(["assume-role", "--role-arn", ROLE_ARN, "--web-identity-token", TOKEN,
              "--output", str(tmp_path / "c")])
    assert exc.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_a_token_passed_as_the_file_is_not_echoed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["assume-role", "--role-arn", ROLE_ARN, "--web-identity-token-file", TOKEN,
                 "--output", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert code == 2
    assert "given a token, not a file" in err
    assert TOKEN not in err


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"\n  \n", "empty"), (b"one\ntwo\n", "more than one"),
     (b"\xff\xfe", "not ASCII"), (b"x" * (identity.MAX_TOKEN_BYTES + 1), "larger than")],
)
def test_bad_token_files_fail_closed(
    role: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    bad = tmp_path / "token"
    bad.write_bytes(content)
    code = main(["assume-role", "--role-arn", role, "--web-identity-token-file", str(bad),
                 "--output", str(tmp_path / "creds")])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "creds").exists()


def test_missing_token_file(role: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["assume-role", "--role-arn", role, "--web-identity-token-file",
                 str(tmp_path / "absent"), "--output", str(tmp_path / "creds")])
    assert code == 2
    assert "cannot read it" in capsys.readouterr().err


@pytest.mark.parametrize("duration", ["899", "3601", "ten"])
def test_duration_is_bounded(duration: str, token_file: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["assume-role", "--role-arn", ROLE_ARN, "--web-identity-token-file",
              str(token_file), "--role-duration-seconds", duration,
              "--output", str(tmp_path / "c")])
    assert exc.value.code == 2


def test_not_a_role_arn(token_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
                        ) -> None:
    code = main(["assume-role", "--role-arn", "arn:aws:iam::123:user/x",
                 "--web-identity-token-file", str(token_file), "--output", str(tmp_path / "c")])
    assert code == 2
    assert "not an IAM role ARN" in capsys.readouterr().err


def test_assume_role_writes_a_private_credentials_file_and_prints_no_secret(
    role: str, token_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    creds = tmp_path / "aws-credentials"
    monkeypatch.setenv("GITHUB_RUN_ID", "77")
    monkeypatch.setenv("GITHUB_RUN_ATTEMPT", "1")
    code = main(["assume-role", "--role-arn", role, "--web-identity-token-file",
                 str(token_file), "--aws-region", "us-east-1", "--output", str(creds)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    text = creds.read_text(encoding="utf-8")
    assert text.startswith(MARKER + "\n")
    assert TOKEN not in text
    # The file works for any AWS SDK: the assumed role, with the job's session name.
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    caller = boto3.session.Session().client("sts").get_caller_identity()
    assert caller["Arn"].endswith(f"assumed-role/{ROLE_NAME}/scangate-gh-77-1")
    # Nothing secret on the terminal: not the token, not the secret key, not the session token.
    secrets = [line.split(" = ", 1)[1] for line in text.splitlines() if " = " in line]
    assert len(secrets) == 3
    for secret in [TOKEN, *secrets[1:]]:
        assert secret not in out + err
    assert str(creds) in out


def test_assume_role_replaces_its_own_file(
    role: str, token_file: Path, tmp_path: Path
) -> None:
    creds = tmp_path / "creds"
    args = ["assume-role", "--role-arn", role, "--web-identity-token-file", str(token_file),
            "--output", str(creds)]
    assert main(args) == 0
    first = creds.read_text(encoding="utf-8")
    os.chmod(creds, 0o644)
    assert main(args) == 0
    assert creds.read_text(encoding="utf-8") != first
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600


def test_assume_role_never_overwrites_a_file_it_did_not_write(
    role: str, token_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    theirs = tmp_path / "credentials"
    theirs.write_text("[default]\naws_access_key_id = MINE\n", encoding="utf-8")
    code = main(["assume-role", "--role-arn", role, "--web-identity-token-file",
                 str(token_file), "--output", str(theirs)])
    assert code == 2
    assert "not written by scangate assume-role" in capsys.readouterr().err
    assert theirs.read_text(encoding="utf-8") == "[default]\naws_access_key_id = MINE\n"


def test_assume_role_refuses_a_symlink(
    role: str, token_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "elsewhere"
    link = tmp_path / "creds"
    link.symlink_to(target)
    code = main(["assume-role", "--role-arn", role, "--web-identity-token-file",
                 str(token_file), "--output", str(link)])
    assert code == 2
    assert "symbolic link" in capsys.readouterr().err
    assert not target.exists()


def test_sts_refusal_is_one_line(
    moto: MotoServer, token_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """STS unreachable (a closed port): one line naming the call, exit 2, nothing written."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    code = main(["assume-role", "--role-arn", ROLE_ARN, "--web-identity-token-file",
                 str(token_file), "--output", str(tmp_path / "creds")])
    err = capsys.readouterr().err
    assert code == 2
    assert "sts:AssumeRoleWithWebIdentity" in err and err.count("\n") == 1
    assert not (tmp_path / "creds").exists()


def test_helper_on_a_parser_that_keeps_its_own_region(
    role: str, token_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """How securityhub/notify/gate (which already have --region) adopt the helper."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--region")
    identity.add_identity_arguments(parser, region=False)
    args = parser.parse_args(["--region", "eu-west-1", "--role-arn", role,
                              "--web-identity-token-file", str(token_file)])
    monkeypatch.setenv("CI_JOB_ID", "5")
    session = identity.session_from_args(args, region=args.region)
    assert session.region_name == "eu-west-1"
    caller = session.client("sts").get_caller_identity()
    assert caller["Arn"].endswith("/scangate-gl-5")


@pytest.mark.parametrize("command", ["assume-role", "push", "deploy", "pin-image"])
def test_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert f"scangate {command}" in capsys.readouterr().out
