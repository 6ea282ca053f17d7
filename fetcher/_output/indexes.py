"""Resume state that stays small: which input lines (by `index`) already have a record.

When every record in the output file has an `index`, and the inputs can be read again
(every list a regular file), the finished lines are kept as a low-water mark (every
index up to it is finished) and a bitmap above it: about one bit a record instead of the
9 bytes of `FinishedURLs`, so resuming a run of a hundred million URLs costs some 12 MB
at most, and far less once its first part is done.

An index alone would trust the inputs blindly: an edited list would have other URLs at
the same lines. So the records' (index, URL) pairs are summed into a 64-bit digest (the
same 64-bit keys `FinishedURLs` uses) as they are loaded, and before the run, the inputs
are read once more: the lines at the finished indexes must give the same count and the
same digest. If they do not (an edited list, another list, a record whose index was
hand-made), `--resume` falls back to matching URLs record by record, as it does for
stdin and for files written before records had an `index`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

__all__ = ["Finished", "FinishedIndexes", "NotCompact", "finished_union"]

_MASK = (1 << 64) - 1
#: A bitmap grows to at most this many bits beyond 64 per record: a file of a few
#: records with absurd indexes is matched URL by URL instead.
_SPARSE_BITS = 1 << 24
_BITS_PER_RECORD = 64


class Finished(Protocol):
    """What a resumed run asks of the records already written (both forms answer it)."""

    def __len__(self) -> int: ...

    def take(self, url: str, index: int | None = None) -> bool: ...

    @property
    def remaining(self) -> int: ...


class NotCompact(Exception):
    """The records cannot be held as indexes (one without an index, an index twice, ...)."""


class FinishedIndexes:
    """The finished input lines as a low-water mark and a bitmap, with their digest.

    `take` is asked once per input line, in order, as the session reads the inputs.
    """

    __slots__ = ("_bits", "_count", "_digest", "_low", "_remaining")

    def __init__(self) -> None:
        self._bits = bytearray()  # bit i: index low + 1 + i is finished
        self._low = 0  # every index up to this one is finished
        self._count = 0
        self._digest = 0
        self._remaining = 0

    def add(self, index: object, key: int) -> None:
        """Add the record at `index` whose (index, URL) key is `key`; `NotCompact` if the
        records cannot be held this way."""
        if not isinstance(index, int) or isinstance(index, bool) or index < 1:
            raise NotCompact
        position = index - 1
        if position >= _SPARSE_BITS + _BITS_PER_RECORD * (self._count + 1):
            raise NotCompact
        byte, bit = divmod(position, 8)
        bits = self._bits
        if byte >= len(bits):
            bits.extend(bytes(max(byte + 1 - len(bits), len(bits))))
        if bits[byte] >> bit & 1:
            raise NotCompact  # the same line twice: only URL matching can count it
        bits[byte] |= 1 << bit
        self._count += 1
        self._remaining += 1
        self._digest = (self._digest + key) & _MASK

    def seal(self) -> FinishedIndexes:
        """Done adding: fold the finished start of the bitmap into the low-water mark."""
        bits = self._bits
        full = 0
        while full < len(bits) and bits[full] == 0xFF:
            full += 1
        self._low = full * 8
        del bits[:full]
        return self

    def matches(self, lines: Iterable[tuple[int, str]], key: Callable[[str, int], int]) -> bool:
        """True if the inputs' (index, URL) lines give this state's count and digest at
        its finished indexes (`key`: the records' key of a URL at an index). The lines
        are read up to the last finished index only."""
        count, digest, last = 0, 0, self._low + 8 * len(self._bits)
        for index, url in lines:
            if index > last:
                break
            if self._is_set(index):
                count += 1
                digest = (digest + key(url, index)) & _MASK
        return count == self._count and digest == self._digest

    def _is_set(self, index: int) -> bool:
        position = index - 1 - self._low
        if position < 0:
            return index >= 1
        byte, bit = divmod(position, 8)
        return byte < len(self._bits) and bool(self._bits[byte] >> bit & 1)

    def __len__(self) -> int:
        """The number of records loaded, whether taken or not."""
        return self._count

    def take(self, url: str, index: int | None = None) -> bool:
        """True (once) if the line at `index` has a record; the URL was checked already."""
        if index is None or not self._is_set(index):
            return False
        self._remaining -= 1
        return True

    @property
    def remaining(self) -> int:
        """The number of records not yet taken."""
        return self._remaining

    def __repr__(self) -> str:
        return (
            f"<FinishedIndexes {self._remaining} of {self._count} remaining, "
            f"low-water mark {self._low}, {len(self._bits)} bytes of bitmap>"
        )


class _Union:
    """The records of two files (FILE and FILE.filtered), whatever form each is in."""

    __slots__ = ("_parts",)

    def __init__(self, *parts: Finished) -> None:
        self._parts = parts

    def __len__(self) -> int:
        return sum(len(part) for part in self._parts)

    def take(self, url: str, index: int | None = None) -> bool:
        return any(part.take(url, index) for part in self._parts)

    @property
    def remaining(self) -> int:
        return sum(part.remaining for part in self._parts)


def finished_union(first: Finished, second: Finished) -> Finished:
    """The records of both: a URL line is taken from the first that has it."""
    if not len(second):
        return first
    if not len(first):
        return second
    return _Union(first, second)
