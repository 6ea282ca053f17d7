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

A file is resumed only once it is proven to be fetcher's, so that no other file is ever
changed by mistake:

- a missing or empty file is a fresh start;
- every complete line must be a record: a JSON object whose first keys are the record
  fields in `FIELDS` order (at least the seven of the first release, `url` to `error`;
  fields appended by later versions are allowed) with a string `url`;
- a run killed mid-write leaves a torn last line. A line is only trusted once its
  newline has been written, so a last line without one is cut off (the file truncated
  to the end of the last complete line), but only when a complete record precedes it
  or it starts with `{"url":`; its URL is then fetched again by the resumed run;
- anything else (a one-line note, a JSON object of another program, a binary file
  without a newline, a blank line) is refused, and the file is left byte for byte as
  it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO, Final

from .._core.errors import ResumeError
from .._core.result import FIELDS
from .indexes import Finished, FinishedIndexes, NotCompact, finished_union

__all__ = [
    "Finished",
    "FinishedIndexes",
    "FinishedURLs",
    "ResumeError",
    "finished_union",
    "is_record",
    "load_finished",
    "read_finished",
    "read_parts",
]

#: Keys are gathered in buckets by their top byte, then each bucket is sorted on its own,
#: so sorting never needs a Python list (about 60 bytes a key) of more than a bucket.
_BUCKETS: Final = 256
_BUCKET_SHIFT: Final = 56

#: Longest line accepted as a record. Real records are far shorter (URLs are capped at
#: 64 Ki characters, titles at 1 Ki); the cap keeps a file without newlines from being
#: read into memory whole.
_MAX_LINE_BYTES: Final = 16 * 1024 * 1024

#: Fields every record has had since the first release (`url` ... `error`).
_FIRST_FIELDS: Final = 7
#: How a torn record written by fetcher starts (the writer's key order and spacing).
_RECORD_START: Final = b'{"url":'


def _key(url: str, index: object = None) -> int:
    """The 64-bit key standing for `url` (lone surrogates allowed: JSON can encode them),
    or for `url` at position `index` when the record says where its URL was read."""
    data = url.encode("utf-8", "surrogatepass")
    if isinstance(index, int) and not isinstance(index, bool):
        data = b"%d\0%s" % (index, data)  # no URL holds a NUL: never a plain URL's key
    digest = hashlib.blake2b(data, digest_size=8).digest()
    return int.from_bytes(digest, "little")


