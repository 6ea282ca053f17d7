"""The file records are written to (`--output FILE`): locked, proven, never damaged.

Before the file is read, cut or truncated, fetcher takes an exclusive lock on it
(`flock`) and keeps it until it exits: a second run writing the same file exits with
"FILE is in use by another fetcher run" and leaves it untouched, so two runs never
interleave or duplicate records. On a file system that refuses locks (some network
mounts), fetcher warns once and goes on without one.

The order is fixed: open without truncating, lock, check that the file is not one of
the run's inputs (same device and inode, stdin included), then either truncate it (a
new run) or prove it is fetcher's and cut a torn last line (`--resume`, see `_resume`).
A file that is not a regular file (a terminal, /dev/null, a pipe) is written as it is:
it is never locked, truncated or resumed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterable
from typing import BinaryIO

from .._core.errors import OutputError, ResumeError
from .resume import Finished, FinishedURLs, read_finished

__all__ = ["FileIdentity", "close_quietly", "identity_of", "lock", "open_output", "reason"]

FileIdentity = tuple[int, int]  # (st_dev, st_ino)

#: errno values with which a file system says it does not do locks.
_NO_LOCKS = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EINVAL})


def identity_of(path_or_fd: str | int) -> FileIdentity | None:
    """(device, inode) of a regular file, by path or open descriptor; None for anything else."""
    try:
        info = os.stat(path_or_fd)
    except (OSError, ValueError):
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISREG(info.st_mode) else None


def open_output(
    path: str,
    *,
    resume: bool,
    inputs: Iterable[FileIdentity],
    warn: Callable[[str], None],
    lines: Callable[[], Iterable[tuple[int, str]]] | None = None,
) -> tuple[BinaryIO, Finished]:
    """Open `path` for the records, locked; with `resume`, load what it holds and append.

    `inputs` are the identities of the run's inputs: the output may be none of them.
    `lines` reads the inputs again, when they can be, as (index, URL) pairs: resume state
    is then kept small (see `read_finished`).
    Raises `OutputError` with a one-line message; the file is then as it was found.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise OutputError(f"cannot write {path!r}: {reason(exc)}") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise OutputError(f"cannot write {path!r}: Is a directory")
    if info is not None and not stat.S_ISREG(info.st_mode):
        if resume:
            raise OutputError(f"--resume needs a regular file, and {path!r} is not one")
        return _open_special(path), FinishedURLs()
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        raise OutputError(f"cannot write {path!r}: {reason(exc)}") from None
    try:
        lock(fd, path, warn)
        if identity_of(fd) in set(inputs):
            raise OutputError(f"--output {path!r} is the URL list itself")
        finished = _prepare(fd, path, resume, lines)
        os.lseek(fd, 0, os.SEEK_END)
        return open(fd, "wb", closefd=True), finished
    except BaseException:
        os.close(fd)
        raise


def _open_special(path: str) -> BinaryIO:
    try:
        return open(path, "wb")
    except OSError as exc:
        raise OutputError(f"cannot write {path!r}: {reason(exc)}") from None


def lock(fd: int, path: str, warn: Callable[[str], None]) -> None:
    """Hold an exclusive lock on `path` (open as `fd`) until it is closed; `OutputError`
    if another run holds it; a warning if its file system does no locks."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Windows
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise OutputError(f"{path} is in use by another fetcher run") from None
    except OSError as exc:
        if exc.errno not in _NO_LOCKS:
            raise OutputError(f"cannot lock {path!r}: {reason(exc)}") from None
        warn(f"cannot lock {path!r} ({reason(exc)}): another run could write it too")


def _prepare(
    fd: int, path: str, resume: bool, lines: Callable[[], Iterable[tuple[int, str]]] | None
) -> Finished:
    """Truncate the locked file for a new run, or load and tidy it for `--resume`."""
    try:
        if not resume:
            os.ftruncate(fd, 0)
            return FinishedURLs()
        with open(os.dup(fd), "rb") as reading:
            finished, torn_at = read_finished(reading, path, lines)
        if torn_at is not None:
            os.ftruncate(fd, torn_at)
        return finished
    except ResumeError as exc:
        raise OutputError(str(exc)) from None
    except OSError as exc:
        raise OutputError(f"cannot use {path!r}: {reason(exc)}") from None


def reason(exc: OSError) -> str:
    """An OS error in a few words, for a one-line message."""
    return exc.strerror or str(exc) or type(exc).__name__


def close_quietly(stream: BinaryIO) -> None:
    """Close an output file whose records were each flushed already (or failed loudly)."""
    with contextlib.suppress(OSError):
        stream.close()
