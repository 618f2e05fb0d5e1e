"""The OCI distribution API, as much of it as pushing and reading back one image needs.

Uploads are monolithic: POST (open a session), then one PUT ``?digest=`` with the whole blob
(OCI distribution spec, "Pushing a blob monolithically"). Every answer that carries a digest is
checked by the caller; this module only moves bytes and turns HTTP failures into one-line errors.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from scangate import __version__
from scangate.registry.errors import RegistryError
from scangate.registry.reference import Repository

MANIFEST_ACCEPT = ", ".join((
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
))
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # the registry limit ECR and distribution apply
MAX_CONFIG_BYTES = 16 * 1024 * 1024
TIMEOUT = (15.0, 600.0)
REDIRECTS = (301, 302, 303, 307, 308)  # connect, read (a layer upload can take minutes)


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text[:200].split())
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        return f"{first.get('code', '')}: {first.get('message', '')}".strip(": ")
    return " ".join(response.text[:200].split())


class RegistryClient:
    """One repository of one registry: anonymous, Basic credentials (ECR's login, or a user and
    password), or a Bearer token from the registry's token service (Docker Hub, GHCR, GitLab)."""

    def __init__(self, repository: Repository, auth: tuple[str, str] | None = None) -> None:
        self.repository = repository
        self.http = requests.Session()
        self.http.headers["User-Agent"] = f"scangate/{__version__}"
        # trust_env stays on: runners behind a proxy (HTTPS_PROXY) or with a private CA bundle
        # (REQUESTS_CA_BUNDLE) must work, as they do for boto3. TLS is always verified.
        self._basic = auth
        self._bearer: str | None = None
        self._base = f"{repository.base_url}/v2/{repository.path}"

    def close(self) -> None:
        self.http.close()

    def login(self) -> None:
        """Ask ``/v2/`` how to authenticate; fetch a pull+push token when told to (Bearer).

        Done once, first, so no upload is ever sent twice for want of a token.
        """
        url = f"{self.repository.base_url}/v2/"
        response = self._request("GET", url, (200, 401))
        if response.status_code == 200:
            return
        challenge = response.headers.get("WWW-Authenticate", "")
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() == "basic":
            raise RegistryError(
                f"GET {url}: HTTP 401: the registry wants credentials: for ECR pass --role-arn "
                "(or ambient AWS credentials), else --registry-username and "
                "--registry-password-file"
            )
        if scheme.lower() != "bearer":
            raise RegistryError(f"GET {url}: HTTP 401 with an unknown challenge {challenge!r}")
        self._bearer = self._token(_challenge_params(params))

    def _token(self, params: dict[str, str]) -> str:
        realm = params.get("realm", "")
        target = urlsplit(realm)
        loopback = target.hostname in ("127.0.0.1", "::1", "localhost")
        if target.scheme != "https" and not (target.scheme == "http" and loopback):
            raise RegistryError(
                f"registry {self.repository.host}: token service {realm!r} is not https: "
                "refusing to send credentials to it"
            )
        query = {"scope": f"repository:{self.repository.path}:pull,push"}
        if params.get("service"):
            query["service"] = params["service"]
        try:
            response = self.http.get(realm, params=query, auth=self._basic, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise RegistryError(f"GET {realm}: cannot reach the token service ({exc})") from None
        if response.status_code != 200:
            raise RegistryError(
                f"GET {realm}: HTTP {response.status_code}: {_error_text(response)} (the "
                "registry credentials may not push to this repository)"
            )
        try:
            body = response.json()
            token = body.get("token") or body.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"GET {realm}: the token service answered without a token")
        return token

    def _request(self, method: str, url: str, expected: tuple[int, ...], **kwargs: Any
                 ) -> requests.Response:
        if self._bearer is not None:
            # A plain header: requests drops it on a redirect to another host (ECR to S3).
            kwargs["headers"] = {**kwargs.get("headers", {}),
                                 "Authorization": f"Bearer {self._bearer}"}
        elif self._basic is not None:
            kwargs["auth"] = self._basic
        try:
            response = self.http.request(method, url, timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            raise RegistryError(
                f"{method} {url}: cannot reach the registry ({type(exc).__name__}: {exc})"
            ) from None
        if response.status_code not in expected:
            hint = ""
            if response.status_code in (401, 403):
                hint = (" (the push identity lacks access to this repository: for ECR a role "
                        "allowed to push to it, else registry credentials that may)")
            raise RegistryError(
                f"{method} {url}: HTTP {response.status_code}: {_error_text(response)}{hint}"
            )
        return response

    # -- blobs ----------------------------------------------------------------------------

    def blob_exists(self, digest: str) -> bool:
        # A redirect (to ECR's S3 storage) means the blob exists. It is not followed: the
        # target is a presigned GET, which a HEAD does not match.
        response = self._request("HEAD", f"{self._base}/blobs/{digest}",
                                 (200, 404, *REDIRECTS), allow_redirects=False)
        return response.status_code != 404

    def upload_blob(self, digest: str, data: bytes | Path) -> None:
        """A monolithic upload: POST opens the session, one PUT ``?digest=`` sends the blob.

        No PATCH: ECR answers a PATCH with 201 where the OCI distribution spec says 202, and
        drops the data of later chunks (aws/containers-roadmap#2831); the monolithic PUT is what
        other clients moved to for ECR (kitops-ml/kitops#822).
        """
        start = self._request("POST", f"{self._base}/blobs/uploads/", (202,))
        location = self._location(start)
        separator = "&" if "?" in location else "?"
        url = f"{location}{separator}{urlencode({'digest': digest})}"
        headers = {"Content-Type": "application/octet-stream"}
        if isinstance(data, Path):
            with data.open("rb") as handle:
                done = self._request("PUT", url, (201,), data=handle, headers=headers)
        else:
            done = self._request("PUT", url, (201,), data=data, headers=headers)
        stored = done.headers.get("Docker-Content-Digest")
        if stored is not None and stored != digest:
            raise RegistryError(
                f"registry {self.repository.host} stored blob {digest} as {stored}"
            )

    def _location(self, response: requests.Response) -> str:
        location = response.headers.get("Location")
        if not location:
            raise RegistryError(
                f"{response.request.method} {response.url}: the registry gave no upload Location"
            )
        url = urljoin(response.url, location)
        # The layer and the registry credentials go to the Location: only ever the registry's
        # own scheme and host (never elsewhere, never downgraded to plain HTTP).
        target, origin = urlsplit(url), urlsplit(self.repository.base_url)
        if (target.scheme, target.netloc) != (origin.scheme, origin.netloc):
            raise RegistryError(
                f"{response.request.method} {response.url}: the registry sent the upload to "
                f"{target.scheme}://{target.netloc}, not {self.repository.base_url}; refusing"
            )
        return url

    def get_blob(self, digest: str, limit: int = MAX_CONFIG_BYTES) -> bytes:
        # ECR answers with a redirect to S3; requests drops the Authorization header when the
        # host changes, as it must.
        response = self._request("GET", f"{self._base}/blobs/{digest}", (200,),
                                 allow_redirects=True, stream=True)
        return _read_limited(response, limit, f"blob {digest}")

    # -- manifests ------------------------------------------------------------------------

    def put_manifest(self, reference: str, body: bytes, media_type: str) -> str | None:
        """PUT the manifest under a tag; return the digest the registry says it stored."""
        response = self._request("PUT", f"{self._base}/manifests/{reference}", (201,),
                                 data=body, headers={"Content-Type": media_type})
        return response.headers.get("Docker-Content-Digest")

    def get_manifest(self, reference: str) -> tuple[bytes, str, str | None] | None:
        """(body, content type, Docker-Content-Digest) of a manifest, or None when absent."""
        response = self._request("GET", f"{self._base}/manifests/{reference}", (200, 404),
                                 headers={"Accept": MANIFEST_ACCEPT}, stream=True)
        if response.status_code == 404:
            response.close()
            return None
        body = _read_limited(response, MAX_MANIFEST_BYTES, f"manifest {reference}")
        return (body, response.headers.get("Content-Type", ""),
                response.headers.get("Docker-Content-Digest"))


def _challenge_params(text: str) -> dict[str, str]:
    """``realm="...",service="...",scope="..."`` as a dict (quoted values may hold commas)."""
    return {key.lower(): value for key, value in re.findall(r'(\w+)="([^"]*)"', text)}


def _read_limited(response: requests.Response, limit: int, what: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    with response:
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise RegistryError(f"{response.url}: {what} is larger than {limit} bytes")
            chunks.append(chunk)
    return b"".join(chunks)
