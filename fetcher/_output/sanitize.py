"""Making text a stranger controls safe to print: terminal escapes, controls, formulas.

Everything a fetched page controls (its title, the URL it redirected to, text inside error
messages) is hostile: printed raw it could clear the screen, retitle the terminal window,
plant clickable OSC-8 links, reorder text with bidi overrides, or smuggle a spreadsheet
formula into a CSV cell. Every writer therefore routes page-derived text through
`sanitize_text` (text, CSV) or `json_escape_unprintable` (JSONL) before it reaches a stream.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

__all__ = ["csv_safe", "json_escape_unprintable", "sanitize_text"]

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
    # ASCII without DEL is printable here: the encoder escaped every other ASCII control.
    if (s.isascii() and "\x7f" not in s) or s.isprintable():
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
