"""Read records whose mapping needs more than flat paths: decoders, array indexes, top-level roots.

Every field is found with ``json_path_match`` on the line's text (which takes array
indexes, ``$['timestamps'][0]['ns']``), or on the text a decoder made of a string
field (JSON, CSV or base64 inside a string). All of it is expressions over a whole
chunk of lines: no Python runs per record. Lines are judged as everywhere else
(:func:`mlmon.logs.decode._classify`), and records checked by :func:`normalize`.

Paired events (``join``) and batched rows (``explode``) are put together after this,
by :class:`mlmon.logs.pairs.Assembler`, since a pair may straddle two chunks or files.
"""

from __future__ import annotations

import polars as pl

from mlmon.logs.chunks import Chunk
from mlmon.logs.decode import (LINE, LINE_NO, Projection, _BLANK, _classify, _read_lines, chunk_rejects,
                               empty_rejects)
from mlmon.logs.hooks import Decoder
from mlmon.logs.mapping import RAW_REQUEST, RAW_RESPONSE, Mapping, Path_
from mlmon.logs.normalize import REASON, normalize

#: Extra columns of a record read by this module, for the assembler: which event of a pair it is,
#: the key that pairs it, and its time in nanoseconds.
KIND, KEY, TIME_NS = "_kind", "_key", "_time_ns"
#: A number as JSON writes it: such CSV values become JSON numbers, others strings.
_NUMBER = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
_ISO_NS = "%Y-%m-%dT%H:%M:%S%.f%#z"


def jsonpath(path: Path_) -> str:
    """The JSONPath of ``path``; a part of only digits is an array index."""
    out = "$"
    for part in path:
        if part.isdigit():
            out += f"[{int(part)}]"
        elif "'" in part:
            out += f".{part}"
        else:
            out += f"['{part}']"
    return out


def json_string(text: pl.Expr) -> pl.Expr:
    """``text`` as a JSON string literal (quoted and escaped), null stays null."""
    encoded = pl.struct(text.alias("v")).struct.json_encode()
    return pl.when(text.is_not_null()).then(encoded.str.slice(5).str.strip_suffix("}"))


class Finder:
    """Expressions for the JSON text at a path of the line, through the mapping's decoders.

    ``json_path_match`` gives an object or array as its JSON text and a string without its
    quotes: the text a decoder reads. A path below a decoded field is looked up in the
    decoded text.
    """

    def __init__(self, mapping: Mapping, widths: dict[Path_, int], base: dict[Path_, str] | None = None):
        self.decoders = mapping.hooks.decode
        self.alternatives = mapping.hooks.alternatives
        self.widths = widths
        #: Paths of the line already read into a column (by one parse of the chunk: see :func:`_scan`).
        self.base = base or {}
        #: The paths of the line asked for, to be read that way.
        self.asked: set[Path_] = set()
        self._cache: dict[Path_, pl.Expr] = {}
        self._resolving: set[Path_] = set()

    def line_at(self, path: Path_) -> pl.Expr:
        """The text at a path of the line: from a column read before where one holds it (or an object
        around it), else found in the line's text."""
        if not path:
            return pl.col(LINE)
        self.asked.add(path)
        for cut in range(len(path), 0, -1):
            column = self.base.get(path[:cut])
            if column is not None:
                rest = path[cut:]
                return pl.col(column) if not rest else pl.col(column).str.json_path_match(jsonpath(rest))
        return pl.col(LINE).str.json_path_match(jsonpath(path))

    def at(self, path: Path_) -> pl.Expr:
        if path in self._cache:
            return self._cache[path]
        expr = self._find(path)
        self._cache[path] = expr
        return expr

    def _find(self, path: Path_) -> pl.Expr:
        for cut in range(len(path), 0, -1):
            others = self.alternatives.get(path[:cut])
            if others and path not in self._resolving:
                # An alternative is found with the others' alternatives too, but never its own again.
                self._resolving.add(path)
                try:
                    rest = path[cut:]
                    return pl.coalesce([self._direct(path), *(self.at(alt + rest) for alt in others)])
                finally:
                    self._resolving.discard(path)
        return self._direct(path)

    def _direct(self, path: Path_) -> pl.Expr:
        for cut in range(len(path), 0, -1):
            decoder = self.decoders.get(path[:cut])
            if decoder is not None:
                base = self.decoded(path[:cut], decoder)
                rest = path[cut:]
                return base if not rest else base.str.json_path_match(jsonpath(rest))
        return self.line_at(path)

    def raw(self, path: Path_) -> pl.Expr:
        """The text at ``path`` before its own decoder (through the decoders above it)."""
        for cut in range(len(path) - 1, 0, -1):
            decoder = self.decoders.get(path[:cut])
            if decoder is not None:
                return self.decoded(path[:cut], decoder).str.json_path_match(jsonpath(path[cut:]))
        return self.line_at(path)

    def decoded(self, path: Path_, decoder: Decoder) -> pl.Expr:
        text = self.raw(path)
        width = self.widths.get(path, 0)
        if decoder.by is None:
            return decode_text(text, decoder.kind, decoder.columns, width)
        chosen = self.at(decoder.by).str.strip_chars().str.to_uppercase()
        expr = None
        for value, kind in decoder.choices.items():
            this = decode_text(text, kind, decoder.columns, width)
            expr = (pl.when(chosen == value.upper()) if expr is None else expr.when(chosen == value.upper())).then(this)
        return expr.otherwise(decode_text(text, "auto", decoder.columns, width))


