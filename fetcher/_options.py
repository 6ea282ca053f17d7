"""The one options object that travels from the caller down to every worker."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from ._version import __version__

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_REDIRECTS",
    "DEFAULT_MAX_RETRY_WAIT",
    "DEFAULT_PER_HOST",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "DEFAULT_WORKERS",
    "EXECUTORS",
    "MAX_MAX_BYTES",
    "MAX_RETRIES",
    "MAX_TIMEOUT",
    "WINDOW_PER_WORKER",
    "ExecutorName",
    "FetchOptions",
    "parse_header",
]

ExecutorName = Literal["thread", "process", "hybrid", "async", "dask"]
EXECUTORS: tuple[ExecutorName, ...] = ("thread", "process", "hybrid", "async", "dask")

#: Concurrent requests by default: enough to hide network latency on a small machine.
DEFAULT_WORKERS = 16
#: Seconds one attempt may take as a whole: name resolution, connect, TLS, headers, body,
#: every redirect, and the one resend on a fresh connection (as curl's --max-time).
DEFAULT_TIMEOUT = 10.0
#: Largest body kept, counted after decompression (10 MiB).
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
#: Redirects followed before a URL is reported as an error (as browsers and httpx do).
DEFAULT_MAX_REDIRECTS = 20
#: Largest accepted timeout (a day) and body cap (1 TiB): beyond them a value is a typo.
MAX_TIMEOUT = 86_400.0
MAX_MAX_BYTES = 1 << 40
#: Submitted-but-unfinished URLs allowed per worker: memory follows this, not the list size.
WINDOW_PER_WORKER = 2
#: Retries after a failure that a second try can cure (as Scrapy's default).
DEFAULT_RETRIES = 2
MAX_RETRIES = 100
#: Longest wait before a retry, whether asked for by Retry-After or by the backoff.
DEFAULT_MAX_RETRY_WAIT = 30.0
#: Concurrent requests to one origin (scheme, host, port); 0 means no cap (as Scrapy's
#: CONCURRENT_REQUESTS_PER_DOMAIN default): a long list on one site never hammers it.
DEFAULT_PER_HOST = 8

_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE_FORBIDDEN = re.compile(r"[\r\n\0]")
#: Headers fetcher must set itself: the caller's would break the framing or the target.
_FORBIDDEN_HEADERS = frozenset({"content-length", "transfer-encoding", "host"})
_QVALUE_ZERO = re.compile(r"q=0(?:\.0{0,3})?", re.IGNORECASE)


def parse_header(text: str) -> tuple[str, str]:
    """A `Name: value` header line as a (name, value) pair; ValueError if malformed."""
    name, colon, value = text.partition(":")
    if not colon:
        raise ValueError(f"header {text!r} is not in the form 'Name: value'")
    return _checked_header(name.strip(), value.strip())


def _checked_header(name: Any, value: Any) -> tuple[str, str]:
    """A header the caller may send: a token name, a value without CR, LF or NUL.

    Content-Length, Transfer-Encoding and Host are fetcher's to set (a GET has no body;
    the host is the URL's), and an Accept-Encoding may name only codings fetcher decodes.
    """
    if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
        raise ValueError(f"invalid header name {name!r}")
    if not isinstance(value, str) or _HEADER_VALUE_FORBIDDEN.search(value):
        raise ValueError(f"invalid value for header {name}: no line breaks or NUL allowed")
    if name.lower() in _FORBIDDEN_HEADERS:
        raise ValueError(f"header {name} is set by fetcher and cannot be given")
    if name.lower() == "accept-encoding":
        _check_accept_encoding(value)
    return name, value


def _check_accept_encoding(value: str) -> None:
    """Refuse an Accept-Encoding that lets a server send a coding fetcher cannot decode."""
    from ._body import DECODABLE_CODINGS

    for entry in value.split(","):
        coding, _, params = entry.partition(";")
        coding = coding.strip().lower()
        refused = any(_QVALUE_ZERO.fullmatch(p.strip()) for p in params.split(";"))
        if coding and coding not in DECODABLE_CODINGS and not refused:
            choices = ", ".join(sorted(DECODABLE_CODINGS))
            raise ValueError(
                f"Accept-Encoding names {coding!r}, which fetcher cannot decode ({choices})"
            )


@dataclass(frozen=True, slots=True)
class FetchOptions:
    """How to fetch: a frozen, picklable value handed unchanged to every worker.

    Invalid values raise `ValueError` at construction, so a bad option fails before any
    request is made. `timeout` bounds each attempt (DNS, connect, TLS, headers, body and
    every redirect); `total_timeout` bounds a URL from its first attempt to its record,
    retry waits included (None: no bound beyond the attempts'). `headers` may be given
    as a mapping or as (name, value) pairs; it is kept as a tuple of pairs; values are
    sent as their UTF-8 bytes. `per_host=0` and `rate=None` mean no cap. `scheduler` is
    the address of a running Dask scheduler (executor "dask" only; None starts a local
    cluster).
    """

    workers: int = DEFAULT_WORKERS
    executor: ExecutorName = "thread"
    timeout: float = DEFAULT_TIMEOUT
    total_timeout: float | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    user_agent: str = field(default=f"fetcher/{__version__}")
    retries: int = DEFAULT_RETRIES
    max_retry_wait: float = DEFAULT_MAX_RETRY_WAIT
    per_host: int = DEFAULT_PER_HOST
    rate: float | None = None
    headers: tuple[tuple[str, str], ...] = ()
    http2: bool = False
    proxy: str | None = None
    verify: bool = True
    save_dir: str | None = None
    scheduler: str | None = None

    def __post_init__(self) -> None:
        _check_int("workers", self.workers, 1, 1024)
        if self.executor not in EXECUTORS:
            choices = ", ".join(EXECUTORS)
            raise ValueError(f"executor must be one of {choices}, not {self.executor!r}")
        _check_number("timeout", self.timeout, above=0, at_most=MAX_TIMEOUT)
        if self.total_timeout is not None:
            _check_number("total_timeout", self.total_timeout, above=0, at_most=MAX_TIMEOUT)
        _check_int("max_bytes", self.max_bytes, 1, MAX_MAX_BYTES)
        _check_int("max_redirects", self.max_redirects, 0)
        _check_int("retries", self.retries, 0, MAX_RETRIES)
        _check_number("max_retry_wait", self.max_retry_wait, at_least=0, at_most=MAX_TIMEOUT)
        _check_int("per_host", self.per_host, 0, 1 << 20)
        if self.rate is not None:
            _check_number("rate", self.rate, above=0)
        for name in ("http2", "verify"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, not {getattr(self, name)!r}")
        pairs: Iterable[Any] = (
            self.headers.items() if isinstance(self.headers, Mapping) else self.headers
        )
        checked = []
        for pair in pairs:
            if not (isinstance(pair, tuple | list) and len(pair) == 2):
                raise ValueError(f"headers must be (name, value) pairs, not {pair!r}")
            checked.append(_checked_header(*pair))
        object.__setattr__(self, "headers", tuple(checked))
        if not isinstance(self.user_agent, str) or _HEADER_VALUE_FORBIDDEN.search(self.user_agent):
            raise ValueError("user_agent must be text without line breaks or NUL")
        if self.proxy is not None:
            _check_proxy(self.proxy)
        if self.save_dir is not None and (not isinstance(self.save_dir, str) or not self.save_dir):
            raise ValueError(f"save_dir must be a folder name, not {self.save_dir!r}")
        if self.scheduler is not None:
            if self.executor != "dask":
                raise ValueError("scheduler applies to the dask executor only")
            _check_scheduler(self.scheduler)

    @property
    def window(self) -> int:
        """How many URLs may be submitted and unfinished at once."""
        return WINDOW_PER_WORKER * self.workers


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, not {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"{low} or more"
        raise ValueError(f"{name} must be {bounds}, not {value}")


def _check_number(
    name: str,
    value: Any,
    *,
    above: float | None = None,
    at_least: float | None = None,
    at_most: float | None = None,
) -> None:
    """A finite number within the bounds given."""
    bounds = [
        f"above {above:g}" if above is not None else "",
        f"at least {at_least:g}" if at_least is not None else "",
        f"at most {at_most:g}" if at_most is not None else "",
    ]
    if not (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (above is None or value > above)
        and (at_least is None or value >= at_least)
        and (at_most is None or value <= at_most)
    ):
        wanted = " and ".join(bound for bound in bounds if bound)
        raise ValueError(f"{name} must be a finite number {wanted}, not {value!r}")


def _check_proxy(proxy: Any) -> None:
    if not isinstance(proxy, str):
        raise ValueError(f"proxy must be a URL, not {proxy!r}")
    try:
        parts = urlsplit(proxy)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError(f"proxy {proxy!r} is not a valid URL") from None
    if parts.scheme != "http" or not host:
        raise ValueError(f"proxy must be an http://HOST:PORT URL, not {proxy!r}")


def _check_scheduler(address: Any) -> None:
    problem = ValueError(f"scheduler must be an address such as tcp://HOST:8786, not {address!r}")
    if not isinstance(address, str):
        raise problem
    try:
        parts = urlsplit(address)
        port = parts.port
    except ValueError:
        raise problem from None
    if parts.scheme not in ("tcp", "tls") or not parts.hostname or port is None:
        raise problem
