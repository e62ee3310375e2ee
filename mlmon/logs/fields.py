"""Turn the request and response objects (JSON text) into one typed column per field.

Every key is kept, including one that first appears late, and a field's type is
the one that fits all its values, as if the schema had been inferred over every
record. Inferring over every record costs a second full parse, so instead:

1. the schema of the first rows is inferred, and every row is decoded with it;
2. vectorized counts find the rows that may hold a key the schema lacks (more
   keys with a non-null value in the text than values decoded), and rows with a
   value for a field that was null in every sampled row; those join the sample,
   and the schema is inferred and the rows decoded again (rare: late keys);
3. where a value does not fit its field's type (text where numbers were, a
   boolean among numbers, an object where a scalar was), the field is read as
   text, and its odd values count as type violations.

Integers are decoded as floats, so a late fraction is not truncated, and turned
back into integers while every value is whole (exactly, past 2**53). Differences
from Polars' full inference, all deliberate: an integer field with a value
written 2.0 stays integer; numbers written as text among numbers are numbers;
integers past 64 bits are floats; a key that is null wherever it appears gives
no column; and shapes inference cannot merge (it raises) are read as JSON text.
Nested objects become dotted names: ``input.user.age``.

Two kinds of hostile records are bounded first: integers too long for Polars' parser are
read as floats, and NaN or infinities written as text do not make a field of numbers text
(:mod:`mlmon.logs.json_numbers`); records with ever new keys give at most ``max_fields``
columns, those held by the most records (:mod:`mlmon.logs.field_limit`).
"""

from __future__ import annotations

import polars as pl

from mlmon.logs.arrays import compact_arrays, typed_list_text
from mlmon.logs.decode import jsonpath
from mlmon.logs.field_limit import FieldLimit, choose_fields, distinct_keys, pruned
from mlmon.logs.json_lines import read_json_lines
from mlmon.logs.json_numbers import has_non_finite_text, long_integers_as_floats, without_non_finite_text
from mlmon.logs.mapping import INPUT_PREFIX, OUTPUT_PREFIX, RAW_REQUEST, RAW_RESPONSE

INTEGER_TYPES = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.Int128, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64, pl.UInt128)
NUMERIC_TYPES = (pl.Float32, pl.Float64, *INTEGER_TYPES)

#: Rows whose schema is inferred first.
SAMPLE_ROWS = 2000



def _flatten(frame: pl.DataFrame, prefix: str, arrays: dict[str, pl.Series] | None = None) -> list[pl.Series]:
    """One column per leaf, a list as its compact JSON text: from ``arrays`` (see :func:`_array_texts`) when
    given, else written from the typed list (a dataset's)."""
    out = []
    for column in frame.columns:
        series = frame.get_column(column)
        name = prefix + column
        if isinstance(series.dtype, pl.Struct):
            out.extend(_flatten(series.struct.unnest(), name + ".", arrays))
        elif isinstance(series.dtype, (pl.List, pl.Array)):
            if arrays is None:
                out.append(typed_list_text(series.alias(name)))
            elif name in arrays:
                out.append(arrays[name])
        else:
            out.append(compact_arrays(series.alias(name)))
    return out


def _array_texts(objects: pl.Series, schema: dict, prefix: str) -> dict[str, pl.Series]:
    """The compact JSON text of every field that holds arrays, by column name (see :mod:`mlmon.logs.arrays`).

    One more parse, of those fields only, each read as text; the typed lists are not written back
    out, which would spell their integers as floats.
    """
    paths = [path for path, dtype in _leaves(schema) if isinstance(dtype, (pl.List, pl.Array))]
    if not paths:
        return {}
    tree: dict = {}
    for path in paths:
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = None

    def dtype(node):
        return pl.String() if node is None else pl.Struct({k: dtype(v) for k, v in node.items()})

    names = [prefix + ".".join(path) for path in paths]
    try:
        read = read_json_lines(objects, {k: dtype(v) for k, v in tree.items()})
        texts = [read.select(_at(path)).to_series() for path in paths]
    except pl.exceptions.PolarsError:
        texts = [objects.str.json_path_match(jsonpath(path)) for path in paths]
    return {name: compact_arrays(text.alias(name)) for name, text in zip(names, texts)}


