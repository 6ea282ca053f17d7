"""`origin_of` (and the cluster's `partition_of`) remember origins by the text before the
path: they must answer exactly as parsing each URL would, whatever follows that text."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fetcher._core import urls
from fetcher._run import owners

_PIECES = st.sampled_from(
    ["http", "https", "HTTP", "ftp", "://", ":", "/", "?", "#", "@", "[", "]", "::1", "80",
     "443", "8080", "a", "B.example", "x.y", " ", "\t", "%", "user:pw", "99999", "", "."]
)  # fmt: skip
_URLS = st.lists(_PIECES, max_size=10).map("".join)


@settings(max_examples=150, derandomize=True)
@given(st.lists(_URLS, min_size=1, max_size=6))
def test_origin_of_matches_parsing_every_url(batch: list[str]) -> None:
    urls._ORIGINS.clear()
    for url in batch:  # the same prefix seen before with another tail is the hard case
        for candidate in (url, url + "/path?q#f", url + "?x/y"):
            assert urls.origin_of(candidate) == urls._parse_origin(candidate), candidate


def test_origin_of_fills_default_ports_and_forgets_when_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(urls, "_REMEMBERED", 100)
    urls._ORIGINS.clear()
    assert urls.origin_of("HTTP://Example.com/a") == "http://example.com:80"
    assert urls.origin_of("HTTP://Example.com/b?c") == "http://example.com:80"
    assert urls.origin_of("https://h:8443?x/y") == "https://h:8443"
    for number in range(urls._REMEMBERED + 10):
        urls.origin_of(f"http://h{number}/")
    assert len(urls._ORIGINS) <= urls._REMEMBERED


@settings(max_examples=150, derandomize=True)
@given(st.lists(_URLS, min_size=1, max_size=6))
def test_partition_of_matches_hashing_every_origin(batch: list[str]) -> None:
    """The cluster's partition of a URL, remembered by the same text, is its origin's."""
    owners._PARTITION_OF.clear()
    for url in batch:
        for candidate in (url, url + "/path?q#f", url + "?x/y"):
            origin = urls._parse_origin(candidate) or candidate
            expected = zlib.crc32(origin.encode("utf-8", "surrogatepass")) % owners.PARTITIONS
            assert owners.partition_of(candidate) == expected, candidate
