"""The template language of a rule's annotations (``summary``, ``description``, ``runbook_url``, …).

A template is text with actions between ``{{`` and ``}}``. It is parsed once, when the rules
file is validated (every problem with its column), and rendered for each alert. Grammar::

    action   := "{{" ["-" SPACE] pipeline [SPACE "-"] "}}"  |  "{{/*" comment "*/}}"
    pipeline := value ["|" FILTER]  |  FILTER value
              | value "|" printf FORMAT  |  printf FORMAT value
    value    := "$value" | ".Value"                      the worst window's value
              | "$labels." LABEL | ".Labels." LABEL      any label of the alert
              | NAME                                     mlmon's placeholders: value, rule, severity,
                                                         window_start, window_end, a segment field
                                                         or a metric name
    FILTER   := humanize | humanize1024 | humanizePercentage | humanizeDuration
    FORMAT   := a quoted string with one verb: %f %e %E %g %G (each with an optional precision, %.2f), %v or %s

This is the subset of Go's text/template that Prometheus alert annotations use, and it renders
as Prometheus does: the filters follow Prometheus's ``template/template.go`` digit for digit,
and ``{{ $value }}`` prints a number as Go's ``%v`` does. Everything else Go or Prometheus
offers (``range``, ``if``, ``query``, other printf verbs, variables, constants) is refused with
its column: a template is data from a rules file, and nothing in it is ever executed; a printf
format is parsed by mlmon, which formats the value itself (never with Python's ``%``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

#: The filters, in the order the error messages name them.
FILTERS = ("humanize", "humanizePercentage", "humanizeDuration", "humanize1024")
#: What may stand after ``|``: the filters, and printf with a format.
FUNCTIONS = (*FILTERS, "printf")
_FILTER_HINT = 'use humanize, humanizePercentage, humanizeDuration or printf "%.2f"'
_KEYWORDS = ("range", "if", "else", "end", "with", "define", "template", "block", "break", "continue", "nil")
_NAME = r"[A-Za-z_][A-Za-z0-9_.]*"
_TOKEN = re.compile(
    rf"""(?P<space>\s+)|(?P<pipe>\|)|(?P<var>\$[A-Za-z0-9_.]*)|(?P<field>\.[A-Za-z0-9_.]*)|(?P<name>{_NAME})"""
    r"""|(?P<string>"(?:[^"\\]|\\.)*"|`[^`]*`)|(?P<number>[-+]?[0-9][0-9A-Za-z_.+-]*)|(?P<other>:=|.)""",
    re.DOTALL,
)


@dataclass(frozen=True)
class Ref:
    """What an action prints: ``kind`` is ``value`` ($value), ``label`` ($labels.NAME) or ``name`` (a placeholder)."""

    kind: str
    name: str
    col: int


@dataclass(frozen=True)
class Printf:
    """A ``printf`` format with one verb: ``prefix``, the verb (``f``, ``e``, ``g``, ``v``, ``s``) and its precision,
    ``suffix``. mlmon formats the value itself; the format text never reaches Python's ``%``."""

    text: str
    prefix: str
    verb: str
    precision: int | None
    suffix: str


@dataclass(frozen=True)
class Action:
    ref: Ref
    filter: str | None = None
    printf: Printf | None = None

    @property
    def number_filter(self) -> str | None:
        """How the template names a filter that needs a number (``humanize``, ``printf "%.2f"``), or None."""
        if self.printf is not None:
            return f"printf {self.printf.text!r}" if self.printf.verb not in "sv" else None
        return self.filter


@dataclass(frozen=True)
class Template:
    """A parsed template: literal text and actions, in order."""

    text: str
    parts: tuple[str | Action, ...]

    def refs(self) -> list[tuple[Ref, str | None]]:
        """Each value the template prints, with the filter that needs it to be a number (or None)."""
        return [(p.ref, p.number_filter) for p in self.parts if isinstance(p, Action)]


