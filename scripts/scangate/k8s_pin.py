"""Pin a container image by digest in Kubernetes manifests (``scangate pin-image``).

Every ``*.yaml``/``*.yml`` file under a directory is read (multi-document); each container and
init container of a workload (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob,
also inside a ``kind: List``) whose image *repository* equals the repository of the given image
(tag and digest ignored) gets the image ``REPOSITORY@sha256:DIGEST``. The rendered manifests are
written to an output directory with the same relative paths; the sources are never modified.

Fail closed: an image without a valid sha256 digest, a manifest that is not YAML, or a run that
matched no container at all is an error (exit 2), so a deployment is never silently unpinned.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scangate.errors import ScangateError
from scangate.input_files import InputFileError, read_input
from scangate.outputs.atomic import OutputSet
from scangate.registry.reference import DIGEST, IMAGE_NAME, TAG
from scangate.yaml_limits import load_all

# A manifest file larger than this is not one a person wrote (kubectl's own limit for a
# request body is 3 MiB; CRDs come close).
MAX_MANIFEST_BYTES = 16 << 20

# Where a workload kind keeps its pod spec.
_POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
_CONTAINER_LISTS = ("initContainers", "containers")


@dataclass(frozen=True)
class PinnedImage:
    """An image reference that names its content by digest."""

    repository: str
    digest: str

    @property
    def reference(self) -> str:
        return f"{self.repository}@{self.digest}"


@dataclass(frozen=True)
class PinnedContainer:
    """One container whose image was replaced."""

    file: Path
    kind: str
    name: str
    container: str
    old_image: str
    new_image: str


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """Split ``REPO[:TAG][@DIGEST]`` into its parts (no validation beyond the split)."""
    rest, _, digest = image.partition("@")
    tag: str | None = None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:  # a ':' after the last '/' is a tag, before it a registry port
        rest, tag = rest[:colon], rest[colon + 1 :]
    return rest, tag, digest or None


def parse_pinned_image(image: str) -> PinnedImage:
    """Parse ``REPO[:TAG]@sha256:<64 hex>``; anything else is a :class:`ScangateError`."""
    repository, tag, digest = split_image(image.strip())
    if digest is None:
        raise ScangateError(
            f"--image {image!r} has no digest: pass REPOSITORY@sha256:<64 hex digits> "
            "(the digest printed by the push step), never a tag alone"
        )
    if not DIGEST.fullmatch(digest):
        raise ScangateError(
            f"--image {image!r}: digest {digest!r} is not sha256: followed by 64 lowercase "
            "hex digits"
        )
    if not IMAGE_NAME.fullmatch(repository):
        raise ScangateError(
            f"--image {image!r}: {repository!r} is not a valid image repository "
            "(lowercase path components, optional registry host)"
        )
    if tag is not None and not TAG.fullmatch(tag):
        raise ScangateError(f"--image {image!r}: {tag!r} is not a valid tag")
    return PinnedImage(repository=repository, digest=digest)


def _manifest_files(manifests_dir: Path) -> list[Path]:
    files = [
        path
        for path in manifests_dir.rglob("*")
        if path.is_file() and path.suffix in (".yaml", ".yml")
    ]
    return sorted(files)


def _pod_specs(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Yield (kind, name, pod spec) for a workload document and the items of a List."""
    kind = document.get("kind")
    if kind == "List" and isinstance(document.get("items"), list):
        for item in document["items"]:
            if isinstance(item, dict):
                yield from _pod_specs(item)
        return
    if not isinstance(kind, str) or kind not in _POD_SPEC_PATHS:
        return
    node: Any = document
    for key in _POD_SPEC_PATHS[kind]:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict):
        metadata = document.get("metadata")
        name = metadata.get("name", "?") if isinstance(metadata, dict) else "?"
        yield kind, str(name), node


def yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's multi-line message as one line: where, then what."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
    return " ".join(str(exc).split())


def container_images(document: dict[str, Any]) -> list[str]:
    """Every image a workload document (or List) runs: containers, init and ephemeral ones."""
    images: list[str] = []
    for _, _, pod_spec in _pod_specs(document):
        for list_key in (*_CONTAINER_LISTS, "ephemeralContainers"):
            containers = pod_spec.get(list_key) or []
            if isinstance(containers, list):
                images += [str(c.get("image")) for c in containers if isinstance(c, dict)]
    return images


