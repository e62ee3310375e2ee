"""Model quality of a replay: the logged answers and the replayed ones, scored against the same labels.

A re-trained model is expected to answer differently, so equality says little about it; what matters
is whether its answers are better. With ``--labels``, the model-quality metrics of ``mlmon report
--labels`` (accuracy, precision, recall, F1, ROC AUC, log loss; MAE, RMSE, MAPE), computed by the same
code (:mod:`mlmon.metrics.model_quality`), are reported for both sides.

Both sides are scored on the same requests: those whose logged answer and replayed answer both hold a
prediction (requests that failed then or fail now are counted by the replay's outcomes, and gated by
``--fail-over``). The task and the positive class are settled once, from the labels and both sides'
predictions, so both are scored alike.

``--fail-if-worse METRIC[:TOLERANCE]`` fires when the replayed answers are worse than the logged ones by
more than TOLERANCE (absolute, default 0): lower for accuracy, precision, recall, F1 and ROC AUC; higher
for the error metrics (log loss, MAE, RMSE, MAPE). A gate that cannot judge (no labelled request was
answered on both sides) fires too: it has not shown that the candidate is no worse.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from mlmon.errors import UsageError
from mlmon.logs.field_limit import FieldLimit
from mlmon.logs.fields import with_io_fields
from mlmon.logs.mapping import RAW_RESPONSE
from mlmon.metrics.labels import load_labels
from mlmon.metrics.model_quality import (CLASSIFICATION, LABEL, REGRESSION, LabelSpec, infer_task, join_labels,
                                         not_finite_warnings, predicted_classes, quality_exprs, task_and_positive)
from mlmon.yamlfile import did_you_mean

#: Metrics where a lower value is the better one.
LOWER_IS_BETTER = frozenset({"log_loss", "mae", "rmse", "mape"})
SIDES = ("logged", "replayed")


@dataclass(frozen=True)
class QualityGate:
    """``--fail-if-worse METRIC[:TOLERANCE]``."""

    metric: str
    tolerance: float = 0.0

    def __str__(self) -> str:
        return f"{self.metric}:{self.tolerance:g}"


def parse_gate(text: str) -> QualityGate:
    """``f1`` or ``f1:0.01``; UsageError for an unknown metric or a tolerance that is no number of 0 or more."""
    metric, sep, tolerance = text.strip().partition(":")
    known = (*CLASSIFICATION, *REGRESSION)
    if metric not in known:
        raise UsageError(f"--fail-if-worse {text!r}: unknown metric {metric!r}{did_you_mean(metric, known)}",
                         f"Use one of {', '.join(known)}, optionally with :TOLERANCE, e.g. f1:0.01.")
    try:
        value = float(tolerance) if sep else 0.0
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise UsageError(f"--fail-if-worse {text!r}: the tolerance must be a number of 0 or more",
                         "Give it as METRIC:TOLERANCE, e.g. f1:0.01.")
    return QualityGate(metric, value)


@dataclass
class QualityComparison:
    """The quality metrics of both sides, on the same requests, and the gate's verdict."""

    labels_file: str
    task: str
    positive: str | None
    prediction: str
    score: str | None
    requests: int
    labelled: int
    logged: dict[str, float | None]
    replayed: dict[str, float | None]
    gate: QualityGate | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def metrics(self) -> list[str]:
        return list(self.logged)

    def worse_by(self, metric: str) -> float | None:
        """How much worse the replayed answers are on ``metric`` (negative: better); None when either is unknown."""
        logged, replayed = self.logged.get(metric), self.replayed.get(metric)
        if logged is None or replayed is None:
            return None
        return replayed - logged if metric in LOWER_IS_BETTER else logged - replayed

    @property
    def gate_fired(self) -> bool:
        if self.gate is None:
            return False
        worse = self.worse_by(self.gate.metric)
        # (a hair of slack: 0.1 + 0.2 and 0.3 are the same score)
        return worse is None or worse > self.gate.tolerance + 1e-12

    def verdict(self) -> str | None:
        """The gate's verdict as a sentence, e.g. ``log_loss 0.4455 replayed vs 0.7061 logged: better by 0.2606``."""
        gate = self.gate
        if gate is None:
            return None
        worse = self.worse_by(gate.metric)
        if worse is None:
            return (f"--fail-if-worse {gate}: no labelled request has a {gate.metric} on both sides, "
                    "so the candidate is not shown to be no worse")
        how = f"worse by {worse:.4g}" if worse > 0 else f"better by {-worse:.4g}" if worse < 0 else "the same"
        logged, replayed = self.logged[gate.metric], self.replayed[gate.metric]
        return (f"--fail-if-worse {gate}: {gate.metric} {replayed:.4g} replayed vs {logged:.4g} logged, {how}"
                f"{' (more than the tolerance)' if self.gate_fired else ''}")

    def to_dict(self) -> dict[str, Any]:
        """The ``quality`` part of replay's ``--format json`` document."""
        gate = None
        if self.gate is not None:
            gate = {"metric": self.gate.metric, "tolerance": self.gate.tolerance,
                    "worse_by": self.worse_by(self.gate.metric), "failed": self.gate_fired}
        return {"labels": self.labels_file, "task": self.task, "positive": self.positive,
                "prediction": self.prediction, "score": self.score, "requests": self.requests,
                "labelled": self.labelled, "logged": self.logged, "replayed": self.replayed, "fail_if_worse": gate}


