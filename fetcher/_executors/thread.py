"""The thread executor: worker threads in this process, each with its own HTTP client."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

from .._core.errors import ExecutorError
from .._core.options import FetchOptions
from .._core.result import Attempt
from .._core.signals import block_signals, signals_blocked
from .._http.client import PageFetcher
from .base import Pool

__all__ = ["ThreadPool", "warm_imports"]


class ThreadPool:
    """Worker threads, each with its own HTTP client. Cheapest to start; shares one GIL."""

    def __init__(self, options: FetchOptions) -> None:
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

    def alone(self) -> Pool | None:
        return None  # a thread cannot die alone: a crash takes the whole process

    def fatal(self) -> ExecutorError | None:
        return None  # no worker process of its own can re-run the script


def warm_imports() -> None:
    """Import what the first title needs in the background (about 0.1 s of start-up)."""
    import bs4.dammit  # noqa: F401
