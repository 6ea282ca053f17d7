"""The functions of the Python API that run a list: `fetch_all`, `afetch_all` and
`fetch_first`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Unpack

from .._core.options import FetchOptions, OptionChanges
from .._core.result import FetchResult
from .runner import FetchRun

if TYPE_CHECKING:
    from .arun import AsyncFetchRun

__all__ = ["afetch_all", "fetch_all", "fetch_first"]


def _options(options: FetchOptions | None, changes: dict[str, Any]) -> FetchOptions:
    base = options or FetchOptions()
    try:
        return replace(base, **changes) if changes else base
    except TypeError as exc:
        raise TypeError(f"unknown fetch option: {exc}") from None


def _checked_urls(urls: Iterable[str]) -> Iterable[str]:
    if isinstance(urls, str | bytes):
        raise TypeError("urls must be an iterable of URL strings, not a single string")
    return urls


def fetch_all(
    urls: Iterable[str], options: FetchOptions | None = None, **changes: Unpack[OptionChanges]
) -> FetchRun:
    """Fetch every URL; iterate the result for one `FetchResult` per URL as each completes.

    `urls` may be any iterable (a generator over a huge file is read lazily). Settings come
    from `options` (a `FetchOptions`), with keyword arguments overriding its fields:
    `fetch_all(urls, workers=32, executor="process", timeout=5, max_bytes=1_000_000)`.
    Every URL yields exactly one record, duplicates included, once the run completes.
    """
    return FetchRun(_checked_urls(urls), _options(options, dict(changes)))


def afetch_all(
    urls: Iterable[str], options: FetchOptions | None = None, **changes: Unpack[OptionChanges]
) -> AsyncFetchRun:
    """`fetch_all` for code inside an event loop: `async for result in afetch_all(urls)`.

    The same options on every executor; the run is driven from a thread of its own, so
    the caller's loop never blocks. Leaving the loop (`break`), `await run.aclose()`, or
    cancelling the task that iterates stops the run as `FetchRun.close()` does.
    """
    from .arun import AsyncFetchRun

    return AsyncFetchRun(FetchRun(_checked_urls(urls), _options(options, dict(changes))))


def fetch_first(
    urls: Iterable[str],
    options: FetchOptions | None = None,
    *,
    on_failure: Callable[[FetchResult], None] | None = None,
    **changes: Unpack[OptionChanges],
) -> FetchResult | None:
    """Race the URLs; return the first page that downloads successfully, or None.

    A success has no error and a status below 400. Everything else still running is
    abandoned as soon as it arrives. Each failure that completes before the winner is
    passed to `on_failure`, so a caller that gets None can tell why.
    """
    with fetch_all(urls, options, **changes) as run:
        for result in run:
            if result.ok:
                return result
            if on_failure is not None:
                on_failure(result)
    return None
