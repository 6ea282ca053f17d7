"""Reading a response body with a cap on its size after decompression.

httpx decodes gzip and deflate with no limit (a 65 kB response can become gigabytes), so
fetcher reads the raw bytes and decompresses them itself, never producing more than the
cap allows. Only the codings capped here are advertised in `Accept-Encoding`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

__all__ = ["ACCEPT_ENCODING", "BodyError", "CappedBody", "read_capped"]

#: The content codings fetcher asks for: exactly those it can decode under the cap.
ACCEPT_ENCODING = "gzip, deflate"


class BodyError(Exception):
    """The body could not be read within the rules: too large, corrupt, or undecodable."""


class CappedBody:
    """The decoded bytes of one body, at most `cap` of them."""

    def __init__(self, content_encoding: str | None, cap: int) -> None:
        self._cap = cap
        self._parts: list[bytes] = []
        self.size = 0
        self.truncated = False
        self._decoder = _decoder_for(content_encoding)

    def feed(self, raw: bytes) -> None:
        """Add raw bytes from the wire; sets `truncated` once the cap is reached."""
        if self._decoder is None:
            self._keep(raw)
            return
        try:
            data = self._decoder.decompress(raw, self._room())
            self._keep(data)
            while self._decoder.unconsumed_tail and not self.truncated:
                data = self._decoder.decompress(self._decoder.unconsumed_tail, self._room())
                self._keep(data)
        except zlib.error as exc:
            raise BodyError(f"corrupt compressed body ({exc})") from None

    def _room(self) -> int:
        # One byte more than the cap allows, so that reaching the cap is noticed.
        return self._cap - self.size + 1

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


def _decoder_for(content_encoding: str | None) -> zlib._Decompress | None:
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return None
    if len(codings) > 1:
        raise BodyError(f"unsupported Content-Encoding {content_encoding!r}")
    coding = codings[0]
    if coding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if coding == "deflate":
        return _DeflateDecoder()  # type: ignore[return-value]
    raise BodyError(f"unsupported Content-Encoding {coding!r}")


class _DeflateDecoder:
    """`deflate` as sent in practice: zlib-wrapped, or raw as some servers send it."""

    def __init__(self) -> None:
        self._inner = zlib.decompressobj()
        self._first = True

    @property
    def unconsumed_tail(self) -> bytes:
        return self._inner.unconsumed_tail

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if self._first:
            self._first = False
            try:
                return self._inner.decompress(data, max_length)
            except zlib.error:
                self._inner = zlib.decompressobj(-zlib.MAX_WBITS)
        return self._inner.decompress(data, max_length)


def read_capped(chunks: Iterable[bytes], content_encoding: str | None, cap: int) -> CappedBody:
    """Read raw chunks into a `CappedBody`, stopping as soon as the cap is reached."""
    body = CappedBody(content_encoding, cap)
    for chunk in chunks:
        body.feed(chunk)
        if body.truncated:
            break
    return body
