"""Reading a response body with caps on its size, before and after decompression.

httpx decodes gzip and deflate with no limit (a 65 kB response can become gigabytes), so
fetcher reads the raw bytes and decompresses them itself, never producing more than the
cap allows. Only the codings capped here are advertised in `Accept-Encoding`.

Two caps apply. The decoded bytes kept are at most `max_bytes`. The wire bytes of a
compressed body (after de-chunking, before decoding) are at most `raw_cap(max_bytes)`:
max-bytes + max-bytes/1000 + 1 KiB, which honest compression never needs (deflate's
worst case, stored blocks, adds 5 bytes per 64 KiB block), so a stream that decodes to
little or nothing (endless empty deflate blocks) cannot be read for ever.

Decoding follows browsers: a zlib-wrapped or raw `deflate` stream, told apart by its
first two bytes; `gzip` with several members decoded in turn; bytes after a complete
stream that do not start another gzip member ignored, and so is a later member that is
corrupt or cut short (the body is what decoded before it); an empty body in any coding,
even one fetcher cannot decode, is an empty body.
"""

from __future__ import annotations

import zlib
from typing import Protocol

from .._core.checks import DECODABLE_CODINGS
from .._core.errors import Failure

__all__ = ["ACCEPT_ENCODING", "DECODABLE_CODINGS", "CappedBody", "raw_cap"]

#: The content codings fetcher asks for: exactly those it can decode under the cap.
ACCEPT_ENCODING = "gzip, deflate"

_GZIP_MAGIC = b"\x1f\x8b"


def raw_cap(max_bytes: int) -> int:
    """The most wire bytes read of a compressed body whose decoded size is capped."""
    return max_bytes + max_bytes // 1000 + 1024


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
    where its compressed stream did. A compressed body whose raw bytes pass `raw_cap`
    fails with kind `too_large`; corrupt data or an unknown coding with kind `decode`.
    """

    def __init__(self, content_encoding: str | None, cap: int) -> None:
        self._cap = cap
        self._raw_cap = raw_cap(cap)
        self._parts: list[bytes] = []
        self.size = 0
        self.raw_size = 0
        self.truncated = False
        self._refused: Failure | None = None  # an unknown coding: an error once bytes come
        try:
            self._coding = _coding_of(content_encoding)
        except Failure as failure:
            self._coding, self._refused = None, failure
        self._decoder = _new_decoder(self._coding)
        self._members = 0  # complete gzip members decoded
        self._ignoring = False  # past the end of the compressed data: the rest is ignored
        self._rollback: tuple[int, int] | None = None  # (parts, size) before a later member

    @property
    def cap(self) -> int:
        """The most decoded bytes kept."""
        return self._cap

    def feed(self, raw: bytes) -> None:
        """Add raw bytes from the wire."""
        if self._refused is not None and raw:
            raise self._refused
        if self._coding is None:
            self.raw_size += len(raw)
            self._keep(raw)
            return
        if not self._ignoring:
            self._inflate(raw)
        self.raw_size += len(raw)
        if self.raw_size > self._raw_cap:
            raise Failure("too_large", f"compressed body larger than {self._raw_cap} bytes")

    def _inflate(self, data: bytes) -> None:
        while data and not self.truncated and not self._ignoring:
            decoder = self._decoder
            if decoder is None:  # between gzip members: another one, or trailing bytes
                if not data.startswith(_GZIP_MAGIC[: len(data)]):
                    self._ignoring = True
                    return
                decoder = self._decoder = _new_decoder(self._coding)
                assert decoder is not None
                self._rollback = (len(self._parts), self.size)  # kept only once complete
            try:
                # One byte more than the cap allows, so that reaching the cap is noticed.
                self._keep(decoder.decompress(data, self._cap - self.size + 1))
            except zlib.error as exc:
                if self._members:  # a later member that is not gzip after all: ignored
                    self._drop_later_member()
                    return
                raise Failure("decode", f"corrupt {self._coding} body ({exc})") from None
            data = decoder.unconsumed_tail
            if decoder.eof:
                self._members += 1
                self._rollback = None
                if self._coding != "gzip":
                    self._ignoring = True  # deflate is one stream: the rest is ignored
                    return
                data = decoder.unused_data
                self._decoder = None

    def finish(self) -> None:
        """The whole raw body was fed: a compressed stream must have reached its end.

        An empty body is complete in any coding, and a later gzip member cut short is
        ignored like any other trailing bytes.
        """
        if self._coding is None or self.truncated or self._ignoring or self.raw_size == 0:
            return
        if not self._members:
            raise Failure("decode", f"{self._coding} body ends early")
        if self._rollback is not None:
            self._drop_later_member()

    def _drop_later_member(self) -> None:
        """Forget what a later gzip member decoded to: it is corrupt or cut short."""
        if self._rollback is not None:
            parts, size = self._rollback
            del self._parts[parts:]
            self.size, self._rollback = size, None
        self._ignoring = True

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
    if len(codings) > 1 or codings[0] not in DECODABLE_CODINGS:
        shown = (content_encoding or "")[:40]
        raise Failure("decode", f"unsupported Content-Encoding {shown!r}")
    return "gzip" if codings[0] == "x-gzip" else codings[0]


def _new_decoder(coding: str | None) -> _Decoder | None:
    if coding == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if coding == "deflate":
        return _DeflateDecoder()
    return None


class _DeflateDecoder:
    """`deflate` as sent in practice: zlib-wrapped (RFC 1950), or raw (RFC 1951).

    The two are told apart by the first two bytes, as browsers do: a zlib header has
    compression method 8 in the low nibble and a check value making the pair a multiple
    of 31. Until two bytes have arrived, nothing is decided.
    """

    def __init__(self) -> None:
        self._inner: zlib._Decompress | None = None
        self._head = b""

    @property
    def unconsumed_tail(self) -> bytes:
        return self._inner.unconsumed_tail if self._inner is not None else b""

    @property
    def unused_data(self) -> bytes:
        return b""  # deflate has a single stream: anything after it is ignored

    @property
    def eof(self) -> bool:
        return self._inner is not None and self._inner.eof

    def decompress(self, data: bytes, max_length: int = 0, /) -> bytes:
        if self._inner is None:
            self._head += data
            if len(self._head) < 2:
                return b""
            first, second = self._head[0], self._head[1]
            wrapped = first & 0x0F == 8 and first >> 4 <= 7 and (first << 8 | second) % 31 == 0
            self._inner = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
            data, self._head = self._head, b""
        return self._inner.decompress(data, max_length)