def decode_objects(text: pl.Series, prefix: str, limit: FieldLimit | None = None) -> list[pl.Series]:
    """One column per leaf of the JSON objects in ``text`` (null or non-objects count as empty).

    At most ``limit.max_fields`` of them, plus the named ones (see :mod:`mlmon.logs.field_limit`);
    how many were left out is set in ``limit.left_out[prefix]``.
    """
    if text.len() == 0 or text.null_count() == text.len():
        return []
    objects = text.to_frame("t").select(
        pl.when(pl.col("t").str.starts_with("{")).then(pl.col("t")).otherwise(pl.lit("{}"))
    ).to_series()
    objects = long_integers_as_floats(objects)
    schema, decoded = _schema_and_decoded(objects, prefix, limit or FieldLimit())
    if not schema:
        return []
    decoded, schema = _booleans_in_numbers_as_text(objects, decoded, schema)
    decoded = _big_integers_exact(objects, decoded, schema)
    parsed = decoded.select(_retype(decoded.get_column(name), dtype) for name, dtype in schema.items())
    return _flatten(parsed, prefix, _array_texts(objects, schema, prefix))


def _schema_and_decoded(objects: pl.Series, prefix: str, limit: FieldLimit) -> tuple[dict, pl.DataFrame]:
    """The schema of the rows' fields and the rows decoded with it: every field, or the ``limit``'s choice."""
    head = objects.head(SAMPLE_ROWS)
    if distinct_keys(head) <= limit.max_fields:
        schema = _infer(head)
        if _width(schema) <= limit.max_fields:
            decoded = _decode(objects, schema)
            more = _rows_the_sample_misses(objects, decoded, schema)
            if not more.len():
                return schema, decoded
            sample = pl.concat([head, objects.gather(more)])
            if distinct_keys(sample) <= limit.max_fields:
                schema = _infer(sample)
                if _width(schema) <= limit.max_fields:
                    return schema, _decode(objects, schema)
    # Too many fields: the most frequent, typed from the records that show each first.
    paths, first, limit.left_out[prefix] = choose_fields(objects, prefix, limit)
    shown = objects.gather(sorted(set(first))).to_list()
    schema = _infer(pl.Series(pruned(shown, paths), dtype=pl.String))
    return schema, _decode(objects, schema)


def _width(schema: dict) -> int:
    return sum(1 for _ in _leaves(schema))


#: Objects nested deeper than this many keys are kept as one field holding their JSON text
#: (``input.a.b.….p``): each level of a decoded struct costs a pass over the column, so a
#: 100-level object once took half a minute to profile, and such depths are not features.
MAX_FIELD_DEPTH = 16


def _capped(dtype: pl.DataType, depth: int = 1) -> pl.DataType:
    """``dtype`` with every object nested deeper than MAX_FIELD_DEPTH read as JSON text."""
    if not isinstance(dtype, pl.Struct):
        return dtype
    if depth >= MAX_FIELD_DEPTH:
        return pl.String()
    return pl.Struct({f.name: _capped(f.dtype, depth + 1) for f in dtype.fields})


def _infer(objects: pl.Series) -> dict[str, pl.DataType]:
    """The schema Polars infers from ``objects``, but NaN or infinities written as text do not make numbers text,
    and objects deeper than MAX_FIELD_DEPTH are text."""
    schema = {name: _capped(dtype) for name, dtype in _infer_as_written(objects).items()}
    if has_non_finite_text(objects):
        past = _infer_as_written(without_non_finite_text(objects))
        for path, dtype in _leaves(schema):
            other = _dtype_at(past, path)
            if dtype == pl.String and other is not None and is_numeric(other):
                schema = _with_leaf(schema, path, other)
    return schema


def _infer_as_written(objects: pl.Series) -> dict[str, pl.DataType]:
    try:
        schema = dict(read_json_lines(objects).schema)
    except pl.exceptions.PolarsError:  # a key holds an object in one row and a scalar in another
        return {k: pl.String() for k in _keys_as_first_seen(objects)}
    # Where rows disagree on a field's type, Polars merges their schemas in an order that changes from
    # run to run: the fields are put in the order the rows first show them (export's columns, report's tables).
    return _written_order(objects, schema)


def _written_order(objects: pl.Series, schema: dict[str, pl.DataType]) -> dict[str, pl.DataType]:
    out = {}
    for k in _in_written_order(objects, list(schema)):
        dtype = schema[k]
        if isinstance(dtype, pl.Struct):
            dtype = pl.Struct(_written_order(objects, {f.name: f.dtype for f in dtype.fields}))
        out[k] = dtype
    return out


