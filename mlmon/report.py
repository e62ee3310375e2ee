"""``mlmon report``'s core: read logs, compute metrics per window and segment, describe the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Sequence

import polars as pl

from mlmon import __version__
from mlmon.errors import UsageError
from mlmon.expr import Node
from mlmon.baseline.load import BaselineSpec, load_reference
from mlmon.baseline.reference import Reference
from mlmon.logs.field_limit import MAX_FIELDS, FieldLimit
from mlmon.logs.fields import io_field_names, with_io_fields
from mlmon.logs.mapping import CANONICAL_FIELDS, MAX_PATH_DEPTH, INPUT_PREFIX, OUTPUT_PREFIX, RAW_REQUEST, RAW_RESPONSE, Mapping
from mlmon.metrics.drift import method_of, schema_changes
from mlmon.metrics.labels import load_labels
from mlmon.metrics.llm import Prices, with_cost
from mlmon.metrics.model_quality import (LabelSpec, join_labels, joined_labels, not_finite_warnings, quality_exprs,
                                         task_and_positive)
from mlmon.metrics.table import Extras, metric_table
from mlmon.store.source import store_input
from mlmon.logs.reader import DEFAULT_MAX_LINE_BYTES, LogData, Progress, announce, read_logs, stream_logs
from mlmon.metrics.incremental import WindowedMetrics
from mlmon.metrics.catalog import METRICS_BY_NAME, RECORD_FIELDS
from mlmon.metrics.whole_range import distributions_by_field, drift_by_field, quality_by_segment
from mlmon.metrics.windows import WINDOW_END, WINDOW_START, MetricTable, WindowSpec, select_range
from mlmon.redact import redact_columns, secret_key_in
from mlmon.timeparse import format_duration, iso
from mlmon.where import apply_where, parse_where, where_fields
from mlmon.yamlfile import did_you_mean

if TYPE_CHECKING:  # check's core imports this module's prepare
    from mlmon.check import RuleRun
    from mlmon.rules.evaluate import CheckResult

SEGMENT_FIELDS = tuple(name for name, kind in CANONICAL_FIELDS.items() if kind not in ("time", "number"))


#: Why mlmon refuses to segment by a secret rather than print a fingerprint of it (README "Secrets").
SECRET_SEGMENT_HINT = ("A segment's value is printed in every output, and a hash of a short or common secret "
                       "can be reversed from a dictionary; segment by a field that is no credential, such as a "
                       "user or tenant id.")


def secret_segment_problem(name: str, mapping: Mapping | None = None) -> str | None:
    """Why segmenting by ``name`` would print a secret, or None.

    A field is secret when a key of its name names one (``input.headers.Authorization``), or,
    given the mapping, a key of the path it is read from (``model`` mapped from ``api_key``)
    or a key listed under its ``redact:``.
    """
    keys = mapping.redact if mapping is not None else ()
    secret = secret_key_in(name, keys)
    if secret is not None:
        return f"cannot segment by {name!r}: {secret!r} names a secret"
    path = mapping.path_of(name) if mapping is not None else None
    secret = secret_key_in(".".join(path), keys) if path else None
    if secret is not None:
        return f"cannot segment by {name!r}: it is read from {'.'.join(path)!r}, and {secret!r} names a secret"
    return None


def refuse_secret_segments(by: Sequence[str], mapping: Mapping) -> None:
    """Raise UsageError when a ``--by`` field is secret, now that the mapping is known."""
    for name in by:
        problem = secret_segment_problem(name, mapping)
        if problem:
            raise UsageError(problem, SECRET_SEGMENT_HINT)


def check_segment_fields(by: Sequence[str]) -> tuple[str, ...]:
    """Validate ``--by`` names: canonical fields or ``input.x`` / ``output.x``, none of them a secret
    (by its name; :func:`refuse_secret_segments` checks again with the mapping)."""
    out = []
    for name in by:
        if name.count(".") >= MAX_PATH_DEPTH:
            raise UsageError(f"cannot segment by {name[:40]!r}…: it has {name.count('.') + 1:,} dotted parts",
                             f"A field name may have at most {MAX_PATH_DEPTH}.")
        problem = secret_segment_problem(name)
        if problem:
            raise UsageError(problem, SECRET_SEGMENT_HINT)
        if name.startswith((INPUT_PREFIX, OUTPUT_PREFIX)) and len(name.split(".", 1)[1]) > 0:
            out.append(name)
        elif name in SEGMENT_FIELDS:
            out.append(name)
        else:
            hint = did_you_mean(name, SEGMENT_FIELDS).lstrip("; ")
            raise UsageError(
                f"cannot segment by {name!r}" + (f": {hint}" if hint else ""),
                f"Use one of {', '.join(SEGMENT_FIELDS)}, or input.FIELD / output.FIELD.",
            )
    if len(set(out)) != len(out):
        raise UsageError("--by names a field twice", "Name each field once.")
    return tuple(out)


@dataclass
class Report:
    """Metrics per window and segment, plus where they came from."""

    table: MetricTable
    files: list[str]
    records: int
    skipped: int
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    #: Where the skipped lines were written (--rejects), if anywhere.
    rejects_file: str | None = None
    generated_at: datetime | None = None
    #: With --baseline: where the reference came from, its fields and their drift method.
    baseline: dict[str, Any] | None = None
    #: With --labels: the task, the positive class and the fields read.
    labels: dict[str, Any] | None = None
    #: With --where: the filter the records passed.
    where: str | None = None
    #: For people's formats, with a baseline: drift per segment and field over the whole range
    #: (see :func:`mlmon.metrics.whole_range.drift_by_field`). Not part of the JSON document.
    drift_by_field: pl.DataFrame | None = None
    #: For people's formats, with labels: model quality per segment over the whole range.
    quality_by_segment: pl.DataFrame | None = None
    #: With a baseline, when asked: each field's baseline and current distributions per segment
    #: (see :func:`mlmon.metrics.whole_range.distributions_by_field`). Not part of the JSON document.
    distributions: pl.DataFrame | None = None
    #: With --rules: the alerts, judged as ``mlmon check`` judges them, and the rules file.
    alerts: CheckResult | None = None
    rules_file: str | None = None

    @property
    def frame(self) -> pl.DataFrame:
        return self.table.frame

    @property
    def segments(self) -> list[str]:
        return list(self.table.spec.by)

    @property
    def metrics(self) -> list[str]:
        return self.table.metrics

    def to_dict(self) -> dict[str, Any]:
        """The stable ``--format json`` document (see README, 'JSON output')."""
        spec = self.table.spec
        windows = []
        # Window times are written by Polars: a window ending past year 9999 has no Python datetime.
        frame = self.frame.with_columns(iso_text_expr(WINDOW_START), iso_text_expr(WINDOW_END))
        for row in frame.iter_rows(named=True):  # one row per window, not per record
            windows.append(
                {
                    "start": row[WINDOW_START],
                    "end": row[WINDOW_END],
                    "segment": {name: _plain(row[name]) for name in spec.by},
                    "metrics": {name: _plain(row[name]) for name in self.metrics},
                }
            )
        return {
            "mlmon_version": __version__,
            "generated_at": iso(self.generated_at),
            "source": {
                "files": self.files,
                "records": self.records,
                "skipped": self.skipped,
                "skipped_by_reason": self.skipped_by_reason,
            },
            "every": format_duration(spec.every) if spec.every else None,
            "by": list(spec.by),
            "since": iso(spec.since),
            "until": iso(spec.until),
            **({"where": self.where} if self.where is not None else {}),
            **({"baseline": self.baseline} if self.baseline is not None else {}),
            **({"labels": self.labels} if self.labels is not None else {}),
            "windows": windows,
            **({"alerts": self.alerts_document()} if self.alerts is not None else {}),
        }

    def alerts_document(self) -> dict[str, Any]:
        """With --rules: the rules file, how many rules it has, and the alerts as ``mlmon check --format json``
        lists them: ``firing`` (its ``alerts``, each fired in some window of the range) and ``pending``."""
        result = self.alerts
        return {"rules_file": self.rules_file, "rules_evaluated": result.rules_evaluated,
                "firing": [a.to_dict() for a in result.alerts], "pending": [a.to_dict() for a in result.pending]}


def iso_text_expr(name: str) -> pl.Expr:
    """The column's times as :func:`iso` writes them: seconds, then a fraction only when there is one."""
    text = pl.col(name).dt.strftime("%Y-%m-%dT%H:%M:%S%.6f").str.replace(r"\.?0+$", "")
    return (text + pl.lit("Z")).alias(name)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, datetime):
        return iso(value)
    return value


