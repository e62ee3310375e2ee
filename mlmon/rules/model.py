"""The rules file format, declared once: validation and the JSON Schema both come from ``RULE_FIELDS``.

The validator (``mlmon.rules.load``) reads its structural limits from these declarations: the
duration pattern, the non-blank pattern, the minimum of each whole number. What a JSON Schema
cannot say (an expression's grammar and names, segment field names, a window of at least
``MIN_EVERY``, unique rule names) only the validator checks; the schema's descriptions say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from mlmon.expr import Node

SEVERITIES = ("info", "warning", "critical")
#: A duration as a rules file may spell it: ``5m``, ``1h30m``, ``1h 30m``, ``1H``, ``1.5h``. Written
#: with ASCII classes only, so that Python's ``re.fullmatch`` and an editor's ECMA-262 regex agree.
DURATION_PATTERN = r"^ *(?:[0-9]+(?:\.[0-9]+)? *(?:[mM][sS]|[sSmMhHdDwW]) *)+$"
#: Text with at least one character that is not white space.
NONBLANK_PATTERN = r"\S"
#: The shortest window a rule may use: shorter ones (``1ms`` for ``1m``) build millions of windows.
MIN_EVERY = timedelta(seconds=1)


def windows_or_duration(minimum: int) -> dict[str, Any]:
    """The schema of ``for`` and ``keep_firing_for``: a count of windows (at least ``minimum``) or a duration."""
    return {"oneOf": [{"type": "integer", "minimum": minimum}, {"type": "string", "pattern": DURATION_PATTERN}]}


def integer_minimum(schema: dict[str, Any]) -> int:
    """The ``minimum`` of a whole-number key's schema, or of its whole-number branch under ``oneOf``."""
    for branch in schema.get("oneOf", [schema]):
        if branch.get("type") == "integer":
            return branch["minimum"]
    raise KeyError("minimum")


@dataclass(frozen=True)
class FieldSpec:
    """One key of a rule: its JSON type, whether it is required, its default and meaning."""

    name: str
    schema: dict[str, Any]
    description: str
    required: bool = False
    default: Any = None


RULE_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("name", {"type": "string", "pattern": NONBLANK_PATTERN}, "Unique name of the rule.", required=True),
    FieldSpec("description", {"type": "string"}, "What the rule watches for, for people."),
    FieldSpec("severity", {"enum": list(SEVERITIES)}, "info, warning or critical.", default="warning"),
    FieldSpec(
        "expr",
        {"type": "string", "pattern": NONBLANK_PATTERN},
        "Boolean expression over metric names, e.g. 'error_rate > 0.02 and latency_p95_ms > 300'. "
        "'mlmon rules validate' checks its grammar and names.",
        required=True,
    ),
    FieldSpec(
        "every", {"type": "string", "pattern": DURATION_PATTERN},
        "Window length, e.g. 5m, 1h, 1h30m (units ms, s, m, h, d, w); at least 1s.", default="1h",
    ),
    FieldSpec(
        "by",
        {"oneOf": [{"type": "array", "items": {"type": "string"}, "uniqueItems": True}, {"type": "string"}]},
        "Segment fields, a list or a comma-separated string, e.g. 'model, model_version': canonical fields such as "
        "model, model_version, endpoint or status, or input.FIELD / output.FIELD.",
        default=[],
    ),
    FieldSpec("where", {"type": "string", "pattern": NONBLANK_PATTERN},
              "Filter on records before computing metrics, e.g. 'model == \"churn\"'."),
    FieldSpec("min_requests", {"type": "integer", "minimum": 0}, "Ignore windows with fewer requests than this.", default=0),
    FieldSpec(
        "for", windows_or_duration(1),
        "Fire only after this many consecutive breaching windows, or after a duration of them (e.g. 5m: a whole "
        "multiple of 'every', which only the validator checks).", default=1,
    ),
    FieldSpec(
        "keep_firing_for", windows_or_duration(0),
        "Keep firing this many windows after recovery, or a duration (e.g. 10m: a whole multiple of 'every').",
        default=0,
    ),
    FieldSpec(
        "labels", {"type": "object", "additionalProperties": {"type": ["string", "number"]}},
        "Labels attached to the alert; numbers are kept as text.", default={},
    ),
    FieldSpec(
        "summary",
        {"type": "string"},
        "Templated one-line summary, e.g. 'p95 {{ value }} ms on {{ model }}'. Placeholders: value, rule, severity, "
        "window_start, window_end, the segment fields and any metric name.",
    ),
)

RULE_KEYS = tuple(f.name for f in RULE_FIELDS)
FIELDS_BY_NAME = {f.name: f for f in RULE_FIELDS}


@dataclass(frozen=True)
class Rule:
    """A validated rule, ready to evaluate."""

    name: str
    expr_text: str
    expr: Node
    every: timedelta
    severity: str = "warning"
    description: str = ""
    by: tuple[str, ...] = ()
    where_text: str | None = None
    where: Node | None = None
    min_requests: int = 0
    for_windows: int = 1
    keep_firing_for: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    summary: str | None = None
    #: ``file:line:col`` of each name in ``expr`` (its first use), for problems found when the rule runs.
    expr_positions: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    #: ``file:line:col`` of each metric a ``summary`` placeholder names, checked as ``expr``'s names are.
    summary_positions: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    #: ``file:line:col`` of ``by``, for a segment field the mapping makes secret (checked when the rule runs).
    by_position: str = field(default="", compare=False, repr=False)
    #: ``file:line:col`` of ``every`` (of the rule when it is left out), for a window longer than a run's range.
    every_position: str = field(default="", compare=False, repr=False)

    @property
    def severity_rank(self) -> int:
        return SEVERITIES.index(self.severity)


@dataclass(frozen=True)
class RuleSet:
    path: str
    rules: tuple[Rule, ...]


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a rules file, for editors; generated from ``RULE_FIELDS``."""
    properties = {}
    for spec in RULE_FIELDS:
        prop = dict(spec.schema)
        prop["description"] = spec.description
        if spec.default not in (None, [], {}):
            prop["default"] = spec.default
        properties[spec.name] = prop
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "mlmon rules file",
        "type": "object",
        "additionalProperties": False,
        "required": ["rules"],
        "properties": {
            "rules": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": [f.name for f in RULE_FIELDS if f.required],
                    "properties": properties,
                },
            }
        },
    }
