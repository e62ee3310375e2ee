"""Every metric computed from the records alone, operational and LLM, by name.

The report, the rules and the renderers look metrics up here, so a metric declared in
:mod:`mlmon.metrics.operational` or :mod:`mlmon.metrics.llm` is known everywhere.
"""

from __future__ import annotations

from mlmon.metrics import operational
from mlmon.metrics.llm import LLM_FIELDS, LLM_METRICS
from mlmon.metrics.operational import OPERATIONAL_METRICS, Metric

RECORD_METRICS: tuple[Metric, ...] = OPERATIONAL_METRICS + LLM_METRICS
METRICS_BY_NAME = {m.name: m for m in RECORD_METRICS}
#: Record columns the record metrics read.
RECORD_FIELDS = (*operational.RECORD_FIELDS, *LLM_FIELDS)
