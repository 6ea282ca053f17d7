"""The asyncio executor: one event loop on a background thread, async httpx clients.

`submit` hands a URL to the loop and returns a `concurrent.futures.Future`, so the runner
treats it like any other pool: first-only, the window, retries, caps and output are the
same code. `workers` is the number of requests in flight at once: each runs in a slot
with its own `httpx.AsyncClient`. A future is marked running only once its request has a
slot, so URLs still waiting for one can be cancelled, as with `concurrent.futures` pools.

Each attempt is bounded as a whole by `asyncio.timeout` (DNS, connect, TLS, headers,
body and redirects), so the async client needs no deadline backend of its own. Work that
is CPU rather than waiting stays short on the loop: decoding is capped by `max_bytes`,
titles of bodies over `INLINE_TITLE_BYTES` are extracted on a helper thread, and saving a
page (a file write) always runs on one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future
from typing import Any

import anyio
import httpcore
import httpx

from ._fetch import (
    KEEPALIVE_PER_WORKER,
    Attempt,
    Hops,
    NoCookies,
    Page,
    client_headers,
    connection_pool,
    request_target,
)
from ._options import FetchOptions
from ._signals import signals_blocked

__all__ = ["INLINE_TITLE_BYTES", "AsyncPool"]

#: Bodies up to this size get their title on the event loop, larger ones on a helper
#: thread. Measured on this design's scanner: real pages of any size take at most 3 ms
#: (130 saved pages, median 0.07 ms), but a hostile page packed with tags takes about
#: 17 ms at 64 KiB and 80 ms at 256 KiB, a stall for every other request on the loop.
INLINE_TITLE_BYTES = 64 * 1024
_CLOSE_SECONDS = 5.0


class AsyncPool:
    """An event loop on its own thread, running up to `workers` requests at once."""

    def __init__(self, options: FetchOptions) -> None:
        self._options = options
        self._loop = asyncio.new_event_loop()
        # A slot is a request that may run; each has its own client, as each thread of
        # the thread pool does: one httpx pool serving many requests at once rechecks
        # every idle connection for every request (with a system call each), which at
        # 64 requests cost ten times the CPU of the requests themselves.
        self._free_slots: asyncio.LifoQueue[int] = asyncio.LifoQueue()
        for slot in range(options.workers):
            self._free_slots.put_nowait(slot)
        self._clients: dict[int, httpx.AsyncClient] = {}
        self._ssl_context = httpx.create_ssl_context(verify=options.verify)
        self._tasks: set[asyncio.Task[None]] = set()
        with signals_blocked():  # the loop thread and its helper threads leave signals alone
            self._thread = threading.Thread(target=self._run, name="fetcher-async", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def submit(self, url: str) -> Future[Attempt]:
        if self._loop.is_closed() or not self._thread.is_alive():
            raise RuntimeError("cannot submit to a pool that has stopped")
        future: Future[Attempt] = Future()
        self._loop.call_soon_threadsafe(self._start, url, future)
        return future

    def _start(self, url: str, future: Future[Attempt]) -> None:
        task = self._loop.create_task(self._attempt(url, future))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _attempt(self, url: str, future: Future[Attempt]) -> None:
        try:
            slot = await self._free_slots.get()
        except asyncio.CancelledError:  # abandoned before it started
            future.cancel()
            raise
        try:
            if not future.set_running_or_notify_cancel():
                return  # cancelled while it waited for a slot
            try:
                future.set_result(await self._fetch(url, self._client(slot)))
            except asyncio.CancelledError:  # the pool is being abandoned
                future.set_exception(RuntimeError("aborted"))
                raise
            except BaseException as exc:  # a bug: the runner turns it into an error record
                future.set_exception(exc)
        finally:
            self._free_slots.put_nowait(slot)

    async def _fetch(self, url: str, client: httpx.AsyncClient) -> Attempt:
        started = time.monotonic()
        page = Page()
        try:
            async with asyncio.timeout(self._options.timeout):
                await self._follow(page, client, request_target(url))
        except Exception as exc:  # TimeoutError included: Page.fail names it
            page.fail(exc, self._options.timeout)
        return page.attempt(url, started)

    async def _follow(self, page: Page, client: httpx.AsyncClient, target: httpx.URL) -> None:
        options = self._options
        hops = Hops(options.max_redirects)
        request = client.build_request("GET", target)
        while True:
            response = await client.send(request, stream=True)
            try:
                next_request = page.note(response)
                if next_request is None:
                    body = page.body_for(response, options.max_bytes)
                    try:
                        async for chunk in response.aiter_raw():
                            page.feed(body, chunk)
                        body.finish()
                    finally:  # a title costs CPU: a large body's is read off the loop
                        if body.size <= INLINE_TITLE_BYTES:
                            page.read(body, response)
                        else:
                            await asyncio.to_thread(page.read, body, response)
                    if options.save_dir is not None:
                        content = body.content()
                        await asyncio.to_thread(page.save, options, target, response, content)
                    return
            finally:
                await response.aclose()
            request = hops.next(request, next_request)

    def _client(self, slot: int) -> httpx.AsyncClient:
        client = self._clients.get(slot)
        if client is None:
            client = self._clients[slot] = self._new_client()
        return client

    def _new_client(self) -> httpx.AsyncClient:
        options = self._options
        client = httpx.AsyncClient(
            transport=_AsyncTransport(self._ssl_context, options),
            timeout=httpx.Timeout(options.timeout),
            headers=client_headers(options),
            follow_redirects=False,
            trust_env=False,
        )
        client._cookies = NoCookies()  # as the sync client: no state carried between URLs
        return client

    def shutdown(self) -> None:
        """End in order (the runner calls this once every URL has finished)."""
        self._stop(cancel=False)

    def abort(self) -> None:
        """End now: cancel every request, waiting or running."""
        self._stop(cancel=True)

    def _stop(self, *, cancel: bool) -> None:
        if self._loop.is_closed():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._close(cancel), self._loop).result(_CLOSE_SECONDS)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_CLOSE_SECONDS)
        if not self._thread.is_alive():
            self._loop.close()

    async def _close(self, cancel: bool) -> None:
        tasks = list(self._tasks)
        if cancel:
            for task in tasks:
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in self._clients.values():
            await client.aclose()


class _AsyncTransport(httpx.AsyncHTTPTransport):
    """httpx's async transport over a pool whose connections are closed when cancelled.

    Built like the sync client's transport (see `_fetch._Transport`), for the backend.
    """

    def __init__(self, ssl_context: ssl.SSLContext, options: FetchOptions) -> None:
        self._pool = connection_pool(
            ssl_context,
            _ClosingBackend(),
            options,
            keepalive=KEEPALIVE_PER_WORKER,
            asynchronous=True,
        )


class _ClosingBackend(httpcore.AsyncNetworkBackend):
    """httpcore's asyncio backend, except that a connection whose TLS handshake is cancelled
    (by the attempt's timeout) is closed, not left for the garbage collector."""

    def __init__(self) -> None:
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _ClosingStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class _ClosingStream(httpcore.AsyncNetworkStream):
    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream

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
            return await self._stream.start_tls(ssl_context, server_hostname, timeout)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._stream.aclose()
            raise

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)
