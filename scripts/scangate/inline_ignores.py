"""Inline ignore comments in the files a misconfiguration scan reads, in every form Trivy obeys.

Trivy's misconfiguration scanners obey tokens in the scanned files themselves and drop what
they name without a trace (not even with --show-suppressed; Trivy 0.76). No flag turns them
off, so ``scangate scan`` refuses a checkout or an image archive that carries one (see
scangate.commands.scan): waivers belong in the policy.

What Trivy obeys (pkg/iac/ignore/parse.go): each line (split on "\\n", trimmed) is split on
spaces; each part is trimmed of white space, then of leading ``#``, ``/`` and ``*``; a part
starting with ``trivy:`` or ``tfsec:`` is read as ``key:value`` pairs, and one whose ``ignore``
pair has a value (the check ID, ``*``, ``ID[param=value]``) is obeyed for that line and the
next. So the token needs no comment marker and may follow any text (``# see trivy:ignore:*``,
``RUN echo trivy:ignore:*``, a ``"//": " trivy:ignore:* "`` key in .tf.json, ``Bucket: # ...``
in a CloudFormation template). This module finds any such token, at any file size, reading in
bounded chunks; where a token cannot be decided within a window it counts as obeyed.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

# The literal every obeyed token holds (matched without case: a superset of Trivy's).
_HIT = re.compile(rb"(?:trivy|tfsec):", re.IGNORECASE)
# Bytes that may stand between a token's start (line start or a space) and "trivy:": white
# space Go's strings.TrimSpace removes (bytes >= 0x80 stand for its non-ASCII spaces) and the
# "#", "/" and "*" Trivy strips.
_LEADING = frozenset(b" \t\r\v\f\x1c\x1d\x1e\x1f#/*") | frozenset(range(0x80, 0x100))
_TOKEN_END = re.compile(rb"[ \n]")
_WINDOW = 4096  # a token (or the run before it) longer than this counts as obeyed
_CHUNK = 1 << 20

# Files Trivy's misconfiguration scanners parse (Dockerfile, Terraform and its JSON and plan
# forms, CloudFormation, Kubernetes, Helm, Azure ARM, Ansible), plus archives that hold such
# files (Helm charts, Terraform plan snapshots): a superset, by name. A README or a script
# that mentions such a comment is not one.
_CHECKED_SUFFIXES = (".tf", ".tfvars", ".hcl", ".yaml", ".yml", ".json", ".tpl", ".template",
                     ".ini", ".dockerfile", ".containerfile")
_ARCHIVE_SUFFIXES = (".tgz", ".tar.gz", ".tar", ".zip", ".tfplan")
_CHECKED_NAMES = ("dockerfile", "containerfile", "tfplan")
_SKIPPED_DIRS = frozenset({".git", ".hg", ".svn"})
_MAX_DEPTH = 3  # image archive -> layer -> Helm chart archive
_MAX_JSON_BLOB = 4 << 20  # manifests and configs are smaller (registries cap manifests at 4 MiB)


class UnreadableError(Exception):
    """A file or layer that may hold a token could not be read: refused, never skipped."""


@dataclass(frozen=True, slots=True)
class InlineIgnore:
    """Where a token is: a path (``a/b.tgz!chart/x.yaml`` inside archives) and a line."""

    path: str
    line: int


def _obeyed(buf: bytes, start: int, end: int, at_file_start: bool, at_eof: bool) -> bool:
    """Whether Trivy would obey the token whose "trivy:"/"tfsec:" is buf[start:end]."""
    i = start - 1
    while True:
        if i < 0:
            if not at_file_start:
                return True  # the run before it is longer than the window
            break
        byte = buf[i]
        if byte in (0x20, 0x0A):
            break
        if byte not in _LEADING:
            return False  # text glued to the token: not a part of its own
        if start - i > _WINDOW:
            return True
        i -= 1
    found = _TOKEN_END.search(buf, end, end + _WINDOW + 1)
    if found is None:
        if not at_eof or len(buf) - end > _WINDOW:
            return True
        stop = len(buf)
    else:
        stop = found.start()
    segments = buf[end:stop].strip().split(b":")
    for k in range(0, len(segments) - 1, 2):
        if segments[k].lower() == b"ignore" and segments[k + 1].split(b"[", 1)[0].strip():
            return True
    return False


def find_in_stream(read: Callable[[int], bytes]) -> int | None:
    """The line of the first token Trivy would obey in the stream ``read`` returns, or None."""
    buf = b""
    first_line = 1  # line number of buf[0]
    pending = 0  # hits from here on are not decided yet
    at_file_start = True
    while True:
        chunk = read(_CHUNK)
        at_eof = not chunk
        buf += chunk
        decided_before = len(buf) if at_eof else len(buf) - _WINDOW
        for match in _HIT.finditer(buf, pending):
            if match.start() >= decided_before:
                break
            if _obeyed(buf, match.start(), match.end(), at_file_start, at_eof):
                return first_line + buf.count(b"\n", 0, match.start())
        if at_eof:
            return None
        pending = max(pending, decided_before)
        cut = max(0, pending - _WINDOW)  # keep the window before the undecided hits
        if cut:
            first_line += buf.count(b"\n", 0, cut)
            buf = buf[cut:]
            pending -= cut
            at_file_start = False


def _checked(name: str) -> bool:
    base = name.rsplit("/", 1)[-1].lower()
    return base.endswith(_CHECKED_SUFFIXES) or any(n in base for n in _CHECKED_NAMES)


def _archive(name: str) -> bool:
    return name.lower().endswith(_ARCHIVE_SUFFIXES)


def _in_archive(handle: IO[bytes], where: str, depth: int) -> InlineIgnore | None:
    """A token in a tar (any compression Python reads) or zip archive, or None."""
    if depth > _MAX_DEPTH:
        raise UnreadableError(f"{where}: archives nested deeper than {_MAX_DEPTH}")
    head = handle.read(4)
    if head[:4] == b"PK\x03\x04":
        if not handle.seekable():
            raise UnreadableError(f"{where}: a zip archive inside an archive")
        handle.seek(0)
        try:
            with zipfile.ZipFile(handle) as archive:
                for info in archive.infolist():
                    if info.is_dir():
                        continue
                    with archive.open(info) as member:
                        found = _in_member(member, info.filename, where, depth)
                    if found:
                        return found
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
            raise UnreadableError(f"{where}: cannot read the zip archive: {exc}") from None
        return None
    if head[:4] == b"\x28\xb5\x2f\xfd":
        raise UnreadableError(f"{where}: a zstd-compressed archive, which scangate cannot look "
                              "inside for inline ignores")
    stream = _Prefixed(head, handle)
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as archive:  # type: ignore[call-overload]
            for entry in archive:
                if not entry.isreg():
                    continue
                member = archive.extractfile(entry)
                if member is None:
                    continue
                found = _in_member(member, entry.name, where, depth)
                if found:
                    return found
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise UnreadableError(f"{where}: cannot read the archive: {exc}") from None
    return None


def _in_member(member: IO[bytes], name: str, where: str, depth: int) -> InlineIgnore | None:
    inner = f"{where}!{name}"
    if _archive(name):
        return _in_archive(member, inner, depth + 1)
    if _checked(name):
        line = find_in_stream(member.read)
        if line is not None:
            return InlineIgnore(inner, line)
    return None


class _Prefixed:
    """A read-only stream: ``head`` then the rest of ``handle`` (tarfile sniffs compression
    from the first bytes, which were already read)."""

    def __init__(self, head: bytes, handle: IO[bytes]) -> None:
        self._head = head
        self._handle = handle

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0:
                data, self._head = self._head + self._handle.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            if len(data) < size:
                data += self._handle.read(size - len(data))
            return data
        return self._handle.read(size)


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


def _open_regular(path: str, follow: bool = False) -> IO[bytes] | None:
    """The file opened for reading, or None when it is not a regular file (FIFOs and devices
    are not read: Trivy's walker skips them too)."""
    try:
        flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW)
        fd = os.open(path, flags)
    except OSError as exc:
        raise UnreadableError(f"{path}: cannot read: {exc.strerror or exc}") from None
    handle = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        handle.close()
        return None
    return handle


