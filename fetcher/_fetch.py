"""Fetching one URL with the sync client: never raises, always returns an `Attempt`.

Each worker thread (and so each worker process) keeps its own HTTP transport, reused for
all of its requests: connection pooling and keep-alive without sharing a pool between
threads (see encode/httpcore#1110). fetcher builds each request itself and hands it to
httpx's transport: redirects, decompression and the attempt's deadline are fetcher's
(see `_request`, `_body`, `_network`), so httpx's client layer would add only cost.

A kept-alive connection is reused only when it is proven clean: a response that left
any byte unread behind it (a body longer than its Content-Length, a body on a 204 or
304, a stray CRLF, a whole extra response) closes its connection, so those bytes can
never be read as the next URL's answer. A request that fails on a reused connection
that turned out dead or garbled, before any response to it arrived, is sent once more
on a fresh connection within the same attempt (same deadline; not a retry).
"""

from __future__ import annotations

import os
import signal
import ssl
import threading
import time
from typing import Any

import httpx

from ._classify import is_stale_connection_error
from ._failure import Failure
from ._internals import Transport, connection_of, left_unread
from ._network import Deadline, DeadlineBackend, LiveSockets
from ._options import FetchOptions
from ._page import Attempt, Page, attempt_budget, closes_connection
from ._request import Hops, base_headers, request_target
from ._signals import unblock_in_worker_process

__all__ = [
    "CRASH_HOOK_ENV",
    "KEEPALIVE_PER_WORKER",
    "Attempt",
    "PageFetcher",
    "connection_pool",
    "crash_marker",
    "fetch_in_process",
    "init_process_worker",
]

#: Idle connections one worker keeps for reuse: a worker makes one request at a time, so
#: a few cover hosts that recur, without thousands of idle sockets across many workers.
KEEPALIVE_PER_WORKER = 4


class _Worker:
    """What one worker thread owns: its transport, and the deadline its sockets obey."""

    def __init__(self, transport: Transport, backend: DeadlineBackend) -> None:
        self.transport = transport
        self.backend = backend
        self.deadline = backend.deadline
        self.busy = False


