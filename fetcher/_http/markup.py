"""The HTML tokenizer's vocabulary the title scanner needs: patterns, tag sets, references.

Everything here restates the WHATWG HTML standard (tokenizer states, tree construction
for foreign content and framesets, character references) as compiled patterns and
frozen sets, so that the scanner (`scanner`) reads as the algorithm it follows.
"""

from __future__ import annotations

import html
import re

__all__ = [
    "ANNOTATION",
    "ASCII_LOWER",
    "ATTRIBUTE",
    "BREAKOUT",
    "CDATA_END",
    "COMMENT_END",
    "FONT_BREAKOUT",
    "HTML_POINT",
    "MARKUP",
    "MATHML",
    "PLAIN",
    "SCRIPT_DATA",
    "SCRIPT_DOUBLE_ESCAPED",
    "SCRIPT_ESCAPED",
    "SVG",
    "TAG_REST",
    "TEXT_ELEMENT_END",
    "TEXT_POINT",
    "TITLE_END",
    "TITLE_RAW_MAX_CHARS",
    "unescape",
]

#: At most this many characters of raw title text are read. A ``<title>`` without its
#: ``</title>`` runs to the end of the page in a browser; the bound keeps such a page from
#: costing an unescape and a whitespace split of the whole document.
TITLE_RAW_MAX_CHARS = 16 * 1024

#: The next ``<`` that starts markup: a start tag (group 1: name), an end tag (group 2:
#: name), a comment (group 3), a CDATA section (group 4, only markup in SVG/MathML), or a
#: bogus comment / doctype / ``</>``. A ``<`` followed by anything else is text.
MARKUP = re.compile(
    r"<(?:([A-Za-z][^\t\n\f\r />]*)|/([A-Za-z][^\t\n\f\r />]*)|(!--)|(!\[CDATA\[)|[!?/])"
)

#: The rest of a tag after its name: attributes as the tokenizer reads them (a quote only
#: opens a value right after ``=``; a quoted value may hold ``>``; an unquoted value ends at
#: whitespace or ``>``), then group 1: ``/>``, ``>`` or None when the page ends inside the tag.
#: Possessive quantifiers: the match never needs to backtrack, and they make it faster.
TAG_REST = re.compile(
    r"(?:[\t\n\f\r ]++|/(?!>)"
    r"|[^\t\n\f\r />][^\t\n\f\r />=]*+"
    r"(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+"
    r"""(?:"[^"]*+(?:"|\Z)|'[^']*+(?:'|\Z)|[^\t\n\f\r >"'][^\t\n\f\r >]*+)?)?"""
    r")*+(/?>)?"
)

COMMENT_END = re.compile(r"--!?>")
CDATA_END = re.compile(r"]]>")


def _end_tag(name: str) -> re.Pattern[str]:
    """Compile the search for the end tag that closes raw text or RCDATA element `name`."""
    return re.compile(rf"</{name}[\t\n\f\r />]", re.I)


TITLE_END = _end_tag("title")

#: Elements whose content the tokenizer reads as text up to their own end tag (RAWTEXT, or
#: RCDATA for ``textarea``); ``noscript`` is one because browsers run with scripting
#: enabled. ``script`` has escape states of its own (`_skip_script`); ``title``, the other
#: RCDATA element, is the one being looked for.
TEXT_ELEMENT_END: dict[str, re.Pattern[str]] = {
    name: _end_tag(name)
    for name in ("style", "xmp", "iframe", "noembed", "noframes", "noscript", "textarea")
}

SCRIPT_DATA = re.compile(r"<!--|</script[\t\n\f\r />]", re.I)
SCRIPT_ESCAPED = re.compile(r"-->|</?script[\t\n\f\r />]", re.I)
SCRIPT_DOUBLE_ESCAPED = re.compile(r"-->|</script[\t\n\f\r />]", re.I)

SVG = 1
MATHML = 2

# How a start tag under an open foreign element is treated (the tree builder's dispatcher).
PLAIN = 0  # foreign content: the tag is a foreign element
HTML_POINT = 1  # HTML integration point: start tags are HTML
TEXT_POINT = 2  # MathML text integration point: start tags but mglyph/malignmark are HTML
ANNOTATION = 3  # MathML annotation-xml (not HTML): only an svg start tag is HTML

#: HTML start tags that close all open SVG/MathML elements ("breakout" tags).
BREAKOUT = frozenset(
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
FONT_BREAKOUT = frozenset({"color", "face", "size"})
#: One attribute inside a tag already matched by `TAG_REST`: name, then value if any.
ATTRIBUTE = re.compile(
    r"([^\t\n\f\r />][^\t\n\f\r />=]*)"
    r"""(?:[\t\n\f\r ]*=[\t\n\f\r ]*("[^"]*"?|'[^']*'?|[^\t\n\f\r >"'][^\t\n\f\r >]*))?"""
)

ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


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


def unescape(raw: str) -> str:
    """Decode the character references in title text, in one pass, as the tokenizer does."""
    return _REFERENCE.sub(_reference, raw)