def _walk(root: str) -> Iterator[str]:
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d not in _SKIPPED_DIRS)
        for name in sorted(files):
            yield os.path.join(directory, name)


def find_inline_ignore(root: str) -> tuple[str, int] | None:
    """The first file (relative to ``root``, ``!`` into archives) and line with a token Trivy
    obeys, or None. Raises UnreadableError for a file or archive that cannot be read."""
    for path in _walk(root):
        name = os.path.relpath(path, root)
        if os.path.islink(path) or not (_checked(name) or _archive(name)):
            continue
        handle = _open_regular(path)
        if handle is None:
            continue
        with handle:
            if _archive(name):
                found = _in_archive(handle, name, 1)
                if found:
                    return found.path, found.line
            else:
                line = find_in_stream(handle.read)
                if line is not None:
                    return name, line
    return None


def find_inline_ignore_in_image(archive: str) -> tuple[str, int] | None:
    """The first file (``archive!layer!path``) and line with a token Trivy obeys in an image
    archive (docker save or OCI layout, compressed or not), or None. Every blob that is not
    JSON (a manifest, a config) is read as a layer; one that cannot be read is refused."""
    handle = _open_regular(archive, follow=True)
    if handle is None:
        raise UnreadableError(f"{archive}: not a regular file")
    name = os.path.basename(archive)
    with handle:
        head = handle.read(4)
        try:
            with tarfile.open(fileobj=_Prefixed(head, handle),  # type: ignore[call-overload]
                              mode="r|*") as outer:
                for info in outer:
                    if not info.isreg():
                        continue
                    blob = outer.extractfile(info)
                    if blob is None:
                        continue
                    where = f"{name}!{info.name}"
                    head = blob.read(1)
                    if head in (b"{", b"["):
                        # A manifest, an index, a config: JSON. A layer whose first bytes
                        # look like JSON but are not is still read as a layer.
                        head += blob.read(_MAX_JSON_BLOB)
                        if len(head) <= _MAX_JSON_BLOB and _is_json(head):
                            continue
                    elif not head:
                        continue
                    found = _in_archive(_Prefixed(head, blob), where, 2)  # type: ignore[arg-type]
                    if found:
                        return found.path, found.line
        except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
            raise UnreadableError(f"{archive}: cannot read the image archive: {exc}") from None
    return None
