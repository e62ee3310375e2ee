"""Make sure an answer is a JSON value before it is compared, redacted and written.

An in-process model can return anything (a datetime, a Decimal, a set, a dict that
contains itself), and any target can answer with JSON nested thousands of levels deep.
Such an answer is an error outcome with a one-line reason, never a crash later on.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from mlmon.replay.messages import exception_text
from mlmon.replay.targets import Reply

#: Deeper answers are errors: comparing, redacting and writing them recurse once per level.
#: The log reader takes values about as deep, so every logged response can be compared.
MAX_DEPTH = 128
#: Python writes integers of more than 4,300 digits only on request; such an answer is an error.
_MAX_INT_BITS = 14_000

_SCALARS = frozenset({str, int, float, bool, type(None)})


def _path(where: tuple | None) -> str:
    keys = []
    while where is not None:
        where, key, _ = where
        keys.append(key)
    out = ""
    for key in reversed(keys):
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out or "$"


def _cycle(where: tuple | None, item: Any) -> tuple | None:
    """The first place on the way down to ``item`` that holds a container already met above it."""
    links = []
    while where is not None:
        links.append(where)
        where = where[0]
    links.reverse()
    locations = [None, *links]
    values = [link[2] for link in links] + [item]  # a link's container is the value at the link above
    seen: set[int] = set()
    for location, value in zip(locations, values):
        if id(value) in seen:
            return location
        seen.add(id(value))
    return None


def json_problem(value: Any, max_depth: int = MAX_DEPTH) -> tuple[str | None, bool]:
    """Why ``value`` is not a JSON value (None when it is), and whether it holds Python types JSON
    spells differently (tuples, int keys, subclasses such as numpy.float64), which ``as_json`` converts."""
    convert = False
    # Each entry: the value, its depth, and where it is as a linked (parent, key, container) chain.
    stack: list[tuple[Any, int, tuple | None]] = [(value, 1, None)]
    while stack:
        item, depth, where = stack.pop()
        kind = type(item)
        if kind in _SCALARS:
            if kind is int and item.bit_length() > _MAX_INT_BITS:
                return f"the integer at {_path(where)} is too large to write", convert
            continue
        if isinstance(item, (dict, list, tuple)):
            if depth > max_depth:
                again = _cycle(where, item)
                if again is not None:
                    return f"it contains itself (at {_path(again)})", convert
                return f"it is nested more than {max_depth} levels deep", convert
            if kind is not dict and kind is not list:
                convert = True
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, sub in pairs:
                if type(key) is not str and isinstance(item, dict):
                    if key is not None and not isinstance(key, (str, int, float)):
                        return f"a key of type {type(key).__name__} at {_path(where)}", convert
                    convert = True
                sub_kind = type(sub)
                if sub_kind in _SCALARS and (sub_kind is not int or sub.bit_length() <= _MAX_INT_BITS):
                    continue  # most values: no stack entry
                stack.append((sub, depth + 1, (where, key, item)))
            continue
        if isinstance(item, (str, int, float)):
            convert = True
            continue
        return f"{kind.__name__} at {_path(where)}", convert
    return None, convert


def as_json(value: Any) -> tuple[Any, str | None]:
    """``value`` as the JSON value a server would have sent, or None and why it is not one."""
    if type(value) in _SCALARS and type(value) is not int:
        return value, None
    problem, convert = json_problem(value)
    if problem is not None:
        return None, f"the answer is not JSON: {problem}"
    if convert:
        try:
            value = json.loads(json.dumps(value))
        except (TypeError, ValueError, RecursionError, OverflowError) as exc:
            return None, f"the answer is not JSON: {exception_text(exc)}"
    return value, None


def checked(reply: Reply) -> tuple[Reply, bool]:
    """``reply`` with a JSON answer, or as an error (True) when its answer cannot be one."""
    if reply.response is None:
        return reply, False
    value, problem = as_json(reply.response)
    if problem is None:
        return (reply if value is reply.response else replace(reply, response=value)), False
    error = problem if reply.error is None else f"{reply.error}; {problem}"
    return replace(reply, response=None, error=error), True
