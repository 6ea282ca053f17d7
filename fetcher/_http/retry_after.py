"""Which answers are worth another try, and the wait a `Retry-After` header asks for.

Only what a second try can cure is retried: connection failures, timeouts (decided where
they are classified), and the statuses a busy or restarting server answers with (429,
502, 503, 504). Other 4xx and 500 are the page's answer and are reported as they are.
"""

from __future__ import annotations

import re
import time
from email.utils import parsedate_to_datetime

__all__ = ["LONGEST_RETRY_AFTER", "RETRY_STATUSES", "parse_retry_after"]

#: Statuses retried: too many requests, and a gateway or server that is briefly unwell.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: A `Retry-After` is read as at most this (about 31 years): beyond any --max-retry-wait.
LONGEST_RETRY_AFTER = 1e9
_DIGITS = re.compile(r"[0-9]+")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """The wait a `Retry-After` header asks for, in seconds; None if absent or unreadable.

    The header holds either a number of seconds or an HTTP date (RFC 9110 10.2.3); a date
    in the past means "now". `now` is a Unix time (default: the current time).
    """
    if value is None:
        return None
    text = value.strip()
    if _DIGITS.fullmatch(text):  # ASCII digits only: str.isdigit() also accepts "²"
        return min(float(text), LONGEST_RETRY_AFTER) if len(text) < 16 else LONGEST_RETRY_AFTER
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT
        return None
    wait = when.timestamp() - (time.time() if now is None else now)
    return min(max(0.0, wait), LONGEST_RETRY_AFTER)
