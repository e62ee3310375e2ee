"""Build the reference for drift: from a profile, a dataset file, logs, or a time range of the logs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Sequence

import polars as pl

from mlmon.baseline.reference import Reference, reference_from_frame, reference_from_profile
from mlmon.errors import ConfigError, InputError, UsageError
from mlmon.logs.field_limit import MAX_FIELDS, FieldLimit, most_held_columns
from mlmon.logs.fields import _flatten, with_io_fields
from mlmon.logs.json_lines import read_json_lines
from mlmon.logs.json_numbers import long_integers_as_floats
from mlmon.logs.mapping import INPUT_PREFIX, OUTPUT_PREFIX, RAW_REQUEST, RAW_RESPONSE, Mapping
from mlmon.logs.reader import LogData, read_logs
from mlmon.logs.verdict import NoGoodRecord
from mlmon.safetext import printable
from mlmon.timeparse import iso, parse_time

DATASET_SUFFIXES = (".parquet", ".csv", ".tsv")


@dataclass(frozen=True)
class BaselineSpec:
    """``--baseline PATH`` or ``--baseline-range START..END`` (of the same logs)."""

    path: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    @property
    def is_range(self) -> bool:
        return self.path is None


def parse_range(text: str, now: datetime) -> tuple[datetime, datetime]:
    start, sep, end = text.partition("..")
    if not sep or not start or not end:
        raise UsageError(f"--baseline-range {text!r} needs the form START..END",
                         "For example 2026-11-25T00:00Z..2026-11-26T14:00Z, or 7d..1d.")
    lo, hi = parse_time(start, now, what="--baseline-range start"), parse_time(end, now, what="--baseline-range end")
    if lo >= hi:
        raise UsageError("--baseline-range must start before it ends")
    return lo, hi


def _dataset_frame(path: Path, output_names: set[str]) -> pl.DataFrame:
    try:
        try:
            frame = _read_dataset(path)
        except pl.exceptions.ComputeError:
            frame = _read_dataset_with_long_numbers(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(f"cannot read baseline {path}: {str(exc).splitlines()[0]}") from None

    def rename(column: str) -> str:
        if column.startswith((INPUT_PREFIX, OUTPUT_PREFIX)):
            return column
        return OUTPUT_PREFIX + column if OUTPUT_PREFIX + column in output_names else INPUT_PREFIX + column

    # Nested objects become dotted fields, as in logs (input.user.token), so that a secret among them
    # is known by its key, and the fields match those of the logs.
    return pl.DataFrame(_flatten(frame.rename({c: rename(c) for c in frame.columns}), ""))


def _read_dataset(path: Path) -> pl.DataFrame:
    if path.suffix.lower() == ".parquet":
        return pl.read_parquet(path)
    if path.suffix.lower() in (".csv", ".tsv"):
        return pl.read_csv(path, separator=_separator(path), infer_schema_length=None)
    return pl.read_ndjson(path, infer_schema_length=None)


def _separator(path: Path) -> str:
    return "\t" if path.suffix.lower() == ".tsv" else ","


def _read_dataset_with_long_numbers(path: Path) -> pl.DataFrame:
    """The dataset read again, for a number too long for Polars' 128-bit integers (which stops the
    typed read; a big number is still a number): a CSV column of numbers as floats, JSON integers
    of 39 digits or more as floats. Anything else wrong is raised again."""
    if path.suffix.lower() in (".csv", ".tsv"):
        text = pl.read_csv(path, separator=_separator(path), infer_schema_length=0)
        as_floats = text.select(pl.all().cast(pl.Float64, strict=False))
        numbers = [name for name in text.columns
                   if as_floats.get_column(name).null_count() == text.get_column(name).null_count()]
        return text.with_columns(as_floats.select(numbers))
    lines = pl.read_lines(path).get_column("line")
    lines = long_integers_as_floats(lines.filter(lines.str.strip_chars() != ""))
    return read_json_lines(lines)


def _looks_like_logs(path: Path, mapping: Mapping) -> bool:
    """A JSONL file is logs when its first record holds the mapping's inputs root or ts; else a dataset."""
    import gzip

    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.strip():
                    first = json.loads(line)
                    return isinstance(first, dict) and (mapping.inputs[0] in first or mapping.fields["ts"][0] in first)
    except (OSError, ValueError):
        return True
    return True


