"""The record fetcher produces for every input URL."""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["FIELDS", "FetchResult"]


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What happened to one URL: a plain, picklable value that never holds a parse tree.

    `error` is None when a response was received and read within limits; an HTTP status
    of 400 or more is reported by `status`, not by `error`. `elapsed` is the last attempt's
    time; `attempts` counts the attempts made (retries included); `path` is where the body
    was saved (`save_dir`), or None.
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

    @property
    def ok(self) -> bool:
        """True when the page downloaded without error and with a status below 400."""
        return self.error is None and self.status is not None and self.status < 400


#: Field names in record order: the output schema of every format.
FIELDS: tuple[str, ...] = tuple(f.name for f in fields(FetchResult))
