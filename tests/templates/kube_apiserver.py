"""A TEST DOUBLE of the Kubernetes API server: HTTPS on loopback, records every request.

No API server can run here; the client is the real kubectl (requirements/kubectl.lock).
The double answers just enough for ``kubectl apply`` and ``kubectl rollout status`` of one
Deployment: discovery (legacy, not aggregated), an OpenAPI v3 index whose apps/v1 document
advertises the ``fieldValidation`` query parameter (so kubectl validates server-side and needs
no schema), GET, PATCH, LIST and WATCH of deployments. It authorizes nothing: the test checks
each recorded request against the Role with the API server's RBAC semantics
(tests/templates/rbac.py). The Deployment exists already (the platform team creates it, the
Role has no ``create``) and its rollout is complete.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import ipaddress
import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.loopback import QuietHandler, serve

_APPS = {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "apps/v1", "resources": [
    {"name": "deployments", "singularName": "deployment", "namespaced": True,
     "kind": "Deployment", "shortNames": ["deploy"],
     "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]},
    {"name": "deployments/status", "singularName": "", "namespaced": True, "kind": "Deployment",
     "verbs": ["get", "patch", "update"]},
    {"name": "replicasets", "singularName": "replicaset", "namespaced": True,
     "kind": "ReplicaSet", "verbs": ["get", "list", "watch"]},
]}
_CORE = {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
    {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
     "verbs": ["get", "list", "watch"]},
    {"name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace",
     "verbs": ["get", "list", "watch"]},
]}
_GVK = {"group": "apps", "version": "v1", "kind": "Deployment"}
_FIELD_VALIDATION = [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}]
_OPENAPI_APPS = {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.33.0"},
                 "paths": {
    "/apis/apps/v1/namespaces/{namespace}/deployments": {
        "post": {"x-kubernetes-group-version-kind": _GVK, "parameters": _FIELD_VALIDATION,
                 "responses": {}}},
    "/apis/apps/v1/namespaces/{namespace}/deployments/{name}": {
        "patch": {"x-kubernetes-group-version-kind": _GVK, "parameters": _FIELD_VALIDATION,
                  "responses": {}},
        "put": {"x-kubernetes-group-version-kind": _GVK, "parameters": _FIELD_VALIDATION,
                "responses": {}}},
}, "components": {"schemas": {}}}


@dataclass
class ApiServer:
    deployment: dict[str, Any]
    url: str = ""
    ca_pem: bytes = b""
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path?query)
    patches: list[dict[str, Any]] = field(default_factory=list)

    def stored(self) -> dict[str, Any]:
        found = copy.deepcopy(self.deployment)
        meta = found.setdefault("metadata", {})
        meta.update({"uid": "5f0c4f2e-0000-4000-8000-000000000001", "resourceVersion": "7",
                     "generation": 2, "creationTimestamp": "2026-01-05T10:00:00Z"})
        replicas = found.get("spec", {}).get("replicas", 1)
        found["status"] = {"observedGeneration": 2, "replicas": replicas,
                           "updatedReplicas": replicas, "readyReplicas": replicas,
                           "availableReplicas": replicas, "conditions": [
                               {"type": "Available", "status": "True"},
                               {"type": "Progressing", "status": "True",
                                "reason": "NewReplicaSetAvailable"}]}
        return found


def _certificate() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver-double")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _handler(state: ApiServer) -> type[BaseHTTPRequestHandler]:
    name = state.deployment["metadata"]["name"]
    namespace = state.deployment["metadata"]["namespace"]
    collection = f"/apis/apps/v1/namespaces/{namespace}/deployments"

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def _not_found(self) -> None:
            self.send_json(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                             "reason": "NotFound", "code": 404, "message": "not found"})

        def do_GET(self) -> None:
            state.requests.append(("GET", self.path))
            path = urlsplit(self.path).path
            query = urlsplit(self.path).query
            if path == "/version":
                self.send_json(200, {"major": "1", "minor": "33", "gitVersion": "v1.33.0"})
            elif path == "/api":
                self.send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                 "serverAddressByClientCIDRs": []})
            elif path == "/apis":
                self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                    {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                     "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]})
            elif path == "/api/v1":
                self.send_json(200, _CORE)
            elif path == "/apis/apps/v1":
                self.send_json(200, _APPS)
            elif path == "/openapi/v3":
                self.send_json(200, {"paths": {
                    "apis/apps/v1": {"serverRelativeURL": "/openapi/v3/apis/apps/v1?hash=A1"}}})
            elif path == "/openapi/v3/apis/apps/v1":
                self.send_json(200, _OPENAPI_APPS)
            elif path == f"{collection}/{name}":
                self.send_json(200, state.stored())
            elif path == collection and "watch=true" in query:
                self._watch()
            elif path == collection:
                self.send_json(200, {"kind": "DeploymentList", "apiVersion": "apps/v1",
                                 "metadata": {"resourceVersion": "7"},
                                 "items": [state.stored()]})
            else:
                self._not_found()

        def _watch(self) -> None:
            # No change to report: the stream ends at once (kubectl re-lists or is done).
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"0\r\n\r\n")

        def do_PATCH(self) -> None:
            state.requests.append(("PATCH", self.path))
            state.patches.append({"content-type": self.headers.get("Content-Type"),
                                  "body": json.loads(self.read_body() or b"{}")})
            if urlsplit(self.path).path == f"{collection}/{name}":
                self.send_json(200, state.stored())
            else:
                self._not_found()

        def do_POST(self) -> None:
            state.requests.append(("POST", self.path))
            self.read_body()
            self.send_json(403, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                             "reason": "Forbidden", "code": 403, "message": "double: no create"})

        def do_PUT(self) -> None:
            self.do_POST()

        def do_DELETE(self) -> None:
            self.do_POST()

    return Handler


@contextlib.contextmanager
def api_server(deployment: dict[str, Any], workdir: Path) -> Iterator[ApiServer]:
    state = ApiServer(deployment)
    cert, key = _certificate()
    (workdir / "server.crt").write_bytes(cert)
    (workdir / "server.key").write_bytes(key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(workdir / "server.crt", workdir / "server.key")
    with serve(_handler(state), tls=context) as server:
        state.url = server.url
        state.ca_pem = cert
        yield state
