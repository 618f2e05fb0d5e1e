"""The reusable workflow end to end with act: build, scan, gate, Security Hub, push, deploy.

A caller workflow (written into a snapshot of this repository) calls
`./.github/workflows/container-scan.yml` on examples/user-authenticator, exactly as a user's
workflow would. act runs every job's steps on this machine. What is real here: the workflow's
own logic, the composite actions (actions/gate installs scangate from the checked-out commit
and runs it), `docker build`, Trivy (the real binary, with the offline test DB) on the very
tarball the build job saved, `scangate securityhub` against a moto server (no Security Hub can
be reached from here), and `skopeo` pushing to a distribution registry on 127.0.0.1:5000 (ECR's
data plane stand-in). What is a test double: the third-party actions, which cannot be cloned
offline; each is mapped to a small stand-in under tests/github/standins/ that does the same job
locally (see the README there). There is no Kubernetes API server on these machines, so the
deploy job is only shown never to start after a failed gate.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_httpserver import HTTPServer

from tests.github.actrun import ActRun, run_act, snapshot_repository
from tests.support.docker import remove_image
from tests.support.moto_server import MotoServer, run_moto_server
from tests.support.trivy import trivy_binary

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ACCOUNT = "123456789012"
REGION = "eu-west-1"
POLICY = ".scangate/policy.yaml"
RECORD_OUTPUTS = """set -euo pipefail
printf '%s' "$OUTPUTS" >"$SCANGATE_STANDIN_STATE/outputs.json"
"""


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One commit of the working tree for every act run of this module: (directory, commit)."""
    repo = tmp_path_factory.mktemp("act") / "repo"
    return repo, snapshot_repository(repo)


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with run_moto_server() as server:
        yield server


def _caller(
    *,
    name: str,
    commit: str,
    build_args: dict[str, str],
    extra: dict[str, Any],
    secrets: dict[str, str] | None = None,
) -> str:
    """A user's workflow: one job that calls the reusable workflow, one that records its outputs."""
    with_: dict[str, Any] = {
        "image-name": name,
        "context": "examples/user-authenticator",
        "build-args": "".join(f"{k}={v}\n" for k, v in build_args.items()),
        "policy": POLICY,
        # act has no OIDC token: name scangate's code explicitly (the same commit).
        "scangate-repository": "scangate/scangate",
        "scangate-ref": commit,
        **extra,
    }
    doc = {
        "name": "act-caller",
        "on": {"workflow_dispatch": {}},
        "permissions": {},
        "jobs": {
            "scan": {
                "permissions": {"contents": "read", "security-events": "write",
                                "actions": "read", "id-token": "write"},
                "uses": "./.github/workflows/container-scan.yml",
                "with": with_,
                **({"secrets": secrets} if secrets else {}),
            },
            "verify": {
                "needs": "scan",
                "runs-on": "ubuntu-latest",
                "timeout-minutes": 5,
                "permissions": {},
                "steps": [{
                    "name": "Record the outputs",
                    "env": {"OUTPUTS": "${{ toJSON(needs.scan.outputs) }}"},
                    "run": RECORD_OUTPUTS,
                }],
            },
        },
    }  # fmt: skip
    return yaml.safe_dump(doc, sort_keys=False)


def _run(
    snapshot: tuple[Path, str],
    tmp_path: Path,
    *,
    caller: str,
    trivy_cache_dir: Path,
    registry: str,
    extra_env: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
) -> ActRun:
    repo, _ = snapshot
    name = f"act-caller-{uuid.uuid4().hex[:8]}.yml"
    (repo / ".github" / "workflows" / name).write_text(caller, encoding="utf-8")
    env = {
        "SCANGATE_STANDIN_SOURCE": str(repo),
        "SCANGATE_STANDIN_TRIVY": trivy_binary(),
        "SCANGATE_STANDIN_TRIVY_CACHE": str(trivy_cache_dir),
        "SCANGATE_STANDIN_REGISTRY": registry,
        **(extra_env or {}),
    }
    try:
        run = run_act(repo, name, tmp_path / "state", env, secrets)
    finally:
        (repo / ".github" / "workflows" / name).unlink()
        # The build stand-in tagged the images in the local engine; their layers stay cached.
        for build in ActRun(0, "", 0, tmp_path / "state").records("build-push"):
            remove_image(build["tags"])
    print(f"act ran in {run.seconds:.1f}s (exit {run.returncode}); log: {run.state / 'act.log'}")
    return run


def _registry_tags(registry: str, repository: str) -> list[str]:
    try:
        with urllib.request.urlopen(
            f"http://{registry}/v2/{repository}/tags/list", timeout=10
        ) as r:
            return list(json.load(r).get("tags") or [])
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise


