"""A signal reaches a waiting run however it lands.

Python runs a signal's handler only when the main thread next runs Python code. A main
thread blocked on a lock wakes for a signal only if the signal interrupts that very
system call; one handled at the C level on another thread (or just before the main
thread blocked) leaves it asleep until something else wakes it. The run's waits are
therefore bounded, and this test makes the unlucky case happen on purpose.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fetcher import FetchOptions, fetch_all
from fetcher._core.signals import Waker

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "pthread_kill"), reason="needs pthread_kill (POSIX)"
)


def test_a_signal_handled_off_the_main_thread_still_interrupts_a_waiting_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source_open = threading.Event()
    release = threading.Event()
    waiting = threading.Event()  # the run is about to block in its wait

    def urls() -> Iterator[str]:
        source_open.set()
        release.wait(10)  # a pipe whose writer stays open: the run waits for input
        return
        yield  # pragma: no cover

    real_wait = Waker.wait

    def announced_wait(waker: Waker, futures: Any, timeout: float | None) -> None:
        waiting.set()
        real_wait(waker, futures, timeout)

    monkeypatch.setattr(Waker, "wait", announced_wait)
    run = fetch_all(urls(), FetchOptions(workers=1))
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: run.interrupt())

    def signal_from_another_thread() -> None:
        source_open.wait(10)
        waiting.wait(10)
        time.sleep(0.05)  # into the lock wait: no event says "blocked"; if not yet, it passes
        # Delivered to this thread, so its C handler runs here and cannot wake the main
        # thread's wait: only a bounded wait lets the Python handler run.
        signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)

    poker = threading.Thread(target=signal_from_another_thread, daemon=True)
    safety = threading.Timer(5.0, release.set)  # ends the source: fails instead of hanging
    poker.start()
    safety.start()
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            next(run)
        waited = time.monotonic() - started
    finally:
        release.set()
        safety.cancel()
        signal.signal(signal.SIGUSR1, previous)
        run.close()
        poker.join(5)
    assert waited < 2.0, f"the interrupt was acted on only after {waited:.2f}s"
