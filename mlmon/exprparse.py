"""The safe expression language of mlmon: one grammar for alert rules, replay filters and hot-fix conditions.

    expr  := or
    or    := and ("or" and)*
    and   := not ("and" not)*
    not   := "not" not | cmp
    cmp   := sum (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in") sum)?
    sum   := term (("+" | "-") term)*
    term  := unary (("*" | "/" | "%") unary)*
    unary := "-" unary | atom
    atom  := NUMBER | STRING | true | false | null | NAME | NAME "(" args ")" | "(" expr ")" | "[" items "]"

Names are dotted (``latency_p95_ms``, ``input.country``, ``psi.income``). Strings take
double or single quotes. Functions: ``abs(x)``, ``min(a, b, ...)``, ``max(a, b, ...)``.

Size is bounded, so that no expression can exhaust the stack or memory: at most
``MAX_NESTING`` levels of parentheses, brackets, calls, ``not`` and unary ``-`` inside each
other, at most ``MAX_TOKENS`` tokens, a tree at most ``MAX_DEPTH`` operations deep, and
names of at most ``MAX_NAME_PARTS`` dotted parts.
Chains of ``and`` (or of ``or``) are built as balanced trees, so thousands of conditions
joined by ``and`` stay shallow; a long chain of arithmetic counts one level per operator.

Text is parsed into a small tree, never evaluated by Python. The tree has two back ends
with one meaning: :mod:`mlmon.expr` compiles it to a Polars expression, so one rule is
evaluated over every window at once and one filter over every record;
:mod:`mlmon.expr_eval` evaluates it in plain Python over one request, for serving
(:mod:`mlmon.hotfix`). This module imports neither, so serving code never loads Polars.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from mlmon.errors import ConfigError


class ExprError(ConfigError):
    """An expression that does not parse or names something unknown; ``col`` is 1-based."""

    def __init__(self, message: str, col: int, hint: str | None = None):
        super().__init__(message, hint)
        self.col = col


# --- the tree -----------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    col: int


@dataclass(frozen=True)
class Literal(Node):
    value: object


@dataclass(frozen=True)
class Name(Node):
    name: str


@dataclass(frozen=True)
class Call(Node):
    func: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class ListLit(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Unary(Node):
    op: str
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


COMPARISONS = ("==", "!=", "<", "<=", ">", ">=", "in", "not in")
#: Parentheses, brackets, function calls, ``not`` and unary ``-`` nested inside each other.
MAX_NESTING = 32
#: Operations nested inside each other in the parsed tree (``a + b + c`` is two deep).
MAX_DEPTH = 100
#: Names, numbers, strings and operators in one expression.
MAX_TOKENS = 100_000
#: Dotted parts of one name (``input.user.age`` has 3): a field nested deeper cannot be decoded.
MAX_NAME_PARTS = 64
FUNCTIONS = {"abs": (1, 1), "min": (1, 99), "max": (1, 99)}

# --- tokens -------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
  | (?P<op>==|!=|<=|>=|&&|\|\||[<>+\-*/%(),\[\]!=])
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null", "none"}
_ALIASES = {"&&": "and", "||": "or", "!": "not", "=": "=="}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    col: int


def _tokens(text: str) -> Iterator[Token]:
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            if text[pos] in "\"'":
                raise ExprError("unclosed string", pos + 1, "Close it with a matching quote.")
            raise ExprError(f"unexpected character {text[pos]!r}", pos + 1)
        kind = m.lastgroup or ""
        value = m.group()
        if kind == "op" and value in _ALIASES:
            if value == "=":
                raise ExprError("use == to compare, not =", pos + 1)
            kind, value = "name", _ALIASES[value]
        if kind == "name" and value.lower() in _KEYWORDS:
            kind, value = "kw", value.lower()
        if kind == "name" and value.count(".") >= MAX_NAME_PARTS:
            raise ExprError(f"the name {value[:40]}… has {value.count('.') + 1:,} dotted parts; a name may have at most "
                            f"{MAX_NAME_PARTS}", pos + 1)
        if kind != "ws":
            yield Token(kind, value, pos + 1)
        pos = m.end()
    yield Token("end", "", len(text) + 1)


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


# --- parser -------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str):
        self.tokens = []
        for tok in _tokens(text):
            if len(self.tokens) == MAX_TOKENS:
                raise ExprError(f"the expression is too long: more than {MAX_TOKENS:,} names, numbers and operators",
                                tok.col, "Split it into several rules or filters.")
            self.tokens.append(tok)
        self.i = 0
        self.nesting = 0

    @contextmanager
    def nested(self, tok: Token) -> Iterator[None]:
        """One level deeper (a parenthesis, bracket, call, ``not`` or ``-``): the parser recurses once per level."""
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise ExprError(f"the expression is nested too deeply: more than {MAX_NESTING} levels of "
                            "parentheses, brackets, calls, 'not' or '-'", tok.col, "Simplify it.")
        yield
        self.nesting -= 1

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def accept(self, *texts: str) -> Token | None:
        if self.tok.kind in ("op", "kw") and self.tok.text in texts:
            return self.take()
        return None

    def expect(self, text: str) -> Token:
        tok = self.accept(text)
        if tok is None:
            raise ExprError(f"expected {text!r} but found {self._describe()}", self.tok.col)
        return tok

    def _describe(self) -> str:
        return "the end" if self.tok.kind == "end" else repr(self.tok.text)

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise ExprError("the expression is empty", 1)
        node = self.or_()
        if self.tok.kind != "end":
            raise ExprError(f"unexpected {self._describe()}", self.tok.col, "Join conditions with 'and' or 'or'.")
        return node

    def or_(self) -> Node:
        nodes, cols = [self.and_()], []
        while tok := self.accept("or"):
            cols.append(tok.col)
            nodes.append(self.and_())
        return _balanced("or", nodes, cols)

    def and_(self) -> Node:
        nodes, cols = [self.not_()], []
        while tok := self.accept("and"):
            cols.append(tok.col)
            nodes.append(self.not_())
        return _balanced("and", nodes, cols)

    def not_(self) -> Node:
        if tok := self.accept("not"):
            with self.nested(tok):
                return Unary(tok.col, "not", self.not_())
        return self.cmp()

    def cmp(self) -> Node:
        left = self.sum()
        tok = self.tok
        if tok.kind in ("op", "kw") and tok.text in ("==", "!=", "<", "<=", ">", ">=", "in"):
            self.take()
            op = tok.text
        elif tok.kind == "kw" and tok.text == "not" and self.tokens[self.i + 1].text == "in":
            self.take()
            self.take()
            op = "not in"
        else:
            return left
        node = Binary(tok.col, op, left, self.sum())
        if self.tok.text in COMPARISONS and self.tok.kind in ("op", "kw") and self.tok.text != "not":
            raise ExprError("comparisons cannot be chained", self.tok.col, "Write 'a < b and b < c'.")
        return node

    def sum(self) -> Node:
        node = self.term()
        while tok := self.accept("+", "-"):
            node = Binary(tok.col, tok.text, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while tok := self.accept("*", "/", "%"):
            node = Binary(tok.col, tok.text, node, self.unary())
        return node

    def unary(self) -> Node:
        if tok := self.accept("-"):
            with self.nested(tok):
                return Unary(tok.col, "-", self.unary())
        return self.atom()

    def atom(self) -> Node:
        tok = self.tok
        if tok.kind == "number":
            self.take()
            value = float(tok.text) if any(c in tok.text for c in ".eE") else int(tok.text)
            return Literal(tok.col, value)
        if tok.kind == "string":
            self.take()
            return Literal(tok.col, _unquote(tok.text))
        if tok.kind == "kw" and tok.text in ("true", "false", "null", "none"):
            self.take()
            return Literal(tok.col, {"true": True, "false": False}.get(tok.text))
        if tok.kind == "name":
            self.take()
            if open_ := self.accept("("):
                with self.nested(open_):
                    return self.call(tok)
            return Name(tok.col, tok.text)
        if open_ := self.accept("("):
            with self.nested(open_):
                node = self.or_()
                self.expect(")")
                return node
        if open_ := self.accept("["):
            with self.nested(open_):
                items = []
                if not self.accept("]"):
                    items.append(self.sum())
                    while self.accept(","):
                        items.append(self.sum())
                    self.expect("]")
                return ListLit(open_.col, tuple(items))
        raise ExprError(f"expected a value but found {self._describe()}", tok.col)

    def call(self, name: Token) -> Node:
        if name.text not in FUNCTIONS:
            raise ExprError(f"unknown function {name.text!r}", name.col, f"Functions: {', '.join(FUNCTIONS)}.")
        args = []
        if not self.accept(")"):
            args.append(self.sum())
            while self.accept(","):
                args.append(self.sum())
            self.expect(")")
        lo, hi = FUNCTIONS[name.text]
        if not lo <= len(args) <= hi:
            raise ExprError(f"{name.text}() takes {lo if lo == hi else f'{lo} or more'} argument{'s' if hi > 1 else ''}", name.col)
        return Call(name.col, name.text, tuple(args))


def _balanced(op: str, nodes: list[Node], cols: list[int]) -> Node:
    """``a op b op c ...`` as a balanced tree, in order; ``and`` and ``or`` are associative, also on unknowns.

    Three operands give ``(a op b) op c``, as a left-to-right parse would.
    """
    if len(nodes) == 1:
        return nodes[0]
    mid = (len(nodes) + 1) // 2
    return Binary(cols[mid - 1], op, _balanced(op, nodes[:mid], cols[:mid - 1]), _balanced(op, nodes[mid:], cols[mid:]))


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, ListLit):
        return node.items
    return ()


def _check_depth(root: Node) -> None:
    """Refuse a tree deeper than MAX_DEPTH, so that the recursive walks below cannot overflow the stack."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExprError(f"the expression is too deep: more than {MAX_DEPTH} operations inside each other",
                            node.col, "Split long chains of + - * / % or nested parentheses into several rules.")
        stack.extend((child, depth + 1) for child in _children(node))


