"""Reading URL lists: what becomes a URL line, lazily and with bounded memory."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from fetcher import read_urls
from fetcher._core.urls import MAX_URL_CHARS, to_request_url
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
