"""The output formats: one registry (`FORMATS`), one record writer per format.

Every writer routes page-derived text through `sanitize` before it reaches a stream.

Writers write bytes to a binary stream and flush after every record (or, when the
caller knows more follow at once, after the last of a burst), so that
`fetcher ... | jq` or `| head` see results live; they let `BrokenPipeError` propagate:
handling a closed pipe is the caller's business. JSONL and CSV are data: always UTF-8,
whatever the terminal's or locale's encoding, so a record's `url` always matches its
input line byte for byte. Text is for people: it is written in the encoding it is given
(the terminal's, for stdout; UTF-8 for a file), a character that encoding lacks shown as
`?`.

Columns are derived from `FIELDS` (the `FetchResult` field order), never hard-coded, so a
field appended to `FetchResult` appears in JSONL and CSV without touching this module. Only
the human-oriented text format picks its columns by hand.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, ClassVar, Final

from .._core.result import FIELDS, FetchResult
from .sanitize import csv_safe, json_escape_unprintable, sanitize_text

__all__ = [
    "FORMATS",
    "CsvWriter",
    "FormatSpec",
    "JsonlWriter",
    "RecordWriter",
    "TextWriter",
    "format_size",
    "format_text_line",
    "make_writer",
]

#: Decimal places kept for float fields (elapsed seconds): 0.1 ms resolution.
_FLOAT_DECIMALS: Final = 4
_FIXED: Final = f".{_FLOAT_DECIMALS}f"


def format_size(n: int) -> str:
    """Return a byte count for people, in binary (1024-based) units: `0 B`, `20.0 KiB`.

    One unit system everywhere people read sizes: text records, the summary and `--help`
    (where `--max-bytes 10M` means 10 MiB). Below 100 units one decimal is shown, above
    that none, so the text is at most 8 characters wide (`99.9 KiB`, `1023 KiB`,
    `1.0 MiB`); a value that rounds up to 1024 moves to the next unit.
    """
    if n < 1024:
        return f"{n} B"
    value = float(n)
    units = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    for unit in units:
        value /= 1024
        text = f"{value:.1f}" if value < 99.95 else f"{value:.0f}"
        if float(text) < 1024 or unit == units[-1]:
            break
    return f"{text} {unit}"


#: SGR colours of the text format, by status class (and for errors).
_COLOURS: Final = {2: "32", 3: "36", 4: "33", 5: "31"}  # green, cyan, yellow, red
_ERROR_COLOUR: Final = "31"


def _paint(text: str, colour: str | None) -> str:
    return f"\x1b[{colour}m{text}\x1b[0m" if colour else text


def format_text_line(result: FetchResult, color: bool = False) -> str:
    """Return the one-line, human-readable, terminal-safe rendering of `result`.

    Columns, two spaces apart: status right-aligned in 3 characters (`ERR` when no response
    arrived); size right-aligned in 8 (see `format_size`; `-` when no response arrived);
    elapsed seconds such as ` 0.123s`; the URL, followed by `-> final_url` when redirects
    led elsewhere; then `[error message]` when `error` is set (a response can have both a
    status and an error, e.g. a body cut at the size cap: the error wins), else
    `(redirects to LOCATION)` for a redirect not followed, else the title, else `-`; then
    `(N attempts)` when retries were made. Every page-derived field goes through
    `sanitize_text`. No trailing newline.

    With `color`, the status is coloured by its class (2xx green, 3xx cyan, 4xx yellow,
    5xx red) and `ERR` and the error message red; the colours are added after
    sanitising, so a page still cannot put a control sequence of its own on the line.
    """
    status = "ERR" if result.status is None else f"{result.status:>3}"
    size = "-" if result.status is None else format_size(result.bytes)
    error_colour = _ERROR_COLOUR if color else None
    if color:
        status = _paint(status, _COLOURS.get((result.status or 0) // 100, _ERROR_COLOUR))
    url = sanitize_text(result.url)
    if result.final_url is not None and result.final_url != result.url:
        url = f"{url} -> {sanitize_text(result.final_url)}"
    if result.error is not None:
        tail = _paint(f"[{sanitize_text(result.error)}]", error_colour)
    elif result.location is not None:  # a redirect not followed: where it leads
        tail = f"(redirects to {sanitize_text(result.location)})"
    else:
        tail = sanitize_text(result.title or "") or "-"
    if result.attempts > 1:
        tail = f"{tail}  ({result.attempts} attempts)"
    return f"{status}  {size:>8}  {result.elapsed:6.3f}s  {url}  {tail}"


def _plain_value(value: Any) -> Any:
    """Return a field value ready for JSON: floats rounded to `_FLOAT_DECIMALS` places."""
    if isinstance(value, float):
        return round(value, _FLOAT_DECIMALS)
    return value


def _csv_cell(value: Any) -> Any:
    """Return a field value ready for a CSV cell: None empty, text safe, floats rounded."""
    if value is None:
        return ""
    if isinstance(value, str):
        return csv_safe(value)
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return round(value, _FLOAT_DECIMALS)
    return csv_safe(str(value))


class RecordWriter(ABC):
    """Writes `FetchResult` records to a binary stream in one output format.

    `write` emits one record and flushes at once so downstream pipes see records live;
    `write_all` emits a burst of records (those ready at once) in one piece, as does a
    caller that says `write(..., flush=False)` while more follow: one system call (one
    hand-off of the GIL to another thread) instead of one a record, and the stream never
    holds part of a line. `close` only flushes (and completes the format, e.g. a CSV
    header for an empty run): the stream belongs to the caller and stays open.
    """

    #: The encoding of the format's bytes (text: the one it is given).
    encoding = "utf-8"
    #: A record's bytes are one line in UTF-8 that depends on the record alone (no header,
    #: no terminal's colours), so another process may make them (`LineMaker`): a cluster's
    #: nodes then do, and `write_all` takes them as `rendered`.
    standalone: ClassVar[bool] = False

    def __init__(self, stream: BinaryIO) -> None:
        """Bind the writer to `stream`, which the caller owns and closes."""
        self._stream = stream
        self._held: list[bytes] = []  # whole lines not yet written to the stream

    @abstractmethod
    def line(self, result: FetchResult) -> str:
        """`result` in this format: whole lines, each ending in a newline."""

    def render(self, result: FetchResult) -> bytes:
        """`result` as the bytes `write` writes."""
        return self.line(result).encode(self.encoding, "replace")

    def write(self, result: FetchResult, *, flush: bool = True) -> None:
        """Write one record, and flush unless `flush` is false (more follow at once: it
        waits in memory, as whole lines, for the next write or `flush()`)."""
        self._held.append(self.render(result))
        if flush:
            self.flush()

    def write_all(
        self, results: Sequence[FetchResult], rendered: Sequence[bytes | None] | None = None
    ) -> None:
        """Write a burst of records in one piece and flush; `rendered` holds each one's
        bytes, or None, when another process made them (`LineMaker`)."""
        if rendered is None:
            self._held += map(self.render, results)
        else:
            assert self.standalone or not any(rendered)
            made = zip(results, rendered, strict=True)
            self._held += [self.render(r) if b is None else b for r, b in made]
        self.flush()

    def flush(self) -> None:
        """Write the records held so far in one piece and flush the stream."""
        held = self._held
        if held:
            data = held[0] if len(held) == 1 else b"".join(held)
            held.clear()  # a failed write is not retried: the run ends on it
            self._stream.write(data)
        self._stream.flush()

    def close(self) -> None:
        """Flush the stream without closing it; safe to call more than once."""
        self.flush()


class TextWriter(RecordWriter):
    """Human-readable format: one `format_text_line` line per record, in `encoding`,
    coloured when `color` is set (the command line decides: `--color`)."""

    def __init__(self, stream: BinaryIO, encoding: str = "utf-8", color: bool = False) -> None:
        super().__init__(stream)
        self.encoding = encoding
        self._color = color

    def line(self, result: FetchResult) -> str:
        """`result` as one terminal-safe line."""
        return format_text_line(result, self._color) + "\n"


_JSON = json.JSONEncoder(ensure_ascii=False, default=str)  # one encoder, not one a record


class JsonlWriter(RecordWriter):
    """JSON Lines: one object per record, keys in `FIELDS` order, None as null, UTF-8.

    Non-ASCII text is kept as is (`ensure_ascii=False`, readable in a terminal and
    compact) and non-printable characters are escaped by `json_escape_unprintable`, so
    titles round-trip exactly through a JSON parser while the raw line stays safe to view.
    """

    standalone = True

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__(stream)
        self._text = _jsonl_maker(FIELDS)

    def line(self, result: FetchResult) -> str:
        """`result` as one JSON object line."""
        try:
            text = self._text(result)
        except TypeError:  # a field not of its declared type: the general way
            fields = (
                f"{_json_text(name)}: {_json_value(getattr(result, name))}" for name in FIELDS
            )
            text = "{" + ", ".join(fields) + "}"
        return json_escape_unprintable(text) + "\n"


_json_text = json.encoder.encode_basestring  # what the encoder does with ensure_ascii=False


def _json_value(value: Any) -> str:
    """One field's JSON, exactly as `_JSON` writes it (floats rounded as `_plain_value`)."""
    if value is None:
        return "null"
    kind = type(value)
    if kind is str:
        return _json_text(value)
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        return _float_json(value)
    return _JSON.encode(_plain_value(value))


