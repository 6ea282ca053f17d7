"""Keeping Ctrl-C for the main thread.

The kernel delivers a process-wide SIGINT to any thread that does not block it. Python
runs its handlers only in the main thread, and a main thread blocked on a lock (inside
`concurrent.futures.wait`) is woken only if the signal lands on it. So every thread and
process fetcher starts is started with SIGINT blocked (a new thread or process inherits
the mask of the thread that starts it): Ctrl-C always reaches the main thread at once.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

__all__ = ["block_sigint", "sigint_blocked"]


def block_sigint() -> None:
    """Block SIGINT in the calling thread for good (a thread pool's initializer)."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


@contextlib.contextmanager
def sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread meanwhile: threads and processes started inside inherit it."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
