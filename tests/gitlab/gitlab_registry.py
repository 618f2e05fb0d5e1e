"""A GitLab-style container registry on 127.0.0.1: the real registry, GitLab's token auth.

The registry is the real one (distribution's `docker-registry`, which tools/setup installs and
which runs on 127.0.0.1:5000 for the other tests), started here with the `auth: token:` section
GitLab configures for its container registry (GitLab docs, "GitLab container registry
administration": `realm` = `<GitLab URL>/jwt/auth`, `service` = `container_registry`, `issuer`,
`rootcertbundle` = the certificate of the key GitLab signs tokens with). It verifies every token
itself: signature, issuer, audience, expiry and the repository actions granted.

The token service is a TEST DOUBLE of GitLab's `/jwt/auth`, because no GitLab runs here. It
follows gitlab-org/gitlab `app/services/auth/container_registry_authentication_service.rb` as far
as a job token goes: Basic credentials `gitlab-ci-token` / the job token (`lib/gitlab/auth.rb`,
the build user), an RS256 token whose `kid` is the libtrust fingerprint of the signing key
(`JSONWebToken::RSAToken#kid`), `aud` `container_registry`, and an `access` claim that grants
pull and push only on the job's own project's repositories (the project path and paths below
it); other scopes get an empty `access`, wrong credentials a 401.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import json
import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from tests.support import loopback
from tests.support.loopback import QuietHandler
from tools.demo.procs import stop

ISSUER = "gitlab-issuer"
SERVICE = "container_registry"
CI_USER = "gitlab-ci-token"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def libtrust_kid(public_key: rsa.RSAPublicKey) -> str:
    """docker/libtrust keyIDFromCryptoKey: SHA-256 of the PKIX DER, first 240 bits, base32,
    in groups of four joined by ':' (what GitLab's RSAToken#kid computes and the registry
    matches against the keys of its rootcertbundle)."""
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    text = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode("ascii").rstrip("=")
    return ":".join(text[i:i + 4] for i in range(0, len(text), 4))


@dataclass
class GitLabRegistry:
    host: str  # the registry, 127.0.0.1:<port> (CI_REGISTRY)
    project_path: str  # the job's project (CI_PROJECT_PATH)
    job_token: str  # CI_REGISTRY_PASSWORD
    token_url: str
    token_requests: list[dict[str, object]] = field(default_factory=list)

    @property
    def image(self) -> str:
        """CI_REGISTRY_IMAGE: `<registry>/<project path>`."""
        return f"{self.host}/{self.project_path}"

    def pipeline_variables(self) -> list[str]:
        """The predefined variables a GitLab job of that project has, as gitlab-ci-local
        `--variable` arguments (gitlab-ci-local's own point at a registry that is not here)."""
        values = {"CI_REGISTRY": self.host, "CI_REGISTRY_IMAGE": self.image,
                  "CI_REGISTRY_USER": CI_USER, "CI_REGISTRY_PASSWORD": self.job_token}
        return [arg for name, value in values.items() for arg in ("--variable", f"{name}={value}")]

    def get(self, path: str, accept: str = "") -> tuple[int, dict[str, str], bytes]:
        """GET on the registry with a pull token for the project, as a reader would."""
        scope = f"repository:{path.split('/v2/', 1)[1].rsplit('/', 2)[0]}:pull"
        query = f"?service={SERVICE}&scope={scope}"
        request = urllib.request.Request(self.token_url + query)
        basic = base64.b64encode(f"{CI_USER}:{self.job_token}".encode()).decode()
        request.add_header("Authorization", f"Basic {basic}")
        with urllib.request.urlopen(request, timeout=30) as response:
            token = json.load(response)["token"]
        return loopback.get(f"http://{self.host}{path}",
                            {"Authorization": f"Bearer {token}", "Accept": accept})


def _wait_for_token_auth(host: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until the registry answers /v2/ with 401 (it asks for a token); any other answer, or
    no answer within 30 s, is an error."""
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://{host}/v2/", timeout=2).close()
            raise RuntimeError("the registry answered /v2/ without asking for a token")
        except urllib.error.HTTPError as error:
            if error.code == 401:
                return
            raise
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("docker-registry did not start: "
                                   + log.read_text()[-2000:]) from None
            time.sleep(0.2)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _key_and_certificate(workdir: Path) -> tuple[rsa.RSAPrivateKey, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gitlab-registry-token-signer")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .sign(key, hashes.SHA256()))
    path = workdir / "registry-token.crt"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key, path


def _granted(project_path: str, scope: str) -> list[dict[str, object]]:
    """GitLab's answer to `repository:<name>:<actions>` for a job token of ``project_path``."""
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    if kind != "repository" or not (name == project_path or name.startswith(project_path + "/")):
        return []
    allowed = [a for a in actions.split(",") if a in ("pull", "push")]
    return [{"type": "repository", "name": name, "actions": allowed}] if allowed else []


def _token_handler(state: GitLabRegistry, key: rsa.RSAPrivateKey
                   ) -> type[BaseHTTPRequestHandler]:
    kid = libtrust_kid(key.public_key())

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            auth = self.headers.get("Authorization", "")
            user = password = ""
            if auth.startswith("Basic "):
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            state.token_requests.append({"path": url.path, "query": query, "user": user,
                                         "password_ok": password == state.job_token})
            if url.path != "/jwt/auth":
                self.send_json(404, {"message": "not found"})
                return
            if user != CI_USER or not secrets.compare_digest(password, state.job_token):
                self.send_json(401, {"errors": [{"code": "UNAUTHORIZED",
                                             "message": "HTTP Basic: Access denied"}]})
                return
            access = [grant for scope in query.get("scope", [])
                      for grant in _granted(state.project_path, scope)]
            now = int(time.time())
            header = {"typ": "JWT", "alg": "RS256", "kid": kid}
            claims = {"iss": ISSUER, "aud": SERVICE, "sub": CI_USER, "iat": now,
                      "nbf": now - 5, "exp": now + 300, "jti": secrets.token_hex(16),
                      "access": access}
            signing_input = (_b64url(json.dumps(header).encode()) + "."
                             + _b64url(json.dumps(claims).encode()))
            signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
            self.send_json(200, {"token": f"{signing_input}.{_b64url(signature)}"})

    return Handler


@contextlib.contextmanager
def gitlab_registry(workdir: Path, project_path: str = "group/project"
                    ) -> Iterator[GitLabRegistry]:
    """The registry and its token service, both on 127.0.0.1; stopped on exit."""
    binary = shutil.which("docker-registry")
    if binary is None:
        raise RuntimeError("docker-registry is missing: run `make setup` (tools/setup/10-apt.sh)")
    workdir.mkdir(parents=True, exist_ok=True)
    key, certificate = _key_and_certificate(workdir)
    # The token service first: the registry's configuration names its URL.
    with loopback.serve(BaseHTTPRequestHandler) as server:
        token_url = f"{server.url}/jwt/auth"
        state = GitLabRegistry(host=f"127.0.0.1:{_free_port()}", project_path=project_path,
                               job_token="glcbt-" + secrets.token_hex(12), token_url=token_url)
        # No client knows the port yet: no request can meet the placeholder handler.
        server.server.RequestHandlerClass = _token_handler(state, key)
        config = workdir / "registry.yml"
        config.write_text(yaml.safe_dump({
            "version": 0.1,
            "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(workdir / "data")}},
            "http": {"addr": state.host},
            "auth": {"token": {"realm": token_url, "service": SERVICE, "issuer": ISSUER,
                               "rootcertbundle": str(certificate)}},
        }), encoding="utf-8")
        with (workdir / "registry.log").open("wb") as log:
            process = subprocess.Popen([binary, "serve", str(config)], stdout=log,
                                       stderr=subprocess.STDOUT)
            try:
                _wait_for_token_auth(state.host, process, workdir / "registry.log")
                yield state
            finally:
                stop(process)
