"""The connection pool each HTTP client sends through, and the rule for reusing connections.

Every worker thread (and every async slot) has its own pool: one request at a time, so
at most one connection per origin, and no sharing of a pool between threads (see
encode/httpcore#1110).

A connection is kept idle after its response only for an origin its worker met before
(`RecentOrigins`): a scan meets a new host at nearly every URL, and thousands of idle
connections it will never reuse would hold files, memory and the servers' slots; a list
whose hosts recur pays one extra connection per worker and host.

A kept-alive connection is reused only when it is proven clean: a response that left
any byte unread behind it (a body longer than its Content-Length, a body on a 204 or
304, a stray CRLF, a whole extra response), or was framed two ways, closes its
connection, so those bytes can never be read as the next URL's answer.
"""

from __future__ import annotations

import ssl
import threading
from collections import OrderedDict
from typing import Any

import httpx

from .._compat import connection_of, left_unread
from .._core.options import FetchOptions
from .attempt import closes_connection

__all__ = [
    "KEEPALIVE_PER_WORKER",
    "RECENT_ORIGINS",
    "LazyTLS",
    "RecentOrigins",
    "connection_pool",
    "reusable",
    "tls_context",
]

#: Idle connections one worker keeps for reuse: a worker makes one request at a time, so
#: a few cover hosts that recur, without thousands of idle sockets across many workers.
KEEPALIVE_PER_WORKER = 4


#: Distinct origins each worker remembers having met, most recent first.
RECENT_ORIGINS = 64


class RecentOrigins:
    """The last `RECENT_ORIGINS` origins one worker (or async slot) fetched from."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: OrderedDict[tuple[bytes, bytes, int | None], None] = OrderedDict()

    def met_before(self, url: httpx.URL) -> bool:
        """Whether `url`'s origin was met before; it is remembered from now on."""
        key = (url.raw_scheme, url.raw_host, url.port)
        seen = self._seen
        if key in seen:
            seen.move_to_end(key)
            return True
        seen[key] = None
        if len(seen) > RECENT_ORIGINS:
            seen.popitem(last=False)
        return False


def reusable(response: httpx.Response, url: httpx.URL, recent: RecentOrigins) -> tuple[Any, bool]:
    """After the body of `url`'s response was read to its end: its connection, and
    whether to keep it for another request (the caller closes it otherwise, as `close()`
    or `aclose()`): it is clean, and its origin was met before (`RecentOrigins`)."""
    connection = connection_of(response)
    if connection is None:
        return None, True
    if closes_connection(response) or left_unread(connection):
        return connection, False
    return connection, recent.met_before(url)


class LazyTLS:
    """One fetcher's TLS context, built at its first https connection, not before.

    Loading the trust store (certifi's bundle, as httpx) takes 30-50 ms: a list of
    http:// URLs never pays it, and a run's first result does not wait for it. httpcore
    wants a context when a pool is made, and sets ALPN on it at each https connection:
    it gets `placeholder` (no trusted certificates: a handshake made with it by mistake
    fails, never passes), and the network layer's `start_tls` uses `context()`.
    """

    def __init__(self, options: FetchOptions) -> None:
        self._options = options
        self._context: ssl.SSLContext | None = None
        self._lock = threading.Lock()
        self.placeholder = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)

    def context(self) -> ssl.SSLContext:
        """The real context (built once, by the first caller), ALPN set as asked."""
        context = self._context
        if context is None:
            with self._lock:
                if self._context is None:
                    built = tls_context(self._options)
                    built.set_alpn_protocols(
                        ["http/1.1", "h2"] if self._options.http2 else ["http/1.1"]
                    )
                    self._context = built
                context = self._context
        return context


def tls_context(options: FetchOptions) -> ssl.SSLContext:
    """The `SSLContext` for https connections, built once per process (or event loop):
    the system's trust (certifi's bundle, as httpx), or only `options.cacert`'s
    certificates, or no checks with `verify=False`."""
    if options.cacert is None:
        return httpx.create_ssl_context(verify=options.verify)
    context = ssl.create_default_context(cadata=options.cacert.decode("ascii"))
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # as httpx's own context
    return context


def connection_pool(
    ssl_context: ssl.SSLContext,
    backend: Any,
    options: FetchOptions,
    *,
    keepalive: int,
    asynchronous: bool = False,
) -> Any:
    """httpcore's connection pool (sync or async) over `backend`, as `options` ask.

    With a proxy, it is httpcore's HTTP proxy pool: CONNECT tunnels for https targets.
    """
    import httpcore

    pool_options: dict[str, Any] = {
        "ssl_context": ssl_context,
        "max_connections": None,
        "max_keepalive_connections": keepalive,
        "keepalive_expiry": 5.0,
        "http1": True,
        "http2": options.http2,
        "network_backend": backend,
    }
    if options.proxy is None:
        pool = httpcore.AsyncConnectionPool if asynchronous else httpcore.ConnectionPool
        return pool(**pool_options)
    proxy = httpx.Proxy(options.proxy)
    proxy_pool = httpcore.AsyncHTTPProxy if asynchronous else httpcore.HTTPProxy
    return proxy_pool(
        proxy_url=httpcore.URL(
            scheme=proxy.url.raw_scheme,
            host=proxy.url.raw_host,
            port=proxy.url.port,
            target=proxy.url.raw_path,
        ),
        proxy_auth=proxy.raw_auth,
        proxy_headers=proxy.headers.raw,
        **pool_options,
    )
