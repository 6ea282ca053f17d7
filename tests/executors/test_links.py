"""When the cluster client's sender may send a node URLs (`Link`): the rules that keep a
busy node's frames few and full, its URLs within `room`, and no wake-up lost."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from fetcher._run.links import Link
from fetcher._run.node import BATCH


class CountingCondition(threading.Condition):
    """A condition that counts its `notify` calls."""

    def __init__(self, lock: threading.Lock) -> None:
        super().__init__(lock)
        self.notified = 0

    def notify(self, n: int = 1) -> None:
        self.notified += 1
        super().notify(n)


@pytest.fixture
def link() -> Iterator[Link]:
    left, right = socket.socketpair()
    lock = threading.Lock()
    made = Link("tcp://127.0.0.1:1", left, 16, lock)
    made.wake = CountingCondition(lock)
    with lock, left, right:
        yield made


def test_a_node_under_its_mark_is_sent_what_waits_up_to_a_batch(link: Link) -> None:
    assert link.refill_at == 2 * 16 + BATCH // 2 and link.room == 2 * 16 + BATCH
    for index in range(1, 301):
        link.queue(index, f"http://127.0.0.1/{index}")
    assert link.wake.notified == 1  # the first URL waiting, not one wake a URL
    assert link.sendable() == BATCH
    link.at_node = link.refill_at - 1
    assert link.sendable() == link.room - link.at_node  # never past the room


def test_a_busy_node_is_sent_nothing_until_it_falls_under_its_mark(link: Link) -> None:
    link.at_node = link.room  # a full node: a backlog waits
    for index in range(1, 301):
        link.queue(index, f"http://127.0.0.1/{index}")
    assert link.wake.notified == 0
    link.answered(10)  # room again, but the node is still busy: no frame of 10
    assert link.sendable() == 0 and link.wake.notified == 0
    link.answered(link.at_node - link.refill_at + 1)  # under the mark: one wake, a big frame
    assert link.wake.notified == 1
    assert link.sendable() == link.room - link.at_node > BATCH // 2


def test_no_wake_when_nothing_waits(link: Link) -> None:
    link.at_node = link.refill_at
    link.answered(5)
    assert link.wake.notified == 0
