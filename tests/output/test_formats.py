"""Tests for fetcher._output (formats, sanitize): terminal safety, formulas, the writers."""

from __future__ import annotations

import csv
import dataclasses
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fetcher import FIELDS, FetchResult
from fetcher._output import formats as _formats
from fetcher._output import formats as _output
from fetcher._output.formats import (
    FORMATS,
    CsvWriter,
    JsonlWriter,
    RecordWriter,
    TextWriter,
    _float_json,
    format_size,
    format_text_line,
    make_writer,
)
from fetcher._output.sanitize import csv_safe, json_escape_unprintable, sanitize_text

# --- fixtures


def make_result(**overrides: object) -> FetchResult:
    """Return a successful FetchResult with `overrides` applied."""
    values: dict[str, object] = {
        "url": "https://example.com/",
        "final_url": "https://example.com/",
        "status": 200,
        "title": "Example Domain",
        "bytes": 1256,
        "elapsed": 0.1234,
        "error": None,
    }
    values.update(overrides)
    return FetchResult(**values)  # type: ignore[arg-type]


OK = make_result()
NOT_FOUND = make_result(
    url="https://example.com/missing",
    final_url="https://example.com/missing",
    status=404,
    title=None,
    bytes=0,
    elapsed=0.05,
)
NO_RESPONSE = make_result(
    url="https://nope.invalid/",
    final_url=None,
    status=None,
    title=None,
    bytes=0,
    elapsed=1.5,
    error="ConnectError: name resolution failed",
    error_kind="dns",
)
CUT_AT_CAP = make_result(
    url="http://example.com/big",
    final_url="https://example.com/big",
    status=200,
    title="Big",
    bytes=5_000_000,
    elapsed=2.25,
    error="body exceeds 5.0 MB cap",
)

OSC8_LINK = "\x1b]8;;http://x\x1b\\text\x1b]8;;\x1b\\"

HOSTILE = [
    "\x1b[2JHello",
    "\x1b]0;pwned\x07Title",
    OSC8_LINK,
    "\x9b31mred\x9b0m",
    "abc\u202edcba",
    "line\u2028break",
    "nul\x00byte",
    "del\x7f",
    "bell\x07",
    "trailing\x1b",
    "tag\U000e0001char",
    "c1\x85nel\x9dosc",
]

UNICODE_TITLES = [
    "日本語のタイトル",
    "中文标题 — 한국어 제목",
    "Party 🎉🚀 time 🇫🇷",
    "Café crème, naïve résumé, Ærøskøbing",
    "e\u0301 combining accent",
    "Ελληνικά и русский",
]


class FlushRecordingStream(io.BytesIO):
    """A BytesIO that counts flushes and remembers the content at the last flush."""

    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0
        self.flushed_content = b""

    def flush(self) -> None:
        self.flushes += 1
        self.flushed_content = self.getvalue()
        super().flush()


class BrokenPipeOnWrite(io.BytesIO):
    """A stream whose reader went away: every write raises BrokenPipeError."""

    def write(self, s: object) -> int:
        raise BrokenPipeError(32, "Broken pipe")


class BrokenPipeOnFlush(io.BytesIO):
    """A buffered stream whose reader went away: the flush raises BrokenPipeError."""

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def write_all(fmt: str, results: list[FetchResult]) -> str:
    """Return everything a `fmt` writer emits for `results`, closed."""
    stream = io.BytesIO()
    writer = make_writer(fmt, stream)
    for result in results:
        writer.write(result)
    writer.close()
    return stream.getvalue().decode("utf-8")


def all_printable(text: str) -> bool:
    """True when every line of `text` is printable apart from its newline."""
    return all(c.isprintable() for line in text.splitlines() for c in line)