class PageFetcher:
    """Fetches pages with one HTTP transport per calling thread; safe to call from many."""

    def __init__(self, options: FetchOptions) -> None:
        self.options = options
        self._headers = base_headers(options)
        self._local = threading.local()
        self._live = LiveSockets()
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []
        self._ssl_context: ssl.SSLContext | None = None

    def attempt(self, url: str, deadline: float | None = None) -> Attempt:
        """Fetch `url` (an input line) once; never raises.

        The attempt takes at most `options.timeout` seconds, and ends by `deadline` (a
        monotonic time: the URL's total time) if that comes first.
        """
        started = time.monotonic()
        seconds, total_cut = attempt_budget(self.options.timeout, deadline, started)
        page = Page()
        try:
            self._fetch_into(page, url, seconds)
        except Exception as exc:
            page.fail(exc, seconds, total_cut)
        return page.attempt(url, started)

    def abort(self) -> None:
        """Fail the requests in flight at once, and every request after them.

        Idle transports are closed now; a busy one is closed by its own thread as soon as
        its request has failed.
        """
        self._live.abort()
        with self._lock:
            idle = [worker for worker in self._workers if not worker.busy]
        for worker in idle:
            worker.transport.close()

    def close(self) -> None:
        """Close every transport (and so every connection) this fetcher opened."""
        with self._lock:
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.transport.close()

    def _fetch_into(self, page: Page, url: str, seconds: float) -> None:
        target = request_target(url)
        worker = self._worker()
        with self._lock:
            if self._live.aborted.is_set():
                raise Failure("aborted", "aborted")
            worker.busy = True
        worker.deadline.start(seconds)
        try:
            self._follow(page, worker, target)
        finally:
            worker.deadline.clear()
            with self._lock:
                worker.busy = False
                aborted = self._live.aborted.is_set()
            if aborted:
                worker.transport.close()

    def _follow(self, page: Page, worker: _Worker, target: httpx.URL) -> None:
        hops = Hops(self.options.max_redirects)
        url, headers = target, self._headers
        while True:
            response = self._send(worker, httpx.Request("GET", url, headers=headers))
            complete = False
            try:
                location = page.note(response, url, hops)
                if location is None:
                    body = page.body_for(response, self.options.max_bytes)
                    try:
                        for chunk in response.iter_raw():
                            page.feed(body, chunk)
                        body.finish()
                        complete = True
                    finally:
                        page.read(body, response)
                    page.save(self.options, target, response, body.content())
                    return
            finally:
                response.close()
                if complete:
                    _release(response)
            assert location is not None
            url, headers = hops.next(url, location), hops.headers(headers, url, location)

    def _send(self, worker: _Worker, request: httpx.Request) -> httpx.Response:
        """Send `request`; once more on a fresh connection if a reused one proved stale."""
        connects = worker.backend.connects
        try:
            return worker.transport.handle_request(request)
        except Exception as exc:
            fresh = worker.backend.connects != connects
            if fresh or not is_stale_connection_error(exc) or self._live.aborted.is_set():
                raise
        return worker.transport.handle_request(request)  # the stale one was closed

    def _worker(self) -> _Worker:
        worker: _Worker | None = getattr(self._local, "worker", None)
        if worker is None:
            worker = self._new_worker()
            self._local.worker = worker
        return worker

    def _new_worker(self) -> _Worker:
        options = self.options
        with self._lock:
            if self._ssl_context is None:
                self._ssl_context = httpx.create_ssl_context(verify=options.verify)
            ssl_context = self._ssl_context
        backend = DeadlineBackend(Deadline(), self._live)
        pool = connection_pool(ssl_context, backend, options, keepalive=KEEPALIVE_PER_WORKER)
        worker = _Worker(Transport(pool), backend)
        with self._lock:
            self._workers.append(worker)
        return worker


def _release(response: httpx.Response) -> None:
    """After a body read to its end: close the connection if anything is left behind it."""
    connection = connection_of(response)
    if connection is not None and (closes_connection(response) or left_unread(connection)):
        connection.close()


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


#: Test-only hook: a worker process kills itself on a URL containing this variable's value,
#: so that tests can crash a worker the way an out-of-memory kill or a segfault would.
CRASH_HOOK_ENV = "FETCHER_TEST_CRASH_ON"

# One fetcher per worker process, built by the pool's initializer.
_process_fetcher: PageFetcher | None = None
_crash_marker: str | None = None


def crash_marker() -> str | None:
    """The test-only crash marker from the environment of the process starting a pool."""
    return os.environ.get(CRASH_HOOK_ENV) or None


def init_process_worker(options: FetchOptions, marker: str | None = None) -> None:
    """Process-pool initializer: leave signals to the parent and build this worker's fetcher."""
    global _process_fetcher, _crash_marker
    unblock_in_worker_process()
    _process_fetcher = PageFetcher(options)
    _crash_marker = marker


def crash_if_marked(url: str, marker: str | None) -> None:
    """Die the way a killed worker does when `url` holds the test-only crash marker."""
    if marker is not None and marker in url:
        os.kill(os.getpid(), signal.SIGKILL)


def fetch_in_process(url: str, deadline: float | None = None) -> Attempt:
    """The task a process-pool worker runs: a plain string in, a plain record out.

    `deadline` is a monotonic time of the parent's: the clock is system-wide (Linux
    CLOCK_MONOTONIC, and its equivalents elsewhere), so it means the same here.
    """
    if _process_fetcher is None:
        raise RuntimeError("worker process was not initialised")
    crash_if_marked(url, _crash_marker)
    return _process_fetcher.attempt(url, deadline)
