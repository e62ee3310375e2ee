"""``mlmon export``'s core: the logs as a training-ready table, one row per request, written as it is read.

Columns: ``ts``, ``request_id``, ``model``, ``model_version``, ``status``, the request's fields as typed
``input.*`` columns, the response's as ``output.*`` (null for a failed request: an error body is no
model output), and with labels the joined ``label`` (a number when every label is one, else text).

Streaming, and how the schema is settled
-----------------------------------------
The reader yields the records a chunk at a time (32 MiB of log text, or a store's part). Each chunk
is decoded on its own (:func:`mlmon.logs.fields.with_io_fields` infers its fields' types), filtered,
deduplicated, joined with the labels and spilled as one Parquet part into a hidden directory beside
the output. A field's type can differ between chunks (an integer field meets a fraction later, a
field first appears late), so the final schema is settled once every chunk is read: each field gets
the type that fits all its chunks (integers of every width are Int64; integers and floats are Float64;
any other mix, booleans among numbers included, is text; a field a chunk lacks is null there). The
parts are then scanned, cast to that schema and sunk into the output in one streaming plan. Memory
holds about one chunk's records at a time, never the whole table; the disk holds the spilled parts
(compressed) until the output is written. The output appears by one rename when it is complete.

``--dedup request_id`` keeps the first record of each request id that passes the filters, in the
order the logs are read (files oldest first, then line by line); records without an id are all kept.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Sequence

import polars as pl

from mlmon.atomic import atomic_path, temp_prefix
from mlmon.errors import InputError, UsageError
from mlmon.logs.field_limit import FieldLimit
from mlmon.logs.fields import INTEGER_TYPES, io_field_names, is_numeric, with_io_fields
from mlmon.logs.mapping import INPUT_PREFIX, OUTPUT_PREFIX, RAW_REQUEST, RAW_RESPONSE, Mapping
from mlmon.logs.reader import DEFAULT_MAX_LINE_BYTES, LogData, Progress, announce, stream_logs
from mlmon.metrics.labels import load_labels
from mlmon.metrics.model_quality import LABEL, LabelSpec
from mlmon.redact import REDACTED, is_secret_path, redact_columns
from mlmon.report import iso_text_expr
from mlmon.store.source import store_input
from mlmon.where import apply_where, parse_where, where_fields

FORMATS = ("parquet", "csv", "jsonl")
#: The columns every export starts with, in this order; the label column ends it.
BASE_COLUMNS = {"ts": pl.Datetime("us", "UTC"), "request_id": pl.String(), "model": pl.String(),
                "model_version": pl.String(), "status": pl.Int64()}
LABEL_COLUMN = "label"
#: Log text decoded at once. Half the reader's default: an export decodes every field of every record,
#: so a chunk's frames are wider than a report's; 16 MiB kept the peak near 350 MB on the benchmark's
#: 1 GiB file, at about the speed of 32 MiB (benchmarks/README.md, "mlmon export").
EXPORT_CHUNK_BYTES = 16 * 1024 * 1024
#: Fields ``dedup`` may name.
DEDUP_FIELDS = ("request_id",)


@dataclass(frozen=True)
class ExportSpec:
    """What to export and how: the filters, the labels, the format."""

    fmt: str = "parquet"
    where: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    dedup: str | None = None
    labels: LabelSpec | None = None

    def check(self) -> None:
        if self.fmt not in FORMATS:
            raise UsageError(f"unknown export format {self.fmt!r}", f"Use one of {', '.join(FORMATS)}.")
        if self.dedup is not None and self.dedup not in DEDUP_FIELDS:
            raise UsageError(f"--dedup {self.dedup!r}: only request_id can be deduplicated on",
                             "Use --dedup request_id.")


@dataclass
class ExportResult:
    """What was written: rows, their columns and types, and what reading found."""

    output: str
    rows: int
    columns: dict[str, pl.DataType]
    data: LogData
    records_read: int = 0
    duplicates_dropped: int = 0
    labelled: int | None = None
    warnings: list[str] = field(default_factory=list)


def export_logs(inputs: Sequence[str], output: str | Path, spec: ExportSpec, *, mapping: Mapping,
                strict: bool = False, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                chunk_bytes: int = EXPORT_CHUNK_BYTES, progress: Progress | None = None) -> ExportResult:
    """Write the records of ``inputs`` that ``spec`` selects to ``output``, atomically, chunk by chunk.

    Raises InputError (bad input, nothing good to read) or UsageError (a bad option) before ``output``
    is touched; on any failure ``output`` is left as it was. ``chunk_bytes`` of log text are decoded at once.
    """
    spec.check()
    condition = parse_where(spec.where) if spec.where is not None else None
    labels = _typed_labels(load_labels(spec.labels)) if spec.labels is not None else None
    fields = ["ts", "request_id", "model", "model_version", "status", RAW_REQUEST, RAW_RESPONSE,
              *(f for f in where_fields(condition) if not f.startswith((INPUT_PREFIX, OUTPUT_PREFIX)))]
    frames, finish = _read(inputs, mapping, list(dict.fromkeys(fields)), spec, strict, max_line_bytes, chunk_bytes,
                           progress)
    chunks = _Chunks(spec, condition, labels, mapping.redact)
    target = Path(output)
    where = _directory_of(target)
    # (Spill directories that killed exports left beside it are removed first.)
    spill = Path(tempfile.mkdtemp(prefix=temp_prefix(where / target.name, ".parts"), suffix=".parts", dir=where))
    try:
        parts = [chunks.spill(frame, spill / f"part-{i:06d}.parquet") for i, frame in enumerate(frames)]
        data = finish()
        parts = [p for p in parts if p is not None]
        announce(progress, "writing the output")
        schema = chunks.schema()
        _write(parts, schema, target, spec.fmt)
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    warnings = [*chunks.limit.warnings()]
    if not chunks.rows:
        warnings.append("no record matched: the output has the columns and no row; check --where and --since/--until")
    return ExportResult(output=str(output), rows=chunks.rows, columns=schema, data=data,
                        records_read=chunks.read, duplicates_dropped=chunks.duplicates,
                        labelled=chunks.labelled if labels is not None else None, warnings=warnings)


def _directory_of(target: Path) -> Path:
    """Where to spill: beside the output (the disk the user chose for it), or for a special file such as
    /dev/null, the temporary directory."""
    parent = target.resolve().parent
    if not parent.is_dir():
        raise InputError(f"cannot write {target}: the directory {parent} does not exist", "Create it first.")
    if target.exists() and not target.resolve().is_file():
        return Path(tempfile.gettempdir())
    return parent


def _read(inputs, mapping: Mapping, fields: list[str], spec: ExportSpec, strict: bool, max_line_bytes: int,
          chunk_bytes: int, progress: Progress | None):
    """The records a chunk at a time, and a function that gives what reading found once they are used up."""
    store = store_input(inputs)
    if store is not None:
        from mlmon.store.read import stream_store

        found: list[LogData] = []

        def parts() -> Iterator[pl.DataFrame]:
            found.append((yield from stream_store(store, fields, since=spec.since, until=spec.until)))

        return parts(), lambda: found[0]
    stream = stream_logs(inputs, mapping, fields, strict=strict, max_line_bytes=max_line_bytes, chunk_bytes=chunk_bytes,
                         progress=progress)
    return iter(stream), lambda: stream.finish(stream.empty())


def _typed_labels(labels: pl.DataFrame) -> pl.DataFrame:
    """The labels with their value as numbers when every one is a number (whole ones as integers), else as text."""
    values = labels.get_column(LABEL)
    numbers = values.cast(pl.Float64, strict=False)
    if values.len() and numbers.null_count() == values.null_count():
        whole = numbers.drop_nulls()
        whole = bool((whole == whole.floor()).all() and whole.is_finite().all() and whole.abs().max() < 2**53)
        labels = labels.with_columns(numbers.cast(pl.Int64) if whole else numbers)
    return labels.rename({LABEL: LABEL_COLUMN})


class _Chunks:
    """Turns each chunk of records into rows of the table and spills them; keeps the types each column had."""

    def __init__(self, spec: ExportSpec, condition, labels: pl.DataFrame | None, secret_keys: tuple[str, ...]):
        self.spec, self.condition, self.labels, self.secret_keys = spec, condition, labels, secret_keys
        self.limit = FieldLimit()
        self.seen = pl.Series("request_id", [], pl.String)
        self.types: dict[str, list[pl.DataType]] = {}
        self.rows = self.read = self.duplicates = self.labelled = 0

    def spill(self, frame: pl.DataFrame, path: Path) -> Path | None:
        """Write the table rows of ``frame`` to ``path``; None when it has none."""
        self.read += frame.height
        rows = self.rows_of(frame)
        if not rows.height:  # a chunk's fields count only if it has rows: --where may leave out a model's
            return None
        for name, dtype in rows.schema.items():
            self.types.setdefault(name, []).append(dtype)
        self.rows += rows.height
        if self.labels is not None:
            self.labelled += rows.get_column(LABEL_COLUMN).is_not_null().sum()
        rows.write_parquet(path, compression="lz4", statistics=False)
        return path

    def rows_of(self, frame: pl.DataFrame) -> pl.DataFrame:
        spec = self.spec
        if spec.since is not None:
            frame = frame.filter(pl.col("ts") >= spec.since)
        if spec.until is not None:
            frame = frame.filter(pl.col("ts") < spec.until)
        reads_io = any(n.startswith((INPUT_PREFIX, OUTPUT_PREFIX)) for n in where_fields(self.condition))
        if not reads_io:  # filter first: only the rows kept are decoded
            frame = apply_where(frame, self.condition)
        frame = with_io_fields(frame, self.limit)
        io_fields = io_field_names(frame)
        frame = _redacted(redact_columns(frame, io_fields, self.secret_keys), io_fields, self.secret_keys)
        if reads_io:
            for name in where_fields(self.condition):  # a field this chunk lacks is null in it
                if name not in frame.columns:
                    frame = frame.with_columns(pl.lit(None, pl.String).alias(name))
            frame = apply_where(frame, self.condition)
        if spec.dedup is not None:
            frame = self._first_of_each_id(frame)
        if self.labels is not None:
            frame = frame.join(self.labels, on="request_id", how="left", maintain_order="left")
        ends = [LABEL_COLUMN] if self.labels is not None else []
        return frame.select(*(pl.col(c) if c in frame.columns else pl.lit(None, t).alias(c)
                              for c, t in BASE_COLUMNS.items()), *io_field_names(frame), *ends)

    def _first_of_each_id(self, frame: pl.DataFrame) -> pl.DataFrame:
        ids = pl.col("request_id")
        before = frame.height
        frame = frame.filter(ids.is_null() | ~ids.is_in(self.seen.implode()))
        frame = frame.filter(ids.is_null() | ids.is_first_distinct())
        self.seen = pl.concat([self.seen, frame.get_column("request_id").drop_nulls()])
        self.duplicates += before - frame.height
        return frame

    def schema(self) -> dict[str, pl.DataType]:
        """Every column, in order (base, inputs, outputs, label, each as first seen), with the type that fits every chunk."""
        names = list(self.types) or [*BASE_COLUMNS, *([LABEL_COLUMN] if self.labels is not None else [])]
        inputs = [n for n in names if n.startswith(INPUT_PREFIX)]
        outputs = [n for n in names if n.startswith(OUTPUT_PREFIX)]
        order = [*BASE_COLUMNS, *inputs, *outputs, *([LABEL_COLUMN] if self.labels is not None else [])]
        label_type = self.labels.schema[LABEL_COLUMN] if self.labels is not None else None
        fixed = {**BASE_COLUMNS, **({LABEL_COLUMN: label_type} if label_type is not None else {})}
        return {name: fixed.get(name) or common_type(self.types.get(name, [])) for name in order}


def _redacted(frame: pl.DataFrame, columns: list[str], secret_keys: tuple[str, ...]) -> pl.DataFrame:
    """Columns whose name names a secret (``input.headers.Authorization``, a mapping's ``redact:`` key) hold
    ``[REDACTED]`` for every value: the column stays, so a model's inputs are all there, but no secret."""
    secret = [c for c in columns if is_secret_path(c.split(".", 1)[1], secret_keys)]
    return frame.with_columns(pl.when(pl.col(c).is_not_null()).then(pl.lit(REDACTED)).alias(c) for c in secret)


def common_type(types: list[pl.DataType]) -> pl.DataType:
    """The type that holds the values of every chunk's column: see the module's docstring."""
    known = [t for t in types if not isinstance(t, pl.Null)]
    if not known:
        return pl.String()
    if all(t == known[0] for t in known):
        return known[0]
    if all(is_numeric(t) for t in known):
        return pl.Int64() if all(t in INTEGER_TYPES or isinstance(t, INTEGER_TYPES) for t in known) else pl.Float64()
    return pl.String()


def _write(parts: list[Path], schema: dict[str, pl.DataType], target: Path, fmt: str) -> None:
    """The parts, cast to ``schema``, into ``target`` in one streaming plan, atomically."""
    if parts:
        scans = []
        for path in parts:
            have = pl.read_parquet_schema(path)
            scans.append(pl.scan_parquet(path).select(
                (pl.col(n).cast(t) if n in have else pl.lit(None, t)).alias(n) for n, t in schema.items()))
        table = pl.concat(scans, how="vertical")
    else:
        table = pl.LazyFrame(schema=schema)
    if fmt != "parquet":  # text formats: times as the logs write them, ISO 8601 in UTC with a Z
        table = table.with_columns(iso_text_expr("ts"))
    with atomic_path(target) as tmp:
        if fmt == "parquet":
            table.sink_parquet(tmp, compression="zstd")
        elif fmt == "csv":
            table.sink_csv(tmp)
        else:
            table.sink_ndjson(tmp)
