"""The command line's URL list: a file or stdin, read by file descriptor, never blocking exit.

The list is read on the runner's feeder thread with `os.read` (see `_urls.FdReader`).
A read that never returns (a pipe or FIFO whose writer stays open) holds no lock of
Python's, so fetcher can exit as soon as its work is done; the descriptor is closed only
once no read can be under way. A read error is raised as `InputError`, naming the list
and saying whether any URL had been read before it.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ._outfile import FileIdentity
from ._stdio import closed_at_start
from ._urls import FdReader, count_urls, iter_urls

__all__ = ["Input", "InputError", "open_input"]

STDIN = "-"


class InputError(Exception):
    """The URL list could not be read (one line for the user)."""

    def __init__(self, message: str, urls_read: int) -> None:
        super().__init__(message)
        self.urls_read = urls_read


@dataclass
class Input:
    """One opened URL list: its name as given, its descriptor and what kind of file it is.

    `stream` replaces the descriptor as the source of bytes when stdin is not the
    process's own (a test harness's in-memory stdin).
    """

    name: str
    fd: int
    identity: FileIdentity | None  # (device, inode) when it is a regular file
    regular: bool
    owned: bool  # opened here (closed here); stdin is not
    stream: BinaryIO | None = None

    def urls(self) -> Iterator[str]:
        """The URL lines, read lazily; a read error becomes `InputError`."""
        count = 0
        try:
            for url in iter_urls(self.stream or FdReader(self.fd)):
                count += 1
                yield url
        except OSError as exc:
            where = "standard input" if self.name == STDIN else self.name
            reason = exc.strerror or str(exc)
            if count == 0:
                raise InputError(f"cannot read URL list {where!r}: {reason}", 0) from None
            raise InputError(f"reading URL list: {where}: {reason}", count) from None

    def count(self) -> int | None:
        """The number of URLs in a regular file, counted apart (`pread`: the offset the
        feeder reads from does not move), or None for anything else."""
        if not self.regular:
            return None
        try:
            return count_urls(_PositionalReader(self.fd, os.lseek(self.fd, 0, os.SEEK_CUR)))
        except OSError:
            return None

    def close(self) -> None:
        """Close the descriptor (only once no read is under way on it)."""
        if self.owned:
            os.close(self.fd)
            self.owned = False


class _PositionalReader(FdReader):
    """Reads a regular file from `offset` with `pread`, leaving the descriptor's offset."""

    def __init__(self, fd: int, offset: int) -> None:
        super().__init__(fd)
        self._offset = offset

    def _more(self) -> bytes:
        data = os.pread(self._fd, 64 * 1024, self._offset)
        self._offset += len(data)
        return data


def open_input(name: str) -> Input:
    """Open the URL list `name` (`-` for stdin); `InputError` if it cannot be."""
    if name == STDIN:
        if sys.stdin is not sys.__stdin__ and sys.stdin is not None:  # not the process's own
            return Input(name, -1, None, False, False, sys.stdin.buffer)
        fd = 0
        owned = False
        if closed_at_start(0):
            raise InputError("standard input is closed", 0)
        info = os.fstat(fd)
    else:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise InputError(f"cannot read URL list {name!r}: {reason}", 0) from None
        owned = True
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            os.close(fd)
            raise InputError(f"cannot read URL list {name!r}: Is a directory", 0)
    regular = stat.S_ISREG(info.st_mode)
    identity = (info.st_dev, info.st_ino) if regular else None
    return Input(name, fd, identity, regular, owned)
