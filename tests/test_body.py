"""Capped decoding of response bodies: the size limit holds after decompression."""

from __future__ import annotations

import gzip
import zlib

import pytest

from fetcher._body import BodyError, CappedBody


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
    with pytest.raises(BodyError, match="gzip body ends early"):
        decode(raw[: len(raw) // 2], "gzip")


def test_corrupt_gzip_is_an_error() -> None:
    with pytest.raises(BodyError, match="corrupt gzip body"):
        decode(b"\x1f\x8b\x08\x00garbage-garbage-garbage", "gzip")


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])
def test_deflate_wrapped_or_raw_is_decoded(wbits: int) -> None:
    compressor = zlib.compressobj(wbits=wbits)
    raw = compressor.compress(b"deflated " * 50) + compressor.flush()
    assert decode(raw, "deflate").content() == b"deflated " * 50


@pytest.mark.parametrize("coding", ["br", "zstd", "compress", "gzip, gzip"])
def test_codings_that_are_not_capped_are_refused(coding: str) -> None:
    with pytest.raises(BodyError, match="unsupported Content-Encoding"):
        CappedBody(coding, 100)
