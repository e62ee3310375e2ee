"""``mlmon report``'s core: read logs, compute metrics per window and segment, describe the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Sequence

import polars as pl

from mlmon import __version__
from mlmon.errors import UsageError
from mlmon.baseline.load import BaselineSpec, load_reference
from mlmon.logs.fields import with_io_fields
from mlmon.logs.mapping import CANONICAL_FIELDS, INPUT_PREFIX, OUTPUT_PREFIX, RAW_REQUEST, RAW_RESPONSE, Mapping
from mlmon.metrics.drift import method_of, schema_changes
from mlmon.metrics.model_quality import LabelSpec, infer_task, join_labels, load_labels, positive_label, quality_exprs
from mlmon.metrics.table import Extras, metric_table
from mlmon.logs.reader import DEFAULT_MAX_LINE_BYTES, LogData, Progress, announce, read_logs
from mlmon.metrics.operational import METRICS_BY_NAME, RECORD_FIELDS
from mlmon.metrics.whole_range import drift_by_field, quality_by_segment
from mlmon.metrics.windows import WINDOW_END, WINDOW_START, MetricTable, WindowSpec, select_range
from mlmon.timeparse import format_duration, iso
from mlmon.yamlfile import did_you_mean

SEGMENT_FIELDS = tuple(name for name in CANONICAL_FIELDS if name not in ("ts", "latency_ms", "cpu_percent", "memory_mb"))


def check_segment_fields(by: Sequence[str]) -> tuple[str, ...]:
    """Validate ``--by`` names: canonical fields or ``input.x`` / ``output.x``."""
    out = []
    for name in by:
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
    #: For people's formats, with a baseline: drift per segment and field over the whole range
    #: (see :func:`mlmon.metrics.whole_range.drift_by_field`). Not part of the JSON document.
    drift_by_field: pl.DataFrame | None = None
    #: For people's formats, with labels: model quality per segment over the whole range.
    quality_by_segment: pl.DataFrame | None = None

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
        frame = self.frame.with_columns(_iso_text(WINDOW_START), _iso_text(WINDOW_END))
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
            **({"baseline": self.baseline} if self.baseline is not None else {}),
            **({"labels": self.labels} if self.labels is not None else {}),
            "windows": windows,
        }


def _iso_text(name: str) -> pl.Expr:
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
    strict: bool = False,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    progress: Progress | None = None,
) -> Analysis:
    """Read the logs once with every field the metrics need; load the baseline and the labels."""
    need_io = baseline is not None or labels is not None
    wanted = list(dict.fromkeys([*RECORD_FIELDS, *fields]))
    if need_io:
        wanted = [f for f in wanted if not f.startswith((INPUT_PREFIX, OUTPUT_PREFIX))]
        wanted += ["request_id", RAW_REQUEST, RAW_RESPONSE]
    data = read_logs(inputs, mapping, list(dict.fromkeys(wanted)), strict=strict, max_line_bytes=max_line_bytes,
                     progress=progress)
    records = data.records
    extras = Extras()
    analysis = Analysis(records, data, extras)
    if need_io:
        records = with_io_fields(records)
        for name in fields:  # a segment field no record carries is still a (null) column
            if name not in records.columns:
                records = records.with_columns(pl.lit(None, pl.String).alias(name))
    if labels is not None:
        announce(progress, "joining labels")
        truth = load_labels(labels)
        records = join_labels(records, truth)
        task = infer_task(truth, labels)
        positive = positive_label(truth, labels) if task == "classification" else None
        extras.quality = quality_exprs(task, labels, positive or "", dict(records.schema))
        analysis.labels = {"file": labels.path, "task": task, "positive": positive, "prediction": labels.prediction,
                           "score": labels.score, "labels": truth.height}
    if baseline is not None:
        announce(progress, "loading the baseline")
        reference = load_reference(baseline, mapping=mapping, current=records, logs=list(inputs))
        extras.reference = reference
        analysis.baseline = {
            "source": reference.source,
            "rows": reference.rows,
            "fields": {name: {"type": ref.kind, "method": method_of(ref) if ref.kind != "identifier" else None}
                       for name, ref in reference.fields.items()},
        }
    analysis.records = records
    return analysis


def build_report(
    inputs: Sequence[str],
    *,
    mapping: Mapping,
    spec: WindowSpec,
    now: datetime,
    baseline: BaselineSpec | None = None,
    labels: LabelSpec | None = None,
    strict: bool = False,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    progress: Progress | None = None,
    summaries: bool = False,
) -> tuple[Report, LogData]:
    """Read ``inputs`` and compute every metric for ``spec``: operational, and drift and model quality when asked.

    With ``summaries`` (for the table and Markdown), also drift per field and model quality per segment
    over the whole range, when there is a baseline or labels.
    """
    analysis = prepare(inputs, mapping=mapping, fields=spec.by, baseline=baseline, labels=labels, strict=strict,
                       max_line_bytes=max_line_bytes, progress=progress)
    table = metric_table(analysis.records, spec, analysis.extras, progress=progress)
    data = analysis.data
    report = Report(
        table=table,
        files=data.files,
        records=data.records.height,
        skipped=data.skipped,
        skipped_by_reason=data.skipped_by_reason(),
        generated_at=now,
        baseline=analysis.baseline,
        labels=analysis.labels,
    )
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
    if summaries and analysis.labels is not None:
        report.quality_by_segment = quality_by_segment(current, analysis.extras.quality, list(spec.by))
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
