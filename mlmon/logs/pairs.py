"""Put records together after decoding: paired events joined (``join``), batched rows exploded (``explode``).

Both are frame operations on whole chunks. Events whose partner has not been read yet wait
in a small frame until it comes (it may be in the next chunk or another file); at the end,
a request with no response is a failed request, and a response with no request a record
without a latency.
"""

from __future__ import annotations

import json

import polars as pl

from mlmon.logs.mapping import INPUT_PREFIX, OUTPUT_PREFIX, RAW_REQUEST, RAW_RESPONSE, Mapping
from mlmon.logs.json_lines import read_json_lines
from mlmon.logs.shape import KEY, KIND, TIME_NS, jsonpath

#: The error of a request whose response event was never read.
NO_RESPONSE = "no response logged"
#: The key of a prediction that is not an object (``1``, ``[0.2, 0.8]``) in the output fields.
PREDICTION = "prediction"
_SIDE = "_resp"
_PAIR_COLUMNS = (KIND, KEY, TIME_NS)


class Assembler:
    """Turns decoded events into records: feed each chunk's frame, then flush once at the end."""

    def __init__(self, mapping: Mapping, bodies: bool = True):
        """``bodies``: whether the records' ``request`` and ``response`` are read after this. Without them,
        an explode only counts each batch's rows (one parse, no row encoded back to text)."""
        self.bodies = bodies
        self.join = mapping.hooks.join
        self.explode = mapping.hooks.explode
        self.pending: pl.DataFrame | None = None
        #: Events that were neither a request nor a response (counted for a note).
        self.other_events = 0
        #: The latest event time fed (nanoseconds since the epoch), for :meth:`expire`.
        self.newest_ns: int | None = None

    def feed(self, frame: pl.DataFrame) -> pl.DataFrame:
        if self.join is None:
            return self._exploded(frame)
        self._see(frame)
        pending = frame if self.pending is None else pl.concat([self.pending, frame], how="diagonal_relaxed")
        kind = pl.col(KIND)
        is_request, is_response = kind.is_in(self.join.request), kind.is_in(self.join.response)
        self.other_events += pending.filter(~(is_request | is_response).fill_null(False)).height
        pending = pending.filter((is_request | is_response).fill_null(False))
        requests = pending.filter(is_request).with_row_index("_order")
        responses = pending.filter(is_response).with_row_index("_order")
        first_requests = requests.filter(pl.col(KEY).is_not_null()).unique(KEY, keep="first", maintain_order=True)
        first_responses = responses.filter(pl.col(KEY).is_not_null()).unique(KEY, keep="first", maintain_order=True)
        matched = first_requests.join(first_responses, on=KEY, how="inner", suffix=_SIDE, maintain_order="left")
        paired_requests = matched.get_column("_order")
        paired_responses = matched.get_column("_order" + _SIDE)
        self.pending = pl.concat([
            requests.filter(~pl.col("_order").is_in(paired_requests.implode())).drop("_order"),
            responses.filter(~pl.col("_order").is_in(paired_responses.implode())).drop("_order"),
        ], how="diagonal_relaxed")
        return self._exploded(self._records(matched.drop("_order", "_order" + _SIDE), frame.columns))

    def resume(self, waiting: pl.DataFrame) -> None:
        """Take back events an earlier run left waiting (mlmon ingest keeps them in the store)."""
        self.pending = waiting if self.pending is None else pl.concat([waiting, self.pending], how="diagonal_relaxed")
        self._see(waiting)

    def _see(self, frame: pl.DataFrame) -> None:
        if frame.height:
            newest = frame.select(_event_ns(frame.columns).max()).item()
            if newest is not None:
                self.newest_ns = newest if self.newest_ns is None else max(self.newest_ns, newest)

    def expire(self, wait_ns: int, now_ns: int | None = None) -> pl.DataFrame | None:
        """As :meth:`flush`, for the waiting events ``wait_ns`` or more older than the newest event fed
        (and those without a time); the younger ones keep waiting in :attr:`pending`."""
        if self.join is None or self.pending is None or not self.pending.height:
            return None
        time_ns = _event_ns(self.pending.columns)
        newest = max((t for t in (self.newest_ns, now_ns) if t is not None), default=None)
        old = time_ns.is_null() if newest is None else (time_ns.is_null() | (time_ns <= newest - wait_ns))
        young = self.pending.filter(~old)
        self.pending = self.pending.filter(old)
        out = self.flush()
        self.pending = young
        return out

    def flush(self) -> pl.DataFrame | None:
        """The events left without a partner, as records (None when there are none)."""
        if self.join is None or self.pending is None or not self.pending.height:
            return None
        left = self.pending
        self.pending = None
        requests = left.filter(pl.col(KIND).is_in(self.join.request))
        responses = left.filter(pl.col(KIND).is_in(self.join.response))
        failed = requests.with_columns(
            pl.lit(NO_RESPONSE).alias("error"),
            pl.lit(500, pl.Int64).alias("status"),
            *([pl.lit(None, pl.String).alias(RAW_RESPONSE)] if RAW_RESPONSE in requests.columns else []),
            *(pl.lit(None, pl.String).alias(c) for c in requests.columns if c.startswith(OUTPUT_PREFIX)),
            *([pl.lit(None, pl.Float64).alias("latency_ms")] if "latency_ms" in requests.columns else []),
        )
        alone = responses.with_columns(
            *([pl.lit(None, pl.String).alias(RAW_REQUEST)] if RAW_REQUEST in responses.columns else []),
            *(pl.lit(None, pl.String).alias(c) for c in responses.columns if c.startswith(INPUT_PREFIX)),
        )
        out = pl.concat([failed, alone], how="diagonal_relaxed").drop(_PAIR_COLUMNS, strict=False)
        return self._exploded(out) if out.height else None

    def _records(self, matched: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
        """One record per pair: the request's time and inputs, the response's outputs and status, and
        the latency from the two events' times."""
        exprs = []
        for name in columns:
            if name in _PAIR_COLUMNS:
                continue
            mine, theirs = pl.col(name), pl.col(name + _SIDE)
            if name == RAW_REQUEST or name.startswith(INPUT_PREFIX) or name == "ts":
                exprs.append(mine.alias(name))
            elif name == RAW_RESPONSE or name.startswith(OUTPUT_PREFIX):
                exprs.append(theirs.alias(name))
            elif name in ("status", "error", "latency_ms"):
                exprs.append(pl.coalesce(theirs, mine).alias(name))
            else:
                exprs.append(pl.coalesce(mine, theirs).alias(name))
        by_ns = (pl.col(TIME_NS + _SIDE) - pl.col(TIME_NS)) / 1e6
        by_us = (pl.col("ts" + _SIDE) - pl.col("ts")).dt.total_microseconds() / 1e3
        between = pl.coalesce(by_ns, by_us.cast(pl.Float64)) if self.join.latency else pl.lit(None, pl.Float64)
        if "latency_ms" in columns:
            latency = pl.coalesce(pl.col("latency_ms" + _SIDE), pl.col("latency_ms"), between)
        else:
            latency = between
        exprs = [e for e in exprs if e.meta.output_name() != "latency_ms"]
        exprs.append(latency.alias("latency_ms"))
        return matched.select(exprs)

    def _counted(self, frame: pl.DataFrame) -> pl.DataFrame:
        """As :meth:`_exploded`, for a reader that reads no body: as many records as the batch has rows
        (a record without the array stays one), with no request or response text."""
        counts = element_counts(_at(frame.get_column(RAW_REQUEST), self.explode.inputs))
        frame = frame.with_columns(pl.int_ranges(0, counts.fill_null(1).clip(1)).alias("_pos")).explode("_pos")
        return frame.drop("_pos").with_columns(
            pl.lit(None, pl.String).alias(c) for c in (RAW_REQUEST, RAW_RESPONSE) if c in frame.columns)

    def _exploded(self, frame: pl.DataFrame) -> pl.DataFrame:
        """One record per batched row, its outputs the response's row at the same position."""
        spec = self.explode
        if spec is None or not frame.height or RAW_REQUEST not in frame.columns:
            return frame
        if not self.bodies and not any(c.startswith((INPUT_PREFIX, OUTPUT_PREFIX)) for c in frame.columns):
            return self._counted(frame)
        # A record without the array (another body shape) stays one record, its body whole.
        rows_in = element_texts(_at(frame.get_column(RAW_REQUEST), spec.inputs), as_input=True)
        frame = frame.with_columns(pl.coalesce(rows_in, pl.concat_list(pl.col(RAW_REQUEST))).alias("_rows"))
        if spec.outputs is not None and RAW_RESPONSE in frame.columns:
            rows_out = element_texts(_at(frame.get_column(RAW_RESPONSE), spec.outputs), as_input=False)
            frame = frame.with_columns(pl.coalesce(rows_out, pl.concat_list(pl.col(RAW_RESPONSE))).alias("_outs"))
        frame = frame.with_columns(pl.int_ranges(0, pl.col("_rows").list.len().fill_null(0).clip(1)).alias("_pos"))
        frame = frame.explode("_pos")
        frame = frame.with_columns(pl.col("_rows").list.get(pl.col("_pos"), null_on_oob=True).alias(RAW_REQUEST))
        if "_outs" in frame.columns:
            frame = frame.with_columns(pl.col("_outs").list.get(pl.col("_pos"), null_on_oob=True).alias(RAW_RESPONSE))
        frame = frame.drop("_rows", "_outs", "_pos", strict=False)
        # Fields inside the request or response come from the row now, not from the batch.
        return frame.with_columns(
            (pl.col(RAW_REQUEST) if c.startswith(INPUT_PREFIX) else pl.col(RAW_RESPONSE))
            .str.json_path_match(jsonpath(tuple(c.split(".", 1)[1].split(".")))).alias(c)
            for c in frame.columns if c.startswith((INPUT_PREFIX, OUTPUT_PREFIX))
        )


def _event_ns(columns: list[str]) -> pl.Expr:
    """An event's time in nanoseconds since the epoch: the join's exact time, else the record's ``ts``."""
    times = [pl.col(TIME_NS)] if TIME_NS in columns else []
    if "ts" in columns:
        times.append(pl.col("ts").dt.epoch("ns"))
    return pl.coalesce(times) if times else pl.lit(None, pl.Int64)


def _as_written(arrays: pl.Series, ignore_errors: bool = False) -> pl.Series:
    """Each JSON array text as the list of its elements' texts, as written (null for anything else, with
    ``ignore_errors``): one parse, nothing decoded past the top level."""
    wrapped = arrays.to_frame("a").select(pl.concat_str(pl.lit('{"a":'), pl.col("a").fill_null("null"), pl.lit("}")))
    return read_json_lines(wrapped.to_series(), {"a": pl.List(pl.String)}, ignore_errors=ignore_errors).get_column("a")


def element_counts(arrays: pl.Series) -> pl.Series:
    """How many elements each JSON array text holds (null for anything else)."""
    try:
        counts = _as_written(arrays, ignore_errors=True).list.len()
    except pl.exceptions.PolarsError:  # a text that is no JSON at all: null, as for anything but an array
        valid = arrays.to_frame("a").select(pl.when(pl.col("a").str.json_path_match("$").is_not_null())
                                            .then(pl.col("a"))).to_series()
        counts = _as_written(valid, ignore_errors=True).list.len()
    # An array the strict reader refuses (NaN, a number past a float) but the explode reads: counted as it does.
    odd = (counts.is_null() & arrays.str.starts_with("[").fill_null(False)).arg_true()
    if odd.len():
        counts = counts.scatter(odd, element_texts(arrays.gather(odd), True).list.len().cast(counts.dtype))
    return counts


def _at(objects: pl.Series, path: tuple[str, ...]) -> pl.Series:
    if not path:
        return objects
    return objects.to_frame("o").select(pl.col("o").str.json_path_match(jsonpath(path))).to_series()


def _row_text(element: pl.Expr, dtype: pl.DataType, as_input: bool) -> pl.Expr:
    """JSON object text of one batched row: an object as it is; a list of values keyed ``f0``, ``f1``...
    (as input) or kept whole under ``prediction`` (as output); a single value under ``f0`` or ``prediction``."""
    if isinstance(dtype, pl.Struct):
        return element.struct.json_encode()
    if as_input and isinstance(dtype, (pl.List, pl.Array)):
        return _encode_positional(element)
    name = "f0" if as_input else PREDICTION
    return pl.struct(element.alias(name)).struct.json_encode()


def _encode_positional(element: pl.Expr) -> pl.Expr:
    # Keys f0..fN: the row's values by position (to_struct needs the names; 64 covers tabular rows,
    # a wider row keeps its values whole under f0).
    return element.list.to_struct(fields=[f"f{i}" for i in range(_POSITIONAL)]).struct.json_encode().str.replace_all(
        r',"f\d+":null', "")


_POSITIONAL = 64


def element_texts(arrays: pl.Series, as_input: bool) -> pl.Series:
    """Each JSON array text of ``arrays`` as a list of row object texts (a non-array value is one row)."""
    try:
        decoded = arrays.str.json_decode(infer_schema_length=None)
    except pl.exceptions.PolarsError:
        return _element_texts_python(arrays, as_input)
    frame = decoded.to_frame("a")
    dtype = decoded.dtype
    if isinstance(dtype, pl.Struct):  # objects only: each is one row, its text kept as written
        return arrays.to_frame("a").select(
            pl.when(pl.col("a").is_not_null()).then(pl.concat_list(pl.col("a")))).to_series()
    if isinstance(dtype, pl.List):
        inner = dtype.inner
        # Rows that are objects: each one's text as written (a key a row lacks stays missing, not null), not
        # encoded again; but the reader's text of an object holding a backslash is not always exact.
        if isinstance(inner, pl.Struct) and not arrays.str.contains("\\", literal=True).any():
            return _as_written(arrays)
        if as_input and isinstance(inner, (pl.List, pl.Array)) and _widest(decoded) > _POSITIONAL:
            return _element_texts_python(arrays, as_input)
        out = frame.select(pl.col("a").list.eval(_row_text(pl.element(), inner, as_input))).to_series()
    else:
        out = frame.select(pl.when(pl.col("a").is_not_null()).then(
            pl.concat_list(_row_text(pl.col("a"), dtype, as_input)))).to_series()
    return out


def _widest(decoded: pl.Series) -> int:
    return int(decoded.explode().list.len().max() or 0)


def _element_texts_python(arrays: pl.Series, as_input: bool) -> pl.Series:
    """The same, for bodies whose rows no one schema holds (mixed types): rare, per body."""
    def rows(text):
        if text is None:
            return None
        try:
            value = json.loads(text)
        except ValueError:
            return None
        items = value if isinstance(value, list) else [value]
        out = []
        for item in items:
            if isinstance(item, dict):
                out.append(json.dumps(item))
            elif as_input and isinstance(item, list):
                out.append(json.dumps({f"f{i}": v for i, v in enumerate(item)}))
            else:
                out.append(json.dumps({"f0" if as_input else PREDICTION: item}))
        return out

    return arrays.map_elements(rows, return_dtype=pl.List(pl.String))
