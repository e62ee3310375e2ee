"""The ``hotfix.yaml`` format: parse and validate, every problem at ``file:line:col`` (never evaluate here).

::

    rules:
      - name: block-test-country          # unique, non-empty
        when: input.country == "XX"       # a condition over the request (mlmon's expression language)
        respond: {label: 0, score: 0.0}   # a fixed answer ...
      - name: big-amounts
        when: input.amount > 1e6
        fallback: scorers.rules:score     # ... or module:function, called as predict would be
        enabled: false                    # optional; true by default

A condition reads the request (``input.x``, ``input.a.b``) and the fields known before the
model answers (``model``, ``model_version``, ``endpoint``: given to the layer); ``output.*`` is
not known yet, so it is refused. Unknown keys are errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlmon.errors import ConfigError
from mlmon.expr_eval import compile_py
from mlmon.exprparse import ExprError, Node, is_boolean, names, parse
from mlmon.yamlfile import (
    Located,
    did_you_mean,
    load_yaml,
    parse_yaml,
    problem_position,
)

RULE_KEYS = ("name", "when", "respond", "fallback", "enabled", "description")
#: Record fields a hot fix can read: the request's, and those known before the model answers.
KNOWN_BEFORE_ANSWER = ("model", "model_version", "endpoint")
INPUT_PREFIX = "input."
FALLBACK_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")
WHAT = "hot-fix file"


@dataclass(frozen=True)
class Hotfix:
    """One rule: when ``matches(record)`` holds, answer ``respond`` (a fixed value) or call ``fallback``."""

    name: str
    when: str
    node: Node
    matches: Callable[[dict], bool]
    respond: Any = None
    fallback: str | None = None
    enabled: bool = True
    where: str = ""

    @property
    def kind(self) -> str:
        return "fallback" if self.fallback is not None else "respond"


@dataclass(frozen=True)
class HotfixSet:
    path: str
    rules: tuple[Hotfix, ...]

    @property
    def enabled(self) -> tuple[Hotfix, ...]:
        return tuple(r for r in self.rules if r.enabled)

    def summary(self) -> str:
        """``hotfix.yaml: 3 rules (2 enabled), no problems``."""
        n, on = len(self.rules), len(self.enabled)
        return f"{self.path}: {n} hot-fix rule{'s' if n != 1 else ''} ({on} enabled), no problems"


def field_problem(name: str) -> str | None:
    """Why a hot fix's ``when`` cannot read ``name``, or None."""
    if name.startswith(INPUT_PREFIX) and len(name) > len(INPUT_PREFIX):
        return None
    if name in KNOWN_BEFORE_ANSWER:
        return None
    if name.startswith("output."):
        return f"{name!r} is not known when a hot fix decides: it answers before the model"
    if name.startswith("request."):
        return f"unknown field {name!r}; did you mean {'input.' + name[len('request.'):]!r}?"
    from mlmon.logs.mapping import CANONICAL_FIELDS

    if name in CANONICAL_FIELDS:
        return f"{name!r} is not known when a hot fix decides: only the request, {', '.join(KNOWN_BEFORE_ANSWER)} are"
    return f"unknown field {name!r}{did_you_mean(name, KNOWN_BEFORE_ANSWER)}; the request's fields are input.FIELD"


class _Problems:
    def __init__(self, doc: Located):
        self.doc = doc
        self.items: list[str] = []

    def add(self, where: str, rule: str | None, message: str) -> None:
        self.items.append(f"{where}: " + (f'hot fix "{rule}": ' if rule else "") + message)


def _condition(p: _Problems, keys: tuple, label: str, text: Any) -> Node | None:
    if not isinstance(text, str) or not text.strip():
        p.add(p.doc.where(*keys), label, "'when' must be a non-empty string holding a condition")
        return None
    try:
        node = parse(text)
        compile_py(node)
    except ExprError as exc:
        p.add(p.doc.where_in_value(keys, exc.col), label, f"when does not parse: {exc}")
        return None
    ok = True
    for name in names(node):
        problem = field_problem(name.name)
        if problem is not None:
            p.add(p.doc.where_in_value(keys, name.col), label, problem)
            ok = False
    if ok and not is_boolean(node):
        p.add(p.doc.where(*keys), label, "'when' must be a condition (a comparison, and/or/not), e.g. input.x > 1")
        return None
    return node if ok else None


