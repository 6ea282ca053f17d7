"""What a person sees of a run: records on stdout (or a file), a progress bar and the
summary on stderr, drawn over the command's `Environment`.

Records are written the moment they complete and flushed as soon as no other finished
record is ready to follow at once (a burst costs one system call), so an output file
holds every finished record as a whole line whatever stops the run, short of a kill in
the microseconds between a record and the end of its burst. A progress bar, when
shown on the terminal the records go to, is cleared around each record so neither tears
the other. stderr is best-effort (`env.Stderr`): losing it changes nothing else.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .._core.result import FetchResult
from .._output.formats import RecordWriter
from .env import Stderr

if TYPE_CHECKING:
    from .._run.runner import FetchRun
    from .summary import Tally

__all__ = ["Console", "WriteFailed", "write_errors"]

_TICK_SECONDS = 0.5  # how often the bar's counts are redrawn while nothing finishes
#: Back to the start of the line and erase it: what tqdm's own clearing leaves (a `^C`
#: the terminal echoed after the bar).
_ERASE_LINE = "\r\x1b[K"


def _columns() -> int:
    """The bar's width: the terminal's, less 3 columns, so that a `^C` the terminal echoes
    after the bar does not wrap onto a line the bar's clearing would not reach."""
    try:
        return max(20, os.get_terminal_size(2).columns - 3)
    except OSError:
        return 77


class WriteFailed(Exception):
    """Writing a record failed (disk full, I/O error): the run cannot keep its results."""


class Console:
    """Writes records, a progress bar and summary lines for one command-line run.

    `to_terminal` says that the records go to the terminal the bar is drawn on, so the
    bar is cleared around each record.
    """

    def __init__(
        self,
        writer: RecordWriter,
        err: Stderr,
        *,
        to_terminal: bool = False,
        show_progress: bool = False,
        show_summary: bool = True,
    ) -> None:
        self._writer = writer
        self._err = err
        self._to_terminal = to_terminal
        self._show_progress = show_progress
        self.show_summary = show_summary
        self._bar: Any = None
        self._run: FetchRun | None = None
        self._noted = 0.0  # when the bar's counts were last redrawn
        self._counts = ""  # the counts beside the bar
        self._ticker: threading.Event | None = None

    def start_bar(self, total: int | None, run: FetchRun | None = None) -> None:
        """Draw the progress bar (if asked for and stderr is still there). It is cleared
        when it closes (`leave=False`): the last line is the summary, never a stale bar."""
        if not self._show_progress or self._err.lost:
            return
        from tqdm import tqdm  # type: ignore[import-untyped]

        tqdm.monitor_interval = 0  # no monitor thread: Ctrl-C must reach the main thread
        self._run = run
        self._bar = tqdm(
            total=total,
            unit="url",
            file=self._err,
            ncols=_columns(),
            mininterval=0.2,
            leave=False,
        )
        if run is not None:
            self._ticker = threading.Event()
            threading.Thread(target=self._tick, args=(self._ticker,), daemon=True).start()

    def close_bar(self) -> None:
        if self._ticker is not None:
            self._ticker.set()
            self._ticker = None
        bar = self._bar
        if bar is not None:
            with bar.get_lock():
                self._bar = None
                bar.close()
                self._err.write(_ERASE_LINE)  # and whatever the terminal echoed after it

    def _tick(self, stop: threading.Event) -> None:
        """Redraw the bar's counts twice a second, so that it says when the per-host cap
        holds the run back even while no record finishes."""
        while not stop.wait(_TICK_SECONDS):
            bar = self._bar
            if bar is None:
                return
            with bar.get_lock():
                if self._bar is bar:
                    bar.ncols = _columns()  # follow the window's width
                    self._set_counts(bar)
                    bar.refresh()

    def _set_counts(self, bar: Any) -> None:
        parts = [self._counts] if self._counts else []
        if self._run is not None and self._run.held_by_cap:
            parts.append("waiting on per-host cap")
        bar.set_postfix_str(", ".join(parts), refresh=False)

    def count(self, tally: Tally, finished: int) -> None:
        """Advance the bar by `finished` records, with the run's counts beside it (and a
        word when the per-host cap is what holds the run back)."""
        bar = self._bar
        if bar is None:
            return
        counts = f"ok={tally.ok:,} failed={tally.failed:,}"
        if tally.filtered:
            counts += f" filtered={tally.filtered:,}"
        self._counts = counts
        now = time.monotonic()
        if now - self._noted >= _TICK_SECONDS / 2:  # a redraw costs more than a count
            self._noted = now
            self._set_counts(bar)
        bar.update(finished)

    def write(self, result: FetchResult) -> None:
        """Write one record at once. `WriteFailed` if it cannot be written,
        `BrokenPipeError` as it comes."""
        self.write_all([result])

    def write_all(
        self, results: Sequence[FetchResult], rendered: Sequence[bytes | None] | None = None
    ) -> None:
        """Write a burst of records in one piece (`rendered`: each one's bytes, or None,
        when its node made them), the bar cleared once around them if it is drawn on the
        same terminal. `WriteFailed` if they cannot be written, `BrokenPipeError` as it
        comes."""
        with write_errors(), self._bar_cleared(self._to_terminal):
            self._writer.write_all(results, rendered)

    def close_writer(self) -> None:
        with write_errors():
            self._writer.close()

    def note(self, line: str) -> None:
        """A line on stderr while the bar may be drawn there."""
        with self._bar_cleared(True):
            self._err.line(line)

    def summary(self, line: str) -> None:
        """A summary line on stderr, unless the summary is off (`-q`)."""
        if self.show_summary:
            self._err.line(line)

    def error(self, line: str) -> None:
        """An error line on stderr (always shown)."""
        self.close_bar()
        self._err.line(f"fetcher: error: {line}")

    @contextmanager
    def _bar_cleared(self, needed: bool) -> Iterator[None]:
        """Clear the bar while something else is written to its terminal, then redraw it."""
        bar = self._bar
        if bar is None or not needed:
            yield
            return
        with bar.get_lock():
            bar.clear()
            self._err.write(_ERASE_LINE)
            try:
                yield
            finally:
                bar.refresh()


@contextmanager
def write_errors() -> Iterator[None]:
    """A failed write (disk full) as `WriteFailed`; a closed pipe stays `BrokenPipeError`."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise WriteFailed(exc.strerror or str(exc)) from None