def _load_documents(path: Path) -> list[Any]:
    try:
        text = read_input(str(path), MAX_MANIFEST_BYTES).decode("utf-8")
    except InputFileError as exc:
        raise ScangateError(f"cannot read manifest {path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ScangateError(f"cannot read manifest {path}: not UTF-8 ({exc.reason} at byte "
                            f"{exc.start})") from None
    try:
        return load_all(text)
    except yaml.YAMLError as exc:
        raise ScangateError(f"manifest {path} is not valid YAML: {yaml_problem(exc)}") from None


def _refuse_symlinks(output_dir: Path, target: Path) -> None:
    """Neither the output directory, nor a directory under it, nor the file may be a symlink:
    a rendered manifest is written where the user asked, never where a link points."""
    relative = target.relative_to(output_dir)
    between = [output_dir / parent for parent in reversed(relative.parents) if parent.parts]
    for path in (output_dir, *between, target):
        if path.is_symlink():
            raise ScangateError(f"--output: {path} is a symbolic link; scangate writes the "
                                "pinned manifests only into real directories and files: remove "
                                "the link or pass the directory it points to")


def _write_rendered(output_dir: Path, rendered: list[tuple[Path, list[Any]]]) -> None:
    """Write every rendered manifest, all or none (each renamed into place once every one is
    written), then remove the manifests an earlier run left that this one did not write."""
    writer = OutputSet()
    written: set[Path] = set()
    try:
        for relative, documents in rendered:
            target = output_dir / relative
            _refuse_symlinks(output_dir, target)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ScangateError(f"cannot write {target}: {exc.strerror or exc}") from None
            _refuse_symlinks(output_dir, target)
            text = yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False)
            writer.add(str(target), text.encode("utf-8"))
            written.add(target)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    for path in sorted(output_dir.rglob("*")):
        if path.suffix in (".yaml", ".yml") and path not in written and not path.is_symlink() \
                and path.is_file():
            try:
                path.unlink()
            except OSError as exc:
                raise ScangateError(f"cannot remove {path}, a manifest an earlier run left in "
                                    f"--output: {exc.strerror or exc}") from None


def pin_manifests(manifests_dir: Path, image: str, output_dir: Path) -> list[PinnedContainer]:
    """Render every manifest under ``manifests_dir`` into ``output_dir`` with ``image`` pinned.

    Returns the containers that were pinned (at least one; otherwise :class:`ScangateError`).
    """
    pinned = parse_pinned_image(image)
    if not manifests_dir.is_dir():
        raise ScangateError(f"--manifests {manifests_dir}: not a directory")
    if output_dir.resolve() == manifests_dir.resolve():
        raise ScangateError(
            f"--output {output_dir} is the manifests directory: write the pinned manifests "
            "to another directory so the templates stay unpinned"
        )
    files = _manifest_files(manifests_dir)
    if not files:
        raise ScangateError(f"--manifests {manifests_dir}: no *.yaml or *.yml file found")

    rendered: list[tuple[Path, list[Any]]] = []
    changes: list[PinnedContainer] = []
    for path in files:
        documents = _load_documents(path)
        for document in documents:
            if not isinstance(document, dict):
                continue
            for kind, name, pod_spec in _pod_specs(document):
                for list_key in _CONTAINER_LISTS:
                    containers = pod_spec.get(list_key) or []
                    if not isinstance(containers, list):
                        continue
                    for container in containers:
                        if not isinstance(container, dict):
                            continue
                        current = container.get("image")
                        if not isinstance(current, str):
                            continue
                        if split_image(current.strip())[0] != pinned.repository:
                            continue
                        container["image"] = pinned.reference
                        changes.append(
                            PinnedContainer(
                                file=path.relative_to(manifests_dir),
                                kind=kind,
                                name=name,
                                container=str(container.get("name", "?")),
                                old_image=current,
                                new_image=pinned.reference,
                            )
                        )
        rendered.append((path.relative_to(manifests_dir), documents))

    if not changes:
        raise ScangateError(
            f"no container in {manifests_dir} uses repository {pinned.repository!r}: nothing "
            "was pinned; check --image against the image names in the manifests"
        )

    _write_rendered(output_dir, rendered)
    return changes
