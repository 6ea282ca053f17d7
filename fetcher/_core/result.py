"""The record fetcher produces for every input URL, and the outcome of one attempt."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import FailureKind

__all__ = ["FIELDS", "Attempt", "FetchResult", "record_of"]


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What happened to one URL (its record): a plain, picklable value, never a parse tree.

    `error` is None when a response was received and read within limits; an HTTP status
    of 400 or more is reported by `status`, not by `error`. `error_kind` names the kind
    of failure from a closed set (`fetcher.ERROR_KINDS`), None exactly when `error` is.
    `elapsed` is the last attempt's time; `attempts` counts the attempts made (retries
    included); `path` is where the body was saved (`save_dir`), or None; `location` is
    the absolute `Location` of a 3xx record (one not followed: `follow=False`, or one
    more than `max_redirects`), None otherwise. `index` is the URL's 1-based position
    among the URLs read, in order (on the command line: among all inputs, blank and
    comment lines not counted; in the API: the position in the iterable), so that a
    record names its line even when a list holds the same URL twice. Fields are only
    ever appended, never reordered.

    `body` is not a record field (not in `FIELDS`, nor in any output format): with
    `keep_body=True` it holds the decoded body, at most `max_bytes` of it.
    """

    url: str
    final_url: str | None
    status: int | None
    title: str | None
    bytes: int
    elapsed: float
    error: str | None
    attempts: int = 1
    path: str | None = None
    error_kind: FailureKind | None = None
    location: str | None = None
    index: int | None = None
    body: builtins.bytes | None = field(default=None, repr=False, metadata={"record": False})

    @property
    def ok(self) -> bool:
        """True when the page downloaded without error and with a status below 400."""
        return self.error is None and self.status is not None and self.status < 400


#: Field names in record order: the output schema of every format.
FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(FetchResult) if f.metadata.get("record", True)
)


def _record_maker() -> Callable[[Sequence[Any]], FetchResult]:
    """`record_of`: one slot set a field, written out, instead of the frozen dataclass's
    `object.__setattr__` a field (about 1.0 against 2.0 us a record)."""
    names = [f.name for f in fields(FetchResult)]
    scope: dict[str, Any] = {"_new": object.__new__, "_cls": FetchResult}
    scope |= {f"_set{i}": getattr(FetchResult, name).__set__ for i, name in enumerate(names)}
    bound = ", ".join(f"{name}={name}" for name in scope)  # locals, not globals: faster
    values = [f"_value{i}" for i in range(len(names))]  # not the fields' own names
    lines = [f"def record_of(values, *, {bound}):", f"    {', '.join(values)}, = values"]
    lines.append("    record = _new(_cls)")
    lines += [f"    _set{i}(record, {value})" for i, value in enumerate(values)]
    lines.append("    return record")
    exec(compile("\n".join(lines), "<record_of>", "exec"), scope)  # source from field names
    maker: Callable[[Sequence[Any]], FetchResult] = scope["record_of"]
    return maker


record_of = _record_maker()
record_of.__doc__ = """A `FetchResult` from the values of all its fields in order (`body` last), as
`FetchResult(*values)` builds it but in half the time: for records that arrive by the
thousand (a cluster client decoding its nodes' frames). `ValueError` unless there is
exactly one value a field."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at a URL, as a pool hands it to the runner: the record, and whether another
    try could end differently.

    `retry_after` is the wait in seconds a `Retry-After` header asked for, if any;
    `gave_up` says that the URL's total time (`total_timeout`) ran out during this try.
    The failure's kind is the record's `error_kind`.
    """

    result: FetchResult
    retryable: bool = False
    retry_after: float | None = None
    gave_up: bool = False
