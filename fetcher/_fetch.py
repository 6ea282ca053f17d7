"""Fetching one URL: never raises, always returns a `FetchResult`.

Each worker thread (and so each worker process) keeps its own `httpx.Client`, reused for
all of its requests: connection pooling and keep-alive without sharing a client between
threads (see encode/httpcore#1110). Redirects are followed here rather than by httpx, so
that every hop is bounded by the same deadline and no intermediate body is read without
a cap.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

from ._body import ACCEPT_ENCODING, BodyError, CappedBody
from ._network import Deadline, DeadlineBackend, LiveSockets
from ._options import FetchOptions
from ._result import FetchResult
from ._retry import RETRY_STATUSES, parse_retry_after
from ._signals import unblock_in_worker_process
from ._title import extract_title
from ._urls import MAX_URL_CHARS, to_request_url

__all__ = [
    "CRASH_HOOK_ENV",
    "KEEPALIVE_PER_WORKER",
    "Attempt",
    "PageFetcher",
    "crash_marker",
    "fetch_in_process",
    "init_process_worker",
]

_MAX_ERROR_CHARS = 200
#: Idle connections one worker keeps for reuse: a worker makes one request at a time, so
#: a few cover hosts that recur, without thousands of idle sockets across many workers.
KEEPALIVE_PER_WORKER = 4


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at a URL: its record, and whether another try could end differently.

    `retry_after` is the wait in seconds a `Retry-After` header asked for, if any.
    """

    result: FetchResult
    retryable: bool = False
    retry_after: float | None = None


@dataclass(slots=True)
class Page:
    """What one attempt has learnt so far; every client (sync or async) fills one."""

    final_url: str | None = None
    status: int | None = None
    title: str | None = None
    size: int = 0
    error: str | None = None
    path: str | None = None
    retryable: bool = False
    retry_after: float | None = None

    def note(self, response: httpx.Response) -> httpx.Request | None:
        """Record a response's URL and status; return the redirect to follow, if any."""
        self.final_url = str(response.url)
        self.status = response.status_code
        next_request = response.next_request
        if next_request is None and response.status_code in RETRY_STATUSES:
            self.retry_after = parse_retry_after(response.headers.get("retry-after"))
        return next_request

    def body_for(self, response: httpx.Response, cap: int) -> CappedBody:
        """A decoder for the response's body, under the `max_bytes` cap."""
        return CappedBody(response.headers.get("content-encoding"), cap)

    def feed(self, body: CappedBody, chunk: bytes) -> None:
        """Add a raw chunk; a body beyond the cap ends the attempt."""
        body.feed(chunk)
        if body.truncated:
            raise _Failure(f"body larger than max-bytes ({body.cap} bytes)")

    def read(self, body: CappedBody, response: httpx.Response) -> None:
        """Keep the size and title of what was read (also when reading failed)."""
        self.size = body.size
        self.title = extract_title(body.content(), response.headers.get("content-type"))

    def save(
        self, options: FetchOptions, target: httpx.URL, response: httpx.Response, content: bytes
    ) -> None:
        """Write a successful body to `options.save_dir`, if set."""
        if options.save_dir is None or response.status_code >= 400:
            return
        from ._save import save_page

        content_type = response.headers.get("content-type")
        try:
            try:
                self.path = save_page(options.save_dir, str(target), content_type, content)
            except FileNotFoundError:  # a worker on another machine (Dask): make the folder
                os.makedirs(options.save_dir, exist_ok=True)
                self.path = save_page(options.save_dir, str(target), content_type, content)
        except OSError as exc:
            raise _Failure(f"cannot save page: {_os_message(exc)}") from None

    def fail(self, exc: Exception, timeout: float) -> None:
        """Record why the attempt failed, and whether another may succeed."""
        if isinstance(exc, _Failure):
            self.error = str(exc)
        elif isinstance(exc, TimeoutError):  # the async client's whole-attempt deadline
            self.error = f"timed out after {timeout:g}s"
            self.retryable = True
        else:
            self.error = describe_error(exc, timeout)
            self.retryable = _is_transient(exc, self.status)

    def attempt(self, url: str, started: float) -> Attempt:
        """The finished attempt at `url`, begun at monotonic time `started`."""
        if self.error is None and self.status in RETRY_STATUSES:
            self.retryable = True
        result = FetchResult(
            url=url,
            final_url=self.final_url,
            status=self.status,
            title=self.title,
            bytes=self.size,
            elapsed=time.monotonic() - started,
            error=self.error,
            path=self.path,
        )
        return Attempt(result, self.retryable, self.retry_after)


