"""A fetch node: one per Dask worker process, running fetcher's own runner on the URLs
its client sends.

The client starts a node on every worker with `Client.run(start_node, ...)`, then talks
to it directly over a TCP connection of its own (`fetcher._executors.wire`): URLs arrive
in batches with their indexes and records leave in batches, so no message per URL
passes through the Dask scheduler, and the client does no per-URL scheduling at all.
The node runs a `FetchRun` on the thread executor with as many workers as its Dask
worker has threads (`nthreads`), so the per-host cap, retries, `Retry-After` and backoff
are applied here, exactly, for the hosts this node owns (see `cluster`); `--rate` is
shared evenly among the nodes of a run. Its `PageFetcher`s are built before the first
URL (warm imports and clients).

It serves one client. `{"finish": grace}` stops it in order (what is in flight gets
`grace` seconds and its records, then `{"end": true}`); the connection closing stops it
at once. The worker process stays, warm, for the next run.

Crash isolation: a node runs threads only. A Dask worker process is a daemon by default
(`dask worker` as shipped), and a daemon cannot start processes; the nanny restarts a
worker that dies, and the client moves the dead node's URLs to the other nodes.
"""

from __future__ import annotations

import contextlib
import gc
import hmac
import math
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from .._core.limits import allow_many_connections
from .._core.options import FetchOptions
from .._core.parts import PartSink
from .._core.result import FetchResult
from .._core.signals import block_signals, signals_blocked
from .._executors.wire import (
    FrameError,
    decode,
    encode,
    encode_records,
    keep_alive,
    read_frame,
    send_or_drop,
)
from .nodeparts import PartsWriting
from .runner import FetchRun

__all__ = ["BATCH", "BATCH_BODY_BYTES", "FLUSH_SECONDS", "refill_mark", "start_node"]

#: Records sent at most in one frame, and the longest a finished record waits for others
#: (a record is to reach the client within 50 ms of finishing: at 40 ms, with the
#: client's 8 ms pace, 1.0-1.5% of records came later, at 30 ms 0.03-0.12%). Each frame
#: costs both ends CPU: a 20 ms tick cost the client 29 us a URL against 16 at 30 ms
#: until it took the frames of a tick in one turn (`LinkLoop`); with that, 21 against
#: 23 at 30 ms without it, and a record's p99 fell from 41 to 30 ms (docs/benchmarks.md).
BATCH = 256
FLUSH_SECONDS = 0.02
BATCH_BODY_BYTES = 16 * 1024 * 1024  # bodies in one frame, when records carry them
_ACCEPT_SECONDS = 30.0  # the client connects right after starting the node


def refill_mark(threads: int) -> int:
    """The client sends a node of `threads` more URLs only while it holds fewer than
    this: half a batch above twice the threads, because what the node counts as out
    includes records waiting up to a flush to come back, and the node must not run dry
    while they do."""
    return 2 * threads + BATCH // 2


def start_node(
    options: FetchOptions, secret: bytes, version: str, rate_share: float | None,
    lines: Callable[[FetchResult], bytes] | None = None, dask_worker: Any = None,
) -> dict[str, Any]:  # fmt: skip
    """On a Dask worker (run by `Client.run`): start a node; where to reach it.

    `rate_share` is this node's part of `--rate`; `lines`, if given, makes each record's
    line for the client, which writes it as it comes (`FetchRun(lines=...)`). Returns
    the node's host and port, its threads, and this worker's fetcher version (a node of
    another version is not used: the client stops with an error).
    """
    from .._version import __version__

    if version != __version__:
        return {"version": __version__}
    host = "127.0.0.1"
    threads = 1
    if dask_worker is not None:
        host = str(dask_worker.address).rpartition("://")[2].rpartition(":")[0] or host
        threads = int(getattr(dask_worker.state, "nthreads", 0) or dask_worker.nthreads)
    allow_many_connections()  # a node may hold a connection per host it has met
    host = host.strip("[]")
    threads = max(1, min(threads, 1024))
    node_options = replace(
        options, executor="thread", workers=threads, scheduler=None, rate=rate_share, parts=None
    )
    sink = None
    if options.parts is not None:
        try:
            sink = options.parts.sink(secrets.token_hex(4))
        except OSError as exc:
            return {"version": __version__, "error": f"cannot write parts: {exc}"}
    node = Node(node_options, secret, host, sink, lines)
    return {"version": __version__, "host": host, "port": node.port, "threads": threads}


