"""Reading URL lists: lazily, one line at a time, with every line's length capped."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

__all__ = ["MAX_URL_CHARS", "count_urls", "iter_urls", "to_request_url"]

#: Longest input line taken as a URL; longer lines become error rows, never huge strings.
MAX_URL_CHARS = 65_536

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_READ_LIMIT = MAX_URL_CHARS * 4 + 2  # bytes: room for a line of MAX_URL_CHARS 4-byte characters


def _is_url_line(line: bytes) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith(b"#")


def iter_urls(stream: BinaryIO) -> Iterator[str]:
    """Yield the URL lines of a list: stripped, skipping blank lines and `#` comments.

    The stream is read a line at a time, so a list of millions of lines is never held in
    memory. Bytes that are not UTF-8 become U+FFFD. A line longer than `MAX_URL_CHARS` is
    yielded cut to that length (it then fails as a URL that is too long) and the rest of
    it is skipped without being stored.
    """
    while True:
        line = stream.readline(_READ_LIMIT)
        if not line:
            return
        if not line.endswith(b"\n") and len(line) == _READ_LIMIT:
            _skip_rest_of_line(stream)
        if _is_url_line(line):
            yield line.strip().decode("utf-8", "replace")[: MAX_URL_CHARS + 1]


def _skip_rest_of_line(stream: BinaryIO) -> None:
    while True:
        chunk = stream.readline(_READ_LIMIT)
        if not chunk or chunk.endswith(b"\n"):
            return


def count_urls(stream: BinaryIO) -> int:
    """Count the lines `iter_urls` would yield, for a progress bar's total."""
    count = 0
    pending = b""
    while chunk := stream.read(1 << 20):
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        count += sum(1 for line in lines if _is_url_line(line[:_READ_LIMIT]))
    return count + _is_url_line(pending[:_READ_LIMIT])


def to_request_url(line: str) -> str:
    """The URL to request for an input line: a line without a scheme gets `https://`.

    `example.com/a` and `example.com:8443/a` become `https://...`; a line that names a
    scheme (`http://x`, `ftp://x`, `mailto:x`) is kept as is, so that an unsupported scheme
    is reported rather than guessed at.
    """
    if "://" in line:
        return line
    match = _SCHEME.match(line)
    if match and not line[match.end() : match.end() + 1].isdigit():
        return line
    return "https://" + line
