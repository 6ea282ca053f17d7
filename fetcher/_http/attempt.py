"""One attempt at one URL, as both HTTP clients (sync and async) record it.

An `AttemptBuilder` is what an attempt has learnt so far: the URL that answered, the
status, the size and title of what was read, and why it failed. It is filled the same way
whichever client reads the bytes, and finishes as an `Attempt`: the record, plus what
the runner needs to decide on a retry.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass

import httpx

from .._core.errors import Failure, FailureKind
from .._core.options import FetchOptions
from .._core.result import Attempt, FetchResult
from .body import CappedBody
from .classify import HEADER_BYTES_CAP, classify
from .request import REDIRECT_STATUSES, Hops
from .retry_after import RETRY_STATUSES, parse_retry_after
from .title import extract_title

__all__ = ["MAX_RESPONSE_HEADERS", "AttemptBuilder", "attempt_budget", "closes_connection"]

#: Header fields accepted in one response (their bytes are capped too, see `_classify`).
MAX_RESPONSE_HEADERS = 1000


def closes_connection(response: httpx.Response) -> bool:
    """True for a response after which its connection is never reused, even if nothing is
    left on it: one framed by both Transfer-Encoding and Content-Length (a sign of request
    smuggling or response splitting, RFC 9112 6.3; the first wins, as the RFC says)."""
    headers = response.headers
    return "transfer-encoding" in headers and "content-length" in headers


def attempt_budget(options: FetchOptions, deadline: float | None, now: float) -> tuple[float, bool]:
    """Seconds an attempt starting at `now` may take, and whether the URL's total time,
    not `options.timeout`, is what bounds it.

    `deadline` is when the URL's total time runs out (monotonic), set by the runner once
    a first attempt has run; a first attempt (None) starts the total clock itself, so
    time spent waiting in a pool's queue is not counted against the URL.
    """
    if deadline is None and options.total_timeout is not None:
        deadline = now + options.total_timeout
    if deadline is not None and deadline - now < options.timeout:
        return max(0.0, deadline - now), True
    return options.timeout, False


@dataclass(slots=True)
class AttemptBuilder:
    """What one attempt has learnt so far; every client (sync or async) fills one."""

    final_url: str | None = None
    status: int | None = None
    title: str | None = None
    size: int = 0
    error: str | None = None
    kind: FailureKind | None = None
    path: str | None = None
    retryable: bool = False
    retry_after: float | None = None
    gave_up: bool = False
    location: str | None = None
    body: bytes | None = None

    def note(
        self, response: httpx.Response, url: httpx.URL, hops: Hops, follow: bool = True
    ) -> httpx.URL | None:
        """Record a response's URL, status and (for a 3xx) where it leads; return the
        redirect to follow, if any (never with `follow` false)."""
        self.final_url = str(url)
        self.status = response.status_code
        self.location = None
        raw = response.headers.raw
        if len(raw) > MAX_RESPONSE_HEADERS:
            raise Failure("too_large", f"more than {MAX_RESPONSE_HEADERS} response headers")
        # h11 refuses a head only while it is incomplete and over the cap, so a head that
        # arrives in a few large reads can pass up to a read's size over it: cut it here
        if sum(len(name) + len(value) + 4 for name, value in raw) > HEADER_BYTES_CAP:
            raise Failure("too_large", f"response headers larger than {HEADER_BYTES_CAP} bytes")
        if response.status_code in REDIRECT_STATUSES:
            locations = response.headers.get_list("location")
            if locations and not follow:
                with contextlib.suppress(Failure):  # a bad Location is not followed anyway
                    self.location = str(hops.location(url, locations))
            elif locations:
                target = hops.location(url, locations)
                self.location = str(target)  # kept if the hop fails (a loop, too many)
                return target
        if response.status_code in RETRY_STATUSES:
            self.retry_after = parse_retry_after(response.headers.get("retry-after"))
        return None

    def body_for(self, response: httpx.Response, cap: int) -> CappedBody:
        """A decoder for the response's body, under the `max_bytes` cap."""
        return CappedBody(response.headers.get("content-encoding"), cap)

    def feed(self, body: CappedBody, chunk: bytes) -> None:
        """Add a raw chunk; a body beyond the cap ends the attempt."""
        body.feed(chunk)
        if body.truncated:
            raise Failure("too_large", f"body larger than max-bytes ({body.cap} bytes)")

    def read(self, body: CappedBody, response: httpx.Response, keep: bool = False) -> None:
        """Keep the size and title of what was read (also when reading failed), and the
        body itself if asked to (`keep_body`)."""
        self.size = body.size
        content = body.content()
        self.title = extract_title(content, response.headers.get("content-type"))
        if keep:
            self.body = content

    def save(
        self, options: FetchOptions, target: httpx.URL, response: httpx.Response, content: bytes
    ) -> None:
        """Write a successful body to `options.save_dir`, if set."""
        if options.save_dir is None or response.status_code >= 400:
            return
        from .save import save_page

        content_type = response.headers.get("content-type")
        try:
            try:
                self.path = save_page(options.save_dir, str(target), content_type, content)
            except FileNotFoundError:  # a worker on another machine (Dask): make the folder
                os.makedirs(options.save_dir, exist_ok=True)
                self.path = save_page(options.save_dir, str(target), content_type, content)
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
            raise Failure("save", f"cannot save page: {reason}") from None

    def fail(self, exc: BaseException, seconds: float, total_cut: bool) -> None:
        """Record why the attempt failed, and whether another may succeed.

        `seconds` is what the attempt was allowed; `total_cut` says the URL's total time,
        not the per-attempt timeout, set it: a timeout then ends the URL (`gave_up`).
        """
        failure, retryable = classify(exc, seconds, self.status is not None)
        self.error, self.kind, self.retryable = failure.message, failure.kind, retryable
        if failure.kind == "timeout" and total_cut:
            self.gave_up, self.retryable = True, False

    def finish(self, url: str, started: float) -> Attempt:
        """The finished attempt at `url`, begun at monotonic time `started`."""
        if self.error is None and self.status in RETRY_STATUSES:
            self.retryable = True
        result = FetchResult(
            url=url,
            final_url=self.final_url,
            status=self.status,
            title=self.title,
            bytes=self.size,
            elapsed=time.monotonic() - started,
            error=self.error,
            path=self.path,
            error_kind=self.kind,
            location=self.location if self.status in REDIRECT_STATUSES else None,
            body=self.body,
        )
        return Attempt(result, self.retryable, self.retry_after, self.gave_up)
