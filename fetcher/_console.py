"""A run as the command line shows it: records on stdout (or a file), progress and summary
on stderr.

Records are written the moment they complete and flushed one by one, so an output file
holds every finished record as a whole line whatever stops the run. A progress bar, when
shown, is cleared around each record written to the same terminal so neither tears the
other. Ctrl-C or SIGTERM stops submitting, gives requests in flight `GRACE_SECONDS`, and
writes every record that finished; a second one stops at once. A closed stdout ends the
run quietly. Progress and summary go to a best-effort `Stderr`: losing it changes
nothing else. A URL list that fails to read mid-way ends the run once the URLs read
before the failure have their records (exit 2).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, BinaryIO

from ._exit import ExitCode
from ._inputs import InputError
from ._options import FetchOptions
from ._output import make_writer, sanitize_text
from ._pools import PoolError, SaveDirError
from ._result import FetchResult
from ._resume import FinishedURLs
from ._runner import FetchRun, fetch_all
from ._signals import HANDLED_SIGNALS
from ._stdio import Stderr

__all__ = ["GRACE_SECONDS", "Console"]

_FAILURES_LISTED = 10  # first-only with no success: failures named one by one up to this
#: After Ctrl-C or SIGTERM, how long requests in flight may take to finish.
GRACE_SECONDS = 2.0


class _WriteFailed(Exception):
    """Writing a record failed (disk full, I/O error): the run cannot keep its results."""


class Console:
    """Writes records, a progress bar and a summary for one command-line run.

    `out` receives the records (stdout's bytes or the output file); `err` the progress
    bar and the summary. `to_terminal` says that `out` is the terminal the bar is drawn
    on, so the bar is cleared around each record.
    """

    def __init__(
        self,
        output_format: str,
        *,
        out: BinaryIO,
        err: Stderr,
        text_encoding: str = "utf-8",
        to_terminal: bool = False,
        show_progress: bool,
        show_summary: bool,
        finished: FinishedURLs | None = None,
    ) -> None:
        self._out = out
        self._err = err
        self._writer = make_writer(output_format, out, text_encoding)
        self._to_terminal = to_terminal
        self._finished = finished or FinishedURLs()
        self._show_progress = show_progress
        self._show_summary = show_summary
        self._bar: Any = None
        self._ok = 0
        self._failed = 0
        self._signals: list[int] = []  # the stopping signals received, in order

    def run_all(self, urls: Iterator[str], options: FetchOptions, total: int | None) -> int:
        """Fetch every URL and write each record; the exit code says whether all were ok."""
        started = time.monotonic()
        if len(self._finished):
            urls = self._unfinished(urls)
            if total is not None:
                total = max(0, total - len(self._finished))
        run = fetch_all(urls, options)
        self._start_bar(total)
        input_error: InputError | None = None
        try:
            with _stopping_signals(run, self._signals):
                try:
                    self._emit_all(run)
                except KeyboardInterrupt:
                    finishing = run.finish(GRACE_SECONDS)
                    self._announce_stop()
                    self._emit_all(finishing)
                except InputError as exc:  # every URL read before it has its record
                    input_error = exc
            self._close_writer()
        except BrokenPipeError:
            return self._broken_pipe(run)
        except _WriteFailed as exc:
            return self._write_failed(run, exc)
        except PoolError as exc:
            return self._pool_failed(run, exc)
        finally:
            run.close()
        if input_error is not None and not input_error.urls_read:
            self._show_summary = False  # nothing was read: the error says all
        self._finish(options, started, run)
        if input_error is not None:
            self._err.line(f"fetcher: error: {input_error}")
            return ExitCode.USAGE
        if self._signals:
            return _signal_exit_code(self._signals[0])
        return ExitCode.FAILED if self._failed else ExitCode.OK

    def _unfinished(self, urls: Iterator[str]) -> Iterator[str]:
        """The URLs without a record in the resumed output (occurrences counted)."""
        take = self._finished.take
        for url in urls:
            if not take(url):
                yield url

    def run_first(self, urls: Iterator[str], options: FetchOptions) -> int:
        """Race the URLs; write the first success only; name the failures if none wins."""
        started = time.monotonic()
        failures: list[FetchResult] = []
        reasons: Counter[str] = Counter()
        run = fetch_all(urls, options)
        self._start_bar(None)
        input_error: InputError | None = None
        try:
            with _stopping_signals(run, self._signals):
                try:
                    winner = self._race(run, failures, reasons)
                except InputError as exc:
                    winner, input_error = None, exc
            if winner is not None:
                self._write(winner)  # first: closing a cluster may take seconds
                self._close_writer()
                run.close()  # then abandon the rest: the answer is known
        except KeyboardInterrupt:
            run.close()
            self._finish(options, started, run)
            return _signal_exit_code(self._signals[0] if self._signals else signal.SIGINT)
        except BrokenPipeError:
            return self._broken_pipe(run)
        except _WriteFailed as exc:
            return self._write_failed(run, exc)
        except PoolError as exc:
            return self._pool_failed(run, exc)
        finally:
            run.close()
        self._close_bar()
        if input_error is not None:
            self._err.line(f"fetcher: error: {input_error}")
            return ExitCode.USAGE
        if winner is None:
            self._report_failures(failures, reasons)
            return ExitCode.FAILED
        if self._show_summary:
            tried = self._ok + self._failed
            self._err.line(
                f"fetcher: first success after {time.monotonic() - started:.2f}s "
                f"({tried} finished, {self._failed} failed; {_pool(options)})"
            )
        return ExitCode.OK

    def _race(
        self, run: FetchRun, failures: list[FetchResult], reasons: Counter[str]
    ) -> FetchResult | None:
        for result in run:
            self._count(result)
            if result.ok:
                return result
            if len(failures) < _FAILURES_LISTED:
                failures.append(result)
            reasons[_reason(result)] += 1
        return None

    def _emit_all(self, results: Iterable[FetchResult]) -> None:
        for result in results:
            self._count(result)
            self._write(result)

    def _announce_stop(self) -> None:
        name = "Ctrl-C" if self._signals[:1] != [signal.SIGTERM] else "SIGTERM"
        with self._bar_cleared(True):
            self._err.line(
                f"fetcher: {name}: finishing requests in flight (up to {GRACE_SECONDS:g}s; "
                "again to stop now)"
            )

    def _count(self, result: FetchResult) -> None:
        if result.ok:
            self._ok += 1
        else:
            self._failed += 1
        if self._bar is not None:
            self._bar.update(1)

    def _write(self, result: FetchResult) -> None:
        with _write_errors(), self._bar_cleared(self._to_terminal):
            self._writer.write(result)

    def _close_writer(self) -> None:
        with _write_errors():
            self._writer.close()

    @contextmanager
    def _bar_cleared(self, needed: bool) -> Iterator[None]:
        """Clear the bar while something else is written to its terminal, then redraw it."""
        bar = self._bar
        if bar is None or not needed:
            yield
            return
        with bar.get_lock():
            bar.clear()
            try:
                yield
            finally:
                bar.refresh()

    def _start_bar(self, total: int | None) -> None:
        if not self._show_progress or self._err.lost:
            return
        from tqdm import tqdm  # type: ignore[import-untyped]

        tqdm.monitor_interval = 0  # no monitor thread: Ctrl-C must reach the main thread
        self._bar = tqdm(
            total=total, unit="url", file=self._err, dynamic_ncols=True, mininterval=0.2
        )

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _finish(self, options: FetchOptions, started: float, run: FetchRun) -> None:
        self._close_bar()
        if not self._show_summary:
            return
        done = self._ok + self._failed
        state = "interrupted after" if self._signals else "in"
        notes = [_pool(options)]
        if run.retries:
            notes.append(f"{run.retries} {'retry' if run.retries == 1 else 'retries'}")
        if run.resubmitted:
            notes.append(f"{run.resubmitted} resubmitted after a worker died")
        if run.capped:
            notes.append(f"at most {options.per_host} at a time per host")
        skipped = len(self._finished) - self._finished.remaining
        if skipped:
            notes.append(f"{skipped} skipped, already in the output")
        self._err.line(
            f"fetcher: {done} URLs, {self._ok} ok, {self._failed} failed "
            f"{state} {time.monotonic() - started:.2f}s ({'; '.join(notes)})"
        )

    def _report_failures(self, failures: list[FetchResult], reasons: Counter[str]) -> None:
        total = sum(reasons.values())
        if total == 0:
            self._err.line("fetcher: no URLs to fetch")
            return
        self._err.line(f"fetcher: no URL succeeded ({total} failed)")
        if total <= _FAILURES_LISTED:
            for result in failures:
                url, reason = sanitize_text(result.url), sanitize_text(_reason(result))
                self._err.line(f"  {url}: {reason}")
            return
        for reason, count in reasons.most_common(_FAILURES_LISTED):
            self._err.line(f"  {count} x {sanitize_text(reason)}")

    def _broken_pipe(self, run: FetchRun) -> int:
        run.close()
        self._close_bar()
        if self._out is getattr(sys.stdout, "buffer", None):
            _silence_stdout()
        return ExitCode.BROKEN_PIPE

    def _pool_failed(self, run: FetchRun, exc: PoolError) -> int:
        run.close()
        self._close_bar()
        self._err.line(f"fetcher: error: {exc}")
        return ExitCode.USAGE if isinstance(exc, SaveDirError) else ExitCode.UNAVAILABLE

    def _write_failed(self, run: FetchRun, exc: _WriteFailed) -> int:
        run.close()
        self._close_bar()
        self._err.line(f"fetcher: error: cannot write records: {exc}")
        return ExitCode.IO_ERROR


@contextmanager
def _write_errors() -> Iterator[None]:
    """A failed write (disk full) as `_WriteFailed`; a closed pipe stays `BrokenPipeError`."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise _WriteFailed(exc.strerror or str(exc)) from None


@contextmanager
def _stopping_signals(run: FetchRun, received: list[int]) -> Iterator[None]:
    """Ctrl-C or SIGTERM interrupts the run at a safe point; a second one ends the grace.

    A third Ctrl-C raises `KeyboardInterrupt` wherever the program is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if len(received) >= 2:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        run.interrupt()

    previous = {signum: signal.signal(signum, on_signal) for signum in HANDLED_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _signal_exit_code(signum: int) -> int:
    return ExitCode.TERMINATED if signum == signal.SIGTERM else ExitCode.INTERRUPTED


def _reason(result: FetchResult) -> str:
    return result.error or f"HTTP {result.status}"


def _pool(options: FetchOptions) -> str:
    return f"{options.executor} pool, {options.workers} workers"


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)
