"""The title of a response, as a browser shows it in ``document.title``.

The rules followed are those of the WHATWG HTML standard (tokenizer states, foreign
content, the encoding sniffing algorithm) and of the WHATWG Encoding standard (labels),
restricted to what decides ``document.title``: `encoding` says whether a response is
HTML and decodes it, `scanner` finds the first title, and this module cleans it up.
"""

from __future__ import annotations

from .encoding import declared_codec, decode_undeclared, decode_with, is_html
from .markup import unescape
from .scanner import find_title_text

__all__ = ["TITLE_MAX_CHARS", "extract_title"]

#: Longest title returned, in characters, after whitespace is collapsed.
TITLE_MAX_CHARS = 1024

#: When the page declares its encoding, this many bytes are decoded and searched first.
#: Decoding dominates the cost on large pages (a megabyte of UTF-8 text with many non-ASCII
#: characters takes milliseconds), and few titles start past this point.
_PREFIX_BYTES = 32 * 1024


def _clean_title(raw: str) -> str | None:
    """Turn raw title text into what ``document.title`` shows, cut to `TITLE_MAX_CHARS`."""
    if "&" in raw:
        raw = unescape(raw)
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
    codec, bom = declared_codec(body, content_type)
    if codec is not None and len(body) - bom > _PREFIX_BYTES:
        # Most titles sit in the first few kilobytes: decode those first, and the whole
        # (multi-megabyte, perhaps) page only when the title is not closed within them.
        raw = find_title_text(decode_with(body[bom : bom + _PREFIX_BYTES], codec), False)
        if raw is not None:
            return _clean_title(raw)
    if codec is None:
        text = decode_undeclared(body)
    else:
        text = decode_with(body[bom:] if bom else body, codec)
    raw = find_title_text(text)
    return None if raw is None else _clean_title(raw)
