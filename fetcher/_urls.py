"""Reading URL lists: lazily, one line at a time, with every line's length capped."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import BinaryIO

__all__ = ["MAX_URL_CHARS", "count_urls", "iter_urls", "read_urls", "to_request_url"]

#: Longest input line taken as a URL; longer lines become error rows, never huge strings.
MAX_URL_CHARS = 65_536

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_PIECE = MAX_URL_CHARS * 4 + 1  # bytes read at a time: a line of MAX_URL_CHARS characters
_BOM = b"\xef\xbb\xbf"


def _url_lines(stream: BinaryIO) -> Iterator[bytes]:
    """The stripped URL lines of a list as bytes, each at most `_PIECE` bytes long.

    Whitespace around a line is dropped however long it is; a line's content beyond
    `_PIECE` bytes is read past without being stored. A UTF-8 BOM at the start is dropped.
    """
    first = True
    while True:
        piece = stream.readline(_PIECE)
        if not piece:
            return
        if first:
            piece = piece.removeprefix(_BOM)
            first = False
        ended = piece.endswith(b"\n")
        content = piece.lstrip()
        while not content and not ended:  # a run of leading whitespace longer than a piece
            piece = stream.readline(_PIECE)
            if not piece:
                return
            ended = piece.endswith(b"\n")
            content = piece.lstrip()
        while not ended:  # the rest of a long line: keep up to _PIECE bytes of it
            more = stream.readline(_PIECE)
            if not more:
                break
            ended = more.endswith(b"\n")
            if len(content) < _PIECE:
                content += more[: _PIECE - len(content)]
        content = content.rstrip()
        if content and not content.startswith(b"#"):
            yield content


def iter_urls(stream: BinaryIO) -> Iterator[str]:
    """Yield the URL lines of a list: stripped, skipping blank lines and `#` comments.

    The stream is read a line at a time, so a list of millions of lines is never held in
    memory. Bytes that are not UTF-8 become U+FFFD. A line longer than `MAX_URL_CHARS` is
    yielded cut to one character more than that (it then fails as a URL that is too
    long); the rest of it is read past without being stored.
    """
    for line in _url_lines(stream):
        yield line.decode("utf-8", "replace")[: MAX_URL_CHARS + 1]


def count_urls(stream: BinaryIO) -> int:
    """Count the lines `iter_urls` would yield, for a progress bar's total."""
    return sum(1 for _ in _url_lines(stream))


def read_urls(path: str | os.PathLike[str]) -> Iterator[str]:
    """The URLs of a list file, read lazily with the command line's rules.

    One URL a line; blank lines and lines starting with `#` are skipped; whitespace around
    a line is stripped. The file is closed when the iterator is exhausted or discarded.
    """
    with open(path, "rb") as stream:
        yield from iter_urls(stream)


def to_request_url(line: str) -> str:
    """The URL to request for an input line: a line without a scheme gets `https://`.

    `example.com/a` and `example.com:8443/a` become `https://...`; a line that names a
    scheme (`http://x`, `ftp://x`, `mailto:x`) is kept as is, so that an unsupported scheme
    is reported rather than guessed at. Whitespace around the line is ignored.
    """
    line = line.strip()
    if "://" in line:
        return line
    match = _SCHEME.match(line)
    if match and not line[match.end() : match.end() + 1].isdigit():
        return line
    return "https://" + line