@dataclass(frozen=True)
class Problem:
    col: int
    message: str


def parse_template(text: str) -> tuple[Template, list[Problem]]:
    """The template of ``text`` and every problem in it, each at its 1-based column in ``text``."""
    parts: list[str | Action] = []
    problems: list[Problem] = []
    pos, trim_next = 0, False
    while True:
        start = text.find("{{", pos)
        literal = text[pos:] if start < 0 else text[pos:start]
        if trim_next:
            literal = literal.lstrip()
        if start < 0:
            parts.append(literal)
            break
        end = _closing(text, start + 2)
        if end < 0:
            quote = -end - 2  # where an unclosed quote starts, if one hides the "}}"
            problems.append(Problem(quote + 1, f"the quote {text[quote]} is not closed") if end < -1 and
                            "}}" in text[quote:] else Problem(start + 1, "'{{' is not closed by '}}'"))
            break
        lo, hi = start + 2, end
        if re.match(r"-\s", text[lo:hi + 1]):
            literal, lo = literal.rstrip(), lo + 1
        trim_next = bool(re.search(r"\s-$", text[lo:hi]))
        if trim_next:
            hi -= 1
        parts.append(literal)
        body = text[lo:hi]
        if not re.fullmatch(r"\s*/\*.*\*/\s*", body, re.DOTALL):  # a comment prints nothing
            action = _action(body, lo, problems)
            if action is not None:
                parts.append(action)
        pos = end + 2
    return Template(text, tuple(p for p in parts if p != "")), problems


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`', re.DOTALL)


def _closing(text: str, pos: int) -> int:
    """Where the ``}}`` that closes the action from ``pos`` starts (quoted strings skipped); -1 when there is none,
    ``-2 - i`` when a quote at ``i`` is never closed."""
    while pos < len(text):
        char = text[pos]
        if text.startswith("}}", pos):
            return pos
        if char in "\"`":
            m = _QUOTED.match(text, pos)
            if m is None:
                return -pos - 2
            pos = m.end()
        else:
            pos += 1
    return -1


def _tokens(body: str, offset: int) -> list[tuple[str, str, int]]:
    """(kind, text, 1-based column in the template) of each token of an action's body."""
    return [(m.lastgroup, m.group(), offset + m.start() + 1)
            for m in _TOKEN.finditer(body) if m.lastgroup != "space"]


def _action(body: str, offset: int, problems: list[Problem]) -> Action | None:
    """The action of ``body`` (the text between the delimiters, at ``offset``), or None after adding its problems."""
    tokens = _tokens(body, offset)
    if not tokens:
        problems.append(Problem(offset - 1, "empty template action '{{ }}'"))
        return None
    commands: list[list[tuple[str, str, int]]] = [[]]
    for token in tokens:
        if token[0] == "pipe":
            commands.append([])
        else:
            commands[-1].append(token)
    before = len(problems)
    first, *filters = commands
    ref: Ref | None = None
    chosen: list[tuple[str, int, Printf | None]] = []
    if not first:
        problems.append(Problem(tokens[0][2], "a template action must start with a value, such as $value"))
    elif first[0][0] == "name" and (first[0][1] in FUNCTIONS or len(first) > 1):
        kind, word, col = first[0]
        if _function_problem(word, col, problems):
            arguments = 2 if word == "printf" else 1
            if len(first) != 1 + arguments:
                example = 'printf "%.2f" $value' if word == "printf" else f"{word} $value"
                problems.append(Problem(col, f"{word} takes {'a format and ' if arguments == 2 else ''}one value, "
                                             f"e.g. {{{{ {example} }}}}"))
            else:
                fmt = _printf_format(first[1], problems) if word == "printf" else None
                chosen.append((word, col, fmt))
                ref = _value(first[-1], problems)
    else:
        ref = _value(first[0], problems)
        for extra in first[1:]:
            problems.append(Problem(extra[2], f"unexpected {extra[1]!r} after the value; "
                                              f"use a filter: {{{{ $value | humanize }}}}"))
    for command in filters:
        if not command:
            problems.append(Problem(tokens[-1][2], f"'|' must be followed by a filter; {_FILTER_HINT}"))
            continue
        kind, word, col = command[0]
        if kind != "name":
            problems.append(Problem(col, f"'|' must be followed by a filter, not {word!r}; {_FILTER_HINT}"))
        elif _function_problem(word, col, problems):
            if word == "printf" and len(command) == 2:
                chosen.append((word, col, _printf_format(command[1], problems)))
            elif word == "printf":
                problems.append(Problem(col, "printf after '|' takes a format, e.g. {{ $value | printf \"%.2f\" }}"))
            elif len(command) > 1:
                problems.append(Problem(command[1][2], f"{word} takes no arguments after '|'"))
            else:
                chosen.append((word, col, None))
    if len(chosen) > 1:
        problems.append(Problem(chosen[1][1], "a filter prints text, so a value takes one filter at most"))
    if len(problems) > before or ref is None:
        del problems[before + 1:]  # one problem per action: the rest follow from the first
        return None
    if not chosen:
        return Action(ref)
    name, _, fmt = chosen[0]
    return Action(ref, name, fmt)


