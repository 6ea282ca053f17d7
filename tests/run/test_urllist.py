"""Reading URL lists: what becomes a URL line, lazily and with bounded memory."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fetcher import read_urls
from fetcher._core.urls import MAX_URL_CHARS, to_request_url
from fetcher._run import urllist
from fetcher._run.urllist import FdReader, count_urls, iter_urls


def lines(data: bytes) -> list[str]:
    urls = list(iter_urls(io.BytesIO(data)))
    assert count_urls(io.BytesIO(data)) == len(urls)  # the progress total matches
    return urls


def test_blank_lines_comments_and_whitespace() -> None:
    data = b"  a.example \n\n# comment\n   # indented comment\n\thttp://b.example\t\r\nlast"
    assert lines(data) == ["a.example", "http://b.example", "last"]


def test_duplicates_are_kept() -> None:
    assert lines(b"x\nx\nx\n") == ["x", "x", "x"]


def test_a_byte_order_mark_is_dropped() -> None:
    assert lines(b"\xef\xbb\xbfhttp://a.example\nhttp://b.example\n")[0] == "http://a.example"


def test_bytes_that_are_not_utf8_become_replacement_characters() -> None:
    assert lines(b"http://caf\xe9.example/\n") == ["http://caf\ufffd.example/"]


def test_a_huge_line_is_cut_and_the_next_line_survives() -> None:
    data = b"http://" + b"x" * (MAX_URL_CHARS * 5) + b"\nhttp://next.example\n"
    urls = lines(data)
    assert len(urls) == 2
    assert len(urls[0]) == MAX_URL_CHARS + 1
    assert urls[1] == "http://next.example"


def test_huge_leading_whitespace_does_not_lose_the_url() -> None:
    data = b" " * (MAX_URL_CHARS * 6) + b"http://a.example\nhttp://b.example\n"
    assert lines(data) == ["http://a.example", "http://b.example"]


def test_read_urls_applies_the_same_rules(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_bytes(b"# mirrors\nhttp://a.example\n\n  http://b.example  \n")
    assert list(read_urls(path)) == ["http://a.example", "http://b.example"]


@pytest.mark.parametrize(
    ("line", "url"),
    [
        ("example.com", "https://example.com"),
        ("example.com/a?b=c", "https://example.com/a?b=c"),
        ("example.com:8443/x", "https://example.com:8443/x"),
        ("localhost:3000", "https://localhost:3000"),
        ("[::1]:8080/", "https://[::1]:8080/"),
        ("http://x.example", "http://x.example"),
        ("HTTPS://X.EXAMPLE", "HTTPS://X.EXAMPLE"),
        ("ftp://x.example", "ftp://x.example"),
        ("mailto:someone@example.com", "mailto:someone@example.com"),
        ("  http://padded.example  ", "http://padded.example"),
    ],
)
def test_request_url_for_a_line(line: str, url: str) -> None:
    assert to_request_url(line) == url


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_a_utf16_list_with_a_byte_order_mark_is_read(codec: str) -> None:
    text = "\ufeffhttps://a.example/\r\n# note\nhttps://ü.example/\n" + "x.example\n" * 40_000
    urls = lines(text.encode(codec))
    assert urls[:3] == ["https://a.example/", "https://ü.example/", "x.example"]
    assert len(urls) == 40_002


@pytest.mark.parametrize("data", [b"", b"a", b"a\n", b"\n", b"ab", b"\xff", b"\xfe\xff"])
def test_tiny_lists_are_read_whole(data: bytes) -> None:
    expected = [line.strip() for line in data.decode("utf-8", "replace").splitlines()]
    if data == b"\xfe\xff":  # a UTF-16 BOM and nothing else
        expected = []
    assert lines(data) == [e for e in expected if e]


def test_the_descriptor_reader_reads_what_a_file_object_reads(tmp_path: Path) -> None:
    data = b"a.example\n\n  b.example  \r\n" + b"c" * 300_000 + b"\nd.example"
    path = tmp_path / "list.txt"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert list(iter_urls(FdReader(fd))) == list(iter_urls(io.BytesIO(data)))
    finally:
        os.close(fd)


class _Trickle:
    """A stream handing over its bytes in the given sizes (a pipe's pace), one per read."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self._data, self._sizes = data, sizes

    def read1(self, size: int = -1, /) -> bytes:
        step = self._sizes.pop(0) if self._sizes else len(self._data)
        step = max(1, step) if size < 0 else max(1, min(step, size))
        chunk, self._data = self._data[:step], self._data[step:]
        return chunk

    def read(self, size: int = -1, /) -> bytes:
        return self.read1(size)

    def readline(self, size: int = -1, /) -> bytes:
        raise AssertionError("read by blocks")


def _reference(data: bytes, piece: int) -> list[bytes]:
    """The rules, on the whole text at once: lines split at LF only, a BOM at the start
    dropped, each line stripped and its content cut to `piece` bytes, blank lines and
    `#` comments skipped."""
    contents = (line.lstrip()[:piece].rstrip() for line in data.removeprefix(_BOM).split(b"\n"))
    return [content for content in contents if content and not content.startswith(b"#")]


_BOM = b"\xef\xbb\xbf"


@settings(max_examples=400, derandomize=True)
@given(
    st.lists(
        st.sampled_from([b"a", b"#", b" ", b"\t", b"\r", b"\n", b"\x0b", b"\xc3\xa9", _BOM]),
        max_size=60,
    ).map(b"".join),
    st.lists(st.integers(1, 9), max_size=40),
)
def test_lines_read_by_blocks_are_the_lines_of_the_whole_text(
    data: bytes, sizes: list[int]
) -> None:
    """Differential: reading by blocks of any size (a line split anywhere, a BOM split
    across reads, lines longer than a piece) gives what the rules give on the whole text;
    a piece of 5 bytes and blocks of 4 make every boundary common."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16, read by another path
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(urllist, "_PIECE", 5)
        patch.setattr(urllist, "_BLOCK", 4)
        read = list(urllist._url_lines(_Trickle(data, sizes)))
    assert read == _reference(data, 5)
