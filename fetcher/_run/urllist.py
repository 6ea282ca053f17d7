"""Reading URL lists: lazily, a block at a time, with every line's length capped.

A list is UTF-8 (a byte order mark is dropped) or, when it starts with a UTF-16 byte
order mark, UTF-16 in either byte order; both are read lazily, a block at a time (what
a pipe has ready: a line is yielded as soon as its end has been read).

The command line reads its lists through `FdReader`: plain `os.read` calls on the file
descriptor, with no lock of Python's buffered files. A reader thread blocked on a pipe
or FIFO whose writer stays open can then be abandoned at exit: with a buffered file,
the interpreter's own shutdown would wait for (or die on) the lock the blocked read
holds.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterator
from typing import BinaryIO, Protocol

from .._core.urls import MAX_URL_CHARS

__all__ = ["FdReader", "count_urls", "iter_urls", "read_urls"]

_PIECE = MAX_URL_CHARS * 4 + 1  # bytes read at a time: a line of MAX_URL_CHARS characters
_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_BLOCK = 64 * 1024


class _Lines(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def _read1(stream: _Lines, size: int) -> bytes:
    """What a stream has ready (one read), as `read1` gives it; `read` where it has none."""
    read1 = getattr(stream, "read1", None)
    return read1(size) if read1 is not None else stream.read(size)


class _BufferedLines:
    """`read(n)` and `read1(n)` over a source of blocks (`_more`, b"" at the end)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._eof = False

    def _more(self) -> bytes:
        raise NotImplementedError

    def _fill(self) -> bool:
        if self._eof:
            return False
        data = self._more()
        if not data:
            self._eof = True
            return False
        self._buffer += data
        return True

    def read(self, size: int = -1, /) -> bytes:
        while (size < 0 or len(self._buffer) < size) and self._fill():
            pass
        return self._take(len(self._buffer) if size < 0 else min(size, len(self._buffer)))

    def peek(self) -> bytes:
        """What is buffered, reading one block first if nothing is (b"" at the end)."""
        if not self._buffer:
            self._fill()
        return bytes(self._buffer)

    def read1(self, size: int = -1, /) -> bytes:
        """What is buffered, or else one block from the source (b"" at the end)."""
        if not self._buffer and not self._fill():
            return b""
        return self._take(len(self._buffer) if size < 0 else min(size, len(self._buffer)))

    def _take(self, count: int) -> bytes:
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data


class FdReader(_BufferedLines):
    """Lines of a file descriptor, read with `os.read` (no lock; one reading thread).

    It never closes the descriptor: whoever opened it does, once no read can be under way.
    """

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def _more(self) -> bytes:
        return os.read(self._fd, _BLOCK)


class _Utf16Lines(_BufferedLines):
    """A UTF-16 stream (its BOM already read) as the UTF-8 bytes of its text, lazily."""

    def __init__(self, stream: _Lines, bom: bytes) -> None:
        super().__init__()
        self._stream = stream
        codec = "utf-16-le" if bom == codecs.BOM_UTF16_LE else "utf-16-be"
        self._decoder = codecs.getincrementaldecoder(codec)(errors="replace")
        self._done = False

    def _more(self) -> bytes:
        while not self._done:
            data = _read1(self._stream, _BLOCK)  # what has come, not a whole block: a pipe
            self._done = not data
            text = self._decoder.decode(data, final=self._done)
            if text:
                return text.encode("utf-8", "surrogatepass")
        return b""


def _decoded(stream: _Lines) -> _Lines:
    """`stream` as UTF-8 lines without a byte order mark: a UTF-16 list (by its BOM) is
    transcoded as it is read."""
    head = _read1(stream, 2)
    if len(head) == 1:  # a pipe may hand over one byte first
        head += _read1(stream, 1)
    if head in _UTF16_BOMS:
        return _without_bom(_Utf16Lines(stream, head))
    return _without_bom(_Prefixed(stream, head))


