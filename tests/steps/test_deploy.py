"""`scangate deploy`: pin, check kinds and namespace, EKS kubeconfig and token, kubectl.

No Kubernetes API server can run here, so kubectl is a STAND-IN: a small script (written per
test, its sha256 pinned like the real binary's) that records its argv, environment, the
kubeconfig it was given and the documents it was asked to apply, and answers like kubectl.
EKS and STS are a real moto server (tests/support/moto_server.py); the EKS token is checked by
recomputing its SigV4 signature from the spec and against botocore's own query signer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import boto3
import pytest
import yaml
from scangate._cli import main
from scangate.deploy.eks_auth import eks_token
from scangate.deploy.manifests import DEFAULT_ALLOWED_KINDS

from tests.support.moto_server import MotoServer

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = REPO_ROOT / "templates" / "k8s" / "user-authenticator"
RBAC = REPO_ROOT / "templates" / "k8s" / "platform" / "deployer-rbac.yaml"
# What the platform team applies once beside the pipeline's folder (docs/templates.md).
PLATFORM_OBJECTS = REPO_ROOT / "templates" / "k8s" / "platform" / "user-authenticator"
REPOSITORY = "123456789012.dkr.ecr.us-east-1.amazonaws.com/user-authenticator"
IMAGE = f"{REPOSITORY}@sha256:" + "ab" * 32
NAMESPACE = "user-authenticator"
CLUSTER = "prod"
KUBECTL_VERSION = "v1.36.4"

STANDIN = '''#!{python}
# Stand-in for kubectl (no API server can run in these tests): records, then answers.
import json, os, pathlib, sys
import yaml
argv = sys.argv[1:]
if argv == ["version", "--client"]:  # what install-tool asks a downloaded release
    print("Client Version: {version}")
    sys.exit(0)
kubeconfig = argv[argv.index("--kubeconfig") + 1]
record = {{"argv": argv, "env": dict(os.environ),
          "kubeconfig": yaml.safe_load(pathlib.Path(kubeconfig).read_text())}}
if "apply" in argv:
    folder = pathlib.Path(argv[argv.index("--filename") + 1])
    docs = [d for p in sorted(folder.rglob("*.yaml")) for d in yaml.safe_load_all(p.read_text())]
    record["applied"] = docs
    for d in docs:
        print(d["kind"].lower() + "/" + d["metadata"]["name"])
with open({log!r}, "a") as handle:
    handle.write(json.dumps(record) + "\\n")
if {fail!r} and {fail!r} in " ".join(argv):
    print("error: timed out waiting for the condition", file=sys.stderr)
    sys.exit(1)
'''


def _standin(tmp_path: Path, fail: str = "") -> tuple[Path, str, Path]:
    log = tmp_path / "kubectl.log"
    script = tmp_path / "bin" / "kubectl"
    script.parent.mkdir()
    script.write_text(STANDIN.format(python=sys.executable, log=str(log), fail=fail,
                                     version=KUBECTL_VERSION), encoding="utf-8")
    script.chmod(0o755)
    return script, hashlib.sha256(script.read_bytes()).hexdigest(), log


def _calls(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def cluster(moto: MotoServer) -> dict[str, Any]:
    eks = boto3.client("eks")
    eks.create_cluster(name=CLUSTER, roleArn="arn:aws:iam::123456789012:role/eks",
                       resourcesVpcConfig={"subnetIds": []})
    info: dict[str, Any] = eks.describe_cluster(name=CLUSTER)["cluster"]
    return info


@pytest.fixture
def deployment_only(tmp_path: Path) -> Path:
    folder = tmp_path / "manifests"
    folder.mkdir()
    shutil.copy(TEMPLATES / "deployment.yaml", folder / "deployment.yaml")
    return folder


@pytest.fixture
def whole_service(tmp_path: Path) -> Path:
    """The pipeline's Deployment and the platform's objects of the service in one folder."""
    folder = tmp_path / "whole-service"
    folder.mkdir()
    for path in [TEMPLATES / "deployment.yaml", *sorted(PLATFORM_OBJECTS.glob("*.yaml"))]:
        shutil.copy(path, folder / path.name)
    return folder


def _deploy(manifests: Path, kubectl: Path, sha: str, *extra: str) -> int:
    return main(["deploy", "--image", IMAGE, "--manifests", str(manifests), "--namespace",
                 NAMESPACE, "--cluster", CLUSTER, "--kubectl", str(kubectl),
                 "--kubectl-sha256", sha, *extra])


def _one_line(capsys: pytest.CaptureFixture[str], code: int) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1, err
    return err


# -- the happy path ----------------------------------------------------------------------------


def test_deploy_pins_applies_and_waits(
    cluster: dict[str, Any], deployment_only: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUBECONFIG", "/etc/runner-kubeconfig")  # must not reach kubectl
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")  # nor must AWS credentials
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")  # the proxy must
    kubectl, sha, log = _standin(tmp_path)
    record = tmp_path / "deploy.json"
    code = _deploy(deployment_only, kubectl, sha, "--rollout-timeout", "2m",
                   "--output", str(record))
    out, err = capsys.readouterr()
    assert code == 0, err
    deployed = json.loads(record.read_text(encoding="utf-8"))
    assert deployed["images"] == [IMAGE]
    assert (deployed["cluster"], deployed["namespace"]) == (CLUSTER, NAMESPACE)
    assert deployed["objects"] == ["Deployment/user-authenticator"]
    apply, rollout = _calls(log)
    assert apply["argv"][2:] == ["apply", "--namespace", NAMESPACE, "--recursive",
                                 "--filename", apply["argv"][7], "--output", "name"]
    containers = apply["applied"][0]["spec"]["template"]["spec"]["containers"]
    assert containers[0]["image"] == IMAGE
    assert rollout["argv"][2:] == ["rollout", "status", "--namespace", NAMESPACE, "--timeout",
                                   "120s", "deployment/user-authenticator"]
    # The kubeconfig: the cluster's endpoint and CA from eks:DescribeCluster, an EKS token.
    config = apply["kubeconfig"]
    assert config["clusters"][0]["cluster"] == {
        "server": cluster["endpoint"],
        "certificate-authority-data": cluster["certificateAuthority"]["data"],
    }
    assert config["users"][0]["user"]["token"].startswith("k8s-aws-v1.")
    assert config["contexts"][0]["context"]["namespace"] == NAMESPACE
    # Nothing of the runner's environment reaches kubectl (Python may add LC_CTYPE itself).
    env = set(apply["env"]) - {"LC_CTYPE"}
    assert env == {"PATH", "HOME", "KUBECONFIG", "HTTPS_PROXY"}
    assert apply["env"]["KUBECONFIG"] != "/etc/runner-kubeconfig"
    # The template folder is not modified.
    assert "sha256:" + "0" * 64 in (deployment_only / "deployment.yaml").read_text()
    assert "1 rollout(s) complete" in out


def test_deploy_from_push_record_with_a_role(
    cluster: dict[str, Any], deployment_only: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The role from the job's ID token (moto accepts any token) signs the EKS token."""
    kubectl, sha, log = _standin(tmp_path)
    record = tmp_path / "push.json"
    record.write_text(json.dumps({"image-uri": IMAGE}), encoding="utf-8")
    token = tmp_path / "id-token"
    token.write_text("eyJ.e30.sig", encoding="ascii")
    code = main(["deploy", "--push-record", str(record), "--manifests", str(deployment_only),
                 "--namespace", NAMESPACE, "--cluster", CLUSTER, "--kubectl", str(kubectl),
                 "--kubectl-sha256", sha, "--role-arn", "arn:aws:iam::123456789012:role/deploy",
                 "--web-identity-token-file", str(token), "--aws-region", "us-east-1"])
    assert code == 0, capsys.readouterr().err
    url = _token_url(_calls(log)[0]["kubeconfig"]["users"][0]["user"]["token"])
    credential = dict(parse_qsl(urlsplit(url).query))["X-Amz-Credential"]
    assert not credential.startswith("testing/")  # signed by the assumed role, not ambient


