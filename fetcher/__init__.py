"""fetcher: fast, trustworthy concurrent web-page downloads on `concurrent.futures`.

    from fetcher import fetch_all, fetch_first

    for result in fetch_all(["https://example.com"], workers=8):
        print(result.status, result.title)

Importing fetcher loads neither the HTTP client nor the command-line stack: both are
imported when first needed.
"""

from __future__ import annotations

from ._options import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_REDIRECTS,
    DEFAULT_TIMEOUT,
    DEFAULT_WORKERS,
    FetchOptions,
)
from ._result import FIELDS, FetchResult
from ._runner import FetchRun, fetch_all, fetch_first
from ._urls import read_urls
from ._version import __version__

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_REDIRECTS",
    "DEFAULT_TIMEOUT",
    "DEFAULT_WORKERS",
    "FIELDS",
    "FetchOptions",
    "FetchResult",
    "FetchRun",
    "__version__",
    "fetch_all",
    "fetch_first",
    "read_urls",
]
