"""Find a page's title the way a browser does, without building a parse tree.

Every worker thread runs this on every page it downloads, so it is written for speed:
instead of a full HTML parse (tens of milliseconds and the GIL held throughout), a small
scanner jumps with compiled regular expressions from one ``<`` token to the next, skips
what a browser does not treat as markup (comments, script and style text, attribute
values, SVG and MathML subtrees, template contents) and stops at the first real
``<title>``. On a typical page that is a few hundred bytes into the document.

The rules followed are those of the WHATWG HTML standard (tokenizer states, foreign
content, the encoding sniffing algorithm) and of the WHATWG Encoding standard (labels),
restricted to what decides ``document.title``.
"""

from __future__ import annotations

import html
import re

__all__ = ["TITLE_MAX_CHARS", "decode_html", "extract_title", "is_html"]

#: Longest title returned, in characters, after whitespace is collapsed.
TITLE_MAX_CHARS = 1024

#: At most this many characters of raw title text are read. A ``<title>`` without its
#: ``</title>`` runs to the end of the page in a browser; the bound keeps such a page from
#: costing an unescape and a whitespace split of the whole document.
_TITLE_RAW_MAX_CHARS = 16 * 1024

#: When the page declares its encoding, this many bytes are decoded and searched first.
#: Decoding dominates the cost on large pages (a megabyte of UTF-8 text with many non-ASCII
#: characters takes milliseconds), and few titles start past this point.
_PREFIX_BYTES = 32 * 1024

# --- Content type and sniffing -----------------------------------------------------------

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})

#: Types that browsers treat as "no type given" and sniff (WHATWG MIME Sniffing).
_UNKNOWN_TYPES = frozenset({"unknown/unknown", "application/unknown", "*/*"})

#: The HTML signatures of WHATWG MIME Sniffing, "rules for identifying an unknown MIME
#: type", after leading whitespace bytes; a tag must be followed by a space or ``>``.
_HTML_SIGNATURE = re.compile(
    rb"[\t\n\x0c\r ]*(?:<!--|<(?:!DOCTYPE HTML|HTML|HEAD|SCRIPT|IFRAME|H1|DIV|FONT|TABLE|A"
    rb"|STYLE|TITLE|B|BODY|BR|P)[ >])",
    re.I,
)

# --- Encodings ---------------------------------------------------------------------------

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16LE_BOM = b"\xff\xfe"
_UTF16BE_BOM = b"\xfe\xff"

#: Pseudo codecs that Python lacks; handled in `_decode_with`.
_REPLACEMENT = "replacement"
_USER_DEFINED = "x-user-defined"

