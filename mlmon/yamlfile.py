"""Load YAML safely and remember where each key stands, for messages like ``file:3:5: ...``.

Loading has ``yaml.safe_load`` semantics (the same loader builds the data), and it is bounded:
a document to which aliases would add more than ``MAX_ALIAS_NODES`` nodes (a "billion laughs"
document), or that holds an alias inside the node it names, is refused with the line of the
alias, before anything walks the repeated content.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlmon.errors import ConfigError

if TYPE_CHECKING:  # imported where a file is parsed: most runs read no YAML
    import yaml

#: Nodes that aliases may add to a document by repeating anchored content. Real rules and
#: mapping files add hundreds at most; a 400-byte "billion laughs" document adds hundreds of millions.
MAX_ALIAS_NODES = 100_000


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


@functools.cache
def _loader_class():
    """The class of ``_Loader``, made on first use."""
    import yaml

    class _Loader(yaml.SafeLoader):
        """``yaml.SafeLoader`` that also remembers each alias it meets: where it stands and the node it names."""

        def __init__(self, stream: str):
            super().__init__(stream)
            self.alias_uses: list[tuple[yaml.Mark, str, yaml.Node]] = []

        def compose_node(self, parent, index):  # type: ignore[override]
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                target = self.anchors.get(event.anchor)
                if target is not None:
                    self.alias_uses.append((event.start_mark, event.anchor, target))
            return super().compose_node(parent, index)

        def construct_yaml_timestamp(self, node):  # type: ignore[override]
            """A timestamp, or a YAML error at its line for one that is no date (``2026-13-01``), never a crash."""
            try:
                return super().construct_yaml_timestamp(node)
            except (ValueError, OverflowError) as exc:
                raise yaml.constructor.ConstructorError(None, None, f"{node.value!r} is not a valid date or time ({exc})",
                                                        node.start_mark) from None

    _Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)
    return _Loader


def _children(node: yaml.Node) -> Iterator[yaml.Node]:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            yield key_node
            yield value_node
    elif isinstance(node, yaml.SequenceNode):
        yield from node.value


def _expanded_sizes(root: yaml.Node) -> dict[int, int]:
    """For each distinct node (by identity), how many nodes it stands for with every alias expanded.

    Each node is visited once, however often aliases name it, so this is linear in the file's
    size. Raises ``_Cycle`` for an alias inside the node it names.
    """
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
        elif key in on_path:
            raise _Cycle(node)
        elif key not in sizes:
            on_path.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))
    return sizes


class _Cycle(Exception):
    def __init__(self, node: yaml.Node):
        super().__init__()
        self.node = node


def _check_aliases(root: yaml.Node, alias_uses: list, name: str, what: str) -> None:
    """Refuse a document whose aliases repeat too much, or name a node from inside it."""
    if not alias_uses:
        return
    try:
        sizes = _expanded_sizes(root)
    except _Cycle as cycle:
        mark, anchor = next(((m, a) for m, a, target in alias_uses if target is cycle.node),
                            (cycle.node.start_mark, "?"))
        raise ConfigError(
            f"{name}:{mark.line + 1}:{mark.column + 1}: {what} has the alias *{anchor} inside the node it names, "
            f"so it would repeat forever",
            "Write the value out instead of the alias.",
        ) from None
    added = sizes[id(root)] - len(sizes)
    if added <= MAX_ALIAS_NODES:
        return
    mark, anchor, target = max(alias_uses, key=lambda use: sizes.get(id(use[2]), 0))
    raise ConfigError(
        f"{name}:{mark.line + 1}:{mark.column + 1}: {what} grows by {added:,} nodes through YAML aliases "
        f"(at most {MAX_ALIAS_NODES:,}); *{anchor} here alone stands for {sizes[id(target)]:,}",
        "A 'billion laughs' document? Write the values out, or use fewer nested aliases.",
    )


def _walk(root: yaml.Node, marks: dict, values: dict, duplicates: list) -> None:
    """Record the line and column of every key path; iterative, so deep documents cannot overflow the stack."""
    import yaml

    stack: list[tuple[yaml.Node, tuple]] = [(root, ())]
    while stack:
        node, prefix = stack.pop()
        marks.setdefault(prefix, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.ScalarNode):
            # Columns inside a value map to the file only for a one-line value without escapes.
            one_line = node.start_mark.line == node.end_mark.line and node.style in (None, "", "'", '"')
            source = (node.start_mark.buffer or "")[node.start_mark.index:node.end_mark.index]
            escaped = node.style == '"' and "\\" in source
            # (line, col, quoted, mappable): a column inside other values points at the value's start.
            values[prefix] = (node.start_mark.line + 1, node.start_mark.column + 1, node.style in ("'", '"'),
                              one_line and not escaped)
        elif isinstance(node, yaml.MappingNode):
            seen = set()
            items = []
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue  # a list or mapping as a key: constructing the data refuses it
                key = key_node.value
                if key in seen:
                    duplicates.append((prefix + (key,), key_node.start_mark.line + 1, key_node.start_mark.column + 1))
                seen.add(key)
                marks[prefix + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                items.append((value_node, prefix + (key,)))
            stack.extend(reversed(items))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed([(item, prefix + (i,)) for i, item in enumerate(node.value)]))


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
    """Parse ``text`` as ``yaml.safe_load`` does, bounded in time and memory; ConfigError names the line."""
    import yaml

    loader = _loader_class()(text)
    try:
        node = loader.get_single_node()
        marks: dict[tuple, tuple[int, int]] = {}
        values: dict[tuple, tuple[int, int, bool]] = {}
        duplicates: list = []
        if node is not None:
            _check_aliases(node, loader.alias_uses, name, what)
            # Before constructing: merge keys (<<) rewrite the nodes they merge into.
            _walk(node, marks, values, duplicates)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, name, what) from None
    except RecursionError:
        raise ConfigError(f"{name}: {what} is nested too deeply to read",
                          "Use fewer levels of nested lists and mappings.") from None
    finally:
        loader.dispose()
    return Located(name, data, marks, values, tuple(duplicates))


def _syntax_error(exc: yaml.YAMLError, name: str, what: str) -> ConfigError:
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
    return ConfigError(f"{where}: {what} is not valid YAML: {problem}", "Fix the YAML syntax at that line.")


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean 'x'?)`` or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def problem_position(problem: str) -> tuple[int, int]:
    """(line, col) of a ``file:line:col: message`` problem, to list a file's problems in order; (0, 0) without one."""
    m = re.match(r"^.*?:(\d+):(\d+): ", problem)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def top_level_problems(doc: Located, data: dict, allowed: tuple[str, ...]) -> list[str]:
    """The unknown top-level keys of a document and the keys it gives twice, each with its line."""
    problems = [f"{doc.where(key)}: unknown key {key!r}{did_you_mean(str(key), allowed)}"
                for key in data if key not in allowed]
    for path, line, col in doc.duplicates:
        problems.append(f"{doc.path}:{line}:{col}: key {'.'.join(map(str, path))!r} is given twice; "
                        "only the last one would count")
    return problems
