"""`fetcher serve`: a local site for reproducible benchmarks and tests.

An asyncio server on 127.0.0.1 built on `asyncio.Protocol`, with every response built
once at start-up: a request costs a parse of its first line, one `call_later` for the
simulated latency and one `write`. Thousands of keep-alive connections are just
transports in one event loop, so the server stays cheap next to the client it measures.
It reports its own CPU time at `/_fetcher/stats`, so a benchmark can show it apart, and
the most requests it held at once, so that a test of a per-host cap can see it.

With `Hosts` it listens on many loopback addresses (127.0.1.1, 127.0.1.2, ...; all of
127.0.0.0/8 is the loopback interface on Linux) on one port, with TLS if asked
(certificates from a throwaway CA, `certs`), some hosts failing (`hosts`), and the URL
list spreads the pages over them: many origins, as a real scan or a cluster sees them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import math
import mimetypes
import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from .certs import Authority, make_authority
from .hosts import MAX_HOSTS, Hosts, host_addresses

__all__ = [
    "MAX_HOSTS",
    "STATS_PATH",
    "Hosts",
    "Site",
    "SiteOptions",
    "build_site",
    "describe",
    "host_addresses",
    "serve",
    "write_atomically",
    "write_urls_file",
]

#: Answers `{"cpu": seconds, "requests": n, "max_active": n, "open": n}`: the server's
#: own cost, the most requests it held at once (answered or not yet), and the connections
#: open now (idle keep-alive ones included), for benchmarks and tests.
STATS_PATH = "/_fetcher/stats"

_MAX_REQUEST_HEAD = 16 * 1024  # bytes of request line and headers before answering 431
_WORDS = (  # noqa: SIM905 - a word list reads best as text
    "the of and to in is for on that with as by this are from at be it an or was not page "
    "fetch title latency thread process pool worker future result bench server client "
    "request response header body byte socket network window"
).split()


@dataclass(frozen=True, slots=True)
class SiteOptions:
    """What `fetcher serve` serves: generated pages, or the files of a folder."""

    pages: int = 1000
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    size_kb: float = 20.0
    error_rate: float = 0.0
    seed: int = 0
    gzip: bool = False
    folder: str | None = None

    def __post_init__(self) -> None:
        numbers = (self.latency_ms, self.jitter_ms, self.size_kb, self.error_rate)
        if not all(math.isfinite(number) for number in numbers):
            raise ValueError("latency, jitter, size and error rate must be finite numbers")
        if not 1 <= self.pages <= 10_000_000:
            raise ValueError(f"pages must be from 1 to 10000000, not {self.pages}")
        if self.latency_ms < 0 or self.jitter_ms < 0 or self.jitter_ms > self.latency_ms:
            raise ValueError("latency and jitter must be 0 or more, with jitter <= latency")
        if not 0 <= self.size_kb <= 100_000:
            raise ValueError(f"size must be from 0 to 100000 KiB, not {self.size_kb}")
        if not 0 <= self.error_rate <= 1:
            raise ValueError(f"error rate must be from 0 to 1, not {self.error_rate}")


class Site:
    """Every response the server can give, as ready-to-send bytes, keyed by path."""

    def __init__(self, responses: dict[str, tuple[bytes, float]], options: SiteOptions) -> None:
        self.responses = responses  # path -> (response bytes, delay in seconds)
        self.options = options
        self.paths = [path for path in responses if path != STATS_PATH]
        self.not_found = _response(404, b"<title>Not found</title>", "text/html")

    def urls(self, base: str, hosts: int = 1) -> list[str]:
        """The pages' URLs; with `hosts`, page i on host i mod `hosts` (`base`'s scheme
        and port)."""
        if hosts <= 1:
            return [base.rstrip("/") + path for path in self.paths]
        scheme, _, rest = base.rstrip("/").partition("://")
        port = rest.rpartition(":")[2]
        bases = [f"{scheme}://{address}:{port}" for address in host_addresses(hosts)]
        return [bases[i % hosts] + path for i, path in enumerate(self.paths)]


def build_site(options: SiteOptions) -> Site:
    """Build every response up front, deterministically from the seed."""
    if options.folder is not None:
        return Site(_folder_responses(Path(options.folder), options), options)
    rng = random.Random(options.seed)
    failing = set(rng.sample(range(options.pages), round(options.pages * options.error_rate)))
    filler = _filler(rng, int(options.size_kb * 1024))
    responses: dict[str, tuple[bytes, float]] = {}
    for index in range(options.pages):
        delay = _delay(rng, options)
        if index in failing:
            body, status = b"<title>Server error</title>", 500
        else:
            body, status = _page(index, filler), 200
        responses[f"/page/{index}"] = (_encoded(status, body, "text/html", options.gzip), delay)
    return Site(responses, options)


def _delay(rng: random.Random, options: SiteOptions) -> float:
    jitter = rng.uniform(-options.jitter_ms, options.jitter_ms) if options.jitter_ms else 0.0
    return (options.latency_ms + jitter) / 1000


def _filler(rng: random.Random, size: int) -> bytes:
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(_WORDS)
        words.append(word)
        length += len(word) + 1
    text = " ".join(words)
    lines = [text[i : i + 76] for i in range(0, len(text), 76)]
    return ("<p>" + "</p>\n<p>".join(lines) + "</p>\n").encode()[:size]


def _page(index: int, filler: bytes) -> bytes:
    head = (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>Page {index} &middot; fetcher test site</title></head>\n<body>\n"
    ).encode()
    return head + filler + b"</body></html>\n"


def _folder_responses(folder: Path, options: SiteOptions) -> dict[str, tuple[bytes, float]]:
    if not folder.is_dir():
        raise ValueError(f"{str(folder)!r} is not a folder")
    rng = random.Random(options.seed)
    responses: dict[str, tuple[bytes, float]] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        body = path.read_bytes()
        responses["/" + path.name] = (
            _encoded(200, body, content_type, options.gzip),
            _delay(rng, options),
        )
    if not responses:
        raise ValueError(f"{str(folder)!r} has no files to serve")
    return responses


def _encoded(status: int, body: bytes, content_type: str, compress: bool) -> bytes:
    if compress:
        return _response(status, gzip.compress(body, 6), content_type, {"Content-Encoding": "gzip"})
    return _response(status, body, content_type)


def _response(
    status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
) -> bytes:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 431: "Too Large"}.get(
        status, "Internal Server Error"
    )
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Connection(asyncio.Protocol):
    """One client connection: answers requests in order, each after its page's delay."""

    def __init__(
        self, site: Site, counter: list[int], open_: set[_Connection], slow: float = 0.0
    ) -> None:
        # counter: [requests answered or held, requests held now, most held at once]
        self._site = site
        self._slow = slow  # seconds every answer waits at least (a slow host)
        self._counter = counter
        self._open = open_
        self._buffer = b""
        self._transport: asyncio.Transport | None = None
        self._busy = False  # a response is scheduled: later requests wait their turn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._open.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._open.discard(self)

    def abort(self) -> None:
        """Drop the connection at once, whatever is left to send (the server stops)."""
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._buffer[:1] not in (b"", b"\r", b"\n") and not self._buffer[:1].isalpha():
            # no HTTP request (a TLS handshake): answer as web servers do, so that a client
            # trying https on this plain-HTTP port learns it at once
            self._send(_response(400, b"", "text/plain"), close=True)
            return
        if len(self._buffer) > _MAX_REQUEST_HEAD and b"\r\n\r\n" not in self._buffer:
            self._send(_response(431, b"", "text/plain"), close=True)
            return
        self._next()

    def _next(self) -> None:
        if self._busy or self._transport is None:
            return
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head, self._buffer = self._buffer[:end], self._buffer[end + 4 :]
        request_line, _, header_block = head.partition(b"\r\n")
        parts = request_line.split()
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            self._send(_response(400, b"", "text/plain"), close=True)
            return
        close = b"connection: close" in header_block.lower() or parts[2] == b"HTTP/1.0"
        path = parts[1].split(b"?", 1)[0].decode("latin-1")
        counter = self._counter
        counter[0] += 1
        if path == STATS_PATH:
            stats = {
                "cpu": time.process_time(),
                "requests": counter[0],
                "max_active": counter[2],
                "open": len(self._open),  # connections open now, this one included
            }
            self._send(_response(200, json.dumps(stats).encode(), "application/json"), close)
            return
        response, delay = self._site.responses.get(path, (self._site.not_found, 0.0))
        delay = max(delay, self._slow)
        if delay <= 0:
            counter[2] = max(counter[2], counter[1] + 1)
            self._send(response, close)
            return
        self._busy = True
        counter[1] += 1
        counter[2] = max(counter[2], counter[1])
        asyncio.get_running_loop().call_later(delay, self._send_later, response, close)

    def _send_later(self, response: bytes, close: bool) -> None:
        self._busy = False
        self._counter[1] -= 1
        self._send(response, close)

    def _send(self, response: bytes, close: bool) -> None:
        if self._transport is None:
            return
        self._transport.write(response)
        if close:
            self._transport.close()
            self._transport = None
        else:
            self._next()


