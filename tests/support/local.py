"""A real HTTP/1.1 server on 127.0.0.1 for the tests, with routes a test can add.

Each route answers with a fixed status, headers and body, optionally after a delay, with
the body (or the headers) trickled out a byte at a time, by hanging until the server
stops or a gate opens, or by failing its first requests. It counts requests per path and
how many are being served at once, and lets a test wait until that many are.
"""

from __future__ import annotations

import gzip
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hang: bool = False  # never answer (until the server stops)
    drip_body: float | None = None  # seconds between body bytes
    drip_headers: float | None = None  # seconds between header bytes
    stream_bytes: int = 0  # send this many zero bytes as the body, generated on the fly
    gate: threading.Event | None = None  # answer only once this is set
    fail_first: int = 0  # answer the first N requests with `fail_status` instead
    fail_status: int = 503
    fail_headers: dict[str, str] = field(default_factory=dict)


class LocalServer:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: dict[str, int] = {}
        self.request_headers: dict[str, dict[str, str]] = {}
        self.request_targets: dict[str, list[str]] = {}  # as sent on the request line
        self.arrivals: dict[str, list[float]] = {}  # monotonic arrival times per path
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.scheme = "http" if tls is None else "https"
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def add(self, path: str, **kwargs: object) -> str:
        self.routes[path] = Route(**kwargs)  # type: ignore[arg-type]
        return self.url(path)

    def html(
        self, path: str, html: str | bytes, *, charset: str | None = "utf-8", **kwargs: object
    ) -> str:
        body = html.encode(charset or "utf-8") if isinstance(html, str) else html
        content_type = "text/html" + (f"; charset={charset}" if charset else "")
        headers = {"Content-Type": content_type, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        return self.add(path, body=body, headers=headers, **kwargs)

    def reset_counts(self) -> None:
        with self._lock:
            self.hits.clear()
            self.max_active = 0

    def wait_for(self, predicate: Callable[[LocalServer], bool], timeout: float = 10.0) -> None:
        """Block until `predicate(self)` holds (checked whenever a request starts or ends)."""
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self), timeout):
                raise AssertionError("the server never reached the expected state")

    def _enter(self, path: str, target: str) -> int:
        with self._changed:
            self.hits[path] = self.hits.get(path, 0) + 1
            self.request_targets.setdefault(path, []).append(target)
            self.arrivals.setdefault(path, []).append(time.monotonic())
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self._changed.notify_all()
            return self.hits[path]

    def _leave(self) -> None:
        with self._changed:
            self.active -= 1
            self._changed.notify_all()


def _handler_for(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as separate writes

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            route = server.routes.get(path)
            hit = server._enter(path, self.path)
            server.request_headers[path] = dict(self.headers.items())
            self._held = True
            try:
                if route is not None and hit <= route.fail_first:
                    self._send(
                        Route(status=route.fail_status, body=b"busy", headers=route.fail_headers)
                    )
                elif route is None:
                    self._send(
                        Route(
                            status=404,
                            body=b"<title>Not here</title>",
                            headers={"Content-Type": "text/html"},
                        )
                    )
                else:
                    self._send(route)
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                self._release()

        def _release(self) -> None:
            """Stop counting this request as held, once. A response of a fixed body is
            released just before its last byte goes out: released after it, the client
            could see the whole answer and send its next request before this thread ran
            on, and the server would count one request more at once than the client ever
            had. (Dripped and streamed bodies are released after their last byte, as
            before: no test counts requests at once on them.)"""
            if self._held:
                self._held = False
                server._leave()

        def _send(self, route: Route) -> None:
            if route.hang:
                server.stopping.wait()
                return
            if route.gate is not None:
                while not route.gate.wait(0.05):
                    if server.stopping.is_set():
                        return
            if route.delay:
                server.stopping.wait(route.delay)
            if route.drip_headers is not None:
                self.close_connection = True
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 10_000:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    if server.stopping.wait(route.drip_headers):
                        return
                return
            length = route.stream_bytes or len(route.body)
            self.send_response(route.status)
            for name, value in route.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(length))
            if not length:
                self._release()  # the headers are the whole answer
            self.end_headers()
            if route.drip_body is not None:
                for byte in route.body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    if server.stopping.wait(route.drip_body):
                        return
            elif route.stream_bytes:
                chunk = b"\0" * 65536
                sent = 0
                while sent < route.stream_bytes:
                    self.wfile.write(chunk[: route.stream_bytes - sent])
                    sent += len(chunk)
            elif route.body:
                self.wfile.write(route.body[:-1])  # the client cannot finish before the last
                self._release()
                self.wfile.write(route.body[-1:])

    return Handler


def gzip_bomb(size: int) -> bytes:
    """A gzip stream of `size` zero bytes: tiny on the wire, huge when decoded."""
    return gzip.compress(b"\0" * size, compresslevel=9)
