"""Fixtures for tests/templates: paths, the template linters, and a moto server with IAM on.

The moto server is the real one (``moto_server`` in a subprocess, see tests/support). IAM
enforcement is switched on the way moto documents it, ``INITIAL_NO_AUTH_ACTION_COUNT`` in the
server's environment: the first 3 requests (create an administrator user, give it ``*``, create
its access key) are not authenticated, every later one is signed and authorized by moto.
``moto_resource_arns/sitecustomize.py`` is loaded into the server process: it supplies the
resource ARN of ECR, Security Hub and EKS requests, which moto 5.1.4 leaves at ``*`` (its
docstring says exactly what it adds and why); the allow/deny decision stays moto's.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from tests.support.moto_server import MotoServer, run_moto_server

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = REPO_ROOT / "templates"
CFN_TEMPLATE = TEMPLATES / "aws" / "scangate-pipeline.yaml"
POLICIES = TEMPLATES / "aws" / "policies"
K8S = TEMPLATES / "k8s"
TERRAFORM = TEMPLATES / "terraform"
MOTO_EXTENSION = Path(__file__).resolve().parent / "moto_resource_arns"

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
GITHUB_ISSUER = "token.actions.githubusercontent.com"
NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})


def venv_tool(name: str) -> str:
    """A tool the project installs into .venv (make setup); fail, never skip, when missing."""
    beside = REPO_ROOT / ".venv" / "bin" / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found: run `make setup` (requirements/*.txt)")
    return found


def checkov_binary() -> str:
    path = REPO_ROOT / ".tools" / "checkov-venv" / "bin" / "checkov"
    if not path.exists():
        pytest.fail("checkov not found: run `make setup` (tools/setup/40-checkov.sh)")
    return str(path)


def render(path: Path, values: dict[str, str]) -> dict[str, object]:
    """A standalone JSON document of templates/aws/policies with its <PLACEHOLDERS> filled."""
    text = path.read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(f"<{key}>", value)
    assert "<" not in text, f"unfilled placeholder left in {path.name}"
    document: dict[str, object] = json.loads(text)
    return document


@dataclass(frozen=True)
class Aws:
    """The moto server, with an administrator session (IAM enforcement is on)."""

    server: MotoServer
    admin: boto3.Session

    def client(self, service: str, session: boto3.Session | None = None) -> object:
        return (session or self.admin).client(
            service, endpoint_url=self.server.url, region_name=REGION, config=NO_RETRY
        )


@pytest.fixture(scope="module")
def aws() -> Iterator[Aws]:
    pythonpath = os.pathsep.join(
        p for p in (str(MOTO_EXTENSION), os.environ.get("PYTHONPATH", "")) if p
    )
    env = {"INITIAL_NO_AUTH_ACTION_COUNT": "3", "PYTHONPATH": pythonpath}
    with run_moto_server(env) as server:
        bootstrap = boto3.client(
            "iam",
            endpoint_url=server.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=NO_RETRY,
        )
        bootstrap.create_user(UserName="platform-admin")
        bootstrap.put_user_policy(
            UserName="platform-admin",
            PolicyName="administrator",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                }
            ),
        )
        key = bootstrap.create_access_key(UserName="platform-admin")["AccessKey"]
        admin = boto3.Session(
            aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
        )
        yield Aws(server=server, admin=admin)
