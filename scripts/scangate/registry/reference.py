"""Image references: registry repositories, tags and digests, parsed in one place.

``REGISTRY/PATH`` always has an explicit registry host (never an implied Docker Hub), no tag and
no digest. Every step that names an image parses it here (``scangate push``'s ``--repository``,
the Security Hub resource of scangate.aws.image), so they agree on what a repository, a tag, a
digest and an ECR registry are. The scheme is chosen here, not by the user: HTTPS, except for a
registry on the loopback interface (a local test registry), which is spoken to in plain HTTP.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from scangate.errors import UsageError

# Every pattern is applied with fullmatch: '$' would also accept a trailing newline.
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_HOST = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-fA-F:]+\])(?::[0-9]{{1,5}})?")
# distribution/reference: lower-case path components, separators . _ __ -.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
# distribution/reference: a tag is [\w][\w.-]{0,127}.
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# A repository as a manifest or `docker pull` writes it: the registry host may be left out.
IMAGE_NAME = re.compile(rf"(?:{_HOST.pattern}/)?{_PATH.pattern}")
# <account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn], and the dual-stack
# <account>.dkr-ecr[-fips].<region>.on.aws (Amazon ECR docs, "Making requests to Amazon ECR
# registries").
_ECR = re.compile(
    r"(?P<account>[0-9]{12})\.(?:dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com"
    r"(?P<china>\.cn)?|dkr-ecr(?:-fips)?\.(?P<region6>[a-z0-9-]+)\.on\.aws)"
)


class EcrRegistry(NamedTuple):
    """An ECR private registry: the account that owns it, its region and AWS partition."""

    account: str
    region: str
    partition: str = "aws"


@dataclass(frozen=True, slots=True)
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
    def ecr(self) -> EcrRegistry | None:
        """The ECR private registry this host is (either endpoint form), else None."""
        match = _ECR.fullmatch(self.hostname)
        if not match:
            return None
        region = match["region"] or match["region6"]
        partition = "aws-cn" if match["china"] else "aws"
        if region.startswith("us-gov-"):
            partition = "aws-us-gov"
        return EcrRegistry(match["account"], region, partition)


def parse_repository(text: str, what: str = "--repository") -> Repository:
    """``REGISTRY/PATH`` (no scheme, tag or digest); ``what`` names the value in errors."""
    value = text.strip()
    if "://" in value:
        raise UsageError(
            f"{what} {text!r}: give REGISTRY/REPOSITORY without a scheme (HTTPS is used, "
            "plain HTTP only for a registry on 127.0.0.1/localhost)"
        )
    if "@" in value or ":" in value.rpartition("/")[2]:
        raise UsageError(
            f"{what} {text!r} has a tag or digest: pass the repository alone and the tags "
            "with --tag"
        )
    host, _, path = value.partition("/")
    # A first component without '.' or ':' (and not localhost) is a Docker Hub path, no registry.
    if not path or not ("." in host or ":" in host or host == "localhost"):
        raise UsageError(
            f"{what} {text!r}: name the registry explicitly, e.g. "
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/app or 127.0.0.1:5000/app"
        )
    if not _HOST.fullmatch(host):
        raise UsageError(f"{what} {text!r}: {host!r} is not a registry host[:port]")
    if not _PATH.fullmatch(path):
        raise UsageError(
            f"{what} {text!r}: {path!r} is not a repository path (lowercase letters, "
            "digits, separators . _ - and /)"
        )
    return Repository(host=host, path=path)


def check_tag(tag: object, what: str = "--tag") -> str:
    if not isinstance(tag, str) or not TAG.fullmatch(tag):
        raise UsageError(
            f"{what} {tag!r} is not a valid tag (up to 128 letters, digits, _ . -, not starting "
            "with . or -)"
        )
    return tag


def check_tags(tags: Iterable[object], what: str = "--tag") -> tuple[str, ...]:
    """Each tag checked, duplicates dropped, order kept."""
    return tuple(dict.fromkeys(check_tag(tag, what) for tag in tags))


def check_digest(value: str, what: str) -> str:
    if not DIGEST.fullmatch(value):
        raise UsageError(f"{what} {value!r} is not a sha256 digest (sha256: and 64 lower-case "
                         "hex digits)")
    return value
