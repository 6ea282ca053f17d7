"""Running a list through a pool: a bounded window of futures, results as they complete.

At most `options.window` URLs are submitted and unfinished at any time; the window is
refilled from the (lazy) URL iterator as futures complete, so memory follows the number
of requests in flight, never the length of the list.

Between the input and the pool sits a `Scheduler` (per-origin caps, a global rate,
retries later without holding a worker). When a worker process dies, every URL in flight
in the pool fails and none is known to be the culprit: each is tried again alone, one at
a time, in a one-process quarantine pool beside the main pool. A URL whose worker dies
while it runs there alone gets an error record; the others carry on. A pool whose
workers can never run (`Pool.fatal`) ends the run with its error instead.

The loop waits (on a `Waker`) for the first of "a result is done", "more input has
arrived" and "interrupted", or a retry falling due: each future's done-callback queues it
and completes the first (a waiter on every future of a window of 64 cost a third of the
GIL).
"""

from __future__ import annotations

import contextlib
import importlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import BrokenExecutor, CancelledError, Future
from typing import Any

from .._core.executors import EXECUTORS
from .._core.limits import ensure_open_files
from .._core.options import FetchOptions
from .._core.result import Attempt, FetchResult
from .._core.signals import Waker, signals_blocked, wake
from .._core.urls import origin_of
from .._executors import Pool, make_pool
from . import retry, schedule
from .feeder import Feeder
from .schedule import Scheduler, URLState

__all__ = ["FetchRun"]


