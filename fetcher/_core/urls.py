"""What an input line means: the URL to request for it, and the origin it belongs to."""

from __future__ import annotations

import re
from typing import TypeVar
from urllib.parse import urlsplit

__all__ = ["MAX_URL_CHARS", "has_scheme", "origin_key", "origin_of", "remember", "to_request_url"]

#: Longest input line taken as a URL; longer lines become error rows, never huge strings.
MAX_URL_CHARS = 65_536

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LONGEST_SCHEME = 10  # schemes remembered by `origin_of`: letters only, this long at most
_LONGEST_KEY = 300  # and the text before the path this long at most (bounded memory)
_REMEMBERED = 65_536  # origins remembered at most; all forgotten when full
_ORIGINS: dict[str, str | None] = {}
_Value = TypeVar("_Value")


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
    """`scheme://host:port` of an input line (default ports filled in); None if unparsable.

    Remembered by the URL's `origin_key`, so a list of many URLs per host parses each
    host once: parsing was a sixth of a cluster client's time per URL.
    """
    key = origin_key(url)
    if key is None:
        return _parse_origin(url)
    try:
        return _ORIGINS[key]
    except KeyError:
        return remember(_ORIGINS, key, _parse_origin(url))


def remember(memo: dict[str, _Value], key: str, value: _Value) -> _Value:
    """`value`, kept in `memo` under `key` (a memo by `origin_key`); every entry is
    forgotten once the memo holds `_REMEMBERED`, so its memory stays bounded."""
    if len(memo) >= _REMEMBERED:
        memo.clear()
    memo[key] = value
    return value


def origin_key(url: str) -> str | None:
    """The text of `url` that decides its origin, for remembering origins by it: up to the
    first `/` after `scheme://` (the authority ends there or before), for a scheme of
    letters and a key of bounded length; else None."""
    start = url.find("://")
    if 0 < start <= _LONGEST_SCHEME and url[:start].isalpha():
        end = url.find("/", start + 3)
        key = url if end < 0 else url[:end]
        if len(key) <= _LONGEST_KEY:
            return key
    return None


def _parse_origin(url: str) -> str | None:
    try:
        parts = urlsplit(to_request_url(url))
        host = parts.hostname
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None
    if not host:
        return None
    return f"{parts.scheme.lower()}://{host}:{port}"
