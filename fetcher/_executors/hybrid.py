"""The hybrid pool: one worker process per core, each running a pool of threads.

A thread pool shares one GIL: at high concurrency the client's own CPU per request
(HTTP parsing, decompression, titles) caps it at one core. A process pool runs one
request per process, so 64 concurrent requests cost 64 interpreters. The hybrid pool
spreads `workers` concurrent requests over about one process per core, each running
`workers / processes` threads with a client per thread: every core works, at the
memory cost of a few interpreters.

Each URL still gets its own `concurrent.futures.Future`, completed by a reader thread as
the worker processes send results back, so the runner treats it like any other pool.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import threading
from collections import deque
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from multiprocessing.connection import Connection, wait
from typing import Any

from .._core.errors import ExecutorError
from .._core.options import FetchOptions
from .._core.result import Attempt
from .._core.signals import block_signals, signals_blocked
from .._http.client import PageFetcher
from .base import REAP_SECONDS, Pool
from .processes import (
    crash_if_marked,
    crash_marker,
    end_processes,
    main_guard_error,
    process_context,
    split,
    start_worker_process,
)

__all__ = ["HybridPool"]

_QUEUED_PER_PROCESS = 1  # URLs sent to a worker process beyond its threads


class WorkerProcessDied(BrokenProcessPool):
    """A hybrid worker process ended while URLs were in flight in it."""


class HybridPool:
    """Worker processes with threads inside, behind the runner's pool interface.

    A worker process that dies fails only the URLs it was running, and is replaced at
    once (`rebuilds` counts replacements); the other processes carry on meanwhile.
    """

    def __init__(self, options: FetchOptions) -> None:
        threads_per_process = split(options.workers)
        self._options = options
        self._marker = crash_marker()
        self._context = process_context()
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._futures: dict[int, tuple[Future[Attempt], int]] = {}  # sent to a process
        # (url, deadline, future) waiting for a thread
        self._queue: deque[tuple[str, float | None, Future[Attempt]]] = deque()
        # URLs in flight per process, relative to its threads; inf while a process is down.
        self._load: list[float] = [0] * len(threads_per_process)
        self._threads = threads_per_process
        self._connections: list[Connection] = []
        self._processes: list[Any] = []
        self._stopping = False
        self.rebuilds = 0
        with signals_blocked():
            for threads in threads_per_process:
                connection, process = self._start_process(threads)
                self._connections.append(connection)
                self._processes.append(process)
            self._reader = threading.Thread(target=self._read, name="fetcher-hybrid", daemon=True)
            self._reader.start()

    def _start_process(self, threads: int) -> tuple[Connection, Any]:
        parent_end, child_end = self._context.Pipe()
        process = self._context.Process(  # type: ignore[attr-defined]
            target=_worker_main, args=(child_end, self._options, threads, self._marker), daemon=True
        )
        process.start()
        child_end.close()
        return parent_end, process

    def submit(self, url: str, deadline: float | None = None) -> Future[Attempt]:
        future: Future[Attempt] = Future()
        with self._lock:
            if self._stopping:
                raise RuntimeError("cannot submit to a pool that is shutting down")
            self._queue.append((url, deadline, future))
            self._dispatch()
        return future

    def _dispatch(self) -> None:
        """Send queued URLs to processes with an idle thread (the caller holds the lock).

        A process gets at most one URL beyond its threads (so a thread that finishes
        starts the next URL without a round trip through the parent, as the process
        pool's call queue does): every other URL still queued here has not started and
        can be cancelled, as with `concurrent.futures` pools.
        """
        while self._queue:
            index = min(range(len(self._load)), key=lambda i: self._load[i] / self._threads[i])
            if self._load[index] >= self._threads[index] + _QUEUED_PER_PROCESS:
                return  # every thread busy (or its process down): wait for a result
            url, deadline, future = self._queue.popleft()
            if future.cancelled():
                continue
            task = next(self._ids)
            try:  # under the lock: before any reply
                self._connections[index].send((task, url, deadline))
            except OSError:  # the process has died; the reader will replace it
                self._load[index] = math.inf
                self._queue.appendleft((url, deadline, future))
                continue
            future.set_running_or_notify_cancel()  # if cancelled just now, its result is dropped
            self._futures[task] = (future, index)
            self._load[index] += 1

    def _read(self) -> None:
        block_signals()  # already inherited; this makes it independent of how we started
        open_connections = list(self._connections)
        while open_connections:
            for ready in wait(open_connections):
                assert isinstance(ready, Connection)
                try:
                    task, result = ready.recv()
                except (EOFError, OSError):
                    open_connections.remove(ready)
                    replacement = self._replace_process(self._connections.index(ready))
                    if replacement is not None:
                        open_connections.append(replacement)
                    continue
                with self._lock:
                    future, index = self._futures.pop(task)
                    self._load[index] -= 1
                    if self._queue:
                        self._dispatch()
                with contextlib.suppress(InvalidStateError):  # cancelled as it was sent
                    future.set_result(result)

    def _replace_process(self, index: int) -> Connection | None:
        """Fail the URLs of a dead process and start another in its place (unless stopping)."""
        with self._lock:
            lost = [(task, f) for task, (f, i) in self._futures.items() if i == index]
            for task, _ in lost:
                del self._futures[task]
            self._connections[index].close()
            self._load[index] = math.inf  # send nothing more to it: the others carry on
        self._processes[index].join(REAP_SECONDS)
        replacement = None
        with self._lock:
            if not self._stopping and self.fatal() is None:  # replaced before the URLs fail
                replacement, process = self._start_process(self._threads[index])
                self._connections[index], self._processes[index] = replacement, process
                self._load[index] = 0
                self.rebuilds += 1
                self._dispatch()
        for _, future in lost:
            if not future.done():
                future.set_exception(WorkerProcessDied("worker process died"))
        return replacement

    def shutdown(self) -> None:
        with self._lock:
            self._stopping = True
            for connection in self._connections:
                if not connection.closed:
                    with contextlib.suppress(OSError):  # a process that died meanwhile
                        connection.send(None)
        for process in self._processes:
            process.join()
        self._reader.join(REAP_SECONDS)

    def abort(self) -> None:
        with self._lock:
            self._stopping = True
            queued, self._queue = self._queue, deque()
        for *_, future in queued:
            future.cancel()
        end_processes(self._processes)

    def alone(self) -> Pool | None:
        from .process import ProcessPool

        return ProcessPool(replace(self._options, workers=1, executor="process"))

    def fatal(self) -> ExecutorError | None:
        return main_guard_error(self._processes, self._options.executor)


def _worker_main(
    connection: Connection, options: FetchOptions, threads: int, marker: str | None
) -> None:
    """A worker process: receive URLs, fetch them on `threads` threads, send results back."""
    start_worker_process()
    fetcher = PageFetcher(options)
    send_lock = threading.Lock()

    def attempt(url: str, deadline: float | None) -> Attempt:
        crash_if_marked(url, marker)
        return fetcher.attempt(url, deadline)

    def send(task: int, future: Future[Attempt]) -> None:
        with send_lock:
            connection.send((task, future.result()))

    with ThreadPoolExecutor(threads, thread_name_prefix="fetcher") as pool:
        while True:
            try:
                message = connection.recv()
            except (EOFError, OSError):
                break
            if message is None:
                break
            task, url, deadline = message
            pool.submit(attempt, url, deadline).add_done_callback(functools.partial(send, task))
    fetcher.close()
    connection.close()
