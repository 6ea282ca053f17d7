"""The one options object that travels from the caller down to every worker."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from ._version import __version__

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_REDIRECTS",
    "DEFAULT_TIMEOUT",
    "DEFAULT_WORKERS",
    "EXECUTORS",
    "MAX_MAX_BYTES",
    "MAX_TIMEOUT",
    "WINDOW_PER_WORKER",
    "ExecutorName",
    "FetchOptions",
]

ExecutorName = Literal["thread", "process", "hybrid"]
EXECUTORS: tuple[ExecutorName, ...] = ("thread", "process", "hybrid")

#: Concurrent requests by default: enough to hide network latency on a small machine.
DEFAULT_WORKERS = 16
#: Seconds one attempt may take as a whole: name resolution, connect, headers and body.
DEFAULT_TIMEOUT = 10.0
#: Largest body kept, counted after decompression (10 MiB).
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
#: Redirects followed before a URL is reported as an error (as browsers and httpx do).
DEFAULT_MAX_REDIRECTS = 20
#: Largest accepted timeout (a day) and body cap (1 TiB): beyond them a value is a typo.
MAX_TIMEOUT = 86_400.0
MAX_MAX_BYTES = 1 << 40
#: Submitted-but-unfinished URLs allowed per worker: memory follows this, not the list size.
WINDOW_PER_WORKER = 2


@dataclass(frozen=True, slots=True)
class FetchOptions:
    """How to fetch: a frozen, picklable value handed unchanged to every worker.

    Invalid values raise `ValueError` at construction, so a bad option fails before any
    request is made.
    """

    workers: int = DEFAULT_WORKERS
    executor: ExecutorName = "thread"
    timeout: float = DEFAULT_TIMEOUT
    max_bytes: int = DEFAULT_MAX_BYTES
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    user_agent: str = field(default=f"fetcher/{__version__}")

    def __post_init__(self) -> None:
        if isinstance(self.workers, bool) or not isinstance(self.workers, int):
            raise ValueError(f"workers must be an integer, not {self.workers!r}")
        if not 1 <= self.workers <= 1024:
            raise ValueError(f"workers must be between 1 and 1024, not {self.workers}")
        if self.executor not in EXECUTORS:
            choices = ", ".join(EXECUTORS)
            raise ValueError(f"executor must be one of {choices}, not {self.executor!r}")
        if not (isinstance(self.timeout, int | float) and math.isfinite(self.timeout)):
            raise ValueError(f"timeout must be a finite number of seconds, not {self.timeout!r}")
        if not 0 < self.timeout <= MAX_TIMEOUT:
            raise ValueError(
                f"timeout must be above 0 and at most {MAX_TIMEOUT:g}, not {self.timeout}"
            )
        if isinstance(self.max_bytes, bool) or not isinstance(self.max_bytes, int):
            raise ValueError(f"max_bytes must be an integer, not {self.max_bytes!r}")
        if not 1 <= self.max_bytes <= MAX_MAX_BYTES:
            raise ValueError(f"max_bytes must be from 1 to {MAX_MAX_BYTES}, not {self.max_bytes}")
        if isinstance(self.max_redirects, bool) or not isinstance(self.max_redirects, int):
            raise ValueError(f"max_redirects must be an integer, not {self.max_redirects!r}")
        if self.max_redirects < 0:
            raise ValueError(f"max_redirects must be 0 or more, not {self.max_redirects}")

    @property
    def window(self) -> int:
        """How many URLs may be submitted and unfinished at once."""
        return WINDOW_PER_WORKER * self.workers
