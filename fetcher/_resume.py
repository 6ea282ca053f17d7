"""Resuming an interrupted JSONL run: which input URLs already have a record.

`--resume` must give every input line exactly one record across all runs, so a URL listed
twice in the input needs two records and a record counts whatever its outcome (an error
record is a finished URL too). The finished records are therefore a multiset, loaded once
from the output file before appending to it.

Runs can hold millions of URLs, so the multiset keeps a 64-bit hash per record (9 bytes a
record, about twice that while loading) instead of the URL strings. A 64-bit key can
collide: among n records the chance that any two different URLs share a key is about
n**2 / 2**65, roughly 3e-8 for a million records; a collision would make one URL look
finished when it is not.

A run killed mid-write leaves a torn last line. A line is only trusted once its newline
has been written, so a last line without one is discarded (the file is truncated to the
end of the last complete line), even when it happens to parse as JSON: its record is
then written again by the resumed run. Any other line that is not a record means the file
is not fetcher JSONL output, and resuming refuses to touch it.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from typing import BinaryIO, Final

__all__ = ["FinishedURLs", "ResumeError", "load_finished"]

#: Keys are gathered in buckets by their top byte, then each bucket is sorted on its own,
#: so sorting never needs a Python list (about 60 bytes a key) of more than a bucket.
_BUCKETS: Final = 256
_BUCKET_SHIFT: Final = 56

#: Longest line accepted as a record. Real records are far shorter (URLs are capped at
#: 64 Ki characters, titles at 1 Ki); the cap keeps a file without newlines from being
#: read into memory whole.
_MAX_LINE_BYTES: Final = 16 * 1024 * 1024


class ResumeError(Exception):
    """The output file cannot be resumed (message is one line, shown to the user)."""


def _key(url: str) -> int:
    """The 64-bit key standing for `url` (lone surrogates allowed: JSON can encode them)."""
    digest = hashlib.blake2b(url.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


class FinishedURLs:
    """A compact multiset of URLs that already have a record.

    Each occurrence can be taken once: `take` answers whether an input URL still has an
    unconsumed record, so the resumed run skips exactly as many occurrences as were
    already written.
    """

    __slots__ = ("_keys", "_remaining", "_used")

    def __init__(self, urls: Iterable[str] = ()) -> None:
        """Hold one occurrence for each URL in `urls` (repeats count)."""
        buckets = _new_buckets()
        for url in urls:
            _add(buckets, _key(url))
        self._set_keys(buckets)

    @classmethod
    def _from_buckets(cls, buckets: list[array[int]]) -> FinishedURLs:
        """A multiset holding the keys in `buckets` (see `_add`), which it empties."""
        self = cls.__new__(cls)
        self._set_keys(buckets)
        return self

    def _set_keys(self, buckets: list[array[int]]) -> None:
        """Store the keys of `buckets` sorted, all unused, emptying each bucket once copied."""
        keys: array[int] = array("Q")
        for bucket in buckets:
            keys.extend(sorted(bucket))
            del bucket[:]
        self._keys = keys
        self._used = bytearray(len(keys))
        self._remaining = len(keys)

    def __len__(self) -> int:
        """The number of records loaded (occurrences), whether taken or not."""
        return len(self._keys)

    def take(self, url: str) -> bool:
        """Consume one unconsumed record of `url` and return True, or return False if none."""
        keys = self._keys
        key = _key(url)
        i = bisect_left(keys, key)
        n = len(keys)
        while i < n and keys[i] == key:
            if not self._used[i]:
                self._used[i] = 1
                self._remaining -= 1
                return True
            i += 1
        return False

    @property
    def remaining(self) -> int:
        """The number of records not yet consumed by `take`."""
        return self._remaining

    def __repr__(self) -> str:
        return f"<FinishedURLs {self._remaining} of {len(self._keys)} remaining>"


def _new_buckets() -> list[array[int]]:
    """Empty key buckets for `_add`."""
    return [array("Q") for _ in range(_BUCKETS)]


def _add(buckets: list[array[int]], key: int) -> None:
    """Add `key` to its bucket: buckets hold ascending key ranges, in order."""
    buckets[key >> _BUCKET_SHIFT].append(key)


def _not_a_record(path: str, lineno: int) -> ResumeError:
    return ResumeError(f"{path}: line {lineno} is not a fetcher JSONL record")


def _os_error(path: str, exc: OSError) -> ResumeError:
    reason = exc.strerror or str(exc) or type(exc).__name__
    return ResumeError(f"{path}: cannot resume: {reason}".replace("\n", " "))


def load_finished(path: str) -> FinishedURLs:
    """The URLs that already have a record in the JSONL file `path`, ready for `--resume`.

    A missing file has no records (a first run may be started with `--resume`). Blank
    lines are skipped. A torn last line (no trailing newline) is removed from the file,
    which is the only change ever made to it, so that the resumed run appends after the
    last complete record. Raises `ResumeError` if the file cannot be read or a complete
    line is not a JSON object with a string "url"; the file is then left unchanged.
    """
    buckets = _new_buckets()
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed by `with` below
    except FileNotFoundError:
        return FinishedURLs()
    except OSError as exc:
        raise _os_error(path, exc) from None
    try:
        with stream:
            torn_at = _read_keys(path, stream, buckets)
        if torn_at is not None:
            with open(path, "r+b") as writable:
                writable.truncate(torn_at)
    except OSError as exc:
        raise _os_error(path, exc) from None
    return FinishedURLs._from_buckets(buckets)


def _read_keys(path: str, stream: BinaryIO, buckets: list[array[int]]) -> int | None:
    """Add the key of every record in `stream` to `buckets`; the offset of a torn line, if any.

    Raises `ResumeError` at the first complete line that is not a record.
    """
    offset = 0
    lineno = 0
    while line := stream.readline(_MAX_LINE_BYTES):
        lineno += 1
        if not line.endswith(b"\n"):
            if len(line) == _MAX_LINE_BYTES and _skip_rest_of_line(stream):
                raise _not_a_record(path, lineno)  # overlong, yet complete
            return offset
        offset += len(line)
        if not line.strip():
            continue
        try:
            record = json.loads(line.decode("utf-8"))
        except (ValueError, RecursionError):  # bad UTF-8 or JSON, or absurdly deep nesting
            raise _not_a_record(path, lineno) from None
        url = record.get("url") if isinstance(record, dict) else None
        if not isinstance(url, str):
            raise _not_a_record(path, lineno)
        _add(buckets, _key(url))
    return None


def _skip_rest_of_line(stream: BinaryIO) -> bool:
    """Read past the rest of the current line; True if it ends in a newline, False at EOF."""
    while piece := stream.readline(_MAX_LINE_BYTES):
        if piece.endswith(b"\n"):
            return True
    return False
