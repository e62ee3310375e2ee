"""Load YAML safely and remember where each key stands, for messages like ``file:3:5: ...``."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlmon.errors import ConfigError


@dataclass(frozen=True)
class Located:
    """A parsed YAML document plus the line and column of every mapping key and value."""

    path: str
    data: Any
    _marks: dict[tuple, tuple[int, int]]
    _values: dict[tuple, tuple[int, int, bool]] = None  # type: ignore[assignment]
    #: Keys given twice in one mapping: (path of the key, line, col) of each later one.
    duplicates: tuple = ()

    def where(self, *keys: Any) -> str:
        """``file:line:col`` of the deepest known node on the key path (a key, or a list item)."""
        for n in range(len(keys), -1, -1):
            mark = self._marks.get(tuple(keys[:n]))
            if mark:
                return f"{self.path}:{mark[0]}:{mark[1]}"
        return self.path

    def where_in_value(self, keys: tuple, col: int) -> str:
        """``file:line:col`` of the ``col``-th character (1-based) inside a one-line scalar value."""
        value = (self._values or {}).get(tuple(keys))
        if value is None:
            return self.where(*keys)
        line, start, quoted, mappable = value
        if not mappable:
            return f"{self.path}:{line}:{start}"
        return f"{self.path}:{line}:{start + col - 1 + (1 if quoted else 0)}"


def _walk(node: yaml.Node, prefix: tuple, marks: dict, values: dict, duplicates: list) -> None:
    marks.setdefault(prefix, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.ScalarNode):
        # Columns inside a value map to the file only for a one-line value without escapes.
        one_line = node.start_mark.line == node.end_mark.line and node.style in (None, "", "'", '"')
        escaped = node.style == '"' and "\\" in (node.start_mark.buffer or "")[node.start_mark.index:node.end_mark.index]
        # (line, col, quoted, mappable): a column inside other values points at the value's start.
        values[prefix] = (node.start_mark.line + 1, node.start_mark.column + 1, node.style in ("'", '"'),
                          one_line and not escaped)
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                duplicates.append((prefix + (key,), key_node.start_mark.line + 1, key_node.start_mark.column + 1))
            seen.add(key)
            marks[prefix + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _walk(value_node, prefix + (key,), marks, values, duplicates)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, prefix + (i,), marks, values, duplicates)


def load_yaml(path: str | Path, what: str) -> Located:
    """Read and parse a YAML file with ``yaml.safe_load`` semantics; raise ConfigError on failure."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} {name} does not exist", "Check the path.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} {name}: {exc}") from None
    return parse_yaml(text, name, what)


def parse_yaml(text: str, name: str, what: str) -> Located:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        if context and context_mark is not None:
            if "end of stream" in problem:
                # e.g. an unclosed quote: the problem shows at the end, the cause where the scan began.
                problem = f"{problem} {context} that starts here"
                mark = context_mark
            else:
                problem = f"{problem} ({context} at line {context_mark.line + 1})"
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        raise ConfigError(
            f"{where}: {what} is not valid YAML: {problem}", "Fix the YAML syntax at that line."
        ) from None
    marks: dict[tuple, tuple[int, int]] = {}
    values: dict[tuple, tuple[int, int, bool]] = {}
    duplicates: list = []
    if node is not None:
        _walk(node, (), marks, values, duplicates)
    return Located(name, data, marks, values, tuple(duplicates))


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean 'x'?)`` or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