class QualityCheck:
    """The labels and the gate, checked before anything is replayed; :meth:`compare` scores a run."""

    def __init__(self, spec: LabelSpec, gate: QualityGate | None = None):
        self.spec, self.gate = spec, gate
        self.labels = load_labels(spec)
        task = infer_task(self.labels, spec)
        if gate is not None:
            metrics = CLASSIFICATION if task == "classification" else REGRESSION
            if gate.metric not in metrics:
                raise UsageError(f"--fail-if-worse {gate.metric}: the labels in {spec.path} make this a {task} "
                                 f"task, whose metrics are {', '.join(metrics)}", "Pick one of them, or set --task.")
            if gate.metric in ("roc_auc", "log_loss") and not spec.score:
                raise UsageError(f"--fail-if-worse {gate.metric} needs --score FIELD",
                                 "Name the answer's field holding the positive class's score, e.g. --score output.probability.")

    def compare(self, outcomes) -> QualityComparison:
        """Score the logged and the replayed answers of ``outcomes`` (a run's) on the requests both answered."""
        spec = self.spec
        sides = _answers(outcomes, [spec.prediction, *([spec.score] if spec.score else [])])
        answered = sides["logged"].get_column(spec.prediction).is_not_null() \
            & sides["replayed"].get_column(spec.prediction).is_not_null()
        sides = {side: frame.filter(answered) for side, frame in sides.items()}
        predicted = set().union(*(predicted_classes(frame, spec) for frame in sides.values()))
        task, positive = task_and_positive(self.labels, sides["logged"], spec, predicted)
        scores, warnings = {}, []
        for side, frame in sides.items():
            joined = join_labels(frame, self.labels)
            exprs = quality_exprs(task, spec, positive or "", dict(joined.schema))
            scores[side] = {k: _plain(v) for k, v in joined.select(exprs).row(0, named=True).items()}
            warnings += [f"{side} answers: {text}" for text in not_finite_warnings(joined, task, spec)]
        labelled = join_labels(sides["logged"], self.labels).get_column(LABEL).is_not_null().sum()
        return QualityComparison(spec.path, task, positive, spec.prediction, spec.score, sides["logged"].height,
                                 int(labelled), scores["logged"], scores["replayed"], self.gate, warnings)


def _answers(outcomes, fields: list[str]) -> dict[str, pl.DataFrame]:
    """Per side, one row per request: its id and the answer's fields as typed ``output.*`` columns (null for
    a request that failed then, or fails now, and for a field an answer lacks)."""
    ids, logged, replayed = [], [], []
    for o in outcomes:  # one per replayed request, each sent and judged in Python already
        failed_then = o.record.get("error") or (o.record.get("status") or 200) >= 400
        ids.append(o.record.get("request_id"))
        logged.append(None if failed_then else _text(o.record.get(RAW_RESPONSE)))
        replayed.append(None if o.reply.error is not None or o.reply.timed_out else _text(o.reply.response))
    out = {}
    for side, texts in zip(SIDES, (logged, replayed)):
        frame = pl.DataFrame({"request_id": ids, RAW_RESPONSE: texts}, schema={"request_id": pl.String, RAW_RESPONSE: pl.String})
        frame = with_io_fields(frame, FieldLimit(keep=frozenset(fields)))
        out[side] = frame.with_columns(pl.lit(None, pl.String).alias(f) for f in fields if f not in frame.columns)
    return out


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, allow_nan=True)


def _plain(value: Any) -> Any:
    return None if isinstance(value, float) and value != value else value
