"""What an input line means: the URL to request for it, and the origin it belongs to."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

__all__ = ["MAX_URL_CHARS", "has_scheme", "origin_of", "to_request_url"]

#: Longest input line taken as a URL; longer lines become error rows, never huge strings.
MAX_URL_CHARS = 65_536

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_DEFAULT_PORTS = {"http": 80, "https": 443}


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


def has_scheme(line: str) -> bool:
    """True when an input line names its scheme (`http://x`, `mailto:x`), False when
    fetcher adds `https://` to it."""
    return to_request_url(line) == line.strip()


def origin_of(url: str) -> str | None:
    """`scheme://host:port` of an input line (default ports filled in); None if unparsable."""
    try:
        parts = urlsplit(to_request_url(url))
        host = parts.hostname
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None
    if not host:
        return None
    return f"{parts.scheme.lower()}://{host}:{port}"
