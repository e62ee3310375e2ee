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

    def where(self, *keys: Any) -> str:
        """``file:line:col`` of the deepest known node on the key path."""
        for n in range(len(keys), -1, -1):
            mark = self._marks.get(tuple(keys[:n]))
            if mark:
                return f"{self.path}:{mark[0]}:{mark[1]}"
        return self.path


def _walk(node: yaml.Node, prefix: tuple, marks: dict) -> None:
    marks.setdefault(prefix, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            marks[prefix + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _walk(value_node, prefix + (key,), marks)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, prefix + (i,), marks)


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
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"{where}: {what} is not valid YAML: {problem}", "Fix the YAML syntax at that line."
        ) from None
    marks: dict[tuple, tuple[int, int]] = {}
    if node is not None:
        _walk(node, (), marks)
    return Located(name, data, marks)


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean 'x'?)`` or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