#: A verb mlmon's printf takes: ``%%``, or one of f e E g G with an optional precision, or v s.
_VERB = re.compile(r"%(?:(%)|(?:\.([0-9]{1,2}))?([feEgG])|([vs]))")
_GO_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"'}


def _printf_format(token: tuple[str, str, int], problems: list[Problem]) -> Printf | None:
    """The format of a ``printf`` (a quoted string with one verb), or None after adding why not."""
    kind, word, col = token
    if kind != "string":
        problems.append(Problem(col, 'printf needs its format in quotes, e.g. printf "%.2f"'))
        return None
    text = word[1:-1]
    if word[0] == '"':
        bad = re.search(r'\\[^nt"\\]', text)
        if bad:
            problems.append(Problem(col, f"the escape '{bad.group()}' is not supported in a printf format; "
                                         f"use \\n, \\t, \\\" or \\\\"))
            return None
        text = re.sub(r'\\(.)', lambda m: _GO_ESCAPES[m.group(1)], text)
    pieces: list[str] = []
    verb: tuple[int, str, int | None] | None = None
    pos = 0
    while pos < len(text):
        if text[pos] != "%":
            pieces.append(text[pos])
            pos += 1
            continue
        m = _VERB.match(text, pos)
        if m is None:
            problems.append(Problem(col, f"printf format {text!r}: only %f, %e, %g (each with a precision such as "
                                         f"%.2f), %v, %s and %% are supported"))
            return None
        if m.group(1):
            pieces.append("%")
        elif verb is not None:
            problems.append(Problem(col, f"printf format {text!r} has more than one verb; it formats one value"))
            return None
        else:
            precision = m.group(2)
            verb = (len(pieces), m.group(3) or m.group(4), int(precision) if precision else None)
        pos = m.end()
    if verb is None:
        problems.append(Problem(col, f"printf format {text!r} has no verb; use one such as %.2f"))
        return None
    at, letter, precision = verb
    return Printf(text, "".join(pieces[:at]), letter, precision, "".join(pieces[at:]))


def _function_problem(word: str, col: int, problems: list[Problem]) -> bool:
    """Whether ``word`` is a filter mlmon has; else add why not."""
    if word in FUNCTIONS:
        return True
    if word in _KEYWORDS:
        problems.append(Problem(col, f"template action '{word}' is not supported; a template prints values "
                                     f"({{{{ $value }}}}, {{{{ $labels.NAME }}}}) and filters them"))
    else:
        problems.append(Problem(col, f"template function {word!r} is not supported; {_FILTER_HINT}"))
    return False


