"""Raising the open-files limit, for processes that hold many connections at once."""

from __future__ import annotations

import contextlib

from .errors import ExecutorError

__all__ = ["FILES_PER_WORKER", "allow_many_connections", "ensure_open_files"]

#: Files a run may hold per concurrent request: the connection in use and up to four idle
#: ones kept for hosts that recur (the HTTP clients' KEEPALIVE_PER_WORKER), and headroom
#: for the process's own (lists, output, pipes to workers).
FILES_PER_WORKER = 5
_FILES_HEADROOM = 64


def allow_many_connections() -> None:
    """Raise the open-file limit toward the hard limit (65,536 at most): a connection is a
    file, and a server or a fetch node may hold thousands at once."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65_536 if hard == resource.RLIM_INFINITY else min(hard, 65_536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def ensure_open_files(workers: int) -> None:
    """Make room for `workers` concurrent requests' connections: raise the open-files soft
    limit when it is too low (256 workers may hold 1,280 files; 1,024 is a common
    default), or raise `ExecutorError` if even the hard limit is too low."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return
    needed = workers * FILES_PER_WORKER + _FILES_HEADROOM
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    allow_many_connections()
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY and soft < needed:
        raise ExecutorError(
            f"{workers} workers may hold about {needed} connections and files, but this "
            f"process may open only {soft} (ulimit -n): raise the limit or use fewer workers"
        )
