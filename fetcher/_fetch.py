"""Fetching one URL: never raises, always returns a `FetchResult`.

Each worker thread (and so each worker process) keeps its own `httpx.Client`, reused for
all of its requests: connection pooling and keep-alive without sharing a client between
threads (see encode/httpcore#1110). Redirects are followed here rather than by httpx, so
that every hop is bounded by the same deadline and no intermediate body is read without
a cap.
"""

from __future__ import annotations

import signal
import socket
import ssl
import threading
import time
from dataclasses import dataclass

import httpx

from ._body import ACCEPT_ENCODING, BodyError, CappedBody
from ._network import Deadline, DeadlineBackend, LiveSockets
from ._options import FetchOptions
from ._result import FetchResult
from ._title import extract_title
from ._urls import MAX_URL_CHARS, to_request_url

__all__ = ["PageFetcher", "fetch_in_process", "init_process_worker"]

_MAX_ERROR_CHARS = 200
#: Idle connections one worker keeps for reuse: a worker makes one request at a time, so
#: a few cover hosts that recur, without thousands of idle sockets across many workers.
_KEEPALIVE_PER_WORKER = 4


@dataclass(slots=True)
class _Page:
    final_url: str | None = None
    status: int | None = None
    title: str | None = None
    size: int = 0
    error: str | None = None


class _Failure(Exception):
    """A failure with the message a record shows."""


class _Worker:
    """What one worker thread owns: its client and the deadline its sockets obey."""

    def __init__(self, client: httpx.Client, deadline: Deadline) -> None:
        self.client = client
        self.deadline = deadline
        self.busy = False


class PageFetcher:
    """Fetches pages with one HTTP client per calling thread; safe to call from many."""

    def __init__(self, options: FetchOptions) -> None:
        self.options = options
        self._local = threading.local()
        self._live = LiveSockets()
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []
        self._ssl_context: ssl.SSLContext | None = None

    def fetch(self, url: str) -> FetchResult:
        """Fetch `url` (an input line) and describe the outcome; never raises."""
        started = time.monotonic()
        page = _Page()
        try:
            self._fetch_into(page, url)
        except _Failure as exc:
            page.error = str(exc)
        except Exception as exc:
            page.error = describe_error(exc, self.options.timeout)
        return FetchResult(
            url=url,
            final_url=page.final_url,
            status=page.status,
            title=page.title,
            bytes=page.size,
            elapsed=time.monotonic() - started,
            error=page.error,
        )

    def abort(self) -> None:
        """Fail the requests in flight at once, and every request after them.

        Idle clients are closed now; a busy one is closed by its own thread as soon as
        its request has failed.
        """
        self._live.abort()
        with self._lock:
            idle = [worker for worker in self._workers if not worker.busy]
        for worker in idle:
            worker.client.close()

    def close(self) -> None:
        """Close every client this fetcher opened."""
        with self._lock:
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.client.close()

    def _fetch_into(self, page: _Page, url: str) -> None:
        if len(url) > MAX_URL_CHARS:
            raise _Failure(f"URL longer than {MAX_URL_CHARS} characters")
        target = httpx.URL(to_request_url(url))
        _check_scheme(target)
        worker = self._worker()
        with self._lock:
            if self._live.aborted.is_set():
                raise _Failure("aborted")
            worker.busy = True
        worker.deadline.start(self.options.timeout)
        try:
            self._follow(page, worker.client, target)
        finally:
            worker.deadline.clear()
            with self._lock:
                worker.busy = False
                aborted = self._live.aborted.is_set()
            if aborted:
                worker.client.close()

    def _follow(self, page: _Page, client: httpx.Client, target: httpx.URL) -> None:
        seen: set[str] = set()  # filled on the first redirect: most pages have none
        request = client.build_request("GET", target)
        for _ in range(self.options.max_redirects + 1):
            response = client.send(request, stream=True)
            try:
                page.final_url = str(response.url)
                page.status = response.status_code
                next_request = response.next_request
                if next_request is None:
                    self._read(page, response)
                    return
            finally:
                response.close()
            _check_scheme(next_request.url)
            seen.add(str(request.url))
            if str(next_request.url) in seen:
                raise _Failure(f"redirect loop at {next_request.url}")
            seen.add(str(next_request.url))
            request = next_request
        raise _Failure(f"more than {self.options.max_redirects} redirects")

    def _read(self, page: _Page, response: httpx.Response) -> None:
        """Read the body under the cap; what was read counts even if reading failed."""
        cap = self.options.max_bytes
        body = CappedBody(response.headers.get("content-encoding"), cap)
        try:
            for chunk in response.iter_raw():
                body.feed(chunk)
                if body.truncated:
                    raise _Failure(f"body larger than max-bytes ({cap} bytes)")
            body.finish()
        finally:
            page.size = body.size
            page.title = extract_title(body.content(), response.headers.get("content-type"))

    def _worker(self) -> _Worker:
        worker: _Worker | None = getattr(self._local, "worker", None)
        if worker is None:
            worker = self._new_worker()
            self._local.worker = worker
        return worker

    def _new_worker(self) -> _Worker:
        deadline = Deadline()
        with self._lock:
            if self._ssl_context is None:
                self._ssl_context = httpx.create_ssl_context()
            ssl_context = self._ssl_context
        transport = _Transport(ssl_context, DeadlineBackend(deadline, self._live))
        client = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(self.options.timeout),
            headers={"User-Agent": self.options.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
            follow_redirects=False,
            trust_env=False,
        )
        # No cookies are kept, so none need reading: httpx would otherwise parse every
        # response's cookies through urllib (about a tenth of its CPU per request).
        client._cookies = _NoCookies()
        worker = _Worker(client, deadline)
        with self._lock:
            self._workers.append(worker)
        return worker


