"""Reading a response body with a cap on its size after decompression.

httpx decodes gzip and deflate with no limit (a 65 kB response can become gigabytes), so
fetcher reads the raw bytes and decompresses them itself, never producing more than the
cap allows. Only the codings capped here are advertised in `Accept-Encoding`.
"""

from __future__ import annotations

import zlib
from typing import Protocol

__all__ = ["ACCEPT_ENCODING", "BodyError", "CappedBody"]

#: The content codings fetcher asks for: exactly those it can decode under the cap.
ACCEPT_ENCODING = "gzip, deflate"


class BodyError(Exception):
    """The body could not be read within the rules: corrupt, or in an unknown coding."""


class _Decoder(Protocol):
    @property
    def unconsumed_tail(self) -> bytes: ...
    @property
    def unused_data(self) -> bytes: ...
    @property
    def eof(self) -> bool: ...
    def decompress(self, data: bytes, max_length: int = ..., /) -> bytes: ...


class CappedBody:
    """The decoded bytes of one body, at most `cap` of them.

    Feed it the raw bytes as they arrive; `truncated` turns true once the cap is reached
    (the caller stops reading then), and `finish()` checks that a compressed body ended
    where its compressed stream did.
    """

    def __init__(self, content_encoding: str | None, cap: int) -> None:
        self._cap = cap
        self._parts: list[bytes] = []
        self.size = 0
        self.truncated = False
        self._coding = _coding_of(content_encoding)
        self._decoder = _new_decoder(self._coding)

    @property
    def cap(self) -> int:
        """The most decoded bytes kept."""
        return self._cap

    def feed(self, raw: bytes) -> None:
        """Add raw bytes from the wire."""
        if self._decoder is None:
            self._keep(raw)
            return
        try:
            self._inflate(raw)
        except zlib.error as exc:
            raise BodyError(f"corrupt {self._coding} body ({exc})") from None

    def _inflate(self, data: bytes) -> None:
        while data and not self.truncated:
            decoder = self._decoder
            assert decoder is not None
            # One byte more than the cap allows, so that reaching the cap is noticed.
            self._keep(decoder.decompress(data, self._cap - self.size + 1))
            data = decoder.unconsumed_tail
            if decoder.eof and decoder.unused_data.strip(b"\0"):  # another gzip member
                data = decoder.unused_data
                self._decoder = _new_decoder(self._coding)

    def finish(self) -> None:
        """The whole raw body was fed: a compressed stream must have reached its end."""
        if self._decoder is not None and not self._decoder.eof and not self.truncated:
            raise BodyError(f"{self._coding} body ends early")

    def _keep(self, data: bytes) -> None:
        room = self._cap - self.size
        if len(data) > room:
            data = data[:room]
            self.truncated = True
        if data:
            self._parts.append(data)
            self.size += len(data)

    def content(self) -> bytes:
        return b"".join(self._parts)


def _coding_of(content_encoding: str | None) -> str | None:
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return None
    if len(codings) > 1 or codings[0] not in ("gzip", "x-gzip", "deflate"):
        raise BodyError(f"unsupported Content-Encoding {content_encoding!r}")
    return "gzip" if codings[0] == "x-gzip" else codings[0]


def _new_decoder(coding: str | None) -> _Decoder | None:
    if coding == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if coding == "deflate":
        return _DeflateDecoder()
    return None


class _DeflateDecoder:
    """`deflate` as sent in practice: zlib-wrapped, or raw as some servers send it."""

    def __init__(self) -> None:
        self._inner = zlib.decompressobj()
        self._first = True

    @property
    def unconsumed_tail(self) -> bytes:
        return self._inner.unconsumed_tail

    @property
    def unused_data(self) -> bytes:
        return b""  # deflate has a single stream: anything after it is ignored

    @property
    def eof(self) -> bool:
        return self._inner.eof

    def decompress(self, data: bytes, max_length: int = 0, /) -> bytes:
        if self._first:
            self._first = False
            try:
                return self._inner.decompress(data, max_length)
            except zlib.error:
                self._inner = zlib.decompressobj(-zlib.MAX_WBITS)
        return self._inner.decompress(data, max_length)
