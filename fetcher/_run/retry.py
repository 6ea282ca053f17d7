"""After an attempt: the URL's record, or when to try it again.

Whether an attempt is worth another is decided where it failed (the attempt's
`retryable`, from its failure's kind). Here: up to `retries` more, after an exponential
backoff with jitter, or the wait a `Retry-After` asked for, unless that is beyond
`max_retry_wait` or the URL's total time would run out first. The records the runner
makes itself (a crash, a pool that failed, a total time that ran out) are built here too.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import BrokenExecutor
from dataclasses import replace

from .._core.errors import ExecutorError, FailureKind
from .._core.options import FetchOptions
from .._core.result import Attempt, FetchResult
from .schedule import URLState

__all__ = [
    "BACKOFF_BASE",
    "CRASHED_TWICE",
    "after_attempt",
    "backoff_delay",
    "describe_pool_error",
    "executor_record",
    "failed_record",
    "gave_up_record",
    "not_a_string_record",
]

#: The error of a URL whose attempts killed their worker process twice.
CRASHED_TWICE = "worker process died twice while fetching this URL (the second time alone)"

#: Backoff before the first retry; it doubles for each further one.
BACKOFF_BASE = 0.5


def backoff_delay(retry: int, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number `retry` (1 for the first), at most `cap`.

    Exponential backoff with "equal jitter": between half and all of 0.5 s x 2^(retry-1),
    so that URLs that failed together (a host restarting) do not all return together.
    """
    full = min(cap, BACKOFF_BASE * 2.0 ** min(retry - 1, 60))
    return full / 2 + (rng or random).uniform(0, full / 2)


def after_attempt(
    state: URLState, attempt: Attempt, options: FetchOptions, stopping: bool, now: float
) -> FetchResult | float:
    """The URL's record after `attempt`, or the monotonic time to try it again."""
    result = state.last = attempt.result
    total = options.total_timeout
    if state.deadline is None and total is not None:  # the clock started with the attempt
        state.deadline = now - result.elapsed + total
    if attempt.gave_up:
        return gave_up_record(state, result, options)
    if attempt.retryable and state.attempts <= options.retries and not stopping:
        limit = options.max_retry_wait
        asked = attempt.retry_after
        if asked is not None and asked > limit:
            wait = f"{asked:g}" if asked < 1e6 else f"{asked:.0f}"
            error = f"server asked to retry after {wait}s, beyond max-retry-wait ({limit:g}s)"
            return replace(
                result,
                attempts=state.attempts,
                error=error,
                error_kind="retry_after",
                index=state.index,
            )
        due = now + (asked if asked is not None else backoff_delay(state.attempts, limit))
        if state.deadline is None or due < state.deadline:  # else: no time for another
            return due
    return _stamped(result, state)


def _stamped(result: FetchResult, state: URLState) -> FetchResult:
    """`result` with the URL's attempt count and index, set in place.

    The record is the attempt's own, made for this URL and seen by nobody else yet, so
    stamping it is safe (it is what a frozen dataclass's `__init__` does); a
    `dataclasses.replace` per record took about a tenth of the GIL's samples at 64
    workers (`scripts/profile_cpu.py`).
    """
    object.__setattr__(result, "attempts", state.attempts)
    object.__setattr__(result, "index", state.index)
    return result


def gave_up_record(state: URLState, result: FetchResult, options: FetchOptions) -> FetchResult:
    """The record of a URL whose total time (`total_timeout`) ran out."""
    total, count = options.total_timeout or 0.0, state.attempts
    error = f"gave up after {total:g}s ({count} attempt{'s' if count != 1 else ''})"
    return replace(result, attempts=count, error=error, error_kind="timeout", index=state.index)


def failed_record(state: URLState, error: str, kind: FailureKind) -> FetchResult:
    """The record of a URL the pool could not give one (a crash, a failed executor)."""
    elapsed = time.monotonic() - state.started if state.started else 0.0
    return FetchResult(
        state.url,
        None,
        None,
        None,
        0,
        elapsed,
        error,
        attempts=state.attempts,
        error_kind=kind,
        index=state.index,
    )


def executor_record(url: str, index: int, error: str) -> FetchResult:
    """The record of a URL no worker could be given (a cluster's nodes lost)."""
    return FetchResult(url, None, None, None, 0, 0.0, error, error_kind="executor", index=index)


def describe_pool_error(exc: BaseException) -> str:
    """What a pool's failure to run an attempt says in the record."""
    if isinstance(exc, BrokenExecutor):
        return "worker process died"
    if isinstance(exc, ExecutorError):
        return str(exc)
    return f"worker failed: {type(exc).__name__}"


def not_a_string_record(item: object, index: int) -> FetchResult:
    """The record of an item of the URL iterable that is no string (the API takes any)."""
    return FetchResult(
        repr(item),
        None,
        None,
        None,
        0,
        0.0,
        "not a URL string",
        error_kind="invalid_url",
        index=index,
    )