def _value(token: tuple[str, str, int], problems: list[Problem]) -> Ref | None:
    kind, word, col = token
    if kind == "name":
        if word in _KEYWORDS:
            _function_problem(word, col, problems)
            return None
        return Ref("name", word, col)
    if kind in ("var", "field"):
        # Prometheus defines $value and $labels as .Value and .Labels; both spellings work.
        m = re.match(r"\.(Value|Labels)(?=\.|$)", word) if kind == "field" else None
        spelled = "$" + m.group(1).lower() + word[m.end():] if m else word
        head, dot, rest = spelled.partition(".")
        if head == "$value" and not dot:
            return Ref("value", "value", col)
        if head == "$labels":
            if rest and re.fullmatch(_NAME, rest):
                return Ref("label", rest, col)
            problems.append(Problem(col, "$labels needs a label name, e.g. {{ $labels.model }}"))
            return None
        if head in ("$externalLabels", "$externalURL"):
            problems.append(Problem(col, f"template variable '{head}' is not supported: mlmon has no external "
                                         f"labels or URL; use $value or $labels.NAME"))
            return None
        what = "variable" if kind == "var" else "field"
        problems.append(Problem(col, f"unknown template {what} {word!r}; use $value or $labels.NAME"))
        return None
    if kind in ("string", "number"):
        problems.append(Problem(col, f"a constant such as {word} is not supported in a template; "
                                     f"write text outside '{{{{ }}}}'"))
        return None
    if word in (":=", "="):
        problems.append(Problem(col, "variable assignment is not supported in a template; use $value or $labels.NAME"))
    else:
        problems.append(Problem(col, f"unexpected {word!r} in a template action; use a value such as $value, "
                                     f"$labels.NAME or a placeholder, and at most one filter"))
    return None


# --- rendering -----------------------------------------------------------------------------------


def render(template: Template, value: Any, labels: Mapping[str, str], lookup: Callable[[str], Any],
           format_name: Callable[[Any], str]) -> str:
    """The text of ``template`` for one alert.

    ``value`` is ``$value``; ``labels`` the alert's labels; ``lookup`` gives a placeholder's value
    (a number, text or None), printed with ``format_name`` when no filter applies. A filter given
    text that is not a number prints ``<error expanding template: ...>``, as Prometheus does.
    """
    out = []
    for part in template.parts:
        if isinstance(part, str):
            out.append(part)
            continue
        ref = part.ref
        raw = value if ref.kind == "value" else labels.get(ref.name, "") if ref.kind == "label" else lookup(ref.name)
        if part.printf is not None:
            out.append(go_printf(part.printf, raw))
        elif part.filter is not None:
            out.append(apply_filter(part.filter, raw))
        elif ref.kind == "value":
            out.append(go_value(raw))
        elif ref.kind == "label":
            out.append(str(raw))
        else:
            out.append(format_name(raw))
    return "".join(out)


def apply_filter(name: str, raw: Any) -> str:
    """``raw`` through the filter ``name``; a missing value (None) prints ``null``."""
    if raw is None:
        return "null"
    number = to_float(raw)
    if number is None:
        return f"<error expanding template: {name} cannot read {str(raw)!r} as a number>"
    return {"humanize": humanize, "humanize1024": humanize1024, "humanizePercentage": humanize_percentage,
            "humanizeDuration": humanize_duration}[name](number)


def go_printf(fmt: Printf, raw: Any) -> str:
    """Go's ``fmt.Sprintf(format, value)`` for the one-verb formats mlmon accepts, the value as Prometheus's
    float64 (text for ``%s`` and ``%v``); a verb that does not fit the value prints Go's ``%!f(string=v2)``."""
    if raw is None:
        return "null"
    verb, precision = fmt.verb, fmt.precision
    number = None if isinstance(raw, bool) or not isinstance(raw, (int, float)) else float(raw)
    if number is None:
        text = str(raw)
        body = text if verb in "sv" else f"%!{verb}(string={text})"
    elif verb == "v":
        body = go_value(number)
    elif verb == "s":
        body = f"%!s(float64={go_value(number)})"
    elif math.isnan(number) or math.isinf(number):
        body = go_g4(number)
    elif verb in "gG" and precision is None:
        body = go_value(number).replace("e", "E") if verb == "G" else go_value(number)
    else:
        body = format(number, f".{6 if precision is None else precision}{verb}")
    return fmt.prefix + body + fmt.suffix


