"""The socket layer under httpx: non-blocking reads and writes bounded by the deadline,
and one look at a worker's sockets for httpcore's "is this idle connection dead?"."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpcore
import pytest

from fetcher._http.network import Deadline, LiveSockets, Readiness, SocketStream


@pytest.fixture
def pairs() -> Iterator[list[tuple[socket.socket, socket.socket]]]:
    made: list[tuple[socket.socket, socket.socket]] = []
    yield made
    for ours, theirs in made:
        ours.close()
        theirs.close()


def tcp_pair(
    pairs: list[tuple[socket.socket, socket.socket]],
) -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        ours = socket.create_connection(listener.getsockname())
        theirs, _ = listener.accept()
    pairs.append((ours, theirs))
    return ours, theirs


def test_one_look_tells_which_idle_connections_their_servers_closed(
    pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    readiness = Readiness()
    (alive, _), (closed, server) = tcp_pair(pairs), tcp_pair(pairs)
    readiness.add(alive)
    readiness.add(closed)
    server.close()  # its FIN makes ours readable
    assert readiness.readable(closed)
    assert not readiness.readable(alive)
    stray, stray_server = tcp_pair(pairs)
    stray_server.sendall(b"\r\n")
    readiness.add(stray)  # a new socket: the next question looks again
    assert readiness.readable(stray)
    readiness.discard(stray)
    assert not readiness.readable(alive)


def test_a_read_waits_for_late_bytes_and_a_write_is_sent_whole(
    pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    ours, theirs = tcp_pair(pairs)
    stream = SocketStream(ours, Deadline(), LiveSockets(), None, Readiness())
    received = bytearray()

    def drain() -> None:
        while len(received) < 4 << 20:
            received.extend(theirs.recv(1 << 20))

    draining = threading.Thread(target=drain)
    draining.start()
    stream.write(b"x" * (4 << 20), timeout=10)  # more than the buffers hold at once
    draining.join(10)
    assert received == b"x" * (4 << 20)
    reading = threading.Thread(target=lambda: received.extend(stream.read(100, timeout=10)))
    reading.start()
    theirs.sendall(b"late")
    reading.join(10)
    assert received.endswith(b"late")


def test_a_read_ends_at_the_deadline_with_a_read_timeout(
    pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    ours, _ = tcp_pair(pairs)
    deadline = Deadline()
    deadline.start(0.05)
    stream = SocketStream(ours, deadline, LiveSockets(), None, Readiness())
    with pytest.raises(httpcore.ReadTimeout):
        stream.read(100, timeout=30)
