"""The dask-tasks executor: one Dask task per URL, on a cluster local or remote.

Kept to compare with `dask` (fetch nodes fed in batches, `cluster`), which it also
serves as the cluster's owner: connecting or starting a local cluster, checking the save
folder on every worker, noticing a lost scheduler, closing.

Without a scheduler address, a `LocalCluster` is started for the run: about one worker
process per core, with threads inside so that `workers` requests run at once
(processes x threads = at least `workers`; the split is the hybrid pool's, rounded up).
With one (`tcp://HOST:PORT`), fetcher is a client of a running cluster (`dask scheduler`,
and `dask worker` on other machines), and the cluster's own threads set the concurrency;
fetcher's window still bounds how many URLs are submitted at once.

Each URL is one task submitted with `Client.submit(..., pure=False)`, and each Dask
future completes a `concurrent.futures.Future` from its done-callback, so the runner
waits on it like any other pool. (`Client.get_executor` does the same, but logs every
cancelled task as an error; and its `shutdown()` has no `cancel_futures`.) `pure=False`
matters: Dask would otherwise give identical URLs one shared task, and a URL listed twice
must be fetched twice. Each Dask worker keeps one `PageFetcher` (and so one HTTP client
per thread) for all of its tasks.

Stopping: a Dask future does not say whether its task has started, so the runner's
futures stay pending until their task ends, and cancelling one cancels its task on the
cluster, started or not: after Ctrl-C there is no grace period on Dask. Stopping early
cancels every task, then closes the client and the local cluster; tasks already running
on remote workers may finish there, unobserved.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
import signal
import threading
import time
from concurrent.futures import Future, InvalidStateError
from typing import TYPE_CHECKING, Any

from .._compat import forget_local_cluster
from .._core.errors import ExecutorError, SaveDirError
from .._core.options import FetchOptions
from .._core.result import Attempt
from .._core.signals import signals_blocked
from .base import Pool
from .processes import per_process

if TYPE_CHECKING:
    from .._http.client import PageFetcher

__all__ = ["DaskPool", "fetch_on_worker"]

#: Run in each process of a local cluster as it starts (see `dask_preload`).
_PRELOAD = "fetcher._executors.dask_preload"

_CONNECT_SECONDS = 10  # to reach a scheduler, and for it to have a worker
_CLOSE_SECONDS = 2
_WATCH_SECONDS = 0.5


class DaskPool:
    """Submits attempts to a Dask cluster, started here or reached at `options.scheduler`."""

    def __init__(self, options: FetchOptions, *, owned_hosts: bool = False) -> None:
        """`owned_hosts`: each worker of a local cluster gets `workers` threads (fetch
        nodes own hosts, so one node may get every URL of a run)."""
        self._owned_hosts = owned_hosts
        try:  # an optional dependency, untyped: used through `Any`
            distributed: Any = importlib.import_module("distributed")
        except ImportError:
            raise ExecutorError(
                "the dask executor needs Dask distributed: pip install 'fetcher[dask]'"
            ) from None
        self._options = options
        self._cluster: Any = None
        self._client: Any = None
        self._tasks: dict[Any, Future[Attempt]] = {}  # Dask future -> the runner's future
        self._lock = threading.Lock()
        self._lost: str | None = None  # why the cluster can no longer be used
        self._stopped = threading.Event()
        try:
            if options.scheduler is None:
                self._start_local(distributed)
            else:
                self._client = distributed.Client(options.scheduler, timeout=_CONNECT_SECONDS)
                self._client.wait_for_workers(1, timeout=_CONNECT_SECONDS)
        except (OSError, TimeoutError, ValueError) as exc:
            self._close()
            if options.scheduler is None:
                raise ExecutorError(f"cannot start a local Dask cluster: {exc}") from None
            reason = "it has no workers" if isinstance(exc, TimeoutError) else str(exc)
            raise ExecutorError(
                f"cannot use the Dask scheduler at {options.scheduler}: {reason}"
            ) from None
        if options.save_dir is not None:
            self._check_save_dir(options.save_dir)
        with signals_blocked():
            threading.Thread(target=self._watch, name="fetcher-dask", daemon=True).start()

    @property
    def client(self) -> Any:
        """The `distributed.Client` of the cluster (the node pool starts its nodes with it)."""
        return self._client

    def _start_local(self, distributed: Any) -> None:
        """A LocalCluster of about a process per core (`processes.per_process`).

        Ctrl-C waits while the cluster's processes start, inheriting the mask; a terminal
        sends it to the whole group, and fetcher alone decides what it means (the
        processes ignore it, see `dask_preload`). Not SIGTERM: the cluster stops its
        processes with it.
        """
        with signals_blocked({signal.SIGINT}):
            processes, threads = per_process(self._options.workers)
            if self._owned_hosts:
                threads = self._options.workers
            self._cluster = distributed.LocalCluster(
                n_workers=processes,
                threads_per_worker=threads,
                processes=True,
                dashboard_address=":0",  # never a fixed port another run may hold
                # fetcher's own cluster: what goes wrong in it reaches the user as
                # fetcher's one-line errors, never as Dask's log (a worker's heartbeat to
                # a scheduler closing at the end logs an error with a traceback).
                silence_logs=logging.CRITICAL,
                preload=[_PRELOAD],  # Ctrl-C is fetcher's to handle
                preload_nanny=[_PRELOAD],
            )
            self._client = distributed.Client(self._cluster)

    def _check_save_dir(self, directory: str) -> None:
        """Each worker proves it can write pages in `directory` before its first URL."""
        failures = self._client.run(_save_dir_problem, directory)
        for worker, problem in sorted(failures.items()):
            if problem is not None:
                self._close()
                raise SaveDirError(f"cannot save pages in {directory!r} on {worker}: {problem}")

    def submit(self, url: str, deadline: float | None = None) -> Future[Attempt]:
        if self._lost is not None:
            raise ExecutorError(self._lost)
        future: Future[Attempt] = Future()
        # Another machine's monotonic clock is not this one's: the time left travels.
        budget = None if deadline is None else deadline - time.monotonic()
        task = self._client.submit(fetch_on_worker, url, self._options, budget, pure=False)
        with self._lock:
            self._tasks[task] = future
        future.add_done_callback(functools.partial(_cancel_task, task))
        task.add_done_callback(self._task_done)
        return future

    def _task_done(self, task: Any) -> None:
        """A Dask future ended (in Dask's callback thread): complete the runner's future."""
        with self._lock:
            future = self._tasks.pop(task, None)
        if future is None or not future.set_running_or_notify_cancel():
            return
        try:
            if task.status == "finished":
                future.set_result(task.result())
            elif task.status == "cancelled":
                future.set_exception(ExecutorError("cancelled on the Dask cluster"))
            else:
                future.set_exception(task.exception())
        except Exception as exc:  # the client went away while reading the outcome
            with contextlib.suppress(InvalidStateError):
                future.set_exception(ExecutorError(f"lost the Dask scheduler: {exc}"))

    def _watch(self) -> None:
        """Fail every URL in flight once the client has lost its scheduler for good."""
        while not self._stopped.wait(_WATCH_SECONDS):
            if self._client.status not in ("closing", "closed"):
                continue
            self._lost = "lost the Dask scheduler"
            with self._lock:
                pending, self._tasks = list(self._tasks.values()), {}
            for future in pending:
                if future.set_running_or_notify_cancel():
                    future.set_exception(ExecutorError(self._lost))
            return

    def shutdown(self) -> None:
        self._close()

    def alone(self) -> Pool | None:
        return None  # Dask itself retries the task of a worker that died

    def fatal(self) -> ExecutorError | None:
        return None  # no worker process of its own can re-run the script

    def abort(self) -> None:
        with self._lock:
            tasks, self._tasks = dict(self._tasks), {}
        _quiet_dask_logs()  # cancelled tasks are expected now, not errors worth a line
        for future in tasks.values():
            future.cancel()  # none has been marked running: each is cancelled
        if tasks and self._lost is None:
            with contextlib.suppress(Exception):
                self._client.cancel(list(tasks))
        self._close()

    def _close(self) -> None:
        self._stopped.set()
        processes = []
        if self._cluster is not None:  # the local cluster's worker processes (its children)
            nannies = list(getattr(self._cluster, "workers", {}).values())
            processes = [getattr(nanny, "process", None) for nanny in nannies]
        with contextlib.suppress(Exception):
            if self._client is not None:
                self._client.close(timeout=_CLOSE_SECONDS)
        if self._cluster is None:
            return
        with contextlib.suppress(Exception):
            self._cluster.close(timeout=_CLOSE_SECONDS)
            return
        # A worker whose threads still wait on the network does not close in time, and
        # Dask's exit hook would wait for the cluster again (about 10 s): end the workers
        # and take the cluster off that hook's list.
        for process in processes:
            pid = getattr(process, "pid", None)
            if pid is not None:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        forget_local_cluster(self._cluster)


def _cancel_task(task: Any, future: Future[Attempt]) -> None:
    """Cancel the Dask task of a future the runner cancelled (if the client still can)."""
    if future.cancelled():
        with contextlib.suppress(Exception):
            task.cancel()


def _quiet_dask_logs() -> None:
    for name in ("distributed", "tornado"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _save_dir_problem(directory: str) -> str | None:
    """On a Dask worker: why pages cannot be saved in `directory`, or None."""
    from .._http.save import check_save_dir

    try:
        check_save_dir(directory)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


# On a Dask worker: one fetcher per options for the life of the worker process.
_fetchers: dict[FetchOptions, PageFetcher] = {}
_fetchers_lock = threading.Lock()
_FETCHERS_KEPT = 4


def fetch_on_worker(url: str, options: FetchOptions, budget: float | None = None) -> Attempt:
    """The Dask task: one attempt at `url`, with the worker's long-lived fetcher.

    `budget` is the seconds left of the URL's total time when it was submitted.
    """
    from .._http.client import PageFetcher

    with _fetchers_lock:
        fetcher = _fetchers.get(options)
        if fetcher is None:
            if len(_fetchers) >= _FETCHERS_KEPT:  # a long-lived worker serving many runs
                _fetchers.pop(next(iter(_fetchers))).close()
            fetcher = _fetchers[options] = PageFetcher(options)
    return fetcher.attempt(url, None if budget is None else time.monotonic() + budget)