def parse(text: str) -> Node:
    """The tree of ``text``; raises ExprError with the 1-based column of the problem.

    The tree is at most MAX_DEPTH deep, so every function of this module can walk it.
    """
    if not isinstance(text, str):
        raise ExprError("an expression must be a string", 1)
    try:
        node = _Parser(text).parse()
    except RecursionError:  # only when called from deep in the stack already; MAX_NESTING bounds the parser
        raise ExprError("the expression is nested too deeply", 1, "Simplify it.") from None
    _check_depth(node)
    return node


# --- analysis -----------------------------------------------------------------------


def names(node: Node) -> list[Name]:
    """Every name the expression reads, in order."""
    out: list[Name] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Name):
            out.append(n)
        stack.extend(reversed(_children(n)))
    return out


def is_boolean(node: Node, schema: dict | None = None) -> bool:
    """Whether ``node`` is a condition: a comparison, and/or/not, true/false, or a Boolean column."""
    if isinstance(node, Binary):
        return node.op in ("and", "or") or node.op in COMPARISONS
    if isinstance(node, Unary):
        return node.op == "not"
    if isinstance(node, Name):
        return bool(schema) and str(schema.get(node.name)) == "Boolean"  # a Polars dtype, or the text "Boolean"
    return isinstance(node, Literal) and isinstance(node.value, bool)


