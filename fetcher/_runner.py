"""Running a list through a pool: a bounded window of futures, results as they complete.

At most `options.window` URLs are submitted and unfinished at any time; the window is
refilled from the (lazy) URL iterator as futures complete, so memory follows the number
of requests in flight, never the length of the list.

The loop is a `wait(return_when=FIRST_COMPLETED)` loop over three futures: "a result is
done", "more input has arrived" and "interrupted". Each submitted future's done-callback
queues it and completes the first of those. Waiting on the whole window instead costs
O(window) lock operations per result (every wait installs and removes a waiter on each
pending future): at 64 workers that was a third of the GIL's time.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Future, InvalidStateError, wait
from dataclasses import replace
from types import TracebackType
from typing import Any

from ._feeder import Feeder
from ._options import FetchOptions
from ._pools import Pool, make_pool
from ._result import FetchResult
from ._signals import sigint_blocked

__all__ = ["FetchRun", "fetch_all", "fetch_first"]


class FetchRun(Iterator[FetchResult]):
    """An iterator over the records of a run, in completion order.

    Use it as a context manager (or call `close()`) when you may leave early: leaving
    stops the pool at once, cancelling what has not started and abandoning what is
    running. After an interruption (`KeyboardInterrupt` while iterating), `stop()` ends
    the run and returns the records of URLs that finished but were not yet yielded.
    The URLs are read on a background thread, at most one window ahead of the pool.
    A run is iterated by one thread at a time.
    """

    def __init__(self, urls: Iterable[str], options: FetchOptions) -> None:
        self.options = options
        self._urls = iter(urls)
        self._feeder: Feeder | None = None
        self._pool: Pool | None = None
        self._in_flight: dict[Future[FetchResult], tuple[str, float]] = {}
        self._ready: dict[Future[FetchResult] | int, FetchResult] = {}
        self._closed = False
        self._unsubmitted = 0  # records made without a future (bad items, a broken pool)
        self._wakeup: Future[None] = Future()  # completed by interrupt()
        self._interrupted = False
        self._done_lock = threading.Lock()
        self._done: list[Future[FetchResult]] = []  # completed, in completion order
        self._some_done: Future[None] = Future()  # completed when `_done` gets a future
        self.max_in_flight = 0

    @property
    def in_flight(self) -> int:
        """URLs submitted to the pool and not yet finished."""
        return len(self._in_flight)

    def __iter__(self) -> FetchRun:
        return self

    def interrupt(self) -> None:
        """Make the iteration raise `KeyboardInterrupt` at its next safe point.

        Safe to call from a signal handler: a `KeyboardInterrupt` raised asynchronously
        inside `concurrent.futures.wait` can leave futures locked and hang the pool's
        shutdown, so a SIGINT handler should call this instead.
        """
        self._interrupted = True
        # Completed from another thread: a handler runs between two bytecodes of the main
        # thread, possibly inside wait() after it looked for done futures and before it
        # installed its waiter, and a completion then would go unnoticed.
        with sigint_blocked():
            threading.Thread(target=_complete, args=(self._wakeup,), daemon=True).start()

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
            if not self._in_flight and feeder.finished:
                self.close()
                if feeder.error is not None:  # every URL before it has its record
                    raise feeder.error
                raise StopIteration
            # A result, or more input for an empty window slot, whichever comes first.
            waiting = {self._some_done, self._wakeup}
            if len(self._in_flight) < self.options.window and not feeder.source_ended:
                waiting.add(feeder.arrival)
            wait(waiting, return_when=FIRST_COMPLETED)
            if self._closed:  # closed meanwhile (for example by a signal handler)
                raise StopIteration
        key = next(iter(self._ready))
        return self._ready.pop(key)

    def _on_done(self, future: Future[FetchResult]) -> None:
        """Done-callback of every submitted future (runs in the thread that completed it)."""
        with self._done_lock:
            self._done.append(future)
            if not self._some_done.done():
                self._some_done.set_result(None)

    def _collect(self) -> None:
        """Move completed futures to the ready records, in completion order."""
        with self._done_lock:
            done, self._done = self._done, []
            if self._some_done.done():
                self._some_done = Future()
        for future in done:
            if future in self._in_flight:
                self._ready[future] = self._outcome(future)
                del self._in_flight[future]

    def _start(self) -> Feeder:
        if self._feeder is None:
            self._feeder = Feeder(self._urls, self.options.window)
            self._pool = make_pool(self.options)
        return self._feeder

    def _fill(self, feeder: Feeder) -> None:
        """Submit waiting URLs while the window has room (records not yet yielded count)."""
        assert self._pool is not None
        room = self.options.window - len(self._in_flight) - len(self._ready)
        for url in feeder.take(max(0, room)):
            if not isinstance(url, str):
                self._record_without_future(
                    FetchResult(repr(url), None, None, None, 0, 0.0, "not a URL string")
                )
                continue
            try:
                future = self._pool.submit(url)
            except Exception as exc:  # a broken pool: the URL still gets its record
                self._record_without_future(_failed(url, 0.0, exc))
                continue
            self._in_flight[future] = (url, time.monotonic())
            future.add_done_callback(self._on_done)
        self.max_in_flight = max(self.max_in_flight, len(self._in_flight))

    def _record_without_future(self, result: FetchResult) -> None:
        self._unsubmitted += 1
        self._ready[-self._unsubmitted] = result

    def _outcome(self, future: Future[FetchResult]) -> FetchResult:
        url, submitted_at = self._in_flight[future]
        try:
            return future.result()
        except Exception as exc:
            return _failed(url, time.monotonic() - submitted_at, exc)

    def stop(self) -> list[FetchResult]:
        """End the run now; return the finished records it had not yielded yet."""
        finished = list(self._ready.values())
        finished += [
            self._outcome(future)
            for future in self._in_flight
            if future not in self._ready and future.done() and not future.cancelled()
        ]
        self._ready.clear()
        self.close()
        return finished

    def close(self) -> None:
        """Stop the pool: in order if everything finished, otherwise at once."""
        if self._closed:
            return
        self._closed = True
        feeder, self._feeder = self._feeder, None
        pool, self._pool = self._pool, None
        unfinished = bool(self._in_flight) or (feeder is not None and not feeder.finished)
        self._in_flight.clear()
        if feeder is not None:
            feeder.stop()
        if pool is None:
            return
        if unfinished:
            pool.abort()
        else:
            pool.shutdown()

    def __enter__(self) -> FetchRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def _complete(future: Future[None]) -> None:
    with contextlib.suppress(InvalidStateError):
        future.set_result(None)


def _failed(url: str, elapsed: float, exc: BaseException) -> FetchResult:
    dead = isinstance(exc, BrokenExecutor)
    reason = "worker process died" if dead else f"worker failed: {type(exc).__name__}"
    return FetchResult(url, None, None, None, 0, elapsed, reason)


def _options(options: FetchOptions | None, changes: dict[str, Any]) -> FetchOptions:
    base = options or FetchOptions()
    try:
        return replace(base, **changes) if changes else base
    except TypeError as exc:
        raise TypeError(f"unknown fetch option: {exc}") from None


def fetch_all(urls: Iterable[str], options: FetchOptions | None = None, **changes: Any) -> FetchRun:
    """Fetch every URL; iterate the result for one `FetchResult` per URL as each completes.

    `urls` may be any iterable (a generator over a huge file is read lazily). Settings come
    from `options` (a `FetchOptions`), with keyword arguments overriding its fields:
    `fetch_all(urls, workers=32, executor="process", timeout=5, max_bytes=1_000_000)`.
    Every URL yields exactly one record, duplicates included, once the run completes.
    """
    if isinstance(urls, str | bytes):
        raise TypeError("urls must be an iterable of URL strings, not a single string")
    return FetchRun(urls, _options(options, changes))


def fetch_first(
    urls: Iterable[str],
    options: FetchOptions | None = None,
    *,
    on_failure: Callable[[FetchResult], None] | None = None,
    **changes: Any,
) -> FetchResult | None:
    """Race the URLs; return the first page that downloads successfully, or None.

    A success has no error and a status below 400. Everything else still running is
    abandoned as soon as it arrives. Each failure that completes before the winner is
    passed to `on_failure`, so a caller that gets None can tell why.
    """
    with fetch_all(urls, options, **changes) as run:
        for result in run:
            if result.ok:
                return result
            if on_failure is not None:
                on_failure(result)
    return None