#: The WHATWG Encoding standard's label table, keyed by the Python codec that decodes the
#: encoding the labels name. Python knows many of these labels as other codecs (``latin1``
#: is ISO-8859-1 to Python, windows-1252 to a browser; ``gb2312`` is a subset of GB18030)
#: and knows labels that browsers reject (``utf-7``, ``latin-1``); only these count.
_LABELS_BY_CODEC: dict[str, str] = {
    "utf-8": "unicode-1-1-utf-8 unicode11utf8 unicode20utf8 utf-8 utf8 x-unicode20utf8",
    "cp866": "866 cp866 csibm866 ibm866",
    "iso8859-2": "csisolatin2 iso-8859-2 iso-ir-101 iso8859-2 iso88592 iso_8859-2"
    " iso_8859-2:1987 l2 latin2",
    "iso8859-3": "csisolatin3 iso-8859-3 iso-ir-109 iso8859-3 iso88593 iso_8859-3"
    " iso_8859-3:1988 l3 latin3",
    "iso8859-4": "csisolatin4 iso-8859-4 iso-ir-110 iso8859-4 iso88594 iso_8859-4"
    " iso_8859-4:1988 l4 latin4",
    "iso8859-5": "csisolatincyrillic cyrillic iso-8859-5 iso-ir-144 iso8859-5 iso88595"
    " iso_8859-5 iso_8859-5:1988",
    "iso8859-6": "arabic asmo-708 csiso88596e csiso88596i csisolatinarabic ecma-114"
    " iso-8859-6 iso-8859-6-e iso-8859-6-i iso-ir-127 iso8859-6 iso88596 iso_8859-6"
    " iso_8859-6:1987",
    "iso8859-7": "csisolatingreek ecma-118 elot_928 greek greek8 iso-8859-7 iso-ir-126"
    " iso8859-7 iso88597 iso_8859-7 iso_8859-7:1987 sun_eu_greek",
    "iso8859-8": "csiso88598e csisolatinhebrew hebrew iso-8859-8 iso-8859-8-e iso-ir-138"
    " iso8859-8 iso88598 iso_8859-8 iso_8859-8:1988 visual csiso88598i iso-8859-8-i logical",
    "iso8859-10": "csisolatin6 iso-8859-10 iso-ir-157 iso8859-10 iso885910 l6 latin6",
    "iso8859-13": "iso-8859-13 iso8859-13 iso885913",
    "iso8859-14": "iso-8859-14 iso8859-14 iso885914",
    "iso8859-15": "csisolatin9 iso-8859-15 iso8859-15 iso885915 iso_8859-15 l9",
    "iso8859-16": "iso-8859-16",
    "koi8-r": "cskoi8r koi koi8 koi8-r koi8_r",
    "koi8-u": "koi8-ru koi8-u",
    "mac-roman": "csmacintosh mac macintosh x-mac-roman",
    "cp874": "dos-874 iso-8859-11 iso8859-11 iso885911 tis-620 windows-874",
    "cp1250": "cp1250 windows-1250 x-cp1250",
    "cp1251": "cp1251 windows-1251 x-cp1251",
    "cp1252": "ansi_x3.4-1968 ascii cp1252 cp819 csisolatin1 ibm819 iso-8859-1 iso-ir-100"
    " iso8859-1 iso88591 iso_8859-1 iso_8859-1:1987 l1 latin1 us-ascii windows-1252 x-cp1252",
    "cp1253": "cp1253 windows-1253 x-cp1253",
    "cp1254": "cp1254 csisolatin5 iso-8859-9 iso-ir-148 iso8859-9 iso88599 iso_8859-9"
    " iso_8859-9:1989 l5 latin5 windows-1254 x-cp1254",
    "cp1255": "cp1255 windows-1255 x-cp1255",
    "cp1256": "cp1256 windows-1256 x-cp1256",
    "cp1257": "cp1257 windows-1257 x-cp1257",
    "cp1258": "cp1258 windows-1258 x-cp1258",
    "mac-cyrillic": "x-mac-cyrillic x-mac-ukrainian",
    # GBK is decoded with the GB18030 decoder, as the Encoding standard specifies.
    "gb18030": "chinese csgb2312 csiso58gb231280 gb2312 gb_2312 gb_2312-80 gbk iso-ir-58"
    " x-gbk gb18030",
    "big5hkscs": "big5 big5-hkscs cn-big5 csbig5 x-x-big5",
    "euc-jp": "cseucpkdfmtjapanese euc-jp x-euc-jp",
    "iso2022-jp": "csiso2022jp iso-2022-jp",
    "cp932": "csshiftjis ms932 ms_kanji shift-jis shift_jis sjis windows-31j x-sjis",
    "cp949": "cseuckr csksc56011987 euc-kr iso-ir-149 korean ks_c_5601-1987 ks_c_5601-1989"
    " ksc5601 ksc_5601 windows-949",
    _REPLACEMENT: "csiso2022kr hz-gb-2312 iso-2022-cn iso-2022-cn-ext iso-2022-kr replacement",
    "utf-16-be": "unicodefffe utf-16be",
    "utf-16-le": "csunicode iso-10646-ucs-2 ucs-2 unicode unicodefeff utf-16 utf-16le",
    _USER_DEFINED: "x-user-defined",
}

_CODEC_BY_LABEL: dict[str, str] = {
    label: codec for codec, labels in _LABELS_BY_CODEC.items() for label in labels.split()
}

#: The charset parameter of a Content-Type value; the first one wins.
_CHARSET_PARAM = re.compile(r';[\t\n\r ]*charset[\t\n\r ]*=[\t\n\r ]*(?:"([^"]*)|([^;]*))', re.I)

#: x-user-defined maps bytes 0x80-0xFF to U+F780-U+F7FF (applied after a latin-1 decode).
_USER_DEFINED_TABLE = {b: 0xF780 + b - 0x80 for b in range(0x80, 0x100)}

# --- Scanner -----------------------------------------------------------------------------

#: The next ``<`` that starts markup: a start tag (group 1: name), an end tag (group 2:
#: name), a comment (group 3), a CDATA section (group 4, only markup in SVG/MathML), or a
#: bogus comment / doctype / ``</>``. A ``<`` followed by anything else is text.
_MARKUP = re.compile(
    r"<(?:([A-Za-z][^\t\n\f\r />]*)|/([A-Za-z][^\t\n\f\r />]*)|(!--)|(!\[CDATA\[)|[!?/])"
)

