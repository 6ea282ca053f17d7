"""Keeping Ctrl-C and SIGTERM for the main thread.

The kernel delivers a process-wide signal to any thread that does not block it. Python
runs its handlers only in the main thread, and a main thread blocked on a lock (inside
`concurrent.futures.wait`) is woken only if the signal lands on it. So every thread and
process fetcher starts is started with SIGINT and SIGTERM blocked (a new thread or
process inherits the mask of the thread that starts it): both always reach the main
thread at once. Worker processes unblock them again: they ignore Ctrl-C (a terminal
sends it to the whole process group; the parent decides) and die of SIGTERM as usual.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, InvalidStateError, wait
from typing import Any

__all__ = [
    "GRACE_SECONDS",
    "HANDLED_SIGNALS",
    "SIGNAL_CHECK_SECONDS",
    "block_signals",
    "signals_blocked",
    "unblock_in_worker_process",
    "wait_first",
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
    """Complete a wake-up future for `wait_first`, unless another thread just did."""
    with contextlib.suppress(InvalidStateError):
        future.set_result(None)


def wait_first(futures: Iterable[Future[Any]], timeout: float | None) -> None:
    """`concurrent.futures.wait(FIRST_COMPLETED)` that returns at least every
    `SIGNAL_CHECK_SECONDS`, so that a signal's handler runs at most that late."""
    bounded = SIGNAL_CHECK_SECONDS if timeout is None else min(timeout, SIGNAL_CHECK_SECONDS)
    wait(futures, timeout=bounded, return_when=FIRST_COMPLETED)


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
