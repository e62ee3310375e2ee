"""A bound on how many request (or response) fields are decoded: the most frequent ones.

Logs whose requests hold ever new keys (an id as a key, say) would give a column per key,
and schema inference and decoding cost more than linear time in the number of columns.
So at most ``max_fields`` fields of an object column are decoded: when there are more,
the keys are counted without decoding the values (one JSON read per level of nesting, each
object read as a map of key to text), and the fields kept are those held by the most
records, ties broken by name, after the fields a command names (``--by``, a rule, the
baseline's), which are always kept. A profile and a later report therefore keep the same
fields when the fields rank alike in both. A list is one field, its JSON text (:mod:`mlmon.logs.arrays`);
keys inside lists are not fields. A kept field's type is inferred from the first record that holds it, then
widened as usual where later values do not fit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

import polars as pl

from mlmon.logs.json_lines import read_json_lines

#: The default bound, per object column (request, response).
MAX_FIELDS = 1000
#: Objects nested deeper than this are not looked into for fields (as mapping paths).
MAX_DEPTH = 64

_TEXT = pl.String()
_MAP = pl.Map(pl.String, pl.String)
#: A key's name in a JSON object: a string followed by a colon (strings are matched whole).
_KEY = r'"[^"\\]*(?:\\.[^"\\]*)*"[ \t\n\r]*:'


@dataclass
class FieldLimit:
    """How many fields of each object column may be decoded, which ones always are, and what was left out."""

    max_fields: int = MAX_FIELDS
    #: Field names (``input.x``, ``output.y``) decoded whenever records hold them.
    keep: frozenset[str] = frozenset()
    #: After decoding: per prefix (``input.``, ``output.``), how many fields were left out.
    left_out: dict[str, int] = field(default_factory=dict)

    @property
    def total_left_out(self) -> int:
        return sum(self.left_out.values())

    def warnings(self, where: str = "") -> list[str]:
        """One line per object column that had too many fields, for stderr."""
        names = {"input.": "request", "output.": "response"}
        return [f"{where}too many {names.get(prefix, prefix)} fields: {count:,} left out, the {self.max_fields:,} "
                f"held by the most records are kept (--max-fields)"
                for prefix, count in self.left_out.items() if count]


def most_held_columns(frame: pl.DataFrame, limit: FieldLimit) -> pl.DataFrame:
    """``frame`` (a dataset's columns, named ``input.x`` or ``output.x``) with the named columns and at most
    ``limit.max_fields`` more of each prefix: those with the most values, then by name."""
    drop: list[str] = []
    for prefix in ("input.", "output."):
        names = [name for name in frame.columns if name.startswith(prefix)]
        if len(names) <= limit.max_fields:
            continue
        held = frame.select(pl.col(names).is_not_null().sum()).row(0)
        ranked = sorted(zip(names, held), key=lambda pair: (pair[0] not in limit.keep, -pair[1], pair[0]))
        kept = limit.max_fields + sum(1 for name in names if name in limit.keep)
        drop += [name for name, _ in ranked[kept:]]
        limit.left_out[prefix] = len(names) - kept
    return frame.drop(drop)


def distinct_keys(objects: pl.Series) -> int:
    """How many distinct key names the objects hold at any depth, lists included (a cheap first look)."""
    keys = objects.to_frame("t").lazy().select(pl.col("t").str.extract_all(_KEY).alias("k")).explode("k") \
        .select(pl.col("k").drop_nulls().n_unique()).collect(engine="streaming")
    return int(keys.item())


def choose_fields(objects: pl.Series, prefix: str, limit: FieldLimit) -> tuple[list[tuple[str, ...]], list[int], int]:
    """The paths of the fields to decode, the rows that show each first, and how many fields are left out.

    Candidates are the leaf paths that hold a value other than null or an object (a list is a value) in
    some record: the named ones, and ``max_fields`` more, by how many records hold them, then by name.
    """
    named = [name[len(prefix):] for name in limit.keep if name.startswith(prefix)]
    counts, unopened = field_counts(objects, limit.max_fields + len(named), named)
    counts = counts.with_columns(pl.col("path").is_in(named).alias("named")) \
        .sort(["named", "rows", "path"], descending=[True, True, False])
    kept = counts.head(limit.max_fields + int(counts.get_column("named").sum()))
    return ([tuple(p) for p in kept.get_column("parts").to_list()], kept.get_column("first").to_list(),
            counts.height - kept.height + unopened)


_PARTS = pl.List(pl.String)
_ENTRIES = pl.List(pl.Struct({"key": pl.String, "value": pl.String}))
#: Values looked into for more fields: objects (a list is a field's value, see mlmon.logs.arrays).
_CONTAINER = ["{"]


def field_counts(objects: pl.Series, widest: int, named: Iterable[str] = ()) -> tuple[pl.DataFrame, int]:
    """Per leaf path: ``path`` (dotted), ``parts`` (its keys), ``rows`` (records with a value there) and
    ``first``; and how many paths held objects that were not opened (each holds a field or more).

    Level by level: each level reads, in the records that have one, the objects at the paths
    found one level up to hold objects (at most ``widest`` paths: those on the way to a ``named``
    field, then the most frequent, since the fields inside the others are held by fewer records),
    each as a map of key to value text. A value
    is taken for an object by its first character, and checked at the next level:
    one that does not read as such (text that starts with a brace) is a value after all.
    """
    wrapped = objects.to_frame("t").select(pl.concat_str(pl.lit('{"m":'), pl.col("t"), pl.lit("}"))).to_series()
    ways = sorted({".".join(name.split(".")[:i]) for name in named for i in range(1, name.count(".") + 1)})
    found: list[pl.DataFrame] = []
    unopened = 0
    # The objects met one level up: row, path, parts, and "starts" ("{").
    containers = pl.DataFrame({"row": pl.int_range(objects.len(), dtype=pl.UInt32, eager=True)}).with_columns(
        pl.lit("").alias("path"), pl.lit([], _PARTS).alias("parts"), pl.lit("{").alias("starts"))
    for _ in range(MAX_DEPTH):
        if not containers.height:
            break
        objects_at = containers.filter(pl.col("starts") == "{").get_column("path").n_unique()
        unopened += max(0, objects_at - widest)
        values, not_containers = _open(wrapped, containers, widest, ways)
        found.append(not_containers)
        level = values.with_columns(pl.col("parts").list.join(".").alias("path"), pl.col("value").str.head(1).alias("starts"))
        found.append(level.filter(~pl.col("starts").is_in(_CONTAINER)).select("row", "path", "parts"))
        containers = level.filter(pl.col("starts").is_in(_CONTAINER)).select("row", "path", "parts", "starts")
    found.append(pl.DataFrame(schema={"row": pl.UInt32, "path": pl.String, "parts": _PARTS}))
    counts = (pl.concat(found).group_by("path")
              .agg(pl.col("parts").first(), pl.len().cast(pl.UInt32).alias("rows"), pl.col("row").min().alias("first")))
    return counts, unopened


def _open(wrapped: pl.Series, containers: pl.DataFrame, widest: int, ways: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The entries of ``widest`` object paths of ``containers`` (row, parts, value text): those in ``ways``,
    then the most frequent; and the containers that turned out not to be one (row, path, parts): values of their path.

    A constant number of Polars calls however many paths (a call per path cost a thousand calls
    on a schema a thousand fields wide); each path's values are gathered where they are not null.
    """
    frontier = (containers.group_by("path").agg(pl.col("parts").first(), pl.col("starts").first(), pl.len().alias("n"))
                .with_columns(pl.col("path").is_in(ways).alias("way"))
                .sort(["way", "n", "path"], descending=[True, True, False]).head(widest)
                .with_columns(pl.format("_{}", pl.int_range(pl.len())).alias("column")))
    if not frontier.height:
        return (pl.DataFrame(schema={"row": pl.UInt32, "parts": _PARTS, "value": pl.String}),
                pl.DataFrame(schema={"row": pl.UInt32, "path": pl.String, "parts": _PARTS}))
    rows = containers.join(frontier.select("path"), on="path", how="semi").get_column("row").unique().sort()
    read = read_json_lines(wrapped.gather(rows), {"m": _nested(frontier)}, ignore_errors=True)
    there = {column: _at(("m", *parts)) for column, parts in frontier.select("column", "parts").iter_rows()}
    maps = set(frontier.filter(pl.col("starts") == "{").get_column("column").to_list())
    row = pl.lit(rows).alias("row")
    held = read.select(*(pl.struct(row, (value.map.entries() if column in maps else pl.lit(None, _ENTRIES)).alias("kv"))
                         .filter(value.is_not_null()).implode().alias(column) for column, value in there.items()))
    held = (held.unpivot(variable_name="column", value_name="v").explode("v").filter(pl.col("v").is_not_null())
            .unnest("v").join(frontier.select("column", "path", "parts"), on="column"))
    opened = containers.join(frontier.select("path"), on="path", how="semi")
    not_containers = opened.join(held.select("row", "path"), on=["row", "path"], how="anti").select("row", "path", "parts")
    entries = held.filter(pl.col("column").is_in(list(maps))).explode("kv").filter(pl.col("kv").is_not_null()).select(
        "row", pl.col("parts").list.concat(pl.concat_list(pl.col("kv").struct.field("key"))).alias("parts"),
        pl.col("kv").struct.field("value").alias("value"))
    # (The records themselves are objects: a root that reads as none is no value.)
    return entries.filter(pl.col("value").is_not_null()), not_containers.filter(pl.col("path") != "")


def _nested(frontier: pl.DataFrame) -> pl.DataType:
    """The read schema that reaches every path of one level: structs down to each path's map (or list)."""
    tree: dict[str, Any] = {}
    for path, kind in zip(frontier.get_column("parts").to_list(), frontier.get_column("starts").to_list()):
        if not path:
            return _MAP
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = _MAP if kind == "{" else pl.List(_TEXT)

    def build(node: dict) -> pl.DataType:
        return pl.Struct({k: (build(v) if isinstance(v, dict) else v) for k, v in node.items()})

    return build(tree)


def _at(path: tuple[str, ...]) -> pl.Expr:
    expr = pl.col(path[0])
    for part in path[1:]:
        expr = expr.struct.field(part)
    return expr


def pruned(objects: Iterable[str], paths: list[tuple[str, ...]]) -> list[str]:
    """The objects' JSON text holding only ``paths`` (and the objects on the way to them).

    Python, on a few records: those that show each kept field first, to infer the schema from.
    """
    leaves = set(paths)
    ways = {path[:i] for path in paths for i in range(1, len(path))}

    def prune(value: dict, at: tuple[str, ...]) -> dict:
        out = {}
        for key, inner in value.items():
            here = (*at, key)
            if isinstance(inner, dict) and here in ways:
                out[key] = prune(inner, here)
            elif here in leaves and not isinstance(inner, dict):
                out[key] = inner
        return out

    # Written as ASCII with escapes: a lone surrogate (\ud800) is valid JSON, but not text Polars takes from Python.
    return [json.dumps(prune(json.loads(text), ())) for text in objects]
