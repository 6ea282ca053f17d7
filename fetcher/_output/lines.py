"""A record's line made in another process: a cluster's node makes the lines its client
writes, when the output format allows it (`RecordWriter.standalone`)."""

from __future__ import annotations

import io
from collections.abc import Callable

from .._core.result import FetchResult
from .formats import FORMATS, make_writer

__all__ = ["LineMaker"]


class LineMaker:
    """A record's bytes in a standalone format (`RecordWriter.standalone`), made wherever
    this travels: pickled, it is the format's name alone, and its writer is made where it
    is first called.

    A cluster's client writing JSONL hands one to its run (`FetchRun(lines=...)`): each
    node makes the lines of its records, and the client writes them as they come, rather
    than format every record itself (its CPU is what bounds how many nodes it drives).
    """

    def __init__(self, fmt: str) -> None:
        """`ValueError` unless `fmt` is a standalone format of `FORMATS`."""
        if fmt not in FORMATS or not FORMATS[fmt].writer.standalone:
            raise ValueError(f"the {fmt!r} format's lines cannot be made elsewhere")
        self.fmt = fmt
        self._render: Callable[[FetchResult], bytes] | None = None

    def __call__(self, result: FetchResult) -> bytes:
        """`result` as its format's bytes: what that format's writer writes."""
        if self._render is None:
            self._render = make_writer(self.fmt, io.BytesIO()).render
        return self._render(result)

    def __reduce__(self) -> tuple[type[LineMaker], tuple[str]]:
        return (LineMaker, (self.fmt,))
