"""The workflows' and the gate action's shell steps, run directly with bash (no act, no GitHub).

Each test takes a step's `run:` script from the YAML (container-scan.yml, or
container-release.yml for the AWS jobs) as it is, gives it the environment that its `env:` block
would give it, runs it the way the runner does (`bash --noprofile --norc -eo pipefail FILE`),
and reads GITHUB_OUTPUT. GitHub itself cannot be reached from here.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.github.actrun import REPO_ROOT
from tests.support.reports import image_report, vuln
from tests.support.trivy import db_digest

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "container-scan.yml"
RELEASE = REPO_ROOT / ".github" / "workflows" / "container-release.yml"
# Jobs only container-release.yml has; `plan` and `results` are in both (release=True).
RELEASE_JOBS = {"limits", "push", "security-hub", "deploy"}
GATE_ACTION = REPO_ROOT / "actions" / "gate" / "action.yml"
SCANGATE = str(Path(sys.executable).with_name("scangate"))
SHA = "0123456789abcdef0123456789abcdef01234567"
# A step that runs "$SCANGATE": this checkout's (PYTHONPATH), as the setup action installs the
# release's.
_SCANGATE_ENV = {"SCANGATE": SCANGATE, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}


def _script(job: str, name: str, release: bool = False) -> str:
    path = RELEASE if release or job in RELEASE_JOBS else WORKFLOW
    jobs = yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"]
    for step in jobs[job]["steps"]:
        if step.get("name") == name:
            return str(step["run"])
    raise KeyError(f"{job}: no step named {name!r}")


def _outputs(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    lines = iter(path.read_text(encoding="utf-8").splitlines())
    for line in lines:
        if "<<" in line and "=" not in line.split("<<", 1)[0]:
            key, delimiter = line.split("<<", 1)
            value = []
            for inner in lines:
                if inner == delimiter:
                    break
                value.append(inner)
            out[key] = "\n".join(value)
        elif "=" in line:
            key, value_ = line.split("=", 1)
            out[key] = value_
    return out


class Step:
    def __init__(self, returncode: int, output: str, outputs: dict[str, str]) -> None:
        self.returncode = returncode
        self.output = output
        self.outputs = outputs


def action_script(action: Path, name: str) -> str:
    """The `run:` of the composite action's step `name`, as it is."""
    for step in yaml.safe_load(action.read_text(encoding="utf-8"))["runs"]["steps"]:
        if step.get("name") == name:
            return str(step["run"])
    raise KeyError(f"{action}: no step named {name!r}")


def run_script(script: str, env: dict[str, str], tmp_path: Path) -> Step:
    tmp_path.mkdir(parents=True, exist_ok=True)
    output_file = tmp_path / "github_output"
    output_file.write_text("", encoding="utf-8")
    file = tmp_path / "step.sh"
    file.write_text(script, encoding="utf-8")
    base = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "GITHUB_OUTPUT": str(output_file),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "step_summary.md"),
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_REPOSITORY": "acme/my-service",
        "GITHUB_SHA": SHA,
        "GITHUB_RUN_ID": "42",
        "GITHUB_RUN_ATTEMPT": "1",
    }
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(file)],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    return Step(proc.returncode, proc.stdout + proc.stderr, _outputs(output_file))


# --- plan: the image matrix and input validation ---------------------------------------------

PLAN_DEFAULTS = {
    "INPUT_IMAGES": "",
    "INPUT_IMAGE_NAME": "",
    "INPUT_CONTEXT": ".",
    "INPUT_DOCKERFILE": "",
    "INPUT_BUILD_ARGS": "",
    "INPUT_SARIF_CATEGORY": "",
}
RELEASE_DEFAULTS = {
    "INPUT_ECR_REPOSITORY": "",
    "INPUT_MANIFESTS": "",
    "INPUT_PUSH": "false",
    "INPUT_DEPLOY": "false",
    "INPUT_SECURITY_HUB": "false",
    "INPUT_AWS_REGION": "",
    "INPUT_PUBLISH_ROLE_ARN": "",
    "INPUT_PUSH_ROLE_ARN": "",
    "INPUT_DEPLOY_ROLE_ARN": "",
    "INPUT_EKS_CLUSTER": "",
    "INPUT_EKS_NAMESPACE": "default",
    "INPUT_IMAGE_TAG": "",
    "INPUT_TAG_ENVIRONMENT": "",
    "INPUT_LIMITS_SSM_PREFIX": "",
    "INPUT_LIMITS_ROLE_ARN": "",
    "INPUT_SNS_TOPIC_ARN": "",
    "INPUT_NOTIFY_ROLE_ARN": "",
    "INPUT_MONITORING_EVENT_BUS": "",
    "INPUT_DEFAULT_BRANCH": "main",
}
ROLE = "arn:aws:iam::123456789012:role/scangate-{}"
RELEASE_PLAN = "Check the release inputs"


