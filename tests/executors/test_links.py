"""When the cluster client may send a node URLs (`Link`): the rules that keep a busy
node's frames few and full, its URLs within `room`, and no wake-up lost."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fetcher._executors.wire import decode, read_frame
from fetcher._run.links import Link, LinkLoop
from fetcher._run.node import BATCH


class CountedLink(Link):
    """A link that counts the pokes it gives its loop."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__("tcp://127.0.0.1:1", sock, 16)
        self.poked = 0
        self.poke = self._count

    def _count(self, link: Link) -> None:
        self.poked += 1


@pytest.fixture
def link() -> Iterator[CountedLink]:
    left, right = socket.socketpair()
    with left, right:
        yield CountedLink(left)


def test_a_node_under_its_mark_is_sent_what_waits_up_to_a_batch(link: CountedLink) -> None:
    assert link.refill_at == 2 * 16 + BATCH // 2 and link.room == 2 * 16 + BATCH
    for index in range(1, 301):
        link.queue(index, f"http://127.0.0.1/{index}")
    assert link.poked == 1  # the first URL waiting, not one wake a URL
    assert link.sendable() == BATCH
    link.at_node = link.refill_at - 1
    assert link.sendable() == link.room - link.at_node  # never past the room


def test_a_busy_node_is_sent_nothing_until_it_falls_under_its_mark(link: CountedLink) -> None:
    link.at_node = link.room  # a full node: a backlog waits
    for index in range(1, 301):
        link.queue(index, f"http://127.0.0.1/{index}")
    assert link.poked == 0
    link.answered(10)  # room again, but the node is still busy: no frame of 10
    assert link.sendable() == 0 and link.poked == 0
    link.answered(link.at_node - link.refill_at + 1)  # under the mark: one wake, a big frame
    assert link.poked == 1
    assert link.sendable() == link.room - link.at_node > BATCH // 2


def test_no_wake_when_nothing_waits(link: CountedLink) -> None:
    link.at_node = link.refill_at
    link.answered(5)
    assert link.poked == 0


# The loop: every connection read and written in the run's thread, a turn at a time ----


class Loop:
    """A `LinkLoop` over one link, a socket pair's end, turned by a thread of its own (the
    run's, here), and what it gave the run."""

    def __init__(self, pace: float, limit: int = 1 << 20) -> None:
        self.peer, near = socket.socketpair()
        self.lock = threading.Lock()
        self.link = Link("tcp://127.0.0.1:1", near, 16)
        self.payloads: list[bytes] = []
        self.follow: dict[bytes, bytes] = {}  # payload -> what the peer sends as it is taken
        self.received = threading.Semaphore(0)
        self.turns: list[tuple[float, int]] = []  # the turns that took frames: when, how many
        self.turned = threading.Semaphore(0)
        self.lost: list[Link] = []
        self.lost_event = threading.Event()
        self.loop = LinkLoop(self.lock, limit, self._receive, self._lose, pace)
        self.loop.add(self.link)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._turn, daemon=True)
        self.thread.start()

    def _turn(self) -> None:
        while not self.stopping.is_set():
            before = len(self.payloads)
            if self.loop.turn(0.05):
                self.turns.append((time.monotonic(), len(self.payloads) - before))
                self.turned.release()

    def _receive(self, link: Link, payload: bytes) -> int:
        if payload == b"raise":
            raise RuntimeError("a fault in taking a message")
        self.payloads.append(payload)
        if payload in self.follow:
            self.peer.sendall(frame(self.follow[payload]))
        self.received.release()
        return BATCH if payload == b"full" else 1  # its records

    def _lose(self, link: Link) -> None:
        self.lost.append(link)
        self.lost_event.set()

    def stop(self) -> None:
        self.stopping.set()
        self.loop.wake()
        self.thread.join(5)
        assert not self.thread.is_alive()

    def close(self) -> None:
        self.stop()
        self.loop.close()
        self.peer.close()
        self.link.sock.close()

    def read_frame(self) -> dict[str, Any]:
        self.peer.settimeout(5)
        frame = read_frame(self.peer)
        assert frame is not None
        return decode(frame)


