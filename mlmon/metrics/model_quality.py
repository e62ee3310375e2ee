"""Model quality once ground truth arrives: labels joined by request id, metrics per window and segment.

Classification: accuracy, precision, recall, F1 (of the positive class), ROC AUC when a
score is logged, and log loss. Regression: MAE, RMSE and MAPE. Each agrees with the
scikit-learn function of the same name; ``label_coverage`` is the share of requests
that have a label. A label, prediction or score that is not a finite number (NaN, an
infinity, text where a number belongs) is left out of the metrics it would enter, like
a missing one: one such value would make them infinite or meaningless.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from mlmon.errors import UsageError
from mlmon.safetext import printable

LABEL = "_label"
EPS = 2.220446049250313e-16  # numpy.finfo(float64).eps, as scikit-learn clips


@dataclass(frozen=True)
class LabelSpec:
    """Where the truth is and how to read it against the logged predictions."""

    path: str
    id_field: str = "request_id"
    label_field: str = "label"
    prediction: str = "output.label"
    score: str | None = None
    positive: str | None = None
    task: str = "auto"  # auto | classification | regression


CLASSIFICATION = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION = ("mae", "rmse", "mape")


def infer_task(labels: pl.DataFrame, spec: LabelSpec) -> str:
    if spec.task != "auto":
        return spec.task
    values = labels.get_column(LABEL).drop_nulls()
    numbers = values.cast(pl.Float64, strict=False)
    if numbers.null_count() == 0 and values.n_unique() > 20:
        return "regression"
    return "classification"


def joined_labels(labels: pl.DataFrame, records: pl.DataFrame) -> pl.DataFrame:
    """The labels whose request id is logged: a labels file may hold other models' labels too."""
    return labels.join(records.select("request_id"), on="request_id", how="semi")


def predicted_classes(records: pl.DataFrame, spec: LabelSpec) -> set[str]:
    """The classes the logged predictions hold."""
    if spec.prediction not in records.columns:
        return set()
    return set(records.get_column(spec.prediction).cast(pl.String).drop_nulls().unique().to_list())


def positive_label(labels: pl.DataFrame, predicted: set[str], spec: LabelSpec) -> str:
    """The positive class, from ``labels`` (those of the logged requests) and the ``predicted`` classes.

    As given with --positive-label, which must be among them (UsageError: its precision and recall
    would be zeros that look real); else ``1``/``true``/``yes`` when either holds it; else the rarer label.
    """
    values = labels.get_column(LABEL).drop_nulls()
    distinct = set(values.unique().to_list())
    if spec.positive is not None:
        if spec.positive not in distinct | predicted:
            classes = sorted(distinct | predicted)
            seen = ", ".join(classes[:10]) + (", ..." if len(classes) > 10 else "")
            raise UsageError(f"--positive-label {spec.positive!r} is neither a label of the logged requests "
                             f"in {spec.path} nor a prediction",
                             printable(f"They hold: {seen}." if seen else "They hold no class."))
        return spec.positive
    for yes in ("1", "true", "True", "yes"):
        if yes in distinct | predicted:
            return yes
    counts = values.value_counts().sort(["count", LABEL])
    return counts[LABEL][0] if counts.height else "1"


def task_and_positive(labels: pl.DataFrame, records: pl.DataFrame, spec: LabelSpec,
                      predicted: set[str] | None = None) -> tuple[str, str | None]:
    """The task (from the labels, or as given) and, for classification, the positive class: from the labels
    of the logged ``records`` (all the labels when none is logged) and the ``predicted`` classes (by default,
    those of ``records``)."""
    task = infer_task(labels, spec)
    if task != "classification":
        return task, None
    joined = joined_labels(labels, records)
    predicted = predicted_classes(records, spec) if predicted is None else predicted
    return task, positive_label(joined if joined.height else labels, predicted, spec)


