"""Label matchers as Alertmanager writes them: ``name=value``, ``name!=value``, ``name=~regex``, ``name!~regex``.

Grammar (Alertmanager's classic parser, ``pkg/labels/parse.go``, which its config and amtool accept)::

    matchers := ["{"] [matcher ("," matcher)* [","]] ["}"]
    matcher  := space* name space* ("=~" | "=" | "!=" | "!~") space* value space*
    name     := [A-Za-z_:][A-Za-z0-9_:.]*  |  '"' text '"'
    value    := text, or '"' text '"'; inside it \\" is a quote, \\n a line feed, \\\\ a backslash,
                and any other backslash is itself

Commas inside double quotes do not separate matchers. mlmon also takes a dot in a bare name
(``input.country``, its segment fields) and a double-quoted name, as Alertmanager's UTF-8 parser does.
A regex is anchored at both ends (``=~"5.."`` matches ``500``, not ``1500``) and compiled once,
with RE2, the engine (and syntax) of Alertmanager's Go ``regexp``: matching takes time linear in the
value, whatever the pattern, so no log value can stall a check. It is at most ``MAX_REGEX_CHARS`` long;
RE2 refuses look-arounds and back-references. A label the alert lacks matches as the empty string.
Problems raise :class:`MatcherError` with the 1-based column of the cause.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import re2

#: The longest regex a matcher may hold.
MAX_REGEX_CHARS = 1000
OPERATORS = ("=~", "!~", "!=", "=")
_SPACE = "\t\n\f\r "  # Go's \s
_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:.]*")
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused regex is reported as a MatcherError, not logged to stderr


class MatcherError(ValueError):
    """A matcher that does not parse: ``reason``, and ``col``, the 1-based column of the cause in the text."""

    def __init__(self, reason: str, col: int):
        super().__init__(f"{reason} (column {col})")
        self.reason, self.col = reason, col


@dataclass(frozen=True)
class Matcher:
    """One label test; ``matches`` takes an alert's labels."""

    name: str
    op: str
    value: str
    regex: re2._Regexp | None = field(default=None, compare=False, repr=False)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether the labels pass; a missing label is the empty string."""
        got = labels.get(self.name, "")
        if self.op == "=":
            return got == self.value
        if self.op == "!=":
            return got != self.value
        try:
            hit = self.regex.fullmatch(got) is not None  # type: ignore[union-attr]
        except UnicodeEncodeError:  # a lone surrogate in a log value: match the rest of it
            hit = self.regex.fullmatch(got.encode("utf-8", "backslashreplace").decode()) is not None  # type: ignore[union-attr]

        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        name = self.name if _NAME.fullmatch(self.name) else '"' + _escape(self.name) + '"'
        return f'{name}{self.op}"{_escape(self.value)}"'


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether every matcher passes (an empty list passes everything, as in Alertmanager)."""
    return all(m.matches(labels) for m in matchers)


def make_matcher(name: str, op: str, value: str, col: int = 1) -> Matcher:
    """A matcher with its regex compiled (``col`` is where its value starts, for errors)."""
    if op not in OPERATORS:
        raise MatcherError(f"unknown operator {op!r}; use =, !=, =~ or !~", col)
    regex = compile_regex(value, col) if op in ("=~", "!~") else None
    return Matcher(name, op, value, regex)


def compile_regex(pattern: str, col: int = 1) -> "re2._Regexp":
    """``pattern`` compiled with RE2 for a full match; MatcherError, at the column of the cause, when it is
    too long or RE2 refuses it (look-arounds, back-references, a repeat count over 1,000)."""
    if len(pattern) > MAX_REGEX_CHARS:
        raise MatcherError(f"regex is {len(pattern):,} characters long, more than {MAX_REGEX_CHARS:,}", col)
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except UnicodeEncodeError as exc:
        raise MatcherError("regex holds a character that is not valid text (a lone surrogate)", col + exc.start) from None
    except re2.error as exc:
        raise _re2_refusal(pattern, exc, col) from None


def _re2_refusal(pattern: str, exc: Exception, col: int) -> MatcherError:
    """RE2's message (``reason: fragment``) as a MatcherError at the column where the fragment starts."""
    raw = exc.args[0] if exc.args else str(exc)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    reason, _, fragment = text.partition(": ")
    if fragment == "(?P" and "(?P=" in pattern:
        fragment = "(?P="  # RE2 names only the prefix of a named back-reference
    at = max(pattern.rfind(fragment), 0) if fragment else 0  # the last is the one RE2 stopped at
    where = col + at
    if fragment.startswith(("(?=", "(?!", "(?<=", "(?<!")):
        return MatcherError(f"regex uses a look-around {fragment}, which RE2 (Alertmanager's regex engine) "
                            "does not take", where)
    if re.fullmatch(r"\\[1-9]|\\k|\(\?P=", fragment):
        return MatcherError("regex uses a back-reference, which RE2 (Alertmanager's regex engine) does not take",
                            where)
    if reason == "invalid repetition size":
        return MatcherError(f"regex repeats {fragment} more than RE2 allows (1,000 in all, nested counts multiply)",
                            where)
    return MatcherError(f"regex does not compile: {reason}" + (f" at {fragment}" if fragment else ""), where)


