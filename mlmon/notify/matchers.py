"""Label matchers for notification routes, in Alertmanager's syntax: ``name="value"``, ``!=``, ``=~``, ``!~``.

A regex matches the whole value, as Alertmanager anchors it. The value may be quoted
(``severity="critical"``, with ``\\"`` and ``\\\\`` escapes) or bare (``severity=critical``).
A label an alert lacks has the value ``""``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.DOTALL)


class MatcherError(ValueError):
    """A matcher that does not parse; ``col`` is the 1-based column of the problem inside the text."""

    def __init__(self, message: str, col: int = 1):
        super().__init__(message)
        self.col = col


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str
    text: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        got = labels.get(self.name, "")
        if self.op == "=":
            return got == self.value
        if self.op == "!=":
            return got != self.value
        hit = re.fullmatch(self.value, got) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        return f"{self.name}{self.op}{_quote(self.value)}"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(raw: str, col: int) -> str:
    if not raw.startswith('"'):
        if any(c in raw for c in '"{},'):
            raise MatcherError(f"the value {raw!r} needs double quotes", col)
        return raw
    if len(raw) < 2 or not raw.endswith('"') or raw.endswith('\\"') and not raw.endswith('\\\\"'):
        raise MatcherError("the quoted value has no closing double quote", col)
    out, i, body = [], 0, raw[1:-1]
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            out.append({"n": "\n"}.get(body[i + 1], body[i + 1]))
            i += 2
            continue
        if c == '"':
            raise MatcherError("a double quote inside the value must be escaped as \\\"", col + 1 + i)
        out.append(c)
        i += 1
    return "".join(out)


def parse_matcher(text: str) -> Matcher:
    """One matcher such as ``severity="critical"`` or ``model=~"churn|fraud"``; MatcherError says what is wrong."""
    m = _MATCHER.match(text)
    if not m:
        stripped = text.lstrip()
        if not stripped or not re.match(r"[A-Za-z_]", stripped):
            raise MatcherError("a matcher starts with a label name, e.g. severity=\"critical\"",
                               len(text) - len(stripped) + 1)
        raise MatcherError("a matcher needs an operator: =, !=, =~ or !~, e.g. severity=\"critical\"", 1)
    name, op, raw = m.groups()
    col = m.start(3) + 1
    value = _unquote(raw, col)
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            raise MatcherError(f"the regular expression {value!r} does not compile: {exc}", col) from None
    return Matcher(name, op, value, text.strip())