def _registry_manifest(
    registry: str, repository: str, reference: str
) -> tuple[str, dict[str, Any]]:
    """(Docker-Content-Digest, manifest) of what the registry serves for repository:reference."""
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{reference}",
        headers={
            "Accept": "application/vnd.docker.distribution.manifest.v2+json, "
            "application/vnd.oci.image.manifest.v1+json"
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["Docker-Content-Digest"], json.load(response)


def _tail(run: ActRun, lines: int = 80) -> str:
    return "\n".join(run.output.splitlines()[-lines:])


def test_vulnerable_image_stops_the_release_with_every_report_published(
    snapshot: tuple[Path, str],
    tmp_path: Path,
    trivy_cache_dir: Path,
    registry: str,
    package_index: str,
    moto: MotoServer,
) -> None:
    """Two images at once (`images`, a matrix): one built from requirements-vulnerable.txt, one
    clean. The vulnerable one's gate fails, the clean one's passes; each SARIF is uploaded with
    its own category and every report is an artifact; Security Hub gets the findings; push and
    deploy never start, for either image."""
    _, commit = snapshot
    suffix = uuid.uuid4().hex[:8]
    vulnerable, clean = f"ua-vuln-{suffix}", f"ua-clean-{suffix}"
    shared = {"BASE_IMAGE": "scangate.local/python-base:bookworm", "PIP_INDEX_URL": package_index}
    images = [
        {
            "name": vulnerable,
            "context": "examples/user-authenticator",
            "build-args": [f"{k}={v}" for k, v in shared.items()]
            + ["REQUIREMENTS=requirements-vulnerable.txt"],
            "ecr-repository": f"scangate-act/{vulnerable}",
        },
        {
            "name": clean,
            "context": "examples/user-authenticator",
            "ecr-repository": f"scangate-act/{clean}",
        },
    ]
    moto.reset()
    caller = _caller(
        name=vulnerable,
        commit=commit,
        build_args=shared,
        extra={
            "images": json.dumps(images),
            "aws-region": REGION,
            "security-hub": True,
            "publish-role-arn": f"arn:aws:iam::{ACCOUNT}:role/scangate-publish",
            "push": True,
            "push-role-arn": f"arn:aws:iam::{ACCOUNT}:role/scangate-push",
            "deploy": True,
            "deploy-role-arn": f"arn:aws:iam::{ACCOUNT}:role/scangate-deploy",
            "eks-cluster": "act",
            "manifests": "templates/k8s/user-authenticator",
        },
    )
    run = _run(
        snapshot,
        tmp_path,
        caller=caller,
        trivy_cache_dir=trivy_cache_dir,
        registry=registry,
        extra_env={"SCANGATE_STANDIN_AWS_ENDPOINT_URL": moto.url},
    )

    assert run.returncode != 0, "a failed gate must fail the run:\n" + _tail(run)

    # Each image was gated on its own scanned tarball: the vulnerable one failed the policy.
    decisions = {}
    for name in (vulnerable, clean):
        reports = run.artifact(f"scangate-reports-{name}")
        summary = json.loads((reports / "summary.json").read_text(encoding="utf-8"))
        decisions[name] = summary["decision"]
        # Every report went into the artifact, the input Trivy report included.
        assert {p.name for p in reports.iterdir()} >= {
            "summary.json",
            "summary.md",
            "scangate.sarif",
            "reports",
        }
        trivy_report = json.loads(next((reports / "reports").glob("*trivy.json")).read_text())
        image = json.loads((run.artifact(f"scangate-scan-{name}") / "image.json").read_text())
        assert trivy_report["Metadata"]["ImageID"] == image["image-id"]
        if name == vulnerable:
            assert summary["violations"], summary
            assert summary["counts"]["critical"] + summary["counts"]["high"] > 0
    assert decisions == {vulnerable: "fail", clean: "pass"}

    # Both SARIF files were uploaded, the failed one too, each with the image's own category.
    categories = set()
    for upload in run.records("upload-sarif"):
        sarif = json.loads(Path(upload["copy"]).read_text(encoding="utf-8"))
        categories |= {r["automationDetails"]["id"] for r in sarif["runs"]}
    assert categories == {f"scangate-{vulnerable}/", f"scangate-{clean}/"}
    vulnerable_sarif = json.loads(
        (run.artifact(f"scangate-reports-{vulnerable}") / "scangate.sarif").read_text()
    )
    assert sum(len(r["results"]) for r in vulnerable_sarif["runs"]) > 0

    # One build and one Trivy run per image, on the tarball that build saved, with the pinned
    # Trivy version and its DB cache.
    scans = run.records("trivy-action")
    assert len(run.records("build-push")) == 2 and len(scans) == 2, scans
    scanned_tarballs = {s["input_sha256"] for s in scans}
    built_tarballs = {
        json.loads((run.artifact(f"scangate-scan-{n}") / "image.json").read_text())[
            "tarball-sha256"
        ]
        for n in (vulnerable, clean)
    }
    assert scanned_tarballs == built_tarballs
    assert {(s["format"], s["version"], s["cache"]) for s in scans} == {("json", "v0.70.0", "true")}

    # scangate came from the commit this workflow was called at.
    scangate_checkouts = [c for c in run.records("checkout") if c["path"] == ".scangate-action"]
    assert scangate_checkouts and {c["commit"] for c in scangate_checkouts} == {commit}

    # Security Hub got the findings although the gate failed (the import needs only the scans).
    import boto3

    hub = boto3.client(
        "securityhub",
        endpoint_url=moto.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    assert hub.get_findings(MaxResults=100)["Findings"], "no finding reached Security Hub"

    # Push and deploy never started: no credentials for them, no registry login, nothing pushed.
    roles = {r["role"] for r in run.records("configure-aws-credentials")}
    assert roles == {f"arn:aws:iam::{ACCOUNT}:role/scangate-publish"}, roles
    assert run.records("amazon-ecr-login") == []
    assert run.records("setup-kubectl") == []
    for name in (vulnerable, clean):
        assert not run.artifact(f"scangate-push-{name}").exists()
        assert _registry_tags(registry, f"scangate-act/{name}") == []
    assert not any("Push the scanned tarball" in line for line in run.output.splitlines())
    assert not any("Apply and wait for the rollout" in line for line in run.output.splitlines())


def test_clean_image_passes_and_the_registry_holds_exactly_the_scanned_image(
    snapshot: tuple[Path, str],
    tmp_path: Path,
    trivy_cache_dir: Path,
    registry: str,
    package_index: str,
    httpserver: HTTPServer,
) -> None:
    """requirements.txt: the gate passes, push runs, and the registry holds exactly the image
    Trivy scanned (its config digest) under the manifest digest the workflow outputs. The one
    secret, a Slack webhook, is a local HTTP server here: it gets the summary."""
    httpserver.expect_request("/slack-hook", method="POST").respond_with_data("ok")
    _, commit = snapshot
    name = f"ua-clean-{uuid.uuid4().hex[:8]}"
    ecr_repository = f"scangate-act/{name}"
    tag = f"act-{uuid.uuid4().hex[:12]}"
    caller = _caller(
        name=name,
        commit=commit,
        build_args={
            "BASE_IMAGE": "scangate.local/python-base:bookworm",
            "PIP_INDEX_URL": package_index,
        },
        extra={
            "aws-region": REGION,
            "push": True,
            "push-role-arn": f"arn:aws:iam::{ACCOUNT}:role/scangate-push",
            "ecr-repository": ecr_repository,
            "image-tag": tag,
        },
        secrets={"slack-webhook-url": "${{ secrets.SLACK_WEBHOOK }}"},
    )
    run = _run(
        snapshot,
        tmp_path,
        caller=caller,
        trivy_cache_dir=trivy_cache_dir,
        registry=registry,
        secrets={"SLACK_WEBHOOK": httpserver.url_for("/slack-hook")},
    )

    assert run.returncode == 0, "the clean image must pass end to end:\n" + _tail(run)
    summary = json.loads((run.artifact(f"scangate-reports-{name}") / "summary.json").read_text())
    assert summary["decision"] == "pass", summary

    scanned = json.loads((run.artifact(f"scangate-scan-{name}") / "trivy.json").read_text())
    image_id = scanned["Metadata"]["ImageID"]
    pushed = json.loads((run.artifact(f"scangate-push-{name}") / "push.json").read_text())

    # The registry holds exactly one tag, and it is the scanned image.
    assert _registry_tags(registry, ecr_repository) == [tag]
    digest, manifest = _registry_manifest(registry, ecr_repository, tag)
    assert manifest["config"]["digest"] == image_id, "the registry holds another image"
    assert digest == pushed["image-digest"]
    assert pushed["image-uri"] == f"{registry}/{ecr_repository}@{digest}"

    # The workflow's outputs, as the caller sees them.
    outputs = json.loads((run.state / "outputs.json").read_text(encoding="utf-8"))
    assert outputs["decision"] == "pass"
    assert outputs["image-id"] == image_id
    assert outputs["image-digest"] == digest
    assert outputs["image-uri"] == f"{registry}/{ecr_repository}@{digest}"
    assert set(json.loads(outputs["counts"])) == {"critical", "high", "medium", "low", "unknown"}
    assert json.loads(outputs["results"])[name]["decision"] == "pass"

    # The push used the push role, and the SARIF of a passing gate was uploaded too.
    roles = [r["role"] for r in run.records("configure-aws-credentials")]
    assert roles == [f"arn:aws:iam::{ACCOUNT}:role/scangate-push"]
    assert len(run.records("upload-sarif")) == 1
    # The Slack message went out, once, with the decision.
    assert len(httpserver.log) == 1, httpserver.log
    message = json.loads(httpserver.log[0][0].get_data(as_text=True))
    assert "PASSED" in message["text"], message
    # Nothing was rebuilt after the scan: one build, one scan.
    assert len(run.records("build-push")) == 1 and len(run.records("trivy-action")) == 1


def test_skopeo_is_available() -> None:
    """The push step uses skopeo (preinstalled on GitHub's Ubuntu runners; tools/setup/10-apt.sh
    installs it here)."""
    out = subprocess.run(["skopeo", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("skopeo version")
