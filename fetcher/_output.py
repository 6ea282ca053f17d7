"""Record writers for the three output formats, and the terminal-safety helpers they share.

Everything a fetched page controls (its title, the URL it redirected to, text inside error
messages) is hostile: printed raw it could clear the screen, retitle the terminal window,
plant clickable OSC-8 links, reorder text with bidi overrides, or smuggle a spreadsheet
formula into a CSV cell. Every writer therefore routes page-derived text through
`sanitize_text` (text, CSV) or `json_escape_unprintable` (JSONL) before it reaches a stream.

Writers write bytes to a binary stream and flush after every record, so that
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
import io
import json
import re
import unicodedata
from abc import ABC, abstractmethod
from typing import Any, BinaryIO, Final

from fetcher._result import FIELDS, FetchResult

__all__ = [
    "FORMATS",
    "CsvWriter",
    "JsonlWriter",
    "RecordWriter",
    "TextWriter",
    "csv_safe",
    "format_size",
    "format_text_line",
    "json_escape_unprintable",
    "make_writer",
    "sanitize_text",
]

#: Output format names accepted by `make_writer`, default first.
FORMATS: Final[tuple[str, ...]] = ("text", "jsonl", "csv")

#: Decimal places kept for float fields (elapsed seconds): 0.1 ms resolution.
_FLOAT_DECIMALS: Final = 4

# Whole terminal escape sequences, in the order a VT500-style parser recognises them.
# The payload is removed together with the introducer so that, e.g., an OSC-8 hyperlink
# leaves only its visible text and `ESC ]0;pwned BEL` leaves nothing. Matching does not
# need to be exact for safety: every non-printable character that survives (a stray ESC,
# an unterminated sequence's introducer, C1 controls) is dropped afterwards anyway.
_ESCAPE_SEQUENCE: Final = re.compile(
    r"""
      (?: \x1b\[ | \x9b )                     # CSI: ESC [ or 8-bit CSI,
      [\x20-\x3f]*                            #   parameter and intermediate bytes,
      [\x40-\x7e]?                            #   final byte (absent if cut short)
    | (?: \x1b[\]PX^_] | [\x90\x98\x9d\x9e\x9f] )  # OSC, DCS, SOS, PM, APC (7- or 8-bit),
      [^\x07\x1b\x9c]*                        #   payload up to a terminator or ESC,
      (?: \x07 | \x1b\\ | \x9c )?             #   BEL or ST; unterminated runs to the end
    | \x1b [\x20-\x2f]* [\x30-\x7e]?          # other ESC sequences: ESC c, ESC ( B, lone ESC
    """,
    re.VERBOSE,
)

#: Characters a formula-evaluating spreadsheet treats as the start of a formula.
_FORMULA_TRIGGERS: Final = ("=", "+", "-", "@", "\t", "\r")

#: Whitespace JSON allows between tokens; json.dumps never leaves these raw inside a
#: string, so a raw one in its output is structure (indent=...) and must stay raw.
_JSON_WHITESPACE: Final = frozenset("\t\n\r")


def sanitize_text(s: str) -> str:
    """Return `s` made safe to print on a terminal: escape sequences and controls removed.

    First whole escape sequences (CSI, OSC, DCS/SOS/PM/APC, two-character ESC sequences,
    7-bit and 8-bit forms) are removed including their payload, then every remaining
    character for which `str.isprintable()` is False: C0 and C1 controls, DEL, bidi
    overrides and other format characters, line and paragraph separators, surrogates and
    unassigned code points. Unicode space separators (category Zs, e.g. U+00A0 NO-BREAK
    SPACE, common in titles) become an ASCII space instead of vanishing, so words stay
    apart. Printable text, including CJK, emoji and accents, is returned untouched; the
    common all-printable case returns `s` itself without scanning twice.
    """
    if s.isprintable():
        return s
    stripped = _ESCAPE_SEQUENCE.sub("", s)
    return "".join(
        c if c.isprintable() else " " if unicodedata.category(c) == "Zs" else "" for c in stripped
    )


def _json_unicode_escape(c: str) -> str:
    """Return the JSON `\\uXXXX` escape of one character, as a surrogate pair above the BMP."""
    code = ord(c)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def json_escape_unprintable(s: str) -> str:
    """Escape the non-printable characters json.dumps(..., ensure_ascii=False) leaves raw.

    `s` must be JSON text as produced by `json.dumps` with `ensure_ascii=False`: it escapes
    C0 controls, quotes and backslashes but leaves DEL, C1 controls, bidi overrides, U+2028
    and other non-printable characters raw, where they could reach a terminal. Each of them
    becomes its `\\uXXXX` escape (a UTF-16 surrogate pair above the BMP), which is valid
    anywhere such a character can appear (inside strings), so `json.loads` still returns
    exactly the original value while the text itself is printable. Raw tab, CR and LF are
    kept: in json.dumps output they can only be inter-token whitespace from `indent`.
    """
    if s.isprintable():
        return s
    return "".join(
        c if c.isprintable() or c in _JSON_WHITESPACE else _json_unicode_escape(c) for c in s
    )


def csv_safe(s: str) -> str:
    """Return `s` sanitised for the terminal and neutralised against formula injection.

    After `sanitize_text`, a cell starting with `=`, `+`, `-`, `@`, tab or CR would be
    evaluated as a formula by spreadsheet programs (CSV injection), so it gets a leading
    `'`, which makes them treat the cell as text. Apply to every text column.
    """
    s = sanitize_text(s)
    if s.startswith(_FORMULA_TRIGGERS):
        return "'" + s
    return s


def format_size(n: int) -> str:
    """Return a byte count for people, in decimal (1000-based, SI) units: `0 B`, `12.3 KB`.

    Decimal units match what browsers and HTTP tools print for transfer sizes. Below
    100 units one decimal is shown, above that none, so the text is at most 7 characters
    wide (`99.9 KB`, `999 KB`, `1.0 MB`); a value that rounds up to 1000 moves to the next
    unit.
    """
    if n < 1000:
        return f"{n} B"
    value = float(n)
    units = ("KB", "MB", "GB", "TB", "PB", "EB")
    for unit in units:
        value /= 1000
        text = f"{value:.1f}" if value < 99.95 else f"{value:.0f}"
        if float(text) < 1000 or unit == units[-1]:
            break
    return f"{text} {unit}"


def format_text_line(result: FetchResult) -> str:
    """Return the one-line, human-readable, terminal-safe rendering of `result`.

    Columns, two spaces apart: status right-aligned in 3 characters (`ERR` when no response
    arrived); size right-aligned in 7 (see `format_size`; `-` when no response arrived);
    elapsed seconds such as ` 0.123s`; the URL, followed by `-> final_url` when redirects
    led elsewhere; then `[error message]` when `error` is set (a response can have both a
    status and an error, e.g. a body cut at the size cap: the error wins), else the title,
    else `-`; then `(N attempts)` when retries were made. Every page-derived field goes
    through `sanitize_text`. No trailing newline.
    """
    status = "ERR" if result.status is None else f"{result.status:>3}"
    size = "-" if result.status is None else format_size(result.bytes)
    url = sanitize_text(result.url)
    if result.final_url is not None and result.final_url != result.url:
        url = f"{url} -> {sanitize_text(result.final_url)}"
    if result.error is not None:
        tail = f"[{sanitize_text(result.error)}]"
    else:
        tail = sanitize_text(result.title or "") or "-"
    if result.attempts > 1:
        tail = f"{tail}  ({result.attempts} attempts)"
    return f"{status}  {size:>7}  {result.elapsed:6.3f}s  {url}  {tail}"


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

    `write` emits one record and flushes at once so downstream pipes see records live.
    `close` only flushes (and completes the format, e.g. a CSV header for an empty run):
    the stream belongs to the caller and stays open. `BrokenPipeError` propagates.
    """

    #: The encoding of the format's bytes (text: the one it is given).
    encoding = "utf-8"

    def __init__(self, stream: BinaryIO) -> None:
        """Bind the writer to `stream`, which the caller owns and closes."""
        self._stream = stream

    @abstractmethod
    def write(self, result: FetchResult) -> None:
        """Write one record and flush the stream."""

    def close(self) -> None:
        """Flush the stream without closing it; safe to call more than once."""
        self._stream.flush()

    def _emit(self, line: str) -> None:
        """Write one complete line (including its newline) and flush."""
        self._stream.write(line.encode(self.encoding, "replace"))
        self._stream.flush()


