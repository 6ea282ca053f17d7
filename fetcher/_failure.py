"""Why an attempt failed: a kind from a closed set, and the short message a record shows.

Every failure fetcher reports is classified where it happens, once, into one of `KINDS`;
later decisions (retry or not, grouping in a summary) read the kind, never the message.
Exceptions of the libraries underneath (httpx, httpcore, h11, ssl, socket, zlib) are
mapped to a kind and a plain message by `_classify` in `_fetch`; fetcher's own checks
raise `Failure` directly.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["KINDS", "Failure", "FailureKind", "clip"]

FailureKind = Literal[
    "timeout",  # the attempt (or the URL's total time) ran out
    "dns",  # the host name did not resolve
    "refused",  # the server refused the connection
    "connect",  # any other failure to connect (unreachable, reset during connect)
    "lost",  # the connection closed or broke before the response was complete
    "tls",  # the TLS handshake failed (certificate, protocol)
    "protocol",  # the server broke HTTP framing (garbage, conflicting headers)
    "invalid_url",  # the URL (or a redirect's) cannot be requested as written
    "scheme",  # a scheme other than http or https
    "redirects",  # too many redirects, or a loop
    "too_large",  # a body or header section beyond its cap
    "decode",  # a body in an unknown or corrupt content coding
    "retry_after",  # the server asked for a wait beyond max-retry-wait
    "save",  # the body could not be saved
    "crashed",  # the URL killed its worker process, twice
    "executor",  # the executor could not run the URL
    "aborted",  # the run was abandoned while the URL was in flight
]

#: Every kind, in the documented order.
KINDS: tuple[FailureKind, ...] = get_args(FailureKind)

_MAX_MESSAGE_CHARS = 200


class Failure(Exception):
    """A failed attempt, as fetcher reports it: `kind`, and `message` for the record."""

    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind
        self.message = clip(message)


def clip(message: str) -> str:
    """`message` cut to at most 200 characters (an ellipsis marks the cut)."""
    if len(message) <= _MAX_MESSAGE_CHARS:
        return message
    return message[: _MAX_MESSAGE_CHARS - 1] + "…"