def _without_bom(stream: _Lines) -> _Lines:
    """`stream` without the UTF-8 BOM it may start with. Bytes are read only while they
    could still be one, so a pipe's short first line is not held back."""
    head = b""
    while _BOM.startswith(head) and len(head) < len(_BOM):
        more = _read1(stream, len(_BOM) - len(head))
        if not more:
            break
        head += more
    return _Prefixed(stream, head.removeprefix(_BOM))


class _Prefixed:
    """A stream with the (at most three) bytes already read put back in front."""

    def __init__(self, stream: _Lines, head: bytes) -> None:
        self._stream = stream
        self._head = head

    def read(self, size: int = -1, /) -> bytes:
        head, self._head = self._head, b""
        return head + self._stream.read(size - len(head) if size >= 0 else -1)

    def read1(self, size: int = -1, /) -> bytes:
        head, self._head = self._head, b""
        return head or _read1(self._stream, size)


def _url_lines(stream: _Lines) -> Iterator[bytes]:
    """The stripped URL lines of a list as bytes, each at most `_PIECE` bytes long.

    Whitespace around a line is dropped however long it is; a line's content beyond
    `_PIECE` bytes is read past without being stored. A UTF-8 BOM at the start is dropped;
    a UTF-16 list is transcoded to UTF-8 first.

    Read a block at a time (what a pipe has ready, at most `_BLOCK` bytes), each block
    split into lines at once: a line at a time cost a cluster client about 2 us a URL.
    """
    stream = _decoded(stream)
    partial: list[bytes] = []  # the line under way, as read so far (its kept part)
    size = 0  # bytes in `partial`
    cut = False  # the line under way is longer than a piece: the rest is read past
    while block := _read1(stream, _BLOCK):
        lines = block.split(b"\n")
        rest = lines.pop()  # the start of the next line, or more of the one under way
        if lines:  # the line under way ends in this block
            if not cut:
                partial.append(lines[0])
            lines[0] = b"".join(partial)
            partial, size, cut = [], 0, False
            yield from _contents(lines)
        if rest and not cut:
            partial.append(rest)
            size += len(rest)
            if size > _PIECE:  # a long line: keep its first piece (joined once a piece)
                kept = b"".join(partial).lstrip()
                if len(kept) > _PIECE:
                    kept, cut = kept[:_PIECE], True
                partial, size = [kept], len(kept)
    yield from _contents([b"".join(partial)])


def _contents(lines: list[bytes]) -> Iterator[bytes]:
    """The lines that hold a URL, stripped and cut to `_PIECE` bytes."""
    for line in lines:
        content = line.strip()
        if len(content) > _PIECE:
            content = line.lstrip()[:_PIECE].rstrip()
        if content and not content.startswith(b"#"):
            yield content


def iter_urls(stream: BinaryIO | FdReader) -> Iterator[str]:
    """Yield the URL lines of a list: stripped, skipping blank lines and `#` comments.

    The stream is read a block at a time (what a pipe has ready, at most 64 KiB), so a list
    of millions of lines is never held in memory. Bytes that are not UTF-8 become U+FFFD.
    A line longer than `MAX_URL_CHARS` is yielded cut to one character more than that (it
    then fails as a URL that is too long); the rest of it is read past without being
    stored.
    """
    for line in _url_lines(stream):
        yield line.decode("utf-8", "replace")[: MAX_URL_CHARS + 1]


def count_urls(stream: BinaryIO | FdReader) -> int:
    """Count the lines `iter_urls` would yield, for a progress bar's total."""
    return sum(1 for _ in _url_lines(stream))


def read_urls(path: str | os.PathLike[str]) -> Iterator[str]:
    """The URLs of a list file, read lazily with the command line's rules.

    One URL a line; blank lines and lines starting with `#` are skipped; whitespace around
    a line is stripped. The file is closed when the iterator is exhausted or discarded.
    """
    with open(path, "rb") as stream:
        yield from iter_urls(stream)
