"""Prometheus's text exposition format, for node_exporter's textfile collector.

``report`` writes the latest window's metrics per segment, ``check`` the alerts; both add when the
run happened and the bad lines it skipped. Names follow Prometheus's conventions: an ``mlmon_``
prefix, base units (seconds, bytes, ratios), and no ``_total``, since every value is a gauge of
the latest window or run, not a counter. Label values from the logs are escaped as the format says
(backslash, double quote, newline), so no log text can break a line or forge a series.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any, Iterable

import polars as pl

from mlmon.metrics.windows import WINDOW_END, WINDOW_START

#: mlmon's metric -> (Prometheus name, factor to its base unit, help text).
_NAMES: dict[str, tuple[str, float, str]] = {
    "request_count": ("mlmon_window_requests", 1, "Requests in the latest window."),
    "error_count": ("mlmon_window_errors", 1, "Failed requests (status >= 500 or an error) in the latest window."),
    "throughput_rps": ("mlmon_throughput_requests_per_second", 1, "Requests per second over the latest window."),
    "error_rate": ("mlmon_error_ratio", 1, "Share of requests that failed in the latest window."),
    "client_error_rate": ("mlmon_client_error_ratio", 1, "Share of requests with a 4xx status in the latest window."),
    "latency_mean_ms": ("mlmon_latency_mean_seconds", 0.001, "Mean latency in the latest window."),
    "latency_p50_ms": ("mlmon_latency_p50_seconds", 0.001, "Median latency in the latest window."),
    "latency_p90_ms": ("mlmon_latency_p90_seconds", 0.001, "90th percentile latency in the latest window."),
    "latency_p95_ms": ("mlmon_latency_p95_seconds", 0.001, "95th percentile latency in the latest window."),
    "latency_p99_ms": ("mlmon_latency_p99_seconds", 0.001, "99th percentile latency in the latest window."),
    "latency_max_ms": ("mlmon_latency_max_seconds", 0.001, "Highest latency in the latest window."),
    "cpu_percent_mean": ("mlmon_cpu_mean_ratio", 0.01, "Mean logged CPU use (1 is one core) in the latest window."),
    "cpu_percent_max": ("mlmon_cpu_max_ratio", 0.01, "Highest logged CPU use (1 is one core) in the latest window."),
    "memory_mb_mean": ("mlmon_memory_mean_bytes", 1e6, "Mean logged memory in the latest window (MB as 10^6 bytes)."),
    "memory_mb_max": ("mlmon_memory_max_bytes", 1e6, "Highest logged memory in the latest window (MB as 10^6 bytes)."),
    "hotfix_count": ("mlmon_window_hotfixes", 1, "Requests a hot fix answered instead of the model in the latest window."),
    "hotfix_rate": ("mlmon_hotfix_ratio", 1, "Share of requests a hot fix answered in the latest window."),
    "tokens_in": ("mlmon_window_tokens_in", 1, "Prompt tokens logged in the latest window."),
    "tokens_out": ("mlmon_window_tokens_out", 1, "Completion tokens logged in the latest window."),
    "tokens_total": ("mlmon_window_tokens", 1, "Tokens (prompt and completion) logged in the latest window."),
    "tokens_out_per_s": ("mlmon_tokens_out_per_second", 1,
                         "Completion tokens per second of latency in the latest window."),
    "cost_total": ("mlmon_window_cost", 1, "Cost of the latest window's requests (logged, else from --prices)."),
    "cost_per_request": ("mlmon_cost_per_request", 1, "Mean cost of the latest window's requests with a cost."),
    "ttft_p50_ms": ("mlmon_ttft_p50_seconds", 0.001, "Median time to first token in the latest window."),
    "ttft_p95_ms": ("mlmon_ttft_p95_seconds", 0.001, "95th percentile time to first token in the latest window."),
    "drift_share": ("mlmon_drift_share_ratio", 1, "Share of the baseline's fields that drifted."),
    "duplicate_request_id_rate": ("mlmon_duplicate_request_id_ratio", 1, "Share of requests whose id repeats."),
    "label_coverage": ("mlmon_label_coverage_ratio", 1, "Share of requests with a label."),
    "accuracy": ("mlmon_accuracy_ratio", 1, "Accuracy of the labelled requests."),
    "precision": ("mlmon_precision_ratio", 1, "Precision of the labelled requests."),
    "recall": ("mlmon_recall_ratio", 1, "Recall of the labelled requests."),
    "f1": ("mlmon_f1_score", 1, "F1 score of the labelled requests."),
    "roc_auc": ("mlmon_roc_auc", 1, "ROC AUC of the labelled requests."),
    "log_loss": ("mlmon_log_loss", 1, "Log loss of the labelled requests."),
    "mae": ("mlmon_mae", 1, "Mean absolute error of the labelled requests."),
    "rmse": ("mlmon_rmse", 1, "Root mean squared error of the labelled requests."),
    "mape": ("mlmon_mape_ratio", 1, "Mean absolute percentage error of the labelled requests, as a ratio."),
    "schema_fields_added": ("mlmon_schema_fields_added", 1, "Fields the logs hold that the baseline lacks."),
    "schema_fields_removed": ("mlmon_schema_fields_removed", 1, "Fields of the baseline the logs lack."),
}
#: Per-field metrics (``psi.age``): the Prometheus name, with the field as the label ``field``.
_PER_FIELD: dict[str, tuple[str, str]] = {
    "psi": ("mlmon_drift_psi", "Population stability index against the baseline."),
    "ks": ("mlmon_drift_ks_statistic", "Kolmogorov-Smirnov statistic against the baseline."),
    "ks_pvalue": ("mlmon_drift_ks_pvalue", "Kolmogorov-Smirnov test p-value against the baseline."),
    "chi2_pvalue": ("mlmon_drift_chi2_pvalue", "Chi-squared test p-value against the baseline."),
    "js": ("mlmon_drift_js_distance", "Jensen-Shannon distance to the baseline."),
    "wasserstein_norm": ("mlmon_drift_wasserstein_normalized", "Wasserstein distance to the baseline, normalized."),
    "drifted": ("mlmon_drift_detected", "1 when the field drifted from the baseline, else 0."),
    "null_rate": ("mlmon_null_ratio", "Share of requests where the field is null or missing."),
    "type_violation_rate": ("mlmon_type_violation_ratio", "Share of values of another type than the baseline's."),
    "out_of_range_rate": ("mlmon_out_of_range_ratio", "Share of values outside the baseline's range."),
    "new_category_rate": ("mlmon_new_category_ratio", "Share of values the baseline never saw."),
}


def metric_name(name: str) -> tuple[str, float, str, dict[str, str]]:
    """The Prometheus name, unit factor, help and extra labels of one of mlmon's metric names."""
    if name in _NAMES:
        prom, factor, text = _NAMES[name]
        return prom, factor, text, {}
    kind, _, field = name.partition(".")
    if field and kind in _PER_FIELD:
        prom, text = _PER_FIELD[kind]
        return prom, 1, text, {"field": field}
    return "mlmon_" + _sanitize(name), 1, f"mlmon's {name}.", {}