class FetchRun(Iterator[FetchResult]):
    """An iterator over the records of a run, in completion order.

    Use it as a context manager (or call `close()`) when you may leave early: leaving
    stops the pool at once, cancelling what has not started and abandoning what is
    running. After an interruption (`KeyboardInterrupt` while iterating), `finish()`
    yields the records of URLs that finish within a grace period, then ends the run.
    A URL has a record only once it is finished: one interrupted, waiting for a retry or
    never started has none. The URLs are read on a background thread, at most one window
    ahead of the pool. A run is iterated by one thread at a time.
    """

    def __new__(cls, urls: Iterable[Any], options: FetchOptions, **how: Any) -> Any:
        """A run of the registry's engine for `options.executor` when it has one (`dask`:
        `cluster.ClusterRun`, which schedules at the nodes), else a run over a pool."""
        engine = EXECUTORS[options.executor].engine if cls is FetchRun else None
        if engine is None:
            return super().__new__(cls)
        module, _, name = engine.partition(":")
        return super().__new__(getattr(importlib.import_module(f"{__package__}.{module}"), name))

    def __init__(
        self, urls: Iterable[Any], options: FetchOptions, *, numbered: bool = False,
        lines: Callable[[FetchResult], bytes] | None = None,
    ) -> None:  # fmt: skip
        """`urls`: the URLs in order; with `numbered`, (index, URL) pairs whose index is
        the record's (a resumed run skips URLs but keeps every line's number). `lines`
        makes a record's line (one, ending in a newline): a run whose records are made
        elsewhere (a cluster's nodes) has their lines made there too, kept until
        `line_of` is asked for each record."""
        self.options = options
        self._urls = iter(urls) if numbered else enumerate(urls, 1)
        self._feeder: Feeder | None = None
        self._pool: Pool | None = None
        self._scheduler = Scheduler(options.per_host, options.rate, schedule.LOOKAHEAD)
        self._incoming: deque[Any] = deque()  # taken from the feeder, not yet scheduled
        self._in_flight: dict[Future[Attempt], URLState] = {}
        self._ready: deque[FetchResult] = deque()
        self._suspects: deque[URLState] = deque()  # in flight when a worker died: try alone
        self._quarantine: Pool | None = None  # one process, one suspect at a time
        self._alone: URLState | None = None  # the suspect the quarantine pool is running
        self._closed = False
        self._stopping = False
        self._wakeup: Future[None] = Future()  # completed by interrupt()
        self._interrupted = False
        self._done_lock = threading.Lock()
        self._done: list[Future[Attempt]] = []  # completed, in completion order
        self._some_done: Future[None] = Future()  # completed when `_done` gets a future
        self._waker = Waker()  # what `_wait` waits on: the futures it names complete it
        self.max_in_flight = 0
        self.retries = 0  # attempts scheduled again after a failure a retry may cure
        self.resubmitted = 0  # URLs submitted again after their worker process died
        self.read = 0  # URLs taken from the input so far
        self.abandoned = 0  # URLs in flight when the run was closed before they finished
        self._held_by_cap = False

    @property
    def in_flight(self) -> int:  # URLs submitted to the pool and not yet finished
        return len(self._in_flight)

    def take_ready(self) -> list[FetchResult]:
        """The records `next()` would return without a wait, all at once (a burst)."""
        ready, self._ready = list(self._ready), deque()
        return ready

    @property
    def closed(self) -> bool:  # True once the run is over: finished, closed or stopped
        return self._closed

    @property
    def held_by_cap(self) -> bool:
        """True when the per-origin cap holds the run back now: URLs wait for their origin
        while fewer than `workers` requests run. (Read from another thread too: a bar.)"""
        return self._scheduler.parked > 0 and len(self._in_flight) < self.options.workers

    @property
    def capped(self) -> bool:
        """True if the per-origin cap has held the run back at some point (`held_by_cap`)."""
        return self._held_by_cap

    def __iter__(self) -> FetchRun:
        return self

    def line_of(self, record: FetchResult) -> bytes | None:
        """The line a node made for `record` (`lines`), given once; None if none was."""
        return None

    def interrupt(self) -> None:
        """Make the iteration raise `KeyboardInterrupt` at its next safe point.

        Safe to call from a signal handler: a `KeyboardInterrupt` raised asynchronously
        inside a wait can leave futures locked and hang the pool's shutdown (and ends a
        Dask run at once: see `ClusterRun`), so a SIGINT handler should call this
        instead. During `finish()`, it ends the grace period at once.
        """
        self._interrupted = True
        # Completed from another thread: a handler runs between two bytecodes of the main
        # thread, possibly inside wait() after it looked for done futures and before it
        # installed its waiter, and a completion then would go unnoticed.
        with signals_blocked():
            threading.Thread(target=wake, args=(self._wakeup,), daemon=True).start()

    def __next__(self) -> FetchResult:
        while not self._ready:
            if self._interrupted:
                self._interrupted = False
                self._wakeup = Future()
                raise KeyboardInterrupt
            if self._closed:
                raise StopIteration
            feeder = self._start()
            self._collect()
            if self._ready:
                break
            self._fill(feeder)
            if self._ready:
                break
            if self._finished(feeder):
                self.close()
                if feeder.error is not None:  # every URL before it has its record
                    raise feeder.error
                raise StopIteration
            self._wait(feeder)
            if self._closed:  # closed meanwhile (for example by a signal handler)
                raise StopIteration
        return self._ready.popleft()

    def _finished(self, feeder: Feeder) -> bool:
        busy = self._in_flight or self._incoming or self._suspects
        return not busy and self._scheduler.idle and feeder.finished

    def _wait(self, feeder: Feeder) -> None:
        """Until a result, more input for an empty slot, or a held URL falls due."""
        waiting = {self._some_done, self._wakeup}
        window = self.options.window
        if (
            len(self._in_flight) < window
            and not self._incoming
            and self._scheduler.wants_new
            and not feeder.source_ended
        ):
            waiting.add(feeder.arrival)
        # A held URL falling due matters only with a free slot (with a full window, waiting
        # for it would spin); one running out of total time needs none: its record is due.
        wakes = [self._scheduler.next_expiry()]
        if len(self._in_flight) < window:
            wakes.append(self._scheduler.wake_at())
        wake_at = min((at for at in wakes if at is not None), default=None)
        timeout = None if wake_at is None else max(0.0, wake_at - time.monotonic())
        self._waker.wait(waiting, timeout)

    def _on_done(self, future: Future[Attempt]) -> None:
        """Done-callback of every submitted future (runs in the thread that completed it)."""
        with self._done_lock:
            self._done.append(future)
            if not self._some_done.done():
                self._some_done.set_result(None)

    def _collect(self) -> None:
        """Turn completed futures into records, retries or resubmissions, in order."""
        with self._done_lock:
            done, self._done = self._done, []
            if self._some_done.done():
                self._some_done = Future()
        for future in done:
            state = self._in_flight.pop(future, None)
            if state is None:
                continue
            alone = state is self._alone
            self._release(state)  # it ran: its origin (or the quarantine) has room again
            record = self._outcome(future, state, alone)
            if record is not None:
                self._ready.append(record)

    def _outcome(self, future: Future[Attempt], state: URLState, alone: bool) -> FetchResult | None:
        """The record a completed attempt gives, or None if the URL is not finished."""
        try:
            attempt = future.result()
        except CancelledError:
            return None
        except BrokenExecutor:
            if self._stopping:
                return None  # killed with the run, not by the URL: fetched again on resume
            self._end_if_fatal(self._quarantine if alone else self._pool)
            state.crashes += 1
            if alone:  # nothing else ran in its worker: this URL killed it
                return retry.failed_record(state, retry.CRASHED_TWICE, "crashed")
            self.resubmitted += 1
            self._suspects.append(state)
            return None
        except Exception as exc:
            return retry.failed_record(state, retry.describe_pool_error(exc), "executor")
        step = retry.after_attempt(state, attempt, self.options, self._stopping, time.monotonic())
        if isinstance(step, FetchResult):
            return step
        self.retries += 1
        self._scheduler.retry_at(state, step)
        return None

    def start(self) -> None:
        """Start the pool and the input's reader now rather than at the first `next`."""
        self._start()

    def _start(self) -> Feeder:
        if self._feeder is None:
            ensure_open_files(self.options.workers)  # before the pool: its processes inherit
            self._feeder = Feeder(self._urls, self.options.window)
            self._pool = make_pool(self.options)
        return self._feeder

    def _fill(self, feeder: Feeder) -> None:
        """Submit what the scheduler allows while the window has room (which records not
        yet yielded take too: a slow consumer slows the run instead of growing memory)."""
        now = time.monotonic()
        window = self.options.window
        for held in self._scheduler.expired(now):  # held past its total time: it ends now
            assert held.last is not None
            self._ready.append(retry.gave_up_record(held, held.last, self.options))
        if self._suspects and self._alone is None:
            self._submit_alone(self._suspects.popleft(), now)
        while len(self._in_flight) + len(self._ready) < window:
            state = self._scheduler.next(now, lambda: self._new_state(feeder))
            if state is None:
                break
            self._submit(state, now)
        self.max_in_flight = max(self.max_in_flight, len(self._in_flight))
        self._held_by_cap = self._held_by_cap or self.held_by_cap

    def _new_state(self, feeder: Feeder) -> URLState | None:
        while True:
            if not self._incoming:
                self._incoming.extend(feeder.take(self.options.window))
                self.read += len(self._incoming)
                if not self._incoming:
                    return None
            index, url = self._incoming.popleft()
            if isinstance(url, str):
                origin = origin_of(url) if self.options.per_host else None
                return URLState(url, origin, index=index)
            self._ready.append(retry.not_a_string_record(url, index))

    def _submit(self, state: URLState, now: float, pool: Pool | None = None) -> None:
        """Start an attempt at `state` on `pool` (the main pool by default)."""
        pool = pool or self._pool
        assert pool is not None
        if state.deadline is not None and state.last is not None and now >= state.deadline:
            self._release(state)  # held past its total time (a busy origin, the rate)
            self._ready.append(retry.gave_up_record(state, state.last, self.options))
            return
        state.attempts += 1
        state.started = now
        try:
            future = pool.submit(state.url, state.deadline)
        except Exception as exc:  # a pool that cannot take work: the URL still gets its record
            self._end_if_fatal(pool)
            self._release(state)
            self._ready.append(
                retry.failed_record(state, retry.describe_pool_error(exc), "executor")
            )
            return
        self._in_flight[future] = state
        future.add_done_callback(self._on_done)

    def _end_if_fatal(self, pool: Pool | None) -> None:
        """End the run with the pool's error if its workers can never run (`Pool.fatal`)."""
        if pool is not None and (error := pool.fatal()) is not None:
            self.close()
            raise error from None

    def _release(self, state: URLState) -> None:
        """`state` ran, or will not run after all: its origin (or the quarantine) has room."""
        if state is self._alone:
            self._alone = None
        else:
            self._scheduler.finished(state)

    def _submit_alone(self, state: URLState, now: float) -> None:
        """Try a suspect of a worker's death alone, so that a second death names it."""
        if self._quarantine is None:
            assert self._pool is not None
            self._quarantine = self._pool.alone()
        if self._quarantine is None:  # the executor isolates no crash: the URL is lost
            self._ready.append(retry.failed_record(state, "worker process died", "crashed"))
            return
        self._alone = state
        self._submit(state, now, self._quarantine)

    def finish(self, grace: float) -> Iterator[FetchResult]:
        """Stop the run in order: yield finished records and those finishing within `grace`.

        Nothing more is submitted and what has not started is cancelled before this
        returns; requests in flight get `grace` seconds. `interrupt()` (a second Ctrl-C)
        ends the grace at once.
        """
        self._stopping = True
        if self._feeder is not None:
            self._feeder.stop()
        self._incoming.clear()
        self._scheduler.clear()
        self._suspects.clear()
        for future in list(self._in_flight):
            if future.cancel():
                del self._in_flight[future]
        return self._drain(time.monotonic() + grace)

    def _drain(self, give_up_at: float) -> Iterator[FetchResult]:
        try:
            while True:
                self._collect()
                while self._ready:
                    yield self._ready.popleft()
                left = give_up_at - time.monotonic()
                if not self._in_flight or left <= 0 or self._closed:
                    return
                if self._interrupted or self._wakeup.done():  # interrupted again
                    return
                self._waker.wait([self._some_done, self._wakeup], left)
        finally:
            self.close()

    def stop(self) -> list[FetchResult]:
        """End the run now; return the finished records it had not yielded yet."""
        return list(self.finish(0.0))

    def close(self) -> None:
        """Stop the pool: in order if everything finished, otherwise at once."""
        if self._closed:
            return
        self._closed = True
        self._stopping = True
        feeder, self._feeder = self._feeder, None
        pools = [p for p in (self._pool, self._quarantine) if p is not None]
        self._pool = self._quarantine = None
        unfinished = not self._scheduler.idle or (feeder is not None and not feeder.finished)
        unfinished = unfinished or bool(self._in_flight or self._incoming or self._suspects)
        self.abandoned = len(self._in_flight) + len(self._suspects)
        self._in_flight.clear()
        self._scheduler.clear()
        self._suspects.clear()
        if feeder is not None:
            feeder.stop()
        for pool in pools:
            if unfinished:
                pool.abort()
            else:
                pool.shutdown()

    def __enter__(self) -> FetchRun:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
