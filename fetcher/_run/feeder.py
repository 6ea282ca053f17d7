"""Reading the URL source on its own thread, a bounded distance ahead of the pool.

A source can be slow (a pipe fed by another program): if the runner read it directly,
a record that has completed would wait for the next input line. The feeder reads on a
background thread into a bounded buffer and completes an `arrival` future whenever
lines are waiting, so the runner can wait for "a result or more input", whichever
comes first.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

from .._core.signals import block_signals, signals_blocked

__all__ = ["Feeder"]


class Feeder:
    """Items of an iterator, read ahead on a daemon thread, at most `capacity` at a time."""

    def __init__(self, items: Iterator[Any], capacity: int) -> None:
        self._items = items
        self._capacity = capacity
        self._buffer: deque[Any] = deque()
        self._condition = threading.Condition()
        self._arrival: Future[None] = Future()
        self._signalled = False  # `_arrival` is done (a flag: asking the future takes its lock)
        self._error: BaseException | None = None
        self._exhausted = False
        self._stopped = False
        self._thread = threading.Thread(target=self._read, name="fetcher-feeder", daemon=True)
        with signals_blocked():
            self._thread.start()

    @property
    def arrival(self) -> Future[None]:
        """Done while items are waiting or the source has ended; renewed when drained."""
        return self._arrival

    @property
    def source_ended(self) -> bool:
        """True once the source has ended (items may still be waiting to be taken)."""
        return self._exhausted

    @property
    def finished(self) -> bool:
        """True once the source has ended and every item has been taken."""
        with self._condition:
            return self._exhausted and not self._buffer

    @property
    def error(self) -> BaseException | None:
        """What the source raised, if it ended with an error."""
        return self._error

    def take(self, limit: int) -> list[Any]:
        """Up to `limit` waiting items, without blocking."""
        with self._condition:
            taken = [self._buffer.popleft() for _ in range(min(limit, len(self._buffer)))]
            if taken and len(self._buffer) <= self._capacity // 2:
                self._condition.notify()  # refill in batches: a wake-up per URL costs the GIL
            if not self._buffer and not self._exhausted and self._signalled:
                self._arrival = Future()
                self._signalled = False
                if self._buffer:  # appended meanwhile (`_read`): its reader saw the flag set
                    self._signal()
        return taken

    def stop(self) -> None:
        """Read no further (a read already under way finishes in the background)."""
        with self._condition:
            self._stopped = True
            self._buffer.clear()
            self._condition.notify()

    def _read(self) -> None:
        """Read the items into the buffer. An item is appended without the lock (a deque's
        appends and pops are atomic), which is taken only to wait for room and to signal
        an arrival: a lock an item cost about 0.5 us of a cluster client's CPU a URL. An
        item appended as `take` empties the buffer is not missed: `take` clears the flag
        before it looks at the buffer again, and this looks at the flag after appending."""
        block_signals()
        buffer, condition, capacity = self._buffer, self._condition, self._capacity
        try:
            for item in self._items:
                if len(buffer) >= capacity:
                    with condition:
                        while len(buffer) >= capacity and not self._stopped:
                            condition.wait()
                buffer.append(item)
                if self._stopped:  # (before or as it appended: `stop` leaves the buffer empty)
                    buffer.clear()
                    return
                if not self._signalled:
                    with condition:
                        self._signal()
        except BaseException as exc:  # handed to the runner, which raises it
            with self._condition:
                self._error = exc
        finally:
            with self._condition:
                self._exhausted = True
                self._signal()

    def _signal(self) -> None:
        """Complete `_arrival`, once (called under the condition)."""
        if not self._signalled:
            self._signalled = True
            self._arrival.set_result(None)
