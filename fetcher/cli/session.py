"""One command-line run, from the first URL to its `Outcome`.

The session owns what a run means beyond the API: skipping what `--resume` found
finished, racing for `--first-only`, turning Ctrl-C or SIGTERM into an orderly stop (no
more submissions, `GRACE_SECONDS` for requests in flight, every finished record
written; a second signal stops at once), and noticing that stdout was closed, a record
could not be written, the executor failed or the URL list could not be read. It writes
through the `Console` and returns an `Outcome`; `exit.exit_status` says what that means.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import FrameType

from .._core.errors import ExecutorError, InputError, SaveDirError
from .._core.options import FetchOptions
from .._core.result import FetchResult
from .._core.signals import HANDLED_SIGNALS
from .._output.resume import FinishedURLs
from .._output.sanitize import sanitize_text
from .._run.api import fetch_all
from .._run.runner import FetchRun
from .console import Console, WriteFailed
from .exit import Outcome

__all__ = ["GRACE_SECONDS", "Session"]

_FAILURES_LISTED = 10  # first-only with no success: failures named one by one up to this
#: After Ctrl-C or SIGTERM, how long requests in flight may take to finish.
GRACE_SECONDS = 2.0


class Session:
    """Runs one list for the command line (see the module's docstring)."""

    def __init__(
        self, console: Console, options: FetchOptions, finished: FinishedURLs | None = None
    ) -> None:
        self._console = console
        self._options = options
        self._finished = finished or FinishedURLs()
        self._signals: list[int] = []  # the stopping signals received, in order
        self._outcome = Outcome()

    def run_all(self, urls: Iterator[str], total: int | None) -> Outcome:
        """Fetch every URL and write each record."""
        started = time.monotonic()
        if len(self._finished):
            urls = self._unfinished(urls)
            if total is not None:
                total = max(0, total - len(self._finished))
        run = fetch_all(urls, self._options)
        self._console.start_bar(total)
        with self._ending(run):
            with _stopping_signals(run, self._signals):
                try:
                    self._emit_all(run)
                except KeyboardInterrupt:
                    finishing = run.finish(GRACE_SECONDS)
                    self._announce_stop()
                    self._emit_all(finishing)
                except InputError as exc:  # every URL read before it has its record
                    self._outcome.error = exc
            self._console.close_writer()
        self._summarise(started, run)
        return self._outcome

    def run_first(self, urls: Iterator[str]) -> Outcome:
        """Race the URLs; write the first success only; name the failures if none wins."""
        started = time.monotonic()
        self._outcome.first_only = True
        failures: list[FetchResult] = []
        reasons: Counter[str] = Counter()
        run = fetch_all(urls, self._options)
        self._console.start_bar(None)
        winner = None
        with self._ending(run):
            with _stopping_signals(run, self._signals):
                winner = self._race(run, failures, reasons)
            if winner is not None:
                self._console.write(winner)  # first: closing a cluster may take seconds
                self._console.close_writer()
                run.close()  # then abandon the rest: the answer is known
        self._console.close_bar()
        outcome = self._outcome
        if outcome.signal is not None:
            self._summarise(started, run)
        elif outcome.error is not None:
            self._console.error(str(outcome.error))
        elif self._stopped_early():
            pass
        elif winner is None:
            self._report_failures(failures, reasons)
        else:
            tried = self._console.ok + self._console.failed
            self._console.summary(
                f"fetcher: first success after {time.monotonic() - started:.2f}s "
                f"({tried} finished, {self._console.failed} failed; {_pool(self._options)})"
            )
        outcome.ok = 1 if winner is not None else 0
        return outcome

    @contextmanager
    def _ending(self, run: FetchRun) -> Iterator[None]:
        """Whatever ends the run, the pool is closed and the outcome says why."""
        outcome = self._outcome
        try:
            yield
        except KeyboardInterrupt:  # first-only: a signal ends the race at once
            pass
        except BrokenPipeError:
            outcome.broken_pipe = True
        except WriteFailed as exc:
            outcome.write_error = str(exc)
            self._console.error(f"cannot write records: {exc}")
        except (InputError, ExecutorError, SaveDirError) as exc:
            outcome.error = exc
        finally:
            run.close()
            outcome.signal = self._signals[0] if self._signals else None
            outcome.ok, outcome.failed = self._console.ok, self._console.failed

    def _stopped_early(self) -> bool:
        outcome = self._outcome
        return outcome.broken_pipe or outcome.write_error is not None

    def _unfinished(self, urls: Iterator[str]) -> Iterator[str]:
        """The URLs without a record in the resumed output (occurrences counted)."""
        take = self._finished.take
        for url in urls:
            if not take(url):
                yield url

    def _race(
        self, run: FetchRun, failures: list[FetchResult], reasons: Counter[str]
    ) -> FetchResult | None:
        for result in run:
            self._console.count(result)
            if result.ok:
                return result
            if len(failures) < _FAILURES_LISTED:
                failures.append(result)
            reasons[_reason(result)] += 1
        return None

    def _emit_all(self, results: Iterable[FetchResult]) -> None:
        for result in results:
            self._console.count(result)
            self._console.write(result)

    def _announce_stop(self) -> None:
        name = "Ctrl-C" if self._signals[:1] != [signal.SIGTERM] else "SIGTERM"
        self._console.note(
            f"fetcher: {name}: finishing requests in flight (up to {GRACE_SECONDS:g}s; "
            "again to stop now)"
        )

    def _summarise(self, started: float, run: FetchRun) -> None:
        console, outcome = self._console, self._outcome
        console.close_bar()
        error = outcome.error
        if outcome.broken_pipe or outcome.write_error is not None:
            return
        nothing_done = console.ok + console.failed == 0
        if error is None or not nothing_done:  # else the error alone says what happened
            console.summary(self._summary_line(started, run))
        if error is not None:
            console.error(str(error))

    def _summary_line(self, started: float, run: FetchRun) -> str:
        console, options = self._console, self._options
        done = console.ok + console.failed
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
        return (
            f"fetcher: {done} URLs, {console.ok} ok, {console.failed} failed "
            f"{state} {time.monotonic() - started:.2f}s ({'; '.join(notes)})"
        )

    def _report_failures(self, failures: list[FetchResult], reasons: Counter[str]) -> None:
        console = self._console
        total = sum(reasons.values())
        if total == 0:
            console.summary("fetcher: no URLs to fetch")
            return
        console.summary(f"fetcher: no URL succeeded ({total} failed)")
        if total <= _FAILURES_LISTED:
            for result in failures:
                url, reason = sanitize_text(result.url), sanitize_text(_reason(result))
                console.summary(f"  {url}: {reason}")
            return
        for reason, count in reasons.most_common(_FAILURES_LISTED):
            console.summary(f"  {count} x {sanitize_text(reason)}")


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


def _reason(result: FetchResult) -> str:
    return result.error or f"HTTP {result.status}"


def _pool(options: FetchOptions) -> str:
    return f"{options.executor} pool, {options.workers} workers"