class _Transport(httpx.HTTPTransport):
    """httpx's own transport over a connection pool that uses the deadline backend.

    `HTTPTransport`'s constructor offers no way to pass a network backend, and its request
    handling uses only `self._pool`, so the pool is built here instead (httpx is pinned to
    0.28.x, where this holds; the tests exercise it).
    """

    def __init__(self, ssl_context: ssl.SSLContext, backend: DeadlineBackend) -> None:
        import httpcore

        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=None,
            max_keepalive_connections=_KEEPALIVE_PER_WORKER,
            keepalive_expiry=5.0,
            http1=True,
            http2=False,
            network_backend=backend,
        )


class _NoCookies(httpx.Cookies):
    """A cookie store that keeps nothing: no URL is fetched with state from earlier ones."""

    def extract_cookies(self, response: httpx.Response) -> None:
        pass


def _check_scheme(url: httpx.URL) -> None:
    if url.scheme not in ("http", "https"):
        scheme = url.scheme or "(none)"
        raise _Failure(f"unsupported scheme {scheme!r}: only http and https are fetched")
    if not url.host:
        raise _Failure("URL has no host")
    if url.port is not None and not 0 < url.port < 65536:
        raise _Failure(f"invalid port {url.port}")


def describe_error(exc: BaseException, timeout: float) -> str:
    """A short message naming what failed, for the record's `error` field."""
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {timeout:g}s"
    if isinstance(exc, BodyError):
        return str(exc)
    cause = _root_cause(exc)
    if isinstance(cause, socket.gaierror):
        return f"DNS lookup failed: {(cause.strerror or str(cause)).lower()}"
    if isinstance(cause, ssl.SSLError):
        return _clip(f"TLS error: {cause.reason or cause}")
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, httpx.ConnectError):
        return _clip(f"connect failed: {_os_message(cause)}")
    if isinstance(exc, httpx.RemoteProtocolError):
        return _clip(f"protocol error: {exc}")
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return _clip(f"connection lost: {_os_message(cause)}")
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return _clip(f"invalid URL: {exc}")
    return _clip(f"{type(exc).__name__}: {exc}")


def _root_cause(exc: BaseException) -> BaseException:
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        nested = exc.__cause__ or exc.__context__
        if nested is None:
            break
        exc = nested
    return exc


def _os_message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def _clip(message: str) -> str:
    return message if len(message) <= _MAX_ERROR_CHARS else message[: _MAX_ERROR_CHARS - 1] + "…"


# One fetcher per worker process, built by the pool's initializer.
_process_fetcher: PageFetcher | None = None


def init_process_worker(options: FetchOptions) -> None:
    """Process-pool initializer: leave Ctrl-C to the parent and build this worker's fetcher."""
    global _process_fetcher
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # also drops a Ctrl-C held while starting
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _process_fetcher = PageFetcher(options)


def fetch_in_process(url: str) -> FetchResult:
    """The task a process-pool worker runs: a plain string in, a plain record out."""
    if _process_fetcher is None:
        raise RuntimeError("worker process was not initialised")
    return _process_fetcher.fetch(url)
