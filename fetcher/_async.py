"""The asyncio executor: one event loop on a background thread, async httpx transports.

`submit` hands a URL to the loop and returns a `concurrent.futures.Future`, so the runner
treats it like any other pool: first-only, the window, retries, caps and output are the
same code. `workers` is the number of requests in flight at once: each runs in a slot
with its own async httpx transport. A future is marked running only once its request has a
slot, so URLs still waiting for one can be cancelled, as with `concurrent.futures` pools.

Each attempt is bounded as a whole by `asyncio.timeout` (DNS, connect, TLS, headers,
body and redirects), so the async client needs no deadline backend of its own. The
connection rules are the sync client's (see `_fetch`): a connection with bytes left
behind a response is closed, and a request that fails on a reused connection before any
response arrived is sent once more on a fresh one. Work that
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

from ._classify import is_stale_connection_error
from ._fetch import KEEPALIVE_PER_WORKER, connection_pool
from ._internals import AsyncTransport, connection_of, left_unread
from ._options import FetchOptions
from ._page import Attempt, Page, attempt_budget, closes_connection
from ._request import Hops, base_headers, request_target
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
        # A slot is a request that may run; each has its own transport, as each thread of
        # the thread pool does: one httpx pool serving many requests at once rechecks
        # every idle connection for every request (with a system call each), which at
        # 64 requests cost ten times the CPU of the requests themselves.
        self._free_slots: asyncio.LifoQueue[int] = asyncio.LifoQueue()
        for slot in range(options.workers):
            self._free_slots.put_nowait(slot)
        self._slots: dict[int, _Slot] = {}
        self._headers = base_headers(options)
        self._ssl_context = httpx.create_ssl_context(verify=options.verify)
        self._tasks: set[asyncio.Task[None]] = set()
        with signals_blocked():  # the loop thread and its helper threads leave signals alone
            self._thread = threading.Thread(target=self._run, name="fetcher-async", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def submit(self, url: str, deadline: float | None = None) -> Future[Attempt]:
        if self._loop.is_closed() or not self._thread.is_alive():
            raise RuntimeError("cannot submit to a pool that has stopped")
        future: Future[Attempt] = Future()
        self._loop.call_soon_threadsafe(self._start, url, deadline, future)
        return future

    def _start(self, url: str, deadline: float | None, future: Future[Attempt]) -> None:
        task = self._loop.create_task(self._attempt(url, deadline, future))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _attempt(self, url: str, deadline: float | None, future: Future[Attempt]) -> None:
        try:
            slot = await self._free_slots.get()
        except asyncio.CancelledError:  # abandoned before it started
            future.cancel()
            raise
        try:
            if not future.set_running_or_notify_cancel():
                return  # cancelled while it waited for a slot
            try:
                future.set_result(await self._fetch(url, deadline, self._slot(slot)))
            except asyncio.CancelledError:  # the pool is being abandoned
                future.set_exception(RuntimeError("aborted"))
                raise
            except BaseException as exc:  # a bug: the runner turns it into an error record
                future.set_exception(exc)
        finally:
            self._free_slots.put_nowait(slot)

    async def _fetch(self, url: str, deadline: float | None, slot: _Slot) -> Attempt:
        started = time.monotonic()
        seconds, total_cut = attempt_budget(self._options.timeout, deadline, started)
        page = Page()
        try:
            async with asyncio.timeout(seconds):
                await self._follow(page, slot, request_target(url))
        except Exception as exc:  # TimeoutError included: Page.fail names it
            page.fail(exc, seconds, total_cut)
        return page.attempt(url, started)

    async def _follow(self, page: Page, slot: _Slot, target: httpx.URL) -> None:
        options = self._options
        hops = Hops(options.max_redirects)
        url, headers = target, self._headers
        while True:
            response = await slot.send(httpx.Request("GET", url, headers=headers))
            complete = False
            try:
                location = page.note(response, url, hops)
                if location is None:
                    body = page.body_for(response, options.max_bytes)
                    try:
                        async for chunk in response.aiter_raw():
                            page.feed(body, chunk)
                        body.finish()
                        complete = True
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
                if complete:
                    await _release(response)
            assert location is not None
            url, headers = hops.next(url, location), hops.headers(headers, url, location)

    def _slot(self, number: int) -> _Slot:
        slot = self._slots.get(number)
        if slot is None:
            slot = self._slots[number] = _Slot(self._ssl_context, self._options)
        return slot

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
        for slot in self._slots.values():
            await slot.transport.aclose()


class _Slot:
    """One request slot's transport, and the count of connections it has opened."""

    def __init__(self, ssl_context: ssl.SSLContext, options: FetchOptions) -> None:
        self.backend = _ClosingBackend()
        pool = connection_pool(
            ssl_context, self.backend, options, keepalive=KEEPALIVE_PER_WORKER, asynchronous=True
        )
        self.transport = AsyncTransport(pool)

    async def send(self, request: httpx.Request) -> httpx.Response:
        """Send `request`; once more on a fresh connection if a reused one proved stale."""
        connects = self.backend.connects
        try:
            return await self.transport.handle_async_request(request)
        except Exception as exc:
            if self.backend.connects != connects or not is_stale_connection_error(exc):
                raise
        return await self.transport.handle_async_request(request)  # the stale one was closed


async def _release(response: httpx.Response) -> None:
    """After a body read to its end: close the connection if anything is left behind it."""
    connection = connection_of(response)
    if connection is not None and (closes_connection(response) or left_unread(connection)):
        await connection.aclose()


class _ClosingBackend(httpcore.AsyncNetworkBackend):
    """httpcore's asyncio backend, except that a connection whose TLS handshake is cancelled
    (by the attempt's timeout) is closed, not left for the garbage collector."""

    def __init__(self) -> None:
        self._backend = httpcore.AnyIOBackend()
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
