"""Read delayed ground truth: CSV (or TSV) with a header row, or JSON lines. All good lines, or an error.

Polars reads the file in one go. Only when something is off does Python read it again, line
by line, to name the first bad line and what is wrong with it: bytes that are not UTF-8 text
(a UTF-16 file), a stray quote, too many fields, too few to hold the id and the label, an empty
or missing id or label, or a JSON line that is not an object. Blank lines are skipped.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

import polars as pl

from mlmon.errors import ConfigError, InputError
from mlmon.metrics.model_quality import LABEL, LabelSpec
from mlmon.safetext import printable

ALL_OR_NOTHING = "Labels are all or nothing: fix or remove the line."
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF8_BOM = b"\xef\xbb\xbf"


def load_labels(spec: LabelSpec) -> pl.DataFrame:
    """request_id and label (as text), one row per request id (the last line wins)."""
    path = Path(spec.path)
    if not path.exists():
        raise InputError(f"labels file {spec.path} does not exist", "Check the path given to --labels.")
    columns = (spec.id_field, spec.label_field)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        frame = _read_csv(path, columns, "\t" if suffix == ".tsv" else ",")
    else:
        frame = _read_json_lines(path, columns)
    return (
        frame.select(pl.col(spec.id_field).cast(pl.String).alias("request_id"),
                     pl.col(spec.label_field).cast(pl.String).alias(LABEL))
        .unique("request_id", keep="last")
    )


def _first_empty(frame: pl.DataFrame, columns: Sequence[str]) -> str | None:
    """The first of ``columns`` (those the frame has) with a missing, null or blank value, if any."""
    present = [name for name in columns if name in frame.columns]
    if not present:
        return None
    text = [pl.col(name).cast(pl.String) for name in present]
    empty = frame.select((t.is_null() | (t.str.strip_chars() == "")).any().alias(n) for t, n in zip(text, present))
    return next((name for name, found in zip(present, empty.row(0)) if found), None)


def _read_csv(path: Path, columns: Sequence[str], separator: str) -> pl.DataFrame:
    try:
        frame, error = pl.read_csv(path, infer_schema_length=0, separator=separator), None
    except pl.exceptions.NoDataError:
        raise InputError(f"labels file {path} is empty", "Give it a header row and one line per label.") from None
    except (pl.exceptions.PolarsError, OSError) as exc:
        frame, error = None, exc
    if frame is None or _suspect_csv(frame, columns):
        _refuse(path, _first_bad_csv_line(path, separator, columns), error)
    _require_columns(frame, columns, path)
    # Rows of nulls are the blank lines, which the line check above has let pass.
    frame = frame.filter(~pl.all_horizontal(pl.all().is_null()))
    _refuse_empty(frame, columns, path)
    return frame


def _suspect_csv(frame: pl.DataFrame, columns: Sequence[str]) -> bool:
    """Whether Python must look at the lines: NUL bytes or undecodable bytes, or an empty id or label."""
    if any("\x00" in name or "\ufffd" in name for name in frame.columns):  # Polars decodes the header leniently
        return True
    if frame.width and frame.select(pl.any_horizontal(pl.all().str.contains("\x00", literal=True)).any()).item():
        return True
    return _first_empty(frame, columns) is not None


def _read_json_lines(path: Path, columns: Sequence[str]) -> pl.DataFrame:
    try:
        frame, error = pl.read_ndjson(_without_bom(path), infer_schema_length=None), None
    except (pl.exceptions.PolarsError, OSError) as exc:
        if _blank(path):
            raise InputError(f"labels file {path} is empty", "Give it one JSON object a line, with the id and the label.") from None
        frame, error = None, exc
    if frame is not None:
        frame = _with_paths(frame, columns)
    if frame is None or _first_empty(frame, columns) is not None:
        _refuse(path, _first_bad_json_line(path, columns), error)
    _require_columns(frame, columns, path)
    _refuse_empty(frame, columns, path)
    return frame


def _with_paths(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """``frame`` plus a column for each dotted path among ``columns`` that lies inside an object
    (``eventMetadata.eventId`` in SageMaker's ground-truth files)."""
    for name in columns:
        parts = name.split(".")
        if name in frame.columns or len(parts) < 2 or parts[0] not in frame.columns:
            continue
        expr, dtype = pl.col(parts[0]), frame.schema[parts[0]]
        for part in parts[1:]:
            if not isinstance(dtype, pl.Struct) or part not in {f.name for f in dtype.fields}:
                break
            dtype = {f.name: f.dtype for f in dtype.fields}[part]
            expr = expr.struct.field(part)
        else:
            frame = frame.with_columns(expr.alias(name))
    return frame


def _blank(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return not any(line.strip() for line in handle)
    except OSError:
        return False


def _without_bom(path: Path) -> Path | io.BytesIO:
    """The file, or its bytes after a UTF-8 byte order mark (which Polars' JSON reader refuses)."""
    try:
        with open(path, "rb") as handle:
            if handle.read(len(_UTF8_BOM)) != _UTF8_BOM:
                return path
            return io.BytesIO(handle.read())
    except OSError:
        return path  # the reader says why


def _refuse(path: Path, bad: tuple[int, str] | None, error: Exception | None) -> None:
    """Raise InputError for the first bad line, else for the reader's own error (when no line is to blame)."""
    if bad is not None:
        raise InputError(f"labels file {path}:{bad[0]}: {bad[1]}", ALL_OR_NOTHING)
    if error is not None:
        raise InputError(f"cannot read labels file {path}: {error}".splitlines()[0],
                         "Use CSV with a header row, or JSON lines.")


def _require_columns(frame: pl.DataFrame, columns: Sequence[str], path: Path) -> None:
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise ConfigError(printable(f"labels file {path} has no column {missing[0]!r}"),
                          printable(f"Its columns: {', '.join(frame.columns)}. Name them with --label-id / --label-field."))


def _refuse_empty(frame: pl.DataFrame, columns: Sequence[str], path: Path) -> None:
    """A last guard, should Polars and the line check ever disagree: no label without an id or a value."""
    name = _first_empty(frame, columns)
    if name is not None:
        raise InputError(printable(f"labels file {path} has a line with no {name!r}"), ALL_OR_NOTHING)


# --- the failure path: Python, line by line ------------------------------------------------------


class _BadText(Exception):
    def __init__(self, number: int, reason: str):
        super().__init__(reason)
        self.number, self.reason = number, reason


class _Lines:
    """The file's lines as text, for ``csv.reader``; remembers where the record being read starts.

    Raises _BadText for a line that is not UTF-8 or holds a NUL byte (as UTF-16 text does).
    """

    def __init__(self, handle: BinaryIO):
        self.handle = handle
        self.number = 0
        self.record_start = 1
        self.record: list[str] = []
        self.utf16 = False

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        raw = self.handle.readline()
        if not raw:
            raise StopIteration
        self.number += 1
        if self.number == 1:
            self.utf16 = raw.startswith(_UTF16_BOMS) or b"\x00" in raw
        if not self.record:
            self.record_start = self.number
        advice = " (it looks like UTF-16); save the file as UTF-8" if self.utf16 else "; save the file as UTF-8"
        try:
            text = raw.decode("utf-8-sig" if self.number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise _BadText(self.number, "not UTF-8 text" + advice) from None
        if "\x00" in text:
            raise _BadText(self.number, "a NUL byte, so not UTF-8 text" + advice)
        self.record.append(text)
        return text

    def take_record(self) -> str:
        """The text of the record just read, and start the next one."""
        text, self.record = "".join(self.record), []
        return text


def _first_bad_csv_line(path: Path, separator: str, columns: Sequence[str]) -> tuple[int, str] | None:
    """The number of the first bad line of a CSV file, and what is wrong with it; None if every line is good."""
    try:
        with open(path, "rb") as handle:
            lines = _Lines(handle)
            reader = csv.reader(lines, delimiter=separator, strict=True)
            try:
                header = next(reader, None)
                if header is None:
                    return None
                lines.take_record()
                where = [header.index(name) for name in columns if name in header]
                for row in reader:
                    problem = _csv_row_problem(row, lines.take_record(), separator, header, columns, where)
                    if problem is not None:
                        return lines.record_start, problem
            except csv.Error as exc:
                unclosed = "end of data" in str(exc)
                return lines.record_start, "a quoted field that is never closed" if unclosed else f"bad quoting: {exc}"
            except _BadText as bad:
                return bad.number, bad.reason
    except OSError:
        return None
    return None


def _csv_row_problem(row: list[str], raw: str, separator: str, header: list[str], columns: Sequence[str],
                     where: list[int]) -> str | None:
    if not row:
        return None  # a blank line
    if _stray_quote(row, raw, separator):
        return 'a quote (") inside a field that does not start with one: quote the field and double the quote'
    if len(row) > len(header):
        return f"{len(row)} fields, more than the {len(header)} of the header"
    if len(where) < len(columns):
        return None  # the header lacks a column: said once, for the whole file
    for name, index in zip(columns, where):
        if index >= len(row):
            return f"{len(row)} field{'s' if len(row) != 1 else ''}, fewer than the {len(header)} of the header: no {name!r}"
        if not row[index].strip():
            return f"empty {name!r}"
    return None


def _stray_quote(row: list[str], raw: str, separator: str) -> bool:
    """Whether a field that does not start with a quote holds one, which Polars refuses (and Python's csv allows)."""
    pos = 0
    for value in row:
        if raw.startswith('"', pos):
            pos += 2 + len(value) + value.count('"')  # quotes around it, and each inner quote doubled
        elif '"' in value:
            return True
        else:
            pos += len(value)
        pos += len(separator)
    return False


def _first_bad_json_line(path: Path, columns: Sequence[str]) -> tuple[int, str] | None:
    """The number of the first bad line of a JSON-lines file, and what is wrong with it; None if every line is good."""
    try:
        with open(path, "rb") as handle:
            lines = _Lines(handle)
            try:
                for text in lines:
                    lines.take_record()
                    if text.strip():
                        problem = _json_line_problem(text, columns)
                        if problem is not None:
                            return lines.number, problem
            except _BadText as bad:
                return bad.number, bad.reason
    except OSError:
        return None
    return None


def _json_line_problem(text: str, columns: Sequence[str]) -> str | None:
    try:
        value = json.loads(text)
    except ValueError:
        return "not valid JSON"
    if not isinstance(value, dict):
        return "not a JSON object"
    for name in columns:
        if value.get(name) is None:
            return f"no {name!r}"
        if isinstance(value[name], str) and not value[name].strip():
            return f"empty {name!r}"
    return None
