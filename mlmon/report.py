"""``mlmon report``'s core: read logs, compute metrics per window and segment, describe the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Sequence

import polars as pl

from mlmon import __version__
from mlmon.errors import UsageError
from mlmon.logs.mapping import CANONICAL_FIELDS, INPUT_PREFIX, OUTPUT_PREFIX, Mapping
from mlmon.logs.reader import DEFAULT_MAX_LINE_BYTES, LogData, Progress, read_logs
from mlmon.metrics.operational import METRICS_BY_NAME, RECORD_FIELDS
from mlmon.metrics.windows import WINDOW_END, WINDOW_START, MetricTable, WindowSpec, compute_metrics
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
    generated_at: datetime | None = None

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
        for row in self.frame.iter_rows(named=True):  # one row per window, not per record
            windows.append(
                {
                    "start": iso(row[WINDOW_START]),
                    "end": iso(row[WINDOW_END]),
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
            "windows": windows,
        }


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, datetime):
        return iso(value)
    return value


def build_report(
    inputs: Sequence[str],
    *,
    mapping: Mapping,
    spec: WindowSpec,
    now: datetime,
    strict: bool = False,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    progress: Progress | None = None,
) -> tuple[Report, LogData]:
    """Read ``inputs`` and compute every operational metric for ``spec``."""
    fields = list(dict.fromkeys([*RECORD_FIELDS, *spec.by]))
    data = read_logs(inputs, mapping, fields, strict=strict, max_line_bytes=max_line_bytes, progress=progress)
    table = compute_metrics(data.records, spec)
    report = Report(
        table=table,
        files=data.files,
        records=data.records.height,
        skipped=data.skipped,
        skipped_by_reason=data.skipped_by_reason(),
        generated_at=now,
    )
    return report, data


def metric_unit(name: str) -> str:
    metric = METRICS_BY_NAME.get(name)
    return metric.unit if metric else ""