def test_extended_allowed_kinds_apply_the_whole_folder(
    cluster: dict[str, Any], whole_service: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kubectl, sha, log = _standin(tmp_path)
    kinds = "Deployment,Service,ServiceAccount,NetworkPolicy,PodDisruptionBudget"
    assert _deploy(whole_service, kubectl, sha, "--allowed-kinds", kinds) == 0
    calls = _calls(log)
    assert len(calls) == 2  # one apply, one rollout (only the Deployment rolls out)
    assert {d["kind"] for d in calls[0]["applied"]} == set(kinds.split(","))


# -- refusals before kubectl runs --------------------------------------------------------------


def test_kinds_the_rbac_does_not_grant_are_refused_before_applying(
    cluster: dict[str, Any], whole_service: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The platform's objects of the service: five objects the deployer may not apply."""
    kubectl, sha, log = _standin(tmp_path)
    err = _one_line(capsys, _deploy(whole_service, kubectl, sha))
    assert "5 object(s) of kinds the deployer may not apply (allowed: Deployment)" in err
    for label in ("Service/user-authenticator", "ServiceAccount/user-authenticator",
                  "PodDisruptionBudget/user-authenticator", "NetworkPolicy/"):
        assert label in err
    assert _calls(log) == []


def _add_sidecar(folder: Path, image: str) -> None:
    path = folder / "deployment.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["spec"]["template"]["spec"]["containers"].append({"name": "proxy", "image": image})
    path.write_text(yaml.safe_dump(document), encoding="utf-8")


def test_an_image_not_pinned_by_digest_is_refused_before_applying(
    cluster: dict[str, Any], deployment_only: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The admission policy (templates/k8s/admission) refuses pods with unpinned images: the
    apply would pass and the rollout hang, so deploy refuses first, naming the image."""
    kubectl, sha, log = _standin(tmp_path)
    _add_sidecar(deployment_only, "docker.io/envoyproxy/envoy:v1.30")
    err = _one_line(capsys, _deploy(deployment_only, kubectl, sha))
    assert "not pinned by digest: docker.io/envoyproxy/envoy:v1.30 in Deployment/" in err
    assert _calls(log) == []


def test_a_sidecar_pinned_by_digest_is_deployed(
    cluster: dict[str, Any], deployment_only: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kubectl, sha, log = _standin(tmp_path)
    sidecar = "123456789012.dkr.ecr.us-east-1.amazonaws.com/envoy@sha256:" + "cd" * 32
    _add_sidecar(deployment_only, sidecar)
    assert _deploy(deployment_only, kubectl, sha) == 0, capsys.readouterr().err
    containers = _calls(log)[0]["applied"][0]["spec"]["template"]["spec"]["containers"]
    assert [c["image"] for c in containers] == [IMAGE, sidecar]


def test_another_namespace_is_refused(
    cluster: dict[str, Any], deployment_only: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kubectl, sha, log = _standin(tmp_path)
    code = main(["deploy", "--image", IMAGE, "--manifests", str(deployment_only),
                 "--namespace", "other", "--cluster", CLUSTER, "--kubectl", str(kubectl),
                 "--kubectl-sha256", sha])
    assert "outside --namespace other" in _one_line(capsys, code)
    assert _calls(log) == []


def test_a_tag_is_refused(
    cluster: dict[str, Any], deployment_only: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kubectl, sha, log = _standin(tmp_path)
    code = main(["deploy", "--image", f"{REPOSITORY}:prod", "--manifests", str(deployment_only),
                 "--namespace", NAMESPACE, "--cluster", CLUSTER, "--kubectl", str(kubectl),
                 "--kubectl-sha256", sha])
    assert "has no digest" in _one_line(capsys, code)
    assert _calls(log) == []


def test_kubectl_with_another_checksum_never_runs(
    cluster: dict[str, Any], deployment_only: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kubectl, _, log = _standin(tmp_path)
    err = _one_line(capsys, _deploy(deployment_only, kubectl, "0" * 64))
    assert "refusing to run an unverified kubectl" in err
    assert _calls(log) == []


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("kind: Deployment\nmetadata: {}\n", "valid metadata.name"),
        ("- just\n- a list\n", "not a Kubernetes object"),
        ("kind: List\nitems:\n  - {kind: Secret, metadata: {name: s}}\n", "Secret/s"),
        ("kind: [unclosed\n", "not valid YAML: line 2"),
    ],
)
def test_odd_manifests_are_refused(
    cluster: dict[str, Any], deployment_only: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], document: str, message: str,
) -> None:
    kubectl, sha, log = _standin(tmp_path)
    (deployment_only / "extra.yaml").write_text(document, encoding="utf-8")
    assert message in _one_line(capsys, _deploy(deployment_only, kubectl, sha))
    assert _calls(log) == []


def test_unknown_cluster(
    moto: MotoServer, deployment_only: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubectl, sha, log = _standin(tmp_path)
    err = _one_line(capsys, _deploy(deployment_only, kubectl, sha))
    assert "eks:DescribeCluster prod in us-east-1: ResourceNotFoundException" in err
    assert _calls(log) == []


@pytest.mark.parametrize("timeout", ["0", "15m", "5x", "1h"])
def test_rollout_timeout_is_bounded(timeout: str, deployment_only: Path, tmp_path: Path) -> None:
    kubectl, sha, _ = _standin(tmp_path)
    with pytest.raises(SystemExit) as exc:
        _deploy(deployment_only, kubectl, sha, "--rollout-timeout", timeout)
    assert exc.value.code == 2


def test_deploy_asks_for_role_credentials_that_outlive_the_rollouts() -> None:
    """EKS tokens are signed with the role's credentials for every kubectl call; push and
    assume-role keep the 15-minute default."""
    from scangate._cli import build_parser

    common = ["--role-arn", "arn:aws:iam::123456789012:role/r", "--web-identity-token-file", "t"]
    deploy = build_parser().parse_args(["deploy", "--manifests", "m", "--namespace", "n",
                                        "--cluster", "c", "--kubectl-sha256", "0" * 64, *common])
    push = build_parser().parse_args(["push", "--archive", "a", "--image-id", "i",
                                      "--repository", "r", "--tag", "t", "--output", "o",
                                      *common])
    assert (deploy.role_duration_seconds, push.role_duration_seconds) == (3600, 900)


# -- kubectl failures --------------------------------------------------------------------------


def test_a_failed_rollout_fails_the_deploy(
    cluster: dict[str, Any], deployment_only: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kubectl, sha, _ = _standin(tmp_path, fail="rollout")
    record = tmp_path / "deploy.json"
    record.write_text('{"images": ["stale"]}', encoding="utf-8")
    err = _one_line(capsys, _deploy(deployment_only, kubectl, sha, "--output", str(record)))
    assert "rollout of Deployment/user-authenticator: kubectl exited 1: error: timed out" in err
    assert not record.exists()  # no record of a deploy that did not complete


# -- the pinned kubectl release (--kubectl-version) ------------------------------------------


def test_deploy_downloads_the_pinned_kubectl_release(
    cluster: dict[str, Any], deployment_only: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--kubectl-version (the GitLab deploy job's): the release is downloaded as `scangate
    install-tool kubectl` downloads it (tests/steps/test_install_tool.py), here from a loopback
    server standing in for its release URL (the URL is all that is replaced), and runs only
    when its sha256 is --kubectl-sha256; another is refused before kubectl or AWS is used."""
    import dataclasses
    import functools
    import http.server

    from scangate import tool_install

    from tests.support import loopback

    class Files(http.server.SimpleHTTPRequestHandler):
        log_message = loopback.QuietHandler.log_message  # stderr is what the test reads

    kubectl, sha, log = _standin(tmp_path)
    handler = functools.partial(Files, directory=str(kubectl.parent))
    with loopback.serve(handler) as server:
        monkeypatch.setitem(tool_install.TOOLS, "kubectl", dataclasses.replace(
            tool_install.TOOLS["kubectl"], default_url=server.url + "/{asset}"))
        common = ["deploy", "--image", IMAGE, "--manifests", str(deployment_only),
                  "--namespace", NAMESPACE, "--cluster", CLUSTER,
                  "--kubectl-version", KUBECTL_VERSION]
        err = _one_line(capsys, main([*common, "--kubectl-sha256", "0" * 64]))
        assert f"has sha256 {sha}, not the pinned {'0' * 64}" in err
        assert _calls(log) == []
        err = _one_line(capsys, main([*common, "--kubectl-sha256", sha, "--kubectl",
                                      str(kubectl)]))
        assert "--kubectl or --kubectl-version, not both" in err
        code = main([*common, "--kubectl-sha256", sha])
    assert code == 0, capsys.readouterr().err
    assert [call["argv"][2] for call in _calls(log)] == ["apply", "rollout"]


# -- telling the registry monitor (--monitoring-event-bus) -------------------------------------


def _monitored(tmp_path: Path) -> tuple[str, str]:
    """An image ECR holds (moto), and the SQS queue the monitoring stack's rule routes
    `scangate.monitor` events of the default bus to (templates/aws/scangate-monitoring.yaml)."""
    ecr = boto3.client("ecr")
    ecr.create_repository(repositoryName="user-authenticator")
    config = "sha256:" + hashlib.sha256(str(tmp_path).encode()).hexdigest()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1,
                   "digest": config},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 1, "digest": config}]})
    digest = ecr.put_image(repositoryName="user-authenticator", imageManifest=manifest,
                           imageTag="1.0")["image"]["imageId"]["imageDigest"]
    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName="monitor-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    events = boto3.client("events")
    events.put_rule(Name="deployed", EventPattern=json.dumps({"source": ["scangate.monitor"]}))
    events.put_targets(Rule="deployed", Targets=[{"Id": "queue",
                                                  "Arn": arn["Attributes"]["QueueArn"]}])
    return f"{REPOSITORY}@{digest}", queue


