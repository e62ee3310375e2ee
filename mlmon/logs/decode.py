"""Decode one chunk of JSON lines into normalized records and rejected lines.

Everything here is a Polars plan over a whole chunk. A clean chunk takes the
fast path (``scan_ndjson``). A chunk with a bad line is read one text column per
line, and decoded with ``json_decode``; where that fails, the chunk is split and
retried, and the small pieces that still fail are decoded with
``json_path_match``, which returns null for malformed JSON instead of failing.
"""

from __future__ import annotations

import io
import mmap
import os
from dataclasses import dataclass

import polars as pl

from mlmon.logs.chunks import LINE_SEPARATOR, Chunk, has_long_line, invalid_utf8_lines
from mlmon.logs.mapping import Mapping, Path_
from mlmon.logs.normalize import REASON, fast_ts_expr, normalize
from mlmon.logs.wellformed import WELL_FORMED_OBJECT

LINE = "_line"
LINE_NO = "_line_no"
RAW_LIMIT = 64 * 1024  # characters of a bad line kept in the rejects

REJECT_SCHEMA = {"file": pl.String, "line": pl.Int64, "reason": pl.String, "raw": pl.String}

#: Below this many lines a failing piece is decoded line by line with json_path_match.
_TOLERANT_ROWS = 2048
_SPLIT = 8


_NUMERIC = ("status", "latency_ms", "cpu_percent", "memory_mb")


class ProjectionError(ValueError):
    pass


@dataclass(frozen=True)
class Projection:
    """The fields to read, each a column name and the JSON path that holds it."""

    columns: dict[str, Path_]

    @classmethod
    def build(cls, mapping: Mapping, names: list[str]) -> "Projection":
        columns: dict[str, Path_] = {}
        for name in names:
            path = mapping.path_of(name)
            if path is not None:
                columns[name] = path
        paths = sorted(columns.values())
        for a, b in zip(paths, paths[1:]):
            if b[: len(a)] == a:
                raise ProjectionError(
                    f"the fields at {'.'.join(a)!r} and {'.'.join(b)!r} overlap; one is inside the other"
                )
        return cls(columns)

    def _tree(self) -> dict:
        tree: dict = {}
        for path in self.columns.values():
            node = tree
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = None
        return tree

    def schema(self, typed: bool = False) -> dict[str, pl.DataType]:
        """The top-level JSON schema: leaves read as text, or numbers typed when ``typed``.

        Text accepts any JSON value (objects come back as JSON text), so the line path
        can find values of the wrong type itself; the typed fast path fails instead.
        """
        numeric = {path for name, path in self.columns.items() if name in _NUMERIC}

        def dtype(node, path):
            if node is None:
                return pl.Float64() if typed and path in numeric else pl.String()
            return pl.Struct({k: dtype(v, path + (k,)) for k, v in node.items()})

        return {k: dtype(v, (k,)) for k, v in self._tree().items()}

    def extract(self, source: pl.Expr | None = None) -> list[pl.Expr]:
        """Expressions that pull each leaf out of the decoded struct (or top-level columns)."""
        out = []
        for name, path in self.columns.items():
            expr = pl.col(path[0]) if source is None else source.struct.field(path[0])
            for part in path[1:]:
                expr = expr.struct.field(part)
            out.append(expr.alias(name))
        return out

    def path_matches(self, only: str | None = None) -> list[pl.Expr]:
        """The same leaves, found with json_path_match: null for malformed JSON, text for objects."""
        out = []
        for name, path in self.columns.items():
            if only is not None and name != only:
                continue
            jsonpath = "$" + "".join(f"['{p}']" if "'" not in p else f".{p}" for p in path)
            out.append(pl.col(LINE).str.json_path_match(jsonpath).alias(name))
        return out


def empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECT_SCHEMA)


def _collect(lf: pl.LazyFrame) -> pl.DataFrame:
    return lf.collect(engine="streaming")


def decode_file_fast(path: str, projection: Projection, mapping: Mapping, max_line_bytes: int) -> pl.DataFrame | None:
    """All records of a clean, uncompressed file in one parallel scan, or None if any line is bad.

    None sends the file to the line path, which finds and numbers the bad lines.
    """
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                return None
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
                if has_long_line(view, max_line_bytes):
                    return None
        raw = _collect(
            pl.scan_ndjson(path, schema=projection.schema(typed=True))
            .select(projection.extract())
            .with_columns(fast_ts_expr())  # parsed in the same parallel plan as the scan
        )
    except (pl.exceptions.PolarsError, OSError, ValueError):
        return None
    return _all_good(normalize(raw, mapping))