#: The rest of a tag after its name: attributes as the tokenizer reads them (a quote only
#: opens a value right after ``=``; a quoted value may hold ``>``; an unquoted value ends at
#: whitespace or ``>``), then group 1: ``/>``, ``>`` or None when the page ends inside the tag.
#: Possessive quantifiers: the match never needs to backtrack, and they make it faster.
_TAG_REST = re.compile(
    r"(?:[\t\n\f\r ]++|/(?!>)"
    r"|[^\t\n\f\r />][^\t\n\f\r />=]*+"
    r"(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+"
    r"""(?:"[^"]*+(?:"|\Z)|'[^']*+(?:'|\Z)|[^\t\n\f\r >"'][^\t\n\f\r >]*+)?)?"""
    r")*+(/?>)?"
)

_COMMENT_END = re.compile(r"--!?>")
_CDATA_END = re.compile(r"]]>")


def _end_tag(name: str) -> re.Pattern[str]:
    """Compile the search for the end tag that closes raw text or RCDATA element `name`."""
    return re.compile(rf"</{name}[\t\n\f\r />]", re.I)


_TITLE_END = _end_tag("title")

#: Elements whose content the tokenizer reads as text up to their own end tag (RAWTEXT, or
#: RCDATA for ``textarea``); ``noscript`` is one because browsers run with scripting
#: enabled. ``script`` has escape states of its own (`_skip_script`); ``title``, the other
#: RCDATA element, is the one being looked for.
_TEXT_ELEMENT_END: dict[str, re.Pattern[str]] = {
    name: _end_tag(name)
    for name in ("style", "xmp", "iframe", "noembed", "noframes", "noscript", "textarea")
}

_SCRIPT_DATA = re.compile(r"<!--|</script[\t\n\f\r />]", re.I)
_SCRIPT_ESCAPED = re.compile(r"-->|</?script[\t\n\f\r />]", re.I)
_SCRIPT_DOUBLE_ESCAPED = re.compile(r"-->|</script[\t\n\f\r />]", re.I)

_SVG = 1
_MATHML = 2

# How a start tag under an open foreign element is treated (the tree builder's dispatcher).
_PLAIN = 0  # foreign content: the tag is a foreign element
_HTML_POINT = 1  # HTML integration point: start tags are HTML
_TEXT_POINT = 2  # MathML text integration point: start tags but mglyph/malignmark are HTML
_ANNOTATION = 3  # MathML annotation-xml (not HTML): only an svg start tag is HTML

#: HTML start tags that close all open SVG/MathML elements ("breakout" tags).
_BREAKOUT = frozenset(
    {
        "b",
        "big",
        "blockquote",
        "body",
        "br",
        "center",
        "code",
        "dd",
        "div",
        "dl",
        "dt",
        "em",
        "embed",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "head",
        "hr",
        "i",
        "img",
        "li",
        "listing",
        "menu",
        "meta",
        "nobr",
        "ol",
        "p",
        "pre",
        "ruby",
        "s",
        "small",
        "span",
        "strong",
        "strike",
        "sub",
        "sup",
        "table",
        "tt",
        "u",
        "ul",
        "var",
    }
)
#: ``<font>`` breaks out of SVG/MathML only with one of these attributes.
_FONT_BREAKOUT = frozenset({"color", "face", "size"})
#: One attribute inside a tag already matched by `_TAG_REST`: name, then value if any.
_ATTRIBUTE = re.compile(
    r"([^\t\n\f\r />][^\t\n\f\r />=]*)"
    r"""(?:[\t\n\f\r ]*=[\t\n\f\r ]*("[^"]*"?|'[^']*'?|[^\t\n\f\r >"'][^\t\n\f\r >]*))?"""
)

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def is_html(content_type: str | None, body: bytes) -> bool:
    """Tell whether a response is an HTML page, so that only HTML is searched for a title.

    The media type decides (``text/html`` or ``application/xhtml+xml``, any case,
    parameters ignored). Without one (None, empty, or a browser's "unknown" types
    ``unknown/unknown``, ``application/unknown``, ``*/*``) the body is sniffed as browsers
    do: after an optional byte order mark and whitespace it must start with one of the
    WHATWG MIME Sniffing HTML signatures (``<!DOCTYPE HTML``, ``<html``, ``<head``,
    ``<script``, ``<p``, ``<!--`` ...). Every other type (JSON, images, text/plain) is not
    HTML, whatever the body looks like.
    """
    if content_type:
        essence = content_type.partition(";")[0].strip(" \t\r\n").lower()
        if essence in _HTML_TYPES:
            return True
        if essence and essence not in _UNKNOWN_TYPES:
            return False
    head = body[:512]
    if head.startswith(_UTF8_BOM):
        head = head[3:]
    elif head.startswith(_UTF16LE_BOM):
        head = head[2:].decode("utf-16-le", "replace").encode("ascii", "replace")
    elif head.startswith(_UTF16BE_BOM):
        head = head[2:].decode("utf-16-be", "replace").encode("ascii", "replace")
    return _HTML_SIGNATURE.match(head) is not None