@dataclass
class Analysis:
    """Records ready for metrics, plus what the drift and label metrics need."""

    records: pl.DataFrame
    data: LogData
    extras: Extras
    baseline: dict[str, Any] | None = None
    labels: dict[str, Any] | None = None


def prepare(
    inputs: Sequence[str],
    *,
    mapping: Mapping,
    fields: Sequence[str],
    baseline: BaselineSpec | None = None,
    labels: LabelSpec | None = None,
    where: Node | None = None,
    strict: bool = False,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    progress: Progress | None = None,
    max_fields: int = MAX_FIELDS,
    prices: Prices | None = None,
) -> Analysis:
    """Read the logs once with every field the metrics need; load the baseline and the labels.

    ``where`` filters the records first, so the baseline range and the labels see only those it keeps.
    Secrets inside the text values of the fields read (``{"token": …}`` as JSON text, a header line)
    are redacted as they are read, so no later step (segments, drift categories, filters) sees them.
    At most ``max_fields`` input and as many output fields are decoded, besides those named (by
    ``fields``, the labels and the baseline); a warning says how many were not.
    With ``prices``, a record without a logged cost gets the one its tokens and model give (see
    :func:`mlmon.metrics.llm.with_cost`), before ``where`` sees it.
    """
    fields = list(dict.fromkeys([*fields, *where_fields(where), *(prices.fields if prices else ())]))
    need_io = baseline is not None or labels is not None
    data = read_logs(inputs, mapping, _fields_to_read(fields, need_io), strict=strict, max_line_bytes=max_line_bytes,
                     progress=progress)
    records = with_cost(data.records, prices)
    extras = Extras()
    analysis = Analysis(records, data, extras)
    limit = FieldLimit(max_fields, frozenset([*fields, *([labels.prediction, labels.score or ""] if labels else [])]))
    if need_io:
        records = with_io_fields(records, limit)
        data.warnings.extend(limit.warnings())
        for name in fields:  # a segment or filter field no record carries is still a (null) column
            if name not in records.columns:
                records = records.with_columns(pl.lit(None, pl.String).alias(name))
    records = redact_columns(records, [*fields, *io_field_names(records)], mapping.redact)
    records = apply_where(records, where)
    if labels is not None:
        announce(progress, "joining labels")
        records, analysis.labels = _with_labels(records, labels, extras, data.warnings)
    if baseline is not None:
        announce(progress, "loading the baseline")
        reference = load_reference(baseline, mapping=mapping, current=records, logs=data.files if data.total is not None else list(inputs), told=data,
                                   max_fields=max_fields)
        records = _with_reference_fields(records, reference, limit, mapping.redact)
        extras.reference = reference
        analysis.baseline = {
            "source": reference.source,
            "rows": reference.rows,
            "fields": {name: {"type": ref.kind, "method": method_of(ref) if ref.kind != "identifier" else None}
                       for name, ref in reference.fields.items()},
        }
        if reference.fields_left_out or limit.total_left_out:
            analysis.baseline["max_fields"] = max_fields
            analysis.baseline["fields_left_out"] = {"baseline": reference.fields_left_out, "logs": limit.total_left_out}
    analysis.records = records
    return analysis


