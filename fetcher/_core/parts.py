"""What a cluster run's nodes write their records to when they write the output themselves
(`--parts DIR`): the two sides of it, as the run sees them.

The run (`fetcher._run`) may not know the output formats (`fetcher._output`), so the
caller hands it a `Parts` (`FetchOptions.parts`): each node asks it for a `PartSink` and
writes its records there, sealing a part now and then; the client is told of each part
sealed and lists it (`sealed`). Only what a part lists is the run's output.
"""

from __future__ import annotations

from typing import Protocol

from .result import FetchResult

__all__ = ["PartSink", "Parts", "Sealing"]


class Sealing(Protocol):
    """A part closed to writes, to be made whole on disk under its `name`."""

    name: str

    def finish(self) -> None:
        """Put the part on disk under its name (file I/O: call it holding no lock);
        `OSError` if it cannot be."""


class PartSink(Protocol):
    """A node's open part: records go in, and `seal` makes what it holds a part."""

    def write(self, record: FetchResult) -> None:
        """Add `record` to the open part (a new one is opened first if none is)."""

    def seal(self) -> Sealing | None:
        """Close the open part to writes (the next record opens another); None if no
        part is open. Its `finish` makes it whole under its final name."""

    def abandon(self) -> None:
        """Close the open part unsealed (its node stops): it is never listed."""

    @property
    def age(self) -> float | None:
        """Seconds since the open part's first record; None if no part is open."""

    @property
    def held(self) -> int:
        """Records in the open part."""


class Parts(Protocol):
    """The parts of one run: what nodes write to, and the client's list of them.

    It travels to every node (pickled with the options), so it holds only names there;
    the client's side keeps the list (a manifest) open.
    """

    def claim(self) -> None:
        """The client's side, as a run starts: `OSError` if the parts are closed, or
        have had a run already (a run's indexes start at 1: two runs in one manifest
        would list two records of an index)."""

    def sink(self, node: str) -> PartSink:
        """A node's sink (on the node's machine); `OSError` if it cannot write there."""

    def sealed(self, name: str, records: int) -> None:
        """The client's side: a node has sealed part `name` of `records` records, and
        the run takes them (it lists the part); `OSError` if it cannot be listed."""