class _Silent(asyncio.Protocol):
    """A host that hangs: takes the connection, reads what comes, never says a byte."""

    def __init__(self, open_: set[asyncio.Transport]) -> None:
        self._open = open_
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._open.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._open.discard(self._transport)


async def serve(
    site: Site,
    port: int,
    ready: Callable[[str], None],
    stop: asyncio.Event | None = None,
    hosts: int | Hosts = 1,
    authority: Authority | None = None,
) -> None:
    """Serve `site` on 127.0.0.1:`port` (0 picks a free port) until `stop` is set; with
    `hosts`, on that many loopback addresses (`host_addresses`), all on one port, with
    TLS and failing hosts as `Hosts` says (`authority`: the CA to use; a new one if None).

    `ready` receives the base URL of the first address once every socket listens.
    """
    hosts = hosts if isinstance(hosts, Hosts) else Hosts(count=hosts)
    addresses = hosts.addresses()
    if hosts.tls and authority is None:
        authority = make_authority(addresses)
    counter = [0, 0, 0]
    connections: set[_Connection] = set()
    silent: set[asyncio.Transport] = set()
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    servers: list[asyncio.Server] = []
    slow = hosts.slow_ms / 1000
    try:
        for address, kind in zip(addresses, hosts.kinds(), strict=True):
            if kind == "refuse":
                continue  # nothing listens: connections are refused
            factory: Callable[[], asyncio.Protocol] = (
                partial(_Silent, silent)
                if kind == "hang"
                else partial(_Connection, site, counter, connections, slow * (kind == "slow"))
            )
            tls = authority.context_for(address) if authority and kind != "hang" else None
            server = await loop.create_server(
                factory,
                address,
                port,
                backlog=4096 if hosts.count == 1 else 256,
                reuse_address=True,
                ssl=tls,
            )
            servers.append(server)
            port = server.sockets[0].getsockname()[1]  # the others share the first's
        ready(f"{hosts.scheme}://{addresses[0]}:{port}/")
        await stop.wait()
    finally:
        for server in servers:
            server.close()
        # Keep-alive clients are ended too, at once: a transport closed in order waits
        # to send what it holds (or for TLS's goodbye) and, left so when the loop ends,
        # is reported unclosed when collected. A connection accepted just before the
        # servers closed is made in a later turn of the loop: three rounds end it too.
        for _ in range(3):
            for connection in list(connections):
                connection.abort()
            for transport in list(silent):
                transport.abort()
            await asyncio.sleep(0)  # the transports' ends run in the next turn


def describe(site: Site) -> str:
    """One line saying what is served, for people."""
    options = site.options
    what = (
        f"{len(site.paths)} files of {options.folder}"
        if options.folder
        else (f"{options.pages} pages of about {options.size_kb:g} KiB")
    )
    extras = [f"latency {options.latency_ms:g}±{options.jitter_ms:g} ms"]
    if options.error_rate:
        extras.append(f"{options.error_rate:.0%} answer 500")
    if options.gzip:
        extras.append("gzip")
    return f"{what}, {', '.join(extras)}"


def write_urls_file(site: Site, base: str, path: str, hosts: int = 1) -> None:
    """Write the site's URL list, one a line, atomically (spread over `hosts`)."""
    write_atomically(path, "".join(url + "\n" for url in site.urls(base, hosts)).encode())


def write_atomically(path: str, content: bytes) -> None:
    """Write `content` to `path` through a temporary file renamed over it, so that a
    reader (a client waiting for the URL list or the CA file) never sees half of it."""
    temporary = f"{path}.tmp{os.getpid()}"
    try:
        with open(temporary, "wb") as stream:
            stream.write(content)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
