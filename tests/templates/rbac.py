"""Kubernetes RBAC decisions for one request, as the API server makes them.

Semantics from kubernetes/kubernetes:

- plugin/pkg/auth/authorizer/rbac/rbac.go ``RuleAllows``: a rule allows a resource request
  when its verbs, apiGroups, resources and (when it has any) resourceNames all match; ``*``
  matches any verb, group or resource; a subresource is matched as ``resource/subresource``
  (``*/subresource`` too) and never by the bare resource.
- staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go: a ``list`` or ``watch``
  whose field selector is exactly ``metadata.name=NAME`` carries NAME as the request's name, so
  a rule with resourceNames allows it; without that selector the name is empty and such a rule
  never allows a list or watch ("Using RBAC Authorization", Referring to resources).
- A watch is a ``list``/``get`` request with ``watch=true``: the verb is ``watch``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class ResourceRequest:
    verb: str
    api_group: str
    resource: str
    subresource: str
    namespace: str
    name: str


def request_info(method: str, url: str) -> ResourceRequest | None:
    """The API server's RequestInfo of a resource request; None for a non-resource path
    (discovery: /api, /apis, /openapi, /version)."""
    split = urlsplit(url)
    parts = [p for p in split.path.split("/") if p]
    query = parse_qs(split.query)
    if not parts or parts[0] not in ("api", "apis"):
        return None
    if parts[0] == "api":
        group, rest = "", parts[2:]
    else:
        if len(parts) < 3:
            return None
        group, rest = parts[1], parts[3:]
    if not rest:
        return None
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    watch = query.get("watch", ["false"])[0] in ("true", "1")
    verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method)
    if verb is None:
        if method not in ("GET", "HEAD"):
            raise AssertionError(f"{method} {url}: not a verb the API server maps")
        verb = ("watch" if watch else "get") if name else ("watch" if watch else "list")
    if verb in ("list", "watch") and not name:
        for selector in query.get("fieldSelector", []):
            key, _, value = selector.partition("=")
            if key == "metadata.name" and "," not in selector:
                name = value
    if verb == "delete" and not name:
        verb = "deletecollection"
    return ResourceRequest(verb, group, resource, subresource, namespace, name)


def _rule_allows(rule: dict[str, Any], request: ResourceRequest) -> bool:
    if not ({"*", request.verb} & set(rule.get("verbs", []))):
        return False
    if not ({"*", request.api_group} & set(rule.get("apiGroups", []))):
        return False
    resources = set(rule.get("resources", []))
    if request.subresource:
        combined = f"{request.resource}/{request.subresource}"
        if not ({combined, f"*/{request.subresource}"} & resources):
            return False
    elif not ({"*", request.resource} & resources):
        return False
    names = rule.get("resourceNames") or []
    return not names or request.name in names


def role_allows(role: dict[str, Any], request: ResourceRequest) -> bool:
    """A namespaced Role: only requests in its namespace."""
    if request.namespace != role["metadata"]["namespace"]:
        return False
    return any(_rule_allows(rule, request) for rule in role["rules"])
