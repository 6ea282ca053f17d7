"""The command line's environment: its standard streams, guarded and injected.

A standard descriptor that is closed when fetcher starts (`2>&-`) is opened on
/dev/null at once, so that no file fetcher opens later (the output, a saved page) can
land on descriptor 0, 1 or 2 and receive what is meant for a terminal. fetcher still
knows it was closed: records meant for a closed stdout are a usage error.

Progress and summary are extras: `Stderr` writes them with `os.write` on descriptor 2
and gives up quietly if it fails (closed, `/dev/full`), so losing stderr changes neither
stdout nor the exit status, and nothing is left in a buffer for the interpreter's exit
to trip on.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

__all__ = ["Environment", "Stderr", "closed_at_start", "guard_standard_fds"]

_closed: set[int] = set()


def guard_standard_fds() -> None:
    """Open /dev/null on each of descriptors 0, 1, 2 that is closed; remember which were."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            _closed.add(fd)
    if not _closed:
        return
    while True:
        null = os.open(os.devnull, os.O_RDWR)
        if null > 2:  # every closed one is filled now
            os.close(null)
            return


def closed_at_start(fd: int) -> bool:
    """True if standard descriptor `fd` was closed when fetcher started."""
    return fd in _closed or (fd == 1 and sys.stdout is None) or (fd == 0 and sys.stdin is None)


class Stderr:
    """Best-effort text on stderr: a failed write is dropped, and so is what follows.

    The process's own stderr is written with `os.write` on descriptor 2; a stream put in
    its place (a test harness's) is written as a stream. File-like enough for tqdm
    (`write`, `flush`, `isatty`, `fileno`, `encoding`).
    """

    def __init__(self) -> None:
        stream = sys.stderr
        self._stream = None if stream is sys.__stderr__ else stream
        self.lost = closed_at_start(2) if self._stream is None else False
        self.encoding = getattr(stream, "encoding", None) or "utf-8"
        try:
            self._tty = not self.lost and bool((stream or sys.__stderr__).isatty())  # type: ignore[union-attr]
        except (OSError, ValueError, AttributeError):
            self._tty = False

    def write(self, text: str) -> int:
        if self.lost or not text:
            return len(text)
        try:
            if self._stream is not None:
                self._stream.write(text)
                self._stream.flush()
            else:
                data = text.encode(self.encoding, "replace")
                while data:
                    data = data[os.write(2, data) :]
        except (OSError, ValueError):
            self.lost = True
        return len(text)

    def line(self, text: str) -> None:
        """Write `text` as one line."""
        self.write(text + "\n")

    def flush(self) -> None:
        """Nothing is buffered."""

    def isatty(self) -> bool:
        return self._tty

    def fileno(self) -> int:
        return 2


@dataclass
class Environment:
    """What the command line runs in: its standard streams and what they are attached to.

    Commands get one instead of reaching for `sys.stdout` and friends, so tests can run
    them with their own streams and terminal answers. `stdout` receives records as
    bytes (None when it was closed); `stdin` is an in-memory stdin put in place of the
    process's own (a test harness's), None for the real descriptor 0.
    """

    stdout: BinaryIO | None
    stdout_encoding: str
    stdout_isatty: bool
    stderr: Stderr
    same_terminal: bool  #: stdout and stderr are one terminal (a bar there tears records)
    stdin: BinaryIO | None = None
    stdin_closed: bool = False
    stdin_isatty: bool = False
    environ: Mapping[str, str] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)

    @classmethod
    def from_process(cls) -> Environment:
        """The streams of this process (or those a test harness put in `sys`)."""
        stdout = sys.stdout
        closed = closed_at_start(1) or stdout is None
        stdout_isatty = not closed and _isatty(stdout)
        stderr = Stderr()
        stdin = sys.stdin
        own_stdin = stdin is sys.__stdin__ or stdin is None
        return cls(
            stdout=None if closed else stdout.buffer,
            stdout_encoding=getattr(stdout, "encoding", None) or "utf-8",
            stdout_isatty=stdout_isatty,
            stderr=stderr,
            same_terminal=stdout_isatty and stderr.isatty() and _same_device(1, 2),
            stdin=None if own_stdin else stdin.buffer,
            stdin_closed=closed_at_start(0),
            stdin_isatty=own_stdin and not closed_at_start(0) and os.isatty(0),
            environ=dict(os.environ),
            argv=list(sys.argv),
        )

    def flush_stdout(self) -> None:
        """Flush Python's own text buffer of stdout before bytes are written under it."""
        if sys.stdout is not None:
            with contextlib.suppress(OSError, ValueError):
                sys.stdout.flush()


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (OSError, ValueError, AttributeError):
        return False


def _same_device(first: int, second: int) -> bool:
    """True when two descriptors are the same terminal (or cannot be told apart)."""
    try:
        a, b = os.fstat(first), os.fstat(second)
    except OSError:
        return False
    return a.st_rdev == b.st_rdev
