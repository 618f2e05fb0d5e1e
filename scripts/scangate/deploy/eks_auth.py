"""A kubeconfig for an EKS cluster from the AWS identity alone (no AWS CLI in the deploy job).

``aws eks get-token`` sends no request: it presigns STS GetCallerIdentity with the header
``x-k8s-aws-id: <cluster name>`` signed in, and hands the URL to Kubernetes as a bearer token
``k8s-aws-v1.<base64url(url), no padding>``. The cluster's authenticator calls that URL and
learns who the caller is. botocore presigns it here the same way.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import yaml

from scangate.aws.clients import AWS_FAILURES, STANDARD_RETRIES, describe
from scangate.deploy.errors import DeployError

TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 - a format prefix, not a secret
CLUSTER_ID_HEADER = "x-k8s-aws-id"
# aws-cli presigns for 60 s; EKS accepts the token for 15 minutes after it was made.
PRESIGN_SECONDS = 60
USABLE_STATES = ("ACTIVE", "UPDATING")


def eks_token(session: Any, cluster: str, region: str) -> str:
    """The bearer token ``aws eks get-token --cluster-name CLUSTER`` prints."""
    try:
        sts = session.client("sts", region_name=region, config=STANDARD_RETRIES)

        def add_cluster_header(request: Any, **_: Any) -> None:
            request.headers[CLUSTER_ID_HEADER] = cluster

        sts.meta.events.register("before-sign.sts.GetCallerIdentity", add_cluster_header)
        url = sts.generate_presigned_url(
            "get_caller_identity", Params={}, ExpiresIn=PRESIGN_SECONDS, HttpMethod="GET"
        )
    except AWS_FAILURES as exc:
        raise describe(exc, f"presigning sts:GetCallerIdentity for EKS cluster {cluster}") from None
    return TOKEN_PREFIX + base64.urlsafe_b64encode(str(url).encode("utf-8")).decode().rstrip("=")


def describe_cluster(session: Any, cluster: str, region: str) -> tuple[str, str]:
    """(API server endpoint, base64 CA bundle) of ``cluster``, refusing anything unusable."""
    try:
        eks = session.client("eks", region_name=region, config=STANDARD_RETRIES)
        info = eks.describe_cluster(name=cluster)["cluster"]
    except AWS_FAILURES as exc:
        raise describe(exc, f"eks:DescribeCluster {cluster} in {region}",
                       needs="eks:DescribeCluster") from None
    status = info.get("status")
    endpoint = info.get("endpoint")
    ca = (info.get("certificateAuthority") or {}).get("data")
    if status not in USABLE_STATES:
        raise DeployError(f"EKS cluster {cluster} in {region} is {status}, not ACTIVE")
    if not isinstance(endpoint, str) or not endpoint.startswith("https://"):
        raise DeployError(
            f"EKS cluster {cluster}: endpoint {endpoint!r} is not https:// (no public or "
            "reachable endpoint?)"
        )
    if not isinstance(ca, str) or not ca:
        raise DeployError(f"EKS cluster {cluster}: no certificate authority data; refusing to "
                          "talk to its API server without verifying it")
    try:
        base64.b64decode(ca, validate=True)
    except binascii.Error:
        raise DeployError(f"EKS cluster {cluster}: certificate authority data is not base64"
                          ) from None
    return endpoint, ca


def kubeconfig(cluster: str, endpoint: str, ca_data: str, token: str, namespace: str) -> str:
    """A kubeconfig with one context; the server certificate is always verified."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {
            "server": endpoint, "certificate-authority-data": ca_data}}],
        "users": [{"name": "scangate-deployer", "user": {"token": token}}],
        "contexts": [{"name": cluster, "context": {
            "cluster": cluster, "user": "scangate-deployer", "namespace": namespace}}],
        "current-context": cluster,
        "preferences": {},
    }
    return yaml.safe_dump(config, sort_keys=False)
