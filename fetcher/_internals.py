"""Every use of another library's private internals, fenced in one module.

Each function says what it relies on and the versions it was checked against; the
tests exercise every one of them, so an upgrade that breaks one fails the suite rather
than a user's run. Where a structure is not as expected, the functions fall back to the
safe choice (close the connection rather than reuse it) instead of failing.

Checked against httpx 0.28.1 and httpcore 1.0.9 (httpx is pinned to 0.28.x).
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = [
    "AsyncTransport",
    "Transport",
    "connection_of",
    "left_unread",
]


class Transport(httpx.HTTPTransport):
    """httpx's own transport over a connection pool built by fetcher.

    `HTTPTransport`'s constructor offers no way to pass a network backend, and its request
    handling uses only `self._pool` (httpx 0.28.1), so the pool is set here instead.
    """

    def __init__(self, pool: Any) -> None:
        self._pool = pool


class AsyncTransport(httpx.AsyncHTTPTransport):
    """The async twin of `Transport` (same reliance on `self._pool`)."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool


def connection_of(response: httpx.Response) -> Any:
    """httpcore's connection that carried `response`, or None if it cannot be found.

    Relies on httpx's `ResponseStream._httpcore_stream`, httpcore's
    `PoolByteStream._pool_request` and `PoolRequest.connection` (sync and async alike).
    """
    stream = getattr(response.stream, "_httpcore_stream", None)
    pool_request = getattr(stream, "_pool_request", None)
    return getattr(pool_request, "connection", None)


def left_unread(connection: Any) -> bool:
    """False only when the HTTP/1.1 connection is proven to hold no byte beyond the response
    just read (or is HTTP/2, whose frames delimit themselves); True otherwise.

    Relies on httpcore's `HTTPConnection._connection` (and the proxy connections' own
    `_connection`), `HTTP11Connection._h11_state` and h11's public `trailing_data`.
    """
    inner = connection
    for _ in range(4):  # pool connection -> (proxy tunnel ->) protocol connection
        state = getattr(inner, "_h11_state", None)
        if state is not None:
            data, closed = state.trailing_data
            return bool(data) or closed
        if type(inner).__name__ in ("HTTP2Connection", "AsyncHTTP2Connection"):
            return False
        inner = getattr(inner, "_connection", None)
        if inner is None:
            break
    return True
