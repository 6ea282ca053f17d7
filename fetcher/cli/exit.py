"""Exit statuses: what a run's outcome means to the shell, decided in one place."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from enum import IntEnum

from .._core.errors import ExecutorError, FetcherError, InputError, SaveDirError

__all__ = ["ExitCode", "Outcome", "exit_status"]


class ExitCode(IntEnum):
    """What the process's exit status means."""

    OK = 0  #: every URL fetched with a status below 400 (or, first-only: a success)
    FAILED = 1  #: some URL failed or had a status of 400 or more (first-only: none succeeded)
    USAGE = 2  #: bad arguments, a URL list that cannot be read, an unusable output or folder
    UNAVAILABLE = 69  #: the executor could not run (a Dask scheduler unreachable or lost)
    INTERNAL = 70  #: a bug in fetcher (reported in one line; please file it)
    IO_ERROR = 74  #: records could not be written (disk full, I/O error)
    INTERRUPTED = 130  #: Ctrl-C; every record finished before it (or in the grace) written
    BROKEN_PIPE = 141  #: the reader of stdout went away (as a tool killed by SIGPIPE)
    TERMINATED = 143  #: SIGTERM; as for Ctrl-C


@dataclass
class Outcome:
    """How a run ended, as the session saw it."""

    ok: int = 0  #: records written that succeeded
    failed: int = 0  #: records written that failed
    first_only: bool = False
    signal: int | None = None  #: the first stopping signal received
    broken_pipe: bool = False  #: the reader of stdout went away
    write_error: str | None = None  #: records could not be written
    error: FetcherError | None = None  #: the run stopped on this


def exit_status(outcome: Outcome) -> ExitCode:
    """The exit status of a run that ended as `outcome` says."""
    if outcome.broken_pipe:
        return ExitCode.BROKEN_PIPE
    if outcome.write_error is not None:
        return ExitCode.IO_ERROR
    if isinstance(outcome.error, InputError | SaveDirError):
        return ExitCode.USAGE
    if isinstance(outcome.error, ExecutorError):
        return ExitCode.UNAVAILABLE
    if outcome.error is not None:
        return ExitCode.INTERNAL
    if outcome.signal is not None:
        return ExitCode.TERMINATED if outcome.signal == signal.SIGTERM else ExitCode.INTERRUPTED
    if outcome.first_only:
        return ExitCode.OK if outcome.ok else ExitCode.FAILED
    return ExitCode.FAILED if outcome.failed else ExitCode.OK