def frame(payload: bytes) -> bytes:
    return struct.pack(">Q", len(payload)) + payload


@pytest.fixture
def loop() -> Iterator[Loop]:
    made = Loop(pace=0.0)
    yield made
    made.close()


def test_frames_come_whole_however_the_bytes_are_split(loop: Loop) -> None:
    payloads = [f"message {number} ".encode() * number for number in range(1, 40)]
    stream = b"".join(frame(payload) for payload in payloads)
    for start in range(0, len(stream), 7):  # pieces across headers and payloads alike
        loop.peer.sendall(stream[start : start + 7])
    for _ in payloads:
        assert loop.received.acquire(timeout=5)
    assert loop.payloads == payloads
    assert not loop.lost


def test_a_turn_at_most_every_pace_takes_what_came_meanwhile() -> None:
    loop = Loop(pace=0.5)
    try:
        loop.peer.sendall(frame(b"first"))
        assert loop.turned.acquire(timeout=5)  # at once: the loop was waiting
        loop.peer.sendall(frame(b"second"))
        loop.peer.sendall(frame(b"third"))
        assert loop.turned.acquire(timeout=5)  # when the pace allows, not before
        loop.stop()
        assert loop.payloads == [b"first", b"second", b"third"]
        assert [taken for _, taken in loop.turns] == [1, 2]  # "second" and "third" in one
        assert loop.turns[1][0] - loop.turns[0][0] >= 0.25  # the first took < 0.25 s
    finally:
        loop.close()


def test_frames_that_come_while_a_turn_takes_one_are_taken_in_that_turn() -> None:
    """Frames of one tick (each node sends on the same grid) rarely all arrive before the
    loop wakes: those that come while it takes the first are taken in the same turn."""
    loop = Loop(pace=600.0)  # after a turn, no read for ten minutes
    loop.follow[b"first"] = b"second"  # another node's frame, arriving meanwhile
    try:
        loop.peer.sendall(frame(b"first"))
        assert loop.turned.acquire(timeout=5)
        loop.stop()
        assert loop.payloads == [b"first", b"second"]
        assert [taken for _, taken in loop.turns] == [2]
    finally:
        loop.close()


class Nodes:
    """A `LinkLoop` over two links (socket pairs' ends), turned by the test's thread, with
    URLs out at the nodes given (`busy`), and the payloads it took."""

    def __init__(self, busy: tuple[int, int], gather: float) -> None:
        self.pairs = [socket.socketpair() for _ in busy]
        self.links = [
            Link(f"tcp://127.0.0.1:{n}", near, 16) for n, (near, _) in enumerate(self.pairs)
        ]
        self.payloads: list[bytes] = []
        self.loop = LinkLoop(
            threading.Lock(), 1 << 20, self._receive, lambda link: None, 600.0, gather
        )
        for link, at_node in zip(self.links, busy, strict=True):
            link.at_node = at_node
            self.loop.add(link)

    def _receive(self, link: Link, payload: bytes) -> int:
        self.payloads.append(payload)
        return 1

    def send(self, node: int, payload: bytes) -> None:
        self.pairs[node][1].sendall(frame(payload))

    def close(self) -> None:
        self.loop.close()
        for near, far in self.pairs:
            near.close()
            far.close()


def test_a_turn_waits_for_the_other_busy_nodes_frames_of_the_tick() -> None:
    """Frames of one tick come some milliseconds apart: after the first, the loop takes
    the other busy nodes' as they come (up to `gather`), in the same turn, where they
    would otherwise wait out the pace (ten minutes here)."""
    nodes = Nodes(busy=(5, 5), gather=60.0)
    later = threading.Timer(0.2, nodes.send, args=(1, b"second node"))
    try:
        nodes.send(0, b"first node")
        later.start()  # after the loop has taken the first, as a rule
        started = time.monotonic()
        assert nodes.loop.turn(30) == 1
        assert nodes.payloads == [b"first node", b"second node"]
        assert time.monotonic() - started < 30  # once both came, not at the gather's end
    finally:
        later.cancel()
        nodes.close()