# --- sanitize_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("\x1b[2JHello", "Hello", id="csi-clear-screen"),
        pytest.param("\x1b[31mred\x1b[0m", "red", id="csi-sgr"),
        pytest.param("\x1b[?1049hx", "x", id="csi-private-mode"),
        pytest.param("x\x1b[12", "x", id="csi-cut-short"),
        pytest.param("\x9b31mred\x9b0m", "red", id="c1-csi"),
        pytest.param("\x1b]0;pwned\x07Title", "Title", id="osc-title-bel"),
        pytest.param("\x1b]0;pwned\x1b\\Title", "Title", id="osc-title-st"),
        pytest.param("\x9d0;pwned\x9cTitle", "Title", id="c1-osc-c1-st"),
        pytest.param(OSC8_LINK, "text", id="osc8-hyperlink"),
        pytest.param("before\x1b]0;never ends", "before", id="osc-unterminated"),
        pytest.param("\x1b]0;a\x1b[31mred", "red", id="osc-cut-by-esc"),
        pytest.param("\x1bPq#0;2;0;0;0\x1b\\after", "after", id="dcs-sixel"),
        pytest.param("\x90payload\x9cafter", "after", id="c1-dcs"),
        pytest.param("\x1bXsos\x1b\\x", "x", id="sos"),
        pytest.param("\x1b^pm\x1b\\x", "x", id="pm"),
        pytest.param("\x1b_apc\x1b\\x", "x", id="apc"),
        pytest.param("\x98sos\x9cx\x9epm\x9cy\x9fapc\x9cz", "xyz", id="c1-sos-pm-apc"),
        pytest.param("\x1bcreset", "reset", id="esc-ris"),
        pytest.param("\x1b(Bascii", "ascii", id="esc-charset"),
        pytest.param("\x1b7saved\x1b8", "saved", id="esc-save-restore"),
        pytest.param("trailing\x1b", "trailing", id="lone-esc-at-end"),
        pytest.param("\x1b\x1b[2Jx", "x", id="esc-esc"),
        pytest.param("abc\u202edcba", "abcdcba", id="bidi-rlo"),
        pytest.param("\u2066isolate\u2069", "isolate", id="bidi-isolate"),
        pytest.param("line\u2028break\u2029para", "linebreakpara", id="line-para-sep"),
        pytest.param("nul\x00byte", "nulbyte", id="nul"),
        pytest.param("del\x7f", "del", id="del"),
        pytest.param("bell\x07", "bell", id="bel"),
        pytest.param("back\x08space", "backspace", id="backspace"),
        pytest.param("a\tb\nc\rd", "abcd", id="c0-whitespace"),
        pytest.param("c1\x85nel", "c1nel", id="c1-nel"),
        pytest.param("zero\u200bwidth\ufeff", "zerowidth", id="zero-width"),
        pytest.param("tag\U000e0001char", "tagchar", id="non-bmp-format"),
        pytest.param("lone\ud800surrogate", "lonesurrogate", id="lone-surrogate"),
        pytest.param("non\u00a0breaking\u3000space", "non breaking space", id="zs-to-space"),
        pytest.param("", "", id="empty"),
    ],
)
def test_sanitize_text_removes_sequences_and_controls(raw: str, expected: str) -> None:
    assert sanitize_text(raw) == expected


@pytest.mark.parametrize("raw", HOSTILE)
def test_sanitize_text_output_is_printable(raw: str) -> None:
    assert sanitize_text(raw).isprintable()


@pytest.mark.parametrize("text", [*UNICODE_TITLES, "plain ascii with  spaces", "a|b;c,d"])
def test_sanitize_text_keeps_printable_text_identical(text: str) -> None:
    assert sanitize_text(text) is text


# --- json_escape_unprintable


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        pytest.param("\x7f", "\\u007f", id="del"),
        pytest.param("\x9b", "\\u009b", id="c1"),
        pytest.param("\u202e", "\\u202e", id="bidi"),
        pytest.param("\u2028", "\\u2028", id="line-sep"),
        pytest.param("\U000e0001", "\\udb40\\udc01", id="non-bmp-surrogate-pair"),
        pytest.param("\ud800", "\\ud800", id="lone-surrogate"),
    ],
)
def test_json_escape_unprintable_escapes(raw: str, escaped: str) -> None:
    text = json.dumps(raw, ensure_ascii=False)
    assert json_escape_unprintable(text) == f'"{escaped}"'


