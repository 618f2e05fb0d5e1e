"""What a deploy may apply: the kinds the deployer's RBAC grants, in one namespace.

``kubectl apply`` of a folder applies everything in it. The CI deployer's Kubernetes Role
(templates/k8s/platform/deployer-rbac.yaml) lets it change Deployments only; anything else in
the folder (a Service, a NetworkPolicy, a Secret) would fail half-way through the apply, after
some objects changed, or, with a broader role, change what the platform team owns. So every
document is checked BEFORE anything is applied and the deploy is refused with one line naming
every object that is not allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scangate.deploy.errors import DeployError
from scangate.k8s_pin import container_images, yaml_problem
from scangate.yaml_limits import load_all

# The kinds templates/k8s/platform/deployer-rbac.yaml lets the deployer apply (get + patch on
# the resource); tests/steps/test_deploy.py fails when the two disagree. Extend both together.
DEFAULT_ALLOWED_KINDS: tuple[str, ...] = ("Deployment",)
# Kinds ``kubectl rollout status`` can wait for.
ROLLOUT_KINDS: frozenset[str] = frozenset({"Deployment", "StatefulSet", "DaemonSet"})
_KIND_RE = re.compile(r"^[A-Z][A-Za-z0-9]{0,62}$")
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


# What the cluster's admission policy (templates/k8s/admission) lets a pod run.
_PINNED_RE = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class ManifestObject:
    file: Path
    kind: str
    name: str
    namespace: str | None
    images: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name} ({self.file})"


def parse_kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    bad = [k for k in kinds if not _KIND_RE.match(k)]
    if not kinds or bad:
        raise DeployError(
            f"--allowed-kinds {text!r}: give Kubernetes kinds separated by commas, e.g. "
            "Deployment,Service"
        )
    return kinds


def _objects(document: Any, file: Path) -> list[ManifestObject]:
    if document is None:
        return []
    if not isinstance(document, dict):
        raise DeployError(f"{file}: a YAML document is not a Kubernetes object; refusing to apply")
    kind = document.get("kind")
    if kind == "List" or (isinstance(kind, str) and kind.endswith("List")):
        items = document.get("items")
        if not isinstance(items, list):
            raise DeployError(f"{file}: {kind} without an items list; refusing to apply")
        return [obj for item in items for obj in _objects(item, file)]
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
    if not isinstance(kind, str) or not isinstance(name, str) or not _NAME_RE.match(name):
        raise DeployError(
            f"{file}: an object without a kind or a valid metadata.name; refusing to apply "
            "(generateName and templates are not deployable as they are)"
        )
    if namespace is not None and not isinstance(namespace, str):
        raise DeployError(f"{file}: {kind}/{name} has a metadata.namespace that is not text")
    return [ManifestObject(file, kind, name, namespace, tuple(container_images(document)))]


def load_objects(directory: Path) -> list[ManifestObject]:
    """Every object under ``directory`` (``*.yaml``/``*.yml``, recursively, as kubectl reads)."""
    objects: list[ManifestObject] = []
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml"))
    for path in files:
        try:
            # Aliases and merge keys within go-yaml's expansion limits (scangate.yaml_limits).
            documents = load_all(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise DeployError(f"{path}: cannot read it ({exc})") from None
        except yaml.YAMLError as exc:
            raise DeployError(f"{path}: cannot read it as YAML ({yaml_problem(exc)})") from None
        for document in documents:
            objects += _objects(document, path.relative_to(directory))
    if not objects:
        raise DeployError(f"{directory}: no Kubernetes object to apply")
    return objects


def check_objects(objects: list[ManifestObject], allowed: tuple[str, ...], namespace: str) -> None:
    """Refuse, naming every offender, objects of other kinds, images not pinned by digest and
    objects in another namespace."""
    refused = [o.label for o in objects if o.kind not in allowed]
    if refused:
        raise DeployError(
            f"refusing to deploy: {len(refused)} object(s) of kinds the deployer may not apply "
            f"(allowed: {', '.join(allowed)}): {'; '.join(refused)}. Move them out of the "
            "manifests folder (the platform team applies them) or extend the deployer RBAC and "
            "--allowed-kinds together"
        )
    unpinned = [f"{image} in {o.label}" for o in objects for image in o.images
                if not _PINNED_RE.match(image)]
    if unpinned:
        # The admission policy refuses such pods: the apply would succeed and the rollout
        # hang until its timeout. Say it now, before anything changes.
        raise DeployError(
            f"refusing to deploy: image(s) not pinned by digest: {'; '.join(unpinned)}. Pin "
            "every container image as REPOSITORY@sha256:DIGEST (the pushed image is pinned by "
            "--image; other images must be pinned in the manifests)"
        )
    elsewhere = [f"{o.label} in {o.namespace}" for o in objects
                 if o.namespace is not None and o.namespace != namespace]
    if elsewhere:
        raise DeployError(
            f"refusing to deploy: object(s) outside --namespace {namespace}: "
            f"{'; '.join(elsewhere)}"
        )
