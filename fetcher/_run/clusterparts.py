"""The client's side of `--parts DIR` in a cluster run: the nodes' counts of URLs done,
the parts they seal (listed, then their records taken), and the records made here
(`PartsTaking`, mixed into `cluster.ClusterRun`).
"""

from __future__ import annotations

import threading
from typing import Any

from .._core.errors import OutputError
from .._core.options import FetchOptions
from .._core.parts import PartSink
from .._core.result import FetchResult
from .._executors.wire import FrameError, decode_outcomes
from .links import Link

__all__ = ["PartsTaking"]


class PartsTaking:
    """The part of a cluster run that takes parts (its state is the run's, set up by it)."""

    options: FetchOptions
    _lock: threading.Lock
    _links: dict[str, Link]
    _arrivals: list[FetchResult]
    _losses: dict[int, int]
    _outstanding: int
    _unsealed: int  # records done at the nodes, not yet in a part
    _failure: str | None  # parts could not be written (or listed)
    _own: PartSink | None  # for records made here

    def _claim_parts(self) -> None:
        """With parts: take them for this run, before any node starts; `OutputError` if
        they are closed or had a run already."""
        if self.options.parts is not None:
            try:
                self.options.parts.claim()
            except OSError as exc:
                raise OutputError(f"cannot run into these parts: {exc}") from None

    def _drain_nodes(self) -> None:
        """Tell each node that no more URLs come (it seals its part once idle)."""
        with self._lock:
            for link in self._links.values():
                if not link.drained and not link.pending:  # after its last URL
                    link.drained = True
                    link.post({"drain": True})

    def _settle(self, record: FetchResult) -> None:
        """A record made here, no node having fetched its URL (the lock is held): with
        parts, first in a part of this process's own, sealed and listed at once."""
        parts = self.options.parts
        if parts is not None:
            try:
                if self._own is None:
                    self._own = parts.sink("00000000")
                self._own.write(record)
                sealing = self._own.seal()
                assert sealing is not None
                sealing.finish()
                parts.sealed(sealing.name, 1)
            except OSError as exc:
                self._failure = f"cannot write a part: {exc.strerror or exc}"
                return
        self._arrivals.append(record)

    def _done_at(self, link: Link, count: int, message: dict[str, Any]) -> None:
        """With parts: `count` URLs at `link` are done, their records not yet in a part
        (the lock is held). Room for more URLs, at the node and in the window."""
        link.answered(count)
        link.unsealed += count
        self._unsealed += count
        link.note_status(message)

    def _take_part(self, link: Link, name: str, message: dict[str, Any]) -> None:
        """With parts: list the part a node sealed, then take the records of its URLs
        still outstanding there (the lock is held); a part that cannot be listed ends
        the run, its records not taken."""
        assert self.options.parts is not None
        outstanding = link.outstanding
        records = decode_outcomes(message, outstanding.get)
        if len(records) != len(message["outcomes"]):  # the node's output is not trusted
            raise FrameError(f"part {name} holds records of URLs not out at the node")
        if self._failure is not None:
            return
        try:
            self.options.parts.sealed(name, len(message["outcomes"]))
        except OSError as exc:
            self._failure = f"cannot list the part {name}: {exc.strerror or exc}"
            return
        losses = self._losses
        for record in records:
            del outstanding[record.index]  # type: ignore[arg-type]
            if losses:
                losses.pop(record.index, None)  # type: ignore[arg-type]
        self._arrivals += records
        self._outstanding -= len(records)
        link.unsealed -= len(records)
        self._unsealed -= len(records)
