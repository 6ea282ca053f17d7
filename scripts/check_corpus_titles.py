"""Check `fetcher._http.title.extract_title` against a spec-compliant HTML parser on real pages.

Usage: python scripts/check_corpus_titles.py [DIR]

DIR (default: ../shared/corpus/readability-pages beside the repository) holds real pages
``NAME.html``, served without a Content-Type; each is treated as ``text/html`` with no
charset. The oracle is html5lib, which implements the HTML standard's tokenizer and tree
builder: its first ``<title>`` in the HTML namespace (not inside SVG/MathML, not inside
``<template>`` contents), parsed with scripting enabled, as a browser does.

html5lib is given the bytes and sniffs the encoding itself (byte order mark, ``<meta>``
prescan, and a change of encoding when a later ``<meta>`` is met), independently of
`fetcher`. Only the last-resort default is shared: the HTML standard leaves it to the
implementation, and `fetcher` picks UTF-8 for bytes that are valid UTF-8, windows-1252
otherwise, so the oracle gets the same default. One correction brings html5lib's decoders
up to date: its label table (webencodings, 2012) decodes GBK with Python's ``gbk`` codec,
which rejects the user-defined byte pairs (0xAAA1-0xAFFE...) that the Encoding standard's
GBK decoder, the GB18030 decoder, maps to private-use characters; the oracle uses the
GB18030 decoder for GBK, as browsers and `fetcher` do. Its title text is normalised as
`fetcher` does (every run of Unicode whitespace collapsed, ends stripped, cut to
TITLE_MAX_CHARS).

This is a developer's check, not part of the test suite: it needs html5lib, which is not a
dependency of the package (``pip install html5lib``). Prints mismatches, a summary line
``N/M titles agree`` and timings of extract_title; exits 1 on any mismatch.
"""

from __future__ import annotations

import statistics
import sys
import timeit
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fetcher._http.title import TITLE_MAX_CHARS, extract_title  # noqa: E402

DEFAULT_DIR = REPO.parent / "shared" / "corpus" / "readability-pages"
XHTML = "{http://www.w3.org/1999/xhtml}"
CONTENT_TYPE = "text/html"


def default_encoding(body: bytes) -> str:
    """Return fetcher's last-resort encoding: UTF-8 when the bytes are valid UTF-8."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return "utf-8" if exc.reason == "unexpected end of data" else "windows-1252"
    return "utf-8"


def first_html_title(element: Any) -> Any | None:
    """Return the first HTML ``title`` element in document order, skipping template contents.

    html5lib's etree builder keeps ``<template>`` contents as ordinary children, while in a
    browser they live in a separate fragment that ``document.title`` does not see.
    """
    for child in element:
        if not isinstance(child.tag, str):  # comments and processing instructions
            continue
        if child.tag == XHTML + "title":
            return child
        if child.tag == XHTML + "template":
            continue
        found = first_html_title(child)
        if found is not None:
            return found
    return None


def oracle_title(body: bytes) -> str | None:
    """Return the title html5lib finds, normalised as fetcher normalises its own."""
    import html5lib  # type: ignore[import-untyped]
    import webencodings  # type: ignore[import-untyped]

    webencodings.PYTHON_NAMES["gbk"] = "gb18030"  # Encoding standard: GBK decodes as GB18030
    webencodings.CACHE.pop("gbk", None)

    document = html5lib.parse(
        body,
        treebuilder="etree",
        namespaceHTMLElements=True,
        scripting=True,
        default_encoding=default_encoding(body),
        useChardet=False,
    )
    title = first_html_title(document)
    if title is None:
        return None
    text = "".join(title.itertext())
    return " ".join(text.split())[:TITLE_MAX_CHARS].rstrip() or None


def time_per_call(body: bytes) -> float:
    """Return the best-of-5 time of one extract_title call on `body`, in seconds."""
    timer = timeit.Timer(lambda: extract_title(body, CONTENT_TYPE))
    number, _ = timer.autorange()
    number = max(1, number // 4)
    return min(timer.repeat(repeat=5, number=number)) / number


def main(argv: list[str]) -> int:
    """Compare every page in the corpus folder; return the exit status."""
    folder = Path(argv[1]) if len(argv) > 1 else DEFAULT_DIR
    pages = sorted(folder.glob("*.html"))
    if not pages:
        print(f"no *.html pages in {folder}", file=sys.stderr)
        return 2
    agree = 0
    times: list[tuple[float, str, int]] = []
    for page in pages:
        body = page.read_bytes()
        got = extract_title(body, CONTENT_TYPE)
        want = oracle_title(body)
        if got == want:
            agree += 1
        else:
            print(f"MISMATCH {page.name}\n  fetcher: {got!r}\n  html5lib: {want!r}")
        times.append((time_per_call(body), page.name, len(body)))
    seconds = sorted(t for t, _, _ in times)
    p95 = seconds[min(len(seconds) - 1, round(0.95 * (len(seconds) - 1)))]
    slowest = max(times)
    print(f"{agree}/{len(pages)} titles agree")
    print(
        f"extract_title per page: median {statistics.median(seconds) * 1e3:.3f} ms, "
        f"p95 {p95 * 1e3:.3f} ms, max {slowest[0] * 1e3:.3f} ms ({slowest[1]}, "
        f"{slowest[2]:,} bytes)"
    )
    return 0 if agree == len(pages) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