def _all_good(frame: pl.DataFrame) -> pl.DataFrame | None:
    if frame.get_column(REASON).null_count() != frame.height:
        return None
    return frame.drop(REASON)


def _read_lines(data: bytes) -> pl.DataFrame:
    if not data:
        return pl.DataFrame(schema={LINE: pl.String})
    return pl.read_csv(
        io.BytesIO(data),
        has_header=False,
        separator=LINE_SEPARATOR.decode(),
        quote_char=None,
        schema={LINE: pl.String},
        encoding="utf8-lossy",  # invalid bytes become U+FFFD; _invalid_utf8 finds those lines
        truncate_ragged_lines=True,
        raise_if_empty=False,
    )


_REPLACEMENT = "\ufffd"


def _invalid_utf8(data: bytes) -> pl.Expr:
    """True for the lines of ``data`` that hold invalid UTF-8 (as read, they hold U+FFFD instead).

    When the raw bytes hold no U+FFFD of their own, every U+FFFD read stands for
    invalid bytes, so a vectorized search settles it. Otherwise the bytes are validated.
    """
    if data.isascii():
        return pl.lit(False)
    if _REPLACEMENT.encode() not in data:
        return pl.col(LINE).str.contains(_REPLACEMENT, literal=True).fill_null(False)
    return pl.int_range(pl.len()).is_in(invalid_utf8_lines(data))


