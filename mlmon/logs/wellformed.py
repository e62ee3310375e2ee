"""A regular expression that matches only well-formed JSON objects, for sieving lines.

JSON nests without limit, so no regular expression matches all of it; but one that
allows nesting to a fixed depth is a fast, sound filter: every line it matches is a
well-formed JSON object (RFC 8259), and only the lines it does not match (malformed,
or nested deeper) need a real JSON parser to decide. Polars runs it as a lazy DFA,
several times faster per line than parsing.
"""

from __future__ import annotations

_WS = r"[ \t\n\r]*"
_STRING = r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"'
_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
_SCALAR = rf"(?:{_STRING}|{_NUMBER}|true|false|null)"

#: Objects nested this deep (the line's own object counts as 1) are matched;
#: e.g. ``{"request": {"messages": [{"role": "user"}]}}`` is depth 4.
DEPTH = 4


def _object(value: str) -> str:
    member = rf"{_STRING}{_WS}:{_WS}{value}"
    return rf"\{{{_WS}(?:{member}(?:{_WS},{_WS}{member})*{_WS})?\}}"


def _value(depth: int) -> str:
    if depth == 0:
        return _SCALAR
    inner = _value(depth - 1)
    array = rf"\[{_WS}(?:{inner}(?:{_WS},{_WS}{inner})*{_WS})?\]"
    return rf"(?:{_SCALAR}|{_object(inner)}|{array})"


#: The whole line is one JSON object, with optional surrounding whitespace.
WELL_FORMED_OBJECT = rf"^{_WS}{_object(_value(DEPTH - 1))}{_WS}$"
