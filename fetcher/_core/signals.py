"""Keeping Ctrl-C and SIGTERM for the main thread.

The kernel delivers a process-wide signal to any thread that does not block it. Python
runs its handlers only in the main thread, and a main thread blocked on a lock (a run's
wait) is woken only if the signal lands on it. So every thread and
process fetcher starts is started with SIGINT and SIGTERM blocked (a new thread or
process inherits the mask of the thread that starts it): both always reach the main
thread at once. Worker processes unblock them again: they ignore Ctrl-C (a terminal
sends it to the whole process group; the parent decides) and die of SIGTERM as usual.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, InvalidStateError
from typing import Any

__all__ = [
    "GRACE_SECONDS",
    "HANDLED_SIGNALS",
    "SIGNAL_CHECK_SECONDS",
    "FutureWatch",
    "Waker",
    "block_signals",
    "signals_blocked",
    "unblock_in_worker_process",
    "wake",
]

#: After Ctrl-C or SIGTERM, how long requests in flight may take to finish (`--grace`).
GRACE_SECONDS = 2.0
#: The signals that stop a run in order: Ctrl-C, and a polite request to terminate.
HANDLED_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})

#: The longest the main thread blocks in one wait. Python runs a signal's handler only
#: when the main thread next runs Python code; a wait on a lock is cut short only if the
#: signal interrupts that very system call. A signal that lands just before the thread
#: blocks (or on another thread) would otherwise wait for the next result, which may
#: never come: `(echo URL; sleep 60) | fetcher -` ignored Ctrl-C in about one run of 40.
SIGNAL_CHECK_SECONDS = 0.2


def wake(future: Future[None]) -> None:
    """Complete a wake-up future (`Waker.wait` names it), unless another thread just did."""
    with contextlib.suppress(InvalidStateError):
        future.set_result(None)


class FutureWatch:
    """Calls `wake` when a future it watches completes: each future is given one callback
    while it is pending, however often it is shown again (a run shows the same futures at
    every wait)."""

    def __init__(self, wake: Callable[..., object]) -> None:
        self._wake = wake
        self._watched: list[Future[Any]] = []

    def done_or_watch(self, futures: Iterable[Future[Any]]) -> bool:
        """True if a future of `futures` is done already; else watch them all (one that
        completes meanwhile calls `wake` at once)."""
        futures = list(futures)
        if any(future.done() for future in futures):
            return True
        for future in futures:
            if not any(future is watched for watched in self._watched):
                future.add_done_callback(self._wake)
                self._watched.append(future)
        self._watched = [future for future in self._watched if not future.done()]
        return False


class Waker:
    """What one thread waits on and any other wakes, directly (`wake()`) or by completing
    a future it waits for: a plain lock used as a binary semaphore.

    `concurrent.futures.wait` sets up a waiter, a condition and an event at every call
    and installs the waiter on every future; passing a turn between two threads that way
    cost some 125 µs of CPU on a 2-core machine, and through a lock 36 µs (`python
    scripts/handoff_cost.py`: a turn every 2 ms). A run's thread waits once for every few
    results, so this is a cost every few URLs.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()  # held: a wait blocks until a wake releases it
        self._watch = FutureWatch(self.wake)

    def wake(self, *_: object) -> None:
        """End the current or the next wait (from any thread; a future's callback)."""
        with contextlib.suppress(RuntimeError):  # released already: a wake is pending
            self._lock.release()

    def wait(self, futures: Iterable[Future[Any]], timeout: float | None) -> None:
        """Until a wake, or a future of `futures` completes; at most `timeout`, and at
        most `SIGNAL_CHECK_SECONDS`, so that a signal's handler runs at most that late. A
        wake that came before the call, even for a future since renewed, ends it at once:
        the caller looks again."""
        if self._watch.done_or_watch(futures):  # its wake may be spent: none is needed
            self._lock.acquire(blocking=False)  # a wake pending is spent: the caller looks
            return
        bounded = SIGNAL_CHECK_SECONDS if timeout is None else min(timeout, SIGNAL_CHECK_SECONDS)
        self._lock.acquire(timeout=max(0.0, bounded))


def block_signals() -> None:
    """Block SIGINT and SIGTERM in the calling thread for good (a thread's initializer)."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED_SIGNALS)


@contextlib.contextmanager
def signals_blocked(signals: Iterable[int] = HANDLED_SIGNALS) -> Iterator[None]:
    """Block `signals` (SIGINT and SIGTERM) meanwhile: threads and processes started
    inside inherit the mask; a signal that comes meanwhile is handled afterwards."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def unblock_in_worker_process() -> None:
    """In a worker process: ignore Ctrl-C (the parent handles it), let SIGTERM end it.

    Setting SIGINT to ignored before unblocking also drops a Ctrl-C held while starting.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED_SIGNALS)
