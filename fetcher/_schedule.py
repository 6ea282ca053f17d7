"""Which URL goes to the pool next: per-origin caps, a global rate, and retries later.

The pool never waits on one busy origin: a URL whose origin is at its cap is parked and
the next one is looked at, so 10,000 URLs on one site do not hold back 100 on others.
Parked URLs and URLs waiting to be retried are "held"; at most `LOOKAHEAD` are held at
once, and while that many are, no new URL is read: memory stays bounded whatever the
list. A URL waiting for a retry holds no worker: the pool works on others meanwhile.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from ._result import FetchResult
from ._urls import to_request_url

__all__ = ["LOOKAHEAD", "Pacer", "Scheduler", "Task", "origin_of"]

#: URLs held back at most (waiting for a busy origin or for a retry) before reading pauses.
LOOKAHEAD = 10_000

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(slots=True, eq=False)
class Task:
    """One input URL on its way to a record."""

    url: str
    origin: str | None  # the per-origin cap's key; None when no cap applies
    attempts: int = 0  # attempts submitted so far
    crashes: int = 0  # attempts lost with a worker process that died
    started: float = 0.0  # when the current attempt was submitted (monotonic)
    deadline: float | None = None  # when the URL's total time runs out (monotonic)
    last: FetchResult | None = None  # the record of its latest attempt, once one ended


def origin_of(url: str) -> str | None:
    """`scheme://host:port` of an input line (default ports filled in); None if unparsable."""
    try:
        parts = urlsplit(to_request_url(url))
        host = parts.hostname
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None
    if not host:
        return None
    return f"{parts.scheme.lower()}://{host}:{port}"


class Pacer:
    """At most `rate` starts per second; above 100/s, in bursts of up to rate/50."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._slack = self._interval * max(0.0, math.floor(rate / 50) - 1)
        self._next = -math.inf

    def ready_at(self) -> float:
        """The monotonic time from which the next start is allowed."""
        return self._next

    def take(self, now: float) -> bool:
        """Use up a start if one is allowed at `now`."""
        if now < self._next:
            return False
        self._next = max(self._next, now - self._slack) + self._interval
        return True


class Scheduler:
    """Orders tasks for submission: first those due again, then new ones, within the caps."""

    def __init__(self, per_host: int, rate: float | None, lookahead: int = LOOKAHEAD) -> None:
        self._per_host = per_host
        self._pacer = Pacer(rate) if rate is not None else None
        self._lookahead = lookahead
        self._due: deque[Task] = deque()  # may go as soon as the rate allows
        self._later: list[tuple[float, int, Task]] = []  # (when, tie-break, task) heap
        self._order = itertools.count()
        self._parked: dict[str, deque[Task]] = {}
        self._parked_count = 0
        self._load: dict[str, int] = {}
        self.capped = False  # an origin's cap has made a URL wait at least once

    @property
    def held(self) -> int:
        """Tasks held back: parked for a busy origin or waiting for a retry."""
        return self._parked_count + len(self._later)

    @property
    def idle(self) -> bool:
        """Nothing held or due: every task given out has been accounted for."""
        return not (self._due or self._later or self._parked_count)

    @property
    def wants_new(self) -> bool:
        """True when a new task would be looked at now (nothing older waits, room to hold)."""
        return not self._due and self.held < self._lookahead

    def next(self, now: float, new_task: Callable[[], Task | None]) -> Task | None:
        """The task to submit now, or None; `new_task` supplies tasks from the input."""
        while self._later and self._later[0][0] <= now:
            self._due.append(heapq.heappop(self._later)[2])
        while True:
            if self._due:
                task: Task | None = self._due.popleft()
            elif self.held < self._lookahead:
                task = new_task()
            else:
                task = None
            if task is None:
                return None
            if self._origin_full(task):
                self._park(task)
                continue
            if self._pacer is not None and not self._pacer.take(now):
                self._due.appendleft(task)
                return None
            if task.origin is not None:
                self._load[task.origin] = self._load.get(task.origin, 0) + 1
            return task

    def finished(self, task: Task) -> None:
        """An attempt of `task` ended (whatever its outcome): its origin has room again."""
        origin = task.origin
        if origin is None:
            return
        load = self._load[origin] - 1
        if load:
            self._load[origin] = load
        else:
            del self._load[origin]
        parked = self._parked.get(origin)
        if parked:
            self._due.append(parked.popleft())
            self._parked_count -= 1
            if not parked:
                del self._parked[origin]

    def retry_at(self, task: Task, when: float) -> None:
        """Hold `task` until the monotonic time `when`."""
        heapq.heappush(self._later, (when, next(self._order), task))

    def wake_at(self) -> float | None:
        """When something held becomes due (a retry, or the rate's next start), if ever."""
        times = []
        if self._later:
            times.append(self._later[0][0])
        if self._due and self._pacer is not None:
            times.append(self._pacer.ready_at())
        return min(times) if times else None

    def clear(self) -> None:
        """Drop every task held or due (the run is stopping)."""
        self._due.clear()
        self._later.clear()
        self._parked.clear()
        self._parked_count = 0

    def _origin_full(self, task: Task) -> bool:
        if not self._per_host or task.origin is None:
            return False
        return self._load.get(task.origin, 0) >= self._per_host

    def _park(self, task: Task) -> None:
        assert task.origin is not None
        self._parked.setdefault(task.origin, deque()).append(task)
        self._parked_count += 1
        self.capped = True