def check_types(node: Node, schema: dict | None = None) -> None:
    """Reject what parses but cannot mean anything: ``not x``, ``x and y`` on numbers, lists outside ``in``."""
    if isinstance(node, Unary):
        if node.op == "not" and not is_boolean(node.operand, schema):
            raise ExprError("'not' needs a condition, such as not (x > 1)", node.col)
        if node.op == "-" and is_boolean(node.operand, schema):
            raise ExprError("'-' needs a number, not a condition", node.col)
        check_types(node.operand, schema)
    elif isinstance(node, Binary):
        if node.op in ("and", "or"):
            for side in (node.left, node.right):
                if not is_boolean(side, schema):
                    raise ExprError(f"'{node.op}' joins conditions; {unparse(side)} is not one", side.col,
                                    "Compare it with something, e.g. x > 0.")
        elif node.op in ("+", "-", "*", "/", "%", "<", "<=", ">", ">="):
            for side in (node.left, node.right):
                if is_boolean(side, schema):
                    raise ExprError(f"'{node.op}' needs values, not the condition {unparse(side)}", side.col)
        if node.op not in ("in", "not in") and isinstance(node.right, ListLit):
            raise ExprError("a list can only follow 'in'", node.right.col)
        if isinstance(node.left, ListLit):
            raise ExprError("a list can only follow 'in'", node.left.col)
        check_types(node.left, schema)
        if not isinstance(node.right, ListLit):
            check_types(node.right, schema)
    elif isinstance(node, Call):
        for arg in node.args:
            if is_boolean(arg, schema):
                raise ExprError(f"{node.func}() needs numbers, not the condition {unparse(arg)}", arg.col)
            check_types(arg, schema)
    elif isinstance(node, ListLit):
        raise ExprError("a list can only follow 'in'", node.col)


