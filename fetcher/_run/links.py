"""The client's side of the fetch nodes: each node's connection and the URLs out at it
(`Link`), and the loop that reads and writes every connection in the run's own thread
(`LinkLoop`).

One selector for all the nodes, in the thread that runs the run: no sender and receiver
thread a node, nor a thread of its own, since each hand-off between threads costs more
CPU than a small frame's records. Each busy node sends a frame every 20 ms however few
records it holds, on the same ticks of the wall clock as every other node (`node`):
after the first frame of a tick the loop waits a few milliseconds for the other busy
nodes' (`gather`), and takes them in one turn; while the frames are small it then reads
no sooner than 8 ms after that turn (`pace`). Figures in docs/benchmarks.md ("How many
nodes one client drives", "Taking a tick's frames together").
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .._core.errors import ExecutorError
from .._core.signals import FutureWatch
from .._executors.wire import encode, frame, keep_alive, send_frame, take_frame
from .node import BATCH, refill_mark

__all__ = ["Link", "LinkLoop", "connect"]

_CONNECT_SECONDS = 10.0
_READ_BYTES = 1 << 20  # read at most this much from one connection at a time


def _no_poke(link: Link) -> None:
    """What a link does with a change before a loop serves it: nothing."""


def _woken(events: list[tuple[selectors.SelectorKey, int]]) -> bool:
    """Whether `events` hold a `wake` (the waker's key carries no link)."""
    return any(key.data is None for key, _ in events)


class Link:
    """The connection to one node, and the URLs outstanding on it (its lock: the run's)."""

    def __init__(self, name: str, sock: socket.socket, threads: int) -> None:
        self.name = name
        self.sock = sock
        self.alive = True
        self.ended = False  # the node has sent its last records after a finish
        #: [index, URL] pairs to send, in order: a frame's `"urls"` as they are, taken by
        #: the slice (a pair built once, as the URL is queued, not again as it is sent).
        self.pending: list[tuple[int, str]] = []
        self.outstanding: dict[int, str] = {}  # index -> URL, sent or to send
        self.at_node = 0  # sent and not yet answered
        self.unsealed = 0  # with parts: answered, not yet in a sealed part
        self.drained = False  # with parts: told that no more URLs come
        self.threads = threads
        self.room = 2 * threads + BATCH  # at most this many at the node at once
        #: Fewer at the node than this, and what waits is sent at once (up to a batch and
        #: the room); this many or more, and nothing: the node is busy for a while, and
        #: what waits meanwhile leaves later in one frame of more than half a batch.
        self.refill_at = refill_mark(threads)
        self.control: deque[dict[str, Any]] = deque()  # messages to send after the URLs
        self.status: dict[str, Any] = {"retries": 0, "capped": False, "held": False}
        #: Tells the loop that this link may have something to send (the lock is held).
        self.poke: Callable[[Link], None] = _no_poke
        self.inbox = bytearray()  # bytes read, not yet a whole frame (the loop's alone)
        self.outbox = bytearray()  # frames not yet written (the loop's alone)

    # The loop sends URLs only while the node holds fewer than `refill_at`, and looks at
    # a link only once it is poked: the two below poke only when what changed lets the
    # loop send (a first URL waiting for a node under the mark, or the node falling
    # under the mark while URLs wait), so a busy node's URLs leave in few, full frames.

    def sendable(self) -> int:
        """How many URLs the loop may send now (the lock is held)."""
        if self.at_node >= self.refill_at:
            return 0
        return min(BATCH, len(self.pending), self.room - self.at_node)

    def queue(self, index: int, url: str) -> None:
        """`url` is to be sent (the lock is held)."""
        self.outstanding[index] = url
        self.pending.append((index, url))
        if len(self.pending) == 1 and self.at_node < self.refill_at:
            self.poke(self)

    def answered(self, count: int) -> None:
        """`count` URLs sent came back (the lock is held)."""
        before = self.at_node
        self.at_node = after = before - count
        if self.pending and before >= self.refill_at > after:
            self.poke(self)

    def post(self, message: dict[str, Any]) -> None:
        """Send `message` after the URLs taken for sending so far (the lock is held)."""
        self.control.append(message)
        self.poke(self)

    def note_status(self, message: dict[str, Any]) -> None:
        """Keep the node's status a message of records or of a count carries."""
        self.status = {key: message.get(key, False) for key in ("retries", "capped", "held")}

    def take(self) -> list[dict[str, Any]]:
        """The messages to send now: frames of URLs while `sendable` (a node of more
        threads than a batch takes more than one), then any posted (the lock is held)."""
        messages = []
        while self.alive and (count := self.sendable()):
            pairs = self.pending[:count]
            del self.pending[:count]
            messages.append({"urls": pairs})
            self.at_node += count
        if self.alive:
            messages += self.control
        self.control.clear()
        return messages


class LinkLoop:
    """Reads and writes every link's connection, without blocking, from one selector,
    in the run's own thread: `turn()` is the run's wait.

    A turn waits for frames (or a `wake`), hands each whole frame to `receive(link,
    payload)`, which returns how many records it held, and writes what the links have to
    send. After a turn whose frames were small, the next reads no sooner than `pace`
    after that one began: a frame that comes sooner waits out the pace in its socket (the
    loop then waits for a `wake` only), and the frames that come meanwhile are taken
    with it in one turn, so the run's wake-ups do not grow with the number of nodes, and
    a record reaches the run at most `pace` after its frame while the run waits (a run
    busy handing out records, or whose consumer is slow, turns later: the frames wait in
    the sockets meanwhile, and the URLs with them). A frame that comes after the pace is
    read at once: a quiet loop wakes once a frame, not also at the end of each pause
    (each wake-up costs CPU of its own, some 30-60 µs on a 2-core machine). After
    a full frame (a batch: its node runs flat out), or with a frame partly read (a large
    one, coming), there is no pause: a later read would keep a node waiting for URLs, or
    the run for a frame of bodies. A link that fails, closes or breaks the protocol goes
    to `lose(link)`.

    A turn that takes a frame then waits up to `gather` for the frames of the other
    nodes holding URLs (each sends on the same tick, some milliseconds apart as their
    threads run late), taking each as it comes, until every one has sent or a `wake`:
    one turn a tick, not one a node, and a frame that missed the first read does not
    wait out the pace.

    In the run's thread, not one of its own: on a 2-core machine, handing a frame's
    records to another thread cost some 125 µs of CPU (a future completed and waited
    for), and a poke back with URLs to send some 60 µs (`python
    scripts/handoff_cost.py`), where a frame of 30 records costs about 100 µs to decode.
    """

    def __init__(
        self,
        lock: threading.Lock,
        limit: int,
        receive: Callable[[Link, bytes], int],
        lose: Callable[[Link], None],
        pace: float,
        gather: float = 0.0,
    ) -> None:
        self._lock = lock
        self._limit = limit
        self._receive = receive
        self._lose = lose
        self._pace = pace
        self._gather_seconds = gather
        self._selector = selectors.DefaultSelector()
        self._waker, self._poker = socket.socketpair()
        for end in (self._waker, self._poker):
            end.setblocking(False)
        self._selector.register(self._waker, selectors.EVENT_READ, None)
        self._pause = selectors.DefaultSelector()  # the waker alone: a pause's wait
        self._pause.register(self._waker, selectors.EVENT_READ, None)
        self._links: set[Link] = set()
        self._dirty: set[Link] = set()  # links that may have something to send
        self._waking = threading.Lock()  # a wake and the close of its socket, not both
        self._closed = False
        #: The futures besides the nodes that a turn ends for (more input, an interruption).
        self.watch = FutureWatch(self.wake)
        self._read_from = 0.0  # after a turn of small frames: the next read, not before
        #: Every read lands here first: `recv(n)` would allocate n bytes each time (a
        #: megabyte is mapped and unmapped again, a cost that showed in profiles).
        self._buffer = memoryview(bytearray(_READ_BYTES))

    def add(self, link: Link) -> None:
        """Serve `link`."""
        link.sock.setblocking(False)
        link.poke = self._poke
        self._links.add(link)
        self._selector.register(link.sock, selectors.EVENT_READ, link)

    def _poke(self, link: Link) -> None:
        """`link` may have something to send: the next `send` looks (the lock is held)."""
        self._dirty.add(link)

    def wake(self, *_: object) -> None:
        """End the current or the next turn's wait (any thread; a future's callback)."""
        with self._waking, contextlib.suppress(OSError):  # full: a wake is on its way
            if not self._closed:
                self._poker.send(b"\0")

    def turn(self, timeout: float) -> int:
        """Send what waits; wait at most `timeout` for frames, or a `wake`; take the
        frames and send again. The most records a frame held (1 for a frame of none)."""
        deadline = time.monotonic() + timeout
        self.send()
        events = self._selector.select(max(0.0, deadline - time.monotonic()))
        now = time.monotonic()
        if now < self._read_from and any(key.data is not None for key, _ in events):
            # A frame came within the pace: it waits for the frames that follow it, and
            # a wake (or the caller's deadline) ends the wait, the frames left unread.
            if _woken(events) or self._pause.select(min(self._read_from, deadline) - now):
                self._drain_waker()
                return 0
            if deadline < self._read_from:
                return 0
            events = self._selector.select(0)
        started = time.monotonic()
        heard: set[Link] = set()
        took, busy = self._serve(events, heard)
        if took:  # the other busy nodes' frames of the same tick, if they come soon
            more, busy_too = self._gather(heard, started + self._gather_seconds)
            took, busy = max(took, more), busy or busy_too
        self.send()
        if took and took < BATCH and not busy:
            self._read_from = started + self._pace
        return took

    def _gather(self, heard: set[Link], until: float) -> tuple[int, bool]:
        """After a frame, take the frames of the other nodes holding URLs (so sending on
        this tick too) as they come, until each has sent one (`heard`), a wake, or
        `until`: the most records a frame held, and whether one is partly read."""
        took, busy = 0, False
        while True:
            with self._lock:
                waiting = any(link.at_node for link in self._links if link not in heard)
            left = until - time.monotonic() if waiting else 0.0
            events = self._selector.select(max(0.0, left))
            more, partly = self._serve(events, heard)
            took, busy = max(took, more), busy or partly
            if left <= 0 or not events or _woken(events):
                return took, busy

    def _serve(
        self, events: list[tuple[selectors.SelectorKey, int]], heard: set[Link]
    ) -> tuple[int, bool]:
        """Read and write the links of `events`, adding those that sent a whole frame to
        `heard`: the most records a frame held (1 for a frame of none, 0 for no frame),
        and whether a frame is partly read."""
        took = 0
        busy = False
        for key, mask in events:
            link = key.data
            if link is None:
                self._drain_waker()
                continue
            if mask & selectors.EVENT_READ:
                records, partly = self._read(link)
                took, busy = max(took, records), busy or partly
                if records:
                    heard.add(link)
            if mask & selectors.EVENT_WRITE and link in self._links:
                self._write(link)
        return took, busy

    def _drain_waker(self) -> None:
        with contextlib.suppress(OSError):
            self._waker.recv(4096)

    def _read(self, link: Link) -> tuple[int, bool]:
        """Read what `link` has and pass on its whole frames: the most records one held
        (at least 1 if there was a frame, else 0), and whether a frame is partly read
        (the rest is coming: no pause). A link lost is fenced by `lose`."""
        try:
            size = link.sock.recv_into(self._buffer)
        except BlockingIOError:
            return 0, False
        except OSError:
            size = 0
        if not size:
            self._drop(link)
            return 0, False
        inbox = link.inbox
        inbox += self._buffer[:size]
        took = 0
        try:
            while (payload := take_frame(inbox, self._limit)) is not None:
                took = max(took, self._receive(link, payload), 1)
        except Exception:  # not speaking the protocol (FrameError), or a fault: fenced
            self._drop(link)
            return took, False
        return took, bool(inbox)

    def send(self) -> None:
        """Frame and write what the links poked since the last send have to send, until
        none is poked (a link lost while writing moves its URLs to others)."""
        while True:
            with self._lock:
                dirty, self._dirty = self._dirty, set()
                taken = [(link, link.take()) for link in dirty]
            if not taken:
                return
            for link, messages in taken:
                for message in messages:
                    link.outbox += frame(encode(message))
                if link.outbox and link in self._links:
                    self._write(link)

    def _write(self, link: Link) -> None:
        """Write what `link`'s outbox holds, as far as the socket takes it; watch for
        room to write the rest."""
        outbox = link.outbox
        try:
            if outbox:
                del outbox[: link.sock.send(outbox)]
        except BlockingIOError:
            pass
        except OSError:
            self._drop(link)
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if outbox else 0)
        if link in self._links:
            with contextlib.suppress(KeyError, ValueError, OSError):  # closed meanwhile
                if self._selector.get_key(link.sock).events != events:
                    self._selector.modify(link.sock, events, link)

    def _drop(self, link: Link) -> None:
        """Stop serving `link` and have the run fence it."""
        if link in self._links:
            self._links.remove(link)
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(link.sock)
        self._lose(link)

    def close(self) -> None:
        """Pass the links still served to `lose`, and close the selectors and the waker
        (safe to call twice)."""
        for link in list(self._links):
            self._drop(link)
        with self._waking:  # no wake writes to a socket closed (its number reused) now
            self._closed = True
            for closing in (self._selector, self._pause, self._waker, self._poker):
                closing.close()


def connect(worker: str, host: str, port: int, secret: bytes) -> socket.socket:
    """A connection to the fetch node of the Dask worker at `worker`, the secret sent;
    `ExecutorError` naming the worker if it cannot be reached."""
    try:
        sock = socket.create_connection((host, port), _CONNECT_SECONDS)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        keep_alive(sock)
        send_frame(sock, secret)
    except OSError as exc:
        raise ExecutorError(
            f"cannot reach the fetch node of the Dask worker at {worker} "
            f"({host}:{port}): {exc.strerror or exc}"
        ) from None
    return sock
