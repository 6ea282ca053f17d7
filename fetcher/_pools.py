"""The executors that run fetches: a thread pool or a process pool, behind one interface.

The runner only submits URLs and consumes `concurrent.futures.Future`s, so any executor
that can fetch a URL into a `FetchResult` fits here.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing.context import BaseContext
from typing import Protocol

from ._options import FetchOptions
from ._result import FetchResult
from ._signals import block_sigint, sigint_blocked

__all__ = ["Pool", "ProcessPool", "ThreadPool", "make_pool"]

_REAP_SECONDS = 2.0  # how long an abort waits for terminated worker processes to go


class Pool(Protocol):
    """Runs `fetch(url)` for submitted URLs; can end in order or be abandoned at once."""

    def submit(self, url: str) -> Future[FetchResult]: ...

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
            options.workers, thread_name_prefix="fetcher", initializer=block_sigint
        )
        with sigint_blocked():  # while the first requests wait on the network
            threading.Thread(target=warm_imports, name="fetcher-warm", daemon=True).start()

    def submit(self, url: str) -> Future[FetchResult]:
        return self._executor.submit(self._fetcher.fetch, url)

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
    """

    def __init__(self, options: FetchOptions) -> None:
        from ._fetch import init_process_worker

        self._executor = ProcessPoolExecutor(
            options.workers,
            mp_context=process_context(),
            initializer=init_process_worker,
            initargs=(options,),
        )

    def submit(self, url: str) -> Future[FetchResult]:
        from ._fetch import fetch_in_process

        # A submit may start the forkserver or a worker: with Ctrl-C blocked meanwhile,
        # they inherit a blocked SIGINT and cannot die of it (with a traceback) before
        # the worker initializer has set it to be ignored; the parent handles Ctrl-C.
        with sigint_blocked():
            return self._executor.submit(fetch_in_process, url)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)

    def abort(self) -> None:
        # shutdown(cancel_futures=True) alone waits for running tasks, and leaving worker
        # processes behind would keep the output pipe open: terminate them. Python 3.14
        # has terminate_workers(); before it, the executor's own process table is the way.
        processes = list((getattr(self._executor, "_processes", None) or {}).values())
        self._executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(_REAP_SECONDS)
            if process.is_alive():
                process.kill()


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
    return ThreadPool(options)
