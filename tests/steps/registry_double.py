"""A TEST DOUBLE of a registry: an in-memory OCI distribution API on 127.0.0.1 that can lie.

The real registry on 127.0.0.1:5000 never serves a digest other than the one pushed, and it
takes no credentials, so it cannot show that scangate refuses a registry that does, or that it
sends ECR's Basic credentials. This double speaks just enough of the distribution API for a push
(the same requests the real registry answers in the other tests) and, when told, lies: it
acknowledges a manifest under another digest, serves other bytes for a manifest or the config,
or loses a tag, or sends uploads to another host.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from tests.support.loopback import QuietHandler, serve

_BLOB = re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<digest>sha256:[0-9a-f]{64})$")
_UPLOADS = re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/(?P<id>[0-9a-f-]*)$")
_MANIFEST = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")
MEDIA = "application/vnd.oci.image.manifest.v1+json"
TOKEN = "double-token-0123"
OTHER = b'{"schemaVersion":2,"note":"not what was pushed"}'


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class RegistryDouble:
    host: str = ""
    # "put-digest", "manifest-by-digest", "manifest-by-tag", "config", "lose-tag",
    # "foreign-location" (uploads sent to another host); "redirect-blobs" is no lie: blobs are
    # served through a redirect, as ECR does (to S3)
    tamper: set[str] = field(default_factory=set)
    basic: tuple[str, str] | None = None
    # Bearer mode (Docker Hub, GHCR, GitLab): /token trades these Basic credentials for a token
    bearer: tuple[str, str] | None = None
    token_requests: list[dict[str, list[str]]] = field(default_factory=list)
    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[str, bytes] = field(default_factory=dict)  # digest -> body
    tags: dict[str, str] = field(default_factory=dict)  # tag -> digest
    uploads: dict[str, bytearray] = field(default_factory=dict)
    config_digests: set[str] = field(default_factory=set)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)


def _handler(state: RegistryDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def _authorized(self) -> bool:
            auth = self.headers.get("Authorization")
            state.requests.append((self.command, self.path, auth))
            if state.bearer is not None:
                return self._bearer_authorized(auth)
            if state.basic is None:
                return True
            expected = "Basic " + base64.b64encode(":".join(state.basic).encode()).decode()
            if auth == expected:
                return True
            self.send_bytes(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"no"}]}',
                       {"WWW-Authenticate": 'Basic realm="double"'})
            return False

        def _bearer_authorized(self, auth: str | None) -> bool:
            assert state.bearer is not None
            parts = urlsplit(self.path)
            if parts.path == "/token":
                state.token_requests.append(parse_qs(parts.query))
                basic = "Basic " + base64.b64encode(":".join(state.bearer).encode()).decode()
                if auth != basic:
                    self.send_bytes(401, b'{"errors":[{"code":"DENIED","message":"bad login"}]}')
                else:
                    self.send_bytes(200, json.dumps({"token": TOKEN}).encode())
                return False  # answered here
            if auth == f"Bearer {TOKEN}":
                return True
            realm = f"http://{state.host}/token"
            self.send_bytes(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"token"}]}',
                       {"WWW-Authenticate": f'Bearer realm="{realm}",service="double",'
                                            'scope="repository:app:pull"'})
            return False

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            if not self._authorized():
                return
            path = urlsplit(self.path).path
            if path == "/v2/":
                self.send_bytes(200, b"{}")
            elif match := _BLOB.match(path):
                digest = match["digest"]
                if digest not in state.blobs:
                    self.send_bytes(404)
                    return
                if "redirect-blobs" in state.tamper:  # as ECR sends blobs to S3
                    self.send_bytes(307, headers={"Location": f"/storage/{digest}"})
                    return
                self._blob(digest)
            elif (stored := path.removeprefix("/storage/")) != path:
                if self.command == "HEAD":  # a presigned GET does not answer a HEAD
                    self.send_bytes(403)
                    return
                self._blob(stored)
            elif match := _MANIFEST.match(path):
                ref = match["ref"]
                by_digest = ref.startswith("sha256:")
                if not by_digest and "lose-tag" in state.tamper:
                    self.send_bytes(404)
                    return
                digest = ref if by_digest else state.tags.get(ref, "")
                if digest not in state.manifests:
                    self.send_bytes(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"x"}]}')
                    return
                body = state.manifests[digest]
                if ("manifest-by-digest" in state.tamper and by_digest) or (
                    "manifest-by-tag" in state.tamper and not by_digest
                ):
                    body = OTHER
                self.send_bytes(200, body, {"Docker-Content-Digest": digest, "Content-Type": MEDIA})
            else:
                self.send_bytes(404)

        def _blob(self, digest: str) -> None:
            body = state.blobs[digest]
            if "config" in state.tamper and digest in state.config_digests:
                body = OTHER
            self.send_bytes(200, body, {"Docker-Content-Digest": digest})

        def do_POST(self) -> None:
            if not self._authorized():
                return
            match = _UPLOADS.match(urlsplit(self.path).path)
            if not match:
                self.send_bytes(404)
                return
            upload = str(uuid.uuid4())
            state.uploads[upload] = bytearray()
            where = f"/v2/{match['name']}/blobs/uploads/{upload}"
            if "foreign-location" in state.tamper:
                where = f"http://127.0.0.2:{self.server.server_address[1]}{where}"
            self.send_bytes(202, headers={"Location": where})

        def do_PATCH(self) -> None:
            if not self._authorized():
                return
            match = _UPLOADS.match(urlsplit(self.path).path)
            if not match or match["id"] not in state.uploads:
                self.send_bytes(404)
                return
            state.uploads[match["id"]] += self.read_body()
            self.send_bytes(202, headers={"Location": self.path})

        def do_PUT(self) -> None:
            if not self._authorized():
                return
            parts = urlsplit(self.path)
            body = self.read_body()
            if match := _UPLOADS.match(parts.path):
                data = bytes(state.uploads.pop(match["id"], b"")) + body
                digest = parse_qs(parts.query).get("digest", [""])[0]
                if _digest(data) != digest:
                    self.send_bytes(400, b'{"errors":[{"code":"DIGEST_INVALID","message":"x"}]}')
                    return
                state.blobs[digest] = data
                self.send_bytes(201, headers={"Docker-Content-Digest": digest})
            elif match := _MANIFEST.match(parts.path):
                digest = _digest(body)
                state.manifests[digest] = body
                state.tags[match["ref"]] = digest
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    state.config_digests.add(json.loads(body)["config"]["digest"])
                told = _digest(OTHER) if "put-digest" in state.tamper else digest
                self.send_bytes(201, headers={"Docker-Content-Digest": told})
            else:
                self.send_bytes(404)

    return Handler


@contextlib.contextmanager
def registry_double(**kwargs: object) -> Iterator[RegistryDouble]:
    state = RegistryDouble(**kwargs)  # type: ignore[arg-type]
    with serve(_handler(state)) as server:
        state.host = server.host
        yield state
