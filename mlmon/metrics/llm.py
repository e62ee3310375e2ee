"""LLM metrics: tokens, their speed, cost and time to first token, as named Polars expressions.

Each is present only when some record carries the field it reads (as the resource metrics), so logs
without tokens show none of them. Within a window whose records carry none, a sum is null, not 0.
A record's cost is the logged ``cost``, else the one its tokens and a ``--prices`` table give
(:func:`with_cost`): a logged cost wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from mlmon.errors import ConfigError
from mlmon.metrics.operational import Metric
from mlmon.yamlfile import Located, did_you_mean, load_yaml, problem_position, top_level_problems

#: Record columns the LLM metrics read (canonical fields, see README "Log records").
LLM_FIELDS = ("tokens_in", "tokens_out", "tokens_total", "cost", "ttft_ms")


def _sum(name: str) -> pl.Expr:
    """The sum of the values logged; null when no record of the group has one."""
    return pl.when(pl.col(name).is_not_null().any()).then(pl.col(name).sum())


def tokens_out_per_s() -> pl.Expr:
    """Tokens written per second of latency, over the records with both: sum(tokens_out) / sum(latency_ms)/1000.

    The whole latency counts, time to first token included, whether or not ``ttft_ms`` is logged:
    it is the speed a caller sees, not the decoder's."""
    both = pl.col("tokens_out").is_not_null() & pl.col("latency_ms").is_not_null()
    seconds = pl.col("latency_ms").filter(both).sum() / 1000
    return pl.when(seconds > 0).then(pl.col("tokens_out").filter(both).sum() / seconds)


def _ttft(q: float):
    # Linear interpolation between the two nearest ranks, as the latency percentiles.
    return lambda: pl.col("ttft_ms").quantile(q, interpolation="linear")


LLM_METRICS: tuple[Metric, ...] = (
    Metric("tokens_in", "Prompt tokens: the sum over the records that log tokens_in.", "tokens",
           lambda: _sum("tokens_in"), "tokens_in"),
    Metric("tokens_out", "Completion tokens: the sum over the records that log tokens_out.", "tokens",
           lambda: _sum("tokens_out"), "tokens_out"),
    Metric("tokens_total", "Tokens in all: the sum of tokens_total (logged, else tokens_in + tokens_out).", "tokens",
           lambda: _sum("tokens_total"), "tokens_total"),
    Metric("tokens_out_per_s", "sum(tokens_out) / sum(latency_ms) in seconds, over records with both "
           "(the whole latency, time to first token included).", "tokens/s", tokens_out_per_s, "tokens_out"),
    Metric("cost_total", "Cost: the sum of each record's cost (logged, else from --prices).", "cost",
           lambda: _sum("cost"), "cost"),
    Metric("cost_per_request", "cost_total / the number of records with a cost.", "cost",
           lambda: pl.col("cost").mean(), "cost"),
    Metric("ttft_p50_ms", "Median time to first token (linear interpolation, as numpy.percentile).", "ms",
           _ttft(0.50), "ttft_ms"),
    Metric("ttft_p95_ms", "95th percentile time to first token.", "ms", _ttft(0.95), "ttft_ms"),
)


# --- prices ------------------------------------------------------------------------------------

#: Tokens per price unit.
PRICE_UNITS = {"1M": 1_000_000, "1K": 1_000}
FALLBACK = "*"
_TOP_KEYS = ("unit", "models")
_PRICE_KEYS = ("input", "output")


@dataclass(frozen=True)
class Prices:
    """Price per ``per`` tokens read (input) and written (output), by model; ``"*"`` for any other model."""

    models: dict[str, tuple[float, float]]
    per: int = 1_000_000
    path: str = ""

    @property
    def fields(self) -> tuple[str, ...]:
        """The record fields a cost is computed from."""
        return ("model", "tokens_in", "tokens_out", "cost")


def with_cost(records: pl.DataFrame, prices: Prices | None) -> pl.DataFrame:
    """``records`` whose ``cost`` is the logged one, else ``tokens_in`` × input + ``tokens_out`` × output
    at the price of the record's ``model`` (its own key, else ``"*"``), else null. Without ``prices``, as given."""
    if prices is None:
        return records

    def column(name: str, dtype: pl.DataType) -> pl.Expr:
        return pl.col(name).cast(dtype) if name in records.columns else pl.lit(None, dtype)

    named = {m: p for m, p in prices.models.items() if m != FALLBACK}
    fallback = prices.models.get(FALLBACK, (None, None))
    model = column("model", pl.String())

    def price(i: int) -> pl.Expr:
        if not named:
            return pl.lit(fallback[i], pl.Float64)
        return model.replace_strict(list(named), [p[i] for p in named.values()], default=fallback[i],
                                    return_dtype=pl.Float64)

    computed = (column("tokens_in", pl.Float64()) * price(0) + column("tokens_out", pl.Float64()) * price(1)) / prices.per
    return records.with_columns(pl.coalesce(column("cost", pl.Float64()), computed).alias("cost"))


def load_prices(path: str | Path | None) -> Prices | None:
    """The prices file at ``path`` (None: no prices); ConfigError listing every problem, each with its line."""
    if path is None:
        return None
    return prices_from_doc(load_yaml(path, "prices file"))


def prices_from_doc(doc: Located) -> Prices:
    data = doc.data
    if not isinstance(data, dict):
        raise ConfigError(f"{doc.where()}: a prices file must be a YAML mapping with 'unit' and 'models'",
                          "See 'LLM metrics' in the README for an example.")
    problems: list[str] = []
    problems.extend(top_level_problems(doc, data, _TOP_KEYS))
    unit = data.get("unit", "1M")
    if unit not in PRICE_UNITS:
        problems.append(f"{doc.where_in_value(('unit',), 1)}: unit must be one of {', '.join(PRICE_UNITS)} (tokens per price), "
                        f"not {unit!r}")
    models = data.get("models")
    out: dict[str, tuple[float, float]] = {}
    if not isinstance(models, dict) or not models:
        problems.append(f"{doc.where('models')}: 'models' must map model names to prices, "
                        "e.g. gpt-4o-mini: {input: 0.15, output: 0.60}")
        models = {}
    for name, entry in models.items():
        price = _model_price(doc, name, entry, problems)
        if price is not None:
            out[str(name)] = price
    if problems:
        n = len(problems)
        problems.sort(key=problem_position)
        raise ConfigError(f"prices file {doc.path} has {n} problem{'s' if n > 1 else ''}",
                          "Fix the lines listed above; see 'LLM metrics' in the README.", details=problems)
    return Prices(out, PRICE_UNITS[unit], doc.path)


def _model_price(doc: Located, name: Any, entry: Any, problems: list[str]) -> tuple[float, float] | None:
    where = doc.where("models", name)
    if not isinstance(entry, dict):
        problems.append(f"{where}: model {name!r} needs input and output prices, e.g. {{input: 0.15, output: 0.60}}")
        return None
    ok = True
    for key in entry:
        if key not in _PRICE_KEYS:
            problems.append(f"{doc.where('models', name, key)}: unknown key {key!r}{did_you_mean(str(key), _PRICE_KEYS)}")
            ok = False
    values = []
    for key in _PRICE_KEYS:
        value = entry.get(key)
        if key not in entry:
            problems.append(f"{where}: model {name!r} needs an '{key}' price")
            ok = False
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
            problems.append(f"{doc.where_in_value(('models', name, key), 1)}: model {name!r} needs "
                            f"'{key}' as a price of 0 or more, not {value!r}")
            ok = False
        else:
            values.append(float(value))
    return (values[0], values[1]) if ok else None
