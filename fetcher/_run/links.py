"""The client's side of one fetch node: its connection, and the URLs out at it."""

from __future__ import annotations

import socket
import threading
from collections import deque
from typing import Any

from .._core.errors import ExecutorError
from .._executors.wire import keep_alive, send_frame
from .node import BATCH

__all__ = ["Link", "connect"]

_CONNECT_SECONDS = 10.0


class Link:
    """The connection to one node, and the URLs outstanding on it (its lock: the run's)."""

    def __init__(self, name: str, sock: socket.socket, threads: int, lock: threading.Lock) -> None:
        self.name = name
        self.sock = sock
        self.alive = True
        self.ended = False  # the node has sent its last records after a finish
        self.pending: deque[int] = deque()  # indexes to send
        self.outstanding: dict[int, str] = {}  # index -> URL, sent or to send
        self.at_node = 0  # sent and not yet answered
        self.threads = threads
        self.room = 2 * threads + BATCH  # at most this many at the node at once
        self.wake = threading.Condition(lock)
        self.sending = threading.Lock()  # one frame at a time on the socket
        self.status: dict[str, Any] = {"retries": 0, "capped": False, "held": False}


def connect(worker: str, host: str, port: int, secret: bytes) -> socket.socket:
    """A connection to the fetch node of the Dask worker at `worker`, the secret sent;
    `ExecutorError` naming the worker if it cannot be reached."""
    try:
        sock = socket.create_connection((host, port), _CONNECT_SECONDS)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        keep_alive(sock)
        send_frame(sock, secret)
    except OSError as exc:
        raise ExecutorError(
            f"cannot reach the fetch node of the Dask worker at {worker} "
            f"({host}:{port}): {exc.strerror or exc}"
        ) from None
    return sock