def _profile_document(path: Path):
    """The JSON document in ``path`` when it is (or claims to be) a profile; None for logs and datasets."""
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096).lstrip()
    except OSError as exc:
        raise InputError(f"cannot read baseline {path}: {exc.strerror or exc}") from None
    looks_like_profile = head.startswith(b"{") and b"mlmon-profile" in head
    if not looks_like_profile and path.suffix.lower() != ".json":
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and not looks_like_profile:
            return None  # JSON lines: logs or a dataset
        raise ConfigError(f"cannot read baseline profile {path}: {exc}", "Save it again with 'mlmon baseline save'.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read baseline profile {path}: {exc}") from None


def reconcile(reference: Reference, current: pl.DataFrame) -> Reference:
    """Map a dataset's plain column names (saved as input.x) to the outputs the logs actually have."""
    renamed = {}
    for name, field in reference.fields.items():
        bare = name[len(INPUT_PREFIX):] if name.startswith(INPUT_PREFIX) else None
        if bare and OUTPUT_PREFIX + bare in current.columns and name not in current.columns:
            field.name = OUTPUT_PREFIX + bare
            renamed[OUTPUT_PREFIX + bare] = field
        else:
            renamed[name] = field
    reference.fields = renamed
    return reference


def load_reference(
    spec: BaselineSpec,
    *,
    mapping: Mapping,
    current: pl.DataFrame,
    logs: Sequence[str] = (),
    told: LogData | None = None,
    max_fields: int = MAX_FIELDS,
) -> Reference:
    """The reference for ``spec``; ``current`` (records with io fields) supplies the range and output names.

    When the reference is read from logs, their warnings and notes are added to ``told``'s. Raw
    reference data gives at most ``max_fields`` input and as many output fields (see FieldLimit).
    """
    limit = FieldLimit(max_fields)
    reference = _load(spec, limit, mapping=mapping, current=current, logs=logs, told=told)
    if limit.total_left_out:
        reference.fields_left_out = limit.total_left_out
        if told is not None:
            told.warnings.extend(limit.warnings("baseline: "))
    return reference


def _load(spec: BaselineSpec, limit: FieldLimit, *, mapping: Mapping, current: pl.DataFrame, logs: Sequence[str],
          told: LogData | None) -> Reference:
    if spec.is_range:
        assert spec.start is not None and spec.end is not None
        raw = [c for c in ("ts", "request_id", "status", RAW_REQUEST, RAW_RESPONSE) if c in current.columns]
        window = current.filter((pl.col("ts") >= spec.start) & (pl.col("ts") < spec.end)).select(raw)
        if window.height == 0:
            raise InputError(f"the baseline range {iso(spec.start)}..{iso(spec.end)} holds no records",
                             "Choose a range the logs cover.")
        # Field types come from the range alone, not from what the logs hold later.
        return reference_from_frame(with_io_fields(window, limit),
                                    {"range": [iso(spec.start), iso(spec.end)], "files": list(logs)}, mapping.redact)
    path = Path(spec.path or "")
    doc = _profile_document(path)
    if doc is not None:
        return reconcile(reference_from_profile(doc, str(path)), current)
    outputs = {c for c in current.columns if c.startswith(OUTPUT_PREFIX)}
    if path.is_file() and (path.suffix.lower() in DATASET_SUFFIXES or not _looks_like_logs(path, mapping)):
        frame = most_held_columns(_dataset_frame(path, outputs), limit)
        return reference_from_frame(frame, {"dataset": str(path)}, mapping.redact)

    try:
        data = read_logs([str(spec.path)], mapping, ["ts", "request_id", "status", RAW_REQUEST, RAW_RESPONSE])
    except NoGoodRecord as exc:  # --rejects lists the lines of the logs, not of the baseline
        raise InputError(exc.message, exc.hint) from None
    if told is not None:
        told.warnings.extend(f"baseline {text}" for text in data.warnings)
        told.notes.extend(f"baseline {text}" for text in data.notes)
    frame = with_io_fields(data.records, limit)
    if frame.height == 0:
        raise InputError(
            f"baseline {printable(str(spec.path))} holds no log records",
            "Pass logs, a dataset (.parquet, .csv, .jsonl rows) or a profile from 'mlmon baseline save'.",
        )
    return reference_from_frame(frame, {"files": data.files, "skipped": data.skipped}, mapping.redact)