def _codec_for_label(label: str) -> str | None:
    """Map an encoding label to a Python codec by the WHATWG table; None if it names none."""
    return _CODEC_BY_LABEL.get(label.strip("\t\n\f\r ").lower())


def _charset_param(content_type: str | None) -> str | None:
    """Return the codec named by the charset parameter of a Content-Type value, if any."""
    if not content_type or ";" not in content_type:
        return None
    match = _CHARSET_PARAM.search(content_type)
    if match is None:
        return None
    return _codec_for_label(match.group(1) if match.group(1) is not None else match.group(2))


#: How far into the page a `<meta>` charset is looked for (the HTML standard's prescan).
_PRESCAN_BYTES = 1024


def _meta_charset(body: bytes) -> str | None:
    """Return the codec declared by a ``<meta>`` (or XML declaration) early in the page.

    The prescan is beautifulsoup4's (`EncodingDetector.find_declared_encoding`). As the HTML
    standard says for this step, a declared UTF-16 means UTF-8 (the bytes were readable as
    ASCII, so they are not UTF-16) and x-user-defined means windows-1252.
    """
    from bs4.dammit import EncodingDetector  # imported here: bs4 is slow to import

    # Only the first bytes, as the standard's prescan does: bs4 would search 5% of the page
    # with a regex that a hostile page can make take seconds, holding the GIL.
    label = EncodingDetector.find_declared_encoding(body[:_PRESCAN_BYTES], is_html=True)
    if not label:
        return None
    codec = _codec_for_label(label)
    if codec in ("utf-16-le", "utf-16-be"):
        return "utf-8"
    if codec == _USER_DEFINED:
        return "cp1252"
    return codec


def _decode_with(body: bytes, codec: str) -> str:
    """Decode `body` with a codec from the label table, lossily, as browsers do."""
    if codec == _REPLACEMENT:
        # The Encoding standard decodes these (ISO-2022-KR, HZ...) to a single U+FFFD:
        # they were used to smuggle markup past filters.
        return "\ufffd" if body else ""
    if codec == _USER_DEFINED:
        return body.decode("latin-1").translate(_USER_DEFINED_TABLE)
    return body.decode(codec, "replace")


def _declared_codec(body: bytes, content_type: str | None) -> tuple[str | None, int]:
    """Return the codec a byte order mark, the header or a ``<meta>`` names, and the BOM size.

    The codec is None when nothing declares one (`_decode_undeclared` then decides).
    """
    if body.startswith(_UTF8_BOM):
        return "utf-8", 3
    if body.startswith(_UTF16LE_BOM):
        return "utf-16-le", 2
    if body.startswith(_UTF16BE_BOM):
        return "utf-16-be", 2
    return _charset_param(content_type) or _meta_charset(body), 0


def _decode_undeclared(body: bytes) -> str:
    r"""Decode a page that declares no encoding: UTF-8 if it is valid UTF-8, else windows-1252.

    A multi-byte character cut off at the very end (a size limit does that) does not make
    the bytes invalid, provided something before it shows UTF-8: without that evidence,
    ``b"caf\xe9"`` is the windows-1252 it most likely is.
    """
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data" and not body[: exc.start].isascii():
            return body.decode("utf-8", "replace")
        return body.decode("cp1252", "replace")


