"""--role-duration-seconds reaches STS: the assumed session expires when it was asked to.

`scangate deploy` signs an EKS token with the role's credentials before the apply and before
each rollout wait; if the requested duration were dropped on the way to
AssumeRoleWithWebIdentity (DurationSeconds, https://docs.aws.amazon.com/STS/latest/APIReference/
API_AssumeRoleWithWebIdentity.html), the credentials would expire after STS's default 15
minutes, in the middle of a long rollout. The expiry is read from the STS side: moto server's
/moto-api/data.json lists each AssumedRole it issued, with its access key and expiration; the
key is matched to the one the EKS token was signed with (or the one assume-role wrote).
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest
from scangate._cli import main

from tests.steps.test_deploy import (
    CLUSTER,
    IMAGE,
    NAMESPACE,
    TEMPLATES,
    _calls,
    _standin,
    _token_url,
)
from tests.support.moto_server import MotoServer

ROLE = "arn:aws:iam::123456789012:role/deploy"
# moto writes the expiration with milliseconds; a second covers any rounding.
SLACK = dt.timedelta(seconds=1)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "id-token"
    path.write_text("eyJ.e30.sig", encoding="ascii")  # moto checks no token
    return path


def _issued_expiry(moto: MotoServer, access_key_id: str) -> dt.datetime:
    """The expiration STS (moto) recorded for the session holding ``access_key_id``."""
    with urllib.request.urlopen(moto.url + "/moto-api/data.json", timeout=10) as response:
        data: dict[str, Any] = json.load(response)
    [role] = [r for r in data["sts"]["AssumedRole"] if r["access_key_id"] == access_key_id]
    return dt.datetime.fromisoformat(role["expiration_ISO8601"].replace("Z", "+00:00"))


def _assert_lasts(expiry: dt.datetime, before: dt.datetime, after: dt.datetime,
                  seconds: int) -> None:
    lifetime = dt.timedelta(seconds=seconds)
    assert before + lifetime - SLACK <= expiry <= after + lifetime + SLACK, (
        f"session expires {expiry}, not {seconds}s after the call ({before}..{after})")


@pytest.mark.parametrize(("flags", "seconds"), [([], 3600),
                                                (["--role-duration-seconds", "2700"], 2700)],
                         ids=["deploy-default", "requested"])
def test_deploy_credentials_last_the_requested_duration(
    moto: MotoServer, token_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    flags: list[str], seconds: int,
) -> None:
    boto3.client("eks").create_cluster(name=CLUSTER, roleArn="arn:aws:iam::123456789012:role/eks",
                                       resourcesVpcConfig={"subnetIds": []})
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "deployment.yaml").write_bytes((TEMPLATES / "deployment.yaml").read_bytes())
    kubectl, sha, log = _standin(tmp_path)
    before = dt.datetime.now(dt.UTC)
    code = main(["deploy", "--image", IMAGE, "--manifests", str(manifests), "--namespace",
                 NAMESPACE, "--cluster", CLUSTER, "--kubectl", str(kubectl), "--kubectl-sha256",
                 sha, "--role-arn", ROLE, "--web-identity-token-file", str(token_file),
                 "--aws-region", "us-east-1", *flags])
    after = dt.datetime.now(dt.UTC)
    assert code == 0, capsys.readouterr().err
    url = _token_url(_calls(log)[0]["kubeconfig"]["users"][0]["user"]["token"])
    access_key = dict(parse_qsl(urlsplit(url).query))["X-Amz-Credential"].split("/")[0]
    _assert_lasts(_issued_expiry(moto, access_key), before, after, seconds)


@pytest.mark.parametrize(("flags", "seconds"), [([], 900),
                                                (["--role-duration-seconds", "1800"], 1800)],
                         ids=["default", "requested"])
def test_assume_role_credentials_last_the_requested_duration(
    moto: MotoServer, token_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    flags: list[str], seconds: int,
) -> None:
    creds = tmp_path / "aws-credentials"
    before = dt.datetime.now(dt.UTC)
    code = main(["assume-role", "--role-arn", ROLE, "--web-identity-token-file",
                 str(token_file), "--aws-region", "us-east-1", "--output", str(creds), *flags])
    after = dt.datetime.now(dt.UTC)
    assert code == 0, capsys.readouterr().err
    [access_key] = [line.split(" = ", 1)[1] for line in creds.read_text().splitlines()
                    if line.startswith("aws_access_key_id = ")]
    expiry = _issued_expiry(moto, access_key)
    _assert_lasts(expiry, before, after, seconds)
    assert f"expires {expiry.isoformat()}" in creds.read_text()  # what the user is told
