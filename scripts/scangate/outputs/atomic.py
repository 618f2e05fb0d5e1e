"""All-or-nothing output: every file of a run appears together, or none does.

A pipeline step that reads ``summary.json`` after a crash must never find a file that looks like
a result. Outputs are written to temporary files beside their targets and renamed only when all
of them were written; on failure the temporaries and any stale files at the targets are removed.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from scangate.errors import OutputError, ScangateError

# Bytes, chunks of bytes, or a writer that streams into a seekable binary file.
Content = bytes | Iterable[bytes] | Callable[[BinaryIO], None]


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


def check_writable(path: str, flag: str, inputs: Iterable[tuple[str, str]] = ()) -> None:
    """Fail before the real work when an output cannot be written, or must not be.

    An output replaces what is at its path (a rename), so it may only be a regular file that
    is none of the run's inputs (``inputs``: flag and path of each report, policy and
    Dockerfile), compared by file identity so a hard link or another spelling of the path is
    caught too. A symbolic link is refused whatever it points at: replacing it would not write
    where it points, and writing through it could reach an input. A device, FIFO or socket is
    refused: run as root, a rename over ``/dev/null`` would make it a regular file for every
    later step of the job.
    """
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise OutputError(f"{path}: {flag}: cannot check the path: {exc.strerror or exc}") from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise OutputError(
            f"{path}: {flag} names {_kind(info.st_mode)}; scangate writes outputs only as "
            "regular files: give a path to a new or regular file")
    if info is not None:
        for input_flag, input_path in inputs:
            try:
                other = os.stat(input_path)
            except OSError:
                continue  # a missing input is reported by whatever reads it
            if (other.st_dev, other.st_ino) == (info.st_dev, info.st_ino):
                raise OutputError(f"{path}: {flag} would overwrite the {input_flag} input "
                                  f"{input_path}: write the output somewhere else")
    if not parent.is_dir():
        raise OutputError(f"{path}: {flag}: directory {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: {flag}: directory {parent} is not writable")


def _is_regular_file(path: str) -> bool:
    """A regular file itself, not a link to one: only those are ever removed or replaced."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _remove_files(paths: list[str]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            if _is_regular_file(path):
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
                # Checked again at the last moment: nothing but a regular file (or nothing) is
                # ever replaced, even if the path changed while the reports were read.
                with contextlib.suppress(FileNotFoundError):
                    mode = os.lstat(final).st_mode
                    if not stat.S_ISREG(mode):
                        raise OutputError(f"{final}: became {_kind(mode)} during the run; "
                                          "nothing was written there")
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
        _remove_files(list(stale_targets))


@contextlib.contextmanager
def replaced_on_success(path: str | Path, label: str, *, mode: int = 0o644,
                        error: type[ScangateError] = OutputError) -> Iterator[str]:
    """A new temporary file beside ``path`` (the same file system, so the rename is atomic),
    for the block to fill by name (a tool may write it). When the block ends, it is given
    ``mode`` and renamed over ``path``; when the block raises, it is removed. Nothing
    half-written ever stands at ``path``. ``label`` names the output in the one-line ``error``
    raised when the directory cannot take the file."""
    target = str(path)
    try:
        fd, partial = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp",
                                       dir=os.path.dirname(os.path.abspath(target)))
    except OSError as exc:
        raise error(f"{label}: cannot write: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        yield partial
        try:
            os.chmod(partial, mode)
            os.replace(partial, target)
        except OSError as exc:
            raise error(f"{label}: cannot write: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(partial)


def write_replacing(path: str | Path, data: bytes, label: str, *, mode: int = 0o644,
                    error: type[ScangateError] = OutputError) -> None:
    """``data`` at ``path`` all at once (replaced_on_success), or nothing and one ``error``."""
    with replaced_on_success(path, label, mode=mode, error=error) as partial:
        try:
            with open(partial, "wb") as handle:
                handle.write(data)
        except OSError as exc:
            raise error(f"{label}: cannot write: {exc.strerror or exc}") from None
