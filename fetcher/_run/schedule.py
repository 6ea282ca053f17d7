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

from .._core.result import FetchResult

__all__ = ["LOOKAHEAD", "Pacer", "Scheduler", "URLState"]

#: URLs held back at most (waiting for a busy origin or for a retry) before reading pauses.
LOOKAHEAD = 10_000


@dataclass(slots=True, eq=False)
class URLState:
    """The runner's state of one input URL on its way to its record, across attempts."""

    url: str
    origin: str | None  # the per-origin cap's key; None when no cap applies
    attempts: int = 0  # attempts submitted so far
    crashes: int = 0  # attempts lost with a worker process that died
    started: float = 0.0  # when the current attempt was submitted (monotonic)
    deadline: float | None = None  # when the URL's total time runs out (monotonic)
    last: FetchResult | None = None  # the record of its latest attempt, once one ended
    where: str | None = None  # the scheduler's queue holding it ("due", "later", "parked")
    index: int = 0  # its 1-based position among the URLs read (the record's `index`)


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
    """Orders URLs for submission: first those due again, then new ones, within the caps.

    A state waiting here after an attempt (for a retry, a busy origin or the rate) may run
    out of its total time (`URLState.deadline`) meanwhile: `expired` hands such URLs
    back, and `wake_at` wakes the runner when the first one does. Removal is lazy: an
    expired state stays in its queue, marked, and is skipped when its turn comes.
    """

    def __init__(self, per_host: int, rate: float | None, lookahead: int = LOOKAHEAD) -> None:
        self._per_host = per_host
        self._pacer = Pacer(rate) if rate is not None else None
        self._lookahead = lookahead
        self._due: deque[URLState] = deque()  # may go as soon as the rate allows
        self._later: list[tuple[float, int, URLState]] = []  # (when, tie-break, state) heap
        self._deadlines: list[tuple[float, int, URLState]] = []  # held URLs' total times
        self._order = itertools.count()
        self._parked: dict[str, deque[URLState]] = {}
        self._count = {"due": 0, "later": 0, "parked": 0}  # live (not expired) URLs
        self._load: dict[str, int] = {}
        self.capped = False  # an origin's cap has made a URL wait at least once

    @property
    def held(self) -> int:
        """URLs held back: parked for a busy origin or waiting for a retry."""
        return self._count["parked"] + self._count["later"]

    @property
    def parked(self) -> int:
        """URLs waiting now for their origin to have room (the per-origin cap)."""
        return self._count["parked"]

    @property
    def idle(self) -> bool:
        """Nothing held or due: every state given out has been accounted for."""
        return not any(self._count.values())

    @property
    def wants_new(self) -> bool:
        """True when a new state would be looked at now (nothing older waits, room to hold)."""
        return not self._count["due"] and self.held < self._lookahead

    def next(self, now: float, new_state: Callable[[], URLState | None]) -> URLState | None:
        """The URL to submit now, or None; `new_state` supplies new URLs from the input."""
        while self._later and self._later[0][0] <= now:
            waiting = heapq.heappop(self._later)[2]
            if waiting.where == "later":
                self._count["later"] -= 1
                self._hold(waiting, "due")
                self._due.append(waiting)
        while True:
            state = self._pop_due()
            if state is None and self.held < self._lookahead:
                state = new_state()
            if state is None:
                return None
            if self._origin_full(state):
                self._park(state)
                continue
            if self._pacer is not None and not self._pacer.take(now):
                self._hold(state, "due")
                self._due.appendleft(state)
                return None
            if state.origin is not None:
                self._load[state.origin] = self._load.get(state.origin, 0) + 1
            return state

    def _pop_due(self) -> URLState | None:
        while self._due:
            state = self._due.popleft()
            if state.where == "due":
                self._count["due"] -= 1
                state.where = None
                return state
        return None

    def finished(self, state: URLState) -> None:
        """An attempt of `state` ended (whatever its outcome): its origin has room again."""
        origin = state.origin
        if origin is None:
            return
        load = self._load[origin] - 1
        if load:
            self._load[origin] = load
        else:
            del self._load[origin]
        parked = self._parked.get(origin)
        while parked:
            waiting = parked.popleft()
            if waiting.where == "parked":
                self._count["parked"] -= 1
                self._hold(waiting, "due")
                self._due.append(waiting)
                break
        if parked is not None and not parked:
            del self._parked[origin]

    def retry_at(self, state: URLState, when: float) -> None:
        """Hold `state` until the monotonic time `when`."""
        self._hold(state, "later")
        heapq.heappush(self._later, (when, next(self._order), state))

    def expired(self, now: float) -> list[URLState]:
        """The held URLs whose total time has run out by `now`, taken out of the queues."""
        gone = []
        while self._deadlines and self._deadlines[0][0] <= now:
            state = heapq.heappop(self._deadlines)[2]
            if state.where is not None and state.deadline is not None and state.deadline <= now:
                self._count[state.where] -= 1
                state.where = None  # left in its queue, skipped when its turn comes
                gone.append(state)
        return gone

    def wake_at(self) -> float | None:
        """When something held becomes due (a retry, or the rate's next start), if ever."""
        times = []
        if self._later:
            times.append(self._later[0][0])
        if self._count["due"] and self._pacer is not None:
            times.append(self._pacer.ready_at())
        return min(times) if times else None

    def next_expiry(self) -> float | None:
        """When the first held state's total time runs out, if any is held with one."""
        while self._deadlines and self._deadlines[0][2].where is None:
            heapq.heappop(self._deadlines)  # handed out meanwhile: no longer a wake-up
        return self._deadlines[0][0] if self._deadlines else None

    def clear(self) -> None:
        """Drop every state held or due (the run is stopping)."""
        self._due.clear()
        self._later.clear()
        self._deadlines.clear()
        self._parked.clear()
        self._count = dict.fromkeys(self._count, 0)

    def _hold(self, state: URLState, where: str) -> None:
        """Count `state` as held in `where`; watch its total time from the first hold."""
        if state.where is None and state.deadline is not None:
            heapq.heappush(self._deadlines, (state.deadline, next(self._order), state))
        state.where = where
        self._count[where] += 1

    def _origin_full(self, state: URLState) -> bool:
        if not self._per_host or state.origin is None:
            return False
        return self._load.get(state.origin, 0) >= self._per_host

    def _park(self, state: URLState) -> None:
        assert state.origin is not None
        self._hold(state, "parked")
        self._parked.setdefault(state.origin, deque()).append(state)
        self.capped = True