def _one(p: _Problems, i: int, item: Any, seen: dict[str, str]) -> Hotfix | None:
    doc, base = p.doc, ("rules", i)
    if not isinstance(item, dict):
        p.add(doc.where(*base), None, f"rule #{i + 1} must be a mapping with name, when and respond or fallback")
        return None
    name = item.get("name")
    label = name if isinstance(name, str) and name.strip() else f"#{i + 1}"
    before = len(p.items)
    for key in item:
        if key not in RULE_KEYS:
            p.add(doc.where(*base, key), label, f"unknown key {key!r}{did_you_mean(str(key), RULE_KEYS)}")
    for key in ("name", "when"):
        if key not in item:
            p.add(doc.where(*base), label, f"missing required key {key!r}")
    if "name" in item:
        if isinstance(name, (bool, int, float)):
            p.add(doc.where(*base, "name"), label, f"'name' must be text; YAML reads this one as {name!r}, so quote it")
        elif not isinstance(name, str) or not name.strip():
            p.add(doc.where(*base, "name"), label, "'name' must be a non-empty string")
        elif name in seen:
            p.add(doc.where(*base, "name"), label, f"duplicate name (first defined at {seen[name]})")
        else:
            seen[name] = doc.where(*base, "name")
    node = _condition(p, (*base, "when"), label, item["when"]) if "when" in item else None
    answers = [k for k in ("respond", "fallback") if k in item]
    if not answers:
        p.add(doc.where(*base), label, "give 'respond' (a fixed answer) or 'fallback' (module:function)")
    elif len(answers) == 2:
        p.add(doc.where(*base, "fallback"), label, "give 'respond' or 'fallback', not both")
    fallback = item.get("fallback")
    if "fallback" in item and (not isinstance(fallback, str) or not FALLBACK_PATTERN.fullmatch(fallback)):
        p.add(doc.where(*base, "fallback"), label,
              f"'fallback' must be module:function, such as scorers.rules:score, not {fallback!r}")
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        p.add(doc.where(*base, "enabled"), label, f"'enabled' must be true or false, not {enabled!r}")
    if "description" in item and not isinstance(item["description"], str):
        p.add(doc.where(*base, "description"), label, "'description' must be a string")
    if len(p.items) > before or node is None:
        return None
    return Hotfix(name, item["when"], node, compile_py(node), item.get("respond"), fallback, enabled,
                  doc.where(*base, "name"))


def hotfixes_from_doc(doc: Located) -> HotfixSet:
    """Validate a parsed hot-fix document; ConfigError lists every problem (``details``)."""
    data = doc.data
    if not isinstance(data, dict) or "rules" not in data:
        near = did_you_mean(str(next(iter(data), "")), ("rules",)) if isinstance(data, dict) and data else ""
        raise ConfigError(f"{doc.where()}: a {WHAT} needs a top-level 'rules:' list{near}",
                          "See the README, section 'Hot fixes'.")
    p = _Problems(doc)
    for key in data:
        if key != "rules":
            p.add(doc.where(key), None, f"unknown top-level key {key!r}{did_you_mean(str(key), ('rules',))}")
    items = data["rules"]
    if items is None:
        items = []  # ``rules:`` with nothing under it: no hot fix, as ops switch every fix off
    if not isinstance(items, list):
        raise ConfigError(f"{doc.where('rules')}: 'rules' must be a list of hot fixes",
                          "Start each with '- name: ...'.")
    for path, line, col in doc.duplicates:
        p.add(f"{doc.path}:{line}:{col}", None, f"key {path[-1]!r} is given twice; only the last one would count")
    seen: dict[str, str] = {}
    rules = [r for r in (_one(p, i, item, seen) for i, item in enumerate(items)) if r is not None]
    if p.items:
        p.items.sort(key=problem_position)
        n = len(p.items)
        raise ConfigError(f"{WHAT} {doc.path} has {n} problem{'s' if n > 1 else ''}",
                          "Fix the lines listed above; 'mlmon hotfix validate' checks a file.", details=p.items)
    return HotfixSet(doc.path, tuple(rules))


def load_hotfixes(path: str | Path) -> HotfixSet:
    """The validated hot fixes of a YAML file; ConfigError lists every problem with its line."""
    return hotfixes_from_doc(load_yaml(path, WHAT))


def hotfixes_from_text(text: str, name: str = "<hotfix>") -> HotfixSet:
    return hotfixes_from_doc(parse_yaml(text, name, WHAT))
