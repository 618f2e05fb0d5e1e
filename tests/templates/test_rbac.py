"""The deployer Role against the requests kubectl makes, with Kubernetes' RBAC semantics
(tests/templates/rbac.py cites the API server code it follows).

``kubectl rollout status deployment/NAME`` (kubernetes/kubectl pkg/cmd/rollout/rollout_status.go)
first GETs the object through the resource builder, then runs a ListWatch restricted with the
field selector ``metadata.name=NAME``: a LIST, then a WATCH from the list's resourceVersion. The
Role must allow all three on the one Deployment, and still nothing on another name or without
the selector.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.templates.rbac import ResourceRequest, request_info, role_allows

RBAC = Path(__file__).resolve().parents[2] / "templates" / "k8s" / "platform" / "deployer-rbac.yaml"
NAMESPACE = "user-authenticator"
DEPLOYMENTS = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments"


def _role() -> dict[str, Any]:
    [role] = [d for d in yaml.safe_load_all(RBAC.read_text(encoding="utf-8"))
              if d and d["kind"] == "Role"]
    return dict(role)


def _request(method: str, path: str) -> ResourceRequest:
    info = request_info(method, "https://cluster.test" + path)
    assert info is not None
    return info


ROLLOUT_STATUS = [  # rollout_status.go: builder GET, then ListWatch with the name selector
    ("GET", f"{DEPLOYMENTS}/user-authenticator"),
    ("GET", f"{DEPLOYMENTS}?fieldSelector=metadata.name%3Duser-authenticator&limit=500"),
    ("GET", f"{DEPLOYMENTS}?allowWatchBookmarks=true&fieldSelector=metadata.name%3D"
            "user-authenticator&resourceVersion=1&timeoutSeconds=300&watch=true"),
]


def test_request_info_reads_the_name_of_a_list_from_its_field_selector() -> None:
    listed = _request("GET", ROLLOUT_STATUS[1][1])
    assert (listed.verb, listed.name) == ("list", "user-authenticator")
    watched = _request("GET", ROLLOUT_STATUS[2][1])
    assert (watched.verb, watched.name) == ("watch", "user-authenticator")
    assert _request("GET", DEPLOYMENTS).name == ""


def test_the_deployer_may_follow_its_rollout() -> None:
    role = _role()
    for method, path in ROLLOUT_STATUS:
        assert role_allows(role, _request(method, path)), (method, path)


def test_the_deployer_may_not_list_or_watch_other_deployments() -> None:
    role = _role()
    assert not role_allows(role, _request("GET", DEPLOYMENTS))  # no selector: all of them
    assert not role_allows(role, _request(
        "GET", f"{DEPLOYMENTS}?fieldSelector=metadata.name%3Dother&watch=true"))
    assert not role_allows(role, _request("PATCH", f"{DEPLOYMENTS}/other"))
    assert not role_allows(role, _request("DELETE", f"{DEPLOYMENTS}/user-authenticator"))
    assert not role_allows(role, _request("GET", f"/api/v1/namespaces/{NAMESPACE}/secrets"))
    other_namespace = "/apis/apps/v1/namespaces/kube-system/deployments/user-authenticator"
    assert not role_allows(role, _request("GET", other_namespace))