def join_labels(records: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    return records.join(labels, on="request_id", how="left")


def _finite(name: str, schema: dict) -> pl.Expr:
    """The column's values that are finite numbers, as floats; anything else (or no such column) null."""
    if name not in schema:
        return pl.lit(None, pl.Float64)
    value = pl.col(name).cast(pl.Float64, strict=False)
    return pl.when(value.is_finite()).then(value)


def not_finite_warnings(records: pl.DataFrame, task: str, spec: LabelSpec) -> list[str]:
    """What the run says of the labelled requests whose label, prediction or score is not a finite number."""
    schema = dict(records.schema)
    checks = [("score", spec.score, "roc_auc and log_loss")] if task == "classification" and spec.score else []
    if task == "regression":
        checks = [("label", LABEL, "mae, rmse and mape"), ("prediction", spec.prediction, "mae, rmse and mape")]
    labelled = records.filter(pl.col(LABEL).is_not_null())
    out = []
    for what, name, metrics in checks:
        if name not in schema:
            continue
        odd = labelled.select((pl.col(name).is_not_null() & _finite(name, schema).is_null()).sum()).item()
        if odd:
            out.append(f"{odd:,} labelled request{'s' if odd != 1 else ''} ha{'ve' if odd != 1 else 's'} a {what} that "
                       f"is not a finite number (NaN, an infinity or text), left out of {metrics} like a missing one")
    return out


def quality_exprs(task: str, spec: LabelSpec, positive: str, schema: dict) -> list[pl.Expr]:
    """Aggregations over a window's records (with the joined LABEL column)."""
    has = pl.col(LABEL).is_not_null()
    exprs = [has.mean().alias("label_coverage")]
    if task == "regression":
        y = _finite(LABEL, schema)
        p = _finite(spec.prediction, schema)
        ok = y.is_not_null() & p.is_not_null()
        err = pl.when(ok).then(y - p)
        exprs += [
            err.abs().mean().alias("mae"),
            (err.pow(2).mean()).sqrt().alias("rmse"),
            pl.when(ok).then((y - p).abs() / pl.max_horizontal(y.abs(), pl.lit(EPS))).mean().alias("mape"),
        ]
        return exprs
    pred = pl.col(spec.prediction).cast(pl.String) if spec.prediction in schema else pl.lit(None, pl.String)
    ok = has & pred.is_not_null()
    truth_pos = pl.col(LABEL) == positive
    pred_pos = pred == positive
    tp = (ok & truth_pos & pred_pos).sum()
    fp = (ok & ~truth_pos & pred_pos).sum()
    fn = (ok & truth_pos & ~pred_pos).sum()
    precision = pl.when((tp + fp) > 0).then(tp / (tp + fp)).otherwise(0.0)
    recall = pl.when((tp + fn) > 0).then(tp / (tp + fn)).otherwise(0.0)
    exprs += [
        pl.when(ok).then(pred == pl.col(LABEL)).mean().alias("accuracy"),
        pl.when(ok.sum() > 0).then(precision).alias("precision"),
        pl.when(ok.sum() > 0).then(recall).alias("recall"),
        pl.when(ok.sum() > 0).then(
            pl.when((precision + recall) > 0).then(2 * precision * recall / (precision + recall)).otherwise(0.0)
        ).alias("f1"),
    ]
    if spec.score and spec.score in schema:
        score = _finite(spec.score, schema)
        sok = has & score.is_not_null()
        y = pl.when(sok).then(truth_pos.cast(pl.Float64))
        s = pl.when(sok).then(score)
        n_pos = y.sum()
        n_neg = sok.sum() - n_pos
        ranks = s.rank("average")
        auc = (pl.when(y == 1).then(ranks).sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        clipped = s.clip(EPS, 1 - EPS)
        exprs += [
            pl.when((n_pos > 0) & (n_neg > 0)).then(auc).alias("roc_auc"),
            pl.when(sok.sum() > 0).then(-(y * clipped.log() + (1 - y) * (1 - clipped).log()).mean()).alias("log_loss"),
        ]
    return exprs