def _fields_to_read(fields: list[str], need_io: bool) -> list[str]:
    """The fields read for the operational metrics and ``fields``; with ``need_io``, the whole request and
    response objects instead of the ``input.x`` and ``output.x`` fields, which are decoded from them."""
    wanted = list(dict.fromkeys([*RECORD_FIELDS, *fields]))
    if need_io:
        wanted = [f for f in wanted if not f.startswith((INPUT_PREFIX, OUTPUT_PREFIX))]
        wanted += ["request_id", RAW_REQUEST, RAW_RESPONSE]
    return list(dict.fromkeys(wanted))


def _with_reference_fields(records: pl.DataFrame, reference: Reference, limit: FieldLimit,
                           secret_keys: tuple[str, ...]) -> pl.DataFrame:
    """``records`` with the reference's fields that the bound on fields left out of them decoded after all
    (and redacted, as the others were), so that the baseline's fields are compared whichever fields the
    logs hold most often."""
    missing = frozenset(name for name in reference.fields if name not in records.columns)
    if not missing or not limit.total_left_out:
        return records
    return redact_columns(with_io_fields(records, FieldLimit(0, missing)), missing, secret_keys)


def _with_labels(records: pl.DataFrame, spec: LabelSpec, extras: Extras,
                 warnings: list[str]) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The records with their labels joined, the quality aggregations in ``extras``, and what the report says of them.

    The task and the positive class come from the labels of the logged requests: a labels file may hold others.
    """
    truth = load_labels(spec)
    joined = joined_labels(truth, records)
    if not joined.height:
        warnings.append(f"no label in {spec.path} has the id of a logged request, so label_coverage is 0 and the "
                        f"quality metrics are empty; check the ids, or name their column with --label-id")
    task, positive = task_and_positive(truth, records, spec)
    records = join_labels(records, truth)
    warnings.extend(not_finite_warnings(records, task, spec))
    extras.quality = quality_exprs(task, spec, positive or "", dict(records.schema))
    return records, {"file": spec.path, "task": task, "positive": positive, "prediction": spec.prediction,
                     "score": spec.score, "labels": truth.height}


def build_report(
    inputs: Sequence[str],
    *,
    mapping: Mapping,
    spec: WindowSpec,
    now: datetime,
    baseline: BaselineSpec | None = None,
    labels: LabelSpec | None = None,
    where: str | None = None,
    strict: bool = False,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    progress: Progress | None = None,
    summaries: bool = False,
    distributions: bool = False,
    max_fields: int = MAX_FIELDS,
    rules: RuleRun | None = None,
    prices: Prices | None = None,
) -> tuple[Report, LogData]:
    """Read ``inputs`` and compute every metric for ``spec``: operational, and drift and model quality when asked.

    ``where`` (mlmon's expression language) keeps only the records it matches, as a rule's ``where`` does.
    With ``summaries`` (for people's formats), also drift per field and model quality per segment
    over the whole range, when there is a baseline or labels; with ``distributions`` and a baseline, each
    field's distributions. ``max_fields`` bounds the fields decoded (see prepare).
    With ``rules``, the alerts of its rules file over the same records (those ``where`` keeps), judged as
    ``mlmon check`` judges them; what it refuses is refused before the logs are read.
    ``prices`` gives a cost to the records that log tokens and no cost (see prepare).
    """
    condition = parse_where(where) if where is not None else None
    refuse_secret_segments(spec.by, mapping)
    if rules is not None:
        rules.refuse(mapping, baseline=baseline is not None, labels=labels is not None)
    # A store is read a range and a few columns at a time already: the windowed path is for raw logs.
    if (baseline is None and labels is None and rules is None and spec.every is not None
            and store_input(inputs) is None):
        return _windowed_as_read(inputs, mapping=mapping, spec=spec, now=now, where=where, condition=condition,
                                 strict=strict, max_line_bytes=max_line_bytes, progress=progress, prices=prices)
    fields = [*spec.by, *(rules.fields if rules is not None else ())]
    analysis = prepare(inputs, mapping=mapping, fields=fields, baseline=baseline, labels=labels, where=condition,
                       strict=strict, max_line_bytes=max_line_bytes, progress=progress, max_fields=max_fields,
                       prices=prices)
    table = metric_table(analysis.records, spec, analysis.extras, progress=progress)
    data = analysis.data
    report = Report(
        table=table,
        files=data.files,
        records=data.record_count,
        skipped=data.skipped,
        skipped_by_reason=data.skipped_by_reason(),
        generated_at=now,
        baseline=analysis.baseline,
        labels=analysis.labels,
        where=where,
    )
    if rules is not None:
        report.alerts = rules.judge(analysis, progress)
        report.rules_file = rules.ruleset.path
    reference = analysis.extras.reference  # set with analysis.baseline
    if reference is None and not (summaries and analysis.labels is not None):
        return report, data
    current = select_range(analysis.records.lazy(), spec).collect()
    if reference is not None:
        changes = schema_changes(current, reference)
        report.baseline["schema_changes"] = {"added": changes.added, "removed": changes.removed}
    if summaries and reference is not None:
        announce(progress, "summarizing drift by field")
        report.drift_by_field = drift_by_field(current, reference, list(spec.by))
    if distributions and reference is not None:
        report.distributions = distributions_by_field(current, reference, list(spec.by))
    if summaries and analysis.labels is not None:
        report.quality_by_segment = quality_by_segment(current, analysis.extras.quality, list(spec.by))
    return report, data


def _windowed_as_read(inputs: Sequence[str], *, mapping: Mapping, spec: WindowSpec, now: datetime, where: str | None,
                      condition: Node | None, strict: bool, max_line_bytes: int,
                      progress: Progress | None, prices: Prices | None = None) -> tuple[Report, LogData]:
    """The operational metrics per window, aggregated chunk by chunk as the logs are read, so that memory
    holds the rows of the open windows rather than all the records (see :mod:`mlmon.metrics.incremental`).
    The same report as :func:`prepare` then :func:`metric_table` give; the LogData's records are empty."""
    fields = list(dict.fromkeys([*spec.by, *where_fields(condition)]))
    stream = stream_logs(inputs, mapping, _fields_to_read([*fields, *(prices.fields if prices else ())], False),
                         strict=strict, max_line_bytes=max_line_bytes, progress=progress)
    apply_where(with_cost(stream.empty(), prices), condition)  # a filter that does not fit the records fails before reading
    records = 0
    with WindowedMetrics(spec, stream.schema) as windows:
        for frame in stream:
            records += frame.height
            frame = redact_columns(with_cost(frame, prices), [*fields, *io_field_names(frame)], mapping.redact)
            windows.add(apply_where(frame, condition))
        data = stream.finish(stream.empty())
        announce(progress, "computing metrics")
        table = windows.table()
    report = Report(table=table, files=data.files, records=records, skipped=data.skipped,
                    skipped_by_reason=data.skipped_by_reason(), generated_at=now, where=where)
    return report, data


#: Units of the metrics computed with --baseline and --labels (per-field ones go by their prefix).
_EXTRA_UNITS = {
    "drift_share": "ratio", "duplicate_request_id_rate": "ratio", "label_coverage": "ratio", "accuracy": "ratio",
    "precision": "ratio", "recall": "ratio", "f1": "ratio", "null_rate": "ratio", "type_violation_rate": "ratio",
    "out_of_range_rate": "ratio", "new_category_rate": "ratio", "schema_fields_added": "fields",
    "schema_fields_removed": "fields", "drifted": "flag",
}


def metric_unit(name: str) -> str:
    metric = METRICS_BY_NAME.get(name)
    if metric:
        return metric.unit
    return _EXTRA_UNITS.get(name) or _EXTRA_UNITS.get(name.split(".", 1)[0], "")
