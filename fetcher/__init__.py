"""fetcher: fast, trustworthy concurrent web-page downloads on `concurrent.futures`.

    from fetcher import fetch_all, fetch_first

    for result in fetch_all(["https://example.com"], workers=8):
        print(result.status, result.title)

    async for result in afetch_all(urls):  # inside an event loop
        ...

This module is the whole public API; everything else is private (`fetcher._*`), or the
command line (`fetcher.cli`) and the tools behind `fetcher serve` and `fetcher bench`
(`fetcher.tools`). Importing fetcher loads neither the HTTP client nor the command-line
stack: both are imported when first needed.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ._core.errors import (
    KINDS as ERROR_KINDS,
)
from ._core.errors import (
    ExecutorError,
    FetcherError,
    InputError,
    OptionError,
    OutputError,
    ResumeError,
    SaveDirError,
)
from ._core.executors import EXECUTORS, ExecutorSpec
from ._core.options import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_REDIRECTS,
    DEFAULT_TIMEOUT,
    DEFAULT_WORKERS,
    FetchOptions,
    OptionChanges,
)
from ._core.result import FIELDS, FetchResult
from ._run.api import afetch_all, fetch_all, fetch_first
from ._run.runner import FetchRun
from ._run.urllist import read_urls
from ._version import __version__

if TYPE_CHECKING:
    from ._output.parts import PartsFolder
    from ._run.arun import AsyncFetchRun

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_REDIRECTS",
    "DEFAULT_TIMEOUT",
    "DEFAULT_WORKERS",
    "ERROR_KINDS",
    "EXECUTORS",
    "FIELDS",
    "AsyncFetchRun",
    "ExecutorError",
    "ExecutorSpec",
    "FetchOptions",
    "FetchResult",
    "FetchRun",
    "FetcherError",
    "InputError",
    "OptionChanges",
    "OptionError",
    "OutputError",
    "PartsFolder",
    "ResumeError",
    "SaveDirError",
    "__version__",
    "afetch_all",
    "fetch_all",
    "fetch_first",
    "open_parts",
    "read_urls",
]


def open_parts(folder: str | os.PathLike[str], format: str = "jsonl") -> PartsFolder:
    """The parts of a new cluster run in `folder`, for `fetch_all(urls, executor="dask",
    parts=...)`: each fetch node writes its records there in `format` (a name of the
    output-format registry), and this process lists each part sealed in
    `folder/manifest.jsonl`, which the parts returned hold locked until closed (use it
    as a context manager). The rules of the command line's `--parts DIR` hold: `folder`
    is new or empty (or its manifest lists no part), else `OutputError` and the folder
    is left as it was. The parts are one run's: open new ones for each run (a run given
    closed parts, or parts that had a run, ends with `OutputError` before it starts).
    Resuming into parts is the command line's (`--resume`): it reads the inputs again."""
    import warnings

    from ._output.formats import FORMATS
    from ._output.parts import open_parts as open_folder

    if format not in FORMATS:
        raise OptionError("format", f"{format!r} is not one of {', '.join(FORMATS)}")
    said: list[str] = []  # (a file system that cannot lock the manifest)
    parts, _ = open_folder(os.fspath(folder), format, resume=False, warn=said.append)
    for message in said:
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    return parts


def __getattr__(name: str) -> Any:
    """`AsyncFetchRun` and `PartsFolder` are imported when first used: asyncio and the
    output formats stay out of `import fetcher`."""
    if name == "AsyncFetchRun":
        from ._run.arun import AsyncFetchRun

        return AsyncFetchRun
    if name == "PartsFolder":
        from ._output.parts import PartsFolder

        return PartsFolder
    raise AttributeError(f"module 'fetcher' has no attribute {name!r}")
