"""The finding model every output is built from.

A *finding* is one row of a result's ``Vulnerabilities`` (target + package + installed version +
vulnerability id), one ``Secrets`` entry, or one ``Misconfigurations`` entry whose status is
``FAIL``. Findings hold only what some output shows; the rest of Trivy's entry (layers, vendor
severities, package identifiers) is never decoded.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from scangate.feeds import EpssScore, KevEntry
from scangate.severity import Severity

Kind = Literal["vulnerability", "secret", "misconfiguration"]
KINDS: tuple[Kind, ...] = ("vulnerability", "secret", "misconfiguration")


@dataclass(slots=True)
class Finding:
    kind: Kind
    id: str
    severity: Severity
    target: str
    result_class: str
    result_type: str
    title: str
    description: str
    primary_url: str
    references: list[str]
    report: Report
    package: str = ""
    installed_version: str = ""
    fixed_version: str = ""
    status: str = ""
    pkg_path: str = ""
    purl: str = ""
    start_line: int = 0
    end_line: int = 0
    message: str = ""
    resolution: str = ""
    cvss_score: float | None = None
    # For Security Hub: Trivy's CVSS entries by source, where the severity came from, and dates.
    cvss: dict[str, Any] | None = None
    severity_source: str = ""
    data_source: str = ""
    published_date: str = ""
    last_modified_date: str = ""
    # Set when Trivy suppressed the finding (ExperimentalModifiedFindings): by what, e.g.
    # ".trivyignore (ignored)". It counts all the same; only a policy waiver lets it pass.
    suppressed_by: str = ""
    # Trivy's Source of that suppression as it wrote it (for a VEX document: the path scangate
    # scan gave it, which names the document's sha256).
    suppressed_source: str = ""
    # Set by a baseline comparison (scangate.baseline): "new" or "unchanged"; "" when the run
    # was not compared with a baseline.
    change: str = ""
    # Set by the gate from the risk feeds it was given (vulnerabilities only).
    kev: KevEntry | None = None
    epss: EpssScore | None = None
    _fingerprint: str = ""

    @property
    def fixable(self) -> bool:
        return bool(self.fixed_version)

    @property
    def stable_target(self) -> str:
        """The target without the artifact's own name, which changes with tags and temp paths.

        Trivy names OS-package targets ``<artifact> (<os> <version>)``; a rebuilt image with a new
        tag, or the same tarball at another path, must still yield the same finding identity.
        """
        name = self.report.artifact_name
        # Only that form: the name followed by a space. A bare prefix would make ``.env`` and
        # ``env`` one finding under the artifact name ``.``, and ``app.py`` ``.py`` under ``app``.
        if name and self.target.startswith(name + " "):
            return self.target[len(name) :].strip()
        return self.target

    @property
    def fingerprint(self) -> str:
        """A stable identity: the same finding in a rescan has the same fingerprint.

        Built from what makes a finding itself (kind, target, package, installed version, path,
        id, and for secrets and misconfigurations the line), never from run data.
        """
        if not self._fingerprint:
            parts = (
                self.kind,
                self.stable_target,
                self.package,
                self.installed_version,
                self.pkg_path,
                self.id,
                str(self.start_line) if self.kind != "vulnerability" else "",
            )
            digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass"))
            self._fingerprint = digest.hexdigest()
        return self._fingerprint


_TAG_OR_DIGEST = re.compile(r"(@sha256:[0-9a-fA-F]+|:[\w][\w.-]{0,127})$")
_ARCHIVE = re.compile(r"\.(tar|tar\.gz|tgz|tar\.zst)$")


def image_repository(reference: str) -> str:
    """``registry:5000/org/app:1.2@sha256:..`` -> ``registry:5000/org/app``."""
    ref = reference.strip()
    while True:
        match = _TAG_OR_DIGEST.search(ref)
        # A ':' that belongs to a registry port ('host:5000/app') is followed by a '/'.
        if not match or "/" in match.group(0):
            return ref
        ref = ref[: match.start()]


@dataclass(slots=True)
class Report:
    """One Trivy report, as read. ``index`` is its position on the command line."""

    path: str
    index: int
    artifact_name: str
    artifact_type: str
    created_at: str
    metadata: dict[str, Any]
    scanner_version: str = ""
    findings: list[Finding] = field(default_factory=list)
    # Results scangate read but does not gate (license, custom, ...): (target, class, reason).
    not_gated: list[tuple[str, str, str]] = field(default_factory=list)
    # Misconfigurations that passed or were excepted: read, not findings.
    non_failing_misconfigurations: int = 0
    # artifact_id, once computed: outputs ask for it once per finding.
    _artifact_id: str = field(default="", repr=False, compare=False)

    @property
    def is_image(self) -> bool:
        return self.artifact_type in ("container_image", "container-image")

    @property
    def os_name(self) -> str:
        os_info = self.metadata.get("OS")
        if isinstance(os_info, dict) and os_info.get("Family"):
            return f"{os_info.get('Family')} {os_info.get('Name', '')}".strip()
        return ""

    @property
    def artifact_id(self) -> str:
        """A short, stable name for the artifact: the image repository without tag or digest.

        Falls back to the artifact name; a tarball path becomes its file stem, so a temp
        directory in CI never leaks into categories or ids.
        """
        if not self._artifact_id:
            self._artifact_id = self._derive_artifact_id()
        return self._artifact_id

    def _derive_artifact_id(self) -> str:
        for key in ("RepoTags", "RepoDigests"):
            values = self.metadata.get(key)
            if isinstance(values, list) and values and isinstance(values[0], str):
                return image_repository(values[0])
        name = self.artifact_name.rstrip("/") or "artifact"
        if _ARCHIVE.search(name):
            base = name.rsplit("/", 1)[-1]
            return _ARCHIVE.sub("", base)
        if self.is_image:
            return image_repository(name)
        if name.startswith("/"):
            return name.rsplit("/", 1)[-1] or name
        return name

    @property
    def image_reference(self) -> str:
        """How people name the image: its first tag, else the artifact name.

        A scan of ``image.tar`` names the tarball; the tag inside it is what the MR widget and
        Security Hub should show.
        """
        tags = self.metadata.get("RepoTags")
        if isinstance(tags, list) and tags and isinstance(tags[0], str) and tags[0]:
            return tags[0]
        return self.artifact_name

    @property
    def image_digest(self) -> str:
        """The image's registry digest when the report carries one (``sha256:...``)."""
        digests = self.metadata.get("RepoDigests")
        if isinstance(digests, list):
            for value in digests:
                if isinstance(value, str) and "@sha256:" in value:
                    return value.split("@", 1)[1]
        return ""
