"""How the command line's session writes records: a burst at a time, never held back
while the run waits."""

from __future__ import annotations

import dataclasses
import errno
import io
import json
import threading

import pytest

from fetcher._core.options import FetchOptions
from fetcher._core.result import FetchResult
from fetcher._output.filters import RecordFilter, parse_statuses
from fetcher._output.formats import make_writer
from fetcher.cli.console import Console
from fetcher.cli.env import Stderr
from fetcher.cli.session import Plan, Session
from fetcher.cli.summary import Tally
from tests.support.local import LocalServer


class Recorded(io.BytesIO):
    """An output stream that keeps each `write` call and can run a hook on each."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[bytes] = []
        self.on_write: list[threading.Event] = []

    def write(self, data: object) -> int:
        self.calls.append(bytes(data))  # type: ignore[call-overload]
        for event in self.on_write:
            event.set()
        return super().write(data)  # type: ignore[call-overload]


def session_over(stream: Recorded, options: FetchOptions, plan: Plan | None = None) -> Session:
    console = Console(make_writer("jsonl", stream), Stderr(), show_summary=False)
    return Session(console, options, plan)


def test_records_ready_together_are_written_in_one_call() -> None:
    """URLs with no fetchable scheme get their records at once, many together: each
    burst is one write of whole lines, and every record is written and counted."""
    stream = Recorded()
    session = session_over(stream, FetchOptions(workers=2))
    session.run_all(iter([f"ftp://example.invalid/{i}" for i in range(200)]))
    assert session.tally.finished == 200
    assert stream.getvalue().count(b"\n") == 200
    assert all(call.endswith(b"\n") for call in stream.calls)
    assert len(stream.calls) < 200


def test_a_record_is_written_before_the_run_waits_for_the_next(server: LocalServer) -> None:
    """The second page answers only once the first page's record has reached the stream:
    a record held until the run's next record would leave the second to time out."""
    written = threading.Event()
    fast = server.html("/session/fast", "<title>fast</title>")
    gated = server.html("/session/gated", "<title>gated</title>", gate=written)
    stream = Recorded()
    stream.on_write.append(written)
    session = session_over(stream, FetchOptions(workers=1, timeout=10.0, retries=0))
    session.run_all(iter([fast, gated]))
    records = stream.getvalue().decode().splitlines()
    assert len(records) == 2
    assert '"title": "gated"' in records[1]
    assert session.tally.ok == 2


def test_a_record_followed_by_a_filtered_one_is_not_held(server: LocalServer) -> None:
    """A page that passes and one the filters drop answer together (one gate, opened
    once both wait); a third answers only once the first's record has reached the
    stream. Held back because the dropped record was ready after it, the first would
    wait for the third until its timeout. Whether the two land in one burst is up to
    the threads, so the scene is played several times."""
    match_200 = RecordFilter(match_status=parse_statuses("200", "--match-status"))
    for scene in range(20):
        together, written = threading.Event(), threading.Event()
        paths = [f"/session/{scene}/{name}" for name in ("passes", "dropped", "last")]
        urls = [
            server.html(paths[0], "<title>kept</title>", gate=together),
            server.html(paths[1], "<title>dropped</title>", gate=together, status=404),
            server.html(paths[2], "<title>last</title>", gate=written),
        ]
        stream = Recorded()
        stream.on_write.append(written)
        options = FetchOptions(workers=3, timeout=5.0, retries=0)
        session = session_over(stream, options, Plan(record_filter=match_200))

        def open_when_both_wait(paths: list[str] = paths, gate: threading.Event = together) -> None:
            server.wait_for(lambda s: all(s.hits.get(path) for path in paths[:2]))
            gate.set()

        threading.Thread(target=open_when_both_wait, daemon=True).start()
        session.run_all(iter(urls))
        records = [json.loads(line) for line in stream.getvalue().decode().splitlines()]
        assert [record["title"] for record in records] == ["kept", "last"], scene
        assert session.tally.ok == 2 and session.tally.filtered == 1


def test_the_tally_counts_ok_and_failed_as_records_say() -> None:
    """`Tally.count`'s ok and failed follow `FetchResult.ok`, a burst at a time."""
    base = FetchResult(
        url="u", final_url="u", status=200, title=None, bytes=1, elapsed=0.1, error=None
    )
    records = [
        base,
        dataclasses.replace(base, status=399),
        dataclasses.replace(base, status=400),
        dataclasses.replace(base, status=503),
        dataclasses.replace(base, status=None, error="refused", error_kind="refused"),
        dataclasses.replace(base, status=200, error="cut off", error_kind="timeout"),
    ]
    tally = Tally()
    tally.count(records, written=True)
    tally.count(records[:2], written=False)
    assert (tally.ok, tally.failed) == (sum(r.ok for r in records), sum(not r.ok for r in records))
    assert (tally.written, tally.filtered) == (6, 2)
    assert tally.by_status == {200: 1, 399: 1, 400: 1, 503: 1}
    assert tally.by_kind == {"refused": 1, "timeout": 1}


class Full(io.BytesIO):
    """A stream on a full disk."""

    def write(self, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_under_the_filtered_records_ends_the_run_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """FILE.filtered failing to take a record is a write error like FILE's, not a crash."""
    console = Console(make_writer("jsonl", Recorded()), Stderr(), show_summary=False)
    match_200 = RecordFilter(match_status=parse_statuses("200", "--match-status"))
    plan = Plan(record_filter=match_200, filtered=make_writer("jsonl", Full()))
    outcome = Session(console, FetchOptions(workers=1), plan).run_all(iter(["ftp://x.invalid/"]))
    assert outcome.write_error == "No space left on device"
    assert (
        capsys.readouterr().err == "fetcher: error: cannot write records: No space left on device\n"
    )
