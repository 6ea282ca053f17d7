"""A fetch node: one per Dask worker process, fetching the URLs its client sends.

The client starts a node on every worker with `Client.run(start_node, ...)`, then talks
to it directly over a TCP connection of its own (`wire`): URLs arrive in batches and
records leave in batches, so no message per URL passes through the Dask scheduler.
A node fetches with as many threads as its Dask worker has (`nthreads`) and one
`PageFetcher`, built before the first URL (warm imports and HTTP clients). It serves one
client: when that connection ends, whatever it still runs is abandoned and the node is
gone; the worker process stays, warm, for the next run.

Crash isolation: a node runs threads only. A Dask worker process is a daemon by default
(`dask worker` as shipped), and a daemon cannot start processes; the nanny restarts a
worker that dies, and the client moves the dead node's URLs to the others.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import json
import socket
import threading
import time
from collections import deque
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from typing import Any

from .._core.limits import allow_many_connections
from .._core.options import FetchOptions
from .._core.result import Attempt, FetchResult
from .._core.signals import block_signals, signals_blocked
from .wire import encode_attempts, read_frame, send_frame

__all__ = ["BATCH", "FLUSH_SECONDS", "start_node"]

#: Records sent at most in one frame, and the longest a finished record waits for others.
BATCH = 256
FLUSH_SECONDS = 0.01
_ACCEPT_SECONDS = 30.0  # the client connects right after starting the node


def start_node(
    options: FetchOptions, secret: bytes, version: str, dask_worker: Any = None
) -> dict[str, Any]:
    """On a Dask worker (run by `Client.run`): start a node; where to reach it.

    Returns the node's host and port, its threads, and this worker's fetcher version
    (a node of another version is not used: the client stops with an error).
    """
    from .._version import __version__

    if version != __version__:
        return {"version": __version__}
    host = "127.0.0.1"
    threads = 1
    if dask_worker is not None:
        host = str(dask_worker.address).rpartition("://")[2].rpartition(":")[0] or host
        threads = int(getattr(dask_worker.state, "nthreads", 0) or dask_worker.nthreads)
    allow_many_connections()  # a node may hold a connection per host it has met
    host = host.strip("[]")
    node = Node(options, secret, host, threads)
    return {"version": __version__, "host": host, "port": node.port, "threads": threads}


class Node:
    """Serves one client: its batches of URLs in, its batches of attempts out."""

    def __init__(self, options: FetchOptions, secret: bytes, host: str, threads: int) -> None:
        from .._http.client import PageFetcher

        self._secret = secret
        self._fetcher = PageFetcher(options)
        self._executor = ThreadPoolExecutor(
            threads, thread_name_prefix="fetcher-node", initializer=block_signals
        )
        self._outbox: deque[tuple[int, Attempt]] = deque()
        self._condition = threading.Condition()
        self._stopped = False
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.create_server((host, 0), family=family)
        self._listener.settimeout(_ACCEPT_SECONDS)
        self.port: int = self._listener.getsockname()[1]
        with signals_blocked():
            threading.Thread(target=self._serve, name="fetcher-node", daemon=True).start()

    def _serve(self) -> None:
        try:
            with self._listener:
                conn, _ = self._listener.accept()
        except OSError:
            self._stop()
            return
        with conn:
            conn.settimeout(None)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                if hmac.compare_digest(read_frame(conn) or b"", self._secret):
                    writer = threading.Thread(target=self._write, args=(conn,), daemon=True)
                    writer.start()
                    self._read(conn)
            except (OSError, ValueError):
                pass  # the client went away (or was never ours): the node ends
            finally:
                self._stop()

    def _read(self, conn: socket.socket) -> None:
        while (frame := read_frame(conn)) is not None:
            now = time.monotonic()
            for seq, url, budget in json.loads(frame):
                deadline = None if budget is None else now + float(budget)
                future = self._executor.submit(self._fetcher.attempt, str(url), deadline)
                future.add_done_callback(functools.partial(self._finished, int(seq), str(url)))

    def _finished(self, seq: int, url: str, future: Future[Attempt]) -> None:
        try:
            attempt = future.result()
        except CancelledError:
            return
        except Exception as exc:  # a bug in one attempt costs its record, not the node
            error = f"worker failed: {type(exc).__name__}"
            result = FetchResult(url, None, None, None, 0, 0.0, error, error_kind="executor")
            attempt = Attempt(result)
        with self._condition:
            self._outbox.append((seq, attempt))
            if len(self._outbox) == 1 or len(self._outbox) >= BATCH:
                self._condition.notify()

    def _write(self, conn: socket.socket) -> None:
        """Send finished attempts in batches, at most one frame per `FLUSH_SECONDS`
        unless full: a record finishing on a quiet link (a race's winner, a slow run's
        every record) leaves at once; in a busy run one waits at most `FLUSH_SECONDS`."""
        sent_at = -FLUSH_SECONDS
        while True:
            with self._condition:
                while not self._outbox and not self._stopped:
                    self._condition.wait()
                if self._stopped:
                    return
                flush_at = sent_at + FLUSH_SECONDS
                while len(self._outbox) < BATCH and not self._stopped:
                    left = flush_at - time.monotonic()
                    if left <= 0:
                        break
                    self._condition.wait(left)
                count = min(BATCH, len(self._outbox))
                batch = [self._outbox.popleft() for _ in range(count)]
                sent_at = time.monotonic()
            try:
                send_frame(conn, encode_attempts(batch))
            except OSError:
                return

    def _stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify_all()
        self._executor.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(Exception):
            self._fetcher.abort()
