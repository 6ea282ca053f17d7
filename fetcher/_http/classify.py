"""Mapping the exceptions of the HTTP stack to fetcher's failure kinds, once.

httpx, httpcore, h11, ssl and socket report failures as exception classes whose messages
are written for their own developers (`IDNAError: Invalid A-label`, `illegal status line:
bytearray(b'...')`). This is the one place that turns them into a `Failure`: a kind from
the closed set and a short, plain message. Where only a library's message tells two
failures apart, `fetcher._compat.protocol_problem` reads it.

Whether a retry may cure a failure is decided here too, from the kind and the exception,
never from a message fetcher wrote: timeouts and failed connections may; DNS only on a
temporary failure (EAI_AGAIN); a connection lost before any response may; a lost
response, bad TLS, garbage or any answer the server gave may not.
"""

from __future__ import annotations

import socket
import ssl

import httpcore
import httpx

from .._compat import protocol_problem
from .._core.errors import Failure, clip
from .._core.urls import has_scheme, to_request_url

__all__ = ["HEADER_BYTES_CAP", "classify", "is_stale_connection_error", "wants_http_fallback"]

#: What OpenSSL says when the server answered the TLS handshake with something else
#: (a plain-HTTP server answers `HTTP/1.1 400 ...`, which is no TLS record).
_NOT_TLS_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "UNKNOWN_PROTOCOL"}
)

#: Bytes of a response's header section (status line included) read before giving up:
#: httpcore's own bound on an HTTP/1.1 head (h11's incomplete event size).
HEADER_BYTES_CAP = 100 * 1024

# httpcore reports h2's own refusals (a CONTINUATION flood) as local protocol errors.
_PROTOCOL_ERRORS = (
    httpx.RemoteProtocolError,
    httpcore.RemoteProtocolError,
    httpx.LocalProtocolError,
    httpcore.LocalProtocolError,
)


def classify(exc: BaseException, timeout: float, has_status: bool) -> tuple[Failure, bool]:
    """The failure `exc` stands for, and whether another attempt could end differently.

    `timeout` is the attempt's bound (for the message); `has_status` says whether a
    response had arrived before the failure.
    """
    if isinstance(exc, Failure):
        return exc, False
    if isinstance(exc, httpx.TimeoutException | httpcore.TimeoutException | TimeoutError):
        return Failure("timeout", f"timed out after {timeout:g}s"), True
    cause = _root_cause(exc)
    if isinstance(cause, socket.gaierror):
        reason = (cause.strerror or str(cause)).lower()
        return Failure("dns", f"DNS lookup failed: {reason}"), cause.errno == socket.EAI_AGAIN
    if isinstance(cause, UnicodeError):
        return Failure("invalid_url", "invalid host name"), False
    if isinstance(cause, ssl.SSLError):
        return Failure("tls", f"TLS error: {cause.reason or _first_line(cause)}"), False
    if isinstance(cause, ConnectionRefusedError):
        return Failure("refused", "connection refused"), True
    if isinstance(exc, httpx.ConnectError | httpcore.ConnectError):
        return Failure("connect", f"connect failed: {os_message(cause)}"), True
    if isinstance(exc, _PROTOCOL_ERRORS):
        return _protocol(exc, has_status)
    if isinstance(exc, httpx.ReadError | httpx.WriteError | httpcore.NetworkError):
        return Failure("lost", f"connection lost: {os_message(cause)}"), not has_status
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return Failure("invalid_url", "malformed URL"), False
    return Failure("protocol", f"unexpected failure ({type(exc).__name__})"), False


def _protocol(exc: BaseException, has_status: bool) -> tuple[Failure, bool]:
    """A protocol error: the connection ended early, a head too big, or garbage."""
    problem = protocol_problem(exc)
    if problem == "disconnect":
        text = "server closed the connection before the response was complete"
        if not has_status:
            text = "server closed the connection without a response"
        return Failure("lost", text), not has_status
    if problem == "head" and has_status:  # h11's limit also bounds chunk and trailer lines
        message = f"protocol error: a chunk or trailer line over {HEADER_BYTES_CAP} bytes"
        return Failure("protocol", message), False
    if problem == "head":
        return Failure("too_large", f"response headers larger than {HEADER_BYTES_CAP} bytes"), False
    if problem == "h2-headers":
        return Failure("too_large", "response headers too large (HTTP/2)"), False
    return Failure("protocol", f"protocol error: {_first_line(exc).split(':')[0]}"), False


def is_stale_connection_error(exc: BaseException) -> bool:
    """True for what a dead or garbled kept-alive connection raises while sending a request
    or reading the response head (not a timeout: the attempt's time is gone then)."""
    return isinstance(
        exc,
        httpx.RemoteProtocolError
        | httpx.ReadError
        | httpx.WriteError
        | httpcore.RemoteProtocolError
        | httpcore.NetworkError,
    ) and not isinstance(exc, httpx.TimeoutException | httpcore.TimeoutException)


def wants_http_fallback(line: str, exc: BaseException) -> bool:
    """True when an https:// attempt at an input line without a scheme should be made
    again as http:// (ProjectDiscovery httpx's probe): https was refused and the line
    names no port (so 443 was tried; 80 is next), or the server answered the TLS
    handshake in plain HTTP. Never on a certificate error or a timeout."""
    if has_scheme(line):
        return False
    cause = _root_cause(exc)
    if isinstance(cause, ssl.SSLError):
        return (cause.reason or "") in _NOT_TLS_REASONS
    if isinstance(cause, ConnectionRefusedError):
        try:
            return httpx.URL(to_request_url(line)).port is None
        except (httpx.InvalidURL, ValueError):
            return False
    return False


def _root_cause(exc: BaseException) -> BaseException:
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        nested = exc.__cause__ or exc.__context__
        if nested is None:
            break
        exc = nested
    return exc


def os_message(exc: BaseException) -> str:
    """An OS error's own text in lower case (`connection reset by peer`)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return _first_line(exc) or type(exc).__name__


def _first_line(value: object) -> str:
    return clip(str(value).strip().splitlines()[0] if str(value).strip() else "")
