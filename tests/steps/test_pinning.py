"""Deploy pinning: every container of the pushed repository gets the pushed digest, and no
container of any list (containers, initContainers, ephemeralContainers) runs an unpinned image.

Through `scangate deploy` (kubectl is the recording stand-in of tests/steps/test_deploy.py; EKS
is moto) and `scangate pin-image`. The dangerous miss is silent: a second container of the
pushed repository left on an OLD digest is "pinned" and deploys the image the gate never saw.
Pod spec fields: https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/
(containers, initContainers, ephemeralContainers each hold images the kubelet pulls).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from scangate._cli import main

from tests.steps.test_deploy import (
    CLUSTER,
    IMAGE,
    REPOSITORY,
    TEMPLATES,
    _calls,
    _deploy,
    _one_line,
    _standin,
)
from tests.support.moto_server import MotoServer

OLD_DIGEST = f"{REPOSITORY}@sha256:" + "0f" * 32
TAGGED = f"{REPOSITORY}:1.0"
UNPINNED = "docker.io/library/busybox:1.36"


@pytest.fixture
def cluster(moto: MotoServer) -> None:
    boto3.client("eks").create_cluster(name=CLUSTER, roleArn="arn:aws:iam::123456789012:role/eks",
                                       resourcesVpcConfig={"subnetIds": []})


@pytest.fixture
def deployment_only(tmp_path: Path) -> Path:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "deployment.yaml").write_bytes((TEMPLATES / "deployment.yaml").read_bytes())
    return folder


def _edit_pod_spec(folder: Path, **lists: list[dict[str, Any]]) -> None:
    path = folder / "deployment.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    spec = document["spec"]["template"]["spec"]
    for key, containers in lists.items():
        spec[key] = containers
    path.write_text(yaml.safe_dump(document), encoding="utf-8")


@pytest.mark.parametrize("images", [(TAGGED, OLD_DIGEST), (OLD_DIGEST, TAGGED)],
                         ids=["tag-then-old-digest", "old-digest-then-tag"])
def test_every_container_of_the_pushed_repository_gets_the_pushed_digest(
    cluster: None, deployment_only: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], images: tuple[str, str],
) -> None:
    kubectl, sha, log = _standin(tmp_path)
    containers = [{"name": f"c{n}", "image": image} for n, image in enumerate(images)]
    init = [{"name": f"i{n}", "image": image} for n, image in enumerate(images)]
    _edit_pod_spec(deployment_only, containers=containers, initContainers=init)
    assert _deploy(deployment_only, kubectl, sha) == 0, capsys.readouterr().err
    spec = _calls(log)[0]["applied"][0]["spec"]["template"]["spec"]
    assert [c["image"] for c in spec["containers"]] == [IMAGE, IMAGE]
    assert [c["image"] for c in spec["initContainers"]] == [IMAGE, IMAGE]


@pytest.mark.parametrize("list_key", ["initContainers", "ephemeralContainers"])
def test_an_unpinned_image_in_any_container_list_is_refused_before_applying(
    cluster: None, deployment_only: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], list_key: str,
) -> None:
    kubectl, sha, log = _standin(tmp_path)
    _edit_pod_spec(deployment_only, **{list_key: [{"name": "setup", "image": UNPINNED}]})
    err = _one_line(capsys, _deploy(deployment_only, kubectl, sha))
    assert f"not pinned by digest: {UNPINNED} in Deployment/user-authenticator" in err
    assert _calls(log) == []


def test_pin_image_pins_two_containers_of_one_repository_in_each_list(tmp_path: Path) -> None:
    source = tmp_path / "manifests"
    source.mkdir()
    pod = {"containers": [{"name": "web", "image": TAGGED}, {"name": "worker",
                                                              "image": OLD_DIGEST}],
           "initContainers": [{"name": "migrate", "image": OLD_DIGEST},
                              {"name": "seed", "image": TAGGED}]}
    (source / "job.yaml").write_text(yaml.safe_dump(
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
         "spec": {"template": {"spec": pod}}}), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["pin-image", "--manifests", str(source), "--image", IMAGE,
                 "--output", str(out)]) == 0
    rendered = yaml.safe_load((out / "job.yaml").read_text(encoding="utf-8"))
    spec = rendered["spec"]["template"]["spec"]
    assert [c["image"] for c in spec["containers"] + spec["initContainers"]] == [IMAGE] * 4
