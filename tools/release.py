"""Cut a release: ``python -m tools.release VERSION [--repository OWNER/NAME] [--no-tag]``.

A reusable workflow cannot learn its own ref without an OIDC token (fork and Dependabot pull
requests get none), so container-scan.yml and container-release.yml name scangate's own code
explicitly: every
``uses: OWNER/NAME/actions/<name>@<commit> # v<version>`` and its ``SCANGATE_*`` env. A commit
cannot contain its own SHA, so a release is three commits:

1. **code**: ``scangate.__version__ = VERSION`` (the commit the workflow's actions pin);
2. **pins**: the workflows' self-pins and ``SCANGATE_*`` name commit 1 and VERSION; tagged
   ``vVERSION`` (annotated). Between 1 and 2 nothing but the workflows change, checked here, so
   the actions at the tag are the actions the pins name;
3. **docs**: the pins in README.md (the callers) and docs/*.md (the composite actions) name the
   tag's commit; the generated blocks are rewritten (``python -m tools.gendocs --write``).

``--repository`` re-pins to a mirror (a private copy, GHES): its own name replaces the current
one everywhere. Only the files the release writes are committed (``git commit -- PATHS``); the
release refuses to start when any of them has uncommitted changes.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = Path(".github/workflows/container-scan.yml")
# Every reusable workflow that pins scangate's own actions (WORKFLOW names the current release).
WORKFLOWS = (WORKFLOW, Path(".github/workflows/container-release.yml"))
VERSION_FILE = Path("scripts/scangate/__init__.py")
README = Path("README.md")
DOCS = Path("docs")
# What the pinned commit must hold unchanged at the tag: the code the workflow runs.
PINNED_CODE = ("actions", "scripts", "requirements", "pyproject.toml")

VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")
REPOSITORY_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


class ReleaseError(Exception):
    """A release that cannot be made as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Release:
    version: str
    code_commit: str
    pins_commit: str
    docs_commit: str
    tag: str | None


