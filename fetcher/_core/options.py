"""The one options object that travels from the caller down to every worker.

`FetchOptions` is the one place an option lives: its field, default, bounds (checked in
`__post_init__`, nowhere else) and, in the field's metadata, how it appears on the
command line (`CliOption`). The command line builds its fetch options from these fields,
so adding an option is one field, one check and one `CliOption` (docs/design.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import Field, dataclass, field, fields
from typing import Any, TypedDict

from .._version import __version__
from .checks import (
    check_header,
    check_int,
    check_number,
    check_proxy,
    check_scheduler,
    check_text,
    load_cacert,
    parse_header,
    parse_size,
)
from .errors import OptionError
from .executors import EXECUTORS
from .parts import Parts

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_REDIRECTS",
    "DEFAULT_MAX_RETRY_WAIT",
    "DEFAULT_PER_HOST",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "DEFAULT_WORKERS",
    "MAX_MAX_BYTES",
    "MAX_RETRIES",
    "MAX_TIMEOUT",
    "WINDOW_PER_WORKER",
    "CliOption",
    "FetchOptions",
    "OptionChanges",
    "cli_option",
    "parse_header",
    "parse_size",
]

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


@dataclass(frozen=True, slots=True)
class CliOption:
    """How a `FetchOptions` field appears on the command line.

    `kind` is "value" (one value, parsed by `parse` if given, one of `choices` if any),
    "flag" (a switch that sets True), "inverted" (a switch that sets False) or "repeat"
    (given several times, each parsed by `parse`, kept as a tuple). `default_text` is
    what `--help` shows as the default when the value itself would not read well.
    """

    flags: tuple[str, ...]
    help: str
    section: str
    metavar: str = ""
    kind: str = "value"
    parse: Any = None
    default_text: str | None = None
    choices: tuple[str, ...] = ()


def cli_option(default: Any, *flags: str, help: str, section: str, **more: Any) -> Any:
    """A dataclass field with its `CliOption` in the metadata."""
    option = CliOption(flags=flags, help=help, section=section, **more)
    return field(default=default, metadata={"cli": option})


# Sections of `fetcher --help`, in order.
WHAT = "What to fetch"
CONCURRENCY = "Concurrency and politeness"
LIMITS = "Limits and retries"
REQUEST = "Request"
OUTPUT = "Output"
SECTIONS = (WHAT, CONCURRENCY, LIMITS, REQUEST, OUTPUT)


@dataclass(frozen=True, slots=True)
class FetchOptions:
    """How to fetch: a frozen, picklable value handed unchanged to every worker.

    Invalid values raise `OptionError` (a `ValueError` naming the field) at construction,
    so a bad option fails before any request is made. `timeout` bounds each attempt (DNS,
    connect, TLS, headers, body and every redirect); `total_timeout` bounds a URL from its
    first attempt to its record, retry waits included (None: no bound beyond the
    attempts'). `headers` may be given as a mapping or as (name, value) pairs; it is kept
    as a tuple of pairs; values are sent as their UTF-8 bytes. `per_host=0` and
    `rate=None` mean no cap. `follow=False` reports each URL's first response (a 3xx
    is then a success, its target in `location`); `fallback=False` never retries a line
    without a scheme as http://. `keep_body=True` puts each decoded body on its
    record's `body`. `cacert` replaces the system's trusted CA certificates with those of
    a PEM file: given as a path (str or os.PathLike), read at construction and kept as
    its bytes, so that processes and cluster nodes need no copy of the file; bytes are
    taken as the PEM itself. `scheduler` is the address of a running Dask scheduler (executor
    "dask" only; None starts a local cluster).
    """

    workers: int = cli_option(
        DEFAULT_WORKERS, "--workers", "-w", metavar="N", section=CONCURRENCY,
        help="Concurrent requests (1-1024).",
    )  # fmt: skip
    executor: str = cli_option(
        "thread", "--executor", "-e", metavar="EXECUTOR", section=CONCURRENCY,
        choices=tuple(EXECUTORS),
        help="What runs the requests: "
        + "; ".join(f"{s.name}: {s.summary}" for s in EXECUTORS.values()) + ".",
    )  # fmt: skip
    timeout: float = cli_option(
        DEFAULT_TIMEOUT, "--timeout", metavar="SECONDS", section=LIMITS,
        help="Seconds each attempt may take in all: DNS, connect, TLS, headers, body, "
        "redirects.",
    )  # fmt: skip
    total_timeout: float | None = cli_option(
        None, "--total-timeout", metavar="SECONDS", section=LIMITS, default_text="no limit",
        help="Seconds one URL may take from its first attempt to its record, retry waits "
        "included.",
    )  # fmt: skip
    max_bytes: int = cli_option(
        DEFAULT_MAX_BYTES, "--max-bytes", metavar="SIZE", section=LIMITS, parse=parse_size,
        default_text="10M",
        help="Largest body kept, after decompression (e.g. 500K, 10M: K and M are KiB "
        "and MiB, 1024-based); more is an error.",
    )  # fmt: skip
    max_redirects: int = cli_option(
        DEFAULT_MAX_REDIRECTS, "--max-redirects", metavar="N", section=LIMITS,
        help="Redirects followed before giving up.",
    )  # fmt: skip
    user_agent: str = cli_option(
        f"fetcher/{__version__}", "--user-agent", metavar="TEXT", section=REQUEST,
        default_text="fetcher/VERSION", help="User-Agent header.",
    )  # fmt: skip
    retries: int = cli_option(
        DEFAULT_RETRIES, "--retries", metavar="N", section=LIMITS,
        help="Retries of a URL after a failure a retry may cure: connect errors, timeouts, "
        "429, 502, 503, 504 (with backoff; Retry-After honoured).",
    )  # fmt: skip
    max_retry_wait: float = cli_option(
        DEFAULT_MAX_RETRY_WAIT, "--max-retry-wait", metavar="SECONDS", section=LIMITS,
        help="Longest wait before a retry; a longer Retry-After ends the URL with an error.",
    )  # fmt: skip
    per_host: int = cli_option(
        DEFAULT_PER_HOST, "--per-host", metavar="N", section=CONCURRENCY,
        help="Concurrent requests to one scheme://host:port (0: no cap).",
    )  # fmt: skip
    rate: float | None = cli_option(
        None, "--rate", metavar="N", section=CONCURRENCY, default_text="no limit",
        help="At most N requests started per second.",
    )  # fmt: skip
    headers: tuple[tuple[str, str], ...] = cli_option(
        (), "--header", "-H", metavar="'NAME: VALUE'", section=REQUEST, kind="repeat",
        parse=parse_header, help="Extra request header (repeatable).",
    )  # fmt: skip
    http2: bool = cli_option(
        False, "--http2", section=REQUEST, kind="flag",
        help="Offer HTTP/2 to https servers (ALPN).",
    )  # fmt: skip
    proxy: str | None = cli_option(
        None, "--proxy", metavar="URL", section=REQUEST, default_text="none",
        help="Send requests via this HTTP proxy (http://HOST:PORT).",
    )  # fmt: skip
    verify: bool = cli_option(
        True, "--insecure", "-k", section=REQUEST, kind="inverted",
        help="Do not check TLS certificates (warns on stderr).",
    )  # fmt: skip
    cacert: bytes | None = cli_option(
        None, "--cacert", metavar="FILE", section=REQUEST, default_text="the system's",
        help="Trust only the CA certificates in FILE (PEM), as curl's --cacert.",
    )  # fmt: skip
    save_dir: str | None = cli_option(
        None, "--save", metavar="DIR", section=OUTPUT, default_text="none",
        help="Save each successful body in DIR (created), named from its URL.",
    )  # fmt: skip
    scheduler: str | None = cli_option(
        None, "--scheduler", metavar="ADDRESS", section=CONCURRENCY,
        default_text="a local cluster",
        help="With -e dask: the address of a running Dask scheduler (tcp://HOST:PORT).",
    )  # fmt: skip
    follow: bool = cli_option(
        True, "--no-follow", section=REQUEST, kind="inverted",
        help="Report each URL's first response, redirects included, as its record.",
    )  # fmt: skip
    fallback: bool = cli_option(
        True, "--no-fallback", section=REQUEST, kind="inverted",
        help="Never retry a line without a scheme as http:// when https fails.",
    )  # fmt: skip
    keep_body: bool = False
    #: With `executor="dask"`: the nodes write the records to parts (`--parts DIR`), and
    #: the run's records carry their outcome only (the rest is in the parts).
    parts: Parts | None = None

    def __post_init__(self) -> None:
        check_int("workers", self.workers, 1, 1024)
        if self.executor not in EXECUTORS:
            choices = ", ".join(EXECUTORS)
            raise OptionError("executor", f"must be one of {choices}, not {self.executor!r}")
        check_number("timeout", self.timeout, above=0, at_most=MAX_TIMEOUT)
        if self.total_timeout is not None:
            check_number("total_timeout", self.total_timeout, above=0, at_most=MAX_TIMEOUT)
        check_int("max_bytes", self.max_bytes, 1, MAX_MAX_BYTES, high_text="1 TiB")
        check_int("max_redirects", self.max_redirects, 0)
        check_int("retries", self.retries, 0, MAX_RETRIES)
        check_number("max_retry_wait", self.max_retry_wait, at_least=0, at_most=MAX_TIMEOUT)
        check_int("per_host", self.per_host, 0, 1 << 20)
        if self.rate is not None:
            check_number("rate", self.rate, above=0)
        for name in ("http2", "verify", "follow", "fallback", "keep_body"):
            if not isinstance(getattr(self, name), bool):
                raise OptionError(name, f"must be True or False, not {getattr(self, name)!r}")
        object.__setattr__(self, "headers", _checked_headers(self.headers))
        object.__setattr__(self, "user_agent", check_text("user_agent", self.user_agent))
        if self.proxy is not None:
            check_proxy(self.proxy)
        if self.cacert is not None:
            object.__setattr__(self, "cacert", load_cacert(self.cacert))
            if not self.verify:
                raise OptionError("cacert", "cannot be combined with --insecure (verify=False)")
        if self.save_dir is not None and (not isinstance(self.save_dir, str) or not self.save_dir):
            raise OptionError("save_dir", f"must be a folder name, not {self.save_dir!r}")
        if self.scheduler is not None:
            if not EXECUTORS[self.executor].clustered:
                clustered = " and ".join(n for n, s in EXECUTORS.items() if s.clustered)
                raise OptionError("scheduler", f"applies to the {clustered} executors only")
            check_scheduler(self.scheduler)
        if self.parts is not None and EXECUTORS[self.executor].engine is None:
            noded = " and ".join(n for n, s in EXECUTORS.items() if s.engine)
            raise OptionError("parts", f"applies to the {noded} executor only")
        if self.parts is not None and self.keep_body:
            raise OptionError("parts", "carries no bodies to the caller: keep_body must be False")

    @property
    def window(self) -> int:
        """How many URLs may be submitted and unfinished at once."""
        return WINDOW_PER_WORKER * self.workers

    @classmethod
    def cli_fields(cls) -> list[tuple[Field[Any], CliOption]]:
        """Every field with its command-line form, in field order."""
        return [(f, f.metadata["cli"]) for f in fields(cls) if "cli" in f.metadata]


def _checked_headers(headers: Any) -> tuple[tuple[str, str], ...]:
    pairs: Iterable[Any] = headers.items() if isinstance(headers, Mapping) else headers
    checked = []
    for pair in pairs:
        if not (isinstance(pair, tuple | list) and len(pair) == 2):
            raise OptionError("headers", f"must be (name, value) pairs, not {pair!r}")
        checked.append(check_header(*pair))
    return tuple(checked)


class OptionChanges(TypedDict, total=False):
    """`FetchOptions` fields as keyword arguments (`fetch_all(urls, workers=32)`), typed
    for editors and type checkers. It lists every field of `FetchOptions` with its type
    (a test keeps the two in step); `headers` also takes a mapping."""

    workers: int
    executor: str
    timeout: float
    total_timeout: float | None
    max_bytes: int
    max_redirects: int
    user_agent: str
    retries: int
    max_retry_wait: float
    per_host: int
    rate: float | None
    headers: tuple[tuple[str, str], ...] | Mapping[str, str] | Iterable[tuple[str, str]]
    http2: bool
    proxy: str | None
    verify: bool
    cacert: bytes | str | os.PathLike[str] | None
    save_dir: str | None
    scheduler: str | None
    follow: bool
    fallback: bool
    keep_body: bool
    parts: Parts | None