@pytest.mark.parametrize("value", [*HOSTILE, *UNICODE_TITLES, '\x00\x1f"\\'])
def test_json_escape_unprintable_round_trips(value: str) -> None:
    text = json_escape_unprintable(json.dumps({"v": value}, ensure_ascii=False))
    assert text.isprintable()
    assert json.loads(text) == {"v": value}


def test_json_escape_unprintable_keeps_indent_whitespace_valid() -> None:
    text = json.dumps({"a": "x\u2028y", "b": [1]}, ensure_ascii=False, indent="\t")
    escaped = json_escape_unprintable(text)
    assert "\u2028" not in escaped
    assert json.loads(escaped) == {"a": "x\u2028y", "b": [1]}


def test_json_escape_unprintable_fast_path() -> None:
    text = json.dumps({"t": "日本語 🎉"}, ensure_ascii=False)
    assert json_escape_unprintable(text) is text


# --- csv_safe


@pytest.mark.parametrize("trigger", ["=", "+", "-", "@"])
def test_csv_safe_neutralises_formula(trigger: str) -> None:
    value = f'{trigger}HYPERLINK("http://evil","x")'
    assert csv_safe(value) == "'" + value


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("\t=1+1", "'=1+1", id="tab-then-formula"),
        pytest.param("\r@SUM(A1)", "'@SUM(A1)", id="cr-then-formula"),
        pytest.param("\x1b[31m=1+1", "'=1+1", id="escape-then-formula"),
        pytest.param("\tplain", "plain", id="tab-removed"),
        pytest.param("a=b", "a=b", id="trigger-not-first"),
        pytest.param("", "", id="empty"),
    ],
)
def test_csv_safe_sanitizes_before_checking(raw: str, expected: str) -> None:
    assert csv_safe(raw) == expected


# --- format_size


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1280, "1.2 KiB"),  # 1.25: rounded half to even
        (20_480, "20.0 KiB"),
        (102_348, "99.9 KiB"),
        (102_349, "100 KiB"),
        (1_048_063, "1023 KiB"),
        (1_048_064, "1.0 MiB"),  # 1023.5 KiB rounds to 1024: the next unit
        (1_234_567, "1.2 MiB"),
        (5 * 2**30, "5.0 GiB"),
    ],
)
def test_format_size_is_binary_and_at_most_eight_wide(n: int, expected: str) -> None:
    assert format_size(n) == expected
    assert len(format_size(n)) <= 8


# --- text format


@pytest.mark.parametrize(
    ("result", "line"),
    [
        pytest.param(OK, "200   1.2 KiB   0.123s  https://example.com/  Example Domain", id="ok"),
        pytest.param(NOT_FOUND, "404       0 B   0.050s  https://example.com/missing  -", id="404"),
        pytest.param(
            NO_RESPONSE,
            "ERR         -   1.500s  https://nope.invalid/  [ConnectError: name resolution failed]",
            id="error-no-response",
        ),
        pytest.param(
            CUT_AT_CAP,
            "200   4.8 MiB   2.250s  http://example.com/big -> https://example.com/big"
            "  [body exceeds 5.0 MB cap]",
            id="error-with-response",
        ),
        pytest.param(
            make_result(status=301, title="", bytes=12_345, elapsed=12.3456),
            "301  12.1 KiB  12.346s  https://example.com/  -",
            id="empty-title",
        ),
    ],
)
def test_format_text_line_layout(result: FetchResult, line: str) -> None:
    assert format_text_line(result) == line


def test_text_writer_writes_one_line_per_record() -> None:
    out = write_all("text", [OK, NOT_FOUND, NO_RESPONSE])
    assert out.splitlines() == [format_text_line(r) for r in (OK, NOT_FOUND, NO_RESPONSE)]
    assert out.endswith("\n")


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize("field", ["url", "final_url", "title", "error"])
def test_text_line_sanitises_every_page_field(field: str, hostile: str) -> None:
    line = format_text_line(make_result(**{field: hostile}))
    assert line.isprintable()
    assert sanitize_text(hostile) in line


@pytest.mark.parametrize("title", UNICODE_TITLES)
def test_text_line_keeps_unicode_title(title: str) -> None:
    assert format_text_line(make_result(title=title)).endswith("  " + title)