def decode_chunk(
    chunk: Chunk, source: str, projection: Projection, mapping: Mapping, max_line_bytes: int
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Records, rejects and the number of lines of one chunk.

    Rejects are numbered from 1 at the chunk's first line; the reader, which knows
    how many lines came before, adds that.
    """
    first_line = 1
    lines = _read_lines(chunk.data)
    n_lines = lines.height
    line = pl.col(LINE)
    lines = lines.with_row_index(LINE_NO, offset=first_line).with_columns(pl.col(LINE_NO).cast(pl.Int64))
    shaped = line.str.starts_with("{") & line.str.ends_with("}")
    lines = lines.with_columns(
        pl.when(line.str.len_bytes() > max_line_bytes)
        .then(pl.lit(f"line longer than {max_line_bytes} bytes"))
        .when(_invalid_utf8(chunk.data))
        .then(pl.lit("invalid UTF-8"))
        .when(~shaped.fill_null(False))
        .then(pl.lit(_LOOK_CLOSER))
        .alias(REASON)
    )
    if lines.get_column(REASON).null_count() != lines.height:
        lines = _look_closer(lines.with_row_index("_i"))
    decoded = _decode_lines(lines, projection, chunk.data)
    normalized = normalize(decoded, mapping, keep=[LINE_NO, LINE])
    good = normalized.filter(pl.col(REASON).is_null()).drop(REASON, LINE_NO, LINE)
    rejects = normalized.filter(pl.col(REASON).is_not_null() & (pl.col(REASON) != _BLANK)).select(
        pl.lit(source, pl.String).alias("file"),
        pl.col(LINE_NO).alias("line"),
        pl.col(REASON).alias("reason"),
        pl.col(LINE).str.slice(0, RAW_LIMIT).alias("raw"),
    )
    if chunk.huge_after:
        huge = pl.DataFrame(
            {
                "file": [source] * len(chunk.huge_after),
                "line": list(range(first_line + n_lines, first_line + n_lines + len(chunk.huge_after))),
                "reason": [f"line longer than {max_line_bytes} bytes"] * len(chunk.huge_after),
                "raw": [p.decode("utf-8", "replace") + "…" for p in chunk.huge_after],
            },
            schema=REJECT_SCHEMA,
        )
        rejects = pl.concat([rejects, huge])
    return good, rejects, n_lines + len(chunk.huge_after)


_LOOK_CLOSER = "?"
_BLANK = "blank"


def _look_closer(lines: pl.DataFrame) -> pl.DataFrame:
    """Settle the rare lines that are not plainly ``{...}``: blank, padded, or not an object.

    ``lines`` carries a row index ``_i``; only the rows in question are examined.
    """
    odd = lines.filter(pl.col(REASON) == _LOOK_CLOSER)
    stripped = pl.col(LINE).str.strip_chars()
    settled = odd.select("_i", pl.when(stripped.is_null() | (stripped == ""))
        .then(pl.lit(_BLANK))
        .when(stripped.str.starts_with("{") & stripped.str.ends_with("}"))
        .then(None)
        .when(stripped.str.starts_with("[") | stripped.str.starts_with('"'))
        .then(pl.lit("not a JSON object"))
        .otherwise(pl.lit("malformed JSON"))
        .alias("_settled"), stripped.alias("_stripped"))
    merged = lines.join(settled, on="_i", how="left", maintain_order="left")
    return merged.with_columns(
        pl.when(pl.col(REASON) == _LOOK_CLOSER).then(pl.col("_settled")).otherwise(pl.col(REASON)).alias(REASON),
        pl.when(pl.col(REASON) == _LOOK_CLOSER).then(pl.col("_stripped")).otherwise(pl.col(LINE)).alias(LINE),
    ).drop("_i", "_settled", "_stripped")


def _decode_lines(
    lines: pl.DataFrame, projection: Projection, data: bytes | None = None, sieved: bool = False
) -> pl.DataFrame:
    """Lines plus one raw column per projected field; REASON marks lines that are not JSON.

    Lines already known to be bad are replaced by ``{}`` so that the rest can be
    parsed by one parallel ``scan_ndjson`` with exactly one row per line. When no
    line is known to be bad, the chunk's own bytes (``data``) are parsed as they are.
    """
    if lines.height == 0:
        return lines.with_columns(pl.lit(None, pl.String).alias(n) for n in projection.columns)
    if not sieved and _recent_sieves.value > 0:
        # Recent chunks had malformed lines inside: sieve first rather than fail a parse first.
        lines, sieved = _sieve(lines, projection), True
    if data is not None and lines.get_column(REASON).null_count() == lines.height:
        buffer = io.BytesIO(data)
    else:
        text = pl.when(pl.col(REASON).is_null()).then(pl.col(LINE)).otherwise(pl.lit("{}"))
        buffer = io.BytesIO()
        lines.select(text).write_csv(buffer, include_header=False, quote_style="never")
        buffer.seek(0)
    try:
        raw = _collect(pl.scan_ndjson(buffer, schema=projection.schema()).select(projection.extract()))
        if raw.height == lines.height:
            if sieved and not (lines.get_column(REASON) == "malformed JSON").any():
                _recent_sieves.value = max(0, _recent_sieves.value - 1)
            return pl.concat([lines, raw], how="horizontal")
    except pl.exceptions.PolarsError:
        pass
    if not sieved:
        # Some line is malformed inside: find them all in one parallel pass, then parse the rest at once.
        _recent_sieves.value = 4
        return _decode_lines(_sieve(lines, projection), projection, sieved=True)
    if lines.height <= _TOLERANT_ROWS:
        return _decode_tolerant(lines, projection)
    step = -(-lines.height // _SPLIT)
    return pl.concat([_decode_lines(lines.slice(i, step), projection, sieved=True)
                      for i in range(0, lines.height, step)])


class _Counter:
    """Chunks left to sieve first; set when a chunk had malformed lines, counted down by clean ones."""

    value = 0


_recent_sieves = _Counter()


def _sieve(lines: pl.DataFrame, projection: Projection) -> pl.DataFrame:
    """Mark every malformed line: REASON becomes "malformed JSON".

    A regular expression that matches only well-formed JSON objects clears almost
    every line cheaply; the few it does not clear are parsed, whole, to decide.
    """
    marked = lines.with_row_index("_i").with_columns(
        (pl.col(REASON).is_null() & ~pl.col(LINE).str.contains(WELL_FORMED_OBJECT)).alias("_miss")
    )
    misses = marked.filter(pl.col("_miss")).select(
        "_i", pl.col(LINE).str.json_path_match("$").is_null().alias("_malformed")
    )
    marked = marked.join(misses, on="_i", how="left", maintain_order="left")
    return marked.with_columns(
        pl.when(pl.col("_malformed").fill_null(False)).then(pl.lit("malformed JSON")).otherwise(pl.col(REASON)).alias(REASON)
    ).select(lines.columns)


def _decode_tolerant(lines: pl.DataFrame, projection: Projection) -> pl.DataFrame:
    """Decode a small piece with json_path_match, which gives null for malformed JSON instead of failing."""
    return lines.with_columns(*projection.path_matches()).with_columns(
        pl.when(pl.col(REASON).is_null() & pl.col(LINE).str.json_path_match("$").is_null())
        .then(pl.lit("malformed JSON"))
        .otherwise(pl.col(REASON))
        .alias(REASON)
    )
