"""Lines nested deeper than ``json_path_match`` reads: settled with the JSON scan's own parser.

The line path checks the lines its regular expression leaves with ``json_path_match``,
whose parser stops at 127 levels of nesting; the JSON scan that reads records goes to
1,024. A valid line between the two is a good record (the fast whole-file scan reads it
too, wherever it stands in the file), so it must not be called malformed. Such lines are
rare: they are found by counting brackets, and parsed as JSON lines in one batch; should
that fail, Python's parser settles most of the failures, so that even a file of nothing
else costs a parse per line, not a scan per line.
"""

from __future__ import annotations

import io
import json
import math

import polars as pl

#: The deepest nesting ``json_path_match`` parses (the line's own object counts as 1).
PATH_MATCH_DEPTH = 127
#: The deepest nesting the JSON scan parses; a line deeper than this is not read.
SCAN_DEPTH = 1024

MALFORMED = "malformed JSON"
NOT_OBJECT = "not a JSON object"
TOO_DEEP = "nested too deep"

_STRING = r'"(?:[^"\\]|\\.)*"'


def maybe_deep(text: pl.Expr) -> pl.Expr:
    """A cheap test that holds for every line nested deeper than PATH_MATCH_DEPTH (and for a few others)."""
    return text.str.count_matches(r"[\[{]") > PATH_MATCH_DEPTH


def _structure(lines: pl.Series) -> pl.DataFrame:
    """Per line: ``depth``, how deep its brackets nest outside its strings, and ``whole``, whether its
    first bracket closes only at its end (so that the line can be one JSON value, and no more)."""
    outside = pl.col("t").str.replace_all(_STRING, "")
    marked = lines.to_frame("t").with_row_index("_i").select(
        "_i",
        outside.str.replace_all(r"[^\[\]{}]", "").alias("_b"),
        outside.str.strip_chars().str.contains(r"^[\[{].*[\]}]$").alias("_ends"),
    )
    # One row per bracket: +1 opens, -1 closes, summed along each line.
    running = (pl.col("_b").is_in(["[", "{"]).cast(pl.Int32) * 2 - 1).cum_sum().over("_i")
    levels = (
        marked.select("_i", pl.col("_b").str.split(""))
        .explode("_b")
        .filter(pl.col("_b") != "")
        .select("_i", running.alias("_run"))
        .group_by("_i")
        .agg(pl.col("_run").max().alias("depth"), ((pl.col("_run") == 0).sum() == 1).alias("_once"),
             (pl.col("_run").last() == 0).alias("_last"))
    )
    return marked.join(levels, on="_i", how="left", maintain_order="left").select(
        pl.col("depth").fill_null(0),
        (pl.col("_ends") & pl.col("_once") & pl.col("_last")).fill_null(False).alias("whole"),
    )


def unparsed_reason(lines: pl.Series) -> pl.Series:
    """Why each line is bad, given that ``json_path_match`` could not parse it.

    ``malformed JSON``, unless the line nests deeper than that parser goes: then it is
    parsed again as the scan parses it, and the reason is null (a good object), ``not a
    JSON object``, ``malformed JSON``, or ``nested too deep`` past SCAN_DEPTH.
    """
    is_object = pl.col("t").str.starts_with("{")
    # The scan parses objects only: an array is parsed as the value of a key, one level deeper.
    # Its first bracket must close at its end, or the wrapping could make two values look like one.
    levels = pl.col("depth") + (~is_object).cast(pl.Int32)
    frame = pl.concat([lines.to_frame("t"), _structure(lines)], how="horizontal").select(
        pl.when((pl.col("depth") <= PATH_MATCH_DEPTH) | ~pl.col("whole")).then(pl.lit(MALFORMED))
        .when(levels > SCAN_DEPTH).then(pl.lit(TOO_DEEP))
        .alias("reason"),
        pl.when(is_object).then(pl.col("t")).otherwise(pl.lit('{"v":') + pl.col("t") + pl.lit("}")).alias("checked"),
        is_object.alias("object"),
    )
    rows = frame.get_column("reason").is_null().arg_true()
    if not rows.len():
        return frame.get_column("reason").alias(lines.name)
    checked = frame.gather(rows)
    ok = pl.Series(parses(checked.get_column("checked")), dtype=pl.Boolean)
    settled = checked.select(
        pl.when(~pl.lit(ok)).then(pl.lit(MALFORMED)).when(~pl.col("object")).then(pl.lit(NOT_OBJECT))
    ).to_series()
    return frame.get_column("reason").scatter(rows, settled).alias(lines.name)


_ANY_KEY = {"_": pl.String}


def parses(texts: pl.Series) -> list[bool]:
    """Whether the JSON scan parses each text (a JSON object on one line).

    All are parsed in one go. Should that fail, Python's parser settles the texts it
    rejects (it accepts all the scan does, and a little more), and the rest are parsed again,
    halved around the failures; so many bad lines cost a Python parse each, not a
    scan call each.
    """
    if _scan_parses(texts):
        return [True] * texts.len()
    ok = [False] * texts.len()
    unsure = [i for i, text in enumerate(texts) if _python_may_parse(text)]
    for i, parsed in zip(unsure, _halving(texts.gather(unsure))):
        ok[i] = parsed
    return ok


def _scan_parses(texts: pl.Series) -> bool:
    try:
        pl.read_ndjson(io.BytesIO(texts.str.join("\n").item().encode()), schema=_ANY_KEY)
        return True
    except pl.exceptions.PolarsError:
        return False


def _halving(texts: pl.Series) -> list[bool]:
    if not texts.len() or _scan_parses(texts):
        return [True] * texts.len()
    if texts.len() == 1:
        return [False]
    half = texts.len() // 2
    return _halving(texts.head(half)) + _halving(texts.tail(texts.len() - half))


def _reject(name: str):
    raise ValueError(name)  # NaN and Infinity are not JSON


def _finite(number: str) -> int:
    if math.isinf(float(number)):
        raise ValueError(number)  # the scan refuses numbers past the largest float, as the scan reads them
    return 0


def _python_may_parse(text: str) -> bool:
    """False for text Python's JSON parser rejects; True where it parses, or gives up on the depth."""
    try:
        json.loads(text, parse_constant=_reject, parse_float=_finite, parse_int=_finite)
        return True
    except RecursionError:
        return True
    except ValueError:
        return False