def _told(queue: str) -> list[dict[str, Any]]:
    messages = boto3.client("sqs").receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages") or []
    return [json.loads(m["Body"])["detail"] for m in messages]


def _deployed_tags(digest: str) -> list[str]:
    images = boto3.client("ecr").describe_images(repositoryName="user-authenticator",
                                                 imageIds=[{"imageDigest": digest}])
    return sorted(images["imageDetails"][0].get("imageTags") or [])


def test_the_deploy_tells_the_monitor_what_runs_after_the_rollouts(
    cluster: dict[str, Any], deployment_only: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--monitoring-event-bus (the GitLab deploy job's; `scangate mark-deployed` tested in
    tests/monitor): once every rollout completed and the record is written, the deployed digest
    reaches the bus (a real EventBridge rule to a queue, moto) and gets the scangate-deployed-
    tag the lifecycle rules keep, in the same run and session."""
    image, queue = _monitored(tmp_path)
    digest = image.split("@")[1]
    kubectl, sha, log = _standin(tmp_path)
    record = tmp_path / "deploy.json"
    code = main(["deploy", "--image", image, "--manifests", str(deployment_only), "--namespace",
                 NAMESPACE, "--cluster", CLUSTER, "--kubectl", str(kubectl), "--kubectl-sha256",
                 sha, "--output", str(record), "--monitoring-event-bus", "default"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert [call["argv"][2] for call in _calls(log)] == ["apply", "rollout"]
    assert json.loads(record.read_text(encoding="utf-8"))["images"] == [image]
    assert _told(queue) == [{"repository-name": "user-authenticator", "image-digest": digest,
                             "deployed": True, "registry-id": "123456789012",
                             "registry-region": "us-east-1"}]
    assert _deployed_tags(digest) == ["1.0", "scangate-deployed-" + digest[7:]]
    assert out.index("rollout(s) complete") < out.index("mark-deployed:")


def test_a_failed_rollout_tells_the_monitor_nothing(
    cluster: dict[str, Any], deployment_only: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    image, queue = _monitored(tmp_path)
    kubectl, sha, _ = _standin(tmp_path, fail="rollout")
    code = main(["deploy", "--image", image, "--manifests", str(deployment_only), "--namespace",
                 NAMESPACE, "--cluster", CLUSTER, "--kubectl", str(kubectl), "--kubectl-sha256",
                 sha, "--output", str(tmp_path / "deploy.json"), "--monitoring-event-bus",
                 "default"])
    assert "rollout of Deployment/user-authenticator" in _one_line(capsys, code)
    assert _told(queue) == []
    assert _deployed_tags(image.split("@")[1]) == ["1.0"]


@pytest.mark.parametrize("case", ["no-record", "not-ecr"])
def test_a_deploy_the_monitor_could_not_be_told_about_is_refused_before_applying(
    case: str, deployment_only: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """Without --output there is no record to mark; an image outside ECR the monitor cannot
    watch: both refused in one line before kubectl runs (no AWS call either)."""
    kubectl, sha, log = _standin(tmp_path)
    image = IMAGE if case == "no-record" else "registry.example/app@sha256:" + "ab" * 32
    output = [] if case == "no-record" else ["--output", str(tmp_path / "deploy.json")]
    code = main(["deploy", "--image", image, "--manifests", str(deployment_only), "--namespace",
                 NAMESPACE, "--cluster", CLUSTER, "--kubectl", str(kubectl), "--kubectl-sha256",
                 sha, *output, "--monitoring-event-bus", "default"])
    err = _one_line(capsys, code)
    assert ("pass --output" in err) if case == "no-record" else ("not an ECR registry" in err)
    assert _calls(log) == []


# -- the EKS token -----------------------------------------------------------------------------


def _token_url(token: str) -> str:
    assert token.startswith("k8s-aws-v1.")
    body = token.removeprefix("k8s-aws-v1.")
    assert "=" not in body  # base64url without padding, as aws eks get-token prints
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def _sigv4_query_signature(url: str, headers: dict[str, str], secret: str) -> str:
    """SigV4 (query string) computed from the AWS spec, independently of botocore."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k != "X-Amz-Signature"]
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query)
    )
    params = dict(query)
    signed = params["X-Amz-SignedHeaders"].split(";")
    all_headers = {"host": parts.netloc, **{k.lower(): v for k, v in headers.items()}}
    canonical_headers = "".join(f"{h}:{all_headers[h].strip()}\n" for h in signed)
    canonical = "\n".join(["GET", parts.path or "/", canonical_query, canonical_headers,
                           params["X-Amz-SignedHeaders"], hashlib.sha256(b"").hexdigest()])
    date = params["X-Amz-Date"]
    scope = params["X-Amz-Credential"].split("/", 1)[1]
    to_sign = "\n".join(["AWS4-HMAC-SHA256", date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def test_eks_token_is_a_presigned_get_caller_identity_bound_to_the_cluster(
    moto: MotoServer,
) -> None:
    session = boto3.session.Session(region_name="us-east-1")
    url = _token_url(eks_token(session, CLUSTER, "us-east-1"))
    params = dict(parse_qsl(urlsplit(url).query))
    assert params["Action"] == "GetCallerIdentity"
    assert params["Version"] == "2011-06-15"
    assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert params["X-Amz-Expires"] == "60"
    assert params["X-Amz-SignedHeaders"].split(";") == ["host", "x-k8s-aws-id"]
    assert params["X-Amz-Credential"].endswith("/us-east-1/sts/aws4_request")
    # The signature covers the cluster name: right for this cluster, wrong for any other.
    signature = params["X-Amz-Signature"]
    assert _sigv4_query_signature(url, {"x-k8s-aws-id": CLUSTER}, "testing") == signature
    assert _sigv4_query_signature(url, {"x-k8s-aws-id": "other"}, "testing") != signature
    # (The authenticator's own call cannot be replayed here: moto's server routes a presigned
    # GET on "/" to S3, not STS.)


def test_eks_token_matches_what_botocore_signs_for_aws_eks_get_token(moto: MotoServer) -> None:
    """aws-cli's get-token registers the header on before-sign and presigns for 60 s; the same
    request signed by botocore directly has the same shape (only date and signature vary)."""
    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import AWSRequest

    session = boto3.session.Session(region_name="us-east-1")
    ours = urlsplit(_token_url(eks_token(session, CLUSTER, "us-east-1")))
    request = AWSRequest(method="GET", url=f"{ours.scheme}://{ours.netloc}/",
                         params={"Action": "GetCallerIdentity", "Version": "2011-06-15"},
                         headers={"x-k8s-aws-id": CLUSTER})
    SigV4QueryAuth(session.get_credentials(), "sts", "us-east-1", expires=60).add_auth(request)
    theirs = urlsplit(request.prepare().url)
    volatile = {"X-Amz-Date", "X-Amz-Signature", "X-Amz-Credential"}
    ours_params = {k: v for k, v in parse_qsl(ours.query) if k not in volatile}
    theirs_params = {k: v for k, v in parse_qsl(theirs.query) if k not in volatile}
    assert ours_params == theirs_params
    assert (ours.netloc, ours.path or "/") == (theirs.netloc, theirs.path or "/")


# What EKS's authenticator accepts: kubernetes-sigs/aws-iam-authenticator pkg/token/token.go,
# tokenVerifier.Verify and parameterWhitelist.
AUTHENTICATOR_PARAMETERS = {"action", "version", "x-amz-algorithm", "x-amz-credential",
                            "x-amz-date", "x-amz-expires", "x-amz-security-token",
                            "x-amz-signature", "x-amz-signedheaders"}


def test_eks_token_passes_the_authenticators_format_checks(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rules aws-iam-authenticator's Verify applies before calling STS (source: pkg/token/
    token.go): at most 4096 bytes, the k8s-aws-v1. prefix, unpadded base64url, an https URL on
    an STS host with path "/", only whitelisted single-valued parameters, Action
    GetCallerIdentity, x-k8s-aws-id signed, X-Amz-Expires within 0..900, X-Amz-Date present.
    Presigning sends nothing, so this runs against the real STS host name offline."""
    monkeypatch.setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzE" + "x" * 800)  # a role's session
    token = eks_token(boto3.session.Session(region_name="eu-west-1"), CLUSTER, "eu-west-1")
    assert len(token) <= 4096
    url = urlsplit(_token_url(token))
    assert url.scheme == "https"
    assert url.hostname == "sts.eu-west-1.amazonaws.com"
    assert url.path == "/"
    pairs = parse_qsl(url.query, keep_blank_values=True)
    keys = [key.lower() for key, _ in pairs]
    assert set(keys) <= AUTHENTICATOR_PARAMETERS and len(keys) == len(set(keys))
    params = {key.lower(): value for key, value in pairs}
    assert params["action"] == "GetCallerIdentity"
    assert "x-k8s-aws-id" in params["x-amz-signedheaders"].lower().split(";")
    assert 0 <= int(params["x-amz-expires"]) <= 900
    assert params["x-amz-date"]
    assert params["x-amz-security-token"].startswith("FwoGZXIvYXdzE")


# -- the default allowed kinds follow the RBAC -------------------------------------------------

# Resource (plural, lowercase) to kind for what a deployer Role may plausibly grant.
RESOURCE_KINDS = {
    "deployments": "Deployment", "statefulsets": "StatefulSet", "daemonsets": "DaemonSet",
    "replicasets": "ReplicaSet", "pods": "Pod", "services": "Service",
    "serviceaccounts": "ServiceAccount", "configmaps": "ConfigMap", "secrets": "Secret",
    "networkpolicies": "NetworkPolicy", "poddisruptionbudgets": "PodDisruptionBudget",
    "horizontalpodautoscalers": "HorizontalPodAutoscaler", "ingresses": "Ingress",
    "jobs": "Job", "cronjobs": "CronJob",
}


def _rbac_appliable_kinds() -> set[str]:
    """Kinds whose resource the deployer Role may get and patch (what `kubectl apply` of an
    existing object needs: GET, then PATCH)."""
    kinds: set[str] = set()
    for document in yaml.safe_load_all(RBAC.read_text(encoding="utf-8")):
        if not document or document.get("kind") != "Role":
            continue
        for rule in document.get("rules", []):
            verbs = set(rule.get("verbs", []))
            if "*" in verbs or {"get", "patch"} <= verbs:
                kinds.update(RESOURCE_KINDS[r] for r in rule.get("resources", []))
    return kinds


def test_default_allowed_kinds_are_what_the_deployer_rbac_grants() -> None:
    assert set(DEFAULT_ALLOWED_KINDS) == _rbac_appliable_kinds()