def test_text_line_osc8_shows_link_text_only() -> None:
    assert format_text_line(make_result(title=OSC8_LINK)).endswith("  text")


# --- jsonl format


def test_jsonl_key_order_and_nulls() -> None:
    lines = write_all("jsonl", [OK, NO_RESPONSE]).splitlines()
    assert len(lines) == 2
    for line in lines:
        assert list(json.loads(line)) == list(FIELDS)
    record = json.loads(lines[1])
    assert record["final_url"] is None
    assert record["status"] is None
    assert record["title"] is None
    assert '"final_url": null' in lines[1]
    assert record["error"] == "ConnectError: name resolution failed"


def test_jsonl_values() -> None:
    (line,) = write_all("jsonl", [make_result(elapsed=0.123456789)]).splitlines()
    assert json.loads(line) == {
        "url": "https://example.com/",
        "final_url": "https://example.com/",
        "status": 200,
        "title": "Example Domain",
        "bytes": 1256,
        "elapsed": 0.1235,
        "error": None,
        "attempts": 1,
        "path": None,
        "error_kind": None,
        "location": None,
        "index": None,
    }


@pytest.mark.parametrize("title", [*HOSTILE, *UNICODE_TITLES])
def test_jsonl_round_trips_title_exactly_and_raw_line_is_printable(title: str) -> None:
    out = write_all("jsonl", [make_result(title=title, error=title, url=title)])
    (line,) = out.splitlines(keepends=True)
    assert line.endswith("\n")
    assert all(c.isprintable() for c in line.rstrip("\n"))
    record = json.loads(line)
    assert record["title"] == title
    assert record["error"] == title
    assert record["url"] == title


@pytest.mark.parametrize("title", UNICODE_TITLES)
def test_jsonl_keeps_unicode_unescaped(title: str) -> None:
    assert title in write_all("jsonl", [make_result(title=title)])


# --- csv format


def parse_csv(text: str) -> list[list[str]]:
    """Parse CSV text the way a consumer would."""
    return list(csv.reader(io.StringIO(text, newline="")))


def test_csv_header_and_rows() -> None:
    out = write_all("csv", [OK, NO_RESPONSE])
    rows = parse_csv(out)
    assert rows[0] == list(FIELDS)
    assert rows[1] == [
        "https://example.com/",
        "https://example.com/",
        "200",
        "Example Domain",
        "1256",
        "0.1234",
        "",
        "1",
        "",
        "",
        "",
        "",
    ]
    assert rows[2] == [
        "https://nope.invalid/",
        "",
        "",
        "",
        "0",
        "1.5",
        "ConnectError: name resolution failed",
        "1",
        "",
        "dns",
        "",
        "",
    ]
    assert len(rows) == 3
    assert "\r" not in out


def test_csv_header_written_once() -> None:
    rows = parse_csv(write_all("csv", [OK, OK]))
    assert [row for row in rows if row == list(FIELDS)] == [list(FIELDS)]
    assert len(rows) == 3


def test_csv_header_written_on_close_without_records() -> None:
    stream = io.BytesIO()
    writer = make_writer("csv", stream)
    assert stream.getvalue() == b""
    writer.close()
    writer.close()
    assert stream.getvalue() == (",".join(FIELDS) + "\n").encode()


@pytest.mark.parametrize("trigger", ["=", "+", "-", "@", "\t=", "\r="])
@pytest.mark.parametrize("field", ["url", "final_url", "title", "error"])
def test_csv_neutralises_formulas_in_text_columns(field: str, trigger: str) -> None:
    value = trigger + "cmd|' /C calc'!A0"
    rows = parse_csv(write_all("csv", [make_result(**{field: value})]))
    cell = rows[1][FIELDS.index(field)]
    assert cell.startswith("'")
    assert cell == "'" + sanitize_text(value)


def test_csv_negative_number_not_prefixed() -> None:
    rows = parse_csv(write_all("csv", [make_result(bytes=-1)]))
    assert rows[1][FIELDS.index("bytes")] == "-1"