def plan(tmp_path: Path, **inputs: str) -> Step:
    """The plan step as it is, with the real `scangate plan images` (this checkout's, through
    PYTHONPATH, as the setup action installs the release's)."""
    env = {**PLAN_DEFAULTS, "SCANGATE": SCANGATE, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    env.update({f"INPUT_{k.upper()}": v for k, v in inputs.items()})
    return run_script(_script("plan", "Plan the images"), env, tmp_path)


def with_ids(matrix: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The matrix as container-scan.yml's results job hands it on: each image's artifact ids."""
    return [{**entry, "image_artifact": str(1100 + entry["index"]),
             "scan_artifact": str(1200 + entry["index"]),
             "reports_artifact": str(1300 + entry["index"])} for entry in matrix]


def handoff(tmp_path: Path, decision: str = "pass", **inputs: str) -> str:
    """What container-scan.yml's results job hands a release: its own plan's matrix, with ids."""
    step = plan(tmp_path / "scan", **inputs)
    assert step.returncode == 0, step.output
    return json.dumps({"call": step.outputs["call"],
                       "matrix": with_ids(json.loads(step.outputs["matrix"])),
                       "decision": decision, "policy": "", "plan_artifact": "1000"})


def release_plan(tmp_path: Path, scan: str | None = None, **inputs: str) -> Step:
    """The release's plan step as it is, with the real `scangate plan release`."""
    env = {**RELEASE_DEFAULTS, "INPUT_SCAN": scan if scan is not None else handoff(tmp_path),
           "SCANGATE": SCANGATE, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    env.update({f"INPUT_{k.upper()}": v for k, v in inputs.items()})
    return run_script(_script("plan", RELEASE_PLAN, release=True), env, tmp_path)


def test_plan_single_image_defaults(tmp_path: Path) -> None:
    step = plan(tmp_path)
    assert step.returncode == 0, step.output
    assert json.loads(step.outputs["matrix"]) == [
        {
            "index": 0,
            "name": "my-service",
            "context": ".",
            "dockerfile": "./Dockerfile",
            "build_args": "",
            "ecr_repository": "",
            "manifests": "",
            "sarif_category": "scangate-my-service",
        }
    ]
    assert re.fullmatch(r"[0-9a-f]{8}", step.outputs["call"])


def test_plan_several_images_with_overrides_and_shared_defaults(tmp_path: Path) -> None:
    images = [
        {"name": "api", "context": "services/api"},
        {
            "name": "worker",
            "context": "services/worker",
            "dockerfile": "services/worker/Dockerfile.prod",
            "build-args": ["A=1", "B=2"],
            "ecr-repository": "team/worker",
            "sarif-category": "worker-image",
            "manifests": "deploy/worker",
        },
    ]
    step = plan(tmp_path, images=json.dumps(images), build_args="BASE=x\n")
    assert step.returncode == 0, step.output
    api, worker = json.loads(step.outputs["matrix"])
    assert api == {
        "index": 0,
        "name": "api",
        "context": "services/api",
        "dockerfile": "services/api/Dockerfile",
        "build_args": "BASE=x\n",
        "ecr_repository": "",
        "manifests": "",
        "sarif_category": "scangate-api",
    }
    assert worker["dockerfile"] == "services/worker/Dockerfile.prod"
    assert worker["build_args"] == "A=1\nB=2"
    assert worker["ecr_repository"] == "team/worker"
    assert worker["sarif_category"] == "worker-image"
    assert worker["manifests"] == "deploy/worker"
    # The release fills what an entry leaves empty from its own inputs.
    assert worker["index"] == 1
    scan = json.dumps({"call": step.outputs["call"], "matrix": with_ids([api, worker]),
                       "decision": "pass", "policy": "", "plan_artifact": "1000"})
    release = release_plan(tmp_path / "release", scan, manifests="deploy/all")
    assert release.returncode == 0, release.output
    api, worker = json.loads(release.outputs["matrix"])
    assert (api["ecr_repository"], api["manifests"]) == ("api", "deploy/all")
    assert (worker["ecr_repository"], worker["manifests"]) == ("team/worker", "deploy/worker")
    assert release.outputs["call"] == step.outputs["call"]


@pytest.mark.parametrize(
    ("images", "message"),
    [
        ("not json", "non-empty JSON array"),
        ("[]", "non-empty JSON array"),
        ('[{"name": "a", "contxt": "."}]', "unknown key(s) contxt"),
        ('[{"name": "a"}, {"name": "a"}]', "image names must be unique"),
        ('[{"name": "Bad_Name"}]', "must be lowercase"),
        ('[{"context": "."}]', "must be lowercase"),
        ('["api"]', "must be an object"),
        ('[{"name": "a", "build-args": {"A": 1}}]', "must be a string"),
        # Code scanning keeps one analysis per category (platform-rules.md, github/codeql-action
        # upload-lib.ts): a shared explicit category would replace one image's alerts.
        ('[{"name": "a", "sarif-category": "x"}, {"name": "b", "sarif-category": "x"}]',
         "sarif-category x is given to more than one image"),
        ('[{"name": "a"}, {"name": "b", "sarif-category": "scangate-a"}]',
         "sarif-category scangate-a is given to more than one image"),
    ],
)
def test_plan_rejects_bad_images(tmp_path: Path, images: str, message: str) -> None:
    step = plan(tmp_path, images=images)
    assert step.returncode == 2, step.output
    assert message in step.output
    assert "matrix" not in step.outputs


@pytest.mark.parametrize(
    "scan",
    ["", "not json", '{"call": "1234", "matrix": [{"name": "a"}], "decision": "pass"}',
     '{"call": "0123abcd", "matrix": [], "decision": "pass"}',
     '{"call": "0123abcd", "matrix": [{"name": "a"}], "decision": "maybe"}'],
)
def test_release_refuses_anything_but_the_scans_handoff(tmp_path: Path, scan: str) -> None:
    step = release_plan(tmp_path, scan)
    assert step.returncode == 2, step.output
    assert "scan must be the handoff output" in step.output
    assert "matrix" not in step.outputs


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"push": "true", "aws_region": "eu-west-1"}, "push needs push-role-arn"),
        ({"push": "true", "push_role_arn": ROLE.format("push")}, "aws-region must be"),
        (
            {"deploy": "true", "aws_region": "eu-west-1", "deploy_role_arn": ROLE.format("d")},
            "deploy needs push",
        ),
        (
            {"security_hub": "true", "aws_region": "eu-west-1"},
            "security-hub needs publish-role-arn",
        ),
        (
            {
                "push": "true",
                "aws_region": "eu-west-1",
                "push_role_arn": ROLE.format("push"),
                "image_tag": "bad tag",
            },
            "image-tag is not a valid tag",
        ),
        (
            {
                "push": "true",
                "deploy": "true",
                "aws_region": "eu-west-1",
                "push_role_arn": ROLE.format("push"),
                "deploy_role_arn": ROLE.format("deploy"),
                "eks_cluster": "prod",
            },
            "deploy needs manifests",
        ),
        (
            {"push": "true", "aws_region": "eu-west-1", "push_role_arn": ROLE.format("push"),
             "ecr_repository": "Team/Bad"},
            "not a valid ECR repository name for image(s): my-service",
        ),
        ({"monitoring_event_bus": "default"}, "monitoring-event-bus needs deploy"),
        (
            {
                "push": "true",
                "deploy": "true",
                "aws_region": "eu-west-1",
                "push_role_arn": ROLE.format("push"),
                "deploy_role_arn": ROLE.format("deploy"),
                "eks_cluster": "prod",
                "manifests": "deploy/k8s",
                "monitoring_event_bus": "default; rm -rf /",
            },
            "monitoring-event-bus must be an EventBridge bus",
        ),
    ],
)
def test_plan_fails_early_on_aws_inputs_that_would_fail_later(
    tmp_path: Path, inputs: dict[str, str], message: str
) -> None:
    step = release_plan(tmp_path, **inputs)
    assert step.returncode == 2, step.output
    assert message in step.output


def test_plan_accepts_a_complete_release(tmp_path: Path) -> None:
    step = release_plan(
        tmp_path,
        push="true",
        deploy="true",
        security_hub="true",
        aws_region="eu-west-1",
        push_role_arn=ROLE.format("push"),
        deploy_role_arn=ROLE.format("deploy"),
        publish_role_arn=ROLE.format("publish"),
        eks_cluster="prod",
        manifests="deploy/k8s",
        image_tag="v1.2.3",
        monitoring_event_bus="arn:aws:events:eu-west-1:123456789012:event-bus/default",
    )
    assert step.returncode == 0, step.output
    assert step.outputs["decision"] == "pass"
    assert json.loads(step.outputs["matrix"])[0]["ecr_repository"] == "my-service"


def test_the_scan_workflow_has_no_oidc_cross_check() -> None:
    """Nothing in container-scan.yml asks for an OIDC token (issue: the cross-check made every
    caller grant id-token); the pins alone say which release runs."""
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "ACTIONS_ID_TOKEN_REQUEST" not in text and "id-token: write" not in text


# --- the image identity: build, scan and push agree on it -------------------------------------


