"""The process executor: a `ProcessPoolExecutor`, one request per worker process.

Start method: `forkserver` where it exists (see `processes.process_context`). Plain
`fork` would copy a parent that may be running threads (unsafe, and deprecated for that
reason in Python 3.12+); `spawn` (used where forkserver is missing) re-imports
everything in every worker.

When a worker dies (killed, out of memory), `concurrent.futures` fails every future in
flight with `BrokenProcessPool` and refuses new work: the next submit starts a fresh
executor (`rebuilds` counts them). Which URL killed the worker is unknown, so deciding
what to resubmit is the runner's job: it tries each suspect alone in `alone()`.

On CPython 3.11, all of an executor's workers start with its first URL
(`_compat.launch_pool_processes`), not one by one on demand: a submit that starts a
worker can race the pool's breaking and hang its shutdown. A submit can still race the
breaking; one that finds the pool broken once it returns starts a fresh executor at
once, which fails the URL's future if the broken pool's manager did not (the runner
then tries it alone, like the others in flight).
"""

from __future__ import annotations

from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace

from .._compat import (
    launch_pool_processes,
    pool_broken,
    pool_processes,
    quiet_cancelled_future_race,
)
from .._core.errors import ExecutorError
from .._core.options import FetchOptions
from .._core.result import Attempt
from .._core.signals import signals_blocked
from .._http.client import PageFetcher
from .base import REAP_SECONDS, Pool
from .processes import (
    crash_if_marked,
    crash_marker,
    end_processes,
    main_guard_error,
    process_context,
    start_worker_process,
)

__all__ = ["ProcessPool", "fetch_in_process", "init_process_worker"]


class ProcessPool:
    """Worker processes, each with its own HTTP client: one GIL per process."""

    def __init__(self, options: FetchOptions) -> None:
        quiet_cancelled_future_race()
        self._options = options
        self._marker = crash_marker()
        self._context = process_context()
        self._executor = self._new_executor()
        self._futures: set[Future[Attempt]] = set()  # submitted to the current executor
        self._fatal: ExecutorError | None = None
        self.rebuilds = 0

    def _new_executor(self) -> ProcessPoolExecutor:
        self._launched = False  # its workers start with its first URL (`_submit`)
        return ProcessPoolExecutor(
            self._options.workers,
            mp_context=self._context,
            initializer=init_process_worker,
            initargs=(self._options, self._marker),
        )

    def submit(self, url: str, deadline: float | None = None) -> Future[Attempt]:
        # Workers start inside a submit: with Ctrl-C blocked meanwhile, they inherit a
        # blocked SIGINT and cannot die of it (with a traceback) before the worker
        # initializer has set it to be ignored; the parent handles Ctrl-C.
        with signals_blocked():
            try:
                future = self._submit(url, deadline)
            except BrokenProcessPool:
                self._rebuild()
                future = self._submit(url, deadline)
            self._futures.add(future)
            future.add_done_callback(self._futures.discard)
        if pool_broken(self._executor):  # it broke as the URL went in: maybe never run
            self._rebuild()
        return future

    def _submit(self, url: str, deadline: float | None) -> Future[Attempt]:
        """Submit to the executor, starting all its workers with its first URL."""
        if not self._launched:
            launch_pool_processes(self._executor)
            self._launched = True
        return self._executor.submit(fetch_in_process, url, deadline)

    def _rebuild(self) -> None:
        """Replace a broken executor (unless its workers could never run: `fatal`)."""
        if self.fatal() is not None:
            raise self._fatal or ExecutorError("worker processes cannot start")
        broken, self._executor = self._executor, self._new_executor()
        orphans, self._futures = self._futures, set()
        self.rebuilds += 1
        processes = pool_processes(broken)  # (shutdown forgets them)
        broken.shutdown(wait=True)  # its manager has failed all it knew of, and reaped
        end_processes(processes)  # none alive, unless its manager failed on the way
        for future in list(orphans):  # submitted as it broke: it will never run them
            if not future.done():
                future.set_exception(BrokenProcessPool("worker process died"))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)

    def abort(self) -> None:
        # shutdown(cancel_futures=True) alone waits for running tasks, and leaving worker
        # processes behind would keep the output pipe open: terminate them.
        processes = pool_processes(self._executor)
        # (taken first: shutdown forgets it)
        manager = getattr(self._executor, "_executor_manager_thread", None)
        self._executor.shutdown(wait=False, cancel_futures=True)
        end_processes(processes)
        # Its manager thread then sees the workers gone and closes its wake-up pipe. Let
        # it finish first: concurrent.futures' exit hook writes to that pipe, and on
        # Python 3.11 a close between its check and its write printed a traceback
        # ("Bad file descriptor") as fetcher exited after a signal.
        if manager is not None:
            manager.join(REAP_SECONDS)

    def alone(self) -> Pool | None:
        return ProcessPool(replace(self._options, workers=1))

    def fatal(self) -> ExecutorError | None:
        if self._fatal is None:
            processes = pool_processes(self._executor)
            self._fatal = main_guard_error(processes, self._options.executor)
        return self._fatal


# One fetcher per worker process, built by the pool's initializer.
_process_fetcher: PageFetcher | None = None
_crash_marker: str | None = None


def init_process_worker(options: FetchOptions, marker: str | None = None) -> None:
    """Process-pool initializer: leave signals to the parent and build this worker's fetcher."""
    global _process_fetcher, _crash_marker
    start_worker_process()
    _process_fetcher = PageFetcher(options)
    _crash_marker = marker


def fetch_in_process(url: str, deadline: float | None = None) -> Attempt:
    """The task a process-pool worker runs: a plain string in, a plain record out.

    `deadline` is a monotonic time of the parent's: the clock is system-wide (Linux
    CLOCK_MONOTONIC, and its equivalents elsewhere), so it means the same here.
    """
    if _process_fetcher is None:
        raise RuntimeError("worker process was not initialised")
    crash_if_marked(url, _crash_marker)
    return _process_fetcher.attempt(url, deadline)
