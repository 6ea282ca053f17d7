"""Which records are written: `--match-*` and `--filter-*`, as ProjectDiscovery httpx has them.

A record is written when it passes every `--match-*` given and no `--filter-*`. Status
lists are comma-separated codes (`200`), ranges (`200-299`), classes (`3xx`) and `err`
(a record with no status: the request failed before any response). Title patterns are
Python regular expressions, searched in the title as it is printed (sanitised); a
record without a title never matches one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .._core.errors import OptionError
from .._core.result import FetchResult
from .sanitize import sanitize_text

__all__ = ["RecordFilter", "parse_statuses", "parse_title_pattern"]

StatusTest = Callable[[int | None], bool]

_CODE = re.compile(r"[1-5][0-9][0-9]")
_RANGE = re.compile(r"([1-5][0-9][0-9])-([1-5][0-9][0-9])")
_CLASS = re.compile(r"([1-5])[xX][xX]")


def parse_statuses(text: str, flag: str) -> StatusTest:
    """A status list (`200,301-308,4xx,err`) as a test of a record's status."""
    tests: list[StatusTest] = []
    for item in (part.strip() for part in text.split(",")):
        tests.append(_status_test(item, text, flag))
    return lambda status: any(test(status) for test in tests)


def _status_test(item: str, text: str, flag: str) -> StatusTest:
    if item.lower() == "err":
        return lambda status: status is None
    if _CODE.fullmatch(item):
        code = int(item)
        return lambda status: status == code
    if match := _RANGE.fullmatch(item):
        low, high = int(match.group(1)), int(match.group(2))
        if low <= high:
            return lambda status: status is not None and low <= status <= high
    if match := _CLASS.fullmatch(item):
        first = int(match.group(1))
        return lambda status: status is not None and status // 100 == first
    raise OptionError(flag, f"{text!r} is not a status list (examples: 200, 200-299, 3xx, err)")


def parse_title_pattern(text: str, flag: str) -> re.Pattern[str]:
    """A title pattern (a Python regular expression)."""
    try:
        return re.compile(text)
    except re.error as exc:
        raise OptionError(flag, f"{text!r} is not a regular expression ({exc})") from None


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """The `--match-*` and `--filter-*` of a run (each None when not given)."""

    match_status: StatusTest | None = None
    filter_status: StatusTest | None = None
    match_title: re.Pattern[str] | None = None
    filter_title: re.Pattern[str] | None = None

    @property
    def active(self) -> bool:
        """Whether any filter is given (`passes` is asked once a record: no generator)."""
        return not (
            self.match_status is None
            and self.filter_status is None
            and self.match_title is None
            and self.filter_title is None
        )

    def passes(self, record: FetchResult) -> bool:
        """True when `record` is to be written."""
        if not self.active:
            return True  # the common case: no title to sanitize
        status = record.status
        title = sanitize_text(record.title) if record.title is not None else None
        if self.match_status is not None and not self.match_status(status):
            return False
        if self.match_title is not None and (title is None or not self.match_title.search(title)):
            return False
        if self.filter_status is not None and self.filter_status(status):
            return False
        return not (
            self.filter_title is not None and title is not None and self.filter_title.search(title)
        )
