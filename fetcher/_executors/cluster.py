"""The Dask executor: long-lived fetch nodes on a Dask cluster, fed in batches.

Dask places the nodes and watches over them; it does not schedule URLs. The pool starts
a fetch node (`node`) in every Dask worker process with one `Client.run`, connects to
each directly and sends URLs in batches as bytes; records come back the same way
(`wire`). Nothing per URL or per batch passes through the Dask scheduler, which a task
per URL made the bottleneck (about 1.5 ms of its CPU a URL: a ceiling of some 650
URLs/s however many machines were added).

Hosts have owners: an origin (`scheme://host:port`) hashes to one of `PARTITIONS`
partitions, and each partition belongs to one live node (rendezvous hashing), so every
URL of an origin goes to one node, which keeps its connections alive. The run's runner,
on the client, still decides when each URL starts, so `--per-host`, `--rate`, retries and
`Retry-After` hold across the whole cluster exactly as on one machine.

A lost node (its worker killed, its machine gone) is fenced by closing its connection:
nothing it sends later is read. Its outstanding URLs then go to their new owners, each
URL outstanding at exactly one node at a time; one whose node is lost twice fails with
an `executor` record instead of killing every worker in turn. A worker the nanny
restarts gets a new node within a second.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import secrets
import socket
import threading
import time
import zlib
from collections import deque
from concurrent.futures import Future
from typing import Any

from .._core.errors import ExecutorError
from .._core.options import FetchOptions
from .._core.result import Attempt
from .._core.signals import signals_blocked
from .._core.urls import origin_of
from .base import Pool
from .dask import DaskPool
from .node import BATCH, start_node
from .wire import FrameError, decode_attempts, read_frame, send_frame

__all__ = ["PARTITIONS", "NodePool", "owners", "partition_of"]

#: Origins hash to this many partitions; partitions, not origins, move between nodes.
PARTITIONS = 1024
_GATHER_SECONDS = 0.002  # how long a batch waits for more URLs before it leaves
_CONNECT_SECONDS = 10.0
_WATCH_SECONDS = 1.0


class _Entry:
    """One URL outstanding on the cluster: which attempt, and how often its node was lost."""

    __slots__ = ("deadline", "future", "losses", "partition", "sent", "seq", "url")

    def __init__(
        self, seq: int, url: str, deadline: float | None, future: Future[Attempt], part: int
    ) -> None:
        self.seq, self.url, self.deadline, self.future = seq, url, deadline, future
        self.partition = part
        self.sent = False  # sent to a node (its future is then running)
        self.losses = 0  # nodes lost while it was sent to them


class _Link:
    """The connection to one node, and the URLs outstanding on it."""

    def __init__(self, name: str, sock: socket.socket, threads: int, lock: threading.Lock) -> None:
        self.name = name
        self.sock = sock
        self.threads = threads
        self.alive = True
        self.pending: deque[_Entry] = deque()  # to send
        self.outstanding: dict[int, _Entry] = {}  # seq -> entry, sent or to send
        self.at_node = 0  # sent and not yet answered
        self.room = 2 * threads + BATCH  # at most this many at the node at once
        self.wake = threading.Condition(lock)


class NodePool:
    """Submits attempts to fetch nodes on a Dask cluster, started here or at `--scheduler`."""

    def __init__(self, options: FetchOptions) -> None:
        self._options = options
        # the cluster: started or reached, save folder checked
        self._dask = DaskPool(options, owned_hosts=True)
        self._secret = secrets.token_hex(32).encode()
        self._lock = threading.Lock()
        self._links: dict[str, _Link] = {}  # Dask worker address -> its node's link
        self._owners: list[_Link] = []  # partition -> the link of the node owning it
        self._seq = itertools.count(1)
        self._closed = threading.Event()
        try:
            self._add_nodes(None)
        except BaseException:
            self._close()
            raise
        if not self._owners:
            self._close()
            raise ExecutorError("no Dask worker could start a fetch node")
        with signals_blocked():
            threading.Thread(target=self._watch, name="fetcher-nodes", daemon=True).start()

    # Membership -------------------------------------------------------------------------

    def _add_nodes(self, workers: list[str] | None) -> None:
        """Start a node on each of `workers` (every worker: None) and connect to it."""
        from .._version import __version__

        infos = self._dask.client.run(
            start_node, self._options, self._secret, __version__, workers=workers
        )
        for address, info in sorted(infos.items()):
            if info.get("version") != __version__:
                raise ExecutorError(
                    f"the Dask worker at {address} runs fetcher {info.get('version')}, "
                    f"this is {__version__}: every worker must run the same version"
                )
            sock = socket.create_connection((info["host"], info["port"]), _CONNECT_SECONDS)
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            send_frame(sock, self._secret)
            link = _Link(address, sock, int(info["threads"]), self._lock)
            with self._lock:
                self._links[address] = link
                self._rebalance()
            with signals_blocked():
                for target, role in ((self._send, "send"), (self._receive, "receive")):
                    name = f"fetcher-node-{role}"
                    threading.Thread(target=target, args=(link,), name=name, daemon=True).start()

    def _rebalance(self) -> None:
        """Give each partition to its live node of highest weight (the lock is held)."""
        self._owners = [self._links[name] for name in owners(list(self._links))]

    def _watch(self) -> None:
        """Start nodes on workers that joined (a nanny's restart) while the run goes on."""
        while not self._closed.wait(_WATCH_SECONDS):
            with contextlib.suppress(Exception):
                workers = set(self._dask.client.scheduler_info()["workers"])
                new = sorted(workers - set(self._links))
                if new:
                    self._add_nodes(new)

    # Sending and receiving --------------------------------------------------------------

    def submit(self, url: str, deadline: float | None = None) -> Future[Attempt]:
        future: Future[Attempt] = Future()
        part = partition_of(url)
        with self._lock:
            if not self._owners:
                raise ExecutorError("lost every Dask worker")
            self._place(_Entry(next(self._seq), url, deadline, future, part))
        return future

    def _place(self, entry: _Entry) -> None:
        """Queue `entry` on the node owning its partition (the lock is held)."""
        link = self._owners[entry.partition]
        link.outstanding[entry.seq] = entry
        link.pending.append(entry)
        if len(link.pending) == 1 or len(link.pending) == BATCH:
            link.wake.notify()

    def _send(self, link: _Link) -> None:
        """Send the link's URLs in batches: full, or at most one frame per
        `_GATHER_SECONDS` (a URL on a quiet link leaves at once); never more than
        `link.room` at the node at once (twice its threads and a batch)."""
        sent_at = -_GATHER_SECONDS
        while True:
            with self._lock:
                while link.alive and (not link.pending or link.at_node >= link.room):
                    link.wake.wait()
                left = sent_at + _GATHER_SECONDS - time.monotonic()
                if link.alive and len(link.pending) < BATCH and left > 0:
                    link.wake.wait(left)
                if not link.alive:
                    return
                count = min(BATCH, len(link.pending), link.room - link.at_node)
                batch = [link.pending.popleft() for _ in range(count)]
                link.at_node += count
                sent_at = time.monotonic()
            rows = self._rows(link, batch)
            if not rows:
                continue
            try:
                send_frame(link.sock, json.dumps(rows, separators=(",", ":")).encode())
            except OSError:
                self._lose(link)
                return

    def _rows(self, link: _Link, batch: list[_Entry]) -> list[list[Any]]:
        now = time.monotonic()
        rows: list[list[Any]] = []
        for entry in batch:
            if not entry.sent:
                if not entry.future.set_running_or_notify_cancel():  # cancelled meanwhile
                    with self._lock:
                        link.outstanding.pop(entry.seq, None)
                        link.at_node -= 1
                    continue
                entry.sent = True
            budget = None if entry.deadline is None else max(0.0, entry.deadline - now)
            rows.append([entry.seq, entry.url, budget])
        return rows

    def _receive(self, link: _Link) -> None:
        """Complete the futures of the attempts the node sends back, until it is lost."""
        try:
            while (frame := read_frame(link.sock)) is not None:
                attempts = decode_attempts(frame)
                answered = []
                with self._lock:  # once a frame: a lock a record was a tenth of this thread
                    if not link.alive:
                        break
                    for seq, attempt in attempts:
                        entry = link.outstanding.pop(seq, None)
                        if entry is not None:
                            answered.append((entry, attempt))
                    if answered:
                        link.at_node -= len(answered)
                        link.wake.notify()
                for entry, attempt in answered:
                    if not entry.future.done():
                        entry.future.set_result(attempt)
        except (OSError, FrameError):
            pass
        self._lose(link)

    def _lose(self, link: _Link) -> None:
        """Fence a node that is gone and move its URLs to the nodes now owning them."""
        failed: list[tuple[_Entry, str]] = []
        with self._lock:
            if not link.alive:
                return
            link.alive = False
            link.wake.notify_all()
            self._links.pop(link.name, None)
            orphans = sorted(link.outstanding.values(), key=lambda entry: entry.seq)
            link.outstanding.clear()
            link.pending.clear()
            self._rebalance()
            for entry in orphans:
                if self._closed.is_set() or entry.future.done():
                    continue
                entry.losses += entry.sent
                if not self._owners:
                    failed.append((entry, "lost every Dask worker"))
                elif entry.losses >= 2:
                    failed.append((entry, "lost the Dask worker fetching it twice"))
                else:
                    self._place(entry)
        with contextlib.suppress(OSError):
            link.sock.close()
        for entry, why in failed:
            if entry.sent or entry.future.set_running_or_notify_cancel():
                with contextlib.suppress(Exception):
                    entry.future.set_exception(ExecutorError(why))

    # Ending -----------------------------------------------------------------------------

    def shutdown(self) -> None:
        self._close()

    def abort(self) -> None:
        self._close()

    def alone(self) -> Pool | None:
        return None  # nodes run threads; a lost node's URLs move to the other nodes

    def fatal(self) -> ExecutorError | None:
        return None

    def _close(self) -> None:
        """Close every link (its node then ends) and the cluster; cancel what was unsent."""
        self._closed.set()
        with self._lock:
            links = list(self._links.values())
            self._links.clear()
            self._owners = []
            unsent = []
            for link in links:
                link.alive = False
                link.wake.notify_all()
                unsent += [e for e in link.outstanding.values() if not e.sent]
                link.outstanding.clear()
        for entry in unsent:
            entry.future.cancel()
        for link in links:
            with contextlib.suppress(OSError):
                link.sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                link.sock.close()
        self._dask.shutdown()


def partition_of(url: str) -> int:
    """The partition of `url`'s origin (`scheme://host:port`; the line itself if none)."""
    origin = origin_of(url) or url
    return zlib.crc32(origin.encode("utf-8", "surrogatepass")) % PARTITIONS


def owners(nodes: list[str]) -> list[str]:
    """The node owning each partition: the one of highest rendezvous weight, so that a
    node joining or leaving moves only the partitions it takes or had."""
    if not nodes:
        return []
    return [max(nodes, key=lambda node: _weight(node, p)) for p in range(PARTITIONS)]


def _weight(node: str, partition: int) -> int:
    """Rendezvous weight of `node` for `partition`: the highest weight owns it."""
    digest = hashlib.blake2b(f"{node}\0{partition}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")
