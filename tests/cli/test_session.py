"""How the command line's session writes records: a burst at a time, never held back
while the run waits."""

from __future__ import annotations

import io
import threading

from fetcher._core.options import FetchOptions
from fetcher._output.formats import make_writer
from fetcher.cli.console import Console
from fetcher.cli.env import Stderr
from fetcher.cli.session import Session
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


def session_over(stream: Recorded, options: FetchOptions) -> Session:
    console = Console(make_writer("jsonl", stream), Stderr(), show_summary=False)
    return Session(console, options)


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
