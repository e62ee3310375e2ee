"""What rules need beyond the logs: a baseline for drift and data quality, labels for model quality.

A rule over a metric that a run cannot compute would see only missing values and never fire,
so a CI gate would pass in silence. These checks turn that into a config error (exit 2) that
names the rule's line: first from the options alone (no baseline, no labels), before any log
is read; then, once the baseline and the labels are loaded, from what they actually hold (a
field the baseline lacks, ``roc_auc`` without a score).
"""

from __future__ import annotations

from typing import Any

from mlmon.errors import ConfigError
from mlmon.logs.mapping import OUTPUT_PREFIX
from mlmon.metrics.drift import (
    CATEGORICAL_DRIFT,
    NUMERIC_DRIFT,
    QUALITY,
    per_field_metric_names,
)
from mlmon.metrics.model_quality import CLASSIFICATION, REGRESSION
from mlmon.metrics.table import Extras
from mlmon.rules.load import FIELD_METRICS, is_field_metric
from mlmon.rules.model import RuleSet
from mlmon.yamlfile import did_you_mean

#: Whole-window metrics computed only against a baseline.
BASELINE_METRICS = ("drift_share", "duplicate_request_id_rate", "schema_fields_added", "schema_fields_removed")
#: Metrics computed only with labels.
LABEL_METRICS = ("label_coverage", *CLASSIFICATION, *REGRESSION)
BASELINE_HINT = "pass --baseline FILE or --baseline-range START..END"


def needs(name: str) -> str | None:
    """``"baseline"``, ``"labels"`` or None: what metric ``name`` needs beyond the logs."""
    if name in BASELINE_METRICS or is_field_metric(name):
        return "baseline"
    if name in LABEL_METRICS:
        return "labels"
    return None


def _problems_error(ruleset: RuleSet, problems: list[str], what: str) -> ConfigError:
    n = len(problems)
    return ConfigError(
        f"rules file {ruleset.path} names {n} metric{'s' if n != 1 else ''} {what}",
        "Fix the lines listed above, or give the run what they need.",
        details=problems,
    )


def _uses(ruleset: RuleSet):
    """(rule, metric name, ``file:line:col``) for each metric a rule's expression or summary names.

    A summary placeholder the run cannot compute would print ``null`` in every alert, so it is
    checked as the expression is.
    """
    for rule in ruleset.rules:
        for positions in (rule.expr_positions, rule.summary_positions):
            for name, where in positions.items():
                if name not in rule.by:
                    yield rule, name, where


def require_inputs(ruleset: RuleSet, *, baseline: bool, labels: bool) -> None:
    """Raise ConfigError, listing each rule, when a rule needs a baseline or labels the run lacks."""
    problems = []
    for rule, name, where in _uses(ruleset):
        need = needs(name)
        if need == "baseline" and not baseline:
            problems.append(f'{where}: rule "{rule.name}": {name} needs a baseline; {BASELINE_HINT}')
        elif need == "labels" and not labels:
            problems.append(f'{where}: rule "{rule.name}": {name} needs labels; pass --labels FILE')
    if problems:
        raise _problems_error(ruleset, problems, "this run cannot compute")


def computed_metrics(extras: Extras) -> set[str]:
    """Names of the drift, data-quality and model-quality metrics that ``extras`` yields."""
    out: set[str] = set()
    if extras.reference is not None:
        out.update(BASELINE_METRICS)
        out.update(per_field_metric_names(extras.reference))
    out.update(expr.meta.output_name() for expr in extras.quality)
    return out


def require_computed(ruleset: RuleSet, extras: Extras, labels: dict[str, Any] | None = None) -> None:
    """Raise ConfigError when a rule names a metric that the loaded baseline or labels cannot give.

    ``labels`` describes the loaded labels (task, score), as ``report.Analysis.labels``.
    """
    computed = computed_metrics(extras)
    problems = []
    for rule, name, where in _uses(ruleset):
        if needs(name) is None or name in computed:
            continue
        if needs(name) == "baseline":
            reason = _baseline_reason(name, extras, computed)
        else:
            reason = _labels_reason(name, labels or {})
        problems.append(f'{where}: rule "{rule.name}": {reason}')
    if problems:
        raise _problems_error(ruleset, problems, "the baseline or labels do not give")


def _baseline_reason(name: str, extras: Extras, computed: set[str]) -> str:
    metric, _, short = name.partition(".")
    fields = extras.reference.fields if extras.reference is not None else {}
    field = short if short.startswith(OUTPUT_PREFIX) else f"input.{short}"
    ref = fields.get(field)
    if ref is None:
        same_metric = tuple(sorted(c for c in computed if c.startswith(f"{metric}.")))
        return f"the baseline has no field {short!r}, so {name} is never computed{did_you_mean(name, same_metric)}"
    if ref.kind == "identifier":
        return (f"{short!r} has too many distinct values to compare (an identifier), so only "
                f"null_rate.{short} is computed, not {name}")
    kinds = NUMERIC_DRIFT + QUALITY if ref.kind == "numeric" else CATEGORICAL_DRIFT + ("null_rate",)
    usable = ", ".join(m for m in FIELD_METRICS if m in kinds or m == "drifted")
    return f"{metric} does not apply to the {ref.kind} field {short!r}; its metrics: {usable}"


def _labels_reason(name: str, labels: dict[str, Any]) -> str:
    task = labels.get("task")
    if name in REGRESSION and task == "classification":
        return f"{name} is a regression metric, but the labels are read as classes; pass --task regression"
    if name in CLASSIFICATION and task == "regression":
        return f"{name} is a classification metric, but the labels are read as numbers; pass --task classification"
    if name in ("roc_auc", "log_loss"):
        if not labels.get("score"):
            return f"{name} needs the logged score of the positive class; pass --score FIELD"
        return f"{name} needs the score field {labels['score']!r}, which the logs do not have"
    return f"{name} is not computed with these labels"
