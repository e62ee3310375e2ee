"""Decode JSON lines into normalized records and rejected lines.

Everything here is a Polars plan over a whole file or chunk. A clean, uncompressed
file takes the fast path: one parallel ``scan_ndjson`` of only the fields needed.
Any other file is read chunk by chunk, one text column per line: one pass marks
the lines that are too long, not UTF-8, or not matched by a regular expression
that only well-formed JSON objects match (the few unmatched ones are parsed to
decide), the bad lines are replaced by ``{}``, and one ``scan_ndjson`` parses the
rest. Should the parser still refuse a piece, it is split and retried, down to
``json_path_match`` line by line, which returns null for malformed JSON.
"""

from __future__ import annotations

import io
import json
import mmap
import os
from dataclasses import dataclass, field

import polars as pl

from mlmon.logs.chunks import LINE_SEPARATOR, SEPARATOR_STANDIN, Chunk, has_long_line, invalid_utf8_lines
from mlmon.errors import ConfigError
from mlmon.logs.mapping import MAX_PATH_DEPTH, RAW_REQUEST, RAW_RESPONSE, Mapping, Path_
from mlmon.logs.nesting import MALFORMED, NOT_OBJECT, maybe_deep, unparsed_reason
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
    """The fields to read, each a column name and the JSON path that holds it.

    A field inside the request or response object that is read whole (``latency_ms``
    at ``response.latency`` beside ``response``) is ``nested``: the scan cannot read one
    path both as text and as a struct, so the field is taken from the object's JSON
    text after decoding (:meth:`with_nested`).
    """

    columns: dict[str, Path_]
    #: Field name -> (the object column it is inside, its path within that object).
    nested: dict[str, tuple[str, Path_]] = field(default_factory=dict)

    @classmethod
    def build(cls, mapping: Mapping, names: list[str]) -> "Projection":
        columns: dict[str, Path_] = {}
        for name in names:
            path = mapping.path_of(name)
            if path is not None and len(path) > MAX_PATH_DEPTH:
                raise ConfigError(f"the field {name[:80]!r}{'…' if len(name) > 80 else ''} lies {len(path):,} keys deep; "
                                  f"mlmon reads fields at most {MAX_PATH_DEPTH} keys deep",
                                  "Check --by, --where, the rules' fields and the mapping.")
            if path is not None:
                columns[name] = path
        objects = {name: columns[name] for name in _OBJECT_COLUMNS if name in columns}
        nested: dict[str, tuple[str, Path_]] = {}
        # Inputs and outputs may share a root, or one lie inside the other (inputs: body, outputs:
        # body.prediction): the inner object is then taken from the outer one's text, as any field inside it.
        for name, path in list(objects.items()):
            outer = [obj for obj, root in objects.items() if obj != name and path[: len(root)] == root
                     and (len(root) < len(path) or obj == _OBJECT_COLUMNS[0])]
            if outer:
                nested[name] = (outer[0], path[len(objects[outer[0]]):])
                del columns[name], objects[name]
        for name, path in list(columns.items()):
            inside = [obj for obj, root in objects.items() if len(path) > len(root) and path[: len(root)] == root]
            if inside and name not in objects:
                nested[name] = (inside[0], path[len(objects[inside[0]]):])
                del columns[name]
        named = sorted((path, name) for name, path in columns.items())
        for (a, a_name), (b, b_name) in zip(named, named[1:]):
            if b[: len(a)] == a:
                raise ProjectionError(f"{_shown(a_name)} (at {'.'.join(a)!r}) and {_shown(b_name)} "
                                      f"(at {'.'.join(b)!r}) overlap, one inside the other")
        return cls(columns, nested)

    @classmethod
    def flat(cls, mapping: Mapping, names: list[str]) -> "Projection":
        """Every field at its own path, none nested: for :mod:`mlmon.logs.shape`, which finds each one
        in the line's text, so paths may overlap (a top-level root holds every other path)."""
        columns = {name: path for name in names if (path := mapping.path_of(name)) is not None}
        for name, path in columns.items():
            if len(path) > MAX_PATH_DEPTH:
                raise ConfigError(f"the field {name[:80]!r} lies {len(path):,} keys deep; "
                                  f"mlmon reads fields at most {MAX_PATH_DEPTH} keys deep",
                                  "Check --by, --where, the rules' fields and the mapping.")
        return cls(columns)

    @property
    def names(self) -> set[str]:
        """Every field read, nested ones included."""
        return {*self.columns, *self.nested}

    def with_nested(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` plus the nested fields, as text found in their object's JSON text (null where absent)."""
        if not self.nested:
            return frame
        return frame.with_columns(
            pl.col(obj).str.json_path_match(jsonpath(path)).alias(name) for name, (obj, path) in self.nested.items()
        )

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
            out.append(pl.col(LINE).str.json_path_match(jsonpath(path)).alias(name))
        return out


def _shown(name: str) -> str:
    """A field's name as an error names it (the whole request or response by its mapping key)."""
    return {RAW_REQUEST: "the inputs", RAW_RESPONSE: "the outputs"}.get(name, name[:80])


def jsonpath(path: Path_) -> str:
    """The JSONPath of ``path`` for ``json_path_match``."""
    return "$" + "".join(f"['{p}']" if "'" not in p else f".{p}" for p in path)


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
            if _ends_have_bad_line(handle, max_line_bytes):
                return None  # don't spend a whole parse to learn what the first or last lines tell
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
                if has_long_line(view, max_line_bytes):
                    return None
    except (pl.exceptions.PolarsError, OSError, ValueError):
        return None
    return _parse_all_good(path, projection, mapping)


def decode_chunk_fast(chunk: Chunk, projection: Projection, mapping: Mapping) -> tuple[pl.DataFrame, int] | None:
    """Records and number of lines of a chunk whose every line is good, in one parse; None if any line is bad.

    The same parse as :func:`decode_file_fast`, on one chunk: a clean chunk skips the
    line-by-line checks of :func:`decode_chunk`, which None sends it to.
    """
    data = chunk.data
    # A standin for the line separator was put there by make_chunk: the line path judges that line.
    if not data or chunk.has_long_line or chunk.huge_after or SEPARATOR_STANDIN in data:
        return None
    records = _parse_all_good(io.BytesIO(data), projection, mapping)
    if records is None:
        return None
    return records, data.count(b"\n") + (not data.endswith(b"\n"))


def _parse_all_good(source, projection: Projection, mapping: Mapping) -> pl.DataFrame | None:
    """Normalized records of every line of ``source`` (a path or a buffer), or None if any line is bad."""
    try:
        raw = _collect(
            pl.scan_ndjson(source, schema=projection.schema(typed=True))
            .select(projection.extract())
            # ts parsed in the same parallel plan as the scan
            .with_columns(fast_ts_expr() if "ts" in projection.columns else [])
        )
    except (pl.exceptions.PolarsError, OSError, ValueError):
        return None
    if _has_ambiguous_object_text(raw):
        return None  # the line path takes such objects from the line text (see _exact_object_text)
    return _all_good(normalize(projection.with_nested(_valid_object_text(raw)), mapping))


def ends_have_bad_line(path: str, max_line_bytes: int) -> bool:
    """Whether the first or last lines of a file include a bad one (then its chunks are not worth parsing
    whole first: see :func:`decode_chunk_fast`)."""
    try:
        with open(path, "rb") as handle:
            return _ends_have_bad_line(handle, max_line_bytes)
    except OSError:
        return False  # the reader reports it


#: How much of a file's start, and of its end, is checked before trying the whole-file scan.
_PROBE_BYTES = 1024 * 1024


def _ends_have_bad_line(handle, max_line_bytes: int) -> bool:
    """Whether the file's first or last whole lines include one that is not a well-formed JSON object.

    The end matters as much as the start: a log still being written often ends with
    a line cut short, which would fail the whole-file scan only after all of it.
    """
    size = os.fstat(handle.fileno()).st_size
    head = handle.read(_PROBE_BYTES)
    if _has_bad_line(head[: head.rfind(b"\n") + 1], max_line_bytes):
        return True
    if size <= _PROBE_BYTES:
        return _has_bad_line(head[head.rfind(b"\n") + 1 :], max_line_bytes)  # an unterminated last line
    tail = os.pread(handle.fileno(), _PROBE_BYTES, size - _PROBE_BYTES)
    return _has_bad_line(tail[tail.find(b"\n") + 1 :], max_line_bytes)


def _has_bad_line(data: bytes, max_line_bytes: int) -> bool:
    chunk = Chunk(data, has_long_line=has_long_line(data, max_line_bytes))
    reasons = _classify(_read_lines(data), chunk, max_line_bytes).get_column(REASON)
    return bool((reasons.is_not_null() & (reasons != _BLANK)).any())


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
_REPLACEMENT_LEAD = _REPLACEMENT.encode()[:1]


def _invalid_utf8(data: bytes) -> pl.Expr:
    """True for the lines of ``data`` that hold invalid UTF-8 (as read, they hold U+FFFD instead).

    When the raw bytes hold no U+FFFD of their own, every U+FFFD read stands for
    invalid bytes, so a vectorized search settles it. Otherwise the bytes are validated.
    """
    if _REPLACEMENT_LEAD not in data or _REPLACEMENT.encode() not in data:  # one byte is searched much faster
        return pl.col(LINE).str.contains(_REPLACEMENT, literal=True).fill_null(False)
    return pl.int_range(pl.len()).is_in(invalid_utf8_lines(data))


def decode_chunk(
    chunk: Chunk, source: str, projection: Projection, mapping: Mapping, max_line_bytes: int, numbered: bool = False
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Records, rejects and the number of lines of one chunk.

    Rejects are numbered from 1 at the chunk's first line; the reader, which knows
    how many lines came before, adds that. With ``numbered``, records keep their
    line number too, in LINE_NO.
    """
    lines = _classify(_read_lines(chunk.data), chunk, max_line_bytes)
    n_lines = lines.height
    decoded = _exact_object_text(_decode_lines(lines, projection, chunk.data), projection)
    decoded = projection.with_nested(_valid_object_text(decoded))
    normalized = normalize(decoded, mapping, keep=[LINE_NO, LINE])
    good = normalized.select(pl.exclude(LINE) if numbered else pl.exclude(LINE_NO, LINE))
    good = good.filter(pl.col(REASON).is_null()).drop(REASON)
    rejects = chunk_rejects(normalized, source, chunk, n_lines, max_line_bytes)
    return good, rejects, n_lines + len(chunk.huge_after)


def chunk_rejects(normalized: pl.DataFrame, source: str, chunk: Chunk, n_lines: int, max_line_bytes: int) -> pl.DataFrame:
    """The bad lines of a normalized chunk (blank lines are not bad), and the long lines cut out after it."""
    rejects = normalized.filter(pl.col(REASON).is_not_null() & (pl.col(REASON) != _BLANK)).select(
        pl.lit(source, pl.String).alias("file"),
        pl.col(LINE_NO).alias("line"),
        pl.col(REASON).alias("reason"),
        # A slice would share the whole chunk's text buffer and keep it alive: copy.
        pl.concat_str(pl.col(LINE).str.slice(0, RAW_LIMIT), pl.lit("")).alias("raw"),
    )
    if chunk.huge_after:
        huge = pl.DataFrame(
            {
                "file": [source] * len(chunk.huge_after),
                "line": list(range(n_lines + 1, n_lines + 1 + len(chunk.huge_after))),
                "reason": [f"line longer than {max_line_bytes} bytes"] * len(chunk.huge_after),
                "raw": [p.decode("utf-8", "replace") + "…" for p in chunk.huge_after],
            },
            schema=REJECT_SCHEMA,
        )
        rejects = pl.concat([rejects, huge])
    return rejects


#: Columns that hold a whole JSON object as text (for input/output fields and replay).
_OBJECT_COLUMNS = (RAW_REQUEST, RAW_RESPONSE)


def _has_ambiguous_object_text(raw: pl.DataFrame) -> bool:
    """Whether an object read as text holds a backslash (see :func:`_exact_object_text`)."""
    return any(raw.get_column(name).str.contains("\\", literal=True).any()
               for name in _OBJECT_COLUMNS if name in raw.columns)


_CONTROLS = [chr(code) for code in range(0x20)]


def _escape_controls(objects: pl.Series) -> pl.Series:
    """The objects' JSON text with raw control characters written as ``\\u00XX`` escapes.

    The reader hands an object back as text without escaping the control characters
    in its strings (``"a\\u001bb"`` comes back with a raw ESC), which is not valid JSON.
    Such a character can only stand inside a string there, where the escape means the
    same. Only the rows that hold one are rewritten, one pass per character present; a
    plain string value (not an object or array) is text, not JSON, and stays as it is.
    """
    text = pl.col("t")
    has_control = (text.str.contains(r"^[\[{]") & text.str.contains(r"[\x00-\x1f]")).fill_null(False)
    # In a streaming plan the rows are searched on every core; eagerly, on one.
    rows = objects.to_frame("t").lazy().select(has_control).collect(engine="streaming").to_series().arg_true()
    if not rows.len():
        return objects
    fixed = objects.gather(rows)
    for char in _CONTROLS:
        if fixed.str.contains(char, literal=True).any():
            fixed = fixed.str.replace_all(char, f"\\u{ord(char):04x}", literal=True)
    return objects.clone().scatter(rows, fixed)


def _valid_object_text(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with the control characters in its objects' text escaped (see :func:`_escape_controls`)."""
    fixed = [_escape_controls(frame.get_column(name)) for name in _OBJECT_COLUMNS if name in frame.columns]
    return frame.with_columns(fixed) if fixed else frame


def _exact_object_text(decoded: pl.DataFrame, projection: Projection) -> pl.DataFrame:
    """Objects read as text, exactly: the rows whose text holds a backslash are taken from the line again.

    The reader writes an object read as text back out escaping quotes and newlines
    but not backslashes, so a logged ``"C:\\\\temp"`` comes back as ``"C:\\temp"``
    (a tab) and ``"end\\\\"`` as broken JSON; nothing tells those apart afterwards.
    ``json_path_match`` on the line gives the object's JSON text exactly; it runs only
    on the rows that hold a backslash (and Python's parser on the few of those nested
    too deep for it).
    """
    for name in _OBJECT_COLUMNS:
        if name not in decoded.columns or name not in projection.columns:
            continue
        rows = decoded.get_column(name).str.contains("\\", literal=True).fill_null(False).arg_true()
        if rows.len():
            exact = decoded.select(LINE).gather(rows).select(projection.path_matches(only=name)).to_series()
            deep = exact.is_null().arg_true()
            if deep.len():
                lines = decoded.get_column(LINE).gather(rows.gather(deep)).to_list()
                scanned = decoded.get_column(name).gather(rows.gather(deep)).to_list()
                exact = exact.scatter(deep, pl.Series([_reencoded(line, projection.columns[name], text)
                                                       for line, text in zip(lines, scanned)], dtype=pl.String))
            decoded = decoded.with_columns(decoded.get_column(name).scatter(rows, exact))
    return decoded


def _reencoded(line: str, path: Path_, scanned: str) -> str:
    """The object at ``path`` in a line nested too deep for json_path_match, as JSON text that Python
    writes; the ``scanned`` text where even Python's parser gives up (about 1,000 levels)."""
    try:
        value = json.loads(line)
        for key in path:
            value = value[key]
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (RecursionError, ValueError, KeyError, TypeError):
        return scanned


_LOOK_CLOSER = "?"
_LOOK_DEEPER = "??"
_BLANK = "blank"


def _classify(lines: pl.DataFrame, chunk: Chunk, max_line_bytes: int) -> pl.DataFrame:
    """Number the lines and set REASON for each one that is not a well-formed JSON object.

    One pass settles almost every line: too long, invalid UTF-8, or matched by a
    regular expression that only well-formed JSON objects match. The few lines left
    (blank, not an object, malformed, or nested deeper than the expression goes)
    are looked at closer.
    """
    line = pl.col(LINE)
    checks: list[tuple[pl.Expr, str]] = []
    # Invalid UTF-8 first: its U+FFFD stand-ins make a line longer than it is.
    if not chunk.data.isascii():
        checks.append((_invalid_utf8(chunk.data), "invalid UTF-8"))
    if chunk.has_long_line:
        checks.append((line.str.len_bytes() > max_line_bytes, f"line longer than {max_line_bytes} bytes"))
    checks.append((~line.str.contains(WELL_FORMED_OBJECT).fill_null(False), _LOOK_CLOSER))
    reason = pl.when(checks[0][0]).then(pl.lit(checks[0][1]))
    for check, text in checks[1:]:
        reason = reason.when(check).then(pl.lit(text))
    lines = lines.lazy().with_row_index(LINE_NO, offset=1).with_columns(
        pl.col(LINE_NO).cast(pl.Int64),
        reason.alias(REASON),
        line.str.len_bytes().fill_null(0).cast(pl.Int64).alias(_LEN),  # as read, before any change
    ).collect()
    if lines.get_column(REASON).null_count() != lines.height:
        lines = _look_closer(lines)
    return lines


def _look_closer(lines: pl.DataFrame) -> pl.DataFrame:
    """Settle the rare lines the expression did not clear: blank, not an object, malformed, or deep."""
    marked = lines.with_row_index("_i")
    odd = marked.filter(pl.col(REASON) == _LOOK_CLOSER)
    stripped = pl.col(LINE).str.strip_chars()
    cleared = _objects_at_once(odd, stripped)
    if cleared is not None:  # well-formed objects: no reason (and their text stripped, as below)
        hit = pl.col("_i").is_in(cleared.implode())
        marked = marked.with_columns(pl.when(hit).then(pl.lit(None, pl.String)).otherwise(pl.col(REASON)).alias(REASON),
                                     pl.when(hit).then(stripped).otherwise(pl.col(LINE)).alias(LINE))
        odd = marked.filter(pl.col(REASON) == _LOOK_CLOSER)
    # Null is the one valid line that json_path_match gives as null.
    valid = stripped.str.json_path_match("$").is_not_null() | (stripped == "null")
    settled = odd.select(
        "_i",
        pl.when(stripped.is_null() | (stripped == ""))
        .then(pl.lit(_BLANK))
        .when(valid & stripped.str.starts_with("{"))
        .then(pl.lit(None, pl.String))
        .when(valid)
        .then(pl.lit(NOT_OBJECT))
        .when(maybe_deep(stripped))
        .then(pl.lit(_LOOK_DEEPER))
        .otherwise(pl.lit(MALFORMED))
        .alias("_settled"),
        stripped.alias("_stripped"),
    )
    deeper = (settled.get_column("_settled") == _LOOK_DEEPER).arg_true()
    if deeper.len():
        reasons = unparsed_reason(settled.get_column("_stripped").gather(deeper))
        settled = settled.with_columns(settled.get_column("_settled").scatter(deeper, reasons))
    merged = marked.join(settled.drop("_stripped"), on="_i", how="left", maintain_order="left")
    closer = pl.col(REASON) == _LOOK_CLOSER
    return merged.with_columns(
        pl.when(closer).then(pl.col("_settled")).otherwise(pl.col(REASON)).alias(REASON),
        pl.when(closer).then(stripped).otherwise(pl.col(LINE)).alias(LINE),
    ).drop("_i", "_settled")


#: A key no log has: the strict JSON-lines parse in _objects_at_once reads nothing, it only checks.
_NO_KEY = "\u0000mlmon-checks-only"


def _objects_at_once(odd: pl.DataFrame, stripped: pl.Expr) -> pl.Series | None:
    """The row indexes (``_i``) of the odd lines that are well-formed JSON objects, found by one strict parse
    of them all (lines the regular expression could not clear, such as objects nested past its depth,
    are mostly good; where the parse refuses one, halves are parsed again); None when none is cleared so.

    Blank lines and lines that may be nested deeper than json_path_match reads are left to the line checks,
    which judge every line as before: this only clears, at once, lines they would clear one by one.
    """
    # (An escaped surrogate is left to them too: this parser takes a lone one, json_path_match does not.)
    shallow = odd.select("_i", stripped.alias("_t")).filter(
        (pl.col("_t") != "") & ~maybe_deep(pl.col("_t")).fill_null(True)
        & ~pl.col("_t").str.contains(r"\\u[dD][89a-fA-F]").fill_null(True))
    cleared = _parsed_whole(shallow)
    return pl.concat(cleared) if cleared else None


def _parsed_whole(shallow: pl.DataFrame) -> list[pl.Series]:
    """The ``_i`` of the lines (``_t``) one strict parse takes; where it refuses one, each half is tried again,
    down to a few lines (which the line checks then settle)."""
    if shallow.height < 16:  # a few lines: the line checks cost less than setting up a parse
        return []
    buffer = io.BytesIO()
    shallow.select("_t").write_csv(buffer, include_header=False, quote_style="never")
    buffer.seek(0)
    try:
        if pl.read_ndjson(buffer, schema={_NO_KEY: pl.String}).height == shallow.height:
            return [shallow.get_column("_i")]
    except (pl.exceptions.PolarsError, ValueError):
        pass
    half = shallow.height // 2
    return [*_parsed_whole(shallow.head(half)), *_parsed_whole(shallow.slice(half))]


def _decode_lines(lines: pl.DataFrame, projection: Projection, data: bytes | None = None) -> pl.DataFrame:
    """Lines plus one raw column per projected field.

    Lines with a REASON are replaced by ``{}`` so that the rest can be parsed by one
    parallel ``scan_ndjson`` with exactly one row per line. When every line is good,
    the chunk's own bytes (``data``) are parsed as they are. Should the parser still
    refuse a piece, it is split and retried, and the smallest pieces are decoded line
    by line with ``json_path_match``, which gives null instead of failing.
    """
    if lines.height == 0:
        return lines.with_columns(pl.lit(None, pl.String).alias(n) for n in projection.columns)
    spliced = None
    if data is not None and lines.get_column(REASON).null_count() == lines.height:
        buffer = io.BytesIO(data)
    elif data is not None and (spliced := _splice(data, lines)) is not None:
        buffer = io.BytesIO(spliced)
    else:
        text = pl.when(pl.col(REASON).is_null()).then(pl.col(LINE)).otherwise(pl.lit("{}"))
        buffer = io.BytesIO()
        lines.select(text).write_csv(buffer, include_header=False, quote_style="never")
        buffer.seek(0)
    try:
        # Numbers are parsed as numbers (a value of another type becomes null, and is
        # looked at again below): reading them as text would format each one back.
        raw = _collect(
            pl.scan_ndjson(buffer, schema=projection.schema(typed=True), ignore_errors=True)
            .select(projection.extract())
            .with_columns(fast_ts_expr() if "ts" in projection.columns else [])
        )
        if raw.height == lines.height:
            return _recover_numbers(pl.concat([lines, raw], how="horizontal"), projection)
    except pl.exceptions.PolarsError:
        pass
    if lines.height <= _TOLERANT_ROWS:
        return _decode_tolerant(lines, projection)
    step = -(-lines.height // _SPLIT)
    return pl.concat([_decode_lines(lines.slice(i, step), projection) for i in range(0, lines.height, step)],
                     how="diagonal_relaxed")


_LEN = "_len"
_BOM = b"\xef\xbb\xbf"
#: Above this share of bad lines in a chunk, the text is rewritten instead of spliced.
_MAX_SPLICED = 0.05


def _splice(data: bytes, lines: pl.DataFrame) -> bytes | None:
    """``data`` with each line that has a REASON replaced by ``{}``; None where that is unsure.

    The lines' byte offsets come from their lengths as read: exact, but for a line read
    with U+FFFD (it may have held invalid UTF-8), whose length is found in the bytes, and
    for CRLF line ends (read without the CR: then None). The offsets are checked against the
    data's length and each cut against its newlines. One copy of the chunk, instead
    of building a new text column and writing it out.
    """
    reason = lines.get_column(REASON)
    bad = reason.is_not_null()
    if bad.sum() > _MAX_SPLICED * lines.height + 16 or b"\r" in data or data.startswith(_BOM):
        return None  # (the reader drops CRs and a byte-order mark: the lengths would not add up)
    lengths = lines.get_column(_LEN)
    # A line read with U+FFFD may have held other bytes: measure it in the data instead.
    texts = lines.get_column(LINE)
    unsure = (texts.str.contains(_REPLACEMENT, literal=True).fill_null(False) if not data.isascii()
              else pl.Series(dtype=pl.Boolean)).arg_true()
    if unsure.len() > _MAX_SPLICED * lines.height + 16:
        return None
    if unsure.len():
        guessed = ((lengths + 1).cum_sum() - (lengths + 1)).gather(unsure).to_list()
        shift, exact = 0, []
        for start, length in zip(guessed, lengths.gather(unsure).to_list()):
            start += shift
            if not 0 <= start <= len(data) or (start and data[start - 1] != 0x0A):
                return None
            end = data.find(b"\n", start)
            exact.append((len(data) if end == -1 else end) - start)
            shift += exact[-1] - length
        lengths = lengths.clone().scatter(unsure, exact)
    sizes = lengths + 1
    if sizes.sum() not in (len(data), len(data) + 1):  # (+1: no newline after the last line)
        return None
    rows = bad.arg_true()
    starts = (sizes.cum_sum() - sizes).gather(rows).to_list()
    view, pieces, pos = memoryview(data), [], 0
    for start, length in zip(starts, lengths.gather(rows).to_list()):
        end = start + length
        if not pos <= start <= end <= len(data):
            return None
        if (start and data[start - 1] != 0x0A) or (end < len(data) and data[end] != 0x0A):
            return None
        pieces += (view[pos:start], b"{}")
        pos = end
    pieces.append(view[pos:])
    return b"".join(pieces)


def _recover_numbers(decoded: pl.DataFrame, projection: Projection) -> pl.DataFrame:
    """Settle the numeric fields the typed parse left null although their key is on the line.

    Such a value is text, a boolean, an object or an array. Text that holds a number
    is taken as that number, as the text path would; any other value becomes NaN,
    which normalizing reports as a value of the wrong type.
    """
    for name, path in projection.columns.items():
        if name not in _NUMERIC:
            continue
        column = decoded.get_column(name)
        if not column.null_count():
            continue
        # Rows are picked eagerly, step by step: in one lazy plan Polars fuses the filters and
        # runs the text search on every row.
        rows = (column.is_null() & decoded.get_column(REASON).is_null()).arg_true()
        if not rows.len():
            continue
        lines = decoded.get_column(LINE).gather(rows)
        # The key's name as written, or any escape (a key may spell a letter as \u0073).
        named = lines.str.contains(f'"{path[-1]}"', literal=True) | lines.str.contains("\\u", literal=True)
        # Parsed as the scan parsed them (json_path_match stops at lines nested 128 deep).
        found = pl.DataFrame({"_i": rows.filter(named), name: _read_text(lines.filter(named), path)}).filter(
            pl.col(name).is_not_null()
        )
        if not found.height:
            continue
        text = found.get_column(name)
        value = text.cast(pl.Float64, strict=False).fill_null(float("nan"))
        decoded = decoded.with_columns(column.scatter(found.get_column("_i"), value))
    return decoded


def _read_text(lines: pl.Series, path: Path_) -> pl.Series:
    """The value at ``path`` in each line, as text (objects as JSON text); the lines parse as JSON objects."""
    if not lines.len():
        return pl.Series(dtype=pl.String)
    one = Projection({"_v": path})
    text = io.BytesIO(lines.str.join("\n").item().encode())
    return pl.read_ndjson(text, schema=one.schema()).select(one.extract()).to_series()


def _decode_tolerant(lines: pl.DataFrame, projection: Projection) -> pl.DataFrame:
    """Decode a small piece with json_path_match, which gives null for malformed JSON instead of failing."""
    return lines.with_columns(*projection.path_matches()).with_columns(
        pl.when(pl.col(REASON).is_null() & pl.col(LINE).str.json_path_match("$").is_null())
        .then(pl.lit(MALFORMED))
        .otherwise(pl.col(REASON))
        .alias(REASON)
    )
