"""What a fetch node and its client say to each other: length-prefixed frames of JSON.

A frame is 4 bytes of big-endian length and that many bytes. The client's first frame
is the run's secret (a node's port is open to anyone who can reach the machine, so it
serves only a client that proves it started the node); after that, each frame is a
batch: URLs out as `[[seq, url, budget], ...]`, attempts back as
`[[seq, fields, retryable, retry_after, gave_up], ...]`. JSON, not pickle: a frame from
the network must never run code, and one `json.dumps` of a batch costs a few
microseconds a URL.
"""

from __future__ import annotations

import base64
import json
import socket
import struct
from typing import Any

from .._core.result import FIELDS, Attempt, FetchResult

__all__ = [
    "MAX_FRAME",
    "FrameError",
    "decode_attempts",
    "encode_attempts",
    "read_frame",
    "send_frame",
]

#: The largest frame accepted (a batch of records, bodies included with `keep_body`).
MAX_FRAME = 256 * 1024 * 1024
_LENGTH = struct.Struct(">I")


class FrameError(OSError):
    """The peer sent something that is not a frame of this protocol."""


def send_frame(sock: socket.socket, payload: bytes) -> None:
    """Send one frame (the caller holds the socket's send side alone)."""
    sock.sendall(_LENGTH.pack(len(payload)) + payload)


def read_frame(sock: socket.socket) -> bytes | None:
    """The next frame's payload, or None when the peer closed the connection cleanly."""
    head = _read_exactly(sock, _LENGTH.size, eof_ok=True)
    if head is None:
        return None
    (length,) = _LENGTH.unpack(head)
    if length > MAX_FRAME:
        raise FrameError(f"frame of {length} bytes")
    data = _read_exactly(sock, length, eof_ok=False)
    assert data is not None
    return data


def _read_exactly(sock: socket.socket, count: int, *, eof_ok: bool) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < count:
        chunk = sock.recv(min(count - len(chunks), 1 << 20))
        if not chunk:
            if eof_ok and not chunks:
                return None
            raise FrameError("connection closed inside a frame")
        chunks += chunk
    return bytes(chunks)


def encode_attempts(attempts: list[tuple[int, Attempt]]) -> bytes:
    """A batch of finished attempts, each with the sequence number its URL was sent with."""
    rows = []
    for seq, attempt in attempts:
        result = attempt.result
        fields = [getattr(result, name) for name in FIELDS]
        body = None if result.body is None else base64.b64encode(result.body).decode("ascii")
        rows.append([seq, fields, attempt.retryable, attempt.retry_after, attempt.gave_up, body])
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "surrogatepass"
    )


def decode_attempts(payload: bytes) -> list[tuple[int, Attempt]]:
    """The attempts of a frame `encode_attempts` made; `FrameError` for anything else."""
    try:
        rows: Any = json.loads(payload.decode("utf-8", "surrogatepass"))
        decoded = []
        for seq, fields, retryable, retry_after, gave_up, body in rows:
            if len(fields) != len(FIELDS):
                raise ValueError(f"{len(fields)} fields")
            decoded_body = None if body is None else base64.b64decode(body)
            values: list[Any] = [*fields, decoded_body]  # `body` follows the FIELDS
            result = FetchResult(*values)
            decoded.append((int(seq), Attempt(result, bool(retryable), retry_after, bool(gave_up))))
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise FrameError(f"not a batch of attempts: {exc}") from None
    return decoded
