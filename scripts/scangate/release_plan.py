"""The release plan: the scan's hand-off and the AWS inputs, checked before any role is assumed.

container-release.yml gets container-scan.yml's `handoff` output (this run's call id, image
matrix, policy and decision) and the inputs of push, Security Hub, SSM limits, SNS and deploy.
Everything that could only fail later (after a role was assumed, an image pushed) fails here,
each problem named; the plan fills each image's ECR repository and manifests and decides the
environment prefix of the pushed tag (the ECR lifecycle rules act on it).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from scangate.errors import UsageError

CALL = re.compile(r"^[0-9a-f]{8}$")
ROLE = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")
SNS_TOPIC = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$")
SSM_PREFIX = re.compile(r"^/[A-Za-z0-9_./-]+$")
ECR_REPOSITORY = re.compile(r"^[a-z0-9]+([._/-][a-z0-9]+)*$")
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
EVENT_BUS = re.compile(r"^([A-Za-z0-9._-]{1,256}|arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:"
                       r"event-bus/[A-Za-z0-9._/-]{1,256})$")  # fmt: skip
ENVIRONMENTS = ("prod", "staging", "dev")


@dataclass(frozen=True)
class ReleaseInputs:
    push: bool = False
    deploy: bool = False
    security_hub: bool = False
    aws_region: str = ""
    publish_role_arn: str = ""
    push_role_arn: str = ""
    deploy_role_arn: str = ""
    ecr_repository: str = ""
    manifests: str = ""
    eks_cluster: str = ""
    eks_namespace: str = "default"
    image_tag: str = ""
    tag_environment: str = ""
    limits_ssm_prefix: str = ""
    limits_role_arn: str = ""
    sns_topic_arn: str = ""
    notify_role_arn: str = ""
    monitoring_event_bus: str = ""


def parse_handoff(text: str) -> dict[str, Any]:
    """container-scan.yml's `handoff` output, or a UsageError saying what to pass."""
    hint = ("scan must be the handoff output of this run's container-scan.yml job "
            "(needs.JOB.outputs.handoff)")  # fmt: skip
    try:
        handoff = json.loads(text) if text else None
    except ValueError:
        raise UsageError(f"{hint}: not JSON") from None
    if not (isinstance(handoff, dict) and isinstance(handoff.get("call"), str)
            and CALL.match(handoff["call"]) and isinstance(handoff.get("matrix"), list)
            and handoff["matrix"] and all(isinstance(m, dict) and isinstance(m.get("name"), str)
                                          for m in handoff["matrix"])
            and handoff.get("decision") in ("pass", "fail", "error")):  # fmt: skip
        raise UsageError(f"{hint}: not the handoff output of container-scan.yml")
    from scangate.artifact_ids import check_handoff_ids

    check_handoff_ids(handoff)
    return handoff


def fill_matrix(matrix: list[dict[str, Any]], ecr_repository: str,
                manifests: str) -> list[dict[str, Any]]:  # fmt: skip
    """Each entry's own ECR repository and manifests, else the inputs', else its name / none."""
    return [{**entry,
             "ecr_repository": entry.get("ecr_repository") or ecr_repository or entry["name"],
             "manifests": entry.get("manifests") or manifests} for entry in matrix]  # fmt: skip


def problems(inputs: ReleaseInputs, matrix: list[dict[str, Any]]) -> list[str]:
    """Every input that would fail a later job, one line each."""
    found = []
    if (inputs.push or inputs.deploy or inputs.security_hub or inputs.limits_ssm_prefix) and \
            not REGION.match(inputs.aws_region):
        found.append(f"aws-region must be an AWS region (got '{inputs.aws_region}')")
    if inputs.limits_ssm_prefix:
        if not SSM_PREFIX.match(inputs.limits_ssm_prefix):
            found.append("limits-ssm-prefix must be an SSM parameter path such as "
                         f"/scangate/limits (got '{inputs.limits_ssm_prefix}')")
        if not ROLE.match(inputs.limits_role_arn):
            found.append("limits-ssm-prefix needs limits-role-arn (an IAM role ARN)")
    if inputs.security_hub and not ROLE.match(inputs.publish_role_arn):
        found.append("security-hub needs publish-role-arn (an IAM role ARN)")
    if inputs.sns_topic_arn:
        if not SNS_TOPIC.match(inputs.sns_topic_arn):
            found.append(f"sns-topic-arn is not an SNS topic ARN (got '{inputs.sns_topic_arn}')")
        if not ROLE.match(inputs.notify_role_arn):
            found.append("sns-topic-arn needs notify-role-arn (an IAM role ARN)")
        if not REGION.match(inputs.aws_region):
            found.append("sns-topic-arn needs aws-region")
    if inputs.push:
        if not ROLE.match(inputs.push_role_arn):
            found.append("push needs push-role-arn (an IAM role ARN)")
        bad = [m["name"] for m in matrix if not ECR_REPOSITORY.match(m["ecr_repository"])]
        if bad:
            found.append(f"not a valid ECR repository name for image(s): {' '.join(bad)}")
    if inputs.deploy:
        if not inputs.push:
            found.append("deploy needs push: only a pushed image, pinned by its registry "
                         "digest, is deployed")
        if not ROLE.match(inputs.deploy_role_arn):
            found.append("deploy needs deploy-role-arn (an IAM role ARN)")
        if not inputs.eks_cluster:
            found.append("deploy needs eks-cluster")
        if not inputs.eks_namespace:
            found.append("deploy needs eks-namespace")
        missing = [m["name"] for m in matrix if not m["manifests"]]
        if missing:
            found.append(f"deploy needs manifests for image(s): {' '.join(missing)}")
    if inputs.monitoring_event_bus:
        if not inputs.deploy:
            found.append("monitoring-event-bus needs deploy: only deployed images are marked "
                         "deployed")
        if not EVENT_BUS.match(inputs.monitoring_event_bus):
            found.append("monitoring-event-bus must be an EventBridge bus name or ARN (got "
                         f"'{inputs.monitoring_event_bus}')")
    if inputs.tag_environment and inputs.tag_environment not in ENVIRONMENTS:
        found.append("tag-environment must be prod, staging or dev (got "
                     f"'{inputs.tag_environment}')")
    if inputs.image_tag and not IMAGE_TAG.match(inputs.image_tag):
        found.append(f"image-tag is not a valid tag: '{inputs.image_tag}'")
    return found


def tag_environment(given: str, ref: str, default_branch: str) -> str:
    """The pushed tag's environment: as given, else prod on the default branch, dev elsewhere."""
    if given:
        return given
    return "prod" if default_branch and ref == f"refs/heads/{default_branch}" else "dev"
