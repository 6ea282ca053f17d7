"""A signal reaches a waiting run however it lands.

Python runs a signal's handler only when the main thread next runs Python code. A main
thread blocked on a lock wakes for a signal only if the signal interrupts that very
system call; one handled at the C level on another thread (or just before the main
thread blocked) leaves it asleep until something else wakes it. The run's waits are
therefore bounded, and this test makes the unlucky case happen on purpose.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType

import pytest

from fetcher import FetchOptions, fetch_all

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "pthread_kill"), reason="needs pthread_kill (POSIX)"
)


def _blocked_in_run_wait(thread_id: int) -> bool:
    """True while the thread's innermost frames are the run waiting on a lock."""
    frame: FrameType | None = sys._current_frames().get(thread_id)
    names = []
    while frame is not None and len(names) < 8:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return bool(names) and names[0] == "wait" and "_wait" in names


def test_a_signal_handled_off_the_main_thread_still_interrupts_a_waiting_run() -> None:
    source_open = threading.Event()
    release = threading.Event()

    def urls() -> Iterator[str]:
        source_open.set()
        release.wait(10)  # a pipe whose writer stays open: the run waits for input
        return
        yield  # pragma: no cover

    main = threading.get_ident()
    run = fetch_all(urls(), FetchOptions(workers=1))
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: run.interrupt())

    def signal_from_another_thread() -> None:
        source_open.wait(10)
        while not _blocked_in_run_wait(main) and not release.is_set():
            time.sleep(0.001)  # polling a frame: there is no event for "blocked"
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
