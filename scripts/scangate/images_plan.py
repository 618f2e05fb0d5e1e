"""The image matrix of a pipeline: one normalised entry per image, or one clear error.

The GitHub workflow's `images` input (a JSON array) or its single-image inputs become the list
its build, scan and gate jobs run once per entry. Unknown keys and bad values are errors, never
ignored; two images with one name, or one explicit code-scanning category, are refused (code
scanning keeps one analysis per category: the second image's alerts would replace the first's).

Each entry carries its `index`, and there are at most MAX_IMAGES: a later job downloads an
image's artifacts by the ids its matrix leg uploaded, and a matrix job's outputs are merged
over its legs by output name (GitHub docs, "Workflow syntax", "Using job outputs in a matrix
job": each leg sets an output of its own name). So the uploading jobs declare one output per
index, `<kind>-0` to `<kind>-<MAX_IMAGES - 1>` (tests/github/test_artifact_ids.py checks them).
"""

from __future__ import annotations

import json
import re
from typing import Any

from scangate.errors import UsageError

KNOWN = ("name", "context", "dockerfile", "build-args", "ecr-repository", "manifests",
         "sarif-category")  # fmt: skip
NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,126}[a-z0-9])?$")
MAX_IMAGES = 16


def _text(entry: dict[str, Any], key: str, default: str) -> str:
    value = entry.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, list):
        return "\n".join(v if isinstance(v, str) else json.dumps(v) for v in value)
    if isinstance(value, str):
        return value
    raise UsageError(f"images: {key} of image {entry.get('name')!s} must be a string")


def parse_images(text: str) -> list[Any]:
    try:
        images = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"images must be a non-empty JSON array of objects: {exc}") from None
    if not isinstance(images, list) or not images:
        raise UsageError("images must be a non-empty JSON array of objects: not a non-empty "
                         "array")
    return images


def single_image(name: str, context: str, dockerfile: str, sarif_category: str,
                 repository: str) -> list[dict[str, str]]:  # fmt: skip
    """The one image of the single-image inputs; no name: the repository's, lowercased."""
    if not name:
        name = repository.rsplit("/", 1)[-1].lower()
    return [{"name": name, "context": context, "dockerfile": dockerfile,
             "sarif-category": sarif_category}]  # fmt: skip


def image_matrix(images: list[Any], build_args: str) -> list[dict[str, Any]]:
    if len(images) > MAX_IMAGES:
        raise UsageError(f"images: {len(images)} images, at most {MAX_IMAGES} per call: split "
                         "them over several calls of container-scan.yml (one job each)")
    matrix: list[dict[str, Any]] = []
    for index, entry in enumerate(images):
        if not isinstance(entry, dict):
            raise UsageError("images: every entry of images must be an object")
        unknown = sorted(set(entry) - set(KNOWN))
        if unknown:
            raise UsageError(f"images: unknown key(s) {', '.join(unknown)} in images entry "
                             f"{json.dumps(entry, separators=(',', ':'))}")
        name = entry.get("name")
        name = "" if name is None else str(name)
        if not NAME.match(name):
            raise UsageError(f"images: image name {json.dumps(name)} must be lowercase letters, "
                             "digits, . _ - (starting and ending with a letter or digit)")
        context = _text(entry, "context", ".")
        matrix.append({
            "index": index,
            "name": name,
            "context": context,
            "dockerfile": _text(entry, "dockerfile", f"{context}/Dockerfile"),
            "build_args": _text(entry, "build-args", build_args),
            "ecr_repository": _text(entry, "ecr-repository", ""),
            "manifests": _text(entry, "manifests", ""),
            "sarif_category": _text(entry, "sarif-category", f"scangate-{name}"),
        })
    names = [m["name"] for m in matrix]
    if len(set(names)) != len(names):
        raise UsageError("images: image names must be unique")
    categories = [m["sarif_category"] for m in matrix]
    shared = sorted({c for c in categories if categories.count(c) > 1})
    if shared:
        raise UsageError(f"images: sarif-category {', '.join(shared)} is given to more than one "
                         "image: each image needs its own, or the alerts of one replace those "
                         "of another")
    return matrix