def _sanitize(name: str) -> str:
    """A valid metric or label name: letters, digits and underscores, not starting with a digit."""
    clean = re.sub(r"[^a-zA-Z0-9_]", "_", name)
    return clean if clean and not clean[0].isdigit() else "_" + clean


def _escape(value: Any) -> str:
    """A label value as the format writes it: backslash, double quote and newline escaped."""
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _labels(labels: dict[str, Any]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items()) + "}"


def _label_names(segments: Iterable[str], reserved: Iterable[str] = ()) -> dict[str, str]:
    """Each segment field's label name; one that clashes with a label mlmon sets gets a ``segment_`` prefix."""
    taken = set(reserved)
    out = {}
    for field in segments:
        name = _sanitize(field)
        if name in taken or name.startswith("__"):
            name = "segment_" + name.lstrip("_")
        while name in taken:
            name += "_"
        taken.add(name)
        out[field] = name
    return out


class _Families:
    """Samples grouped by metric, written with one ``# HELP`` and ``# TYPE`` each, in a stable order."""

    def __init__(self) -> None:
        self.help: dict[str, str] = {}
        self.samples: dict[str, list[str]] = {}

    def add(self, name: str, text: str, labels: dict[str, Any], value: float) -> None:
        self.help.setdefault(name, text)
        self.samples.setdefault(name, []).append(f"{name}{_labels(labels)} {_number(value)}")

    def text(self) -> str:
        lines = []
        for name in self.samples:
            lines.append(f"# HELP {name} {self.help[name]}")
            lines.append(f"# TYPE {name} gauge")
            lines.extend(self.samples[name])
        return "\n".join(lines) + "\n"


