"""A fetch node's side of `--parts DIR`: it writes its records to parts itself, and
tells the client only how many URLs are done (when that lets the client send more) and
which records each part sealed holds (`PartsWriting`, mixed into `node.Node`).

The count of URLs done is flow control, nothing more: the records themselves reach the
client with their part. So a count leaves only once the client, learning it, would send
more (the node then holds fewer URLs than the client's `refill_mark`), at most once a
tick, and with every part sealed. A count each tick woke a no-latency run's client some
45 times a second for a few dozen URLs each, and the same work costs two to three times
as much CPU in small bursts (docs/cluster-client-bursts.txt); the figures of both ways
are in docs/cluster-parts.txt.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from typing import Any

from .._core.parts import PartSink, Sealing
from .._core.result import FetchResult
from .._executors.wire import encode, encode_outcomes, send_or_drop
from .runner import FetchRun

__all__ = ["SEAL_RECORDS", "SEAL_SECONDS", "PartsWriting"]

#: With parts, a node seals its open part this often and at this size, and once it is
#: idle after the client has sent its last URL: a sealed part is what a lost node or a
#: stopped run keeps, and each seal costs two writes to disk.
SEAL_SECONDS = 1.0
SEAL_RECORDS = 100_000


class PartsWriting:
    """The part of a node that writes parts (its state is the node's, set up by it)."""

    _batch: int  # a count of this many leaves at once, not on the next tick
    _sink: PartSink | None
    _condition: threading.Condition
    _inbox: deque[tuple[int, str]]
    _run: FetchRun
    _closed: bool
    _ended: bool
    _draining: bool  # the client has sent its last URL: seal when idle
    _failure: str | None  # a part could not be written
    _done: int  # records finished since the client was last told
    _held: int  # URLs received, not yet told done
    _refill_at: int  # the client sends more once the node holds fewer URLs than this
    _unsealed: list[FetchResult]  # in the open part (the client gets their outcomes)

    def _status(self) -> dict[str, Any]:
        raise NotImplementedError

    def _next_flush(self, sent_at: float) -> float:
        """When the next count may leave after one sent at `sent_at` (the node's grid)."""
        raise NotImplementedError

    def _post_to_part(self, record: FetchResult) -> None:
        """Write a record to the open part; the client gets its outcome when the part is
        sealed, and the count of records done once it is worth telling (`_worth_telling`:
        the writer is woken when that becomes so, not for every record)."""
        with self._condition:
            if self._failure is None and not self._closed:
                try:
                    self._sink.write(record)  # type: ignore[union-attr]
                except OSError as exc:
                    self._failure = f"cannot write a part: {exc.strerror or exc}"
            self._unsealed.append(record)
            self._done += 1
            # Worth telling only now: the first record done, or the URLs held (falling by
            # one a record) just under the client's mark.
            became = self._worth_telling() and (
                self._done == 1 or self._held - self._done == self._refill_at - 1
            )
            opened = len(self._unsealed) == 1  # the writer's sleep is now until its seal
            if became or opened or self._done == self._batch or self._failure is not None:
                self._condition.notify_all()

    def _worth_telling(self) -> bool:
        """Whether the count of records done lets the client send more (the lock is
        held): the node then holds fewer URLs than the client's mark. (URLs on their
        way here count only once they come: the count may then leave early, never
        late.)"""
        return bool(self._done) and self._held - self._done < self._refill_at

    def _write_parts(self, conn: socket.socket) -> None:
        """With parts: send how many records are done once that is worth telling, at
        most once a tick (or at once when a batch is), and each part sealed with its
        records' outcomes. A part is sealed every `SEAL_SECONDS`, at `SEAL_RECORDS`,
        once the node is idle after the client's last URL, and at the end."""
        sent_at: float | None = None  # when (`time.time()`) the last count left
        while True:
            with self._condition:
                flush_at: float | None = None  # once worth telling: when the count leaves
                while not (self._ended or self._closed or self._failure or self._seal_due()):
                    if not self._worth_telling():  # (a refill came since the wake-up)
                        self._condition.wait(self._seal_wait())
                        continue
                    if flush_at is None:
                        flush_at = time.monotonic()
                        flush_at = flush_at if sent_at is None else self._next_flush(sent_at)
                    left = flush_at - time.monotonic()
                    if left <= 0 or self._done >= self._batch:
                        break
                    self._condition.wait(left)
                if self._closed:
                    self._sink.abandon()  # type: ignore[union-attr]
                    return
                counted, sealing, records = self._take_work()
                last = self._ended  # then its every record is in what is sealed now
                sent_at = time.time()
            messages = self._part_messages(counted, sealing, records)
            with self._condition:
                last = last or self._failure is not None
            if not send_or_drop(conn, messages + ([encode({"end": True})] if last else [])):
                with self._condition:  # gone: the client moves the URLs
                    self._sink.abandon()  # type: ignore[union-attr]
                return
            if last:
                return

    def _seal_due(self) -> bool:
        """Whether the open part is to be sealed now (the lock is held)."""
        sink = self._sink
        if sink is None or not sink.held:
            return False
        if (sink.age or 0.0) >= SEAL_SECONDS or sink.held >= SEAL_RECORDS or self._ended:
            return True
        return self._draining and not self._inbox and not self._run.in_flight

    def _seal_wait(self) -> float | None:
        """How long the writer may sleep before the open part is due (the lock is held)."""
        age = None if self._sink is None else self._sink.age
        return None if age is None else max(0.0, SEAL_SECONDS - age)

    def _take_work(self) -> tuple[bytes | None, Sealing | None, list[FetchResult]]:
        """What to tell the client now (the lock is held): the count of records done
        (as a message), and the part to seal if one is due, with its records."""
        counted = None
        if self._done:
            counted = encode({"done": self._done, **self._status()})
            self._held -= self._done
            self._done = 0
        sealing = None
        records: list[FetchResult] = []
        if self._failure is None and self._seal_due() and self._sink is not None:
            sealing = self._sink.seal()
            records, self._unsealed = self._unsealed, []
        return counted, sealing, records

    def _part_messages(
        self, counted: bytes | None, sealing: Sealing | None, records: list[FetchResult]
    ) -> list[bytes]:
        """The count, then the part sealed (put on disk here, holding no lock: a slow
        disk holds up no fetch) with its records' outcomes, or what failed."""
        messages = [] if counted is None else [counted]
        if sealing is not None:
            try:
                sealing.finish()
            except OSError as exc:
                with self._condition:
                    self._failure = f"cannot seal a part: {exc.strerror or exc}"
            else:
                sealed = {"sealed": sealing.name, **self._status()}
                messages.append(encode_outcomes(records, sealed))
        with self._condition:
            failure = self._failure
        if failure is not None:
            messages.append(encode({"failed": failure}))
        return messages