def _in_written_order(objects: pl.Series, keys: list[str]) -> list[str]:
    """``keys`` ordered by the first row whose text names each (as ``"key"``), then by where in that row:
    the order the rows show them. Vectorized searches, first in the first row (which names most keys),
    then in the rows after it for the keys it lacks."""
    if len(keys) < 2:
        return keys
    import json

    where: dict[str, tuple[int, int]] = {}
    for start, rows in ((0, objects.head(1)), (1, objects.slice(1))):
        left = [k for k in keys if k not in where]
        if not left or not rows.len():
            break
        finds = [pl.col("t").str.find(json.dumps(k, ensure_ascii=False), literal=True) for k in left]
        found = rows.to_frame("t").lazy().select(
            pl.struct(f.is_not_null().arg_max().alias("row"), f.drop_nulls().first().alias("at")).alias(str(i))
            for i, f in enumerate(finds)).collect().row(0)
        for k, hit in zip(left, found):
            if hit["at"] is not None:
                where[k] = (start + hit["row"], hit["at"])
    return sorted(keys, key=lambda k: (*where.get(k, (len(objects), 0)), k))


def _keys_as_first_seen(objects: pl.Series) -> list[str]:
    """The top-level keys of the objects, in the order the rows first show them."""
    wrapped = objects.to_frame("t").select(pl.concat_str(pl.lit('{"m":'), pl.col("t"), pl.lit("}"))).to_series()
    maps = read_json_lines(wrapped, {"m": pl.Map(pl.String, pl.String)}).get_column("m")
    return maps.map.keys().explode().drop_nulls().unique(maintain_order=True).to_list()


def _decode(objects: pl.Series, schema: dict[str, pl.DataType], exact: frozenset = frozenset()) -> pl.DataFrame:
    """Every row decoded with ``schema``; fields whose values disagree with it are read as text.

    Integers are decoded as floats (an integer type would truncate a fraction), except
    at the leaf paths in ``exact``.
    """
    if not schema:
        return pl.DataFrame()
    wide = {name: _widen(dtype, (name,), exact) for name, dtype in schema.items()}
    try:
        return _json_decode(objects, pl.Struct(wide))
    except pl.exceptions.PolarsError:
        pass
    # Some value does not fit: read every scalar as text (the reader gives an object's JSON text
    # for a text field); where an object or a list meets a scalar, the whole field is read as text.
    as_text = {name: _as_text(dtype) for name, dtype in schema.items()}
    try:
        return read_json_lines(objects, as_text)
    except pl.exceptions.PolarsError:
        pass
    flat = {name: (pl.String() if isinstance(dtype, (pl.Struct, pl.List)) else dtype) for name, dtype in as_text.items()}
    return read_json_lines(objects, flat)


def _json_decode(objects: pl.Series, dtype: pl.Struct) -> pl.DataFrame:
    # In a streaming plan the rows are decoded in parallel; eagerly, on one core.
    return objects.to_frame("t").lazy().select(pl.col("t").str.json_decode(dtype)).collect(engine="streaming").to_series().struct.unnest()


def _rows_the_sample_misses(objects: pl.Series, decoded: pl.DataFrame, schema: dict) -> pl.Series:
    """Rows to add to the sample: those that may hold a key ``schema`` lacks, and a few that
    hold a value for a field that was null in every sampled row (its type is not known yet).
    """
    late = _rows_with_unknown_keys(objects, decoded)
    untyped = [path for path, dtype in _leaves(schema) if isinstance(dtype, pl.Null)]
    if not untyped or not decoded.width:
        return late
    filled = decoded.select(pl.any_horizontal(_at(p).is_not_null() for p in untyped)).to_series().arg_true()
    return pl.concat([late, filled.head(SAMPLE_ROWS).cast(late.dtype)]).unique(maintain_order=True)


def _rows_with_unknown_keys(objects: pl.Series, decoded: pl.DataFrame) -> pl.Series:
    """Indexes of the rows that hold a non-null value at a key the decoded columns lack.

    A row's keys followed by a value other than null are at most its quote-colon pairs
    minus those followed by ``null`` (text inside strings can only add to both counts
    alike), so a row with more of them than values it decoded may hold an unknown key.
    Colons, counted first because it is cheap, are never fewer than the keys.
    (A key that is null wherever it appears yields no column: an all-null field.)
    """
    present = _present(decoded) if decoded.width else pl.zeros(objects.len(), pl.UInt32, eager=True)
    counts = pl.DataFrame({"t": objects, "decoded": present}).lazy().with_row_index("_i")
    text, decoded_n = pl.col("t"), pl.col("decoded")
    # (Collected in between: one plan would fuse both tests and run the costly one on every row.)
    suspects = counts.filter(text.str.count_matches(":", literal=True) > decoded_n).collect(engine="streaming")
    keys = text.str.count_matches(r'"\s*:') - text.str.count_matches(r'"\s*:\s*null')
    return suspects.filter(keys > decoded_n).get_column("_i")


