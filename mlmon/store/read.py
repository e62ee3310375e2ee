"""Read a store's committed parts as the records frame every command computes on.

Only the parts whose time range meets ``since``/``until`` are opened, only the columns asked
for are read, and Parquet's row-group statistics skip the rest of a part. Input and output
fields (``input.age``) are found in the request's and response's JSON text, as the log reader
does for fields inside an object read whole, so their values and types are those of the raw path.
"""

from __future__ import annotations

import io
import os
from datetime import datetime
from typing import Iterable

import polars as pl

from mlmon.errors import InputError
from mlmon.logs.arrays import compact_arrays
from mlmon.logs.decode import empty_rejects, jsonpath
from mlmon.logs.mapping import CANONICAL_FIELDS, INPUT_PREFIX, OUTPUT_PREFIX, RAW_REQUEST, RAW_RESPONSE, split_path
from mlmon.logs.reader import KIND_TYPES, LogData
from mlmon.safetext import printable
from mlmon.store.layout import StoreDir, open_store
from mlmon.store.registry import PartEntry, Registry, load_registry

_RETRIES = 3


def store_mapping(store_text: str):
    """A mapping for reading the store: its records are mapped already; the secret keys it was built with stay secret."""
    from mlmon.logs.mapping import Mapping

    return Mapping(redact=tuple(load_registry(open_store(store_text)).redact))


def refuse_writing_into(store_text: str, outputs: dict) -> list[str]:
    """UsageError for an output inside a local store; the store's source logs, which no output may replace either."""
    from mlmon.errors import UsageError
    from mlmon.store.layout import LocalStore

    store = open_store(store_text)
    if not isinstance(store, LocalStore):
        return []
    root = os.path.realpath(store.root)
    for option, path in outputs.items():
        if path is not None and str(path) != "-" and os.path.realpath(path).startswith(root + os.sep):
            raise UsageError(f"{option} {path} is inside the store {store_text}; writing it could corrupt the store",
                             "Write the output elsewhere.")
    return [entry.name for entry in load_registry(store).sources if "://" not in entry.name]


def parts_in_range(registry: Registry, since: datetime | None, until: datetime | None) -> list[PartEntry]:
    """The committed parts holding records in [since, until)."""
    out = []
    for part in registry.parts:
        if part.min_ts is None or part.max_ts is None:
            out.append(part)
            continue
        if until is not None and iso_time(part.min_ts) >= until:
            continue
        if since is not None and iso_time(part.max_ts) < since:
            continue
        out.append(part)
    return out


