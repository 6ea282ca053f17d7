"""fetcher's one error model: the exceptions a caller can meet, and the kinds of failure a
record can carry.

Exceptions (all exported from `fetcher`)::

    FetcherError                 anything fetcher raises on purpose
    ├── OptionError(ValueError)  an option value is invalid (`.field` names it)
    ├── ExecutorError            the executor cannot run URLs (cannot start, lost its cluster)
    ├── SaveDirError             the save folder cannot be written where pages are fetched
    ├── InputError               a URL list could not be read
    └── OutputError              the output file cannot be used
        └── ResumeError          ... and cannot be resumed (it is not fetcher's)

A URL that fails is not an exception: it is a record whose `error` says what happened in
a short message and whose `error_kind` says which kind of failure it was, from the closed
set `KINDS`. The kind is decided once, where the failure happens (`Failure` inside an
attempt, the runner for pool failures); grouping and retry decisions read the kind,
never the message. A new kind is a documented change of the API.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "KINDS",
    "ExecutorError",
    "Failure",
    "FailureKind",
    "FetcherError",
    "InputError",
    "OptionError",
    "OutputError",
    "ResumeError",
    "SaveDirError",
    "clip",
]

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

#: Every kind of failure a record can carry, in the documented order.
KINDS: tuple[FailureKind, ...] = get_args(FailureKind)

_MAX_MESSAGE_CHARS = 200


class FetcherError(Exception):
    """Anything fetcher raises on purpose; its message is one line for a person."""


class OptionError(FetcherError, ValueError):
    """An option value is invalid; `field` names the `FetchOptions` field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}")
        self.field = field
        self.reason = message


class ExecutorError(FetcherError):
    """The executor cannot run URLs: it cannot start, or lost its cluster."""


class SaveDirError(FetcherError):
    """Pages cannot be saved in the save folder, where they would be fetched."""


class InputError(FetcherError):
    """A URL list could not be read; `urls_read` says how many URLs came before it failed."""

    def __init__(self, message: str, urls_read: int = 0) -> None:
        super().__init__(message)
        self.urls_read = urls_read


class OutputError(FetcherError):
    """The output file cannot be used (it was left as it was found)."""


class ResumeError(OutputError):
    """The output file cannot be resumed: unreadable, or not proven to be fetcher's."""


class Failure(Exception):
    """Inside an attempt: a failure as the record will show it (`kind`, `message`).

    Never leaves the attempt: the client turns it into the record's `error` and
    `error_kind`.
    """

    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind
        self.message = clip(message)


def clip(message: str) -> str:
    """`message` cut to at most 200 characters (an ellipsis marks the cut)."""
    if len(message) <= _MAX_MESSAGE_CHARS:
        return message
    return message[: _MAX_MESSAGE_CHARS - 1] + "…"
