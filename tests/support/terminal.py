"""Running the installed `fetcher` on a pseudo-terminal with a real window size, and
reading back what a person would see on it.

`run_on_terminal` gives the child a pty as stderr (and as stdout, unless told to use a
pipe or a file) with the window size set, reads everything the child writes to the
terminal, and can send it signals once some text has appeared. `Screen` replays that
output like a terminal does (carriage returns, line feeds, cursor moves, erasing), so a
test can ask what the last visible line is.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

__all__ = ["Screen", "TerminalRun", "run_on_terminal"]

_CONTROL = re.compile(rb"\x1b\[([0-9;?]*)([A-Za-z])|\x1b[()][0-9A-B]|\r|\n|\x08|\x07")


def _set_size(fd: int, rows: int, columns: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


@dataclass
class TerminalRun:
    """What a run on a terminal produced."""

    returncode: int
    terminal: bytes  #: everything written to the pty (stderr, and stdout when it is the pty)
    stdout: bytes  #: stdout when it was a pipe (else empty)

    @property
    def screen(self) -> Screen:
        return Screen.replay(self.terminal)


def run_on_terminal(
    command: Sequence[str],
    *,
    stdout: str = "terminal",
    stdin: bytes | None = None,
    columns: int = 120,
    rows: int = 40,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    until: Callable[[bytes], bool] | None = None,
    then_signal: int = signal.SIGINT,
    then_type: bytes | None = None,
    timeout: float = 60.0,
) -> TerminalRun:
    """Run `command` with a pty of `columns` x `rows` as stderr (`stdout`: "terminal" the
    same pty, "pipe" a pipe, "head" a pipe closed after its first line, as `| head -1`
    does); stdin is the pty unless `stdin` bytes are given.

    With `until`, `then_signal` is sent to the child once `until(terminal output)` holds,
    or `then_type` is typed on the terminal instead (`b"\x03"`: Ctrl-C as a person presses
    it, which the terminal echoes as `^C` and turns into SIGINT for the foreground group).
    """
    master, slave = pty.openpty()
    _set_size(slave, rows, columns)
    environment = {**os.environ, "COLUMNS": "", "LINES": "", **(env or {})}
    environment = {k: v for k, v in environment.items() if v != ""}
    out = slave if stdout == "terminal" else subprocess.PIPE
    child = subprocess.Popen(
        list(command),
        stdin=subprocess.PIPE if stdin is not None else slave,
        stdout=out,
        stderr=slave,
        env=environment,
        cwd=cwd,
        start_new_session=True,
        preexec_fn=_controlling_terminal(slave),
    )
    os.close(slave)
    if stdin is not None:
        assert child.stdin is not None
        child.stdin.write(stdin)
        child.stdin.close()
    head = None
    if stdout == "head":
        assert child.stdout is not None
        head = threading.Thread(target=_read_one_line, args=(child.stdout,), daemon=True)
        head.start()

    def act() -> None:
        if then_type is not None:
            os.write(master, then_type)
        else:
            child.send_signal(then_signal)

    terminal = _read_until_exit(master, child, until, act, timeout)
    if head is not None:
        head.join(timeout)
    piped = child.stdout.read() if child.stdout is not None and head is None else b""
    if child.stdout is not None:
        child.stdout.close()
    child.wait(timeout=timeout)
    os.close(master)
    return TerminalRun(child.returncode, terminal, piped)


def _read_one_line(stream: IO[bytes]) -> None:
    stream.readline()
    stream.close()


def _controlling_terminal(slave: int) -> Callable[[], None]:
    def make_controlling() -> None:
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    return make_controlling


def _read_until_exit(
    master: int,
    child: subprocess.Popen[bytes],
    until: Callable[[bytes], bool] | None,
    act: Callable[[], None],
    timeout: float,
) -> bytes:
    output = bytearray()
    deadline = time.monotonic() + timeout
    signalled = until is None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not data:
                break
            output += data
        elif child.poll() is not None and not _pending(master):
            break
        if not signalled and until is not None and until(bytes(output)):
            act()
            signalled = True
    else:
        child.kill()
        raise TimeoutError(f"no exit in {timeout}s; terminal so far: {bytes(output)!r}")
    return bytes(output)


def _pending(master: int) -> bool:
    ready, _, _ = select.select([master], [], [], 0)
    return bool(ready)


@dataclass
class Screen:
    """A terminal's text after replaying output: lines, with the cursor moved and text
    erased as a terminal would (SGR colours dropped)."""

    lines: list[str] = field(default_factory=lambda: [""])

    @classmethod
    def replay(cls, data: bytes) -> Screen:
        screen = cls()
        row = column = 0
        position = 0
        text = data
        for match in _CONTROL.finditer(text):
            row, column = screen._put(row, column, text[position : match.start()])
            row, column = screen._control(row, column, match)
            position = match.end()
        screen._put(row, column, text[position:])
        return screen

    def _line(self, row: int) -> str:
        while len(self.lines) <= row:
            self.lines.append("")
        return self.lines[row]

    def _put(self, row: int, column: int, chunk: bytes) -> tuple[int, int]:
        if not chunk:
            return row, column
        piece = chunk.decode("utf-8", "replace")
        line = self._line(row).ljust(column)
        self.lines[row] = line[:column] + piece + line[column + len(piece) :]
        return row, column + len(piece)

    def _control(self, row: int, column: int, match: re.Match[bytes]) -> tuple[int, int]:
        token = match.group(0)
        if token == b"\r":
            return row, 0
        if token == b"\n":
            self._line(row + 1)
            return row + 1, 0  # the pty turns LF into CR LF
        if token == b"\x08":
            return row, max(0, column - 1)
        final = match.group(2)
        number = int(match.group(1) or "0") if (match.group(1) or "").isdigit() else 0
        if final == b"A":
            return max(0, row - max(1, number)), column
        if final == b"B":
            self._line(row + max(1, number))
            return row + max(1, number), column
        if final == b"K":
            line = self._line(row)
            self.lines[row] = line[:column] if number == 0 else ""
        return row, column

    @property
    def visible(self) -> list[str]:
        """The lines with text, trailing blanks removed."""
        return [line.rstrip() for line in self.lines if line.strip()]

    @property
    def last_line(self) -> str:
        """The last line with text on the screen."""
        visible = self.visible
        return visible[-1] if visible else ""
