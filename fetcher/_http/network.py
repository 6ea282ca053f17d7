"""The network layer under httpx: one deadline for a whole attempt, and a way to abort.

httpx's timeouts apply to each socket operation, so a server that sends one byte every
half second (in its headers or its body) never trips them. Every socket operation here
waits at most until the attempt's deadline, so the attempt as a whole is bounded: name
resolution, connect, TLS, headers and body together. The same layer keeps the live
sockets, so that a run being abandoned can shut them down and wake the blocked workers.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore

from .pool import LazyTLS
from .resolver import RESOLVERS

__all__ = ["Deadline", "DeadlineBackend", "LiveSockets", "Readiness", "SocketStream"]

_RESOLVER_POLL = 0.05  # seconds between checks for an abort while a name resolves
#: How long one look at a worker's sockets answers "is this idle connection readable?"
#: (httpcore asks for every idle connection, twice a request, one after the other).
_READINESS_SECONDS = 0.001
#: What a non-blocking socket raises when an operation would block (TLS may need to
#: read to write, or write to read).
_WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


class Deadline:
    """The moment the current attempt of one worker must end (monotonic clock)."""

    __slots__ = ("at",)

    def __init__(self) -> None:
        self.at = math.inf

    def start(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def clear(self) -> None:
        self.at = math.inf

    def left(self, timeout: float | None, error: type[Exception]) -> float | None:
        """The time an operation may wait: its own timeout, cut to what is left."""
        if self.at == math.inf:
            return timeout
        remaining = self.at - time.monotonic()
        if remaining <= 0:
            raise error("deadline exceeded")
        return remaining if timeout is None else min(timeout, remaining)


class LiveSockets:
    """The sockets in use by one fetcher's workers, so an abort can wake them all.

    No lock: adding to and removing from a set, and copying it, are each one atomic step
    under the GIL, and a lock taken three times per connection by every worker thread was
    contended at 64 threads and more. A socket added while an abort runs is shut down by
    whichever comes second: the abort's copy of the set or the adder's check of the flag.
    """

    def __init__(self) -> None:
        self._sockets: set[socket.socket] = set()
        self.aborted = threading.Event()

    def add(self, sock: socket.socket) -> None:
        self._sockets.add(sock)
        if self.aborted.is_set():
            _shutdown(sock)

    def replace(self, old: socket.socket, new: socket.socket) -> None:
        self._sockets.discard(old)
        self.add(new)

    def discard(self, sock: socket.socket | None) -> None:
        if sock is not None:
            self._sockets.discard(sock)

    def abort(self) -> None:
        """Fail every request in flight now and every request started later."""
        self.aborted.set()
        for sock in self._sockets.copy():
            _shutdown(sock)

    def check(self) -> None:
        if self.aborted.is_set():
            raise httpcore.ReadError("aborted")


def _shutdown(sock: socket.socket) -> None:
    # The base class's shutdown: an SSLSocket's own would also unhook its TLS state,
    # which another thread may be using at this moment.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class Readiness:
    """Which of one worker's open sockets are readable: one `poll` for all of them.

    httpcore asks whether each idle connection is readable (closed by its server, or
    holding stray bytes: either way not to be reused) at every request and every
    response's end. A `poll` per connection was a system call each, and each one lets
    another thread take the GIL: at 16 busy threads, two of every three of a worker's
    system calls. One look serves every question asked within `_READINESS_SECONDS`.
    """

    __slots__ = ("_open", "_readable", "_until")

    def __init__(self) -> None:
        self._open: set[socket.socket] = set()
        self._readable: set[int] = set()
        self._until = -math.inf

    def add(self, sock: socket.socket) -> None:
        self._open.add(sock)
        self._until = -math.inf

    def discard(self, sock: socket.socket) -> None:
        self._open.discard(sock)

    def readable(self, sock: socket.socket) -> bool:
        now = time.monotonic()
        if now > self._until:
            poller = select.poll()
            for each in tuple(self._open):  # closed by another thread at shutdown
                poller.register(each, select.POLLIN)
            self._readable = {fd for fd, _ in poller.poll(0)}
            self._until = now + _READINESS_SECONDS
        return sock.fileno() in self._readable


class SocketStream(httpcore.NetworkStream):
    """A TCP or TLS socket whose every operation ends by its worker's deadline.

    The socket stays registered with `LiveSockets` from before it connects until it is
    closed (the TLS handshake included), so an abort can wake any step.

    After the connection (and its handshake) it is non-blocking: a read or write is tried
    at once, and only when it would block does the worker wait (`poll`, until the
    deadline). A socket with a timeout costs three system calls an operation (setting
    the timeout, a poll, the call), each letting another thread take the GIL; this is one
    when the bytes are there, as they mostly are.
    """

    def __init__(
        self, sock: socket.socket, deadline: Deadline, live: LiveSockets, tls: LazyTLS | None,
        readiness: Readiness,
    ) -> None:  # fmt: skip
        self._sock = sock
        self._deadline = deadline
        self._live = live
        self._tls = tls  # the context to use, whatever httpcore passes to start_tls
        self._readiness = readiness
        readiness.add(sock)
        sock.settimeout(0.0)  # connected (and shaken hands): non-blocking from here on

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        # The hot path: plain try/except rather than a context manager.
        self._live.check()
        sock = self._sock
        try:
            while True:
                try:
                    return sock.recv(max_bytes)
                except _WOULD_BLOCK as blocked:
                    left = self._deadline.left(timeout, httpcore.ReadTimeout)
                    _wait(sock, blocked, select.POLLIN, left)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(exc) from exc
        except OSError as exc:
            raise httpcore.ReadError(exc) from exc

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:  # httpcore ends every request with an empty body write
            return
        self._live.check()
        sock = self._sock
        try:
            while buffer:
                try:
                    buffer = buffer[sock.send(buffer) :]
                except _WOULD_BLOCK as blocked:
                    left = self._deadline.left(timeout, httpcore.WriteTimeout)
                    _wait(sock, blocked, select.POLLOUT, left)
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(exc) from exc
        except OSError as exc:
            raise httpcore.WriteError(exc) from exc

    def close(self) -> None:
        self._live.discard(self._sock)
        self._readiness.discard(self._sock)
        self._sock.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        if self._tls is not None:
            ssl_context = self._tls.context()
        with _mapped(httpcore.ConnectTimeout, httpcore.ConnectError):
            tls = ssl_context.wrap_socket(
                self._sock, server_hostname=server_hostname, do_handshake_on_connect=False
            )
            self._live.replace(self._sock, tls)  # the descriptor now belongs to `tls`
            self._readiness.discard(self._sock)
            try:
                tls.settimeout(self._deadline.left(timeout, httpcore.ConnectTimeout))
                tls.do_handshake()
            except BaseException:
                self._live.discard(tls)
                tls.close()
                raise
        return SocketStream(tls, self._deadline, self._live, self._tls, self._readiness)

    def buffered(self) -> bool:
        """True if TLS holds decrypted bytes nothing has read yet."""
        return isinstance(self._sock, ssl.SSLSocket) and self._sock.pending() > 0

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":  # httpcore asks it for the negotiated ALPN protocol
            return self._sock if isinstance(self._sock, ssl.SSLSocket) else None
        if info == "client_addr":
            return self._sock.getsockname()
        if info == "server_addr":
            return self._sock.getpeername()
        if info == "socket":
            return self._sock
        if info == "is_readable":  # an idle keep-alive connection that is readable is dead
            return self.buffered() or self._readiness.readable(self._sock)
        return None


@contextlib.contextmanager
def _mapped(timeout_error: type[Exception], other_error: type[Exception]) -> Iterator[None]:
    """Raise socket failures as the httpcore exceptions httpx knows how to report."""
    try:
        yield
    except (httpcore.TimeoutException, httpcore.NetworkError):
        raise
    except TimeoutError as exc:
        raise timeout_error(exc) from exc
    except OSError as exc:
        raise other_error(exc) from exc


def _wait(sock: socket.socket, blocked: OSError, event: int, left: float | None) -> None:
    """Until `sock` is ready for what `blocked` waited for (TLS says which; otherwise
    `event`), or fails, at most `left` seconds."""
    if isinstance(blocked, ssl.SSLWantReadError):
        event = select.POLLIN
    elif isinstance(blocked, ssl.SSLWantWriteError):
        event = select.POLLOUT
    poller = select.poll()
    poller.register(sock, event)
    if not poller.poll(None if left is None else math.ceil(left * 1000)):
        raise TimeoutError("timed out")


class DeadlineBackend(httpcore.NetworkBackend):
    """Sockets for httpcore with every step bounded by one worker's deadline.

    Name resolution (`getaddrinfo`) has no timeout of its own, so it runs on a resolver
    thread (`resolver`) that the worker stops waiting for at the deadline or on abort.
    Each socket is registered before it connects, so an abort also wakes a connect that
    hangs.
    """

    def __init__(self, deadline: Deadline, live: LiveSockets, tls: LazyTLS | None = None) -> None:
        self._deadline = deadline
        self._live = live
        self._tls = tls  # TLS contexts come from here (None: as httpcore passes them)
        self.connects = 0  # connections opened: tells a fresh connection from a reused one
        self._readiness = Readiness()  # this worker's sockets (a backend is one worker's)

    @property
    def deadline(self) -> Deadline:
        """The deadline every socket operation of this backend obeys."""
        return self._deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        self._live.check()
        self.connects += 1
        addresses = [host] if _is_ip(host) else self._resolve(host, port)
        failure: OSError | None = None
        for address in addresses:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            self._live.add(sock)
            try:
                for option in socket_options or ():
                    sock.setsockopt(*option)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if local_address:
                    sock.bind((local_address, 0))
                sock.settimeout(self._deadline.left(timeout, httpcore.ConnectTimeout))
                sock.connect((address, port))
                self._live.check()
            except BaseException as exc:
                self._live.discard(sock)
                sock.close()
                if isinstance(exc, TimeoutError):
                    raise httpcore.ConnectTimeout(exc) from exc
                if isinstance(exc, OSError):
                    failure = exc
                    continue
                raise
            return SocketStream(sock, self._deadline, self._live, self._tls, self._readiness)
        try:
            raise failure or OSError(f"no address for {host}")
        except OSError as exc:  # raised here so the cause survives httpcore's re-raise
            raise httpcore.ConnectError(exc) from exc

    def _resolve(self, host: str, port: int) -> list[str]:
        outcome: list[Any] = []
        done = threading.Event()

        def resolve() -> None:
            try:
                outcome.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
            except UnicodeError:  # an empty label, or one longer than 63 characters
                outcome.append(socket.gaierror(socket.EAI_NONAME, "invalid host name"))
            except OSError as exc:
                outcome.append(exc)
            except Exception as exc:
                outcome.append(OSError(str(exc)))
            finally:
                done.set()

        RESOLVERS.submit(resolve)
        while not done.is_set():
            self._live.check()
            wait = self._deadline.left(None, httpcore.ConnectTimeout)
            done.wait(_RESOLVER_POLL if wait is None else min(_RESOLVER_POLL, wait))
        if isinstance(outcome[0], OSError):
            try:
                raise outcome[0]
            except OSError as exc:  # raised here so the cause survives httpcore's re-raise
                raise httpcore.ConnectError(str(exc)) from exc
        addresses: list[str] = []
        for *_, sockaddr in outcome[0]:
            if sockaddr[0] not in addresses:
                addresses.append(sockaddr[0])
        return addresses

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not supported")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
