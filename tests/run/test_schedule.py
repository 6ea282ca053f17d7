"""The scheduler, the pacer and the retry decision on a fake clock: `now` is an argument.

None of these reads a clock itself, so every timing rule is checked exactly, with no
sleep and no real server.
"""

from __future__ import annotations

import random

import pytest

from fetcher import FetchOptions, FetchResult
from fetcher._core.result import Attempt
from fetcher._run.retry import after_attempt, backoff_delay
from fetcher._run.schedule import Pacer, Scheduler, URLState


def state(url: str = "http://a.example/x", origin: str | None = "http://a.example:80") -> URLState:
    return URLState(url, origin)


def feed(*states: URLState) -> object:
    """A `new_state` source handing out `states` in order, then None."""
    pending = list(states)
    return lambda: pending.pop(0) if pending else None


# Pacer


def test_the_pacer_spaces_starts_by_the_rate() -> None:
    pacer = Pacer(2.0)
    assert pacer.take(10.0)
    assert not pacer.take(10.2)
    assert pacer.ready_at() == 10.5
    assert pacer.take(10.5) and not pacer.take(10.9) and pacer.take(11.0)


def test_above_100_per_second_starts_come_in_bursts_of_a_fiftieth() -> None:
    pacer = Pacer(500.0)
    now = 100.0
    pacer.take(now - 1)  # a start long ago: the burst allowance is there now
    burst = sum(pacer.take(now) for _ in range(50))
    assert burst == 10  # 500 / 50


# Scheduler: caps, retries, look-ahead


def test_an_origin_at_its_cap_parks_its_urls_while_others_flow() -> None:
    scheduler = Scheduler(per_host=1, rate=None)
    a1, a2 = state("http://a.example/1"), state("http://a.example/2")
    b = state("http://b.example/", "http://b.example:80")
    new = feed(a1, a2, b)
    assert scheduler.next(0.0, new) is a1
    assert scheduler.next(0.0, new) is b  # a2 parked behind a1
    assert scheduler.held == 1 and scheduler.capped
    scheduler.finished(a1)
    assert scheduler.next(0.0, new) is a2
    assert scheduler.next(0.0, new) is None


def test_a_retry_is_held_until_it_is_due() -> None:
    scheduler = Scheduler(per_host=0, rate=None)
    retried = state()
    scheduler.retry_at(retried, 5.0)
    assert scheduler.wake_at() == 5.0
    assert scheduler.next(4.9, feed()) is None
    assert scheduler.next(5.0, feed()) is retried
    assert scheduler.idle


def test_reading_pauses_while_the_look_ahead_is_full() -> None:
    scheduler = Scheduler(per_host=1, rate=None, lookahead=2)
    states = [state(f"http://a.example/{i}") for i in range(5)]
    new = feed(*states)
    assert scheduler.next(0.0, new) is states[0]
    assert scheduler.next(0.0, new) is None  # two parked: nothing more is read
    assert scheduler.held == 2 and not scheduler.wants_new


def test_the_rate_holds_a_url_it_does_not_start() -> None:
    scheduler = Scheduler(per_host=0, rate=1.0)
    first, second = state("http://a.example/1"), state("http://a.example/2")
    new = feed(first, second)
    assert scheduler.next(0.0, new) is first
    assert scheduler.next(0.5, new) is None
    assert scheduler.wake_at() == 1.0
    assert scheduler.next(1.0, new) is second


# Scheduler: total time running out while held


def test_a_held_url_whose_total_time_runs_out_is_handed_back() -> None:
    scheduler = Scheduler(per_host=1, rate=None)
    busy, waiting = state("http://a.example/busy"), state("http://a.example/wait")
    waiting.deadline = 3.0
    assert scheduler.next(0.0, feed(busy)) is busy
    scheduler.retry_at(waiting, 1.0)
    assert scheduler.next(1.0, feed()) is None  # due, but parked behind the busy one
    assert scheduler.next_expiry() == 3.0
    assert scheduler.expired(2.9) == []
    assert scheduler.expired(3.0) == [waiting]
    assert scheduler.idle  # counted out at once, though left in its queue
    scheduler.finished(busy)
    assert scheduler.next(3.1, feed()) is None  # the expired one is skipped, not handed out


def test_a_url_handed_out_before_its_deadline_is_not_expired() -> None:
    scheduler = Scheduler(per_host=0, rate=None)
    retried = state()
    retried.deadline = 10.0
    scheduler.retry_at(retried, 1.0)
    assert scheduler.next(1.0, feed()) is retried
    assert scheduler.expired(11.0) == [] and scheduler.next_expiry() is None


# The decision after an attempt


def attempt(retryable: bool = True, retry_after: float | None = None, **record: object) -> Attempt:
    fields = {"url": "u", "final_url": None, "status": 503, "title": None, "bytes": 0}
    fields |= {"elapsed": 0.5, "error": None, **record}
    return Attempt(FetchResult(**fields), retryable, retry_after)  # type: ignore[arg-type]


def tried(times: int) -> URLState:
    url_state = state()
    url_state.attempts = times
    return url_state


def test_a_retry_after_sets_the_next_attempt_exactly() -> None:
    options = FetchOptions(retries=2, max_retry_wait=30)
    assert after_attempt(tried(1), attempt(retry_after=7.0), options, False, 100.0) == 107.0


def test_a_retry_after_beyond_the_limit_ends_the_url() -> None:
    options = FetchOptions(retries=2, max_retry_wait=30)
    record = after_attempt(tried(1), attempt(retry_after=31.0), options, False, 0.0)
    assert isinstance(record, FetchResult) and record.error_kind == "retry_after"
    assert record.error == "server asked to retry after 31s, beyond max-retry-wait (30s)"


def test_no_retry_once_retries_run_out_or_the_run_stops() -> None:
    options = FetchOptions(retries=1)
    assert isinstance(after_attempt(tried(2), attempt(), options, False, 0.0), FetchResult)
    assert isinstance(after_attempt(tried(1), attempt(), options, True, 0.0), FetchResult)
    last = after_attempt(tried(2), attempt(), options, False, 0.0)
    assert isinstance(last, FetchResult) and last.attempts == 2


def test_the_total_clock_starts_with_the_first_attempt() -> None:
    options = FetchOptions(total_timeout=5.0, retries=3)
    url_state = tried(1)
    due = after_attempt(url_state, attempt(retry_after=1.0), options, False, 100.0)
    assert url_state.deadline == 104.5  # 100 - 0.5 s the attempt took + 5
    assert due == 101.0
    late = after_attempt(tried(1), attempt(retry_after=4.6), options, False, 100.0)
    assert isinstance(late, FetchResult)  # no time left for another attempt


def test_an_attempt_cut_by_the_total_time_gives_up() -> None:
    options = FetchOptions(total_timeout=3.0)
    cut = Attempt(attempt().result, retryable=False, gave_up=True)
    record = after_attempt(tried(2), cut, options, False, 0.0)
    assert isinstance(record, FetchResult)
    assert (record.error, record.error_kind) == ("gave up after 3s (2 attempts)", "timeout")


@pytest.mark.parametrize("retry", [1, 2, 3, 8])
def test_backoff_is_between_half_and_all_of_its_doubling_step(retry: int) -> None:
    rng = random.Random(retry)
    full = min(30.0, 0.5 * 2 ** (retry - 1))
    delays = [backoff_delay(retry, 30.0, rng) for _ in range(200)]
    assert all(full / 2 <= delay <= full for delay in delays)
    assert max(backoff_delay(60, 2.0, rng) for _ in range(50)) <= 2.0