def test_a_turn_waits_for_no_node_without_urls_out() -> None:
    nodes = Nodes(busy=(5, 0), gather=60.0)  # the second node has nothing to send
    try:
        nodes.send(0, b"first node")
        started = time.monotonic()
        assert nodes.loop.turn(30) == 1
        assert time.monotonic() - started < 30
        assert nodes.payloads == [b"first node"]
    finally:
        nodes.close()


def test_the_wait_for_a_silent_node_ends_with_the_gather() -> None:
    nodes = Nodes(busy=(5, 5), gather=0.3)  # the second node sends nothing on this tick
    try:
        nodes.send(0, b"first node")
        started = time.monotonic()
        assert nodes.loop.turn(30) == 1
        assert 0.3 <= time.monotonic() - started < 30
        assert nodes.payloads == [b"first node"]
    finally:
        nodes.close()


def test_a_wake_ends_the_wait_for_a_silent_node() -> None:
    """The run's other waits (more input, Ctrl-C) end a turn gathering frames too."""
    nodes = Nodes(busy=(5, 5), gather=60.0)
    waker = threading.Timer(0.1, nodes.loop.wake)
    try:
        nodes.send(0, b"first node")
        waker.start()
        started = time.monotonic()
        assert nodes.loop.turn(30) == 1
        assert time.monotonic() - started < 30
    finally:
        waker.cancel()
        nodes.close()


class CountedSelector:
    """A selector that counts its `select` calls."""

    def __init__(self, selector: Any) -> None:
        self.selector = selector
        self.calls = 0

    def select(self, timeout: float | None = None) -> Any:
        self.calls += 1
        return self.selector.select(timeout)

    def close(self) -> None:
        self.selector.close()


def test_a_quiet_loop_waits_out_no_pause_for_a_frame_that_comes_after_it() -> None:
    """After a small frame, the loop waits for the next as ever: one that comes after
    the pace is read at once, with no wake-up at the end of the pause; one that comes
    within it waits out the pause (each wake-up costs CPU of its own)."""
    loop = Loop(pace=0.3)
    pause = loop.loop._pause = CountedSelector(loop.loop._pause)  # type: ignore[assignment]
    try:
        loop.peer.sendall(frame(b"first"))
        assert loop.turned.acquire(timeout=5)
        time.sleep(0.5)  # the pace is over: the time itself is what is tested
        loop.peer.sendall(frame(b"after"))
        assert loop.turned.acquire(timeout=5)
        assert pause.calls == 0
        loop.peer.sendall(frame(b"within"))  # right after a turn: within its pace
        assert loop.turned.acquire(timeout=5)
        assert pause.calls >= 1
        assert loop.turns[2][0] - loop.turns[1][0] >= 0.2
        assert loop.payloads == [b"first", b"after", b"within"]
    finally:
        loop.close()


def test_no_pause_after_a_full_frame() -> None:
    loop = Loop(pace=600.0)  # after a small frame, no read for ten minutes
    try:
        loop.peer.sendall(frame(b"full"))  # its node runs flat out: keep reading
        assert loop.turned.acquire(timeout=5)
        loop.peer.sendall(frame(b"next"))
        assert loop.turned.acquire(timeout=5)
        assert loop.payloads == [b"full", b"next"]
    finally:
        loop.close()


def test_no_pause_while_a_large_frame_comes() -> None:
    loop = Loop(pace=600.0, limit=16 << 20)  # after a small frame, no read for ten minutes
    large = b"x" * (6 << 20)  # read a megabyte at a time
    sender = threading.Thread(target=loop.peer.sendall, args=(frame(large),), daemon=True)
    try:
        sender.start()
        assert loop.received.acquire(timeout=10)
        loop.stop()
        assert loop.payloads == [large]
        assert [taken for _, taken in loop.turns] == [1]  # one turn took it, whole
    finally:
        loop.close()


