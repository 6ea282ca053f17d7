"""A run as the command line shows it: records on stdout, progress and summary on stderr.

Records are written the moment they complete and flushed one by one. A progress bar, when
shown, is cleared around each record written to the same terminal so neither tears the
other. Ctrl-C still writes every record that had finished; a closed stdout ends the run
quietly.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from types import FrameType
from typing import Any, BinaryIO

from ._exit import ExitCode
from ._options import FetchOptions
from ._output import make_writer, sanitize_text
from ._result import FetchResult
from ._runner import FetchRun, fetch_all
from ._urls import iter_urls

__all__ = ["Console"]

_FAILURES_LISTED = 10  # first-only with no success: failures named one by one up to this


class Console:
    """Writes records, a progress bar and a summary for one command-line run."""

    def __init__(self, output_format: str, *, show_progress: bool, show_summary: bool) -> None:
        if hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(errors="replace")
        self._writer = make_writer(output_format, sys.stdout)
        self._show_progress = show_progress
        self._show_summary = show_summary
        self._bar: Any = None
        self._ok = 0
        self._failed = 0

    def run_all(self, source: BinaryIO, options: FetchOptions, total: int | None) -> int:
        """Fetch every URL and write each record; the exit code says whether all were ok."""
        started = time.monotonic()
        run = fetch_all(iter_urls(source), options)
        self._start_bar(total)
        try:
            with _ctrl_c_interrupts(run):
                self._emit_all(run)
        except KeyboardInterrupt:
            self._emit_finished(run)
            self._finish(options, started, interrupted=True)
            return ExitCode.INTERRUPTED
        except BrokenPipeError:
            return self._broken_pipe(run)
        finally:
            run.close()
        self._writer.close()
        self._finish(options, started)
        return ExitCode.FAILED if self._failed else ExitCode.OK

    def run_first(self, source: BinaryIO, options: FetchOptions) -> int:
        """Race the URLs; write the first success only; name the failures if none wins."""
        started = time.monotonic()
        failures: list[FetchResult] = []
        reasons: Counter[str] = Counter()
        run = fetch_all(iter_urls(source), options)
        self._start_bar(None)
        try:
            with _ctrl_c_interrupts(run):
                winner = self._race(run, failures, reasons)
            if winner is not None:
                run.close()  # abandon the rest before writing: the answer is known
                self._write(winner)
                self._writer.close()
        except KeyboardInterrupt:
            self._finish(options, started, interrupted=True)
            return ExitCode.INTERRUPTED
        except BrokenPipeError:
            return self._broken_pipe(run)
        finally:
            run.close()
        self._close_bar()
        if winner is None:
            self._report_failures(failures, reasons)
            return ExitCode.FAILED
        if self._show_summary:
            tried = self._ok + self._failed
            _stderr(
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

    def _emit_finished(self, run: FetchRun) -> None:
        """After Ctrl-C: write what finished; a second Ctrl-C leaves at once."""
        try:
            self._emit_all(run.stop())
            self._writer.close()
        except BrokenPipeError:
            _silence_stdout()

    def _count(self, result: FetchResult) -> None:
        if result.ok:
            self._ok += 1
        else:
            self._failed += 1
        if self._bar is not None:
            self._bar.update(1)

    def _write(self, result: FetchResult) -> None:
        with self._bar_cleared():
            self._writer.write(result)

    def _bar_cleared(self) -> AbstractContextManager[Any]:
        if self._bar is None or not _same_terminal():
            return nullcontext()
        return self._bar.external_write_mode(file=sys.stdout)  # type: ignore[no-any-return]

    def _start_bar(self, total: int | None) -> None:
        if not self._show_progress:
            return
        from tqdm import tqdm  # type: ignore[import-untyped]

        tqdm.monitor_interval = 0  # no monitor thread: Ctrl-C must reach the main thread

        self._bar = tqdm(
            total=total, unit="url", file=sys.stderr, dynamic_ncols=True, mininterval=0.2
        )

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _finish(self, options: FetchOptions, started: float, interrupted: bool = False) -> None:
        self._close_bar()
        if not self._show_summary:
            return
        done = self._ok + self._failed
        state = "interrupted after" if interrupted else "in"
        _stderr(
            f"fetcher: {done} URLs, {self._ok} ok, {self._failed} failed "
            f"{state} {time.monotonic() - started:.2f}s ({_pool(options)})"
        )

    def _report_failures(self, failures: list[FetchResult], reasons: Counter[str]) -> None:
        total = sum(reasons.values())
        if total == 0:
            _stderr("fetcher: no URLs to fetch")
            return
        _stderr(f"fetcher: no URL succeeded ({total} failed)")
        if total <= _FAILURES_LISTED:
            for result in failures:
                _stderr(f"  {sanitize_text(result.url)}: {sanitize_text(_reason(result))}")
            return
        for reason, count in reasons.most_common(_FAILURES_LISTED):
            _stderr(f"  {count} x {sanitize_text(reason)}")

    def _broken_pipe(self, run: FetchRun) -> int:
        run.close()
        self._close_bar()
        _silence_stdout()
        return ExitCode.BROKEN_PIPE


@contextmanager
def _ctrl_c_interrupts(run: FetchRun) -> Iterator[None]:
    """Ctrl-C interrupts the run at a safe point; a second Ctrl-C interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_ctrl_c(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        run.interrupt()

    previous = signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _reason(result: FetchResult) -> str:
    return result.error or f"HTTP {result.status}"


def _pool(options: FetchOptions) -> str:
    return f"{options.executor} pool, {options.workers} workers"


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _same_terminal() -> bool:
    return sys.stdout.isatty()


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)
