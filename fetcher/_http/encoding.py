"""Is a response HTML, and which text do its bytes decode to: the browser's rules.

The WHATWG MIME Sniffing standard decides whether a response is HTML (its media type, or
its first bytes when it has none); the HTML standard's encoding sniffing and the WHATWG
Encoding standard's label table decide how its bytes become text.
"""

from __future__ import annotations

import re

__all__ = [
    "codec_for_label",
    "declared_codec",
    "decode_html",
    "decode_undeclared",
    "decode_with",
    "is_html",
]

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


def codec_for_label(label: str) -> str | None:
    """Map an encoding label to a Python codec by the WHATWG table; None if it names none."""
    return _CODEC_BY_LABEL.get(label.strip("\t\n\f\r ").lower())


def _charset_param(content_type: str | None) -> str | None:
    """Return the codec named by the charset parameter of a Content-Type value, if any."""
    if not content_type or ";" not in content_type:
        return None
    match = _CHARSET_PARAM.search(content_type)
    if match is None:
        return None
    return codec_for_label(match.group(1) if match.group(1) is not None else match.group(2))


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
    codec = codec_for_label(label)
    if codec in ("utf-16-le", "utf-16-be"):
        return "utf-8"
    if codec == _USER_DEFINED:
        return "cp1252"
    return codec


def decode_with(body: bytes, codec: str) -> str:
    """Decode `body` with a codec from the label table, lossily, as browsers do."""
    if codec == _REPLACEMENT:
        # The Encoding standard decodes these (ISO-2022-KR, HZ...) to a single U+FFFD:
        # they were used to smuggle markup past filters.
        return "\ufffd" if body else ""
    if codec == _USER_DEFINED:
        return body.decode("latin-1").translate(_USER_DEFINED_TABLE)
    return body.decode(codec, "replace")


def declared_codec(body: bytes, content_type: str | None) -> tuple[str | None, int]:
    """Return the codec a byte order mark, the header or a ``<meta>`` names, and the BOM size.

    The codec is None when nothing declares one (`decode_undeclared` then decides).
    """
    if body.startswith(_UTF8_BOM):
        return "utf-8", 3
    if body.startswith(_UTF16LE_BOM):
        return "utf-16-le", 2
    if body.startswith(_UTF16BE_BOM):
        return "utf-16-be", 2
    return _charset_param(content_type) or _meta_charset(body), 0


def decode_undeclared(body: bytes) -> str:
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
    codec, bom = declared_codec(body, content_type)
    if codec is None:
        return decode_undeclared(body)
    return decode_with(body[bom:] if bom else body, codec)