_GO_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_GO_SPECIAL = re.compile(r"[+-]?(?:inf|infinity)|nan", re.IGNORECASE)


def to_float(raw: Any) -> float | None:
    """``raw`` as Prometheus's ConvertToFloat reads it (numbers, and decimal text as Go's ParseFloat), else None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        return float(raw)
    if isinstance(raw, str):
        if _GO_SPECIAL.fullmatch(raw):
            return float(raw)
        if _GO_FLOAT.fullmatch(raw):
            number = float(raw)
            return None if math.isinf(number) else number  # out of range: an error in Go
    return None


def go_g4(v: float) -> str:
    """Go's ``fmt.Sprintf("%.4g", v)``."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return format(v, ".4g")


def go_value(raw: Any) -> str:
    """A value as Go's ``%v`` prints it: floats with the fewest digits that read back, ``1e+06`` from a million."""
    if raw is None:
        return "null"
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return str(raw)
    if isinstance(raw, int):
        return str(raw)
    if math.isnan(raw) or math.isinf(raw):
        return go_g4(raw)
    if raw == 0:
        return "-0" if math.copysign(1, raw) < 0 else "0"
    sign, digits, exponent = Decimal(repr(raw)).as_tuple()
    text = "".join(map(str, digits))
    point = len(text) + exponent  # digits before the decimal point
    text = text.lstrip("0")
    point -= len("".join(map(str, digits))) - len(text)
    text = text.rstrip("0")
    minus = "-" if sign else ""
    exp = point - 1
    if exp < -4 or exp >= 6:  # Go: shortest digits decide between %e and %f as with precision 6
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{text}"
    if point >= len(text):
        return minus + text + "0" * (point - len(text))
    return f"{minus}{text[:point]}.{text[point:]}"


def humanize(v: float) -> str:
    """Prometheus's ``humanize``: SI prefixes, 4 significant digits (1234567 → ``1.235M``, 0.12 → ``120m``)."""
    if v == 0 or math.isnan(v) or math.isinf(v):
        return go_g4(v)
    prefix = ""
    if abs(v) >= 1:
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix, v = p, v / 1000
        return go_g4(v) + prefix
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return go_g4(v) + prefix


def humanize1024(v: float) -> str:
    """Prometheus's ``humanize1024``: binary prefixes (1048576 → ``1Mi``); values up to 1 as they are."""
    if abs(v) <= 1 or math.isnan(v) or math.isinf(v):
        return go_g4(v)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(v) < 1024:
            break
        prefix, v = p, v / 1024
    return go_g4(v) + prefix


def humanize_percentage(v: float) -> str:
    """Prometheus's ``humanizePercentage``: a ratio as a percentage, 4 significant digits (0.1234567 → ``12.35%``)."""
    return go_g4(v * 100) + "%"


def humanize_duration(v: float) -> str:
    """Prometheus's ``humanizeDuration``: seconds as ``1d 1h 0m 0s``, ``14m 59s``, ``1.234s`` or ``100ms``."""
    if math.isnan(v) or math.isinf(v):
        return go_g4(v)
    if v == 0:
        return go_g4(v) + "s"
    if abs(v) >= 1:
        sign = "-" if v < 0 else ""
        v = abs(v)
        whole = int(v)
        seconds, minutes, hours, days = whole % 60, whole // 60 % 60, whole // 3600 % 24, whole // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{go_g4(v)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return f"{go_g4(v)}{prefix}s"
