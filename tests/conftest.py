from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.server import LocalServer


@pytest.fixture(scope="session")
def server() -> Iterator[LocalServer]:
    """A real HTTP server on 127.0.0.1 for the whole session."""
    srv = LocalServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def unanswered_connect_url() -> Iterator[str]:
    """A loopback URL whose TCP connect hangs: the listener's accept queue is full."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(16):  # fill the accept queue until a connect no longer completes
        filler = socket.socket()
        filler.settimeout(0.3)
        try:
            filler.connect(("127.0.0.1", port))
        except OSError:
            filler.close()
            break
        fillers.append(filler)
    yield f"http://127.0.0.1:{port}/"
    for sock in [*fillers, listener]:
        sock.close()


@pytest.fixture
def silent_tls_url() -> Iterator[str]:
    """An https URL whose server accepts the connection and never answers the handshake."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield f"https://127.0.0.1:{listener.getsockname()[1]}/"
    listener.close()


@pytest.fixture
def refused_url() -> str:
    """A loopback URL where nothing listens: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