def _float_json(value: float) -> str:
    """A float field's JSON, `repr(round(value, 4))`, in half the time for seconds.

    `round` with places goes through a decimal string and back; below 1e11 the shortest
    repr of the rounded float is that decimal string without its trailing zeros (at most
    15 significant digits), which `%.4f` gives directly with the same rounding.
    """
    if 0.0 <= value < 1e11:
        text = float.__format__(value, _FIXED).rstrip("0")  # TypeError if not a float
        return text + "0" if text.endswith(".") else text
    return float.__repr__(round(value, _FLOAT_DECIMALS))


#: How the line maker writes a field of each declared type (`%s`: the field's value);
#: `int.__repr__` would take a bool (an int) and write `1`, where JSON has `true`.
_FIELD_JSON = {
    str: "_text(%s)",
    int: "_int(%s) if %s.__class__ is not bool else _json_value(%s)",
    float: "_float(%s)",
}


@functools.lru_cache(maxsize=4)
def _jsonl_maker(names: tuple[str, ...]) -> Callable[[FetchResult], str]:
    """A function giving a record's JSON object, the text `json.dumps` of its dict gives
    (floats rounded as `_plain_value`; a NaN or infinite float, which no record holds,
    as its repr), without the dict, the encoder or a call a field.

    Formatting each record was a third of a cluster client's time with the GIL; one
    f-string made from the fields' declared types (`str`, `int`, `float`, each optional)
    writes a record in about a third of the time field-by-field formatting took. A field
    of another type (or unknown to `FetchResult`) is written by `_json_value`; a value not
    of its field's declared type raises `TypeError`, and the caller then writes the record
    field by field.
    """
    hints = typing.get_type_hints(FetchResult)
    lines = ["def line(result):"]
    pieces = []
    for number, name in enumerate(names):
        hint = hints.get(name)  # a name `FetchResult` lacks: written by `_json_value`
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        kinds = set(typing.get_args(hint)) if union else {hint}
        optional = type(None) in kinds
        kinds.discard(type(None))
        literal = all(typing.get_origin(kind) is typing.Literal for kind in kinds)
        kind: Any = str if literal else kinds.pop() if len(kinds) == 1 else None
        value = f"value{number}"
        write = _FIELD_JSON.get(kind, "_json_value(%s)").replace("%s", value)
        if optional and kind in _FIELD_JSON:
            write = f'"null" if {value} is None else {write}'
        lines.append(f"    {value} = result.{name}")
        pieces.append(f"{_json_text(name)}: {{{write}}}")
    lines.append(f"    return f'{{{{{', '.join(pieces)}}}}}'")  # f'{{"url": {...}, ...}}'
    scope = {
        "_text": _json_text, "_int": int.__repr__, "_float": _float_json,
        "_json_value": _json_value,
    }  # fmt: skip
    exec(compile("\n".join(lines), "<jsonl line>", "exec"), scope)  # source from field names alone
    return typing.cast(Callable[[FetchResult], str], scope["line"])