class Hops:
    """The redirects of one attempt: each checked, loops and too many are failures."""

    def __init__(self, max_redirects: int) -> None:
        self._max = self._left = max_redirects
        self._seen: set[str] = set()  # filled on the first redirect: most pages have none

    def next(self, request: httpx.Request, next_request: httpx.Request) -> httpx.Request:
        """The request to send after `request` answered with a redirect to `next_request`."""
        if self._left == 0:
            raise _Failure(f"more than {self._max} redirects")
        self._left -= 1
        _check_scheme(next_request.url)
        self._seen.add(str(request.url))
        if str(next_request.url) in self._seen:
            raise _Failure(f"redirect loop at {next_request.url}")
        self._seen.add(str(next_request.url))
        return next_request


def request_target(url: str) -> httpx.URL:
    """The URL to request for an input line, checked before any connection is made."""
    if len(url) > MAX_URL_CHARS:
        raise _Failure(f"URL longer than {MAX_URL_CHARS} characters")
    target = httpx.URL(to_request_url(url))
    _check_scheme(target)
    try:  # what name resolution would reject (an empty label, one over 63 characters)
        target.host.encode("idna")
    except UnicodeError:
        raise _Failure("DNS lookup failed: invalid host name") from None
    return target


def client_headers(options: FetchOptions) -> httpx.Headers:
    """The headers of every request: fetcher's defaults, replaced by the caller's own."""
    headers = httpx.Headers({"User-Agent": options.user_agent, "Accept-Encoding": ACCEPT_ENCODING})
    headers.update(list(options.headers))
    return headers


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
        """Fetch `url` (an input line) once and describe the outcome; never raises."""
        return self.attempt(url).result

    def attempt(self, url: str) -> Attempt:
        """Fetch `url` once; say whether a later retry could succeed. Never raises."""
        started = time.monotonic()
        page = Page()
        try:
            self._fetch_into(page, url)
        except Exception as exc:
            page.fail(exc, self.options.timeout)
        return page.attempt(url, started)

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

    def _fetch_into(self, page: Page, url: str) -> None:
        target = request_target(url)
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

    def _follow(self, page: Page, client: httpx.Client, target: httpx.URL) -> None:
        hops = Hops(self.options.max_redirects)
        request = client.build_request("GET", target)
        while True:
            response = client.send(request, stream=True)
            try:
                next_request = page.note(response)
                if next_request is None:
                    body = page.body_for(response, self.options.max_bytes)
                    try:
                        for chunk in response.iter_raw():
                            page.feed(body, chunk)
                        body.finish()
                    finally:
                        page.read(body, response)
                    page.save(self.options, target, response, body.content())
                    return
            finally:
                response.close()
            request = hops.next(request, next_request)

    def _worker(self) -> _Worker:
        worker: _Worker | None = getattr(self._local, "worker", None)
        if worker is None:
            worker = self._new_worker()
            self._local.worker = worker
        return worker

    def _new_worker(self) -> _Worker:
        deadline = Deadline()
        options = self.options
        with self._lock:
            if self._ssl_context is None:
                self._ssl_context = httpx.create_ssl_context(verify=options.verify)
            ssl_context = self._ssl_context
        transport = _Transport(ssl_context, DeadlineBackend(deadline, self._live), options)
        client = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(options.timeout),
            headers=client_headers(options),
            follow_redirects=False,
            trust_env=False,
        )
        # No cookies are kept, so none need reading: httpx would otherwise parse every
        # response's cookies through urllib (about a tenth of its CPU per request).
        client._cookies = NoCookies()
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

    def __init__(
        self, ssl_context: ssl.SSLContext, backend: DeadlineBackend, options: FetchOptions
    ) -> None:
        self._pool = connection_pool(ssl_context, backend, options, keepalive=KEEPALIVE_PER_WORKER)


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


class NoCookies(httpx.Cookies):
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


def _is_transient(exc: BaseException, status: int | None) -> bool:
    """True for a failure another try may not meet: a timeout, a failed connection."""
    if isinstance(exc, httpx.TimeoutException):
        return True
    cause = _root_cause(exc)
    if isinstance(exc, httpx.ConnectError):
        if isinstance(cause, socket.gaierror):  # only "try again later" is worth it
            return cause.errno == socket.EAI_AGAIN
        return not isinstance(cause, ssl.SSLError | UnicodeError)
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return status is None  # lost before any response: the server never answered
    if isinstance(exc, httpx.RemoteProtocolError):  # garbage is no better the second time
        return status is None and str(exc).startswith("Server disconnected")
    return False


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


def fetch_in_process(url: str) -> Attempt:
    """The task a process-pool worker runs: a plain string in, a plain record out."""
    if _process_fetcher is None:
        raise RuntimeError("worker process was not initialised")
    crash_if_marked(url, _crash_marker)
    return _process_fetcher.attempt(url)