def iso_time(text: str) -> datetime:
    """A time the registry wrote (``…Z``)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def read_store(store_text: str, fields: Iterable[str] | None, *, since: datetime | None = None,
               until: datetime | None = None) -> LogData:
    """The records of ``fields`` (as :func:`mlmon.logs.reader.read_logs` names them) in [since, until)."""
    store = open_store(store_text)
    wanted = list(dict.fromkeys(["ts", "status", "error", *(fields if fields is not None else CANONICAL_FIELDS)]))
    for attempt in range(_RETRIES):
        registry = load_registry(store)
        parts = parts_in_range(registry, since, until)
        try:
            records, warnings, left_out = read_parts(store, parts, wanted, since, until)
            break
        except FileNotFoundError:  # a compaction or prune replaced parts after the registry was read
            _refuse_missing(store, registry, parts)
            if attempt == _RETRIES - 1:
                raise InputError(f"the store {printable(store_text)} kept changing while it was read",
                                 "Run again when mlmon store compact or prune has finished.") from None
    return LogData(records=records, rejects=empty_rejects(), files=[e.name for e in registry.sources],
                   warnings=warnings, total=registry.rows - sum(p.rows for p in left_out), skipped_count=sum(e.skipped for e in registry.sources),
                   reasons=_skipped_by_reason(registry))


def _refuse_missing(store: StoreDir, registry: Registry, parts: list[PartEntry]) -> None:
    """InputError if a part is gone while the registry that names it is still the commit.

    Compact and prune commit before they delete, so a part missing under an unchanged
    registry was not replaced: it was lost (deleted by hand, a failed disk), and reading
    again would not find it either.
    """
    if load_registry(store).generation != registry.generation:
        return
    missing = [p.path for p in parts if not store.has(p.path)]
    if missing:
        more = f" and {len(missing) - 1:,} more" if len(missing) > 1 else ""
        raise InputError(f"the store's part {printable(store.url(missing[0]))}{more} is missing: "
                         f"the registry (commit {registry.generation}) names it but the file is gone",
                         "Restore it from a backup, or move the store aside and build it again with "
                         "mlmon ingest from the logs.")


def _columns(store: StoreDir, parts: list[PartEntry]) -> dict[str, pl.DataType]:
    """The columns of the newest readable part (a corrupt one is left for the scan to name)."""
    for part in reversed(parts):
        try:
            return dict(pl.scan_parquet(store.url(part.path), storage_options=store.storage_options).collect_schema())
        except pl.exceptions.PolarsError as exc:
            if _missing(exc):
                raise FileNotFoundError(part.path) from None
    return _EMPTY  # no part in the range: the columns a part would have


#: The columns of a store's parts (with mlmon's own log shape), for a range that holds none.
_EMPTY: dict[str, pl.DataType] = {**{name: KIND_TYPES[kind] for name, kind in CANONICAL_FIELDS.items()},
                                  RAW_REQUEST: pl.String(), RAW_RESPONSE: pl.String()}


def _missing(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "no such file" in text or "not found" in text


def read_parts(store: StoreDir, parts: list[PartEntry], wanted: list[str], since,
          until) -> tuple[pl.DataFrame, list[str], list[PartEntry]]:
    """The records, warnings about the parts that cannot be read, and those parts (left out)."""
    available = _columns(store, parts)
    direct = [name for name in wanted if name in available]
    objects = {RAW_REQUEST: INPUT_PREFIX, RAW_RESPONSE: OUTPUT_PREFIX}
    derived = {name: obj for name in wanted for obj, prefix in objects.items()
               if name.startswith(prefix) and obj in available}
    read = list(dict.fromkeys([*direct, *derived.values()]))
    warnings: list[str] = []
    left_out: list[PartEntry] = []
    schema = {name: available.get(name, pl.String()) for name in read}
    if not parts:
        frame = pl.DataFrame(schema=schema)
    else:
        frame, warnings, left_out = _scan(store, parts, schema, since, until)
    for obj, prefix in objects.items():
        paths = {name: split_path(name[len(prefix):]) for name, o in derived.items() if o == obj}
        if paths:
            frame = frame.with_columns(compact_arrays(c) for c in _fields_of(frame.get_column(obj), paths))
    keep = [name for name in wanted if name in frame.columns]
    return frame.select(keep), warnings, left_out


def _fields_of(text: pl.Series, paths: dict[str, tuple[str, ...]]) -> list[pl.Series]:
    """The fields at ``paths`` inside the objects' JSON text, as text, as the log reader reads them from a line.

    One parse for all of them: the reader's own JSON scan, every leaf read as text, over the objects
    joined as JSON lines. Should that fail (overlapping paths, an odd value), each field is found
    with its own ``json_path_match``.
    """
    tree: dict = {}
    for path in paths.values():
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if node is None:
                break
        if node is None or path[-1] in node:
            tree = {}
            break
        node[path[-1]] = None

    def dtype(node):
        return pl.String() if node is None else pl.Struct({k: dtype(v) for k, v in node.items()})

    if tree and text.len():
        objects = text.to_frame("t").select(
            pl.when(pl.col("t").str.starts_with("{")).then(pl.col("t")).otherwise(pl.lit("{}"))).to_series()
        try:
            data = (objects.str.join("\n").item() + "\n").encode()
            parsed = pl.read_ndjson(io.BytesIO(data), schema={k: dtype(v) for k, v in tree.items()})
            if parsed.height == text.len():
                out = []
                for name, path in paths.items():
                    expr = pl.col(path[0])
                    for part in path[1:]:
                        expr = expr.struct.field(part)
                    out.append(parsed.select(expr.alias(name)).to_series())
                return out
        except (pl.exceptions.PolarsError, ValueError):
            pass
    return [text.str.json_path_match(jsonpath(path)).alias(name) for name, path in paths.items()]


def _scan(store: StoreDir, parts: list[PartEntry], schema: dict[str, pl.DataType], since,
          until) -> tuple[pl.DataFrame, list[str], list[PartEntry]]:
    columns = list(schema)
    warnings: list[str] = []
    paths = [store.url(p.path) for p in parts]
    options = store.storage_options
    try:
        return _collect(paths, columns, since, until, options), warnings, []
    except pl.exceptions.PolarsError as exc:
        if _missing(exc):
            raise FileNotFoundError(str(exc)) from None
    good, left_out = [], []
    for part, path in zip(parts, paths):  # find the corrupt parts: each is read alone
        try:
            _collect([path], columns, since, until, options)
            good.append(path)
        except pl.exceptions.PolarsError as exc:
            left_out.append(part)
            warnings.append(f"store part {printable(path)} cannot be read and was left out "
                            f"({printable(str(exc).splitlines()[0][:120])}); see 'When something is broken' in the README")
    if not good:
        return pl.DataFrame(schema=schema), warnings, left_out
    return _collect(good, columns, since, until, options), warnings, left_out


def _collect(paths: list[str], columns: list[str], since, until, options) -> pl.DataFrame:
    lf = pl.scan_parquet(paths, hive_partitioning=False, missing_columns="insert", extra_columns="ignore",
                         storage_options=options)
    if since is not None:
        lf = lf.filter(pl.col("ts") >= since)
    if until is not None:
        lf = lf.filter(pl.col("ts") < until)
    return lf.select(columns).collect()


def stream_store(store_text: str, fields: Iterable[str], *, since: datetime | None = None,
                 until: datetime | None = None):
    """:func:`read_store` a part at a time: yields the records of each part in [since, until), then
    returns the LogData of the whole read (its records empty). Memory holds one part, not the range."""
    store = open_store(store_text)
    wanted = list(dict.fromkeys(["ts", "status", "error", *fields]))
    registry = load_registry(store)
    warnings: list[str] = []
    total = registry.rows
    for part in parts_in_range(registry, since, until):
        try:
            records, more, left_out = read_parts(store, [part], wanted, since, until)
        except FileNotFoundError:
            raise InputError(f"the store {printable(store_text)} changed while it was read (a compaction or "
                             "prune replaced its parts)", "Run again when it has finished.") from None
        warnings.extend(more)
        total -= sum(p.rows for p in left_out)
        if records.height:
            yield records
    return LogData(records=pl.DataFrame(), rejects=empty_rejects(), files=[e.name for e in registry.sources],
                   warnings=warnings, total=total, skipped_count=sum(e.skipped for e in registry.sources),
                   reasons=_skipped_by_reason(registry))


def _skipped_by_reason(registry: Registry) -> dict[str, int]:
    """The bad lines of the store's sources, counted when they were ingested, per reason, the commonest first."""
    reasons: dict[str, int] = {}
    for entry in registry.sources:
        for reason, count in entry.skipped_by_reason.items():
            reasons[reason] = reasons.get(reason, 0) + count
    return dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))