class TextWriter(RecordWriter):
    """Human-readable format: one `format_text_line` line per record, in `encoding`."""

    def __init__(self, stream: BinaryIO, encoding: str = "utf-8") -> None:
        super().__init__(stream)
        self.encoding = encoding

    def write(self, result: FetchResult) -> None:
        """Write `result` as one terminal-safe line and flush."""
        self._emit(format_text_line(result) + "\n")


class JsonlWriter(RecordWriter):
    """JSON Lines: one object per record, keys in `FIELDS` order, None as null, UTF-8.

    Non-ASCII text is kept as is (`ensure_ascii=False`, readable in a terminal and
    compact) and non-printable characters are escaped by `json_escape_unprintable`, so
    titles round-trip exactly through a JSON parser while the raw line stays safe to view.
    """

    def write(self, result: FetchResult) -> None:
        """Write `result` as one JSON object line and flush."""
        record = {name: _plain_value(getattr(result, name)) for name in FIELDS}
        text = json.dumps(record, ensure_ascii=False, default=str)
        self._emit(json_escape_unprintable(text) + "\n")


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

    def _write_row(self, cells: list[Any]) -> None:
        self._row.seek(0)
        self._row.truncate()
        self._csv.writerow(cells)
        self._stream.write(self._row.getvalue().encode(self.encoding, "replace"))

    def _write_header(self) -> None:
        """Write the header row once."""
        if not self._header_written:
            self._header_written = True
            self._write_row(list(FIELDS))

    def write(self, result: FetchResult) -> None:
        """Write the header if still due, then `result` as one row, and flush."""
        self._write_header()
        self._write_row([_csv_cell(getattr(result, name)) for name in FIELDS])
        self._stream.flush()

    def close(self) -> None:
        """Write the header if no record came (a valid empty CSV), then flush."""
        self._write_header()
        super().close()


_WRITERS: Final[dict[str, type[RecordWriter]]] = {
    "text": TextWriter,
    "jsonl": JsonlWriter,
    "csv": CsvWriter,
}


def make_writer(fmt: str, stream: BinaryIO, text_encoding: str = "utf-8") -> RecordWriter:
    """Return the writer for output format `fmt` (one of `FORMATS`) writing to `stream`.

    `text_encoding` applies to the text format only. Raises ValueError for an unknown
    format name.
    """
    try:
        cls = _WRITERS[fmt]
    except KeyError:
        raise ValueError(
            f"unknown output format {fmt!r}; expected one of {', '.join(FORMATS)}"
        ) from None
    if cls is TextWriter:
        return TextWriter(stream, text_encoding)
    return cls(stream)
