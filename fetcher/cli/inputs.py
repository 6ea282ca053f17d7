"""The command line's inputs: URLs given as arguments, list files and stdin, as one list.

`fetcher [OPTIONS] INPUT...`: an INPUT starting with `http://` or `https://` (or any
other `scheme://`, which gets an error record) is a URL;
`-` is stdin (at most once); anything else is a list file, one URL a line. The inputs
are read lazily, in the order given, as one list.

Lists are read on the runner's feeder thread with `os.read` (see `urllist.FdReader`).
A read that never returns (a pipe or FIFO whose writer stays open) holds no lock of
Python's, so fetcher can exit as soon as its work is done; a descriptor is closed only
once no read can be under way. A read error is raised as `InputError`, naming the list
and saying whether any URL had been read before it.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from .._core.errors import InputError
from .._output.outfile import FileIdentity
from .._run.urllist import FdReader, count_urls, iter_urls
from .env import Environment

__all__ = ["Input", "Inputs", "open_input", "open_inputs"]

STDIN = "-"
#: An INPUT that is a URL: http:// and https://, and any other scheme (reported as an
#: error record, as a list line with that scheme is).
_URL_ARGUMENT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
#: A name that is more likely a host than a file: a domain name, localhost or an IP
#: address, maybe with a port and a path.
_LOOKS_LIKE_HOST = re.compile(
    r"(?:(?:[A-Za-z0-9-]+\.)+(?P<top>[A-Za-z]{2,})|localhost|\d{1,3}(?:\.\d{1,3}){3}"
    r"|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?(?:/\S*)?"
)
#: Endings that make a name a file's, though they look like a top-level domain.
_FILE_ENDINGS = frozenset(
    {"txt", "csv", "tsv", "json", "jsonl", "ndjson", "list", "lst", "log", "md", "gz", "urls"}
    | {"py", "sh", "js", "html", "htm", "xml", "yaml", "yml", "toml", "ini", "cfg", "conf"}
)


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

    def reread(self) -> Iterator[str]:
        """The URLs of a regular file read again apart, as `count` reads them."""
        return iter_urls(_PositionalReader(self.fd, self.start))

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


class Inputs:
    """The inputs of one run, read lazily in the order given, as one list."""

    def __init__(self, inputs: list[Input], urls: dict[int, str]) -> None:
        self._inputs = inputs
        self._urls = urls  # position among the inputs -> a URL given as an argument

    @property
    def identities(self) -> list[FileIdentity]:
        """(device, inode) of every regular file among the inputs."""
        return [i.identity for i in self._inputs if i.identity is not None]

    @property
    def uses_stdin(self) -> bool:
        return any(i.name == STDIN for i in self._inputs)

    def prefetch(self) -> None:
        for source in self._inputs:
            source.prefetch()

    def urls(self) -> Iterator[str]:
        """Every URL, input after input; a list that fails to read raises `InputError`."""
        return self._each(Input.urls)

    def _each(self, read: Callable[[Input], Iterator[str]]) -> Iterator[str]:
        """Every URL, input after input, each list read by `read`."""
        files = iter(self._inputs)
        for position in range(len(self._inputs) + len(self._urls)):
            if position in self._urls:
                yield self._urls[position]
            else:
                yield from read(next(files))

    def reread(self) -> Callable[[], Iterator[tuple[int, str]]] | None:
        """A way to read every URL again as (index, URL), apart from the run's own reading
        (`pread`), when every list is a regular file; else None. `--resume` uses it to
        prove that the inputs still have the recorded URLs at the recorded indexes."""
        if not all(source.regular for source in self._inputs):
            return None
        return lambda: enumerate(self._each(Input.reread), 1)

    def count(self) -> int | None:
        """How many URLs in all, when every list is a regular file (else None)."""
        counts = [source.count() for source in self._inputs]
        if any(count is None for count in counts):
            return None
        return len(self._urls) + sum(count or 0 for count in counts)

    def close(self) -> None:
        for source in self._inputs:
            source.close()


def open_inputs(names: Iterable[str], env: Environment, commands: Iterable[str] = ()) -> Inputs:
    """Open every INPUT (see the module's docstring); `InputError` naming the first that
    cannot be (and closing those already open)."""
    names = list(names)
    if names.count(STDIN) > 1:
        raise InputError("standard input (-) can be an input only once")
    opened: list[Input] = []
    urls: dict[int, str] = {}
    try:
        for position, name in enumerate(names):
            if _URL_ARGUMENT.match(name):
                urls[position] = name
            else:
                opened.append(open_input(name, env, commands))
    except InputError:
        for source in opened:
            source.close()
        raise
    return Inputs(opened, urls)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def open_input(name: str, env: Environment, commands: Iterable[str] = ()) -> Input:
    """Open the URL list `name` (`-` for stdin); `InputError` if it cannot be, with a
    hint when the name looks like a host or a mistyped command."""
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
        except FileNotFoundError:
            raise InputError(_missing(name, commands), 0) from None
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


def _missing(name: str, commands: Iterable[str]) -> str:
    """What to say of an input that is no file: perhaps a host, or a mistyped command."""
    host = _LOOKS_LIKE_HOST.fullmatch(name)
    if host is not None and (host["top"] or "").lower() not in _FILE_ENDINGS:
        scheme = "https" if host["top"] else "http"  # localhost, an IP: a local server
        return f"no such file {name!r} (to fetch it, write {scheme}://{name})"
    close = difflib.get_close_matches(name, list(commands), n=1, cutoff=0.6)
    if close and "/" not in name and "." not in name:
        return f"no such file or command {name!r} (did you mean {close[0]!r}?)"
    return f"cannot read URL list {name!r}: No such file or directory"