def parse_matcher(text: str, offset: int = 0) -> Matcher:
    """One matcher such as ``model="churn"``; ``offset`` is where ``text`` starts in a longer one, for columns."""
    i, n = 0, len(text)
    while i < n and text[i] in _SPACE:
        i += 1
    if i >= n:
        raise MatcherError("empty matcher; write name=value, name!=value, name=~regex or name!~regex", offset + i + 1)
    name_col = i
    if text[i] == '"':
        end = _closing_quote(text, i)
        if end is None:
            raise MatcherError("label name has no closing double quote", offset + i + 1)
        name = _unescape(text[i + 1:end])
        i = end + 1
        if not name:
            raise MatcherError("empty label name", offset + name_col + 1)
    else:
        m = _NAME.match(text, i)
        if not m:
            raise MatcherError(f"a label name starts with a letter, '_' or ':', not {text[i]!r}", offset + i + 1)
        name, i = m.group(), m.end()
    while i < n and text[i] in _SPACE:
        i += 1
    op = next((o for o in OPERATORS if text.startswith(o, i)), None)
    if op is None:
        if text[name_col] == '"' and any(o in name for o in OPERATORS):
            raise MatcherError("the whole matcher is in double quotes; quote only the value, as in "
                               'model="churn"', offset + name_col + 1)
        got = repr(text[i]) if i < n else "the end"
        raise MatcherError(f"expected =, !=, =~ or !~ after the label name {name!r}, found {got}", offset + i + 1)
    i += len(op)
    while i < n and text[i] in _SPACE:
        i += 1
    end = n
    while end > i and text[end - 1] in _SPACE:
        end -= 1
    value = _value(text[i:end], offset + i)
    return make_matcher(name, op, value, offset + i + 1 + text.startswith('"', i))


def _closing_quote(text: str, start: int) -> int | None:
    escaped = False
    for j in range(start + 1, len(text)):
        ch = text[j]
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            return j
    return None


def _value(raw: str, offset: int) -> str:
    """The value with Alertmanager's unescaping; ``offset`` is the 0-based position of ``raw`` in the text."""
    quoted = raw.startswith('"')
    body = raw[1:] if quoted else raw
    base = offset + (1 if quoted else 0)
    out: list[str] = []
    escaped = False
    for j, ch in enumerate(body):
        if escaped:
            escaped = False
            out.append({"n": "\n", '"': '"', "\\": "\\"}.get(ch, "\\" + ch))
            continue
        if ch == "\\":
            if j < len(body) - 1:
                escaped = True
                continue
            out.append("\\")
        elif ch == '"':
            if not quoted or j < len(body) - 1:
                raise MatcherError('value holds an unescaped double quote; write it as \\"', base + j + 1)
            quoted = False
        else:
            out.append(ch)
    if quoted:
        raise MatcherError("value has no closing double quote", offset + 1)
    return "".join(out)


def _unescape(text: str) -> str:
    return _value(text, 0)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def parse_matchers(text: str) -> list[Matcher]:
    """A list such as ``{model="churn", severity=~"warning|critical"}`` (braces optional, a trailing comma allowed)."""
    start, end = 0, len(text)
    if text.startswith("{"):
        start = 1
    if text.endswith("}") and end > start:
        end -= 1
    pieces: list[tuple[int, str]] = []
    inside = escaped = False
    begin = start
    for j in range(start, end):
        ch = text[j]
        if ch == ",":
            if not inside:
                pieces.append((begin, text[begin:j]))
                begin = j + 1
            continue
        if ch == '"':
            if escaped:
                escaped = False
            else:
                inside = not inside
        elif ch == "\\":
            escaped = not escaped
        else:
            escaped = False
    if text[begin:end].strip(_SPACE):
        pieces.append((begin, text[begin:end]))
    return [parse_matcher(piece, at) for at, piece in pieces]


def format_matchers(matchers: Iterable[Matcher]) -> str:
    """``{a="1", b=~"x|y"}``: the list form, which :func:`parse_matchers` reads back."""
    return "{" + ", ".join(str(m) for m in matchers) + "}"