_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


@dataclass(frozen=True)
class Measure:
    """What an alert reports: an expression's value and whether larger values are worse."""

    node: Node
    larger_is_worse: bool


def measure(node: Node) -> Measure | None:
    """The value an alert reports: the non-constant side of the first comparison, left to right.

    ``100 < latency_p95_ms`` reports latency_p95_ms; under ``not`` the direction flips.
    """

    def walk(n: Node, negated: bool) -> Measure | None:
        if isinstance(n, Unary) and n.op == "not":
            return walk(n.operand, not negated)
        if isinstance(n, Binary):
            if n.op in ("and", "or"):
                return walk(n.left, negated) or walk(n.right, negated)
            if n.op in COMPARISONS:
                side, op = n.left, n.op
                if isinstance(n.left, Literal) and not isinstance(n.right, (Literal, ListLit)):
                    side, op = n.right, _FLIP.get(n.op, n.op)
                larger = op not in ("<", "<=")
                return Measure(side, larger != negated)
        return None

    return walk(node, False)


def first_comparison(node: Node) -> Binary | None:
    """The first comparison, left to right."""
    if isinstance(node, Binary):
        if node.op in COMPARISONS:
            return node
        return first_comparison(node.left) or first_comparison(node.right)
    if isinstance(node, Unary):
        return first_comparison(node.operand)
    return None


def unparse(node: Node) -> str:
    """Readable text for a tree (for messages)."""
    if isinstance(node, Literal):
        if isinstance(node.value, str):
            return '"' + node.value.replace('"', '\\"') + '"'
        if node.value is None or isinstance(node.value, bool):
            return {True: "true", False: "false", None: "null"}[node.value]
        return str(node.value)
    if isinstance(node, Name):
        return node.name
    if isinstance(node, Call):
        return f"{node.func}({', '.join(unparse(a) for a in node.args)})"
    if isinstance(node, ListLit):
        return "[" + ", ".join(unparse(a) for a in node.items) + "]"
    if isinstance(node, Unary):
        return f"not {unparse(node.operand)}" if node.op == "not" else f"-{unparse(node.operand)}"
    assert isinstance(node, Binary)
    return f"({unparse(node.left)} {node.op} {unparse(node.right)})"