def _run_facts(families: _Families, generated_at: datetime | None, records: int | None, skipped: int,
               skipped_by_reason: dict[str, int]) -> None:
    if generated_at is not None:
        families.add("mlmon_last_run_timestamp_seconds", "When this mlmon run happened, in seconds since the epoch.",
                     {}, generated_at.timestamp())
    if records is not None:
        families.add("mlmon_records", "Log records the run read.", {}, records)
    families.add("mlmon_skipped_lines", "Bad log lines the run skipped.", {}, skipped)
    for reason, count in skipped_by_reason.items():
        families.add("mlmon_skipped_lines_by_reason", "Bad log lines the run skipped, by reason.", {"reason": reason},
                     count)


def render_report_prometheus(report) -> str:
    """The latest window's metrics, one series per segment, the alerts with --rules (as ``check`` writes them),
    and the run's facts."""
    families = _Families()
    frame: pl.DataFrame = report.frame
    segments = list(report.segments)
    names = _label_names(segments, reserved=("field",))
    if frame.height:
        latest = frame.filter(pl.col(WINDOW_START) == pl.col(WINDOW_START).max())
        metrics = [c for c in latest.columns if c not in (WINDOW_START, WINDOW_END, *segments)]
        for row in latest.iter_rows(named=True):
            segment = {names[s]: row[s] for s in segments}
            for metric in metrics:
                value = row[metric]
                if value is None or isinstance(value, str):
                    continue
                prom, factor, text, extra = metric_name(metric)
                # Dividing by 1000 keeps 86.6 ms as 0.0866 s, where multiplying by 0.001 would not.
                scaled = float(value) * factor if factor >= 1 else float(value) / round(1 / factor)
                families.add(prom, text, {**segment, **extra}, scaled)
        window = latest.get_column(WINDOW_START).max()
        if isinstance(window, datetime):
            families.add("mlmon_window_start_timestamp_seconds", "Start of the latest window, in seconds since the epoch.",
                         {}, window.timestamp())
    if report.alerts is not None:
        _alert_series(families, report.alerts)
    _run_facts(families, report.generated_at, report.records, report.skipped, report.skipped_by_reason)
    return families.text()


def render_check_prometheus(result, data) -> str:
    """One series per alert (firing: ``mlmon_alert_active``, pending: ``mlmon_alert_pending``), and the run's facts."""
    families = _Families()
    _alert_series(families, result)
    _run_facts(families, result.generated_at, data.record_count, data.skipped, data.skipped_by_reason())
    return families.text()


def _alert_series(families: _Families, result) -> None:
    """``mlmon_alert_active`` (firing), ``mlmon_alert_pending`` and ``mlmon_alerts_firing``."""
    for kind, alerts, text in (("active", result.alerts, "1 for each alert that fires in the latest run."),
                               ("pending", result.pending, "1 for each alert pending toward its 'for'.")):
        for alert in alerts:
            if kind == "active" and not alert.active:
                continue
            labels = {"rule": alert.rule, "severity": alert.severity}
            names = _label_names(alert.segment, reserved=(*labels, *alert.labels))
            extra = {_sanitize(k): v for k, v in alert.labels.items() if _sanitize(k) not in labels}
            families.add(f"mlmon_alert_{kind}", text,
                         {**labels, **extra, **{names[k]: v for k, v in alert.segment.items()}}, 1)
    families.add("mlmon_alerts_firing", "Alerts firing in the latest run.", {},
                 sum(1 for a in result.alerts if a.active))
