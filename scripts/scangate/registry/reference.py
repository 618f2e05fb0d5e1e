"""Registry repositories and tags as the push step accepts them.

``--repository`` is ``REGISTRY/PATH`` with an explicit registry host (never an implied Docker
Hub), no tag and no digest. The scheme is chosen here, not by the user: HTTPS, except for a
registry on the loopback interface (a local test registry), which is spoken to in plain HTTP.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from scangate.errors import UsageError

_HOST_RE = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?$"
)
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
# distribution/reference: a tag is [\w][\w.-]{0,127}.
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# <account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn], and the dual-stack
# <account>.dkr-ecr[-fips].<region>.on.aws (Amazon ECR docs, "Making requests to Amazon ECR
# registries").
_ECR_RE = re.compile(
    r"^(?P<account>[0-9]{12})\.(?:dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com"
    r"(?:\.cn)?|dkr-ecr(?:-fips)?\.(?P<region6>[a-z0-9-]+)\.on\.aws)$"
)


@dataclass(frozen=True)
class Repository:
    host: str  # host[:port] as given
    path: str  # repository path inside the registry

    @property
    def name(self) -> str:
        return f"{self.host}/{self.path}"

    @property
    def hostname(self) -> str:
        host = self.host
        if host.startswith("["):
            return host[1 : host.index("]")]
        return host.rsplit(":", 1)[0] if ":" in host else host

    @property
    def loopback(self) -> bool:
        if self.hostname == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.hostname).is_loopback
        except ValueError:
            return False

    @property
    def base_url(self) -> str:
        """``http://`` only on loopback; every other registry is HTTPS."""
        return f"{'http' if self.loopback else 'https'}://{self.host}"

    @property
    def ecr(self) -> tuple[str, str] | None:
        """(account id, region) for an ECR private registry host, else None."""
        match = _ECR_RE.match(self.hostname)
        return (match["account"], match["region"] or match["region6"]) if match else None


def parse_repository(text: str) -> Repository:
    value = text.strip()
    if "://" in value:
        raise UsageError(
            f"--repository {text!r}: give REGISTRY/REPOSITORY without a scheme (HTTPS is used, "
            "plain HTTP only for a registry on 127.0.0.1/localhost)"
        )
    if "@" in value or ":" in value.rpartition("/")[2]:
        raise UsageError(
            f"--repository {text!r} has a tag or digest: pass the repository alone and the tags "
            "with --tag"
        )
    host, _, path = value.partition("/")
    if not path or not ("." in host or ":" in host or host == "localhost"):
        raise UsageError(
            f"--repository {text!r}: name the registry explicitly, e.g. "
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/app or 127.0.0.1:5000/app"
        )
    if not _HOST_RE.match(host):
        raise UsageError(f"--repository {text!r}: {host!r} is not a registry host[:port]")
    if not _PATH_RE.match(path):
        raise UsageError(
            f"--repository {text!r}: {path!r} is not a repository path (lowercase letters, "
            "digits, separators . _ - and /)"
        )
    return Repository(host=host, path=path)


def check_tag(tag: str) -> str:
    if not _TAG_RE.match(tag):
        raise UsageError(
            f"--tag {tag!r} is not a valid tag (up to 128 letters, digits, _ . -, not starting "
            "with . or -)"
        )
    return tag
