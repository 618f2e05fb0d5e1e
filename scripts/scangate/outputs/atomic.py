"""All-or-nothing output: every file of a run appears together, or none does.

A pipeline step that reads ``summary.json`` after a crash must never find a file that looks like
a result. Outputs are written to temporary files beside their targets and renamed only when all
of them were written; on failure the temporaries and any stale files at the targets are removed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from scangate.errors import OutputError

# Bytes, chunks of bytes, or a writer that streams into a seekable binary file.
Content = bytes | Iterable[bytes] | Callable[[BinaryIO], None]


def check_writable(path: str, flag: str) -> None:
    """Fail before the real work when an output cannot be written at all."""
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise OutputError(f"{path}: {flag} names a directory, not a file")
    if not parent.is_dir():
        raise OutputError(f"{path}: {flag}: directory {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: {flag}: directory {parent} is not writable")


def _remove_files(paths: list[str]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            if os.path.isfile(path):
                os.unlink(path)


class OutputSet:
    """The outputs of one run. ``targets`` are the final paths: whatever a previous run left
    there is removed at once, so a run that dies half-way leaves no stale result behind."""

    def __init__(self, targets: Iterable[str] = ()) -> None:
        self._pending: list[tuple[str, str]] = []  # (temporary path, final path)
        # On a thread: the kernel takes a while to free a large old report's pages (a quarter
        # of a second for the benchmark's), and this run can parse meanwhile. It is joined
        # before any rename, so it never races a new output.
        self._clearing = threading.Thread(target=_remove_files, args=(list(targets),),
                                          name="scangate-clear-outputs", daemon=True)
        self._clearing.start()

    def add(self, path: str, content: Content) -> None:
        directory = os.path.dirname(os.path.abspath(path))
        try:
            fd, tmp = tempfile.mkstemp(prefix=".scangate-", suffix=".tmp", dir=directory)
        except OSError as exc:
            raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None
        self._pending.append((tmp, path))
        try:
            # Large buffers: the reports arrive in many small chunks.
            with os.fdopen(fd, "wb", buffering=1 << 20) as handle:
                if isinstance(content, bytes):
                    handle.write(content)
                elif callable(content):
                    content(handle)
                else:
                    for chunk in content:
                        handle.write(chunk)
            # No fsync: the rename is what makes a result appear; power loss is not our threat.
        except OSError as exc:
            raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None

    def commit(self) -> None:
        self._clearing.join()
        for tmp, final in self._pending:
            try:
                os.chmod(tmp, 0o644)
                os.replace(tmp, final)
            except OSError as exc:
                raise OutputError(f"{final}: cannot write: {exc.strerror or exc}") from None
        self._pending.clear()

    def abort(self, stale_targets: Iterable[str] = ()) -> None:
        self._clearing.join()
        for tmp, _ in self._pending:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        self._pending.clear()
        for path in stale_targets:
            with contextlib.suppress(OSError):
                if os.path.isfile(path):
                    os.unlink(path)