@pytest.mark.parametrize("hostile", HOSTILE)
def test_csv_cells_are_sanitised(hostile: str) -> None:
    out = write_all("csv", [make_result(title=hostile, error=hostile)])
    assert all_printable(out)
    row = parse_csv(out)[1]
    assert row[FIELDS.index("title")] == csv_safe(hostile)


@pytest.mark.parametrize("title", [*UNICODE_TITLES, 'quote " and, comma'])
def test_csv_keeps_unicode_and_quoting(title: str) -> None:
    rows = parse_csv(write_all("csv", [make_result(title=title)]))
    assert rows[1][FIELDS.index("title")] == title


# --- all writers


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_record_is_flushed_immediately(fmt: str) -> None:
    stream = FlushRecordingStream()
    writer = make_writer(fmt, stream)
    for i, result in enumerate([OK, NOT_FOUND, NO_RESPONSE, CUT_AT_CAP], start=1):
        writer.write(result)
        assert stream.flushes >= i
        assert stream.flushed_content == stream.getvalue()
        assert stream.getvalue().endswith(b"\n")
    writer.close()
    assert stream.flushed_content == stream.getvalue()
    assert not stream.closed


class WriteCountingStream(io.BytesIO):
    """A BytesIO that keeps each `write` call's bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[bytes] = []

    def write(self, data: object) -> int:
        self.calls.append(bytes(data))  # type: ignore[call-overload]
        return super().write(data)  # type: ignore[call-overload]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_burst_is_held_whole_then_written_in_one_call(fmt: str) -> None:
    records = [OK, NOT_FOUND, NO_RESPONSE, CUT_AT_CAP]
    one_by_one = write_all(fmt, records).encode()
    stream = WriteCountingStream()
    writer = make_writer(fmt, stream)
    for result in records:
        writer.write(result, flush=False)
    assert stream.calls == []  # nothing reaches the stream, not even part of a line
    writer.flush()
    assert stream.calls == [one_by_one]
    writer.write_all(records)  # a burst: in one call too (a CSV's header not again)
    assert len(stream.calls) == 2 and one_by_one.endswith(stream.calls[1])
    del stream.calls[1:]
    writer.write(OK)  # a record written alone goes at once, as before
    assert len(stream.calls) == 2 and stream.calls[1].endswith(b"\n")


def test_an_empty_csv_held_header_is_written_on_close() -> None:
    stream = WriteCountingStream()
    writer = make_writer("csv", stream)
    writer.close()
    assert parse_csv(stream.getvalue().decode()) == [list(FIELDS)]


@pytest.mark.parametrize("stream_type", [BrokenPipeOnWrite, BrokenPipeOnFlush])
@pytest.mark.parametrize("fmt", FORMATS)
def test_broken_pipe_propagates(fmt: str, stream_type: type[io.BytesIO]) -> None:
    writer = make_writer(fmt, stream_type())
    with pytest.raises(BrokenPipeError):
        writer.write(OK)


@pytest.mark.parametrize(
    ("fmt", "cls"), [("text", TextWriter), ("jsonl", JsonlWriter), ("csv", CsvWriter)]
)
def test_make_writer_returns_format_writer(fmt: str, cls: type[RecordWriter]) -> None:
    writer = make_writer(fmt, io.BytesIO())
    assert isinstance(writer, cls)
    assert isinstance(writer, RecordWriter)


def test_formats() -> None:
    assert tuple(FORMATS) == ("text", "jsonl", "csv")


@pytest.mark.parametrize("fmt", ["", "json", "TEXT", "xml", "csv "])
def test_make_writer_rejects_unknown_format(fmt: str) -> None:
    with pytest.raises(ValueError, match="unknown output format"):
        make_writer(fmt, io.BytesIO())


@pytest.mark.parametrize("fmt", FORMATS)
def test_close_on_empty_run_leaves_stream_open(fmt: str) -> None:
    stream = io.BytesIO()
    make_writer(fmt, stream).close()
    assert not stream.closed
    assert stream.getvalue() == ("" if fmt != "csv" else ",".join(FIELDS) + "\n").encode()


@dataclasses.dataclass(frozen=True, slots=True)
class _ExtendedResult(FetchResult):
    """A FetchResult as a later version might define it, with an appended field."""

    redirects: str | None = None


def test_machine_formats_follow_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    extended_fields = tuple(
        f.name for f in dataclasses.fields(_ExtendedResult) if f.metadata.get("record", True)
    )
    monkeypatch.setattr(_output, "FIELDS", extended_fields)
    result = _ExtendedResult(**dataclasses.asdict(OK), redirects="=2")

    (line,) = write_all("jsonl", [result]).splitlines()
    assert list(json.loads(line)) == [*FIELDS, "redirects"]
    assert json.loads(line)["redirects"] == "=2"

    rows = parse_csv(write_all("csv", [result]))
    assert rows[0] == [*FIELDS, "redirects"]
    assert rows[1][-1] == "'=2"


@pytest.mark.parametrize("encoding", ["ascii", "latin-1", "cp1252"])
def test_data_formats_are_utf8_whatever_the_terminal_and_text_follows_it(encoding: str) -> None:
    result = make_result(url="https://ü.example/日本", title="Ærø ☕")
    for fmt in ("jsonl", "csv"):
        stream = io.BytesIO()
        make_writer(fmt, stream, text_encoding=encoding).write(result)
        assert "https://ü.example/日本" in stream.getvalue().decode("utf-8")
    stream = io.BytesIO()
    make_writer("text", stream, text_encoding=encoding).write(result)
    line = stream.getvalue().decode(encoding)
    assert "https://" in line and "?" in line  # what the encoding lacks is shown as ?


_TEXT = st.one_of(st.none(), st.text(max_size=20))


@settings(max_examples=100, derandomize=True)
@given(
    st.text(max_size=30), _TEXT, st.one_of(st.none(), st.integers(0, 999)), _TEXT,
    st.integers(0, 2**63), st.floats(0, 1e9), _TEXT, st.one_of(st.none(), st.integers(1, 10**12)),
)  # fmt: skip
def test_a_jsonl_line_is_what_json_dumps_gives(
    url: str, final: str | None, status: int | None, title: str | None, size: int,
    elapsed: float, error: str | None, index: int | None,
) -> None:  # fmt: skip
    result = FetchResult(url, final, status, title, size, elapsed, error, 2, final, None, title)
    result = dataclasses.replace(result, index=index)
    record = {name: getattr(result, name) for name in FIELDS}
    record["elapsed"] = round(elapsed, 4)
    expected = json_escape_unprintable(json.dumps(record, ensure_ascii=False)) + "\n"
    assert write_all("jsonl", [result]) == expected.encode("utf-8", "replace").decode()


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "200"},
        {"status": True},
        {"index": False},
        {"elapsed": 3},
        {"bytes": 2.5},
        {"title": 7},
        {"error_kind": "timeout"},
    ],
)
def test_a_jsonl_line_is_what_json_dumps_gives_whatever_a_field_holds(
    changes: dict[str, object],
) -> None:
    """A value not of its field's declared type (an API user's own record) is written
    as `json.dumps` would write it, not refused or mangled."""
    result = dataclasses.replace(make_result(title="T", index=4), **changes)  # type: ignore[arg-type]
    record = {name: getattr(result, name) for name in FIELDS}
    record["elapsed"] = round(record["elapsed"], 4)
    expected = json_escape_unprintable(json.dumps(record, ensure_ascii=False)) + "\n"
    assert write_all("jsonl", [result]) == expected


@settings(max_examples=300, derandomize=True)
@given(st.floats(allow_nan=False, allow_infinity=False) | st.floats(0, 1e12))
def test_a_float_field_is_written_as_its_rounded_repr(value: float) -> None:
    """Differential: the fast way to write seconds gives `repr(round(value, 4))`."""
    assert _float_json(value) == repr(round(value, 4))


def test_a_record_of_declared_types_takes_the_fast_way() -> None:
    """The made function writes such a record itself (a fault in it would otherwise pass
    unseen, every record taking the field-by-field way)."""
    record = make_result(title="T ·", error="e", error_kind="timeout", location="/x", index=9)
    text = _formats._jsonl_maker(FIELDS)(record)
    assert json.loads(text)["index"] == 9 and json.loads(text)["title"] == "T ·"
