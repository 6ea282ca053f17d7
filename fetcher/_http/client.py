"""The sync HTTP client: one attempt at one URL, never raising, always an `Attempt`.

Each worker thread (and so each worker process) keeps its own HTTP transport, reused for
all of its requests (see `pool`). fetcher builds each request itself and hands it to
httpx's transport: redirects, decompression and the attempt's deadline are fetcher's
(see `request`, `body`, `network`), so httpx's client layer would add only cost.

A request that fails on a reused connection that turned out dead or garbled, before any
response to it arrived, is sent once more on a fresh connection within the same attempt
(same deadline; not a retry).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from .._compat import transport_over
from .._core.errors import Failure
from .._core.options import FetchOptions
from .._core.result import Attempt
from .attempt import AttemptBuilder, attempt_budget
from .classify import is_stale_connection_error, wants_http_fallback
from .network import Deadline, DeadlineBackend, LiveSockets
from .pool import (
    KEEPALIVE_PER_WORKER,
    LazyTLS,
    RecentOrigins,
    connection_pool,
    reusable,
)
from .request import Hops, base_headers, request_headers, request_target

__all__ = ["PageFetcher"]


class _Worker:
    """What one worker thread owns: its transport, and the deadline its sockets obey."""

    def __init__(self, transport: Any, backend: DeadlineBackend) -> None:
        self.transport = transport
        self.backend = backend
        self.deadline = backend.deadline
        self.busy = False
        self.recent = RecentOrigins()


class PageFetcher:
    """Fetches pages with one HTTP transport per calling thread; safe to call from many."""

    def __init__(self, options: FetchOptions) -> None:
        self.options = options
        self._headers = base_headers(options)
        self._local = threading.local()
        self._live = LiveSockets()
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []
        self._tls = LazyTLS(options)

    def attempt(self, url: str, deadline: float | None = None) -> Attempt:
        """Fetch `url` (an input line) once; never raises.

        The attempt takes at most `options.timeout` seconds, and ends by `deadline` (a
        monotonic time: the URL's total time) if that comes first. A line without a
        scheme whose https:// request fails as `wants_http_fallback` says is tried as
        http:// in what is left of that time (unless `options.fallback` is off).
        """
        started = time.monotonic()
        seconds, total_cut = attempt_budget(self.options, deadline, started)
        builder = AttemptBuilder()
        try:
            self._fetch_into(builder, url, seconds)
        except Exception as exc:
            plain = self._fallback(url, exc, started + seconds)
            if plain is None:
                builder.fail(exc, seconds, total_cut)
            else:
                builder = plain
        return builder.finish(url, started)

    def _fallback(self, url: str, exc: Exception, ends_at: float) -> AttemptBuilder | None:
        """The http:// attempt at a line without a scheme, if it applies and is answered."""
        left = ends_at - time.monotonic()
        if not self.options.fallback or left <= 0 or not wants_http_fallback(url, exc):
            return None
        builder = AttemptBuilder()
        try:
            self._fetch_into(builder, "http://" + url.strip(), left)
        except Exception:
            return None  # both failed: the https error stands
        return builder

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

    def _fetch_into(self, builder: AttemptBuilder, url: str, seconds: float) -> None:
        target = request_target(url)
        worker = self._worker()
        with self._lock:
            if self._live.aborted.is_set():
                raise Failure("aborted", "aborted")
            worker.busy = True
        worker.deadline.start(seconds)
        try:
            self._follow(builder, worker, target)
        finally:
            worker.deadline.clear()
            with self._lock:
                worker.busy = False
                aborted = self._live.aborted.is_set()
            if aborted:
                worker.transport.close()

    def _follow(self, builder: AttemptBuilder, worker: _Worker, target: httpx.URL) -> None:
        hops = Hops(self.options.max_redirects)
        url, headers = target, request_headers(self._headers, target)
        while True:
            response = self._send(worker, httpx.Request("GET", url, headers=headers))
            complete = False
            try:
                location = builder.note(response, url, hops, self.options.follow)
                if location is None:
                    content = self._read(builder, response)
                    complete = True
                    builder.save(self.options, target, response, content)
                    return
            finally:
                response.close()
                if complete:
                    _release(response, url, worker.recent)
            assert location is not None
            headers = request_headers(hops.headers(headers, url, location), location)
            url = hops.next(url, location)

    def _read(self, builder: AttemptBuilder, response: httpx.Response) -> bytes:
        """Read the final response's body to its end into `builder`; the decoded bytes."""
        body = builder.body_for(response, self.options.max_bytes)
        try:
            for chunk in response.iter_raw():
                builder.feed(body, chunk)
            body.finish()
        finally:
            builder.read(body, response, self.options.keep_body)
        return body.content()

    def _send(self, worker: _Worker, request: httpx.Request) -> httpx.Response:
        """Send `request`; once more on a fresh connection if a reused one proved stale."""
        connects = worker.backend.connects
        try:
            response: httpx.Response = worker.transport.handle_request(request)
            return response
        except Exception as exc:
            fresh = worker.backend.connects != connects
            if fresh or not is_stale_connection_error(exc) or self._live.aborted.is_set():
                raise
        response = worker.transport.handle_request(request)  # the stale one was closed
        return response

    def _worker(self) -> _Worker:
        worker: _Worker | None = getattr(self._local, "worker", None)
        if worker is None:
            worker = self._new_worker()
            self._local.worker = worker
        return worker

    def _new_worker(self) -> _Worker:
        backend = DeadlineBackend(Deadline(), self._live, self._tls)
        pool = connection_pool(
            self._tls.placeholder, backend, self.options, keepalive=KEEPALIVE_PER_WORKER
        )
        worker = _Worker(transport_over(pool), backend)
        with self._lock:
            self._workers.append(worker)
        return worker


def _release(response: httpx.Response, url: httpx.URL, recent: RecentOrigins) -> None:
    """After a body read to its end: close the connection unless it is `reusable`."""
    connection, keep = reusable(response, url, recent)
    if not keep:
        connection.close()
