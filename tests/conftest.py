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
def refused_url() -> str:
    """A loopback URL where nothing listens: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