def decode_html(body: bytes, content_type: str | None) -> str:
    """Decode an HTML page to text the way a browser picks its encoding.

    In order: a byte order mark (UTF-8, UTF-16LE, UTF-16BE); the ``charset`` parameter of
    `content_type`; a ``<meta charset>`` or ``<meta http-equiv="Content-Type">`` early in
    the page; UTF-8 if the bytes are valid UTF-8; else windows-1252. Labels are read with
    the WHATWG Encoding standard's table (``iso-8859-1`` and ``ascii`` mean windows-1252,
    ``gb2312`` means GB18030, ``shift_jis`` means cp932...); a label outside it is ignored
    and the next rule applies. Undecodable bytes become U+FFFD; this never raises.
    """
    codec, bom = _declared_codec(body, content_type)
    if codec is None:
        return _decode_undeclared(body)
    return _decode_with(body[bom:] if bom else body, codec)


def _lower(name: str) -> str:
    """Lowercase a tag name as the tokenizer does: ASCII letters only."""
    return name.lower() if name.isascii() else name.translate(_ASCII_LOWER)


def _skip_script(text: str, pos: int) -> int | None:
    """Return where the ``</script`` that ends the script starting at `pos` is, or None.

    Follows the tokenizer's script data states: inside ``<!--``, a ``<script`` starts a
    "double escaped" part in which ``</script>`` does not end the script, so that
    ``<!-- document.write("<script></script>") -->`` stays script text.
    """
    pattern = _SCRIPT_DATA
    while True:
        match = pattern.search(text, pos)
        if match is None:
            return None
        token = match.group()
        if pattern is _SCRIPT_DATA:
            if token[1] == "/":
                return match.start()
            # Escaped: resume at the "--" of "<!--", so that "<!-->" closes it at once.
            pattern, pos = _SCRIPT_ESCAPED, match.start() + 2
        elif token[0] == "-":
            pattern, pos = _SCRIPT_DATA, match.end()
        elif pattern is _SCRIPT_ESCAPED:
            if token[1] == "/":
                return match.start()
            pattern, pos = _SCRIPT_DOUBLE_ESCAPED, match.end()
        else:
            pattern, pos = _SCRIPT_ESCAPED, match.end()


def _attributes(attrs: str) -> dict[str, str]:
    """Parse the attributes part of a tag into lowercase names and raw values (first wins).

    Only used for the few tags whose attributes matter (``<font>`` inside SVG, MathML
    ``<annotation-xml>``); character references in values are left as they are.
    """
    parsed: dict[str, str] = {}
    for match in _ATTRIBUTE.finditer(attrs):
        value = match.group(2) or ""
        if value[:1] in ("'", '"'):
            value = value[1:-1] if len(value) > 1 and value[-1] == value[0] else value[1:]
        parsed.setdefault(_lower(match.group(1)), value)
    return parsed


def _foreign_kind(namespace: int, name: str, attrs: str) -> int:
    """Classify a new SVG/MathML element by how start tags inside it are treated."""
    if namespace == _SVG:
        return _HTML_POINT if name in ("foreignobject", "desc", "title") else _PLAIN
    if name in ("mi", "mo", "mn", "ms", "mtext"):
        return _TEXT_POINT
    if name == "annotation-xml":
        encoding = _attributes(attrs).get("encoding", "").translate(_ASCII_LOWER)
        return _HTML_POINT if encoding in ("text/html", "application/xhtml+xml") else _ANNOTATION
    return _PLAIN


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
                match = _MARKUP.search(text, self.pos)
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
                    self.pos = self._after(_CDATA_END.search(text, self.pos))
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
        if data.strip(blank) and ("&" not in data or _unescape(data).strip(blank)):
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
            self.pos = self._after(_COMMENT_END.search(text, pos))

    def _tag(self, match: re.Match[str], start_name: str | None, end_name: str | None) -> None:
        rest = _TAG_REST.match(self.text, self.pos)
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
            kind == _HTML_POINT
            or (kind == _TEXT_POINT and name not in ("mglyph", "malignmark"))
            or (kind == _ANNOTATION and name == "svg")
        ):
            return False
        if name in _BREAKOUT or (
            name == "font" and not _FONT_BREAKOUT.isdisjoint(_attributes(attrs))
        ):
            # An HTML tag inside SVG/MathML closes the foreign elements.
            while foreign and foreign[-1][2] not in (_HTML_POINT, _TEXT_POINT):
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
            end = _TITLE_END.search(text, self.pos)
            if end is None and not self.complete:
                raise _Done(None)
            stop = len(text) if end is None else end.start()
            if self.template_depth == 0:
                raise _Done(text[self.pos : min(stop, self.pos + _TITLE_RAW_MAX_CHARS)])
            self.pos = stop
        elif name in _TEXT_ELEMENT_END:
            end = _TEXT_ELEMENT_END[name].search(text, self.pos)
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
            self.foreign.append((_SVG if name == "svg" else _MATHML, name, _PLAIN))

    def _end(self, name: str) -> None:
        foreign = self.foreign
        if foreign:
            if name in ("p", "br"):
                while foreign and foreign[-1][2] not in (_HTML_POINT, _TEXT_POINT):
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


