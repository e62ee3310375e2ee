"""Choose the logged requests to replay: by id, time, expression, sample, or the windows where an alert fired."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

import polars as pl

from mlmon.errors import UsageError
from mlmon.expr import compile_expr, names, parse
from mlmon.logs.mapping import INPUT_PREFIX, OUTPUT_PREFIX, RAW_REQUEST, RAW_RESPONSE, Mapping
from mlmon.logs.reader import DEFAULT_MAX_LINE_BYTES, LogData, read_logs
from mlmon.metrics.windows import WINDOW_START, window_floor
from mlmon.rules.evaluate import FIRING, evaluate_rule, record_fields
from mlmon.rules.inputs import require_inputs
from mlmon.rules.model import RuleSet

#: ``--sample`` draws with Polars, whose seeds are unsigned 64-bit integers.
MAX_SEED = 2**64 - 1

REPLAY_FIELDS = ["ts", "request_id", "model", "model_version", "endpoint", "status", "latency_ms", "error",
                 RAW_REQUEST, RAW_RESPONSE]


@dataclass(frozen=True)
class Selection:
    request_ids: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    where: str | None = None
    limit: int | None = None
    sample: int | None = None
    seed: int = 0
    alert: str | None = None
    ruleset: RuleSet | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.seed <= MAX_SEED:
            raise UsageError(f"--seed {self.seed} is out of range: a seed is a whole number from 0 to {MAX_SEED}",
                             "Pick any seed in that range; the same seed draws the same sample.")


def _io_field(name: str) -> bool:
    return name.startswith((INPUT_PREFIX, OUTPUT_PREFIX))


def derive_io_fields(frame: pl.DataFrame, wanted: Sequence[str]) -> pl.DataFrame:
    """Add ``input.x`` / ``output.x`` columns taken from the raw request and response JSON text."""
    exprs = []
    for name in dict.fromkeys(wanted):
        if not _io_field(name) or name in frame.columns:
            continue
        prefix, _, rest = name.partition(".")
        source = RAW_REQUEST if prefix == "input" else RAW_RESPONSE
        path = "$" + "".join(f"['{p}']" for p in rest.split("."))
        exprs.append(pl.col(source).str.json_path_match(path).alias(name))
    return frame.with_columns(exprs) if exprs else frame


def select_requests(
    inputs: Sequence[str],
    mapping: Mapping,
    selection: Selection,
    *,
    strict: bool = False,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    progress=None,
) -> tuple[pl.DataFrame, LogData]:
    """The records to replay, in logged order, each with its request and response as JSON text."""
    where = parse(selection.where) if selection.where else None
    rule = None
    if selection.alert:
        if selection.ruleset is None:
            raise UsageError("--alert needs --rules FILE")
        matches = [r for r in selection.ruleset.rules if r.name == selection.alert]
        if not matches:
            known = ", ".join(r.name for r in selection.ruleset.rules)
            raise UsageError(f"no rule named {selection.alert!r} in {selection.ruleset.path}", f"Rules: {known}.")
        rule = matches[0]
        # replay evaluates the rule without a baseline or labels: a drift or quality rule would select nothing
        require_inputs(RuleSet(selection.ruleset.path, (rule,)), baseline=False, labels=False)
    wanted = list(REPLAY_FIELDS)
    if where is not None:
        wanted += [n.name for n in names(where)]
    if rule is not None:
        wanted += record_fields(type(selection.ruleset)(selection.ruleset.path, (rule,)))  # type: ignore[misc]
    if where is not None:
        check_filter(where)
    to_read = [n for n in dict.fromkeys(wanted) if not _io_field(n)]
    data = read_logs(inputs, mapping, to_read, strict=strict, max_line_bytes=max_line_bytes, progress=progress)
    frame = derive_io_fields(data.records, wanted)
    if selection.since is not None:
        frame = frame.filter(pl.col("ts") >= selection.since)
    if selection.until is not None:
        frame = frame.filter(pl.col("ts") < selection.until)
    if rule is not None:  # the rule sees all traffic of the range; the other filters narrow its windows
        frame = _in_firing_windows(frame, rule, selection)
    if selection.request_ids:
        frame = frame.filter(pl.col("request_id").is_in(list(selection.request_ids)))
    if where is not None:
        frame = frame.filter(compile_expr(where, dict(frame.schema)))
    frame = frame.sort("ts", maintain_order=True)
    if selection.sample is not None and selection.sample < frame.height:
        frame = frame.sample(n=selection.sample, seed=selection.seed).sort("ts", maintain_order=True)
    if selection.limit is not None and selection.limit < frame.height:  # Polars takes no limit past 2^64
        frame = frame.head(selection.limit)
    return frame, data


def check_filter(where) -> None:
    """A replay filter must be a condition over record fields; raise UsageError otherwise."""
    from mlmon.expr import is_boolean
    from mlmon.logs.mapping import CANONICAL_FIELDS
    from mlmon.yamlfile import did_you_mean

    for name in names(where):
        if name.name not in CANONICAL_FIELDS and not _io_field(name.name):
            raise UsageError(
                f"--where names {name.name!r}, which is not a record field{did_you_mean(name.name, tuple(CANONICAL_FIELDS))}",
                "Use a canonical field (status, latency_ms, model_version, ...) or input.FIELD / output.FIELD.",
            )
    if not is_boolean(where):
        raise UsageError("--where must be a condition, such as status >= 500 or latency_ms > 1000")


def _in_firing_windows(frame: pl.DataFrame, rule, selection: Selection) -> pl.DataFrame:
    outcome = evaluate_rule(frame, rule, selection.since, selection.until)
    keys = [WINDOW_START, *rule.by]
    firing = outcome.windows.filter(pl.col("state") == FIRING).select(keys).unique()
    if rule.where is not None:
        frame = frame.filter(compile_expr(rule.where, dict(frame.schema)))
    frame = frame.with_columns(window_floor(pl.col("ts"), rule.every).alias(WINDOW_START))
    return frame.join(firing, on=keys, how="semi", nulls_equal=True).drop(WINDOW_START)
