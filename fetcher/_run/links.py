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
        #: Fewer at the node than this, and what waits is sent at once (up to a batch and
        #: the room); this many or more, and nothing: the node is busy for a while, and
        #: what waits meanwhile leaves later in one frame of more than half a batch. Half
        #: a batch above twice the threads, because what the node counts as out includes
        #: records waiting up to a flush to come back, and the node must not run dry
        #: while they do.
        self.refill_at = 2 * threads + BATCH // 2
        self.wake = threading.Condition(lock)
        self.sending = threading.Lock()  # one frame at a time on the socket
        self.status: dict[str, Any] = {"retries": 0, "capped": False, "held": False}

    # The sender (`ClusterRun._send`) sends only while the node holds fewer than
    # `refill_at` URLs. Each wake costs a hand-off of the GIL, so the two below wake it
    # only when what changed lets it send: a first URL waiting for a node under the
    # mark, or the node falling under the mark while URLs wait.

    def sendable(self) -> int:
        """How many URLs the sender may send now (the lock is held)."""
        if self.at_node >= self.refill_at:
            return 0
        return min(BATCH, len(self.pending), self.room - self.at_node)

    def queue(self, index: int, url: str) -> None:
        """`url` is to be sent (the lock is held)."""
        self.outstanding[index] = url
        self.pending.append(index)
        if len(self.pending) == 1 and self.at_node < self.refill_at:
            self.wake.notify()

    def answered(self, count: int) -> None:
        """`count` URLs sent came back (the lock is held)."""
        before = self.at_node
        self.at_node = after = before - count
        if self.pending and before >= self.refill_at > after:
            self.wake.notify()


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
