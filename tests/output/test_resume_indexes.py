"""Resume state that stays small: records that all have an index, over inputs proven to
hold the same URLs at those indexes, are kept as a low-water mark and a bitmap."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from fetcher._output.indexes import FinishedIndexes
from fetcher._output.resume import FinishedURLs, read_finished

from .test_resume import record


def urls(count: int) -> list[str]:
    return [f"http://h{n % 7}.example/{n}" for n in range(count)]


def load(tmp_path: Path, data: bytes, lines: list[str] | None) -> object:
    path = tmp_path / "out.jsonl"
    path.write_bytes(data)

    def reread() -> Iterator[tuple[int, str]]:
        assert lines is not None
        return iter(enumerate(lines, 1))

    with path.open("rb") as stream:
        finished, torn_at = read_finished(stream, str(path), None if lines is None else reread)
    assert torn_at is None
    return finished


def records(listing: list[str], indexes: list[int]) -> bytes:
    return b"".join(record(listing[i - 1], index=i) for i in indexes)


def test_matching_inputs_give_a_low_water_mark_and_a_bitmap(tmp_path: Path) -> None:
    listing = urls(100_000)
    done = [*range(1, 60_001), 60_003, 70_000]  # finished out of order beyond the mark
    finished = load(tmp_path, records(listing, done[::-1]), listing)
    assert isinstance(finished, FinishedIndexes)
    assert len(finished) == finished.remaining == len(done)
    assert len(finished._bits) <= 10_000 // 8 + 1  # above the mark only: not 9 bytes a record
    taken = [i for i, url in enumerate(listing, 1) if finished.take(url, i)]
    assert taken == done
    assert finished.remaining == 0


def test_an_edited_list_is_matched_url_by_url(tmp_path: Path) -> None:
    listing = urls(1000)
    data = records(listing, list(range(1, 501)))
    edited = [*listing]
    edited[99] = "http://other.example/"  # line 100 now holds another URL
    finished = load(tmp_path, data, edited)
    assert isinstance(finished, FinishedURLs)
    assert not finished.take(edited[99], 100)  # the new URL at line 100 is fetched
    assert finished.take(edited[100], 101)


def test_records_that_cannot_be_indexes_are_matched_url_by_url(tmp_path: Path) -> None:
    listing = urls(10)
    cases = [
        record(listing[0], index=1) + record(listing[1], index=None),  # a record from 0.1
        record(listing[0], index=1) + record(listing[0], index=1),  # one line twice
        record(listing[0], index=10**15),  # no bitmap of 10**15 bits
        record(listing[0], index=0),
    ]
    for data in cases:
        assert isinstance(load(tmp_path, data, listing), FinishedURLs)
    assert isinstance(load(tmp_path, records(listing, [1, 2]), None), FinishedURLs)  # stdin


def test_fewer_lines_than_records_is_not_a_match(tmp_path: Path) -> None:
    listing = urls(10)
    finished = load(tmp_path, records(listing, [1, 2, 10]), listing[:9])  # the list was cut
    assert isinstance(finished, FinishedURLs)
