"""Raising the open-files limit, for processes that hold many connections at once."""

from __future__ import annotations

import contextlib

__all__ = ["allow_many_connections"]


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
