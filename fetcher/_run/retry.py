"""How long a URL waits before its next attempt: exponential backoff with jitter.

Whether an attempt is worth another is decided where it failed (the attempt's
`retryable`); a `Retry-After` the server sent replaces the backoff (see the runner).
"""

from __future__ import annotations

import random

__all__ = ["BACKOFF_BASE", "backoff_delay"]

#: Backoff before the first retry; it doubles for each further one.
BACKOFF_BASE = 0.5


def backoff_delay(retry: int, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number `retry` (1 for the first), at most `cap`.

    Exponential backoff with "equal jitter": between half and all of 0.5 s x 2^(retry-1),
    so that URLs that failed together (a host restarting) do not all return together.
    """
    full = min(cap, BACKOFF_BASE * 2.0 ** min(retry - 1, 60))
    return full / 2 + (rng or random).uniform(0, full / 2)