class CsvWriter(RecordWriter):
    """CSV in UTF-8 with a `FIELDS` header row, written before the first record or on close.

    None becomes an empty cell and every text cell goes through `csv_safe`, so the file
    is safe both to `cat` and to open in a spreadsheet. Rows end with a bare LF.
    """

    def __init__(self, stream: BinaryIO) -> None:
        """Bind the writer to `stream`; the header is written lazily."""
        super().__init__(stream)
        self._row = io.StringIO()
        self._csv = csv.writer(self._row, lineterminator="\n")
        self._header_written = False

    def _row_text(self, cells: list[Any]) -> str:
        self._row.seek(0)
        self._row.truncate()
        self._csv.writerow(cells)
        return self._row.getvalue()

    def _header(self) -> str:
        """The header row, the first time only."""
        if self._header_written:
            return ""
        self._header_written = True
        return self._row_text(list(FIELDS))

    def line(self, result: FetchResult) -> str:
        """The header if still due, then `result` as one row."""
        return self._header() + self._row_text([_csv_cell(getattr(result, n)) for n in FIELDS])

    def close(self) -> None:
        """Write the header if no record came (a valid empty CSV), then flush."""
        if header := self._header():
            self._held.append(header.encode(self.encoding))
        super().close()


@dataclass(frozen=True, slots=True)
class FormatSpec:
    """One output format, as the registry lists it."""

    name: str  #: the value of `--format`
    writer: type[RecordWriter]
    summary: str  #: one line for `--help` and the docs
    extensions: tuple[str, ...]  #: file name endings that choose it for `-o FILE`
    resumable: bool = False  #: `--resume` can read its records back


#: The output formats, default first: the one list the command line, the docs and the
#: tests derive their choices from.
FORMATS: Final[dict[str, FormatSpec]] = {
    spec.name: spec
    for spec in (
        FormatSpec("text", TextWriter, "aligned columns for people", ()),
        FormatSpec("jsonl", JsonlWriter, "one JSON object a line", (".jsonl", ".ndjson"), True),
        FormatSpec("csv", CsvWriter, "a header row, then one row a record", (".csv",)),
    )
}


def make_writer(
    fmt: str, stream: BinaryIO, text_encoding: str = "utf-8", *, color: bool = False
) -> RecordWriter:
    """Return the writer for output format `fmt` (a key of `FORMATS`) writing to `stream`.

    `text_encoding` and `color` apply to the text format only: data formats are never
    coloured. Raises ValueError for an unknown format name.
    """
    try:
        cls = FORMATS[fmt].writer
    except KeyError:
        raise ValueError(
            f"unknown output format {fmt!r}; expected one of {', '.join(FORMATS)}"
        ) from None
    if cls is TextWriter:
        return TextWriter(stream, text_encoding, color)
    return cls(stream)
