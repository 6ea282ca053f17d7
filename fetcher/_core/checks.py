"""The checks behind `FetchOptions`: each raises `OptionError` naming the field.

These are the only bounds on option values anywhere: the command line parses text into
values and hands them to `FetchOptions`, whose errors it reports against the flag.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any
from urllib.parse import urlsplit

from .errors import OptionError

__all__ = [
    "DECODABLE_CODINGS",
    "check_header",
    "check_int",
    "check_number",
    "check_proxy",
    "check_scheduler",
    "load_cacert",
    "parse_header",
    "parse_size",
]

#: Content codings fetcher decodes under its caps (`x-gzip` is an old name of gzip).
DECODABLE_CODINGS = frozenset({"gzip", "x-gzip", "deflate", "identity"})

_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: Characters a header value cannot hold: C0 controls but tab, and DEL (RFC 9110 5.5).
_HEADER_VALUE_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
#: Headers fetcher must set itself: the caller's would break the framing or the target.
_FORBIDDEN_HEADERS = frozenset({"content-length", "transfer-encoding", "host"})
_QVALUE_ZERO = re.compile(r"q=0(?:\.0{0,3})?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "KIB": 1024, "M": 1024**2, "MB": 1024**2}
_SIZE_UNITS |= {"MIB": 1024**2, "G": 1024**3, "GB": 1024**3, "GIB": 1024**3}
_SIZE_EXAMPLES = "examples: 1000000, 512K, 10M"


def check_int(
    name: str, value: Any, low: int, high: int | None = None, *, high_text: str | None = None
) -> None:
    """An integer from `low` to `high` (or more, without `high`; `high_text` says `high`
    as people read it, `1 TiB` rather than 1099511627776)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise OptionError(name, f"must be an integer, not {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"from {low} to {high_text or high}" if high is not None else f"{low} or more"
        raise OptionError(name, f"must be {bounds}, not {value}")


def check_number(
    name: str,
    value: Any,
    *,
    above: float | None = None,
    at_least: float | None = None,
    at_most: float | None = None,
) -> None:
    """A finite number within the bounds given."""
    if not (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (above is None or value > above)
        and (at_least is None or value >= at_least)
        and (at_most is None or value <= at_most)
    ):
        bounds = [
            f"above {above:g}" if above is not None else "",
            f"at least {at_least:g}" if at_least is not None else "",
            f"at most {at_most:g}" if at_most is not None else "",
        ]
        wanted = " and ".join(bound for bound in bounds if bound)
        raise OptionError(name, f"must be a finite number {wanted}, not {value!r}")


def parse_size(text: str | int) -> int:
    """A byte count such as `1000000`, `512K` or `10M` (K, M, G: powers of 1024, also
    written KiB or KB); `OptionError` (field `max_bytes`) if it is not one."""
    if isinstance(text, int):
        return text
    stripped = text.strip().upper()
    number = stripped.rstrip("KMGIB")
    unit = stripped[len(number) :]
    try:
        value = float(number)
    except ValueError:
        raise OptionError("max_bytes", f"{text!r} is not a size ({_SIZE_EXAMPLES})") from None
    if unit not in _SIZE_UNITS or not math.isfinite(value):
        raise OptionError("max_bytes", f"{text!r} is not a size ({_SIZE_EXAMPLES})")
    return int(value * _SIZE_UNITS[unit])


def parse_header(text: str) -> tuple[str, str]:
    """A `Name: value` header line as a (name, value) pair; `OptionError` if malformed."""
    name, colon, value = text.partition(":")
    if not colon:
        raise OptionError("headers", f"{text!r} is not in the form 'Name: value'")
    return check_header(name.strip(), value.strip())


def check_header(name: Any, value: Any) -> tuple[str, str]:
    """A header the caller may send, as it will be sent: a token name, and a value without
    line breaks or other control characters, its surrounding whitespace dropped (as HTTP
    reads it anyway).

    Content-Length, Transfer-Encoding and Host are fetcher's to set (a GET has no body;
    the host is the URL's); TE may only say "trailers" (all HTTP/2 allows); an
    Accept-Encoding may name only codings fetcher decodes.
    """
    if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
        raise OptionError("headers", f"has an invalid header name {name!r}")
    if not isinstance(value, str) or _HEADER_VALUE_FORBIDDEN.search(value):
        raise OptionError("headers", f"{name}: no line breaks, NUL or other controls in a value")
    value = value.strip(" \t")
    lowered = name.lower()
    if lowered in _FORBIDDEN_HEADERS:
        raise OptionError("headers", f"{name}: set by fetcher, it cannot be given")
    if lowered == "te" and value.lower() not in ("", "trailers"):
        raise OptionError("headers", f"{name}: only 'trailers' can be asked for")
    if lowered == "accept-encoding":
        _check_accept_encoding(value)
    return name, value


def _check_accept_encoding(value: str) -> None:
    """Refuse an Accept-Encoding that lets a server send a coding fetcher cannot decode."""
    for entry in value.split(","):
        coding, _, params = entry.partition(";")
        coding = coding.strip().lower()
        refused = any(_QVALUE_ZERO.fullmatch(p.strip()) for p in params.split(";"))
        if coding and coding not in DECODABLE_CODINGS and not refused:
            choices = ", ".join(sorted(DECODABLE_CODINGS))
            raise OptionError(
                "headers",
                f"Accept-Encoding names {coding!r}, which fetcher cannot decode ({choices})",
            )


def check_text(name: str, value: Any) -> str:
    """Text that can go in a header value (no line breaks or controls), stripped."""
    if not isinstance(value, str) or _HEADER_VALUE_FORBIDDEN.search(value):
        raise OptionError(name, "must be text without line breaks, NUL or other controls")
    return value.strip(" \t")


def check_proxy(proxy: Any) -> None:
    """An `http://HOST:PORT` URL."""
    if not isinstance(proxy, str):
        raise OptionError("proxy", f"must be a URL, not {proxy!r}")
    try:
        parts = urlsplit(proxy)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise OptionError("proxy", f"{proxy!r} is not a valid URL") from None
    if parts.scheme != "http" or not host:
        raise OptionError("proxy", f"must be an http://HOST:PORT URL, not {proxy!r}")


def check_scheduler(address: Any) -> None:
    """A Dask scheduler address: `tcp://HOST:PORT` (or `tls://`)."""
    problem = OptionError(
        "scheduler", f"must be an address such as tcp://HOST:8786, not {address!r}"
    )
    if not isinstance(address, str):
        raise problem
    try:
        parts = urlsplit(address)
        port = parts.port
    except ValueError:
        raise problem from None
    if parts.scheme not in ("tcp", "tls") or not parts.hostname or port is None:
        raise problem


#: Largest CA file read for `cacert` (a full public bundle is about 0.2 MiB).
MAX_CACERT_BYTES = 16 * 1024 * 1024


def load_cacert(cacert: Any) -> bytes:
    """The PEM bytes of `cacert`: a file's path (str or os.PathLike), read now, or the PEM
    itself as bytes; checked to hold at least one certificate OpenSSL accepts."""
    if isinstance(cacert, bytes):
        pem = cacert
    elif isinstance(cacert, str | os.PathLike):
        name = os.fspath(cacert)
        try:
            with open(name, "rb") as stream:
                pem = stream.read(MAX_CACERT_BYTES + 1)
        except OSError as exc:
            raise OptionError("cacert", f"cannot read {name!r}: {exc.strerror or exc}") from None
        if len(pem) > MAX_CACERT_BYTES:
            raise OptionError("cacert", f"{name!r} is larger than 16 MiB")
    else:
        raise OptionError("cacert", f"must be a file name or PEM bytes, not {cacert!r}")
    import ssl

    try:
        text = pem.decode("ascii")
        if "-----BEGIN CERTIFICATE-----" not in text:
            raise ValueError
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=text)
    except (ValueError, ssl.SSLError):
        raise OptionError("cacert", "holds no PEM CA certificate") from None
    return pem