def _git(root: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip()


def current_self(workflow_text: str) -> tuple[str, str, str]:
    """(repository, commit, version) from the workflow's ``SCANGATE_*`` env."""
    found = {}
    for key in ("SCANGATE_REPOSITORY", "SCANGATE_COMMIT", "SCANGATE_VERSION"):
        match = re.search(rf"^  {key}: \"?([^\"\s]+)\"?\s*$", workflow_text, re.MULTILINE)
        if not match:
            raise ReleaseError(f"{WORKFLOW}: no `{key}:` in the top-level env")
        found[key] = match.group(1)
    return found["SCANGATE_REPOSITORY"], found["SCANGATE_COMMIT"], found["SCANGATE_VERSION"]


def self_uses(repository: str) -> re.Pattern[str]:
    """``uses: REPOSITORY/<path>@<ref> # v<version>`` (the comment optional)."""
    return re.compile(
        rf"^(?P<lead>[ \t]*(?:-[ \t]+)?uses:[ \t]*){re.escape(repository)}(?P<path>/[^@\s]+)"
        rf"@(?P<ref>[^\s#]+)(?:[ \t]*#[ \t]*(?P<comment>v\S+))?",
        re.MULTILINE,
    )


def doc_files(root: Path) -> list[Path]:
    """README.md and docs/*.md, relative to root: where the release rewrites pins."""
    return [README, *sorted(p.relative_to(root) for p in (root / DOCS).glob("*.md"))]


def rewrite_pins(text: str, old_repository: str, repository: str, commit: str,
                 version: str) -> str:
    """Point every self ``uses:`` at repository@commit # vversion."""
    return self_uses(old_repository).sub(
        lambda m: f"{m['lead']}{repository}{m['path']}@{commit} # v{version}", text
    )


def rewrite_env(text: str, repository: str, commit: str, version: str) -> str:
    for key, value in (("SCANGATE_REPOSITORY", repository), ("SCANGATE_COMMIT", commit),
                       ("SCANGATE_VERSION", f'"{version}"')):
        pattern = re.compile(rf"^  {key}: .*$", re.MULTILINE)
        if not pattern.search(text):
            raise ReleaseError(f"{WORKFLOW}: no `{key}:` in the top-level env")
        text = pattern.sub(f"  {key}: {value}".replace("\\", "\\\\"), text, count=1)
    return text


def set_version(text: str, version: str) -> str:
    new, count = re.subn(r'^__version__ = "[^"]*"$', f'__version__ = "{version}"', text,
                         flags=re.MULTILINE)
    if count != 1:
        raise ReleaseError(f"{VERSION_FILE}: no single `__version__ = \"...\"` line")
    return new


def _commit(root: Path, message: str, paths: list[Path]) -> str:
    names = [str(p) for p in paths]
    changed = _git(root, "status", "--porcelain", "--", *names)
    if changed:
        _git(root, "add", "--", *names)
        _git(root, "-c", "commit.gpgsign=false", "commit", "-q", "-m", message, "--", *names)
    return _git(root, "rev-parse", "HEAD")


def release(root: Path, version: str, repository: str | None = None, tag: bool = True) -> Release:
    if not VERSION_RE.match(version):
        raise ReleaseError(f"version {version!r} is not X.Y.Z")
    if repository is not None and not REPOSITORY_RE.match(repository):
        raise ReleaseError(f"--repository {repository!r} is not OWNER/NAME")
    touched = [*WORKFLOWS, VERSION_FILE, *doc_files(root)]
    dirty = _git(root, "status", "--porcelain", "--", *map(str, touched))
    if dirty:
        raise ReleaseError(f"uncommitted changes in the files a release writes; commit them "
                           f"first:\n{dirty}")
    if tag and _git(root, "tag", "--list", f"v{version}"):
        raise ReleaseError(f"tag v{version} exists already: releases are immutable")

    workflow = root / WORKFLOW
    old_repository, _, _ = current_self(workflow.read_text(encoding="utf-8"))
    repository = repository or old_repository

    # 1. the code the workflow will run
    version_file = root / VERSION_FILE
    version_file.write_text(set_version(version_file.read_text(encoding="utf-8"), version),
                            encoding="utf-8")
    code = _commit(root, f"Release v{version}: scangate {version}", [VERSION_FILE])

    # 2. the workflows pin that code, and the tag
    for name in WORKFLOWS:
        path = root / name
        text = path.read_text(encoding="utf-8")
        text = rewrite_env(rewrite_pins(text, old_repository, repository, code, version),
                           repository, code, version)
        path.write_text(text, encoding="utf-8")
    pins = _commit(root, f"Release v{version}: the workflow runs {repository}@{code}",
                   list(WORKFLOWS))
    drift = _git(root, "diff", "--name-only", code, pins, "--", *PINNED_CODE)
    if drift:
        raise ReleaseError(f"the pinned code changed between {code} and {pins}: {drift}")
    tag_name = None
    if tag:
        tag_name = f"v{version}"
        _git(root, "-c", "tag.gpgsign=false", "tag", "-a", tag_name, "-m",
             f"scangate {version} (its actions pinned at {code})", pins)

    # 3. README and docs pin the tagged commit; generated blocks refreshed
    for name in doc_files(root):
        path = root / name
        path.write_text(
            rewrite_pins(path.read_text(encoding="utf-8"), old_repository, repository, pins,
                         version),
            encoding="utf-8",
        )
    gendocs = subprocess.run([sys.executable, "-m", "tools.gendocs", "--write"], cwd=root,
                             capture_output=True, text=True)
    if gendocs.returncode != 0:
        raise ReleaseError(f"tools.gendocs --write failed: {gendocs.stderr.strip()}")
    docs = _commit(root, f"Release v{version}: README pins {repository}@{pins}",
                   doc_files(root))
    return Release(version, code, pins, docs, tag_name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.release", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("version", help="X.Y.Z")
    parser.add_argument("--repository", help="OWNER/NAME of the copy that serves the actions "
                        "(a mirror); default: the one the workflow names now")
    parser.add_argument("--no-tag", action="store_true", help="do not create the vX.Y.Z tag")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        made = release(args.root, args.version, args.repository, tag=not args.no_tag)
    except ReleaseError as exc:
        print(f"release: error: {exc}", file=sys.stderr)
        return 2
    print(f"scangate {made.version}: code {made.code_commit}, pins {made.pins_commit}"
          f"{' (tag ' + made.tag + ')' if made.tag else ''}, README {made.docs_commit}")
    print("push the commits and the tag: git push origin HEAD " + (made.tag or ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