def _sniff_json(text: pl.Expr) -> pl.Expr:
    return text.str.strip_chars_start().str.slice(0, 1).is_in(["{", "["])


def decode_text(text: pl.Expr, kind: str, columns: tuple[str, ...], width: int) -> pl.Expr:
    """JSON text made of ``text`` by a decoder (null where it cannot be decoded)."""
    if kind.startswith("base64"):
        text = base64_text(text)
        kind = kind.partition("+")[2] or "auto"
    if kind == "json":
        return pl.when(text.str.json_path_match("$").is_not_null()).then(text)
    if kind == "csv":
        return csv_rows(text, columns, width)
    return pl.when(_sniff_json(text)).then(decode_text(text, "json", columns, width)).otherwise(
        csv_rows(text, columns, width))


def base64_text(text: pl.Expr) -> pl.Expr:
    """The UTF-8 text that base64 ``text`` holds; null for invalid base64 and for binary data (an image)."""
    raw = text.str.strip_chars().str.decode("base64", strict=False)
    return raw.map_batches(_utf8_or_null, return_dtype=pl.String)


def _utf8_or_null(raw: pl.Series) -> pl.Series:
    try:
        return raw.cast(pl.String)
    except pl.exceptions.PolarsError:  # binary bodies among them: only then is each one looked at
        def text(value):
            try:
                return value.decode("utf-8") if value is not None else None
            except UnicodeDecodeError:
                return None

        return pl.Series(raw.name, [text(v) for v in raw.to_list()], pl.String)


def csv_width(texts: pl.Series) -> int:
    """The most comma-separated values in any row of ``texts`` (CSV bodies)."""
    rows = texts.str.strip_chars().str.split("\n").explode()
    return int(rows.str.count_matches(",").max() or 0) + 1 if rows.len() else 0


def csv_rows(text: pl.Expr, columns: tuple[str, ...], width: int) -> pl.Expr:
    """A CSV body as JSON text: one row is an object (``{"f0": 1.5, "f1": "a"}``), several an array of them.

    Values that are JSON numbers stay numbers; the others become strings. Columns are named by
    ``columns``, then ``f<i>``. Quoted values holding commas are not supported (SageMaker writes none).
    """
    names = [*columns, *(f"f{i}" for i in range(len(columns), max(width, len(columns))))]
    rows = text.str.strip_chars().str.replace_all("\r", "", literal=True).str.split("\n")

    def row_object(row: pl.Expr) -> pl.Expr:
        cells = row.str.split(",")
        parts: list[pl.Expr | str] = []
        for i, name in enumerate(names):
            cell = cells.list.get(i, null_on_oob=True).str.strip_chars()
            value = pl.when(cell.str.contains(_NUMBER)).then(cell).otherwise(json_string(cell))
            key = pl.lit(("," if i else "") + _quoted(name) + ":")
            parts.append(pl.when(cell.is_not_null()).then(pl.concat_str(key, value)).otherwise(pl.lit("")))
        return pl.concat_str([pl.lit("{"), *parts, pl.lit("}")])

    one = row_object(rows.list.first())
    many = pl.concat_str([pl.lit("["), rows.list.eval(row_object(pl.element())).list.join(","), pl.lit("]")])
    return pl.when(text.is_null() | (text.str.strip_chars() == "")).then(None).when(rows.list.len() > 1).then(
        many).otherwise(one)


