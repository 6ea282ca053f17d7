"""The async HTTP client: one attempt at one URL on an asyncio event loop.

The same rules as the sync client (`client`): fetcher builds each request, follows
redirects, decodes under the caps; a connection with bytes left behind a response is
closed; a request that fails on a reused connection before any response arrived is sent
once more on a fresh one. Each attempt is bounded as a whole by `asyncio.timeout` (DNS,
connect, TLS, headers, body and redirects), so no deadline backend is needed.

CPU work stays short on the loop: decoding is capped by `max_bytes`, titles of bodies
over `INLINE_TITLE_BYTES` are extracted on a helper thread, and saving a page (a file
write) always runs on one.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterable
from typing import Any

import anyio
import httpcore
import httpx

from .._compat import tls_buffered, transport_over
from .._core.options import FetchOptions
from .._core.result import Attempt
from .attempt import AttemptBuilder, attempt_budget
from .classify import is_stale_connection_error, wants_http_fallback
from .pool import (
    KEEPALIVE_PER_WORKER,
    LazyTLS,
    RecentOrigins,
    connection_pool,
    reusable,
)
from .request import Hops, base_headers, request_headers, request_target

__all__ = ["INLINE_TITLE_BYTES", "AsyncFetcher", "Slot"]

#: Bodies up to this size get their title on the event loop, larger ones on a helper
#: thread. Measured on this design's scanner: real pages of any size take at most 3 ms
#: (130 saved pages, median 0.07 ms), but a hostile page packed with tags takes about
#: 17 ms at 64 KiB and 80 ms at 256 KiB, a stall for every other request on the loop.
INLINE_TITLE_BYTES = 64 * 1024


class Slot:
    """One request slot: its own transport (one request at a time), and the count of
    connections it has opened, which tells a fresh connection from a reused one."""

    def __init__(self, tls: LazyTLS, options: FetchOptions) -> None:
        self.backend = _ClosingBackend(tls)
        pool = connection_pool(
            tls.placeholder, self.backend, options, keepalive=KEEPALIVE_PER_WORKER,
            asynchronous=True,
        )  # fmt: skip
        self.transport = transport_over(pool, asynchronous=True)
        self.recent = RecentOrigins()

    async def send(self, request: httpx.Request) -> httpx.Response:
        """Send `request`; once more on a fresh connection if a reused one proved stale."""
        connects = self.backend.connects
        try:
            response: httpx.Response = await self.transport.handle_async_request(request)
            return response
        except Exception as exc:
            if self.backend.connects != connects or not is_stale_connection_error(exc):
                raise
        response = await self.transport.handle_async_request(request)  # the stale one closed
        return response

    async def aclose(self) -> None:
        await self.transport.aclose()


class AsyncFetcher:
    """Fetches pages on the running event loop, each attempt in a `Slot` it is given."""

    def __init__(self, options: FetchOptions) -> None:
        self.options = options
        self._headers = base_headers(options)
        self._tls = LazyTLS(options)

    def slot(self) -> Slot:
        """A new request slot (each is used by one request at a time)."""
        return Slot(self._tls, self.options)

    async def attempt(self, url: str, deadline: float | None, slot: Slot) -> Attempt:
        """Fetch `url` once in `slot`; never raises (but for cancellation). A line
        without a scheme may be tried again as http://, as the sync client does."""
        started = time.monotonic()
        seconds, total_cut = attempt_budget(self.options, deadline, started)
        builder = AttemptBuilder()
        try:
            async with asyncio.timeout(seconds):
                await self._follow(builder, slot, request_target(url))
        except Exception as exc:  # TimeoutError included: the builder names it
            plain = await self._fallback(url, exc, slot, started + seconds)
            if plain is None:
                builder.fail(exc, seconds, total_cut)
            else:
                builder = plain
        return builder.finish(url, started)

    async def _fallback(
        self, url: str, exc: Exception, slot: Slot, ends_at: float
    ) -> AttemptBuilder | None:
        """The http:// attempt at a line without a scheme, if it applies and is answered."""
        left = ends_at - time.monotonic()
        if not self.options.fallback or left <= 0 or not wants_http_fallback(url, exc):
            return None
        builder = AttemptBuilder()
        try:
            async with asyncio.timeout(left):
                await self._follow(builder, slot, request_target("http://" + url.strip()))
        except Exception:
            return None  # both failed: the https error stands
        return builder

    async def _follow(self, builder: AttemptBuilder, slot: Slot, target: httpx.URL) -> None:
        hops = Hops(self.options.max_redirects)
        url, headers = target, request_headers(self._headers, target)
        while True:
            response = await slot.send(httpx.Request("GET", url, headers=headers))
            complete = False
            try:
                location = builder.note(response, url, hops, self.options.follow)
                if location is None:
                    content = await self._read(builder, response)
                    complete = True
                    if self.options.save_dir is not None:
                        save = builder.save
                        await asyncio.to_thread(save, self.options, target, response, content)
                    return
            finally:
                await response.aclose()
                if complete:
                    await _release(response, url, slot.recent)
            assert location is not None
            headers = request_headers(hops.headers(headers, url, location), location)
            url = hops.next(url, location)

    async def _read(self, builder: AttemptBuilder, response: httpx.Response) -> bytes:
        """Read the final response's body to its end into `builder`; the decoded bytes."""
        body = builder.body_for(response, self.options.max_bytes)
        try:
            async for chunk in response.aiter_raw():
                builder.feed(body, chunk)
            body.finish()
        finally:  # a title costs CPU: a large body's is read off the loop
            if body.size <= INLINE_TITLE_BYTES:
                builder.read(body, response, self.options.keep_body)
            else:
                await asyncio.to_thread(builder.read, body, response, self.options.keep_body)
        return body.content()


async def _release(response: httpx.Response, url: httpx.URL, recent: RecentOrigins) -> None:
    """After a body read to its end: close the connection unless it is `reusable`."""
    connection, keep = reusable(response, url, recent)
    if not keep:
        await connection.aclose()


class _ClosingBackend(httpcore.AsyncNetworkBackend):
    """httpcore's asyncio backend, except that a connection whose TLS handshake is cancelled
    (by the attempt's timeout) is closed, not left for the garbage collector."""

    def __init__(self, tls: LazyTLS) -> None:
        self._backend = httpcore.AnyIOBackend()
        self._tls = tls
        self.connects = 0  # connections opened: tells a fresh connection from a reused one

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connects += 1
        stream = await self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _ClosingStream(stream, self._tls)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class _ClosingStream(httpcore.AsyncNetworkStream):
    """httpcore's anyio stream, closed when its TLS handshake is cancelled, and able to
    say whether bytes are buffered in it (TLS reads whole records ahead)."""

    def __init__(self, stream: httpcore.AsyncNetworkStream, tls: LazyTLS) -> None:
        self._stream = stream
        self._tls = tls  # the context to use, whatever httpcore passes to start_tls

    def buffered(self) -> bool:
        """True if bytes have arrived that nothing has read yet (TLS buffers)."""
        return tls_buffered(self._stream)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            tls = await self._stream.start_tls(self._tls.context(), server_hostname, timeout)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._stream.aclose()
            raise
        return _ClosingStream(tls, self._tls)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self.buffered():  # an idle connection with data is dead
            return True
        return self._stream.get_extra_info(info)
