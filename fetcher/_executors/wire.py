"""What a fetch node and its client say to each other: length-prefixed frames of JSON.

A frame is 8 bytes of big-endian length and that many bytes. The client's first frame
is the run's secret (a node's port is open to anyone who can reach the machine, so it
serves only a client that proves it started the node); after that, each frame is a
JSON object: `{"urls": [[index, url], ...]}` and `{"finish": grace}` from the client;
`{"records": [[field, ..., body], ...], "retries": n, "capped": b, "held": b}` and, after a
finish, `{"end": true}` from the node. A client that writes its records in a standalone
format (JSONL) has each node make their lines too: they follow a batch's JSON, after a
newline (JSON made here never holds one), a line a record in order, and are written as
they came (a node is trusted as Dask trusts its workers, whose results the client
unpickles; lines that do not fit their records are not used). With parts
(`--parts`), the client also sends `{"drain": true}` after its last URL, and the node
sends `{"done": n, ...}` (URLs done) and `{"sealed": name, "outcomes": [[index, status,
...], ...], ...}`, not records.
JSON, not pickle: a frame from the network must never run code, and one `json.dumps`
of a batch costs a few microseconds a URL.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import struct
from collections.abc import Callable, Iterable
from typing import Any

from .._core.result import FIELDS, FetchResult, record_of

__all__ = [
    "MAX_FRAME",
    "FrameError",
    "decode",
    "decode_batch",
    "decode_outcomes",
    "decode_records",
    "encode",
    "encode_outcomes",
    "encode_records",
    "frame",
    "frame_limit",
    "keep_alive",
    "read_frame",
    "send_frame",
    "send_or_drop",
    "split_lines",
    "take_frame",
]

#: The largest frame accepted unless the reader says otherwise (`frame_limit`).
MAX_FRAME = 256 * 1024 * 1024
_LENGTH = struct.Struct(">Q")
#: A dead peer (a machine gone, a network split) is noticed within about this long.
_KEEPALIVE = {"TCP_KEEPIDLE": 10, "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 3}


class FrameError(OSError):
    """The peer sent something that is not a frame of this protocol."""


def frame(payload: bytes) -> bytes:
    """`payload` as a frame: its length, then itself."""
    return _LENGTH.pack(len(payload)) + payload


def send_frame(sock: socket.socket, payload: bytes) -> None:
    """Send one frame (the caller holds the socket's send side alone)."""
    sock.sendall(frame(payload))


def send_or_drop(sock: socket.socket, payloads: Iterable[bytes]) -> bool:
    """Send each payload as a frame, in order (an iterator's as it makes them); if one
    cannot be made or sent (the peer is gone, or a bug), shut the connection down, so
    the peer sees it end, and return False."""
    try:
        for payload in payloads:
            send_frame(sock, payload)
    except Exception:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        return False
    return True


def frame_limit(max_bytes: int, keep_body: bool) -> int:
    """The largest frame of records to accept: room for one body of `max_bytes` (in
    base64) when records carry bodies, else `MAX_FRAME`."""
    return max(MAX_FRAME, max_bytes * 4 // 3 + (1 << 20)) if keep_body else MAX_FRAME


def keep_alive(sock: socket.socket) -> None:
    """Probe an idle connection, so that a peer that vanished without a word (its machine
    off, the network split) ends a blocked read within about 25 s."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in _KEEPALIVE.items():
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


def read_frame(sock: socket.socket, limit: int = MAX_FRAME) -> bytes | None:
    """The next frame's payload, or None when the peer closed the connection cleanly;
    `FrameError` for a frame longer than `limit`."""
    head = _read_exactly(sock, _LENGTH.size, eof_ok=True)
    if head is None:
        return None
    data = _read_exactly(sock, _payload_length(head, limit), eof_ok=False)
    assert data is not None
    return data


def take_frame(buffer: bytearray, limit: int = MAX_FRAME) -> bytes | None:
    """The payload of the whole frame at the start of `buffer` (bytes read from a
    non-blocking socket), removed from it; None while it is not all there; `FrameError`
    for a frame longer than `limit`."""
    if len(buffer) < _LENGTH.size:
        return None
    end = _LENGTH.size + _payload_length(buffer, limit)
    if len(buffer) < end:
        return None
    payload = bytes(buffer[_LENGTH.size : end])
    del buffer[:end]
    return payload


def _payload_length(head: bytes | bytearray, limit: int) -> int:
    """The payload's length a frame's header (at the start of `head`) gives; `FrameError`
    if it is longer than `limit`."""
    (length,) = _LENGTH.unpack_from(head)
    if length > limit:
        raise FrameError(f"frame of {length} bytes")
    return int(length)


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


def encode_records(
    records: list[FetchResult],
    status: dict[str, Any],
    lines: Callable[[FetchResult], bytes] | None = None,
) -> bytes:
    """A node's batch of finished records, with its run's `status` (retries, the cap),
    and after it, with `lines` (which makes a record's line), their lines."""
    rows = []
    for result in records:
        fields = [getattr(result, name) for name in FIELDS]
        body = None if result.body is None else base64.b64encode(result.body).decode("ascii")
        rows.append([*fields, body])
    payload = encode({"records": rows, **status})
    if lines is None:
        return payload
    return b"".join([payload, b"\n", *map(lines, records)])


def decode_batch(payload: bytes) -> tuple[dict[str, Any], bytes | None]:
    """A frame's message, and the lines that follow it (`encode_records`), if any;
    `FrameError` if the message is not a JSON object."""
    head, newline, tail = payload.partition(b"\n")
    return decode(head), tail if newline else None


def split_lines(tail: bytes, count: int) -> list[bytes]:
    """The lines of a batch of `count` records (`decode_batch`), each with its newline;
    `FrameError` unless there are that many, the last one ended."""
    lines = tail.splitlines(keepends=True)  # (a JSONL line holds no raw CR either)
    if len(lines) != count or (lines and not lines[-1].endswith(b"\n")):
        raise FrameError(f"not the lines of {count} records")
    return lines


#: What an outcome row holds of a record (`encode_outcomes`), index first.
OUTCOME_FIELDS = ("index", "status", "bytes", "elapsed", "error", "attempts", "error_kind")
#: The record fields `decode_outcomes` fills from a row (and the URL), by position.
_OUTCOME_ORDER = (
    "url", "final_url", "status", "title", "bytes", "elapsed", "error", "attempts", "path",
    "error_kind", "location", "index",
)  # fmt: skip
if FIELDS != _OUTCOME_ORDER:  # a field added to records must be placed here too
    raise ImportError(f"decode_outcomes knows the fields {_OUTCOME_ORDER}, records {FIELDS}")


def encode_outcomes(records: list[FetchResult], message: dict[str, Any]) -> bytes:
    """`message` with the outcomes of `records` (`"outcomes"`): a row of `OUTCOME_FIELDS`
    each, for a client that has the URLs and needs no more (the text is in a part)."""
    rows = [[getattr(result, name) for name in OUTCOME_FIELDS] for result in records]
    return encode({**message, "outcomes": rows})


def decode_outcomes(
    message: dict[str, Any], url_of: Callable[[int], str | None]
) -> list[FetchResult]:
    """The records of a message `encode_outcomes` made, each with the URL `url_of` gives
    for its index (a row whose index it does not know is left out); `FrameError` for
    anything else."""
    try:
        decoded = []
        for index, status, size, elapsed, error, attempts, kind in message["outcomes"]:
            if index.__class__ is not int:
                raise TypeError("an index is not an integer")
            url = url_of(index)
            if url is not None:  # the values of every field, in `FIELDS` order, then body
                values = (url, None, status, None, size, elapsed, error, attempts, None, kind)
                decoded.append(record_of((*values, None, index, None)))
    except (ValueError, TypeError, KeyError) as exc:
        raise FrameError(f"not a batch of outcomes: {exc}") from None
    return decoded


def decode_records(message: dict[str, Any]) -> list[FetchResult]:
    """The records of a message `encode_records` made; `FrameError` for anything else."""
    try:
        decoded = []
        for row in message["records"]:
            if len(row) != len(FIELDS) + 1:
                raise ValueError(f"{len(row)} fields")
            if row[-1] is not None:
                row[-1] = base64.b64decode(row[-1])
            decoded.append(record_of(row))
    except (ValueError, TypeError, KeyError) as exc:
        raise FrameError(f"not a batch of records: {exc}") from None
    return decoded


def encode(message: dict[str, Any]) -> bytes:
    """A message as a frame's payload: JSON in UTF-8 (lone surrogates kept)."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "surrogatepass"
    )


def decode(payload: bytes) -> dict[str, Any]:
    """A frame's message; `FrameError` if it is not a JSON object."""
    try:
        message = json.loads(payload.decode("utf-8", "surrogatepass"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise FrameError(f"not a message: {exc}") from None
    if not isinstance(message, dict):
        raise FrameError("not a message: not a JSON object")
    return message