def _docker_archive(path: Path, config: dict[str, Any], layout: str = "legacy") -> str:
    """A minimal image tarball; returns its image ID (sha256 of the config blob).

    legacy: `docker save` before Docker 25 (manifest.json, `<id>.json`); oci: Docker 25+ and
    Buildx `type=docker` (an OCI layout: oci-layout, index.json, blobs/sha256/..., plus a
    manifest.json pointing into blobs); oci-only: Buildx `type=oci` (no manifest.json), with
    the index pointing at an image index, as Buildx writes for attestations or platforms."""
    blob = json.dumps(config).encode()
    digest = hashlib.sha256(blob).hexdigest()
    config_name = f"{digest}.json" if layout == "legacy" else f"blobs/sha256/{digest}"
    files: list[tuple[str, bytes]] = [(config_name, blob)]
    if layout != "oci-only":
        manifest = json.dumps([{"Config": config_name, "RepoTags": ["x:y"], "Layers": []}])
        files.append(("manifest.json", manifest.encode()))
    if layout != "legacy":
        image_manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": f"sha256:{digest}", "size": len(blob)},
            "layers": [],
        }).encode()  # fmt: skip
        top = image_manifest
        files.append((f"blobs/sha256/{hashlib.sha256(image_manifest).hexdigest()}", image_manifest))
        if layout == "oci-only":
            nested = json.dumps({
                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "digest": f"sha256:{hashlib.sha256(image_manifest).hexdigest()}",
                               "size": len(image_manifest)}],
            }).encode()  # fmt: skip
            files.append((f"blobs/sha256/{hashlib.sha256(nested).hexdigest()}", nested))
            top = nested
        index = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"digest": f"sha256:{hashlib.sha256(top).hexdigest()}",
                           "size": len(top)}],
        }).encode()  # fmt: skip
        files += [("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'), ("index.json", index)]
    with tarfile.open(path, "w") as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return f"sha256:{digest}"


@pytest.mark.parametrize("layout", ["legacy", "oci", "oci-only"])
def test_build_records_the_config_digest_not_the_actions_word(tmp_path: Path, layout: str) -> None:
    (tmp_path / "scangate-image").mkdir(parents=True)
    image_id = _docker_archive(
        tmp_path / "scangate-image" / "image.tar", {"os": "linux", "n": layout}, layout
    )
    env = {"INPUT_NAME": "api", "INPUT_BUILD_IMAGE_ID": "sha256:" + "f" * 64, **_SCANGATE_ENV}
    step = run_script(_script("build", "Record the image identity"), env, tmp_path)
    assert step.returncode == 0, step.output
    assert "::warning" in step.output  # the action's differing ID is reported, not used
    record = json.loads((tmp_path / "scangate-image" / "image.json").read_text())
    tar_sha = hashlib.sha256((tmp_path / "scangate-image" / "image.tar").read_bytes()).hexdigest()
    assert record == {"name": "api", "image-id": image_id, "tarball-sha256": tar_sha}


def _push_check(
    tmp_path: Path, scanned_id: str | None, tamper: bool = False, decision: str | None = "pass"
) -> Step:
    image_dir = tmp_path / "scangate-image"
    image_dir.mkdir(parents=True)
    image_id = _docker_archive(image_dir / "image.tar", {"os": "linux"})
    tar_sha = hashlib.sha256((image_dir / "image.tar").read_bytes()).hexdigest()
    (image_dir / "image.json").write_text(
        json.dumps({"name": "api", "image-id": image_id, "tarball-sha256": tar_sha})
    )
    if tamper:
        with (image_dir / "image.tar").open("ab") as handle:
            handle.write(b"\0" * 1024)
    (tmp_path / "scangate-scan").mkdir()
    (tmp_path / "scangate-scan" / "trivy.json").write_text(
        json.dumps({"Metadata": {"ImageID": scanned_id or image_id}})
    )
    if decision is not None:
        (tmp_path / "scangate-reports").mkdir()
        (tmp_path / "scangate-reports" / "summary.json").write_text(json.dumps({
            "decision": decision, "violations": [],
            "counts": {"critical": 0, "high": 0, "medium": 0, "low": 0, "unknown": 0}}))
    return run_script(
        _script("push", "Check the tarball is the scanned image and it passed"), _SCANGATE_ENV,
        tmp_path)


def test_push_accepts_only_the_scanned_image(tmp_path: Path) -> None:
    ok = _push_check(tmp_path / "ok", None)
    assert ok.returncode == 0, ok.output
    assert ok.outputs["image-id"].startswith("sha256:")
    other = _push_check(tmp_path / "other", "sha256:" + "a" * 64)
    assert other.returncode == 1
    assert "Trivy scanned" in other.output
    tampered = _push_check(tmp_path / "tampered", None, tamper=True)
    assert tampered.returncode == 1
    assert "not the tarball the build job wrote" in tampered.output


@pytest.mark.parametrize("decision", ["fail", "error", "", None])
def test_push_refuses_without_a_recorded_pass(tmp_path: Path, decision: str | None) -> None:
    """Even if the job were started by mistake (a wrong `if:`), no recorded pass, no push."""
    step = _push_check(tmp_path, None, decision=decision)
    if decision is None:  # no summary at all: an error, named
        assert step.returncode == 2 and "summary.json is missing" in step.output, step.output
    else:
        assert step.returncode == 1 and "not pushing" in step.output, step.output


# --- results: the workflow's outputs from the per-image records -------------------------------


CALL = "1a2b3c4d"


def _results(tmp_path: Path, images: dict[str, dict[str, Any]], attempt: int = 1) -> Step:
    base = tmp_path / "scangate-results"
    matrix = []
    for index, (name, record) in enumerate(images.items()):
        matrix.append({"index": index, "name": name})
        if "image_id" in record:
            (base / f"scangate-scan-{name}-{CALL}-{attempt}").mkdir(parents=True)
            (base / f"scangate-scan-{name}-{CALL}-{attempt}" / "image.json").write_text(
                json.dumps({"image-id": record["image_id"]})
            )
        if "summary" in record:
            (base / f"scangate-reports-{name}-{CALL}-{attempt}").mkdir(parents=True)
            # A summary as scangate gate writes it needs its violations (scangate.gate_summary).
            (base / f"scangate-reports-{name}-{CALL}-{attempt}" / "summary.json").write_text(
                json.dumps({"violations": [], **record["summary"]})
            )
        if "push" in record:
            (base / f"scangate-push-{name}-{CALL}-{attempt}").mkdir(parents=True)
            (base / f"scangate-push-{name}-{CALL}-{attempt}" / "push.json").write_text(
                json.dumps(record["push"])
            )
    # The build and scan legs' outputs: image 0 uploaded, its gate's reports id missing.
    env = {**_results_env(tmp_path, matrix, attempt), "INPUT_POLICY": ".scangate/policy.yaml",
           "INPUT_PLAN_ARTIFACT": "1000",
           "INPUT_IMAGE_ARTIFACTS": json.dumps({"image-0": "1100", "image-1": ""}),
           "INPUT_SCAN_ARTIFACTS": json.dumps({"scan-0": "1200"}),
           "INPUT_REPORTS_ARTIFACTS": "{}"}
    return run_script(_script("results", "Collect the results"), env, tmp_path)


def _results_env(tmp_path: Path, matrix: list[dict[str, Any]], attempt: int) -> dict[str, str]:
    """The env: blocks of the results steps (scangate results)."""
    return {"SCANGATE": SCANGATE, "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            "INPUT_MATRIX": json.dumps(matrix), "INPUT_CALL": CALL,
            "INPUT_DOWNLOADS": str(tmp_path / "scangate-results"),
            "INPUT_ATTEMPT": str(attempt)}


def _release_results(tmp_path: Path, images: dict[str, dict[str, Any]], attempt: int = 1) -> Step:
    _results(tmp_path, images, attempt)  # lays out the records as the downloads do
    env = _results_env(tmp_path, [{"index": i, "name": name} for i, name in enumerate(images)],
                       attempt)
    return run_script(_script("results", "Collect the push records", release=True), env, tmp_path)


def test_results_read_the_newest_attempt(tmp_path: Path) -> None:
    """A gate that failed in attempt 1 and passed on "Re-run failed jobs" (attempt 2): the
    outputs are attempt 2's."""
    _results(tmp_path, {"api": {"image_id": "sha256:1", "summary": {"decision": "fail",
                                                                     "counts": _counts(1)}}})
    step = _results(tmp_path, {"api": {"summary": {"decision": "pass", "counts": _counts()}}}, 2)
    assert step.returncode == 0, step.output
    assert step.outputs["decision"] == "pass"


def _counts(critical: int = 0, high: int = 0) -> dict[str, int]:
    return {"critical": critical, "high": high, "medium": 1, "low": 0, "unknown": 0}


def test_results_single_image_pushed(tmp_path: Path) -> None:
    pushed = {"image-digest": "sha256:" + "d" * 64, "image-uri": "r/x@sha256:" + "d" * 64}
    step = _results(
        tmp_path,
        {
            "api": {
                "image_id": "sha256:" + "c" * 64,
                "summary": {"decision": "pass", "counts": _counts()},
                "push": pushed,
            }
        },
    )
    assert step.returncode == 0, step.output
    assert step.outputs["decision"] == "pass"
    assert json.loads(step.outputs["counts"]) == _counts()
    assert step.outputs["image-id"] == "sha256:" + "c" * 64
    # The hand-off to container-release.yml: this call's artifacts, images, policy, decision.
    assert json.loads(step.outputs["handoff"]) == {
        "call": CALL, "decision": "pass", "policy": ".scangate/policy.yaml",
        "plan_artifact": "1000",
        "matrix": [{"index": 0, "name": "api", "image_artifact": "1100", "scan_artifact": "1200",
                    "reports_artifact": ""}],
    }
    release = _release_results(tmp_path / "release", {"api": {"push": pushed}})
    assert release.returncode == 0, release.output
    assert release.outputs["image-digest"] == pushed["image-digest"]
    assert release.outputs["image-uri"] == pushed["image-uri"]
    assert json.loads(release.outputs["pushed"]) == {"api": pushed}


def test_release_results_never_read_a_later_attempt(tmp_path: Path) -> None:
    """A record named for an attempt above this one is not this run's: it is never read."""
    pushed = {"image-digest": "sha256:" + "d" * 64, "image-uri": "r/x@sha256:" + "d" * 64}
    _results(tmp_path, {"api": {"push": pushed}}, attempt=3)
    release = _release_results(tmp_path, {"api": {}}, attempt=2)
    assert release.returncode == 0, release.output
    assert release.outputs["image-digest"] == "" and json.loads(release.outputs["pushed"]) == {}


def test_results_several_images_sum_and_the_worst_decision_wins(tmp_path: Path) -> None:
    step = _results(
        tmp_path,
        {
            "api": {"image_id": "sha256:1", "summary": {"decision": "pass", "counts": _counts()}},
            "worker": {
                "image_id": "sha256:2",
                "summary": {"decision": "fail", "counts": _counts(critical=2, high=1)},
            },
        },
    )
    assert step.returncode == 0, step.output
    assert step.outputs["decision"] == "fail"
    assert json.loads(step.outputs["counts"]) == {
        "critical": 2,
        "high": 1,
        "medium": 2,
        "low": 0,
        "unknown": 0,
    }
    assert step.outputs["image-id"] == ""  # scalar outputs are for a single image
    results = json.loads(step.outputs["results"])
    assert results["worker"]["decision"] == "fail" and results["api"]["decision"] == "pass"
    assert json.loads(step.outputs["handoff"])["decision"] == "fail"


def test_results_an_image_without_a_summary_is_an_error(tmp_path: Path) -> None:
    step = _results(
        tmp_path,
        {
            "api": {"image_id": "sha256:1", "summary": {"decision": "fail", "counts": _counts(1)}},
            "worker": {"image_id": "sha256:2"},
        },
    )
    assert step.returncode == 0, step.output
    assert step.outputs["decision"] == "error"
    assert json.loads(step.outputs["results"])["worker"]["counts"] is None


# --- actions/gate: its Gate step (scangate gate-job run) -------------------------------------


def gate_action(tmp_path: Path, **inputs: str) -> Step:
    """actions/gate's Gate step as it is, its inputs as its `env:` block gives them."""
    env = {"SCANGATE": SCANGATE, "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
           **{f"INPUT_{k.upper()}": v for k, v in inputs.items()}}
    return run_script(action_script(GATE_ACTION, "Gate"), env, tmp_path)


_gate = gate_action


def test_gate_step_reports_a_violation_without_failing_the_step(tmp_path: Path) -> None:
    trivy = tmp_path / "in" / "trivy.json"
    trivy.parent.mkdir(parents=True)
    trivy.write_text(
        json.dumps(image_report([vuln(severity="CRITICAL"), vuln("CVE-2", severity="LOW")]))
    )
    step = _gate(tmp_path, reports=f"{trivy}\n", sarif_category="scangate-api")
    assert step.returncode == 0, step.output  # the uploads after it must still run
    assert step.outputs["exit-code"] == "1"
    assert step.outputs["decision"] == "fail"
    assert json.loads(step.outputs["counts"])["critical"] == 1
    assert step.outputs["critical"] == "1" and step.outputs["low"] == "1"
    out = Path(step.outputs["output-dir"])
    assert step.outputs["sarif"] == str(out / "scangate.sarif")
    sarif = json.loads((out / "scangate.sarif").read_text())
    assert sarif["runs"][0]["automationDetails"]["id"] == "scangate-api/"
    assert (out / "reports" / "1-trivy.json").read_bytes() == trivy.read_bytes()
    assert "Security gate" in (tmp_path / "step_summary.md").read_text()


def test_gate_step_passes_within_the_limits(tmp_path: Path) -> None:
    trivy = tmp_path / "trivy.json"
    trivy.write_text(json.dumps(image_report([vuln(severity="HIGH")])))
    step = _gate(tmp_path, reports=str(trivy), max_high="1", fail_on="", ignore_unfixed="false")
    assert step.returncode == 0, step.output
    assert (step.outputs["exit-code"], step.outputs["decision"]) == ("0", "pass")


def test_gate_step_error_leaves_no_result_that_looks_like_one(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    step = _gate(tmp_path, reports=str(broken))
    assert step.returncode == 0, step.output
    assert (step.outputs["exit-code"], step.outputs["decision"]) == ("2", "error")
    assert "sarif" not in step.outputs and "counts" not in step.outputs
    empty = _gate(tmp_path / "empty", reports="\n  \n")
    assert empty.outputs["decision"] == "error"
    # An input that is not true/false fails the step itself, with no decision recorded: the
    # action's Enforce step then fails the job (tests/github/test_gates_hold.py).
    bad_flag = _gate(tmp_path / "flag", reports=str(broken), ignore_unfixed="yes")
    assert bad_flag.returncode == 2 and "decision" not in bad_flag.outputs
    assert "ignore-unfixed must be true or false" in bad_flag.output


def test_install_refuses_a_directory_that_is_not_scangate(tmp_path: Path) -> None:
    fake = tmp_path / "actions" / "setup"
    fake.mkdir(parents=True)
    script = REPO_ROOT / "actions" / "setup" / "install.sh"
    (fake / "install.sh").write_text(script.read_text())
    proc = subprocess.run(
        ["bash", str(fake / "install.sh")],
        env={"PATH": os.environ["PATH"], "SCANGATE_VENV": str(tmp_path / "venv")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "is not a scangate checkout" in proc.stderr


# --- deploy: pin by digest, apply, wait ----------------------------------------------------------

ECR_REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/user-authenticator"
DEPLOY = "Deploy by digest and wait for the rollouts"
MARK = "Tell the registry monitor what is deployed"


def _recording_scangate(bin_dir: Path, exit_code: int = 0) -> Path:
    """A stand-in for the `scangate` executable that records its arguments: `scangate deploy`
    itself (pinning, kind checks, kubectl) is tested in tests/steps against moto and a
    recording kubectl; here only the workflow's orchestration of it is under test."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    calls = bin_dir / "calls.jsonl"
    script = bin_dir / "scangate"
    script.write_text(
        "#!/usr/bin/env bash\n"
        f"jq -cn '$ARGS.positional' --args -- \"$@\" >>'{calls}'\n"
        f"exit {exit_code}\n"
    )
    script.chmod(0o755)
    return calls


def _deploy(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    images: dict[str, str],
    attempts: dict[str, dict[int, str]],
    exit_code: int = 0,
    current: int = 10,
    event_bus: str = "",
) -> tuple[int, list[list[str]]]:
    """The deploy step (scangate deploy-job) with its env: block's values. images: name ->
    manifests directory; attempts: name -> {run attempt: image-uri}, laid out as the push job
    uploads them (`scangate-push-<name>-<call>-<attempt>`). The subcommands it runs are
    recorded, a test double: `scangate deploy` itself (pinning, kind checks, kubectl, the
    order) is tested in tests/steps and tests/templates, mark-deployed in tests/monitor; a
    recorded deploy writes its --output record as `scangate deploy` does (the images it got)."""
    from scangate import step_outputs
    from scangate._cli import main

    for name, by_attempt in attempts.items():
        for attempt, uri in by_attempt.items():
            record = tmp_path / "scangate-push" / f"scangate-push-{name}-{CALL}-{attempt}"
            record.mkdir(parents=True, exist_ok=True)
            (record / "push.json").write_text(json.dumps({"image-uri": uri}))
    step = next(s for s in yaml.safe_load(RELEASE.read_text(encoding="utf-8"))["jobs"]["deploy"]
                ["steps"] if s.get("name") == DEPLOY)  # fmt: skip
    values = {
        "INPUT_KUBECTL": "/opt/kubectl", "INPUT_KUBECTL_SHA256": "a" * 64,
        "INPUT_MATRIX": json.dumps([{"name": n, "manifests": m} for n, m in images.items()]),
        "INPUT_CALL": CALL, "INPUT_DOWNLOADS": str(tmp_path / "scangate-push"),
        "INPUT_ATTEMPT": str(current), "INPUT_ORDER": "4242", "INPUT_CLUSTER": "prod",
        "INPUT_NAMESPACE": "user-authenticator", "INPUT_AWS_REGION": "eu-west-1",
        "INPUT_ROLLOUT_TIMEOUT": "5m",
    }  # fmt: skip
    assert set(step["env"]) == {"SCANGATE", *values}, "the test gives what env: gives"
    monkeypatch.delenv("INPUT_MONITORING_EVENT_BUS", raising=False)  # not the deploy step's
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    calls: list[list[str]] = []

    def record(argv: list[str]) -> int:
        calls.append(argv)
        out = next((a.split("=", 1)[1] for a in argv if a.startswith("--output=")), "")
        if argv[0] == "deploy" and out and exit_code == 0:
            images = [json.loads(Path(a.split("=", 1)[1]).read_text())["image-uri"]
                      for a in argv if a.startswith("--push-record=")]
            Path(out).write_text(json.dumps({"images": images}))
        return exit_code

    monkeypatch.setattr(step_outputs, "run_scangate", record)
    assert step["run"] == ('"$SCANGATE" --inputs-from-env deploy-job --records-dir '
                           '"$RUNNER_TEMP/scangate-deploy"')
    code = main(["--inputs-from-env", "deploy-job", "--records-dir",
                 str(tmp_path / "scangate-deploy")])
    if code != 0 or not event_bus:
        return code, calls
    # The mark step, after the deploy step (and the deployed-run marker) succeeded.
    mark = next(s for s in yaml.safe_load(RELEASE.read_text(encoding="utf-8"))["jobs"]["deploy"]
                ["steps"] if s.get("name") == MARK)  # fmt: skip
    assert mark["if"] == "inputs.monitoring-event-bus != ''"
    assert mark["run"] == ('"$SCANGATE" --inputs-from-env deploy-job --mark-only --records-dir '
                           '"$RUNNER_TEMP/scangate-deploy"')
    monkeypatch.setenv("INPUT_MONITORING_EVENT_BUS", event_bus)
    assert set(mark["env"]) <= {"SCANGATE", "INPUT_MONITORING_EVENT_BUS", *values}
    code = main(["--inputs-from-env", "deploy-job", "--mark-only", "--records-dir",
                 str(tmp_path / "scangate-deploy")])
    return code, calls


def _records(call: list[str]) -> list[str]:
    return [a.split("=", 1)[1] for a in call if a.startswith("--push-record=")]


def _flag(call: list[str], name: str) -> str:
    return next(a.split("=", 1)[1] for a in call if a.startswith(f"--{name}="))


def test_deploy_runs_scangate_deploy_once_per_manifests_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, calls = _deploy(
        tmp_path, monkeypatch,
        {"api": "deploy/a", "worker": "deploy/a", "batch": "deploy/b"},
        {n: {1: f"{ECR_REPO}-{n}@sha256:" + "e" * 64} for n in ("api", "worker", "batch")},
    )
    assert code == 0
    assert len(calls) == 2
    by_dir = {_flag(c, "manifests"): c for c in calls}
    assert set(by_dir) == {"deploy/a", "deploy/b"}
    assert len(_records(by_dir["deploy/a"])) == 2 and len(_records(by_dir["deploy/b"])) == 1
    for call in calls:
        assert call[0] == "deploy"
        assert _flag(call, "kubectl-sha256") == "a" * 64
        assert _flag(call, "namespace") == "user-authenticator"
        assert _flag(call, "order") == "4242"  # github.run_id: the deploy order


def test_deploy_uses_the_newest_attempts_push(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After "Re-run failed jobs" the run holds the push records of several attempts; the
    newest (attempt 10 sorts after 9 as a number, not as text) is the one deployed."""
    code, calls = _deploy(
        tmp_path, monkeypatch, {"api": "deploy/a"}, {"api": {1: "old", 9: "old", 10: "new"}}
    )
    assert code == 0
    (record,) = _records(calls[0])
    assert json.loads(Path(record).read_text())["image-uri"] == "new"


def test_deploy_never_takes_a_record_above_this_attempt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record named for attempt 7 while this is attempt 2 was not written by this run's push
    (stale or planted): attempt 2's own record is deployed."""
    code, calls = _deploy(tmp_path, monkeypatch, {"api": "deploy/a"},
                          {"api": {2: "mine", 7: "planted"}}, current=2)  # fmt: skip
    assert code == 0
    (record,) = _records(calls[0])
    assert json.loads(Path(record).read_text())["image-uri"] == "mine"


def test_only_the_vulnerability_db_is_cached_never_the_layer_cache() -> None:
    """Trivy's cache directory also holds its layer analyses (unless scangate scan keeps them in
    memory) and the Java DB: a poisoned layer entry would hide an image's packages. Only db/
    is restored and saved, under one key."""
    steps = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]["scan"]["steps"]
    cached = [s for s in steps if "actions/cache/" in str(s.get("uses", ""))]
    assert len(cached) == 2, cached
    assert {s["with"]["path"] for s in cached} == {"${{ runner.temp }}/scangate-trivy-db/db"}
    assert len({s["with"]["key"] for s in cached}) == 1
    # Issue 19 §3: any default-branch job can write an entry every branch restores, so the DB is
    # cached only when pinned, under the pin (never a ref or a day an attacker can predict).
    for step in cached:
        assert step["with"]["key"] == "scangate-trivy-db-${{ inputs.trivy-db-digest }}"
        assert "inputs.trivy-db-digest != ''" in step["if"]
    scan = next(s for s in steps if s.get("name") == "Scan the tarball with Trivy")
    assert '--cache-dir "$RUNNER_TEMP/scangate-trivy-db"' in scan["run"]


def test_the_java_db_repository_reaches_scangate_scan(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    calls = _recording_scangate(bin_dir)
    env = {"SCANGATE": str(bin_dir / "scangate"), "TRIVY": "/opt/trivy",
           "INPUT_SCANNERS": "vuln", "INPUT_DB_REPOSITORY": "",
           "INPUT_JAVA_DB_REPOSITORY": "registry.example/trivy-java-db:1",
           "INPUT_DB_DIGEST": ""}  # fmt: skip
    step = run_script(_script("scan", "Scan the tarball with Trivy"), env, tmp_path)
    assert step.returncode == 0, step.output
    (call,) = [json.loads(line) for line in calls.read_text().splitlines()]
    argv = _with_env_inputs(call, env)
    assert "--java-db-repository=registry.example/trivy-java-db:1" in argv
    assert not [a for a in argv if a.startswith("--db-repository")]


def _with_env_inputs(call: list[str], env: dict[str, str]) -> list[str]:
    """A recorded `scangate --inputs-from-env COMMAND ...` as scangate resolves it."""
    from scangate._cli import build_parser
    from scangate.env_inputs import argv_with_env_inputs

    assert call[0] == "--inputs-from-env", call
    return argv_with_env_inputs(build_parser(call[1:]), call[1:], env)


@pytest.mark.parametrize("pin", ["", "sha256:" + "ab" * 32])
def test_the_scan_step_never_scans_with_an_unverified_db(tmp_path: Path, pin: str) -> None:
    """Issue 21 §2: the DB is the pinned one (--db-digest) or this scan's own download
    (--fresh-db-unless-pinned), never whatever the cache holds; the call, with the inputs it
    reads from the environment, parses with scangate's own CLI."""
    from scangate._cli import build_parser

    bin_dir = tmp_path / "bin"
    calls = _recording_scangate(bin_dir)
    env = {"SCANGATE": str(bin_dir / "scangate"), "TRIVY": "/opt/trivy",
           "INPUT_SCANNERS": "vuln", "INPUT_DB_REPOSITORY": "", "INPUT_JAVA_DB_REPOSITORY": "",
           "INPUT_DB_DIGEST": pin}  # fmt: skip
    step = run_script(_script("scan", "Scan the tarball with Trivy"), env, tmp_path)
    assert step.returncode == 0, step.output
    (call,) = [json.loads(line) for line in calls.read_text().splitlines()]
    argv = _with_env_inputs(call, env)
    args = build_parser(argv).parse_args(argv)
    # --fresh-db-unless-pinned is --fresh-db when no --db-digest is given (scangate scan).
    assert (args.db_digest, args.fresh_db_unless_pinned) == (pin or None, True)


def test_the_image_tarball_is_uploaded_uncompressed() -> None:
    steps = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]["build"]["steps"]
    (upload,) = [s for s in steps if "upload-artifact" in str(s.get("uses", ""))]
    assert upload["with"]["compression-level"] == 0


def test_deploy_without_a_push_record_deploys_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, calls = _deploy(tmp_path, monkeypatch, {"api": "deploy/a", "worker": "deploy/a"},
                          {"api": {1: "x"}})
    assert code == 2
    assert "no push record for image worker" in capsys.readouterr().err
    assert calls == []


def test_a_failed_deploy_fails_the_step_and_tells_the_monitor_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, calls = _deploy(tmp_path, monkeypatch, {"api": "deploy/a", "batch": "deploy/b"},
                          {"api": {1: "x"}, "batch": {1: "y"}}, exit_code=2,
                          event_bus="scangate")
    assert code == 2
    assert [c[0] for c in calls] == ["deploy"]  # the first failure stops the rest
    # And the mark step alone, with no deploy record, marks nothing.
    monkeypatch.setenv("INPUT_MONITORING_EVENT_BUS", "scangate")
    from scangate._cli import main

    assert main(["--inputs-from-env", "deploy-job", "--mark-only", "--records-dir",
                 str(tmp_path / "none")]) == 2


def test_mark_deployed_sends_the_deploy_records_digests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One record per manifests directory; after all deploys succeeded, every record goes to
    `scangate mark-deployed --deploy-record` (which sends the digests in it, tested against
    moto in tests/monitor), never a tag; the deploy role's credentials of this job send it (no
    role, no secret of its own)."""
    uris = {n: f"{ECR_REPO}-{n}@sha256:" + c * 64 for n, c in (("api", "a"), ("batch", "b"))}
    code, calls = _deploy(tmp_path, monkeypatch, {"api": "deploy/a", "batch": "deploy/b"},
                          {n: {1: u} for n, u in uris.items()}, event_bus="scangate")
    assert code == 0
    deploys = [call for call in calls if call[0] == "deploy"]
    assert [c[0] for c in calls] == ["deploy", "deploy", "mark-deployed"]
    mark = calls[-1]
    outputs = sorted(_flag(call, "output") for call in deploys)
    records = sorted(a.split("=", 1)[1] for a in mark if a.startswith("--deploy-record="))
    assert records == outputs and len(records) == 2
    sent = sorted(image for record in records
                  for image in json.loads(Path(record).read_text())["images"])
    assert sent == sorted(uris.values())
    assert _flag(mark, "event-bus") == "scangate"
    assert not [a for a in mark if a.startswith(("--repository", "--digest", "--role-arn"))]
    # Without a bus, nothing is sent.
    code, calls = _deploy(tmp_path / "quiet", monkeypatch, {"api": "deploy/a"},
                          {"api": {1: uris["api"]}})
    assert code == 0 and [c[0] for c in calls] == ["deploy"]


def test_the_deploy_runs_with_the_deploy_roles_identity() -> None:
    """Both steps run after "Assume the deploy role", whose OIDC web identity credentials are
    the ones deploy and mark-deployed use (no other role assumed in between), inputs through
    env. GitHub adds `success() &&` to a step `if:` without a status function (GitHub docs,
    "Expressions", Status check functions): the mark step runs only after every deploy and
    rollout succeeded."""
    steps = yaml.safe_load(RELEASE.read_text(encoding="utf-8"))["jobs"]["deploy"]["steps"]
    names = [step.get("name") for step in steps]
    assert names.index("Assume the deploy role") < names.index(DEPLOY) < names.index(MARK)
    assert "if" not in steps[names.index(DEPLOY)]
    mark_if = steps[names.index(MARK)]["if"]
    assert not re.search(r"always\(|failure\(|cancelled\(|success\(", mark_if)
    for step in (steps[names.index(DEPLOY)], steps[names.index(MARK)]):
        assert "continue-on-error" not in step and "${{" not in step["run"]
        assert not [key for key in step["env"] if key.startswith("AWS_")]  # no credentials
    between = steps[names.index("Assume the deploy role") + 1:names.index(MARK)]
    assert not any("configure-aws-credentials" in step.get("uses", "") for step in between)


def test_alerts_go_out_for_failures_and_errors_not_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Slack step (container-scan.yml) and the SNS step (container-release.yml) run
    `scangate results alert`: one `scangate notify` per image, a fail with its summary, an error
    with `--gate-exit-code 2`, a pass none. notify's delivery is recorded here (a test double:
    notify itself is tested against Slack and SNS stand-ins in tests/aws)."""
    from scangate import step_outputs
    from scangate._cli import main

    _results(tmp_path, {
        "api": {"image_id": "sha256:1", "summary": {"decision": "pass", "counts": _counts()}},
        "worker": {"image_id": "sha256:2", "summary": {"decision": "fail", "counts": _counts(1)}},
        "batch": {"image_id": "sha256:3"},
    })  # fmt: skip
    calls: list[list[str]] = []
    monkeypatch.setattr(step_outputs, "run_scangate", lambda argv: calls.append(argv) or 0)
    for step, topic in (("Send the alerts", ""), ("Send the SNS alerts", "arn:aws:sns:x")):
        env = _results_env(tmp_path, [{"name": n} for n in ("api", "worker", "batch")], 1)
        monkeypatch.setenv("SCANGATE_SLACK_WEBHOOK_URL", "" if topic else "https://hooks.x/y")
        for key, value in {**env, "INPUT_SNS_TOPIC_ARN": topic}.items():
            monkeypatch.setenv(key, value)
        script = _script("results", step, release=bool(topic))
        assert script.strip() == '"$SCANGATE" --inputs-from-env results alert'
        calls.clear()
        assert main(["--inputs-from-env", "results", "alert"]) == 0
        summary = tmp_path / "scangate-results" / f"scangate-reports-worker-{CALL}-1"
        sns = [f"--sns-topic-arn={topic}"] if topic else []
        assert sorted(calls) == sorted([
            ["notify", "--gate-exit-code=2", "--image=batch", *sns],
            ["notify", f"--summary={summary / 'summary.json'}", "--gate-exit-code=1",
             "--skip-pass", "--image=worker", *sns],
        ])  # fmt: skip
    # A failed delivery fails the step; with nothing configured nothing is sent.
    monkeypatch.setattr(step_outputs, "run_scangate", lambda argv: 2)
    assert main(["--inputs-from-env", "results", "alert"]) == 1
    monkeypatch.setenv("INPUT_SNS_TOPIC_ARN", "")
    assert main(["--inputs-from-env", "results", "alert"]) == 0


def test_plan_defaults_cover_the_steps_env() -> None:
    """The plan tests give each step every variable its `env:` block names, no more."""
    jobs = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]
    step = next(s for s in jobs["plan"]["steps"] if s.get("name") == "Plan the images")
    assert set(step["env"]) == {*PLAN_DEFAULTS, "SCANGATE"}
    jobs = yaml.safe_load(RELEASE.read_text(encoding="utf-8"))["jobs"]
    step = next(s for s in jobs["plan"]["steps"] if s.get("name") == RELEASE_PLAN)
    assert set(step["env"]) == {*RELEASE_DEFAULTS, "INPUT_SCAN", "SCANGATE"}


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"sns_topic_arn": "arn:aws:sns:eu-west-1:123456789012:alerts"}, "needs notify-role-arn"),
        ({"sns_topic_arn": "not-an-arn", "notify_role_arn": ROLE.format("notify"),
          "aws_region": "eu-west-1"}, "not an SNS topic ARN"),
        ({"limits_ssm_prefix": "/scangate/limits", "aws_region": "eu-west-1"},
         "needs limits-role-arn"),
        ({"tag_environment": "production"}, "must be prod, staging or dev"),
        ({"push": "true", "push_role_arn": ROLE.format("push"), "aws_region": "eu-west-1",
          "image_tag": "bad tag/"}, "image-tag is not a valid tag"),
    ],
)  # fmt: skip
def test_plan_refuses_half_configured_alerts_limits_and_tags(
    tmp_path: Path, inputs: dict[str, str], message: str
) -> None:
    step = release_plan(tmp_path, **inputs)
    assert step.returncode == 2, step.output
    assert message in step.output


