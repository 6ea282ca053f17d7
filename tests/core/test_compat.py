"""Every function of `fetcher._compat` against the real library internals it relies on.

If an upgrade of httpx, httpcore, anyio or concurrent.futures moves what one of them
reads, these fail first, with the function's name.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

import httpcore
import httpx
import pytest

from fetcher._compat import (
    click_exceptions,
    connection_of,
    left_unread,
    pool_processes,
    protocol_problem,
    tls_buffered,
    transport_over,
)
from tests.support.raw import RawServer, raw, response


def test_a_transport_over_a_pool_sends_and_finds_its_connection(raw_server: RawServer) -> None:
    clean = raw_server.route("/compat/clean", raw(response(200, b"ok")))
    dirty = raw_server.route("/compat/dirty", raw(response(200, b"ok") + b"\r\n"))
    transport = transport_over(httpcore.ConnectionPool())
    try:
        for url, leftover in ((clean, False), (dirty, True)):
            response_ = transport.handle_request(httpx.Request("GET", url))
            assert b"".join(response_.iter_raw()) == b"ok"
            connection = connection_of(response_)
            response_.close()
            assert connection is not None and left_unread(connection) is leftover
    finally:
        transport.close()


def test_the_messages_read_for_protocol_errors(raw_server: RawServer) -> None:
    urls = {
        "disconnect": raw_server.route("/compat/hangup", raw(b"", close=True)),
        "head": raw_server.route("/compat/head", raw(b"HTTP/1.1 200 OK\r\nX: " + b"x" * 200_000)),
        None: raw_server.route("/compat/garbage", raw(b"garbage\r\n\r\n", close=True)),
    }
    with httpx.Client() as client:
        for meaning, url in urls.items():
            with pytest.raises(httpx.RemoteProtocolError) as caught:
                client.get(url)
            assert protocol_problem(caught.value) == meaning


def test_the_worker_processes_of_a_process_pool() -> None:
    with ProcessPoolExecutor(2) as executor:
        executor.submit(int, "1").result()
        processes = pool_processes(executor)
        assert processes and all(process.is_alive() for process in processes)


def test_click_exceptions_has_the_usage_error() -> None:
    errors = click_exceptions()
    assert issubclass(errors.UsageError, errors.ClickException)


@pytest.fixture
def two_tls_records(tls_cert: tuple[str, str]) -> Iterator[tuple[int, threading.Event]]:
    """A TLS server that answers with two application records in one TCP segment, and
    says when it has sent them (on loopback, they have then arrived)."""
    sent = threading.Event()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_cert)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        sock, _ = listener.accept()
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_side=True)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                sock.sendall(outgoing.read())
                incoming.write(sock.recv(65536))
        sock.sendall(outgoing.read())
        while True:  # the client's request (it may have come with the handshake's end)
            try:
                tls.read(65536)
                break
            except ssl.SSLWantReadError:
                incoming.write(sock.recv(65536))
        tls.write(b"first record")
        tls.write(b"second record")
        sock.sendall(outgoing.read())  # both records, one send
        sent.set()
        sock.recv(65536)
        sock.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], sent
    listener.close()


def test_bytes_buffered_by_anyio_tls_are_seen(
    two_tls_records: tuple[int, threading.Event],
) -> None:
    port, sent = two_tls_records

    async def check() -> tuple[bytes, bool, bool]:
        backend = httpcore.AnyIOBackend()
        stream = await backend.connect_tcp("127.0.0.1", port)
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        tls = await stream.start_tls(context, server_hostname="127.0.0.1")
        before = tls_buffered(tls)
        await tls.write(b"request")
        await asyncio.to_thread(sent.wait, 10)  # both records are here: one loopback send
        first = await tls.read(65536)
        after = tls_buffered(tls)
        await tls.aclose()
        return first, before, after

    first, before, after = asyncio.run(check())
    assert first == b"first record"
    assert (before, after) == (False, True)  # the second record waits in anyio's buffer


def test_httpx_is_imported_without_its_command_line_unless_already_whole() -> None:
    import subprocess
    import sys

    # the marker: None in sys.modules (httpx imported first leaves its own import, or its
    # absence where the command line's dependencies are not installed)
    probe = (
        "import sys; {first}import fetcher._http.client, httpx; "
        "print('httpx._main' in sys.modules and sys.modules['httpx._main'] is None, "
        "callable(httpx.main))"
    )
    for first, expected in (("", "True True"), ("import httpx; ", "False True")):
        done = subprocess.run(
            [sys.executable, "-c", probe.format(first=first)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert done.stdout.split() == expected.split()