def test_a_wake_ends_a_turn_at_once_in_a_pause_or_not() -> None:
    """What the run waits for besides records (more input, Ctrl-C) wakes the loop from
    another thread: a turn then ends at once, waiting for frames or in a pause."""
    near, peer = socket.socketpair()
    loop = LinkLoop(threading.Lock(), 1 << 20, lambda link, payload: 1, lambda link: None, 600.0)
    loop.add(Link("tcp://127.0.0.1:1", near, 16))
    try:
        for pausing in (False, True):
            if pausing:
                peer.sendall(frame(b"small"))  # after it, no read for ten minutes
                assert loop.turn(5) == 1
            waker = threading.Timer(0.1, loop.wake)
            waker.start()
            started = time.monotonic()
            assert loop.turn(30) == 0
            assert time.monotonic() - started < 5
            waker.join()
    finally:
        loop.close()
        for end in (near, peer):
            end.close()


@pytest.mark.parametrize("ending", ["closed", "oversized", "fault"])
def test_a_link_that_breaks_is_lost_and_no_more_is_read(loop: Loop, ending: str) -> None:
    if ending == "closed":
        loop.peer.sendall(frame(b"first") + frame(b"cut short")[:9])
        loop.peer.shutdown(socket.SHUT_WR)
    elif ending == "oversized":
        loop.peer.sendall(frame(b"first") + struct.pack(">Q", (1 << 20) + 1) + b"x" * 64)
    else:
        loop.peer.sendall(frame(b"first") + frame(b"raise") + frame(b"after"))
    assert loop.lost_event.wait(5)
    loop.close()
    assert loop.lost == [loop.link]
    assert loop.payloads == [b"first"]


def test_urls_leave_as_a_frame_before_a_message_posted_after_them(loop: Loop) -> None:
    with loop.lock:
        for index in range(1, 4):
            loop.link.queue(index, f"http://127.0.0.1/{index}")
        loop.link.post({"finish": 2.0})
    assert loop.read_frame() == {
        "urls": [[1, "http://127.0.0.1/1"], [2, "http://127.0.0.1/2"], [3, "http://127.0.0.1/3"]]
    }
    assert loop.read_frame() == {"finish": 2.0}
    assert loop.link.at_node == 3 and not loop.link.pending


def test_a_lost_link_is_sent_nothing_more(loop: Loop) -> None:
    with loop.lock:
        loop.link.alive = False
        loop.link.queue(1, "http://127.0.0.1/1")
        loop.link.post({"finish": 2.0})
    for ping in (b"a", b"b"):  # "b" is read in a turn after the one that took the poke
        loop.peer.sendall(frame(ping))
        assert loop.received.acquire(timeout=5)
    loop.stop()
    loop.peer.setblocking(False)
    with pytest.raises(BlockingIOError):
        loop.peer.recv(64)  # nothing was written


def test_a_node_of_more_threads_than_a_batch_is_sent_more_than_one_frame() -> None:
    left, right = socket.socketpair()
    with left, right:
        link = Link("tcp://127.0.0.1:1", left, 100)  # room 456, mark 328
        for index in range(1, 1001):
            link.queue(index, f"http://127.0.0.1/{index}")
        sizes = [len(message["urls"]) for message in link.take()]
        assert sizes == [BATCH, link.room - BATCH] and link.at_node == link.room


def test_urls_moved_to_a_link_while_writing_to_a_lost_one_are_sent() -> None:
    """A link lost as the loop writes to it (its `lose` moves its URLs to another link,
    as the run does) has them sent to that other link in the same turn."""
    lock = threading.Lock()
    near_a, peer_a = socket.socketpair()
    near_b, peer_b = socket.socketpair()
    a = Link("tcp://127.0.0.1:1", near_a, 16)
    b = Link("tcp://127.0.0.1:2", near_b, 16)

    def lose(link: Link) -> None:
        with lock:
            if link is a and a.alive:
                a.alive = False
                b.queue(1, "http://127.0.0.1/1")

    loop = LinkLoop(lock, 1 << 20, lambda link, payload: 0, lose, 0.0)
    loop.add(a)
    loop.add(b)
    try:
        near_a.shutdown(socket.SHUT_WR)  # a write to `a` fails; nothing to read there
        with lock:
            a.queue(1, "http://127.0.0.1/1")
        loop.turn(0)
        peer_b.settimeout(5)
        frame = read_frame(peer_b)
        assert frame is not None and decode(frame) == {"urls": [[1, "http://127.0.0.1/1"]]}
    finally:
        loop.close()
        for end in (near_a, peer_a, near_b, peer_b):
            end.close()
