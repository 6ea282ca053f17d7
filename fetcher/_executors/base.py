"""What every executor is: a pool the runner submits URLs to, one attempt at a time.

The runner only submits URLs and consumes `concurrent.futures.Future`s of `Attempt`s,
so any executor that can run an attempt at a URL fits: see the registry
(`fetcher._core.executors`) and docs/design.md for adding one.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Protocol

from .._core.errors import ExecutorError
from .._core.result import Attempt

__all__ = ["REAP_SECONDS", "Pool"]

REAP_SECONDS = 2.0  # how long an abort waits for terminated worker processes to go


class Pool(Protocol):
    """Runs one attempt at each submitted URL; can end in order or be abandoned at once.

    A future fails with `BrokenExecutor` when the worker process running it died; the
    pool itself stays usable (it replaces dead workers), so the runner can submit the URL
    again. A pool whose executor declares `isolates_crashes` offers `alone()`: a pool of
    one worker process that runs one URL at a time, so that a second death names the URL.
    """

    def submit(self, url: str, deadline: float | None = None) -> Future[Attempt]:
        """Start one attempt at `url`, to end by `deadline` (a monotonic time) if given."""
        ...

    def shutdown(self) -> None:
        """End in order, once every submitted URL has finished."""

    def abort(self) -> None:
        """End now: cancel what has not started and stop what is running."""

    def alone(self) -> Pool | None:
        """A one-process pool for URLs suspected of killing their worker (or None)."""
        ...

    def fatal(self) -> ExecutorError | None:
        """After a worker died: the error that makes the pool useless, if that was why
        (a worker process re-running a script without the `__main__` guard)."""
        ...
