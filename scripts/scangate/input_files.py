"""Reading an input file the user names (a policy, a Dockerfile, a manifest, a report) without
hanging or running out of memory on what is not a file.

A FIFO without a writer would block ``open()`` forever and ``/dev/zero`` never ends, and a
symlink can point at either. So the file is opened non-blocking (a FIFO opens at once; reads
then block as usual, and end when its writer closes), regular files are read in full up to
``limit``, and anything else is read up to ``limit`` and refused beyond it. A directory is
refused by name.
"""

from __future__ import annotations

import fcntl
import os
import select
import stat


class InputFileError(Exception):
    """Why the file cannot be read, one line; the caller adds what the file is for."""


class InputFileNotFound(InputFileError):
    """Nothing at the path: callers say how to make the file, not why it is unreadable."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


# How long a FIFO may stay without a writer before it is refused: long enough for a process
# substitution's producer to start on a loaded runner, short enough not to hang a pipeline.
FIFO_WRITER_WAIT_SECONDS = 60.0


def _await_writer(fd: int) -> None:
    """Wait until a FIFO has data or its writer has come and gone.

    A read from a FIFO that no writer has opened yet returns end-of-file at once on Linux, so a
    producer that starts a moment after us would be read as an empty file. poll() reports
    nothing on such a FIFO until a writer connects (then POLLIN, or POLLHUP once it closes).
    """
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    if not poller.poll(int(FIFO_WRITER_WAIT_SECONDS * 1000)):
        raise InputFileError(
            f"is a FIFO that no process wrote to within {FIFO_WRITER_WAIT_SECONDS:.0f} seconds")


def read_input(path: str, limit: int) -> bytes:
    """The bytes of ``path`` (at most ``limit``); InputFileError otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise InputFileNotFound("not found") from None
    except OSError as exc:
        raise InputFileError(f"cannot read it: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if stat.S_ISDIR(mode):
        os.close(fd)
        raise InputFileError("is a directory")
    with os.fdopen(fd, "rb", buffering=0) as handle:
        regular = stat.S_ISREG(mode)
        if regular and os.fstat(fd).st_size > limit:
            raise InputFileError(f"is larger than {limit} bytes")
        if not regular:
            if stat.S_ISFIFO(mode):
                _await_writer(fd)
            # Reads block again (a FIFO's writer may still be starting); the limit bounds them.
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
        chunks: list[bytes] = []
        total = 0
        try:
            while total <= limit:
                chunk = handle.read(min(1 << 20, limit + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
        except OSError as exc:
            raise InputFileError(f"cannot read it: {exc.strerror or exc}") from None
        if total > limit:
            what = "is" if regular else f"is {_kind(mode)} that gave"
            raise InputFileError(f"{what} more than {limit} bytes")
        return b"".join(chunks)
