"""A minimal HTTP/2 server over TLS on 127.0.0.1 (h2's protocol machine), for the tests.

Every request on every stream is answered with one small HTML page, except two hostile
paths: `/flood` answers with a HEADERS frame followed by CONTINUATION frames that never
end the header block, and `/big-headers` with a header list far beyond any sane size.
It speaks only h2 (ALPN), so a client that does not negotiate HTTP/2 fails against it.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import hpack
from hyperframe.frame import ContinuationFrame, HeadersFrame

BODY = b"<title>Over HTTP/2</title>"


class H2Server:
    def __init__(self, cert: str, key: str) -> None:
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert, key)
        self._context.set_alpn_protocols(["h2"])
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self.protocols: list[str | None] = []  # negotiated per connection
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        with (
            contextlib.suppress(OSError, h2.exceptions.ProtocolError),
            self._context.wrap_socket(raw, server_side=True) as sock,
        ):
            self.protocols.append(sock.selected_alpn_protocol())
            config = h2.config.H2Configuration(client_side=False)
            connection = h2.connection.H2Connection(config=config)
            connection.initiate_connection()
            sock.sendall(connection.data_to_send())
            while data := sock.recv(65536):
                for event in connection.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        path = dict(event.headers).get(b":path", b"/")
                        if path in (b"/flood", b"/big-headers"):
                            sock.sendall(connection.data_to_send())
                            _send_hostile_headers(sock, event.stream_id, path == b"/flood")
                            continue
                        headers = [(":status", "200"), ("content-type", "text/html")]
                        connection.send_headers(event.stream_id, headers)
                        connection.send_data(event.stream_id, BODY, end_stream=True)
                sock.sendall(connection.data_to_send())


def _send_hostile_headers(sock: ssl.SSLSocket, stream_id: int, flood: bool) -> None:
    """Raw frames, past h2's own checks: a CONTINUATION flood, or an oversized header list."""
    if flood:
        first = HeadersFrame(stream_id, data=hpack.Encoder().encode([(":status", "200")]))
        sock.sendall(first.serialize())
        for _ in range(5000):  # never END_HEADERS
            sock.sendall(ContinuationFrame(stream_id, data=b"\x00" * 16).serialize())
        return
    block = hpack.Encoder().encode(
        [(":status", "200")] + [(f"x-{i}", "v" * 1000) for i in range(80)]
    )
    pieces = [block[i : i + 16_000] for i in range(0, len(block), 16_000)]
    frames = [HeadersFrame(stream_id, data=pieces[0])]
    frames += [ContinuationFrame(stream_id, data=piece) for piece in pieces[1:]]
    frames[-1].flags.add("END_HEADERS")
    sock.sendall(b"".join(frame.serialize() for frame in frames))
