"""The functions of the Python API that run a list: `fetch_all` and `fetch_first`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from .._core.options import FetchOptions
from .._core.result import FetchResult
from .runner import FetchRun

__all__ = ["fetch_all", "fetch_first"]


def _options(options: FetchOptions | None, changes: dict[str, Any]) -> FetchOptions:
    base = options or FetchOptions()
    try:
        return replace(base, **changes) if changes else base
    except TypeError as exc:
        raise TypeError(f"unknown fetch option: {exc}") from None


def fetch_all(urls: Iterable[str], options: FetchOptions | None = None, **changes: Any) -> FetchRun:
    """Fetch every URL; iterate the result for one `FetchResult` per URL as each completes.

    `urls` may be any iterable (a generator over a huge file is read lazily). Settings come
    from `options` (a `FetchOptions`), with keyword arguments overriding its fields:
    `fetch_all(urls, workers=32, executor="process", timeout=5, max_bytes=1_000_000)`.
    Every URL yields exactly one record, duplicates included, once the run completes.
    """
    if isinstance(urls, str | bytes):
        raise TypeError("urls must be an iterable of URL strings, not a single string")
    return FetchRun(urls, _options(options, changes))


def fetch_first(
    urls: Iterable[str],
    options: FetchOptions | None = None,
    *,
    on_failure: Callable[[FetchResult], None] | None = None,
    **changes: Any,
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
