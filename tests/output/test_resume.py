"""Resuming a JSONL run: finished records are counted per occurrence, torn lines dropped."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from fetcher import FIELDS, ResumeError
from fetcher._output import resume as _resume
from fetcher._output.resume import FinishedURLs, load_finished
from fetcher._output.sanitize import json_escape_unprintable


def record(url: Any, **fields: Any) -> bytes:
    """One JSONL line as the writer emits it (non-ASCII raw, non-printables escaped)."""
    obj = dict.fromkeys(FIELDS)
    obj.update(url=url, final_url=url, status=200, title="t", bytes=1, elapsed=0.1, attempts=1)
    obj.update(fields)
    return (json_escape_unprintable(json.dumps(obj, ensure_ascii=False)) + "\n").encode()


def write(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "out.jsonl"
    path.write_bytes(data)
    return str(path)


def test_a_missing_file_has_no_records(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    finished = load_finished(str(path))
    assert len(finished) == 0
    assert finished.remaining == 0
    assert not finished.take("http://a.example/")
    assert not path.exists()  # nothing is created


def test_each_record_is_one_occurrence(tmp_path: Path) -> None:
    a, b = "http://a.example/", "http://b.example/"
    finished = load_finished(write(tmp_path, record(a) + record(b) + record(a)))
    assert len(finished) == 3
    assert finished.take(a)
    assert finished.take(a)
    assert not finished.take(a)  # only two records of a
    assert finished.take(b)  # other URLs are unaffected
    assert not finished.take(b)
    assert not finished.take("http://c.example/")
    assert len(finished) == 3  # len counts what was loaded, not what is left


def test_a_record_with_an_index_stands_for_that_line_only(tmp_path: Path) -> None:
    a = "http://a.example/"
    # The second of two lines of `a` finished first.
    finished = load_finished(write(tmp_path, record(a, index=2)))
    assert not finished.take(a, 1)  # line 1 is not finished: only line 2 is
    assert finished.take(a, 2)
    assert not finished.take(a, 2)
    edited = load_finished(write(tmp_path, record(a, index=1)))
    assert not edited.take("http://b.example/", 1)  # line 1 now holds another URL


def test_records_without_an_index_match_any_line_of_their_url(tmp_path: Path) -> None:
    a = "http://a.example/"
    finished = load_finished(write(tmp_path, record(a, index=3) + record(a, index=None)))
    assert finished.take(a, 3)  # its own line
    assert finished.take(a, 7)  # the record without an index: any occurrence
    assert not finished.take(a, 8)


def test_remaining_counts_down(tmp_path: Path) -> None:
    urls = ["http://a.example/", "http://b.example/", "http://a.example/"]
    finished = load_finished(write(tmp_path, b"".join(record(u) for u in urls)))
    assert finished.remaining == 3
    assert finished.take("http://a.example/")
    assert finished.remaining == 2
    assert not finished.take("http://nope.example/")
    assert finished.remaining == 2  # a miss consumes nothing
    assert finished.take("http://b.example/")
    assert finished.take("http://a.example/")
    assert finished.remaining == 0
    assert not finished.take("http://a.example/")
    assert finished.remaining == 0


def test_any_outcome_counts(tmp_path: Path) -> None:
    data = record("http://x.example/", status=None, error="ConnectError: refused")
    assert load_finished(write(tmp_path, data)).take("http://x.example/")


def test_many_urls_and_duplicates(tmp_path: Path) -> None:
    urls = [f"http://h{i % 97}.example/{i % 1000}" for i in range(5000)]  # repeats
    finished = load_finished(write(tmp_path, b"".join(record(u) for u in urls)))
    assert len(finished) == 5000
    assert all(finished.take(u) for u in urls)
    assert finished.remaining == 0
    assert not any(finished.take(u) for u in set(urls))


def test_built_from_urls() -> None:
    finished = FinishedURLs(["a", "b", "a"])
    assert len(finished) == 3
    assert [finished.take(u) for u in ["a", "a", "a", "b", "b"]] == [1, 1, 0, 1, 0]
    assert len(FinishedURLs()) == 0


def test_a_torn_last_line_is_truncated_away(tmp_path: Path) -> None:
    complete = record("http://a.example/") + record("http://b.example/")
    path = write(tmp_path, complete + b'{"url": "http://c.example/", "fin')
    finished = load_finished(path)
    assert Path(path).read_bytes() == complete
    assert len(finished) == 2
    assert not finished.take("http://c.example/")


def test_a_valid_last_line_without_newline_is_torn_too(tmp_path: Path) -> None:
    # A line is only trusted once its newline is written: the resumed run writes it again.
    first = record("http://a.example/")
    path = write(tmp_path, first + record("http://b.example/").rstrip(b"\n"))
    finished = load_finished(path)
    assert Path(path).read_bytes() == first
    assert finished.take("http://a.example/")
    assert not finished.take("http://b.example/")


def test_a_lone_torn_line_leaves_an_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, b'{"url": "http')
    assert len(load_finished(path)) == 0
    assert Path(path).read_bytes() == b""


def test_a_complete_file_is_untouched(tmp_path: Path) -> None:
    data = record("http://a.example/") + record("http://b.example/")
    path = write(tmp_path, data)
    before = os.stat(path)
    assert len(load_finished(path)) == 2
    assert Path(path).read_bytes() == data
    assert os.stat(path).st_mtime_ns == before.st_mtime_ns


@pytest.mark.parametrize("blank", [b"\n", b"  \r\n"])
def test_a_blank_line_is_not_a_record(tmp_path: Path, blank: bytes) -> None:
    data = record("http://a.example/") + blank + record("http://b.example/")
    path = write(tmp_path, data)
    with pytest.raises(ResumeError, match="line 2 is not a fetcher JSONL record"):
        load_finished(path)
    assert Path(path).read_bytes() == data


def test_crlf_line_endings_are_accepted(tmp_path: Path) -> None:
    data = record("http://a.example/").replace(b"\n", b"\r\n")
    assert load_finished(write(tmp_path, data)).take("http://a.example/")


@pytest.mark.parametrize(
    "bad",
    [
        b"not json\n",
        b'{"url": "http://cut.example/", "tit\n',
        b'{"final_url": "http://a.example/"}\n',
        b'{"url": null}\n',
        b'{"url": 42}\n',
        b'{"url": ["http://a.example/"]}\n',
        b'["http://a.example/"]\n',
        b'"http://a.example/"\n',
        b'{"url": "http://caf\xe9.example/"}\n',  # Latin-1, not UTF-8
        b"\xff\xfe\n",
        b"[" * 200_000 + b"\n",  # nested past the recursion limit
    ],
)
def test_a_bad_complete_line_raises_and_changes_nothing(tmp_path: Path, bad: bytes) -> None:
    # A torn tail after the bad line is not truncated either: the file is left as found.
    data = record("http://a.example/") + record("http://c.example/") + bad
    data += record("http://b.example/") + b'{"u'
    path = write(tmp_path, data)
    with pytest.raises(ResumeError) as caught:
        load_finished(path)
    assert str(caught.value) == f"{path}: line 3 is not a fetcher JSONL record"
    assert Path(path).read_bytes() == data


def test_a_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(ResumeError) as caught:
        load_finished(str(tmp_path))
    message = str(caught.value)
    assert message.startswith(f"{tmp_path}: ")
    assert "directory" in message.lower()
    assert "\n" not in message


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_an_unreadable_file_raises(tmp_path: Path) -> None:
    path = write(tmp_path, record("http://a.example/"))
    os.chmod(path, 0)
    try:
        with pytest.raises(ResumeError, match="Permission denied"):
            load_finished(path)
    finally:
        os.chmod(path, 0o644)


def test_a_path_through_a_file_raises(tmp_path: Path) -> None:
    path = write(tmp_path, record("http://a.example/"))
    with pytest.raises(ResumeError, match=r": cannot resume: Not a directory$"):
        load_finished(os.path.join(path, "out.jsonl"))


def test_an_overlong_complete_line_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = record("a") + record("http://long.example/" + "x" * 500)
    monkeypatch.setattr(_resume, "_MAX_LINE_BYTES", len(record("a")) + 1)
    path = write(tmp_path, data)
    with pytest.raises(ResumeError, match="line 2 is not"):
        load_finished(path)
    assert Path(path).read_bytes() == data


def test_an_overlong_torn_line_is_truncated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = record("a")
    monkeypatch.setattr(_resume, "_MAX_LINE_BYTES", len(first) + 1)
    path = write(tmp_path, first + b'{"url": "http://long.example/' + b"x" * 500)
    assert len(load_finished(path)) == 1
    assert Path(path).read_bytes() == first


@pytest.mark.parametrize(
    "url",
    [
        "http://café.example/ß/日本",
        "http://emoji.example/😀",
        "http://ctl.example/\x7f\u202e\u2028",  # written as \\u escapes
        "http://lone.example/\udcff",  # a lone surrogate: only \\u-escaped in JSON
        "http://pair.example/\ud83d",
    ],
)
def test_unicode_urls_round_trip(tmp_path: Path, url: str) -> None:
    path = write(tmp_path, record(url) + record("http://other.example/"))
    finished = load_finished(path)
    assert finished.take(url)
    assert not finished.take(url)
    assert FinishedURLs([url]).take(url)


# What is not fetcher's is never touched


@pytest.mark.parametrize(
    "data",
    [
        b'{"name":"x"}',  # one JSON object of another program, no newline
        b"a note to self",
        bytes(range(256)).replace(b"\n", b""),  # a binary without a newline
        b'{"name": "x"}\n',
        b'{"url": "http://a.example/"}\n',  # a url, but not the record's fields
        b'{"final_url": null, "url": "http://a.example/", "status": 200, "title": null,'
        b' "bytes": 0, "elapsed": 0.1, "error": null}\n',  # the fields, in another order
        b"\n",
        b'{"url": "http://a.example/", "x": 1}\n{"url": "http://b',
    ],
)
def test_a_file_that_is_not_fetchers_is_refused_byte_for_byte(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path, data)
    with pytest.raises(ResumeError, match="is not a fetcher JSONL record"):
        load_finished(path)
    assert Path(path).read_bytes() == data


def test_an_empty_file_is_a_fresh_start(tmp_path: Path) -> None:
    assert len(load_finished(write(tmp_path, b""))) == 0


def test_records_of_earlier_and_later_versions_are_records(tmp_path: Path) -> None:
    first_release = {name: None for name in FIELDS[:7]} | {"url": "http://old.example/"}
    later = dict(json.loads(record("http://new.example/"))) | {"added_later": 1}
    data = (json.dumps(first_release) + "\n" + json.dumps(later) + "\n").encode()
    finished = load_finished(write(tmp_path, data))
    assert finished.take("http://old.example/") and finished.take("http://new.example/")


def test_a_lone_torn_record_is_cut(tmp_path: Path) -> None:
    path = write(tmp_path, b'{"url": "http://a.example/", "final_u')
    assert len(load_finished(path)) == 0
    assert Path(path).read_bytes() == b""


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/null"])
def test_a_file_that_is_not_regular_cannot_be_resumed(special: str) -> None:
    if not os.path.exists(special):
        pytest.skip(f"no {special}")
    with pytest.raises(ResumeError, match="not a regular file"):
        load_finished(special)