def _present(decoded: pl.DataFrame) -> pl.Series:
    """Per row, how many of the decoded keys (at any depth) hold a value."""
    def count(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
        total = expr.is_not_null().cast(pl.UInt32)
        if isinstance(dtype, pl.Struct):
            for f in dtype.fields:
                total = total + count(expr.struct.field(f.name), f.dtype)
        return total
    exprs = [count(pl.col(name), dtype) for name, dtype in decoded.schema.items()]
    return decoded.select(pl.sum_horizontal(exprs).alias("n")).to_series()


def _leaves(schema: dict, prefix: tuple[str, ...] = ()):
    """(path, dtype) of every leaf, looking into nested objects (not into lists)."""
    for name, dtype in schema.items():
        if isinstance(dtype, pl.Struct):
            yield from _leaves({f.name: f.dtype for f in dtype.fields}, prefix + (name,))
        else:
            yield prefix + (name,), dtype


def _at(path: tuple[str, ...]) -> pl.Expr:
    expr = pl.col(path[0])
    for part in path[1:]:
        expr = expr.struct.field(part)
    return expr


def _dtype_at(schema, path: tuple[str, ...]) -> pl.DataType | None:
    dtype = schema.get(path[0])
    for part in path[1:]:
        if not isinstance(dtype, pl.Struct):
            return None
        dtype = {f.name: f.dtype for f in dtype.fields}.get(part)
    return dtype


def _with_leaf(schema: dict, path: tuple[str, ...], leaf: pl.DataType) -> dict:
    """``schema`` with the leaf at ``path`` replaced."""
    out = dict(schema)
    if len(path) == 1:
        out[path[0]] = leaf
    else:
        inner = {f.name: f.dtype for f in out[path[0]].fields}
        out[path[0]] = pl.Struct(_with_leaf(inner, path[1:], leaf))
    return out


def _booleans_in_numbers_as_text(objects: pl.Series, decoded: pl.DataFrame, schema: dict):
    """A numeric field that also holds true/false (decoded as 1/0) is re-read as text, as inference would.

    Returns the decoded frame and the schema, with such fields made text.
    """
    read_as = decoded.schema  # built once: a schema of n fields costs n to build
    numeric = [path for path, dtype in _leaves(schema) if is_numeric(dtype) and _dtype_at(read_as, path) == pl.Float64]
    if not numeric:
        return decoded, schema
    # A boolean decodes as 1.0 or 0.0: only rows with such a value can hold one.
    ones = pl.any_horizontal(_at(p).is_in([0.0, 1.0]) for p in numeric)
    rows = decoded.select(ones.fill_null(False)).to_series().arg_true()
    if not rows.len():
        return decoded, schema
    maybe = rows.gather(objects.gather(rows).str.contains_any(["true", "false"]).arg_true())
    if not maybe.len():
        return decoded, schema
    as_text = schema
    for path in numeric:
        as_text = _with_leaf(as_text, path, pl.String())
    sample = _decode(objects.gather(maybe), as_text)
    sample_as = sample.schema
    mixed = [p for p in numeric if _dtype_at(sample_as, p) == pl.String
             and sample.select(_at(p).is_in(["true", "false"]).any()).item()]
    if not mixed:
        return decoded, schema
    for path in mixed:
        schema = _with_leaf(schema, path, pl.String())
    return _decode(objects, schema), schema


def _big_integers_exact(objects: pl.Series, decoded: pl.DataFrame, schema: dict) -> pl.DataFrame:
    """Integer fields with whole values past 2**53 (ids, say), which a float cannot hold, decoded exactly."""
    read_as = decoded.schema
    paths = [path for path, dtype in _leaves(schema) if _is_integer(dtype) and _dtype_at(read_as, path) == pl.Float64]
    if not paths:
        return decoded
    # One pass over every such field: its largest magnitude, and whether all its values are whole.
    facts = decoded.select(
        *(_at(p).abs().max().alias(f"max{i}") for i, p in enumerate(paths)),
        *((_at(p) == _at(p).floor()).all().alias(f"whole{i}") for i, p in enumerate(paths)),
    ).row(0, named=True)
    big = [p for i, p in enumerate(paths) if _EXACT <= (facts[f"max{i}"] or 0) < 2**63 and facts[f"whole{i}"]]
    return _decode(objects, schema, exact=frozenset(big)) if big else decoded


def _is_integer(dtype: pl.DataType) -> bool:
    return dtype in INTEGER_TYPES or isinstance(dtype, INTEGER_TYPES)


#: Integers up to this magnitude are exact as floats.
_EXACT = 2**53


def _as_text(dtype: pl.DataType) -> pl.DataType:
    """The same shape with every scalar read as text, so no value is coerced on the way in."""
    if isinstance(dtype, pl.Struct):
        return pl.Struct({f.name: _as_text(f.dtype) for f in dtype.fields})
    if isinstance(dtype, pl.List):
        return pl.List(_as_text(dtype.inner))
    return pl.String()


def _widen(dtype: pl.DataType, path: tuple[str, ...] = (), exact: frozenset = frozenset()) -> pl.DataType:
    """The same shape with integers read as floats, but at the paths in ``exact``; unknown (null) types as text."""
    if isinstance(dtype, pl.Struct):
        return pl.Struct({f.name: _widen(f.dtype, path + (f.name,), exact) for f in dtype.fields})
    if isinstance(dtype, pl.List):
        return pl.List(_widen(dtype.inner))
    if isinstance(dtype, pl.Null):
        return pl.String()
    if path in exact:
        return pl.Int64()
    return pl.Float64() if is_numeric(dtype) else dtype


def _retype(column: pl.Series, dtype: pl.DataType) -> pl.Series:
    """A decoded field in its final type: integers back where every value is whole; text kept as text."""
    if isinstance(dtype, pl.Struct):
        if not isinstance(column.dtype, pl.Struct):
            return column  # read as JSON text: its shape varies
        fields = column.struct.unnest()
        typed = [_retype(fields.get_column(f.name), f.dtype) for f in dtype.fields]
        return pl.DataFrame(typed).to_struct(column.name).set(column.is_null(), None) if typed else column
    if column.dtype == pl.String and is_numeric(dtype):
        # Read as text: a number field with odd values stays text; all numbers after all, numbers.
        as_float = column.cast(pl.Float64, strict=False)
        if as_float.null_count() != column.null_count():
            return column
        column = as_float
    if column.dtype == pl.String and dtype == pl.Boolean:
        return (column == "true") if column.is_in(["true", "false"]).sum() == column.len() - column.null_count() else column
    if column.dtype == pl.Float64 and _is_integer(dtype):
        values = column.drop_nulls()
        # NaN and infinities (type violations) keep the column float: no integer holds them.
        if values.is_finite().all() and (values == values.floor()).all() and (values.abs().max() or 0) < _EXACT:
            return column.cast(pl.Int64)
    if isinstance(dtype, pl.Null) and column.null_count() == column.len():
        return column.cast(pl.Null)
    return column


def with_io_fields(records: pl.DataFrame, limit: FieldLimit | None = None) -> pl.DataFrame:
    """``records`` plus typed ``input.*`` and ``output.*`` columns from its request/response text.

    At most ``limit.max_fields`` of each, plus those ``limit`` names; ``limit.left_out`` says how many were not decoded.
    """
    limit = limit or FieldLimit()
    columns: list[pl.Series] = []
    if RAW_REQUEST in records.columns:
        columns += decode_objects(records.get_column(RAW_REQUEST), INPUT_PREFIX, limit)
    if RAW_RESPONSE in records.columns:
        response = records.get_column(RAW_RESPONSE)
        if "status" in records.columns:
            # An error's body (e.g. {"detail": ...}) is not a model output.
            response = records.select(pl.when(pl.col("status") < 400).then(pl.col(RAW_RESPONSE))).to_series()
        columns += decode_objects(response, OUTPUT_PREFIX, limit)
    keep = [c for c in columns if c.name not in records.columns]
    return records.with_columns(keep) if keep else records


def io_field_names(frame: pl.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith((INPUT_PREFIX, OUTPUT_PREFIX))]


def is_numeric(dtype: pl.DataType) -> bool:
    return dtype in NUMERIC_TYPES or isinstance(dtype, NUMERIC_TYPES)
