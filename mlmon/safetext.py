"""Make text from logs harmless to print or write: no terminal control sequences, no visual reordering.

It sits below computing and rendering alike, so that the core (replay, rules state, baselines)
escapes what it writes without importing a renderer. Log text is shown as one line of visible
characters: C0 and C1 controls (ESC, BEL, CSI, newlines, tabs), DEL, line and paragraph separators and bidirectional formatting characters (which can reorder what a
reader sees, "Trojan Source") become escapes such as ``\\x1b``, ``\\n`` or ``\\u202e``.
"""

from __future__ import annotations

import re

#: Code points never written raw: C0, DEL and C1 controls; bidi marks, embeddings, overrides and isolates
#: (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069); and the line/paragraph separators U+2028, U+2029.
UNSAFE_RANGES = ((0x00, 0x1F), (0x7F, 0x9F), (0x061C, 0x061C), (0x200E, 0x200F), (0x2028, 0x202E),
                 (0x2066, 0x2069))

#: Lone surrogates, which no UTF-8 stream can carry: a Python string holds them when a target answers
#: JSON with a "\\udcff" escape, or a model returns one. Polars (Rust) strings never do.
_SURROGATES = "\\ud800-\\udfff"
_UNSAFE = re.compile("[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in UNSAFE_RANGES) + _SURROGATES + "]")
#: The same class in the regex syntax Polars (Rust) understands.
UNSAFE_PATTERN_RUST = "[" + "".join(f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in UNSAFE_RANGES) + "]"
#: Beyond the C0 controls (which ``json.dumps`` already escapes), what JSON text must not carry raw.
_UNSAFE_IN_JSON = re.compile("[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in UNSAFE_RANGES[1:])
                             + _SURROGATES + "]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")


def printable(text: str) -> str:
    """``text`` on one line, with unsafe characters shown as escapes: ``\\x1b``, ``\\n``, ``\\u202e``.

    Use it with rich ``Text`` objects (which never interpret markup), not markup strings.
    """
    return _UNSAFE.sub(_escape, text)


def json_safe(text: str) -> str:
    """JSON text with C1 controls, DEL, bidi controls, U+2028/U+2029 and lone surrogates written as ``\\uXXXX`` escapes.

    They can only occur inside JSON strings, and the escapes decode to the same characters, so the
    document parses to the same values; other non-ASCII text stays readable.
    """
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
