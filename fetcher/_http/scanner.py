"""Find a page's first title the way a browser's parser does, without building a tree.

Every worker thread runs this on every page it downloads, so it is written for speed:
instead of a full HTML parse (tens of milliseconds and the GIL held throughout), the
scanner jumps with compiled regular expressions from one ``<`` token to the next, skips
what a browser does not treat as markup (comments, script and style text, attribute
values, SVG and MathML subtrees, template contents) and stops at the first real
``<title>``. On a typical page that is a few hundred bytes into the document.
"""

from __future__ import annotations

import re

from .markup import (
    ANNOTATION,
    ASCII_LOWER,
    ATTRIBUTE,
    BREAKOUT,
    CDATA_END,
    COMMENT_END,
    FONT_BREAKOUT,
    HTML_POINT,
    MARKUP,
    MATHML,
    PLAIN,
    SCRIPT_DATA,
    SCRIPT_DOUBLE_ESCAPED,
    SCRIPT_ESCAPED,
    SVG,
    TAG_REST,
    TEXT_ELEMENT_END,
    TEXT_POINT,
    TITLE_END,
    TITLE_RAW_MAX_CHARS,
    unescape,
)

__all__ = ["find_title_text"]


def _lower(name: str) -> str:
    """Lowercase a tag name as the tokenizer does: ASCII letters only."""
    return name.lower() if name.isascii() else name.translate(ASCII_LOWER)


def _skip_script(text: str, pos: int) -> int | None:
    """Return where the ``</script`` that ends the script starting at `pos` is, or None.

    Follows the tokenizer's script data states: inside ``<!--``, a ``<script`` starts a
    "double escaped" part in which ``</script>`` does not end the script, so that
    ``<!-- document.write("<script></script>") -->`` stays script text.
    """
    pattern = SCRIPT_DATA
    while True:
        match = pattern.search(text, pos)
        if match is None:
            return None
        token = match.group()
        if pattern is SCRIPT_DATA:
            if token[1] == "/":
                return match.start()
            # Escaped: resume at the "--" of "<!--", so that "<!-->" closes it at once.
            pattern, pos = SCRIPT_ESCAPED, match.start() + 2
        elif token[0] == "-":
            pattern, pos = SCRIPT_DATA, match.end()
        elif pattern is SCRIPT_ESCAPED:
            if token[1] == "/":
                return match.start()
            pattern, pos = SCRIPT_DOUBLE_ESCAPED, match.end()
        else:
            pattern, pos = SCRIPT_ESCAPED, match.end()


def _attributes(attrs: str) -> dict[str, str]:
    """Parse the attributes part of a tag into lowercase names and raw values (first wins).

    Only used for the few tags whose attributes matter (``<font>`` inside SVG, MathML
    ``<annotation-xml>``); character references in values are left as they are.
    """
    parsed: dict[str, str] = {}
    for match in ATTRIBUTE.finditer(attrs):
        value = match.group(2) or ""
        if value[:1] in ("'", '"'):
            value = value[1:-1] if len(value) > 1 and value[-1] == value[0] else value[1:]
        parsed.setdefault(_lower(match.group(1)), value)
    return parsed


def _foreign_kind(namespace: int, name: str, attrs: str) -> int:
    """Classify a new SVG/MathML element by how start tags inside it are treated."""
    if namespace == SVG:
        return HTML_POINT if name in ("foreignobject", "desc", "title") else PLAIN
    if name in ("mi", "mo", "mn", "ms", "mtext"):
        return TEXT_POINT
    if name == "annotation-xml":
        encoding = _attributes(attrs).get("encoding", "").translate(ASCII_LOWER)
        return HTML_POINT if encoding in ("text/html", "application/xhtml+xml") else ANNOTATION
    return PLAIN


#: Tokens scanned before giving up on a title. Real pages reach their title in far fewer
#: (a 1 MB page has some 20,000 tags); this bounds the time a hostile page can hold the GIL.
_MAX_TOKENS = 100_000
#: Nested SVG/MathML elements tracked; deeper nesting only happens in hostile markup.
_MAX_FOREIGN_DEPTH = 64


#: Start tags after which a ``<frameset>`` no longer replaces the body (they set the tree
#: builder's frameset-ok flag to "not ok"; ``input`` does unless its type is hidden).
_FRAMESET_NOT_OK = frozenset(
    {
        "applet", "area", "body", "br", "button", "dd", "dt", "embed", "hr", "iframe",
        "image", "img", "input", "keygen", "li", "listing", "marquee", "object", "pre",
        "select", "table", "textarea", "wbr", "xmp",
    }
)  # fmt: skip
_ASCII_WHITESPACE = " \t\n\f\r"


class _Done(Exception):
    """The scan is over: `raw` is the title's raw text, or None for "no title"."""

    def __init__(self, raw: str | None) -> None:
        self.raw = raw


