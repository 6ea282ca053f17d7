"""The feeder: a source read ahead on its own thread, its items handed over in order."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future

import pytest

from fetcher._run import feeder as feeder_module
from fetcher._run.feeder import Feeder


def test_an_item_appended_as_a_take_empties_the_buffer_is_signalled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reader appends without the lock. Here it appends item 1 and looks at the
    arrival flag at the worst moment: after a take found the buffer empty, before it
    cleared the flag (the reader, seeing it set, signals nothing). The take looks again
    and signals it: a taker waiting for `arrival` is not left waiting while an item is."""
    go, looked, done = threading.Event(), threading.Event(), threading.Event()

    def source() -> Iterator[int]:
        yield 0
        go.wait(5)
        yield 1
        looked.set()  # asked for the next item: item 1 is in, the flag looked at
        done.wait(5)  # (the source does not end: its end would signal too)

    armed = False

    def future() -> Future[None]:
        if armed:  # the take has found the buffer empty and renews `arrival`
            go.set()
            assert looked.wait(5)
        return Future()

    feeder = Feeder(source(), 10)
    try:
        feeder.arrival.result(timeout=5)
        monkeypatch.setattr(feeder_module, "Future", future)
        armed = True
        assert feeder.take(10) == [0]
        assert feeder.arrival.done()  # item 1 waits, and says so
        assert feeder.take(10) == [1]
    finally:
        done.set()


def test_items_come_once_each_in_order_and_the_sources_error_after_them() -> None:
    def failing() -> Iterator[int]:
        yield from range(1000)
        raise OSError("gone")

    feeder = Feeder(failing(), 7)
    taken: list[int] = []
    while not feeder.finished:
        items = feeder.take(3)
        taken += items
        if not items:
            feeder.arrival.result(timeout=5)
    assert taken == list(range(1000)) and isinstance(feeder.error, OSError)