class Node(PartsWriting):
    """Serves one client: its batches of URLs in, its batches of records out."""

    _batch = BATCH

    def __init__(
        self,
        options: FetchOptions,
        secret: bytes,
        host: str,
        sink: PartSink | None = None,
        lines: Callable[[FetchResult], bytes] | None = None,
    ) -> None:
        self._options = options
        self._lines = lines  # makes a record's line, sent with it (the client writes it)
        self._sink = sink  # with parts: where the records go; the client gets their outcome
        self._unsealed: list[FetchResult] = []  # in the open part, as the client gets them
        self._done = 0  # records finished since the client was last told
        self._held = 0  # URLs received, not yet told done (with parts)
        self._refill_at = refill_mark(options.workers)  # the client's mark for this node
        self._draining = False  # the client has sent its last URL: seal when idle
        self._failure: str | None = None  # a part could not be written
        self._secret = secret
        self._inbox: deque[tuple[int, str]] = deque()
        self._outbox: deque[FetchResult] = deque()
        self._condition = threading.Condition()  # guards both boxes and the flags below
        self._closed = False  # the client is gone, or the node is done
        self._ended = False  # the run has ended: the last records are in the outbox
        self._finish: float | None = None  # the grace period asked for by the client
        self._succeeded = False  # a successful record has been posted
        self._urgent = False  # the outbox holds the node's first success: send it now
        #: When (`time.monotonic()`) the next frame of records may leave: 0 (at once)
        #: after a frame that left records behind, else the grid's next tick after the
        #: last frame (long past when a record comes to a quiet link).
        self._due_at = 0.0
        # Taking a batch and sending it, one thread at a time: only its holder takes
        # records from the outbox (others append, under `_condition`).
        self._sending = threading.Lock()
        self._conn: socket.socket | None = None  # the client's, once it is ours
        self._run = FetchRun(self._items(), options, numbered=True)
        self._run.start()  # its pool and HTTP clients, before the first URL
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.create_server((host, 0), family=family)
        self._listener.settimeout(_ACCEPT_SECONDS)
        self.port: int = self._listener.getsockname()[1]
        with signals_blocked():
            threading.Thread(target=self._serve, name="fetcher-node", daemon=True).start()

    def _serve(self) -> None:
        try:
            with self._listener:
                conn, _ = self._listener.accept()
        except OSError:  # no client came: nothing will iterate the run
            self._stop()
            self._run.close()
            return
        fetching = False
        with conn:
            conn.settimeout(None)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            keep_alive(conn)
            try:
                if hmac.compare_digest(read_frame(conn) or b"", self._secret):
                    fetching = True
                    gc.callbacks.append(self._send_before_collection)  # (it needs `_conn`)
                    self._conn = conn
                    writing = self._write if self._sink is None else self._write_parts
                    for target in (self._fetch, writing):
                        threading.Thread(target=target, args=(conn,), daemon=True).start()
                    self._read(conn)
            except (OSError, ValueError):
                pass  # the client went away (or was never ours): the node ends
            finally:
                with contextlib.suppress(ValueError):
                    gc.callbacks.remove(self._send_before_collection)
                self._stop()
                if not fetching:  # a stranger's connection: nothing iterates the run
                    self._run.close()

    def _read(self, conn: socket.socket) -> None:
        while (frame := read_frame(conn)) is not None:
            message = decode(frame)
            if "urls" in message:
                items = [(int(index), str(url)) for index, url in message["urls"]]
                with self._condition:
                    self._inbox.extend(items)
                    self._held += len(items)
                    self._condition.notify_all()
            elif "drain" in message:
                with self._condition:
                    self._draining = True
                    self._condition.notify_all()
            elif "finish" in message:
                with self._condition:
                    self._finish = max(0.0, float(message["finish"]))
                self._run.interrupt()
            else:
                raise FrameError("not a message of this protocol")

    def _items(self) -> Iterator[tuple[int, str]]:
        """The URLs the client sends, as they come, until the node stops."""
        while True:
            with self._condition:
                while not self._inbox and not self._closed and self._finish is None:
                    self._condition.wait()
                if self._closed or self._finish is not None:
                    return
                items = list(self._inbox)
                self._inbox.clear()
            yield from items

    def _fetch(self, conn: socket.socket) -> None:
        """Run the URLs; on a finish, let what is in flight end within its grace."""
        block_signals()
        run = self._run
        try:
            try:
                for record in run:
                    self._post(record)
            except KeyboardInterrupt:  # the client's finish (`interrupt`)
                with self._condition:
                    grace = self._finish if self._finish is not None else 0.0
                for record in run.finish(grace):
                    self._post(record)
        except Exception:  # a bug costs the node, whose URLs move to the others
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        finally:
            run.close()
            with self._condition:
                self._ended = True
                self._condition.notify_all()

    def _post(self, record: FetchResult) -> None:
        """Queue a record for the client; the node's first success leaves at once (a
        race's winner is the first success of the node that fetched it).

        A record that finds its frame due (the tick has come, or a batch is full) sends
        the frame itself, here, in the thread that iterates the run: that thread holds
        the GIL already, where the writer, woken at the tick, would wait for it among
        the node's fetching threads (on a busy machine, 10 ms late and more at times).
        Meanwhile the run starts no URL, so only frames without bodies leave here (a
        frame of bodies may be megabytes for a slow client: the writer sends those)."""
        if self._sink is not None:
            self._post_to_part(record)
            return
        with self._condition:
            if not self._succeeded and record.ok:  # first in line: in the very next frame
                self._outbox.appendleft(record)
                self._succeeded = self._urgent = True
            else:
                self._outbox.append(record)
            if not self._due():
                if len(self._outbox) == 1:  # the writer sends it at the tick
                    self._condition.notify_all()
                return
        conn = self._conn
        if conn is None or self._options.keep_body or not self._sending.acquire(blocking=False):
            with self._condition:  # the writer sends it (or is sending: then next)
                self._condition.notify_all()
            return
        try:
            self._send_batch(conn)
        finally:
            self._sending.release()

    def _send_before_collection(self, phase: str, info: dict[str, Any]) -> None:
        """Before a full pass of the garbage collector (a `gc` callback), send what waits
        for the tick: the pass stops every thread of the process, 50-90 ms over a Dask
        worker's heap here, past the 50 ms a record may take. (The collector is left as
        it is: the process is the Dask worker's.)

        It runs in whichever thread allocated, maybe one inside `_condition`, so it does
        not take that: holding `_sending` makes it the only taker of records, and a
        deque's pops and appends are atomic. While another thread holds `_sending` (for
        a frame's send, a few hundred microseconds of the tick) the records wait as
        before. The end stays the writer's to send."""
        if phase != "start" or info.get("generation") != 2 or not self._outbox or self._ended:
            return
        conn = self._conn
        if conn is None or self._options.keep_body or not self._sending.acquire(blocking=False):
            return
        try:
            batch = self._take_batch()
            if batch:
                send_or_drop(conn, self._frames(batch, last=False))
        finally:
            self._sending.release()

    def _due(self) -> bool:
        """Whether a frame of records may leave now (the lock is held)."""
        if self._urgent or len(self._outbox) >= BATCH:
            return True
        return time.monotonic() >= self._due_at

    def _status(self) -> dict[str, Any]:
        run = self._run
        return {"retries": run.retries, "capped": run.capped, "held": run.held_by_cap}

    def _next_flush(self, sent_at: float) -> float:
        return _flush_deadline(sent_at)

    def _write(self, conn: socket.socket) -> None:
        """Send finished records in batches, at most one frame per tick of a grid of
        `FLUSH_SECONDS` on the wall clock unless full or holding the node's first
        success: a record finishing on a quiet link (a slow run's every record) leaves at
        once, and so does a race's winner; in a busy run a record waits at most
        `FLUSH_SECONDS` (what a full batch left behind is sent next, without a wait). The
        grid is every node's (`_flush_deadline`): the client then takes the frames of
        its nodes together, in one wake-up, not one each. (A frame on a quiet link just
        before a tick may be followed by one at the tick: the one time two frames leave
        less than `FLUSH_SECONDS` apart.)

        In a busy run the thread posting a record usually sends the frame (`_post`): this
        one sends what is due when no record comes to send it, and the end."""
        while True:
            with self._condition:
                while not self._outbox and not self._ended and not self._closed:
                    self._condition.wait()
                if self._closed:
                    return
                while len(self._outbox) < BATCH and not self._ended and not self._closed:
                    left = self._due_at - time.monotonic()
                    if left <= 0 or self._urgent:
                        break
                    self._condition.wait(left)
            with self._sending:
                if not self._send_batch(conn):
                    return  # (gone: the client moves the URLs; or the end is sent)

    def _send_batch(self, conn: socket.socket) -> bool:
        """Send a frame of what the outbox holds (and the end, once the run has ended and
        the outbox is empty); False once the end is sent or the client is gone. The
        caller holds `_sending`."""
        with self._condition:
            if not self._ended and (not self._outbox or not self._due()):
                return not self._closed  # (another thread sent them, and the tick moved)
            self._urgent = False
            batch = self._take_batch()
            last = self._ended and not self._outbox
            # Records left behind (more than a batch came) have waited: they go next.
            self._due_at = _flush_deadline(time.time()) if not self._outbox else 0.0
            if self._outbox:
                self._condition.notify_all()  # (the writer sends them if no record comes)
        return send_or_drop(conn, self._frames(batch, last)) and not last

    def _frames(self, batch: list[FetchResult], last: bool) -> Iterator[bytes]:
        """The frames of a batch of records, and the end if `last`, made as they leave."""
        if batch:
            yield encode_records(batch, self._status(), self._lines)
        if last:
            yield encode({"end": True})

    def _take_batch(self) -> list[FetchResult]:
        """Up to `BATCH` records from the outbox, and no more bodies (`keep_body`) than
        `BATCH_BODY_BYTES` unless one alone is larger (`_sending` is held)."""
        batch: list[FetchResult] = []
        size = 0
        while self._outbox and len(batch) < BATCH:
            body = len(self._outbox[0].body or b"")
            if batch and size + body > BATCH_BODY_BYTES:
                break
            size += body
            batch.append(self._outbox.popleft())
        return batch

    def _stop(self) -> None:
        """The client is gone: drop what is queued and abandon what runs."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        self._run.interrupt()  # the fetch thread then closes the run


def _flush_deadline(sent_at: float) -> float:
    """When (`time.monotonic()`) the frame after one sent at `sent_at` (`time.time()`) may
    leave: at the first tick after it of a grid of `FLUSH_SECONDS` on the wall clock,
    which the nodes of a cluster share (their clocks kept in step, as a cluster's are;
    clocks apart cost only the merging), and never later than `FLUSH_SECONDS` from now,
    wherever the clock jumps."""
    now = time.time()
    tick = (math.floor(sent_at / FLUSH_SECONDS) + 1) * FLUSH_SECONDS
    return time.monotonic() + max(0.0, min(tick - now, FLUSH_SECONDS))
