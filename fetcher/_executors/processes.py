"""What the executors that run worker processes share: how processes start and end, how
work is split over them, what a worker process does first, and the test-only crash hook.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterable
from multiprocessing.context import BaseContext
from typing import Any

from .._compat import importing_parent_main
from .._core.errors import ExecutorError
from .._core.signals import unblock_in_worker_process
from .base import REAP_SECONDS

__all__ = [
    "CRASH_HOOK_ENV",
    "crash_if_marked",
    "crash_marker",
    "end_processes",
    "process_context",
    "split",
    "start_worker_process",
]

#: Test-only hook: a worker process kills itself on a URL containing this variable's value,
#: so that tests can crash a worker the way an out-of-memory kill or a segfault would.
CRASH_HOOK_ENV = "FETCHER_TEST_CRASH_ON"


def split(workers: int) -> list[int]:
    """Threads for each worker process: about one process per core, `workers` threads in
    all (the hybrid pool and a local Dask cluster both spread their workers this way)."""
    processes = max(1, min(os.cpu_count() or 1, workers))
    share, extra = divmod(workers, processes)
    return [share + (index < extra) for index in range(processes)]


def per_process(workers: int) -> tuple[int, int]:
    """(processes, threads in each) when every process must have as many threads: the
    `split` rounded up, so that processes x threads is at least `workers`."""
    shares = split(workers)
    return len(shares), math.ceil(workers / len(shares))


def process_context() -> BaseContext:
    """The forkserver context (spawn where there is none), ready to start processes.

    multiprocessing's resource tracker, when it first starts, unblocks SIGINT in the
    calling thread; starting it here, before fetcher blocks SIGINT to start workers,
    keeps that from undoing the block (see `fetcher._core.signals`). The forkserver
    preloads the HTTP client and bs4's charset sniffer, so each worker starts as a cheap
    fork of a small single-threaded process that has imported them already.
    """
    if sys.platform != "win32":
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
    if sys.platform != "win32" and "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["fetcher._http.client", "bs4.dammit"])
        return context
    return multiprocessing.get_context("spawn")


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


#: The exit status of a worker process that found itself re-running the parent's script.
MAIN_GUARD_EXIT = 86
MAIN_GUARD_MESSAGE = (
    "the {executor} executor starts worker processes that import your script again: put "
    'the code that calls fetcher under `if __name__ == "__main__":` (or use the thread '
    "executor)"
)


def exit_if_importing_parent_main() -> None:
    """In a worker process that is importing the parent's main module (a script without
    the `__main__` guard calls fetcher at its top level): exit at once, quietly, with
    `MAIN_GUARD_EXIT`, which the parent's pool reports once (`main_guard_error`)
    instead of running the script again in every worker."""
    if importing_parent_main():
        os._exit(MAIN_GUARD_EXIT)


def main_guard_error(processes: Iterable[Any], executor: str) -> ExecutorError | None:
    """The error to end the run with, if a worker process exited with `MAIN_GUARD_EXIT`."""
    for process in processes:
        if process.exitcode == MAIN_GUARD_EXIT:
            return ExecutorError(MAIN_GUARD_MESSAGE.format(executor=executor))
    return None


def start_worker_process() -> None:
    """In a new worker process: leave Ctrl-C to the parent, die of SIGTERM as usual."""
    unblock_in_worker_process()


def crash_marker() -> str | None:
    """The test-only crash marker from the environment of the process starting a pool."""
    return os.environ.get(CRASH_HOOK_ENV) or None


def crash_if_marked(url: str, marker: str | None) -> None:
    """Die the way a killed worker does when `url` holds the test-only crash marker."""
    if marker is not None and marker in url:
        os.kill(os.getpid(), signal.SIGKILL)
