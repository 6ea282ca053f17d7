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
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from .._core.errors import InputError
from .._output.outfile import FileIdentity
from .._run.urllist import FdReader, count_urls, iter_urls
from .env import Environment

__all__ = ["Input", "open_input"]

STDIN = "-"


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
    stream: BinaryIO | FdReader | None = None
    start: int = 0  # where the list starts in a regular file (stdin may be part-read)

    def prefetch(self) -> None:
        """Read the first block of a regular file now, so that a list that cannot be read
        at all is refused before anything else is touched (an output file, for one)."""
        if self.stream is not None or not self.regular:
            return  # a pipe's first block may be a long wait: it is read with the rest
        reader = FdReader(self.fd)
        try:
            reader.peek()
        except OSError as exc:
            raise InputError(f"cannot read URL list {self.name!r}: {_reason(exc)}", 0) from None
        self.stream = reader

    def urls(self) -> Iterator[str]:
        """The URL lines, read lazily; a read error becomes `InputError`."""
        count = 0
        try:
            for url in iter_urls(self.stream or FdReader(self.fd)):
                count += 1
                yield url
        except OSError as exc:
            where = "standard input" if self.name == STDIN else self.name
            reason = _reason(exc)
            if count == 0:
                raise InputError(f"cannot read URL list {where!r}: {reason}", 0) from None
            raise InputError(f"reading URL list: {where}: {reason}", count) from None

    def count(self) -> int | None:
        """The number of URLs in a regular file, counted apart (`pread`: the offset the
        feeder reads from does not move), or None for anything else."""
        if not self.regular:
            return None
        try:
            return count_urls(_PositionalReader(self.fd, self.start))
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


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def open_input(name: str, env: Environment) -> Input:
    """Open the URL list `name` (`-` for stdin); `InputError` if it cannot be."""
    if name == STDIN:
        if env.stdin is not None:  # an in-memory stdin in place of the process's own
            return Input(name, -1, None, False, False, env.stdin)
        fd = 0
        owned = False
        if env.stdin_closed:
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
    start = os.lseek(fd, 0, os.SEEK_CUR) if regular else 0
    return Input(name, fd, identity, regular, owned, start=start)
