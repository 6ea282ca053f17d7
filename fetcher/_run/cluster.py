"""The Dask executor's run: fetch nodes on a Dask cluster run the URLs; this process
routes them and writes the records.

Dask places the nodes and watches over them; it schedules no URL. The run starts a fetch
node (`node`) in every Dask worker process with one `Client.run`, connects to each
directly (the run's own thread reads and writes every connection: `links`), and sends
it its URLs in batches, with their indexes; each node runs fetcher's own runner
(per-host cap, retries, `Retry-After`, its share of `--rate`) and sends the records back
in batches. This process does per URL only what cannot be avoided: read it, find its
owner, and write its record. (A task per URL made the Dask scheduler the bottleneck, at
some 1.5 ms of its CPU a URL; scheduling each URL here, with a future per attempt, cost
this process about 60 µs a URL.)

Hosts have owners (`owners`): an origin (`scheme://host:port`) hashes to one of 1,024
partitions, and each partition belongs to one live node (the least loaded for its
threads when the run first meets the partition), so every URL of an origin goes to one
node, which applies `--per-host` exactly and keeps its connections alive. `--rate` is
split evenly among the nodes the run starts with.

Exactly once: every index is outstanding at one node at a time. A lost node (its
worker killed, its machine gone) is fenced by closing its connection, so nothing it
sends later is read; its outstanding URLs then go to their partitions' new owners. One
whose node is lost twice gets an `executor` record instead of killing every worker in
turn. Nodes that join during a run (a nanny's restart) serve the next run: giving them
partitions mid-run would let two nodes fetch one host at once.
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from typing import Any

from .._core.errors import ExecutorError, OutputError
from .._core.options import FetchOptions
from .._core.parts import PartSink
from .._core.result import FetchResult
from .._core.signals import SIGNAL_CHECK_SECONDS
from .._executors.dask import DaskPool
from .._executors.wire import FrameError, decode_batch, decode_records, frame_limit, split_lines
from . import retry
from .clusterparts import PartsTaking
from .feeder import Feeder
from .links import Link, LinkLoop, connect
from .node import BATCH, start_node
from .owners import Owners, partition_of
from .runner import FetchRun

__all__ = ["ClusterRun"]

_END_SECONDS = 1.0  # after a finish's grace, how long the nodes' last records may take
#: While the nodes' frames are small, the links' loop reads them at most this often
#: (`LinkLoop`): a record waits at most 20 ms at its node and this here, which leaves
#: 22 ms of the 50 ms a record may take to reach the run for the network, the turn and
#: threads late for a core or their GIL.
_PACE_SECONDS = 0.008
#: After a frame, how long the loop waits for the other busy nodes' frames of the same
#: tick (`LinkLoop`): taken in one turn, not in one each.
_GATHER_SECONDS = 0.004


class ClusterRun(PartsTaking, FetchRun):
    """A `FetchRun` whose URLs run at fetch nodes on a Dask cluster (`-e dask`).

    `FetchRun(urls, options)` with `executor="dask"` makes one; it is iterated, stopped
    and closed like any run.
    """

    def __init__(
        self, urls: Iterable[Any], options: FetchOptions, *, numbered: bool = False,
        lines: Callable[[FetchResult], bytes] | None = None,
    ) -> None:  # fmt: skip
        super().__init__(urls, options, numbered=numbered)
        self._make_lines = lines  # travels to the nodes, which send each record's line
        self._lines: dict[int, bytes] = {}  # index -> the line of a record not yet taken
        self._lock = threading.Lock()
        self._links: dict[str, Link] = {}
        self._owners: Owners[Link] = Owners({})  # partition -> the node owning it
        self._arrivals: list[FetchResult] = []  # records from the nodes, not yet taken
        self._losses: dict[int, int] = {}  # index -> nodes lost while it was at them
        self._outstanding = 0  # URLs at the nodes or on their way
        self._lost_retries = 0  # retries counted by nodes since lost
        self._was_capped = False
        self._dask: DaskPool | None = None
        self._loop: LinkLoop | None = None
        self._window = options.window  # and two batches a node, once the nodes are known
        self._unsealed = 0  # with parts: records done at the nodes, not yet in a part
        self._failure: str | None = None  # parts could not be written (or listed)
        self._own: PartSink | None = None  # with parts: for records made here

    # What the session reads -------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return self._outstanding - self._unsealed  # (with parts: done, not yet in one)

    @property
    def held_by_cap(self) -> bool:
        return any(link.status["held"] for link in list(self._links.values()))

    @property
    def capped(self) -> bool:
        return self._was_capped

    def line_of(self, record: FetchResult) -> bytes | None:
        return None if record.index is None else self._lines.pop(record.index, None)

    # Iterating --------------------------------------------------------------------------

    # The runner's loop (`FetchRun.__next__`) runs these steps: records come from the
    # nodes (`_collect`), new URLs go to them (`_fill`), and nothing is scheduled here.

    def _start(self) -> Feeder:
        """Start the nodes, then read the URLs as far ahead as the run's window, which
        holds two batches a node more than the options' window: the feeder's thread then
        wakes once every half window (544 URLs with two nodes), not every `workers` URLs
        (each wake-up of another thread costs some 55 µs of CPU, `python
        scripts/handoff_cost.py`)."""
        if self._feeder is None:
            if self._closed:  # `start()` after a failed start, or after `close()`
                raise ExecutorError("this Dask run is closed")
            try:
                self._claim_parts()
                self._start_nodes()
            except BaseException:  # once only: what started is shut down, and stays so
                self.close()
                raise
            self._feeder = Feeder(self._urls, self._window)
        return self._feeder

    def _finished(self, feeder: Feeder) -> bool:
        """No URL out at a node, no record waiting to be taken (both under the lock: a
        record that arrives between two looks is never left behind), no input left."""
        with self._lock:
            settled = not self._outstanding and not self._arrivals
        return settled and feeder.finished

    def _wait(self, feeder: Feeder) -> None:
        """A turn of the links' loop: until records, a lost node, more input for the
        window or an interruption (a signal's handler runs at most `SIGNAL_CHECK_SECONDS`
        late, as in every run's wait)."""
        waiting = [self._wakeup]
        if self._outstanding - self._unsealed < self._window and not feeder.source_ended:
            waiting.append(feeder.arrival)
        self._turn(waiting, SIGNAL_CHECK_SECONDS)

    def _turn(self, waiting: list[Future[Any]], timeout: float) -> None:
        """A turn of the links' loop, unless a future of `waiting` is done: each wakes
        the loop when it completes (another thread completes it)."""
        loop = self._loop
        if loop is None or self._closed or loop.watch.done_or_watch(waiting):
            return
        try:
            loop.turn(timeout)
        except OSError as exc:  # the selector itself failed: no node can be heard
            raise ExecutorError(f"cannot wait for the Dask workers' records: {exc}") from None
        except BaseException:
            # A KeyboardInterrupt from Python's default SIGINT handler, raised anywhere in
            # the turn, may leave a frame half taken or URLs taken and not sent: the run
            # ends here, its nodes dropping what they run (`interrupt()`, which fetcher's
            # command line calls, stops it in order instead).
            self.close()
            raise

    def _collect(self) -> None:
        if self._failure is not None:
            raise OutputError(self._failure)
        with self._lock:
            arrivals, self._arrivals = self._arrivals, []
            links = list(self._links.values())
        self._ready.extend(arrivals)
        self.retries = self._lost_retries + sum(link.status["retries"] for link in links)
        self._was_capped = self._was_capped or any(link.status["capped"] for link in links)

    def _fill(self, feeder: Feeder) -> None:
        """Give each new URL to the node owning its origin, while the window has room."""
        room = self._window - (self._outstanding - self._unsealed) - len(self._ready)
        if room <= 0:
            return
        if feeder.finished and self.options.parts is not None:
            self._drain_nodes()
        if not self._owners:  # before taking URLs that could then get no record
            raise ExecutorError("lost every Dask worker")
        items = feeder.take(room)
        if not items:
            return
        self.read += len(items)
        with self._lock:
            owners = self._owners
            alive = bool(owners)  # else the last node was lost since the look above
            for index, url in items:
                if not isinstance(url, str):
                    self._settle(retry.not_a_string_record(url, index))
                elif not alive:
                    self._settle(retry.executor_record(url, index, "lost every Dask worker"))
                else:
                    owners.owner(partition_of(url)).queue(index, url)
                    self._outstanding += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    # Nodes ------------------------------------------------------------------------------

    def _start_nodes(self) -> None:
        """Start a node on every worker of the cluster and connect to each."""
        from .._version import __version__

        self._dask = dask = DaskPool(self.options, owned_hosts=True)
        secret = secrets.token_hex(32).encode()
        workers = sorted(dask.client.scheduler_info()["workers"])
        share = None if self.options.rate is None else self.options.rate / max(1, len(workers))
        lines = self._make_lines
        try:
            infos = dask.client.run(
                start_node, self.options, secret, __version__, share, lines, workers=workers
            )
        except Exception as exc:  # a worker of another version may fail to even call it
            raise ExecutorError(
                f"cannot start fetch nodes on the Dask workers ({type(exc).__name__}: {exc}): "
                f"every worker must run fetcher {__version__}"
            ) from None
        for address, info in sorted(infos.items()):
            if "error" in info:
                raise OutputError(f"the Dask worker at {address}: {info['error']}")
            if info.get("version") != __version__:
                raise ExecutorError(
                    f"the Dask worker at {address} runs fetcher {info.get('version')}, "
                    f"this is {__version__}: every worker must run the same version"
                )
            sock = connect(address, info["host"], int(info["port"]), secret)
            self._links[address] = Link(address, sock, int(info["threads"]))
        if not self._links:
            raise ExecutorError("no Dask worker could start a fetch node")
        # Records reach this process up to a flush late, and a busy node is sent URLs
        # half a batch or more at a time: a batch per node more keeps the nodes fed. And
        # a batch per node more again waits for its node: URLs go to their host's owner,
        # so what the window lets in for one node brings as many for the others, and a
        # node under its mark found its share waiting behind a full node's.
        self._window = self.options.window + 2 * BATCH * len(self._links)
        self._owners = Owners({link: link.threads for link in self._links.values()})
        limit = frame_limit(self.options.max_bytes, self.options.keep_body)
        gather = _GATHER_SECONDS if self.options.parts is None else 0.0  # (no frame a tick)
        self._loop = LinkLoop(self._lock, limit, self._receive, self._lose, _PACE_SECONDS, gather)
        for link in self._links.values():
            self._loop.add(link)

    def _receive(self, link: Link, payload: bytes) -> int:
        """Take a message from a node (in a turn of the links' loop): how many records it
        held (with parts: how many URLs it says are done). `FrameError` if it is not a
        message of the protocol."""
        message, tail = decode_batch(payload)
        records = decode_records(message) if "records" in message else []
        lines = None
        if tail is not None and self._make_lines is not None:
            with contextlib.suppress(FrameError):  # (lines that do not fit: made here)
                lines = split_lines(tail, len(records))
        with self._lock:
            if link.alive:
                if "done" in message:
                    self._done_at(link, int(message["done"]), message)
                if "sealed" in message:
                    self._take_part(link, str(message["sealed"]), message)
                elif "records" in message:
                    self._accept(link, records, lines, message)
                if "failed" in message:
                    self._failure = f"the Dask worker at {link.name}: {message['failed']}"
                if message.get("end"):
                    link.ended = True
        return len(records) or int(message.get("done", 0))  # (a batch done: no pause)

    def _accept(
        self,
        link: Link,
        records: list[FetchResult],
        lines: list[bytes] | None,
        message: dict[str, Any],
    ) -> None:
        """Keep the records of URLs outstanding at `link`, and their `lines` if its node
        made them (the lock is held)."""
        taken = 0
        for record, line in zip(records, lines or itertools.repeat(None), strict=False):
            index = record.index
            if index is None or link.outstanding.pop(index, None) is None:
                continue  # not this node's (any more): fenced, or never sent there
            self._losses.pop(index, None)
            self._arrivals.append(record)
            if line is not None:
                self._lines[index] = line
            taken += 1
        link.answered(taken)
        self._outstanding -= taken
        link.note_status(message)

    def _lose(self, link: Link) -> None:
        """Fence a node that is gone and move its URLs to the nodes now owning them."""
        with self._lock:
            if not link.alive:
                return
            link.alive = False
            self._links.pop(link.name, None)
            self._lost_retries += int(link.status["retries"] or 0)
            self._unsealed -= link.unsealed  # their URLs are fetched again
            self._owners.remove(link)
            unsent = {index for index, _ in link.pending}
            orphans = sorted(link.outstanding.items())
            link.outstanding.clear()
            link.pending.clear()
            if not self._stopping:
                self._move(orphans, unsent)
        with contextlib.suppress(OSError):
            link.sock.close()

    def _move(self, orphans: list[tuple[int, str]], unsent: set[int]) -> None:
        """Give a lost node's URLs to their new owners (the lock is held)."""
        for index, url in orphans:
            losses = self._losses.get(index, 0) + (index not in unsent)
            why = None
            if not self._owners:
                why = "lost every Dask worker"
            elif losses >= 2:
                why = "lost the Dask worker fetching it twice"
            if why is not None:
                self._outstanding -= 1
                self._losses.pop(index, None)
                self._settle(retry.executor_record(url, index, why))
                continue
            self._losses[index] = losses
            self.resubmitted += index not in unsent
            self._owners.owner(partition_of(url)).queue(index, url)

    # Ending -----------------------------------------------------------------------------

    def finish(self, grace: float) -> Iterator[FetchResult]:
        """Stop in order: nothing more is sent; the nodes finish what they run within
        `grace` and send its records; `interrupt()` ends the wait at once."""
        self._stopping = True
        if self._feeder is not None:
            self._feeder.stop()
        with self._lock:
            links = list(self._links.values())
            for link in links:
                for index, _ in link.pending:
                    link.outstanding.pop(index, None)
                self._outstanding -= len(link.pending)
                link.pending.clear()
            for link in links:
                link.post({"finish": grace})
        return self._drain(time.monotonic() + grace + _END_SECONDS)

    def _drain(self, give_up_at: float) -> Iterator[FetchResult]:
        try:
            while True:
                self._collect()
                while self._ready:
                    yield self._ready.popleft()
                with self._lock:  # nothing waiting, and nothing more to come
                    ended = all(link.ended for link in self._links.values())
                    if not self._arrivals and (ended or not self._outstanding):
                        return
                left = give_up_at - time.monotonic()
                if left <= 0 or self._closed or self._interrupted or self._wakeup.done():
                    break  # the grace is over, or a second interruption ended it
                self._turn([self._wakeup], min(left, SIGNAL_CHECK_SECONDS))
            self.close()  # fenced: no record is taken after this, the last ones are
            self._collect()
            while self._ready:
                yield self._ready.popleft()
        finally:
            self.close()

    def close(self) -> None:
        """Close every link (its node then drops what it runs) and the cluster."""
        if self._closed:
            return
        self._closed = self._stopping = True
        if self._feeder is not None:
            self._feeder.stop()
        with self._lock:
            links = list(self._links.values())
            self._links.clear()
            self._owners = Owners({})
            self.abandoned = sum(link.at_node + link.unsealed for link in links)  # not back
            for link in links:
                link.alive = False
        if self._loop is not None:
            self._loop.close()
        for link in links:
            with contextlib.suppress(OSError):
                link.sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                link.sock.close()
        if self._dask is not None:
            self._dask.shutdown()
