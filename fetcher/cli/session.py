"""One command-line run, from the first URL to its `Outcome`.

The session owns what a run means beyond the API: skipping what `--resume` found
finished, keeping back the records `--match-*`/`--filter-*` exclude (remembered for
`--resume` in FILE.filtered), racing for `--first-only`, turning Ctrl-C or SIGTERM into
an orderly stop (no more submissions, `--grace` seconds for requests in flight, every
finished record written; a second signal stops at once), and noticing that stdout was
closed, a record could not be written, the executor failed or a list could not be read.
It writes through the `Console`, sums up in a `Tally`, and returns an `Outcome`;
`exit.exit_status` says what that means.
"""

from __future__ import annotations

import itertools
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from .._core.errors import ExecutorError, InputError, OutputError, SaveDirError
from .._core.options import FetchOptions
from .._core.result import FetchResult
from .._core.signals import GRACE_SECONDS, HANDLED_SIGNALS
from .._output.filters import RecordFilter
from .._output.formats import RecordWriter
from .._output.resume import Finished, FinishedURLs
from .._output.sanitize import sanitize_text
from .._run.api import fetch_all
from .._run.runner import FetchRun
from .console import Console, WriteFailed, write_errors
from .exit import Outcome
from .summary import Tally, plural

__all__ = ["Plan", "Session"]

_FAILURES_LISTED = 10  # first-only with no success: failures named one by one up to this


@dataclass
class Plan:
    """What a session needs to know beyond the options: how records are kept, and how
    the run could be continued after a stop."""

    finished: Finished = field(default_factory=FinishedURLs)
    record_filter: RecordFilter = field(default_factory=RecordFilter)
    filtered: RecordWriter | None = None  #: where filtered records are remembered
    total: int | None = None  #: URLs in the inputs, when known
    count_total: Callable[[], int | None] | None = None  #: counts them when first needed
    resume_command: str | None = None  #: the command that continues the run
    resume_note: str | None = None  #: why the run cannot simply be continued
    grace: float = GRACE_SECONDS  #: seconds requests in flight get after Ctrl-C or SIGTERM
    #: makes a record's line where the record is made, when the output format allows it
    lines: Callable[[FetchResult], bytes] | None = None


