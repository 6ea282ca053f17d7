"""Exit codes of the command line."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitCode"]


class ExitCode(IntEnum):
    """What the process's exit status means."""

    OK = 0  #: every URL fetched with a status below 400 (or, first-only: a success)
    FAILED = 1  #: some URL failed or had a status of 400 or more (first-only: none succeeded)
    USAGE = 2  #: bad arguments, or a URL list that cannot be read
    UNAVAILABLE = 69  #: the executor could not run (a Dask scheduler unreachable or lost)
    INTERNAL = 70  #: a bug in fetcher (reported in one line; please file it)
    IO_ERROR = 74  #: records could not be written (disk full, I/O error)
    INTERRUPTED = 130  #: Ctrl-C; every record finished before it (or in the grace) written
    BROKEN_PIPE = 141  #: the reader of stdout went away (as a tool killed by SIGPIPE)
    TERMINATED = 143  #: SIGTERM; as for Ctrl-C