@pytest.mark.parametrize(("ref", "environment"), [("refs/heads/main", "prod"),
                                                  ("refs/heads/feature", "dev")])
def test_tag_environment_defaults_per_branch(tmp_path: Path, ref: str, environment: str) -> None:
    """The ECR lifecycle rules act on prod-/dev- prefixes (templates/aws, scangate image-tag)."""
    env = {**RELEASE_DEFAULTS, "INPUT_SCAN": handoff(tmp_path), "GITHUB_REF": ref,
           "SCANGATE": SCANGATE, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    step = run_script(_script("plan", RELEASE_PLAN, release=True), env, tmp_path)
    assert step.returncode == 0, step.output
    assert step.outputs["tag-environment"] == environment


# --- scan: the real scangate scan and Trivy, fail closed ----------------------------------------


def _scan(tmp_path: Path, cache_dir: Path, pin: str = "") -> Step:
    from tests.github.test_standins import OCI_LAYOUT, _legacy_tar

    (tmp_path / "scangate-image").mkdir(parents=True)
    (tmp_path / "scangate-scan").mkdir()
    _legacy_tar(tmp_path / "legacy.tar")
    subprocess.run([sys.executable, str(OCI_LAYOUT), str(tmp_path / "legacy.tar"),
                    str(tmp_path / "scangate-image" / "image.tar"), "x/y:z"], check=True,
                   capture_output=True)  # fmt: skip
    env = {
        "SCANGATE": SCANGATE,
        "TRIVY": str(Path(sys.executable).with_name("trivy")),
        "INPUT_SCANNERS": "vuln,secret",
        "INPUT_DB_REPOSITORY": "",
        "INPUT_JAVA_DB_REPOSITORY": "",
        "INPUT_DB_DIGEST": pin,
        "RUNNER_TEMP": str(tmp_path),
    }
    script = _script("scan", "Scan the tarball with Trivy").replace(
        "$RUNNER_TEMP/scangate-trivy-db", str(cache_dir)
    )
    return run_script(script, env, tmp_path)


def test_scan_without_a_db_fails_closed(tmp_path: Path) -> None:
    """No pin, so the DB must be this scan's own download, and there is no way to download one
    (this machine is offline, as a runner whose DB download fails): the step fails with
    scangate's one line and writes no report."""
    step = _scan(tmp_path, tmp_path / "empty-cache")
    assert step.returncode == 2, step.output
    assert "failed to download vulnerability DB" in step.output
    assert not (tmp_path / "scangate-scan" / "trivy.json").exists()


def test_scan_with_the_db_reports_the_image(tmp_path: Path, trivy_cache_dir: Path) -> None:
    import shutil

    # A copy, as a restored cache would be: Trivy also writes its layer cache there.
    shutil.copytree(trivy_cache_dir / "db", tmp_path / "cache" / "db")
    step = _scan(tmp_path, tmp_path / "cache", db_digest(tmp_path / "cache"))
    assert step.returncode == 0, step.output
    report = json.loads((tmp_path / "scangate-scan" / "trivy.json").read_text())
    assert report["ArtifactType"] == "container_image"
    assert report["Metadata"]["ImageID"].startswith("sha256:")


def test_every_artifact_name_is_per_call_and_per_attempt() -> None:
    """Artifact names are unique per run and an existing name fails the upload (upload-artifact
    v4+ README): each name carries plan's call id and the uploading job's run attempt, so two
    calls in one run and "Re-run failed jobs" never collide."""
    text = WORKFLOW.read_text(encoding="utf-8") + RELEASE.read_text(encoding="utf-8")
    names = re.findall(r"^\s+(?:name|artifact-name): (scangate-[a-z]+-.*)$", text, re.M)
    assert {n.split("-")[1] for n in names} == {"plan", "image", "scan", "reports", "push",
                                                 "limits", "deployed"}, names
    for name in names:
        # The plan job names its own from the call id it has just made.
        call = "steps.images" if name.startswith("scangate-plan-") else "needs.plan"
        assert name.endswith(f"-${{{{ {call}.outputs.call }}}}-${{{{ github.run_attempt }}}}"), name
    # Nothing is read back by name or pattern: by id only (tests/github/test_artifact_ids.py).
    assert not re.findall(r"^\s+pattern: ", text, re.M)


def test_push_tags_with_this_jobs_attempt(tmp_path: Path) -> None:
    """The default tag is scangate image-tag's, with the push job's own run attempt (a re-run
    never reuses an immutable tag); scangate push gets the scanned archive, its sha256, the
    image ID and the gate's decision."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = bin_dir / "calls.jsonl"
    stub = bin_dir / "scangate"
    stub.write_text(
        "#!/usr/bin/env bash\n"
        f"jq -cn '$ARGS.positional' --args -- \"$@\" >>'{calls}'\n"
        'case "$1" in\n'
        '  image-tag) echo "prod-tag-from-scangate" ;;\n'
        '  push) out=""; while [ $# -gt 0 ]; do [ "$1" = --output ] && out=$2; shift; done\n'
        '        echo \'{"image-uri": "r/x@sha256:1"}\' >"$out" ;;\n'
        "esac\n"
    )
    stub.chmod(0o755)
    image = tmp_path / "scangate-image"
    image.mkdir()
    (image / "image.json").write_text(json.dumps({"tarball-sha256": "ab" * 32}))
    env = {"SCANGATE": str(stub), "REGISTRY": "127.0.0.1:5000", "REPOSITORY": "api",
           "REGION": "eu-west-1", "INPUT_IMAGE_TAG": "", "TAG_ENVIRONMENT": "prod",
           "IMAGE_NAME": "api", "IMAGE_ID": "sha256:" + "c" * 64, "GITHUB_RUN_ATTEMPT": "3"}
    step = run_script(_script("push", "Push the scanned tarball"), env, tmp_path)
    assert step.returncode == 0, step.output
    image_tag, push = (json.loads(line) for line in calls.read_text().splitlines())
    assert image_tag == ["image-tag", "--environment", "prod", "--sha", SHA, "--run", "42",
                         "--attempt", "3"]
    value = dict(zip(push[1::2], push[2::2], strict=False))
    assert push[0] == "push"
    assert value["--tag"] == "prod-tag-from-scangate"
    assert value["--archive-sha256"] == "ab" * 32
    # After the push, the waivers as OpenVEX for the pushed digest (issue 23).
    assert value["--openvex"].endswith("/scangate-push/scangate.openvex.json")
    assert value["--image-id"] == "sha256:" + "c" * 64
    assert value["--decision"].endswith("scangate-reports/summary.json")
    assert value["--repository"] == "127.0.0.1:5000/api"


# --- actions/securityhub: its import step (scangate securityhub) ---------------------------


def test_the_securityhub_action_passes_its_inputs(tmp_path: Path) -> None:
    """The import step as it is, `asff-only` (no AWS): the reports, one per line, reach
    `scangate securityhub`, the ASFF is written where the output says; a flag that is not
    true/false stops it with the input's name."""
    report = tmp_path / "trivy.json"
    doc = image_report([vuln(severity="HIGH")])
    doc["Metadata"]["ImageID"] = "sha256:" + "c" * 64
    report.write_text(json.dumps(doc), encoding="utf-8")
    action = REPO_ROOT / "actions" / "securityhub" / "action.yml"
    env = {"SCANGATE": SCANGATE, "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
           "INPUT_REPORT": f"{report}\n", "INPUT_REGION": "eu-west-1",
           "INPUT_ACCOUNT_ID": "123456789012", "INPUT_ASFF_ONLY": "true",
           "INPUT_ARCHIVE_MISSING": "false", "INPUT_ASFF_OUT": str(tmp_path / "asff.json")}
    step = run_script(action_script(action, "Import into Security Hub"), env, tmp_path)
    assert step.returncode == 0, step.output
    assert step.outputs == {"asff": str(tmp_path / "asff.json")}
    [finding] = json.loads((tmp_path / "asff.json").read_text())["Findings"]
    assert finding["AwsAccountId"] == "123456789012"
    bad = run_script(action_script(action, "Import into Security Hub"),
                     {**env, "INPUT_ASFF_ONLY": "yes"}, tmp_path / "bad")
    assert bad.returncode == 2 and "asff-only must be true or false" in bad.output