def _quoted(name: str) -> str:
    import json

    return json.dumps(name)


def field_paths(mapping: Mapping, projection: Projection) -> dict[str, Path_]:
    """Each field read and its path from the line's top level."""
    paths = {}
    for name in projection.names:
        path = mapping.path_of(name)
        if path is not None:
            paths[name] = path
    return paths


def decode_chunk_shaped(chunk: Chunk, source: str, projection: Projection, mapping: Mapping,
                        max_line_bytes: int) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Records, rejects and number of lines of one chunk, as :func:`mlmon.logs.decode.decode_chunk`."""
    lines = _classify(_read_lines(chunk.data), chunk, max_line_bytes)
    n_lines = lines.height
    paths = field_paths(mapping, projection)
    join = mapping.hooks.join
    wanted = [(name, path, name in (RAW_REQUEST, RAW_RESPONSE)) for name, path in paths.items()]
    if join is not None:
        wanted += [(KIND, join.kind, False), (KEY, join.key, False)]
    # The paths of the line the fields need are read in one parse of the chunk, not one per field.
    lines, base = _scan(lines, chunk.data, _line_paths(mapping, wanted))
    raw = lines.with_columns(pl.when(pl.col(REASON).is_null()).then(pl.col(LINE)).alias("_good"))
    widths = _csv_widths(raw, mapping, base)
    finder = Finder(mapping, widths, base)
    first: dict[tuple[Path_, bool], str] = {}
    computed, copies = [], []
    for name, path, body in wanted:  # a path read for two columns (request and response at `data`) once
        if (path, body) in first:
            copies.append(pl.col(first[path, body]).alias(name))
            continue
        first[path, body] = name
        computed.append((_object_or_null(finder.at(path)) if body else finder.at(path)).alias(name))
    # Every expression reads the good lines only (a bad line's text is replaced by null).
    frame = raw.with_columns(pl.col("_good").alias(LINE)).select(pl.col(LINE_NO), pl.col(REASON), *computed)
    frame = frame.with_columns(copies).select(LINE_NO, REASON, *(name for name, _, _ in wanted))
    frame = frame.with_columns(pl.col(n).cast(pl.String) for n in paths)
    frame = _computed_fields(frame, raw, finder, mapping)
    frame = _exclude_keys(frame, mapping)
    frame = frame.with_columns(lines.get_column(LINE))
    if mapping.hooks.only:
        # Lines that are not requests (a server's own messages) are left out like blank lines: not bad.
        good_lines = raw.with_columns(pl.col("_good").alias(LINE))
        kept = good_lines.select(pl.all_horizontal(
            finder.at(path).fill_null("").str.contains(pattern) for path, pattern in mapping.hooks.only.items()
        ).alias("k")).get_column("k")
        frame = frame.with_columns(pl.when(pl.col(REASON).is_null() & ~pl.lit(kept)).then(pl.lit(_BLANK))
                                   .otherwise(pl.col(REASON)).alias(REASON))
    if join is not None:
        frame = frame.with_columns(_time_ns(pl.col("ts")).alias(TIME_NS) if "ts" in frame.columns
                                   else pl.lit(None, pl.Int64).alias(TIME_NS))
    keep = [LINE_NO, LINE, *([KIND, KEY, TIME_NS] if join is not None else [])]
    normalized = normalize(frame, mapping, keep=keep)
    good = normalized.filter(pl.col(REASON).is_null()).drop(REASON, LINE)
    rejects = chunk_rejects(normalized, source, chunk, n_lines, max_line_bytes)
    if not rejects.height:
        rejects = empty_rejects()
    return good.drop(LINE_NO), rejects, n_lines + len(chunk.huge_after)


def _computed_fields(frame: pl.DataFrame, lines: pl.DataFrame, finder: Finder, mapping: Mapping) -> pl.DataFrame:
    """Fields the hooks make: taken out of a text (``extract``), the time between two times (``between``),
    and a missing time filled from the records around it (``ts_fill``)."""
    from mlmon.logs.normalize import parse_ts

    hooks = mapping.hooks
    source = lines.with_columns(pl.col("_good").alias(LINE))
    if hooks.extract:
        found = source.select(finder.at(path).str.extract(pattern, 1).alias(name)
                              for name, (path, pattern) in hooks.extract.items())
        frame = frame.with_columns(pl.coalesce(found.get_column(n), frame.get_column(n)) if n in frame.columns
                                   else found.get_column(n) for n in found.columns)
    parsed: dict[Path_, pl.Series] = {}  # each time once, though two fields use it (LiteLLM's startTime)

    def times(path: Path_) -> pl.Series:
        if path not in parsed:
            text = source.select(finder.at(path).alias("t")).get_column("t")
            parsed[path] = parse_ts(text, mapping.ts_unit, timezone=mapping.timezone)[0]
        return parsed[path]

    for name, (start, end) in hooks.between.items():
        a, b = times(start), times(end)
        ms = ((b - a).dt.total_microseconds() / 1000).cast(pl.Float64)
        if name == "latency_ms":  # in milliseconds already, whatever latency_unit says of a logged latency
            ms = ms / {"s": 1000.0, "ms": 1.0, "us": 0.001, "ns": 0.000001}[mapping.latency_unit]
        column = ms.cast(pl.String).alias(name)
        frame = frame.with_columns(pl.coalesce(frame.get_column(name), column) if name in frame.columns else column)
    if hooks.ts_fill == "neighbors" and "ts" in frame.columns:
        good = pl.col(REASON).is_null()
        filled = pl.when(good).then(pl.col("ts")).forward_fill().backward_fill()
        if mapping.file_time is not None:
            filled = pl.coalesce(filled, pl.lit(mapping.file_time))
        frame = frame.with_columns(pl.when(good).then(pl.coalesce(pl.col("ts"), filled)).otherwise(pl.col("ts"))
                                   .alias("ts"))
    return frame


def _line_paths(mapping: Mapping, wanted) -> set[Path_]:
    """The paths of the line that finding the ``wanted`` fields (and the hooks' own) reads."""
    finder = Finder(mapping, {w: 1 for w in mapping.hooks.decode})
    for _, path, _ in wanted:
        finder.at(path)
    for path in [*mapping.hooks.only, *(p for p, _ in mapping.hooks.extract.values()),
                 *(p for pair in mapping.hooks.between.values() for p in pair)]:
        finder.at(path)
    return finder.asked


def _scan(lines: pl.DataFrame, data: bytes, asked: set[Path_]) -> tuple[pl.DataFrame, dict[Path_, str]]:
    """``lines`` plus a text column per path of the line, from one parse of the chunk (by the JSON-lines
    decoder, which skips the bad lines), and which column holds which path.

    A path inside another is found in the outer one's text later; a path with an array index is found in
    the line. An object read as text that holds a backslash is found in the line again: the parse's text
    of such an object is not always exact (see :func:`mlmon.logs.decode._exact_object_text`).
    """
    from mlmon.logs.decode import _decode_lines

    chosen: list[Path_] = []
    for path in sorted(p for p in asked if p and not any(part.isdigit() for part in p)):
        if not any(path[: len(c)] == c for c in chosen):
            chosen.append(path)
    if not chosen or not lines.height:
        return lines, {}
    columns = {f"_path{i}": path for i, path in enumerate(chosen)}
    decoded = _decode_lines(lines, Projection(columns), data)
    redo = []
    for name, path in columns.items():
        text = decoded.get_column(name)
        if text.dtype != pl.String:
            decoded = decoded.with_columns(text.cast(pl.String))
        elif (text.str.contains("\\", literal=True) & (text.str.starts_with("{") | text.str.starts_with("["))).any():
            redo.append(pl.when(pl.col(REASON).is_null()).then(pl.col(LINE).str.json_path_match(jsonpath(path)))
                        .alias(name))
    if redo:
        decoded = decoded.with_columns(redo)
    return decoded, {path: name for name, path in columns.items()}


def _csv_widths(lines: pl.DataFrame, mapping: Mapping, base: dict[Path_, str]) -> dict[Path_, int]:
    """For each decoder that may read CSV, the most values in a row of this chunk."""
    widths: dict[Path_, int] = {}
    finder = Finder(mapping, {}, base)
    for path, decoder in mapping.hooks.decode.items():
        kinds = {decoder.kind, *decoder.choices.values()} if decoder.by else {decoder.kind}
        if not kinds & {"csv", "auto", "base64", "base64+csv"}:
            continue
        text = finder.raw(path)
        if kinds & {"base64", "base64+csv"}:
            text = pl.coalesce(base64_text(text), text)
        texts = lines.with_columns(pl.col("_good").alias(LINE)).select(text.alias("t")).get_column("t").drop_nulls()
        widths[path] = csv_width(texts) if texts.len() else 0
    return widths


def _object_or_null(text: pl.Expr) -> pl.Expr:
    """``text`` where it is a JSON object or array (a request or response body), else null."""
    return pl.when(_sniff_json(text)).then(text)


def _exclude_keys(frame: pl.DataFrame, mapping: Mapping) -> pl.DataFrame:
    """Drop the excluded top-level keys from a top-level inputs or outputs object."""
    for name, root, exclude in ((RAW_REQUEST, mapping.inputs, mapping.hooks.inputs_exclude),
                                (RAW_RESPONSE, mapping.outputs, mapping.hooks.outputs_exclude)):
        if not exclude or root or name not in frame.columns:
            continue
        frame = frame.with_columns(drop_keys(frame.get_column(name), exclude))
    return frame


def drop_keys(objects: pl.Series, keys: tuple[str, ...]) -> pl.Series:
    """JSON object texts without the top-level ``keys`` (decoded with one schema for the whole series)."""
    present = objects.drop_nulls()
    if not present.len():
        return objects
    try:
        decoded = objects.str.json_decode(infer_schema_length=None)
    except pl.exceptions.PolarsError:
        import json

        def without(text):  # mixed types that one schema cannot hold: rare, and only for those bodies
            if text is None:
                return None
            value = json.loads(text)
            return json.dumps({k: v for k, v in value.items() if k not in keys}) if isinstance(value, dict) else text

        return objects.map_elements(without, return_dtype=pl.String)
    if not isinstance(decoded.dtype, pl.Struct):
        return objects
    kept = [f.name for f in decoded.dtype.fields if f.name not in keys]
    out = decoded.to_frame("o").select(
        pl.when(pl.col("o").is_not_null()).then(
            pl.struct([pl.col("o").struct.field(k) for k in kept]).struct.json_encode() if kept else pl.lit("{}"))
    ).to_series()
    return out.alias(objects.name)


def _time_ns(ts: pl.Expr) -> pl.Expr:
    """Nanoseconds since the epoch of an ISO time with an offset, at full precision (null otherwise)."""
    return ts.cast(pl.String).str.strptime(pl.Datetime("ns", "UTC"), _ISO_NS, strict=False).dt.epoch("ns")


def mapping_for_source(mapping: Mapping, name: str, path) -> Mapping:
    """The mapping for one file: with the constants its ``path_fields`` take from the file's path, and the
    file's modification time for ``ts_fill`` (``path`` is None for an object in a bucket)."""
    from dataclasses import replace

    if mapping.hooks.ts_fill is not None and path is not None:
        mapping = replace(mapping, file_time=file_time(path))
    pattern = mapping.hooks.path_fields
    if pattern is None:
        return mapping
    found = path_constants(pattern, name)
    return replace(mapping, constants={**mapping.constants, **found}) if found else mapping


def path_constants(pattern: str, name: str) -> dict[str, str]:
    """The named groups of ``pattern`` found in a file's path (``endpoint``, ``model_version``)."""
    import re

    found = re.search(pattern, name.replace("\\", "/"))
    return {k: v for k, v in found.groupdict().items() if v} if found else {}


def file_time(path) -> str | None:
    """A file's modification time as ISO text in UTC (None when it cannot be read)."""
    import os
    from datetime import datetime, timezone

    try:
        return datetime.fromtimestamp(os.stat(path).st_mtime, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    except (OSError, ValueError, OverflowError):
        return None
