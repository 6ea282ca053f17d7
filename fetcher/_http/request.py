"""What fetcher sends: the URL of an input line, the headers, and each redirect's request.

Redirects are followed by fetcher, not by httpx, so that every hop shares the attempt's
deadline, no intermediate body is read, and the headers that cross to the next hop are
fetcher's rule rather than httpx's (which drops `Cookie` even on the same origin):

- same origin (scheme, host and port all equal): every header is sent again;
- another origin: `Cookie`, `Authorization` and `Proxy-Authorization` are dropped, every
  other header crosses (an https page redirecting to http on the same host is another
  origin).

Credentials in a URL (`http://user:pass@host/`) are sent as `Authorization: Basic`, as
curl and httpx do, unless the caller gave an `Authorization` header; they are the URL's,
so they follow the same-origin rule like any other credential.

A redirect's `Location` is resolved against the URL that answered. Two `Location`
headers with different values are a protocol error (identical ones count as one); a
scheme other than http or https is refused before anything is parsed further.
"""

from __future__ import annotations

import base64
import re

import httpx

from .._core.errors import Failure
from .._core.options import FetchOptions
from .._core.urls import MAX_URL_CHARS, to_request_url

__all__ = [
    "CROSS_ORIGIN_DROPPED",
    "REDIRECT_STATUSES",
    "Hops",
    "base_headers",
    "request_headers",
    "request_target",
    "same_origin",
]

#: Statuses whose `Location` is followed (as browsers and curl -L do).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: Credentials that never cross to another origin on a redirect.
CROSS_ORIGIN_DROPPED = frozenset({b"cookie", b"authorization", b"proxy-authorization"})
#: Sent unless the caller gives its own: what curl sends.
DEFAULT_ACCEPT = "*/*"

_SCHEME = re.compile(r"[\t\n\r ]*([A-Za-z][A-Za-z0-9+.-]*):")
_DEFAULT_PORTS = {"http": 80, "https": 443}

Headers = list[tuple[bytes, bytes]]


def request_target(url: str) -> httpx.URL:
    """The URL to request for an input line, checked before any connection is made."""
    if len(url) > MAX_URL_CHARS:
        raise Failure("invalid_url", f"URL longer than {MAX_URL_CHARS} characters")
    return _checked(_parse(to_request_url(url)))


def _parse(text: str, base: httpx.URL | None = None) -> httpx.URL:
    """`text` as an httpx URL (joined to `base`), with plain messages for what fails."""
    try:
        return base.join(text) if base is not None else httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise Failure("invalid_url", _invalid_url_reason(str(exc))) from None
    except (UnicodeError, ValueError):
        raise Failure("invalid_url", "invalid host name") from None


def _invalid_url_reason(detail: str) -> str:
    lowered = detail.lower()
    if "port" in lowered:
        return "invalid port"
    if "idna" in lowered or "host" in lowered:
        return "invalid host name"
    if "character" in lowered:
        return "invalid character in URL"
    return "malformed URL"


def _checked(url: httpx.URL) -> httpx.URL:
    """`url` if it can be requested: http(s), a host, a port in range, a valid name."""
    if url.scheme not in ("http", "https"):
        raise Failure("scheme", _scheme_message(url.scheme))
    try:
        # The host as text: an A-label that does not decode (xn--a) fails here, as does
        # what name resolution would reject (an empty label, one over 63 characters).
        host = url.host
        url.raw_host.decode("ascii").encode("idna")
    except UnicodeError:
        raise Failure("invalid_url", "invalid host name") from None
    if not host:
        raise Failure("invalid_url", "URL has no host")
    if url.port is not None and not 0 < url.port < 65536:
        raise Failure("invalid_url", f"invalid port {url.port}")
    return url


def _scheme_message(scheme: str) -> str:
    shown = scheme[:20] or "(none)"
    return f"unsupported scheme {shown!r}: only http and https are fetched"


def base_headers(options: FetchOptions) -> Headers:
    """The headers of every request: fetcher's defaults, replaced by the caller's own.

    Values are sent as the UTF-8 bytes of the text given (as curl sends what it is
    given); `FetchOptions` has refused names and values that would break the framing.
    """
    own = {name.lower() for name, _ in options.headers}
    defaults = [
        ("User-Agent", options.user_agent),
        ("Accept", DEFAULT_ACCEPT),
        ("Accept-Encoding", _accept_encoding()),
    ]
    pairs = [(n, v) for n, v in defaults if n.lower() not in own] + list(options.headers)
    return [(name.encode("ascii"), value.encode("utf-8")) for name, value in pairs]


def request_headers(headers: Headers, url: httpx.URL) -> Headers:
    """`headers` for a request to `url`: with its user info as Basic credentials, if any
    (and no `Authorization` header was given)."""
    if not url.userinfo or any(name.lower() == b"authorization" for name, _ in headers):
        return headers
    token = base64.b64encode(f"{url.username}:{url.password}".encode())
    return [*headers, (b"Authorization", b"Basic " + token)]


def _accept_encoding() -> str:
    from .body import ACCEPT_ENCODING

    return ACCEPT_ENCODING


def same_origin(first: httpx.URL, second: httpx.URL) -> bool:
    """True when both URLs have the same scheme, host and port (default ports filled in)."""
    return (
        first.scheme == second.scheme
        and first.host == second.host
        and _port(first) == _port(second)
    )


def _port(url: httpx.URL) -> int | None:
    return url.port or _DEFAULT_PORTS.get(url.scheme)


class Hops:
    """The redirects of one attempt: each checked; loops and too many are failures."""

    def __init__(self, max_redirects: int) -> None:
        self._max = self._left = max_redirects
        self._seen: set[str] = set()  # filled on the first redirect: most pages have none

    def location(self, url: httpx.URL, values: list[str]) -> httpx.URL:
        """The URL a redirect from `url` leads to, from its `Location` header values."""
        distinct = {value.strip() for value in values}
        if len(distinct) > 1:
            raise Failure("protocol", "conflicting Location headers in a redirect")
        (location,) = distinct
        scheme = _SCHEME.match(location)
        if scheme and scheme.group(1).lower() not in ("http", "https"):
            raise Failure("scheme", "redirect to " + _scheme_message(scheme.group(1).lower()))
        try:
            return _checked(_parse(location, url))
        except Failure as failure:
            raise Failure(failure.kind, f"bad redirect: {failure.message}") from None

    def next(self, url: httpx.URL, target: httpx.URL) -> httpx.URL:
        """Count the hop from `url` to `target`; a loop or one hop too many fails."""
        if self._left == 0:
            raise Failure("redirects", f"more than {self._max} redirects")
        self._left -= 1
        self._seen.add(str(url))
        if str(target) in self._seen:
            raise Failure("redirects", f"redirect loop at {target}")
        self._seen.add(str(target))
        return target

    @staticmethod
    def headers(headers: Headers, url: httpx.URL, target: httpx.URL) -> Headers:
        """The headers for the hop from `url` to `target`: credentials stay on their origin."""
        if same_origin(url, target):
            return headers
        return [(n, v) for n, v in headers if n.lower() not in CROSS_ORIGIN_DROPPED]
