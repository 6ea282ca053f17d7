"""The executors that run fetches: a thread pool or a process pool, behind one interface.

The runner only submits URLs and consumes `concurrent.futures.Future`s, so any executor
that can fetch a URL into a `FetchResult` fits here.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.context import BaseContext
from typing import TYPE_CHECKING, Any, Protocol

from ._options import FetchOptions
from ._signals import block_signals, signals_blocked

if TYPE_CHECKING:
    from ._fetch import Attempt

__all__ = [
    "REAP_SECONDS",
    "Pool",
    "PoolError",
    "ProcessPool",
    "SaveDirError",
    "ThreadPool",
    "end_processes",
    "make_pool",
]

REAP_SECONDS = 2.0  # how long an abort waits for terminated worker processes to go


class PoolError(Exception):
    """An executor that cannot run URLs: it cannot start, or lost its cluster.

    The message is one line for the user (a record's error, or the run's).
    """


class SaveDirError(PoolError):
    """The `--save` folder cannot be written where the pages are fetched (a usage error)."""


class Pool(Protocol):
    """Runs one attempt at each submitted URL; can end in order or be abandoned at once.

    A future fails with `BrokenExecutor` when the worker running it died; the pool itself
    stays usable (it replaces dead workers), so the runner can submit the URL again.
    """

    def submit(self, url: str, deadline: float | None = None) -> Future[Attempt]:
        """Start one attempt at `url`, to end by `deadline` (a monotonic time) if given."""

    def shutdown(self) -> None:
        """End in order, once every submitted URL has finished."""

    def abort(self) -> None:
        """End now: cancel what has not started and stop what is running."""


class ThreadPool:
    """Worker threads, each with its own HTTP client. Cheapest to start; shares one GIL."""

    def __init__(self, options: FetchOptions) -> None:
        from ._fetch import PageFetcher

        self._fetcher = PageFetcher(options)
        self._executor = ThreadPoolExecutor(
            options.workers, thread_name_prefix="fetcher", initializer=block_signals
        )
        with signals_blocked():  # while the first requests wait on the network
            threading.Thread(target=warm_imports, name="fetcher-warm", daemon=True).start()

    def submit(self, url: str, deadline: float | None = None) -> Future[Attempt]:
        return self._executor.submit(self._fetcher.attempt, url, deadline)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)
        self._fetcher.close()

    def abort(self) -> None:
        # Shutting the sockets down wakes threads blocked in reads, so they end now
        # instead of holding the interpreter's exit until their timeouts.
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._fetcher.abort()


class ProcessPool:
    """Worker processes, each with its own HTTP client: one GIL per process.

    Start method: `forkserver` where it exists, with fetcher's fetching code (httpx, and
    bs4's charset sniffer) preloaded in the server, so each worker starts as a cheap fork
    of a small single-threaded process that has imported them already. Plain `fork` would
    copy a parent that may be running threads (unsafe, and deprecated for that reason in
    Python 3.12+); `spawn` (used where forkserver is missing) re-imports everything in
    every worker.

    When a worker dies (killed, out of memory), `concurrent.futures` fails every future in
    flight with `BrokenProcessPool` and refuses new work: the next submit starts a fresh
    executor (`rebuilds` counts them). Which URL killed the worker is unknown, so deciding
    what to resubmit is the runner's job.
    """

    def __init__(self, options: FetchOptions) -> None:
        from ._fetch import crash_marker

        _quiet_cancelled_future_race()
        self._options = options
        self._marker = crash_marker()
        self._context = process_context()
        self._executor = self._new_executor()
        self._futures: set[Future[Attempt]] = set()  # submitted to the current executor
        self.rebuilds = 0

    def _new_executor(self) -> ProcessPoolExecutor:
        from ._fetch import init_process_worker

        return ProcessPoolExecutor(
            self._options.workers,
            mp_context=self._context,
            initializer=init_process_worker,
            initargs=(self._options, self._marker),
        )

    def submit(self, url: str, deadline: float | None = None) -> Future[Attempt]:
        from ._fetch import fetch_in_process

        # A submit may start the forkserver or a worker: with Ctrl-C blocked meanwhile,
        # they inherit a blocked SIGINT and cannot die of it (with a traceback) before
        # the worker initializer has set it to be ignored; the parent handles Ctrl-C.
        with signals_blocked():
            try:
                future = self._executor.submit(fetch_in_process, url, deadline)
            except BrokenProcessPool:
                self._rebuild()
                future = self._executor.submit(fetch_in_process, url, deadline)
        self._futures.add(future)
        future.add_done_callback(self._futures.discard)
        return future

    def _rebuild(self) -> None:
        broken, self._executor = self._executor, self._new_executor()
        orphans, self._futures = self._futures, set()
        self.rebuilds += 1
        broken.shutdown(wait=True)  # its manager has failed all it knew of, and reaped
        for future in list(orphans):  # submitted as it broke: it will never run them
            if not future.done():
                future.set_exception(BrokenProcessPool("worker process died"))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)

    def abort(self) -> None:
        # shutdown(cancel_futures=True) alone waits for running tasks, and leaving worker
        # processes behind would keep the output pipe open: terminate them. Python 3.14
        # has terminate_workers(); before it, the executor's own process table is the way.
        processes = list((getattr(self._executor, "_processes", None) or {}).values())
        self._executor.shutdown(wait=False, cancel_futures=True)
        end_processes(processes)


def end_processes(processes: Iterable[Any]) -> None:
    """Terminate worker processes, then kill those still alive after `REAP_SECONDS`."""
    processes = list(processes)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(REAP_SECONDS)
        if process.is_alive():
            process.kill()


def _quiet_cancelled_future_race() -> None:
    """Keep Python 3.11's process pool from printing a traceback for a cancelled future.

    When its workers die (a SIGTERM to the process group) after fetcher cancelled the
    futures that had not started, 3.11's manager thread calls `set_exception` on them,
    which raises `InvalidStateError` and ends the thread with a traceback on stderr.
    Python 3.12 ignores that error there; on 3.11 the hook below does. The futures left
    pending are the runner's to abandon (its grace period bounds the wait).
    """
    global _race_hook_installed
    if sys.version_info >= (3, 12) or _race_hook_installed:
        return
    from concurrent.futures import InvalidStateError
    from concurrent.futures.process import _ExecutorManagerThread

    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if isinstance(args.exc_value, InvalidStateError) and isinstance(
            args.thread, _ExecutorManagerThread
        ):
            return
        previous(args)

    threading.excepthook = hook
    _race_hook_installed = True


_race_hook_installed = False


def warm_imports() -> None:
    """Import what the first title needs in the background (about 0.1 s of start-up)."""
    import bs4.dammit  # noqa: F401


def process_context() -> BaseContext:
    """The forkserver context (spawn where there is none), ready to start processes.

    multiprocessing's resource tracker, when it first starts, unblocks SIGINT in the
    calling thread; starting it here, before fetcher blocks SIGINT to start workers,
    keeps that from undoing the block (see `_signals`).
    """
    if sys.platform != "win32":
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
    if sys.platform != "win32" and "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["fetcher._fetch", "bs4.dammit"])
        return context
    return multiprocessing.get_context("spawn")


def make_pool(options: FetchOptions) -> Pool:
    """The pool named by `options.executor`, sized by `options.workers`."""
    if options.executor == "process":
        return ProcessPool(options)
    if options.executor == "hybrid":
        from ._hybrid import HybridPool

        return HybridPool(options)
    if options.executor == "async":
        from ._async import AsyncPool

        return AsyncPool(options)
    if options.executor == "dask":
        from ._dask import DaskPool

        return DaskPool(options)
    return ThreadPool(options)