class FinishedURLs:
    """A compact multiset of URLs that already have a record.

    Each occurrence can be taken once: `take` answers whether an input URL still has an
    unconsumed record, so the resumed run skips exactly as many occurrences as were
    already written. A record with an `index` stands for its URL at that position only
    (the same URL listed twice is two different lines); one without (written before
    records had an `index`) for any occurrence of its URL.
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

    def take(self, url: str, index: int | None = None) -> bool:
        """Consume an unconsumed record of `url` at `index` (or, failing that, one of `url`
        without an index) and return True, or return False if there is none."""
        return (index is not None and self._take_key(_key(url, index))) or self._take_key(_key(url))

    def _take_key(self, key: int) -> bool:
        keys = self._keys
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


def is_record(value: Any) -> bool:
    """True for a parsed JSON value that is a fetcher record (see the module's rules)."""
    if not isinstance(value, dict) or not isinstance(value.get("url"), str):
        return False
    keys = list(value)
    known = min(len(keys), len(FIELDS))
    return len(keys) >= _FIRST_FIELDS and tuple(keys[:known]) == FIELDS[:known]


def _not_a_record(path: str, lineno: int) -> ResumeError:
    return ResumeError(f"{path}: line {lineno} is not a fetcher JSONL record")


def _os_error(path: str, exc: OSError) -> ResumeError:
    reason = exc.strerror or str(exc) or type(exc).__name__
    return ResumeError(f"{path}: cannot resume: {reason}".replace("\n", " "))


def load_finished(path: str) -> Finished:
    """The URLs that already have a record in the JSONL file `path`, ready for `--resume`.

    A missing file has no records (a first run may be started with `--resume`). A torn
    last line is removed from the file (see the module's rules), which is the only change
    ever made to it, so that the resumed run appends after the last complete record.
    Raises `ResumeError` if the file is not a regular file, cannot be read, or is not
    fetcher's; the file is then left unchanged. (The command line reads the file through
    the descriptor it holds locked, with `read_finished`.)
    """
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed by `with` below
    except FileNotFoundError:
        return FinishedURLs()
    except OSError as exc:
        raise _os_error(path, exc) from None
    try:
        with stream:
            finished, torn_at = read_finished(stream, path)
        if torn_at is not None:
            with open(path, "r+b") as writable:
                writable.truncate(torn_at)
    except OSError as exc:
        raise _os_error(path, exc) from None
    return finished


def read_finished(
    stream: BinaryIO, path: str, lines: Callable[[], Iterable[tuple[int, str]]] | None = None
) -> tuple[Finished, int | None]:
    """The records of an open JSONL file, and the offset to cut a torn last line at.

    With `lines` (a fresh reading of the inputs as (index, URL) pairs: every list a
    regular file), records that all have an index are held as `FinishedIndexes` once the
    inputs are proven to have the same URLs at those indexes; otherwise, and without
    `lines`, as `FinishedURLs`. Raises `ResumeError` (naming `path`) if the file is not a
    regular file or not fetcher's. Reads from the stream's current position (its start,
    for a fresh one).
    """
    mode = os.fstat(stream.fileno()).st_mode
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise ResumeError(f"{path}: cannot resume: {kind}")
    start = stream.tell()
    torn: list[int | None] = [None]

    def read(add: Callable[[object, int], None]) -> None:
        stream.seek(start)
        torn[0] = _read_records(path, stream, add)

    return _finished_from(read, lines), torn[0]


def read_parts(
    paths: list[str], lines: Callable[[], Iterable[tuple[int, str]]] | None = None
) -> Finished:
    """The records of a run's sealed parts (JSONL files, `--parts DIR`), as one file's
    (`read_finished`): held as indexes when they all have one and `lines` proves the
    inputs unchanged, else by URL. Raises `ResumeError` for a part that cannot be read,
    is not fetcher's, or is torn (a sealed part is written whole before it is named)."""

    def read(add: Callable[[object, int], None]) -> None:
        for path in paths:
            _read_part(path, add)

    return _finished_from(read, lines)


def _finished_from(
    read: Callable[[Callable[[object, int], None]], None],
    lines: Callable[[], Iterable[tuple[int, str]]] | None,
) -> Finished:
    """The records `read` passes (index, key) of, each time it is called: as indexes
    when they all have one and `lines` proves the inputs unchanged, else by URL."""
    if lines is not None:
        indexes = FinishedIndexes()
        try:
            read(indexes.add)
        except NotCompact:
            pass
        else:
            if not len(indexes):
                return FinishedURLs()
            with contextlib.suppress(Exception):  # a list that fails to read: match URLs
                if indexes.seal().matches(lines(), _key):
                    return indexes
    buckets = _new_buckets()
    read(lambda index, key: _add(buckets, key))
    return FinishedURLs._from_buckets(buckets)


def _read_part(path: str, add: Callable[[object, int], None]) -> None:
    try:
        with open(path, "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                raise ResumeError(f"{path}: cannot resume: not a regular file")
            if _read_records(path, stream, add) is not None:
                raise ResumeError(f"{path}: cannot resume: a sealed part ends in a torn line")
    except OSError as exc:
        raise _os_error(path, exc) from None


def _read_records(path: str, stream: BinaryIO, add: Callable[[object, int], None]) -> int | None:
    """Pass the index and key of every record in `stream` to `add`; the offset of a torn
    line, if any.

    Raises `ResumeError` at the first complete line that is not a record, or for a torn
    last line that nothing proves to be fetcher's.
    """
    offset = 0
    lineno = 0
    while line := stream.readline(_MAX_LINE_BYTES):
        lineno += 1
        if not line.endswith(b"\n"):
            if len(line) == _MAX_LINE_BYTES and _skip_rest_of_line(stream):
                raise _not_a_record(path, lineno)  # overlong, yet complete
            if lineno > 1 or line.startswith(_RECORD_START):
                return offset
            raise _not_a_record(path, lineno)
        offset += len(line)
        try:
            record = json.loads(line.decode("utf-8"))
        except (ValueError, RecursionError):  # bad UTF-8 or JSON, or absurdly deep nesting
            raise _not_a_record(path, lineno) from None
        if not is_record(record):
            raise _not_a_record(path, lineno)
        index = record.get("index")
        add(index, _key(record["url"], index))
    return None


def _skip_rest_of_line(stream: BinaryIO) -> bool:
    """Read past the rest of the current line; True if it ends in a newline, False at EOF."""
    while piece := stream.readline(_MAX_LINE_BYTES):
        if piece.endswith(b"\n"):
            return True
    return False