class Session:
    """Runs one list for the command line (see the module's docstring)."""

    def __init__(self, console: Console, options: FetchOptions, plan: Plan | None = None) -> None:
        self._console = console
        self._options = options
        self._plan = plan or Plan()
        self._signals: list[int] = []  # the stopping signals received, in order
        self._outcome = Outcome()
        self.tally = Tally()
        self.run: FetchRun | None = None
        self.elapsed = 0.0

    def run_all(self, urls: Iterator[str]) -> Outcome:
        """Fetch every URL and write each record that passes the filters."""
        started = time.monotonic()
        finished = self._plan.finished
        total = self._plan.total
        if total is not None and len(finished):
            total = max(0, total - len(finished))
        run = self.run = FetchRun(
            self._unfinished(urls), self._options, numbered=True, lines=self._plan.lines
        )
        self._console.start_bar(total, run)
        with self._ending(run):
            with _stopping_signals(run, self._signals):
                try:
                    self._emit_all(run, run)
                except KeyboardInterrupt:
                    finishing = run.finish(self._plan.grace)
                    self._announce_stop()
                    self._emit_all(run, finishing)
                except InputError as exc:  # every URL read before it has its record
                    self._outcome.error = exc
            self._console.close_writer()
        self.elapsed = time.monotonic() - started
        self._summarise(run)
        return self._outcome

    def run_first(self, urls: Iterator[str]) -> Outcome:
        """Race the URLs; write the first success that passes the filters only."""
        started = time.monotonic()
        self._outcome.first_only = True
        failures: list[FetchResult] = []
        reasons: Counter[str] = Counter()
        run = self.run = fetch_all(urls, self._options)
        self._console.start_bar(None, run)
        winner = None
        with self._ending(run):
            with _stopping_signals(run, self._signals):
                winner = self._race(run, failures, reasons)
            if winner is not None:
                self._console.write(winner)  # first: closing a cluster may take seconds
                self._counted(winner, written=True)
                self._console.close_writer()
                run.close()  # then abandon the rest: the answer is known
        self.elapsed = time.monotonic() - started
        self._console.close_bar()
        self._first_summary(winner, failures, reasons, run)
        self._outcome.ok = 1 if winner is not None else 0
        return self._outcome

    def _first_summary(
        self,
        winner: FetchResult | None,
        failures: list[FetchResult],
        reasons: Counter[str],
        run: FetchRun,
    ) -> None:
        outcome, console = self._outcome, self._console
        if outcome.signal is not None:
            self._summarise(run)
        elif outcome.error is not None:
            console.error(str(outcome.error))
        elif outcome.broken_pipe or outcome.write_error is not None:
            pass
        elif winner is None:
            self._report_failures(failures, reasons)
        else:
            tally = self.tally
            console.summary(
                f"fetcher: first success after {self.elapsed:.2f}s "
                f"({plural(tally.finished, 'finished', 'finished')}, {tally.failed:,} failed"
                + (f", {tally.filtered:,} filtered" if tally.filtered else "")
                + f"; {_pool(self._options)})"
            )

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
        except (WriteFailed, OutputError) as exc:  # (OutputError: the nodes' parts)
            outcome.write_error = str(exc)
            self._console.error(f"cannot write records: {exc}")
        except (InputError, ExecutorError, SaveDirError) as exc:
            outcome.error = exc
        finally:
            run.close()
            outcome.signal = self._signals[0] if self._signals else None
            outcome.ok, outcome.failed = self.tally.ok, self.tally.failed

    def _unfinished(self, urls: Iterator[str]) -> Iterator[tuple[int, str]]:
        """(index, URL) of the URLs without a record in the resumed output (occurrences
        counted); the index counts every URL read, so a resumed run keeps the numbers."""
        finished = self._plan.finished
        if not len(finished):
            yield from enumerate(urls, 1)
            return
        take = finished.take
        for index, url in enumerate(urls, 1):
            if not take(url, index):
                yield index, url

    def _passes(self, result: FetchResult) -> bool:
        """True when `result` is to be written; a filtered one is counted (and remembered
        in FILE.filtered, so that --resume skips it) here."""
        if self._plan.record_filter.passes(result):
            return True
        if self._plan.filtered is not None:
            with write_errors():  # (a full disk: one line, as for FILE itself)
                self._plan.filtered.write(result)
        self._counted(result, written=False)
        return False

    def _counted(self, result: FetchResult, *, written: bool) -> None:
        self._count([result], written=written)

    def _count(self, results: Sequence[FetchResult], *, written: bool) -> None:
        self.tally.count(results, written)
        self._console.count(self.tally, len(results))

    def _race(
        self, run: FetchRun, failures: list[FetchResult], reasons: Counter[str]
    ) -> FetchResult | None:
        for result in run:
            if not self._passes(result):
                continue
            if result.ok:
                return result  # counted once written
            self._counted(result, written=True)  # (first-only: failures are not written)
            if len(failures) < _FAILURES_LISTED:
                failures.append(result)
            reasons[_reason(result)] += 1
        return None

    def _emit_all(self, run: FetchRun, results: Iterable[FetchResult]) -> None:
        """Write the records that pass, a burst at a time: with each record, the others
        the run has ready to follow it at once (`take_ready`), written in one piece and
        then counted, before the run waits. Records whose write failed are not counted."""
        filtering = self._plan.record_filter.active
        making = self._plan.lines is not None  # else no record has a line made elsewhere
        take, line_of = run.take_ready, run.line_of
        for result in results:
            burst = [result, *take()]
            # Every record's line is taken, a filtered one's too: the run keeps none.
            lines = [line_of(record) for record in burst] if making else None
            if filtering:
                kept = [self._passes(record) for record in burst]
                burst = list(itertools.compress(burst, kept))
                lines = None if lines is None else list(itertools.compress(lines, kept))
            if burst:
                self._console.write_all(burst, lines)
                self._count(burst, written=True)

    def _announce_stop(self) -> None:
        name = "Ctrl-C" if self._signals[:1] != [signal.SIGTERM] else "SIGTERM"
        if not self._plan.grace:
            self._console.note(f"fetcher: {name}: stopping now (--grace 0)")
            return
        self._console.note(
            f"fetcher: {name}: finishing requests in flight (up to {self._plan.grace:g}s; "
            "again to stop now)"
        )

    def _summarise(self, run: FetchRun) -> None:
        console, outcome = self._console, self._outcome
        console.close_bar()
        error = outcome.error
        if outcome.broken_pipe or outcome.write_error is not None:
            return
        if error is None or self.tally.finished:  # else the error alone says what happened
            for line in self.summary_lines(run):
                console.summary(line)
        if error is not None:
            console.error(str(error))

    def stats(self) -> dict[str, Any]:
        """The run's figures for `--stats` (the keys are listed in docs/cli.md)."""
        run, options, plan = self.run, self._options, self._plan
        stats: dict[str, Any] = self.tally.as_dict()
        stats |= {"elapsed": round(self.elapsed, 4), "executor": options.executor}
        stats |= {"workers": options.workers, "total": self._total(), "skipped": self._skipped()}
        read, abandoned, never = self._progress()
        stats |= {"read": read, "abandoned": abandoned, "never_started": never}
        stats["retries"] = run.retries if run is not None else 0
        stats["resubmitted"] = run.resubmitted if run is not None else 0
        stats["resume_command"] = plan.resume_command if self._signals else None
        return stats

    def _progress(self) -> tuple[int, int, int]:
        """URLs read by this run, abandoned in flight, and never started: read and not
        sent, or (when the inputs' total is known) not even read."""
        run = self.run
        read = run.read if run is not None else 0
        abandoned = run.abandoned if run is not None else 0
        total = self._total()
        planned = read if total is None else max(read, total - self._skipped())
        return read, abandoned, max(0, planned - self.tally.finished - abandoned)

    def _total(self) -> int | None:
        """The URLs in the inputs, counted when first needed (every list a regular file)."""
        plan = self._plan
        if plan.total is None and plan.count_total is not None:
            plan.total, plan.count_total = plan.count_total(), None
        return plan.total

    def _skipped(self) -> int:
        return len(self._plan.finished) - self._plan.finished.remaining

    def summary_lines(self, run: FetchRun) -> list[str]:
        """The summary: counts by status and kind; after a stop, how far the run got."""
        tally, options = self.tally, self._options
        notes = [_pool(options)]
        if run.retries:
            notes.append(plural(run.retries, "retry", "retries"))
        if run.resubmitted:
            notes.append(f"{run.resubmitted:,} resubmitted after a worker died")
        if run.capped:
            notes.append(f"at most {options.per_host} at a time per host")
        if tally.filtered:
            notes.append(f"{tally.filtered:,} filtered")
        skipped = self._skipped()
        if skipped:
            notes.append(f"{skipped:,} skipped, finished in an earlier run")
        counts = f"{plural(tally.written, 'URL')}, {tally.ok:,} ok, {tally.failed:,} failed"
        if tally.filtered and not tally.written:
            counts = "no URL passed the filters"
        state = "interrupted after" if self._signals else "in"
        breakdown = f": {tally.breakdown()}" if tally.breakdown() else ""
        line = f"fetcher: {counts} {state} {self.elapsed:.2f}s{breakdown} ({'; '.join(notes)})"
        return [line, *self._stopped_lines()] if self._signals else [line]

    def _stopped_lines(self) -> list[str]:
        total, skipped = self._total(), self._skipped()
        read, abandoned, never = self._progress()
        of = f" of {total - skipped:,}" if total is not None else ""
        progress = (
            f"{read:,} read{of}, {self.tally.finished:,} finished, "
            f"{abandoned:,} abandoned in flight, {never:,} never started"
        )
        lines = [f"fetcher: {progress}"]
        if self._plan.resume_command:
            lines.append(f"fetcher: to continue: {self._plan.resume_command}")
        elif self._plan.resume_note:
            lines.append(f"fetcher: {self._plan.resume_note}")
        return lines

    def _report_failures(self, failures: list[FetchResult], reasons: Counter[str]) -> None:
        console = self._console
        total = sum(reasons.values())
        if total == 0:
            filtered = self.tally.filtered
            console.summary(
                f"fetcher: no URL passed the filters ({plural(filtered, 'URL')} filtered)"
                if filtered
                else "fetcher: no URLs to fetch"
            )
            return
        also = f", {self.tally.filtered:,} filtered" if self.tally.filtered else ""
        console.summary(f"fetcher: no URL succeeded ({total:,} failed{also})")
        if total <= _FAILURES_LISTED:
            for result in failures:
                url, reason = sanitize_text(result.url), sanitize_text(_reason(result))
                console.summary(f"  {url}: {reason}")
            return
        for reason, count in reasons.most_common(_FAILURES_LISTED):
            console.summary(f"  {count:,} x {sanitize_text(reason)}")


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
    return f"{options.executor} pool, {plural(options.workers, 'worker')}"
