"""Inline ignore comments in the files a misconfiguration scan reads.

Trivy's misconfiguration scanners obey comments in the scanned files themselves and drop what
they name without a trace, so ``scangate scan --fs`` refuses a checkout that carries one (see
scangate.commands.scan).
"""

from __future__ import annotations

import os
import re

# Comments Trivy's misconfiguration scanners obey in the scanned files themselves
# (`# trivy:ignore:DS-0001` above a Dockerfile line, tfsec's older spelling in Terraform): the
# finding is then dropped without a trace, not even with --show-suppressed (Trivy 0.76). No flag
# turns them off, so a checkout carrying one is refused: waivers belong in the policy. They are
# looked for in comments (`#`, `//`, `/*`), on their own line or after the code they silence.
_INLINE_IGNORE = re.compile(rb"(?:#|//|/\*)[ \t]*(?:trivy|tfsec):ignore")
# Files Trivy's misconfiguration scanners parse and that can hold comments: Dockerfiles,
# Terraform, YAML (Kubernetes, CloudFormation, Helm, Ansible). A README or a script that
# mentions such a comment is not one.
_CHECKED_SUFFIXES = (".tf", ".tfvars", ".hcl", ".yaml", ".yml", ".tpl", ".dockerfile",
                     ".containerfile")
_CHECKED_PREFIXES = ("dockerfile", "containerfile")
_SKIPPED_DIRS = frozenset({".git", ".hg", ".svn"})
_MAX_CHECKED_FILE = 16 << 20


def _checked(name: str) -> bool:
    lowered = name.lower()
    return lowered.endswith(_CHECKED_SUFFIXES) or lowered.startswith(_CHECKED_PREFIXES)


def find_inline_ignore(root: str) -> tuple[str, int] | None:
    """The first file (and line) under ``root`` with an inline ignore comment, or None."""
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d not in _SKIPPED_DIRS)
        for name in sorted(files):
            if not _checked(name):
                continue
            path = os.path.join(directory, name)
            try:
                if os.path.islink(path) or os.path.getsize(path) > _MAX_CHECKED_FILE:
                    continue
                with open(path, "rb") as handle:
                    data = handle.read()
            except OSError:
                continue
            match = _INLINE_IGNORE.search(data)
            if match:
                return os.path.relpath(path, root), data.count(b"\n", 0, match.start()) + 1
    return None
