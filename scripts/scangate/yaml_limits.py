"""YAML that cannot expand into more than it says: anchors, aliases and merge keys (``<<``)
are allowed, as Kubernetes allows them, but not a document whose expansion is far larger than
the document itself (the "billion laughs": 600 bytes of aliases become a million containers).

The rule follows go-yaml's "document contains excessive aliasing" check (what kubectl reads
manifests with): the nodes a document expands to may be at most ``_RATIO`` times the nodes it
is written with, plus a small allowance. Recursive aliases and very deep nesting are refused.
"""

from __future__ import annotations

from typing import Any

import yaml

_RATIO = 10
_ALLOWANCE = 10_000
_MAX_DEPTH = 200


class ExpansionError(yaml.YAMLError):
    """The document expands too far, refers to itself or nests too deeply."""


def check_expansion(root: yaml.Node) -> None:
    """Refuse ``root`` if it expands too far; sizes are counted once per distinct node."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    # Iterative post-order walk: (node, children visited?, depth)
    stack: list[tuple[yaml.Node, bool, int]] = [(root, False, 1)]
    while stack:
        node, done, depth = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            total = 1 + sum(sizes[id(child)] for child in _children(node))
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise ExpansionError(f"an alias refers to itself (line {node.start_mark.line + 1})")
        if depth > _MAX_DEPTH:
            raise ExpansionError(f"nested deeper than {_MAX_DEPTH} levels "
                                 f"(line {node.start_mark.line + 1})")
        on_path.add(key)
        stack.append((node, True, depth))
        for child in _children(node):
            if id(child) not in sizes:
                stack.append((child, False, depth + 1))
    expanded, written = sizes[id(root)], len(sizes)
    if expanded > _RATIO * written + _ALLOWANCE:
        raise ExpansionError(
            f"anchors and aliases expand the document starting at line "
            f"{root.start_mark.line + 1} to {expanded} nodes from {written} written (more than "
            f"{_RATIO} times, plus {_ALLOWANCE}): write the values out or use fewer aliases")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


class BoundedSafeLoader(yaml.SafeLoader):
    """yaml.SafeLoader that checks each document's expansion before building it."""

    def construct_document(self, node: Any) -> Any:
        check_expansion(node)
        return super().construct_document(node)  # type: ignore[no-untyped-call]


def load_all(text: str) -> list[Any]:
    """Every document of ``text``, as yaml.safe_load_all would build them, within the limits.
    Raises yaml.YAMLError (ExpansionError included)."""
    try:
        return list(yaml.load_all(text, Loader=BoundedSafeLoader))
    except RecursionError:
        raise ExpansionError(f"nested deeper than {_MAX_DEPTH} levels") from None