class _Scanner:
    """One pass over a page's text, markup token by markup token, up to its first title.

    It tracks only what decides where a title can be: open SVG/MathML elements (innermost
    last: namespace, lowercase name, how start tags inside are treated), open HTML
    ``<template>``s (their contents are not in the document), and the tree builder's
    frameset-ok flag (a ``<frameset>`` that replaces the body ends any hope of a title).
    """

    def __init__(self, text: str, complete: bool) -> None:
        self.text = text
        self.complete = complete
        self.foreign: list[tuple[int, str, int]] = []
        self.template_depth = 0
        self.frameset_ok = True
        self.pos = 0

    def title(self) -> str | None:
        """The raw text of the first HTML title (see `_find_title_text`)."""
        text = self.text
        try:
            for _ in range(_MAX_TOKENS):
                match = MARKUP.search(text, self.pos)
                if match is None:
                    return None
                if self.frameset_ok and match.start() > self.pos:
                    self._characters(text[self.pos : match.start()])
                start_name, end_name, comment, cdata = match.groups()
                self.pos = match.end()
                if start_name is not None or end_name is not None:
                    self._tag(match, start_name, end_name)
                elif comment is not None:
                    self._comment()
                elif cdata is not None and self.foreign:
                    self.pos = self._after(CDATA_END.search(text, self.pos))
                else:  # bogus comment, doctype, "</>", or CDATA in HTML: up to the next ">"
                    end = text.find(">", self.pos)
                    if end < 0:
                        return None
                    self.pos = end + 1
        except _Done as done:
            return done.raw
        return None  # a page of more markup than any real one before its title: give up

    def _characters(self, data: str) -> None:
        """Text between tokens: anything but whitespace (and NUL) makes frameset not ok."""
        blank = _ASCII_WHITESPACE + "\0"
        if data.strip(blank) and ("&" not in data or unescape(data).strip(blank)):
            self.frameset_ok = False

    def _after(self, end: re.Match[str] | None) -> int:
        if end is None:
            raise _Done(None)
        return end.end()

    def _comment(self) -> None:
        text, pos = self.text, self.pos
        if text.startswith(">", pos):  # "<!-->"
            self.pos = pos + 1
        elif text.startswith("->", pos):  # "<!--->"
            self.pos = pos + 2
        else:
            self.pos = self._after(COMMENT_END.search(text, pos))

    def _tag(self, match: re.Match[str], start_name: str | None, end_name: str | None) -> None:
        rest = TAG_REST.match(self.text, self.pos)
        assert rest is not None  # the pattern matches the empty string
        close = rest.group(1)
        if close is None:  # the page ends inside the tag, which is dropped
            raise _Done(None)
        attrs = self.text[match.end() : rest.start(1)]
        self.pos = rest.end()
        if start_name is not None:
            name = _lower(start_name)
            if not self.foreign or not self._foreign_start(name, attrs, close):
                self._html_start(name, attrs, close)
        else:
            assert end_name is not None
            self._end(_lower(end_name))

    def _foreign_start(self, name: str, attrs: str, close: str) -> bool:
        """Handle a start tag inside SVG/MathML; False if it is an HTML start tag after all."""
        foreign = self.foreign
        kind = foreign[-1][2]
        if (
            kind == HTML_POINT
            or (kind == TEXT_POINT and name not in ("mglyph", "malignmark"))
            or (kind == ANNOTATION and name == "svg")
        ):
            return False
        if name in BREAKOUT or (
            name == "font" and not FONT_BREAKOUT.isdisjoint(_attributes(attrs))
        ):
            # An HTML tag inside SVG/MathML closes the foreign elements.
            while foreign and foreign[-1][2] not in (HTML_POINT, TEXT_POINT):
                foreign.pop()
            self._frameset_flag(name, attrs)
        elif close != "/>" and len(foreign) < _MAX_FOREIGN_DEPTH:
            namespace = foreign[-1][0]
            foreign.append((namespace, name, _foreign_kind(namespace, name, attrs)))
        return True

    def _frameset_flag(self, name: str, attrs: str) -> None:
        if (
            name in _FRAMESET_NOT_OK
            and self.frameset_ok
            and (name != "input" or _attributes(attrs).get("type", "").lower() != "hidden")
        ):
            self.frameset_ok = False

    def _html_start(self, name: str, attrs: str, close: str) -> None:
        text = self.text
        self._frameset_flag(name, attrs)
        if name == "title":
            end = TITLE_END.search(text, self.pos)
            if end is None and not self.complete:
                raise _Done(None)
            stop = len(text) if end is None else end.start()
            if self.template_depth == 0:
                raise _Done(text[self.pos : min(stop, self.pos + TITLE_RAW_MAX_CHARS)])
            self.pos = stop
        elif name in TEXT_ELEMENT_END:
            end = TEXT_ELEMENT_END[name].search(text, self.pos)
            if end is None:
                raise _Done(None)
            self.pos = end.start()
        elif name == "script":
            found = _skip_script(text, self.pos)
            if found is None:
                raise _Done(None)
            self.pos = found
        elif name == "plaintext":
            raise _Done(None)  # the rest of the page is text
        elif name == "template":
            self.template_depth += 1
        elif name == "frameset" and self.frameset_ok and not self.template_depth:
            raise _Done(None)  # the body is replaced by frames: no title can follow
        elif name in ("svg", "math") and close != "/>":
            self.foreign.append((SVG if name == "svg" else MATHML, name, PLAIN))

    def _end(self, name: str) -> None:
        foreign = self.foreign
        if foreign:
            if name in ("p", "br"):
                while foreign and foreign[-1][2] not in (HTML_POINT, TEXT_POINT):
                    foreign.pop()
                if name == "br":
                    self.frameset_ok = False  # "</br>" is read as "<br>"
                return
            for index in range(len(foreign) - 1, -1, -1):
                if foreign[index][1] == name:
                    del foreign[index:]
                    return
        if name == "template" and self.template_depth:
            self.template_depth -= 1
        elif name == "br":
            self.frameset_ok = False  # "</br>" is read as "<br>"


def find_title_text(text: str, complete: bool = True) -> str | None:
    """Return the raw text of the first HTML ``<title>`` in `text`, or None if there is none.

    The raw text is everything up to ``</title``, at most `TITLE_RAW_MAX_CHARS`
    characters, still with its character references. When `text` is only the start of the
    page (`complete` false), None also means "not sure": only a title whose ``</title``
    lies within `text` is returned, since the tokenizer's reading of everything before it
    cannot depend on what follows.
    """
    return _Scanner(text, complete).title()
