"""Capped decoding of response bodies: the size limits hold before and after decompression."""

from __future__ import annotations

import gzip
import os
import zlib

import pytest

from fetcher._core.errors import Failure
from fetcher._http.body import CappedBody, raw_cap


def decode(raw: bytes, coding: str | None, cap: int = 1_000_000, chunk: int = 4096) -> CappedBody:
    body = CappedBody(coding, cap)
    for start in range(0, len(raw), chunk):
        body.feed(raw[start : start + chunk])
        if body.truncated:
            return body
    body.finish()
    return body


def test_identity_body_is_kept_up_to_the_cap() -> None:
    assert decode(b"abc", None).content() == b"abc"
    capped = decode(b"x" * 5000, "identity", cap=1000)
    assert (capped.size, capped.truncated, len(capped.content())) == (1000, True, 1000)


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "GZIP"])
def test_gzip_is_decoded(coding: str) -> None:
    assert (
        decode(gzip.compress(b"<title>t</title>" * 100), coding).content()
        == b"<title>t</title>" * 100
    )


def test_a_gzip_bomb_stops_at_the_cap_without_inflating_the_rest() -> None:
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    body = decode(bomb, "gzip", cap=1_000_000, chunk=len(bomb))  # all of it in one chunk
    assert (body.size, body.truncated) == (1_000_000, True)


def test_gzip_with_several_members_is_decoded_whole() -> None:
    raw = gzip.compress(b"first ") + gzip.compress(b"second")
    assert decode(raw, "gzip").content() == b"first second"


def test_a_gzip_body_that_ends_early_is_an_error() -> None:
    raw = gzip.compress(b"x" * 10_000 + bytes(range(256)) * 50)
    with pytest.raises(Failure, match="gzip body ends early"):
        decode(raw[: len(raw) // 2], "gzip")


def test_corrupt_gzip_is_an_error() -> None:
    with pytest.raises(Failure, match="corrupt gzip body"):
        decode(b"\x1f\x8b\x08\x00garbage-garbage-garbage", "gzip")


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])
def test_deflate_wrapped_or_raw_is_decoded(wbits: int) -> None:
    compressor = zlib.compressobj(wbits=wbits)
    raw = compressor.compress(b"deflated " * 50) + compressor.flush()
    assert decode(raw, "deflate").content() == b"deflated " * 50


@pytest.mark.parametrize("coding", ["br", "zstd", "compress", "gzip, gzip"])
def test_codings_that_are_not_capped_are_refused(coding: str) -> None:
    with pytest.raises(Failure, match="unsupported Content-Encoding"):
        CappedBody(coding, 100).feed(b"\x0b\x02\x80")


def gzip_header() -> bytes:
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


EMPTY_STORED_BLOCK = b"\x00\x00\x00\xff\xff"  # not final, stored, length 0: decodes to nothing


@pytest.mark.parametrize(("coding", "head"), [("gzip", gzip_header()), ("deflate", b"")])
def test_endless_empty_blocks_stop_at_the_raw_cap(coding: str, head: bytes) -> None:
    body = CappedBody(coding, 1024)
    with pytest.raises(Failure, match="compressed body larger than 2049 bytes") as caught:
        for _ in range(100_000):  # 500 kB, far beyond the raw cap
            body.feed(head + EMPTY_STORED_BLOCK * 20)
            head = b""
    assert caught.value.kind == "too_large"
    assert body.size == 0 and body.raw_size <= raw_cap(1024) + 100


@pytest.mark.parametrize("size", [1, 100, 1023, 1024, 65_536, 1_000_000])
@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_honest_compression_of_incompressible_data_fits_the_raw_cap(size: int, coding: str) -> None:
    data = os.urandom(size)
    raw = gzip.compress(data, 9) if coding == "gzip" else zlib.compress(data, 9)
    assert decode(raw, coding, cap=size).content() == data


def test_an_identity_body_is_capped_by_max_bytes_alone() -> None:
    body = decode(b"x" * 100_000, None, cap=1000, chunk=100_000)
    assert (body.size, body.truncated) == (1000, True)


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])
@pytest.mark.parametrize("chunk", [1, 2, 3, 7])
def test_deflate_in_tiny_chunks_is_decoded(wbits: int, chunk: int) -> None:
    compressor = zlib.compressobj(wbits=wbits)
    raw = compressor.compress(b"tiny chunks " * 20) + compressor.flush()
    assert decode(raw, "deflate", chunk=chunk).content() == b"tiny chunks " * 20


@pytest.mark.parametrize("coding", ["gzip", "deflate", "x-gzip"])
def test_an_empty_body_in_any_coding_is_empty(coding: str) -> None:
    body = CappedBody(coding, 100)
    body.finish()
    assert body.content() == b""


@pytest.mark.parametrize("trailer", [b"garbage after the stream", b"\0" * 100, b"\x1f", b"\n"])
@pytest.mark.parametrize("chunk", [1, 4096])
def test_bytes_after_a_complete_gzip_member_are_ignored(trailer: bytes, chunk: int) -> None:
    raw = gzip.compress(b"<title>kept</title>") + trailer
    assert decode(raw, "gzip", chunk=chunk).content() == b"<title>kept</title>"


def test_a_corrupt_or_cut_second_member_is_ignored() -> None:
    second = gzip.compress(b"second" * 1000)
    bad_checksum = second[:-8] + bytes(8)
    for tail in (second[: len(second) // 2], b"\x1f\x8b\x08\x00" + b"\xff" * 40, bad_checksum):
        raw = gzip.compress(b"first ") + tail
        body = decode(raw, "gzip", chunk=7)
        assert (body.content(), body.size) == (b"first ", 6)  # nothing of the bad member


@pytest.mark.parametrize("coding", ["br", "zstd", "gzip, gzip"])
def test_an_empty_body_in_a_coding_fetcher_cannot_decode_is_empty(coding: str) -> None:
    body = CappedBody(coding, 100)
    body.feed(b"")
    body.finish()
    assert body.content() == b""


@pytest.mark.parametrize("chunk", [1, 5, 4096])
def test_members_split_anywhere_across_chunks_are_decoded(chunk: int) -> None:
    raw = gzip.compress(b"one ") + gzip.compress(b"two ") + gzip.compress(b"three")
    assert decode(raw, "gzip", chunk=chunk).content() == b"one two three"
