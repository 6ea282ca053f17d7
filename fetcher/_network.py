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
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any

import httpcore

__all__ = ["Deadline", "DeadlineBackend", "LiveSockets"]

_RESOLVER_POLL = 0.05  # seconds between checks for an abort while a name resolves


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
    """The sockets in use by one fetcher's workers, so an abort can wake them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self.aborted = threading.Event()

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)
        if self.aborted.is_set():
            _shutdown(sock)

    def discard(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.discard(sock)

    def abort(self) -> None:
        """Fail every request in flight now and every request started later."""
        self.aborted.set()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)

    def check(self) -> None:
        if self.aborted.is_set():
            raise httpcore.ReadError("aborted")


def _shutdown(sock: socket.socket) -> None:
    # The base class's shutdown: an SSLSocket's own would also unhook its TLS state,
    # which another thread may be using at this moment.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class DeadlineStream(httpcore.NetworkStream):
    """A stream whose every read and write ends by the worker's deadline."""

    def __init__(
        self, inner: httpcore.NetworkStream, deadline: Deadline, live: LiveSockets
    ) -> None:
        self._inner = inner
        self._deadline = deadline
        self._live = live
        self._sock: socket.socket | None = inner.get_extra_info("socket")
        if self._sock is not None:
            live.add(self._sock)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._live.check()
        return self._inner.read(max_bytes, self._deadline.left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._live.check()
        self._inner.write(buffer, self._deadline.left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._live.discard(self._sock)
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        wait = self._deadline.left(timeout, httpcore.ConnectTimeout)
        self._live.discard(self._sock)
        tls = self._inner.start_tls(ssl_context, server_hostname, wait)
        return DeadlineStream(tls, self._deadline, self._live)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's synchronous backend with every step bounded by one worker's deadline.

    Name resolution (`getaddrinfo`) has no timeout of its own, so it runs in a daemon
    thread that the worker stops waiting for at the deadline or on abort.
    """

    def __init__(self, deadline: Deadline, live: LiveSockets) -> None:
        self._inner = httpcore.SyncBackend()
        self._deadline = deadline
        self._live = live

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        self._live.check()
        addresses = [host] if _is_ip(host) else self._resolve(host, port)
        error: Exception | None = None
        for address in addresses:
            wait = self._deadline.left(timeout, httpcore.ConnectTimeout)
            try:
                stream = self._inner.connect_tcp(address, port, wait, local_address, socket_options)
            except httpcore.ConnectTimeout:
                raise
            except httpcore.ConnectError as exc:
                error = exc
                continue
            return DeadlineStream(stream, self._deadline, self._live)
        raise error or httpcore.ConnectError(f"no address for {host}")

    def _resolve(self, host: str, port: int) -> list[str]:
        outcome: list[Any] = []
        done = threading.Event()

        def resolve() -> None:
            try:
                outcome.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
            except OSError as exc:
                outcome.append(exc)
            finally:
                done.set()

        threading.Thread(target=resolve, name="fetcher-resolve", daemon=True).start()
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
