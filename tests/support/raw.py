"""A raw-bytes HTTP server on 127.0.0.1 for hostile-server tests.

The test decides every byte: a route is an async function given the connection (`Peer`)
and the request it read; it sends exactly the bytes it wants, when it wants, and keeps
the connection open for the next request, closes it, or holds it silent. The server
reads request heads itself (no HTTP library), so nothing between the test and the
client under test tidies the bytes up.

It records which connection carried each request, so a test can tell whether the client
reused a connection after a given response.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_MAX_HEAD = 64 * 1024


@dataclass
class Request:
    """One request head as received: the raw bytes and the parts a test asks about."""

    raw: bytes
    method: str
    target: str
    headers: list[tuple[bytes, bytes]]
    connection: int  # which accepted connection carried it (0, 1, ...)
    index: int  # its position on that connection (0 for the first)

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    def header(self, name: str) -> bytes | None:
        """The value of the first header called `name` (case-insensitive), as bytes."""
        wanted = name.lower().encode()
        return next((v for n, v in self.headers if n.lower() == wanted), None)


class Peer:
    """The server's side of one connection, as a route sees it."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.number = number
        self.closed = False

    def send(self, data: bytes) -> None:
        """Queue `data` for sending (one write: it leaves in as few segments as it fits)."""
        if not self.closed:
            self.writer.write(data)

    async def drain(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()

    async def drip(self, data: bytes, interval: float, size: int = 1) -> None:
        """Send `data` `size` bytes at a time, `interval` seconds apart."""
        for start in range(0, len(data), size):
            if self.closed or self.writer.is_closing():
                return
            self.send(data[start : start + size])
            await self.drain()
            await asyncio.sleep(interval)

    def close(self) -> None:
        """Close the connection after what was sent."""
        self.closed = True
        self.writer.close()

    async def hold(self) -> None:
        """Send nothing more and keep the connection open until the client leaves."""
        with contextlib.suppress(ConnectionError):
            while await self.reader.read(65536):
                pass
        self.close()


Route = Callable[[Peer, Request], Awaitable[None]]


def response(
    status: int = 200,
    body: bytes = b"",
    headers: Iterable[tuple[str, str]] = (),
    *,
    length: int | None = None,
    reason: str = "OK",
) -> bytes:
    """The bytes of an HTTP/1.1 response; `length` overrides the Content-Length sent."""
    lines = [f"HTTP/1.1 {status} {reason}"]
    names = set()
    for name, value in headers:
        lines.append(f"{name}: {value}")
        names.add(name.lower())
    if "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body) if length is None else length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def html(title: str, *, extra: bytes = b"", status: int = 200, **kwargs: object) -> Route:
    """A route answering an HTML page titled `title`, followed by `extra` in the same write."""
    body = f"<title>{title}</title>".encode()
    data = response(status, body, [("Content-Type", "text/html")], **kwargs) + extra  # type: ignore[arg-type]
    return raw(data)


def raw(data: bytes, *, close: bool = False) -> Route:
    """A route that sends exactly `data` (then closes if `close`)."""

    async def route(peer: Peer, request: Request) -> None:
        peer.send(data)
        await peer.drain()
        if close:
            peer.close()

    return route


def chunked(*chunks: bytes) -> bytes:
    """A chunked body made of `chunks`, with its last-chunk."""
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks if c) + b"0\r\n\r\n"


@dataclass
class _Log:
    requests: list[Request] = field(default_factory=list)
    connections: int = 0


class RawServer:
    """Routes by path; runs in an event loop on its own thread until `stop()`."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.log = _Log()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._tls = tls
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(5)
        self.scheme = "https" if tls else "http"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._tls, limit=_MAX_HEAD)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        async def close() -> None:
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def route(self, path: str, route: Route) -> str:
        """Serve `path` with `route`; return its URL."""
        self.routes[path] = route
        return self.url(path)

    def requests_for(self, prefix: str) -> list[Request]:
        """The requests received so far whose path starts with `prefix`, in arrival order."""
        with self._lock:
            return [r for r in self.log.requests if r.path.startswith(prefix)]

    def connections_for(self, prefix: str) -> set[int]:
        """The connections that carried a request for a path starting with `prefix`."""
        return {r.connection for r in self.requests_for(prefix)}

    def wait_for(self, predicate: Callable[[RawServer], bool], timeout: float = 10.0) -> None:
        """Block until `predicate(self)` holds (checked whenever a request arrives)."""
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self), timeout):
                raise AssertionError("the server never reached the expected state")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            number = self.log.connections
            self.log.connections += 1
        peer = Peer(reader, writer, number)
        try:
            index = 0
            while not peer.closed:
                request = await _read_head(reader, number, index)
                if request is None:
                    break
                with self._changed:
                    self.log.requests.append(request)
                    self._changed.notify_all()
                route = self.routes.get(request.path) or raw(response(404), close=True)
                await route(peer, request)
                index += 1
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:  # the server is stopping: end quietly
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()


async def _read_head(reader: asyncio.StreamReader, connection: int, index: int) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head[:-4].split(b"\r\n")
    method, target, _ = lines[0].decode("latin-1").split(" ", 2)
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.strip(), value.strip()))
    return Request(head, method, target, headers, connection, index)