def _find_title_text(text: str, complete: bool = True) -> str | None:
    """Return the raw text of the first HTML ``<title>`` in `text`, or None if there is none.

    The raw text is everything up to ``</title``, at most `_TITLE_RAW_MAX_CHARS`
    characters, still with its character references. When `text` is only the start of the
    page (`complete` false), None also means "not sure": only a title whose ``</title``
    lies within `text` is returned, since the tokenizer's reading of everything before it
    cannot depend on what follows.
    """
    return _Scanner(text, complete).title()


#: A character reference as the tokenizer finds one (named, decimal or hexadecimal; the
#: ``;`` optional), as in Python's `html` module.
_REFERENCE = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")


def _reference(match: re.Match[str]) -> str:
    """The text a character reference stands for, by the HTML standard's rules.

    Named references are Python's `html.unescape` (the standard's table, and its
    longest-prefix rule without ``;``). Numbers differ: `html.unescape` drops references
    to control characters and noncharacters, the standard keeps them (a parse error,
    nothing more), except NUL, surrogates and numbers beyond Unicode (U+FFFD), and
    0x80-0x9F, read as windows-1252.
    """
    text = match.group(1)
    if text[0] != "#":
        return html.unescape(match.group())
    digits = text[1:].rstrip(";")
    hexadecimal = digits[:1] in "xX"
    digits = (digits[1:] if hexadecimal else digits).lstrip("0") or "0"
    if len(digits) > 8:  # beyond Unicode whatever it says (and int() refuses 4,300 digits)
        return "\ufffd"
    number = int(digits, 16 if hexadecimal else 10)
    if number == 0 or number > 0x10FFFF or 0xD800 <= number <= 0xDFFF:
        return "\ufffd"
    if 0x80 <= number <= 0x9F:
        try:
            return bytes([number]).decode("cp1252")
        except UnicodeDecodeError:  # the five bytes windows-1252 leaves undefined
            return chr(number)
    return chr(number)


def _unescape(raw: str) -> str:
    """Decode the character references in title text, in one pass, as the tokenizer does."""
    return _REFERENCE.sub(_reference, raw)


def _clean_title(raw: str) -> str | None:
    """Turn raw title text into what ``document.title`` shows, cut to `TITLE_MAX_CHARS`."""
    if "&" in raw:
        raw = _unescape(raw)
    if "\x00" in raw:
        raw = raw.replace("\x00", "\ufffd")
    title = " ".join(raw.split())[:TITLE_MAX_CHARS].rstrip()
    return title or None


def extract_title(body: bytes, content_type: str | None) -> str | None:
    """Return the title a browser shows for this response, or None.

    None when the response is not HTML (`is_html`). Otherwise the body is decoded
    (`decode_html`) and the result is ``document.title``: the text of the first
    ``<title>`` element in the HTML namespace, in the head or the body, not one inside SVG
    or MathML, a comment, script or style text, an attribute value, ``<noscript>``
    (scripting is on in a browser) or ``<template>`` contents. Character references are
    decoded, every run of whitespace (Unicode whitespace, including U+00A0, where a browser
    collapses only ASCII whitespace) becomes one space, the ends are stripped and the
    result is cut to `TITLE_MAX_CHARS` characters. A title element that is empty or only
    whitespace gives None, like a missing one: a browser says ``""`` there, and "no
    title" is what that means to a caller. Never raises.
    """
    if not is_html(content_type, body):
        return None
    codec, bom = _declared_codec(body, content_type)
    if codec is not None and len(body) - bom > _PREFIX_BYTES:
        # Most titles sit in the first few kilobytes: decode those first, and the whole
        # (multi-megabyte, perhaps) page only when the title is not closed within them.
        raw = _find_title_text(_decode_with(body[bom : bom + _PREFIX_BYTES], codec), False)
        if raw is not None:
            return _clean_title(raw)
    if codec is None:
        text = _decode_undeclared(body)
    else:
        text = _decode_with(body[bom:] if bom else body, codec)
    raw = _find_title_text(text)
    return None if raw is None else _clean_title(raw)
