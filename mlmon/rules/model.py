"""The rules file format, declared once: validation and the JSON Schema both come from ``RULE_FIELDS``.

The validator (``mlmon.rules.load``) reads its structural limits from these declarations: the
duration pattern, the non-blank pattern, the minimum of each whole number. What a JSON Schema
cannot say (an expression's grammar and names, segment field names, a window of at least
``MIN_EVERY``, unique rule names) only the validator checks; the schema's descriptions say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from mlmon.rules.template import Template, parse_template

if TYPE_CHECKING:  # mlmon.notify reads this module's patterns without loading Polars
    from mlmon.expr import Node
    from mlmon.notify.model import NotifyConfig

SEVERITIES = ("info", "warning", "critical")
#: A duration as a rules file may spell it: ``5m``, ``1h30m``, ``1h 30m``, ``1H``, ``1.5h``. Written
#: with ASCII classes only, so that Python's ``re.fullmatch`` and an editor's ECMA-262 regex agree.
DURATION_PATTERN = r"^ *(?:[0-9]+(?:\.[0-9]+)? *(?:[mM][sS]|[sSmMhHdDwW]) *)+$"
#: A rule label's name, as Prometheus spells label names (a segment field's name may have dots; a rule label not).
LABEL_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
#: An annotation's name, as Prometheus's label names are spelled.
ANNOTATION_NAME_PATTERN = LABEL_NAME_PATTERN
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
    FieldSpec("description", {"type": "string"},
              "What the rule watches for, for people: the annotation 'description', templated as 'summary' is."),
    FieldSpec("severity", {"enum": list(SEVERITIES)},
              "info, warning or critical; without it, labels.severity, else warning.", default="warning"),
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
        "labels", {"type": "object", "propertyNames": {"pattern": "^(?!alertname$)" + LABEL_NAME_PATTERN[1:]},
                   "additionalProperties": {"type": ["string", "number"]}},
        "Labels attached to the alert; numbers are kept as text. Names are Prometheus label names (letters, digits, "
        "'_', not starting with a digit), not 'alertname' (the rule's name) nor a 'by' field (the segment gives "
        "it). 'severity' here is the rule's severity when the 'severity' key is absent (the two must agree).",
        default={},
    ),
    FieldSpec(
        "summary",
        {"type": "string"},
        "Templated one-line summary (the annotation 'summary'), e.g. 'p95 {{ value }} ms on {{ model }}' or "
        "'{{ $labels.model }}: {{ $value | humanize }}'. Placeholders: value, rule, severity, window_start, "
        "window_end, the segment fields and any metric name; Prometheus's $value and $labels.NAME; filters "
        "humanize, humanizePercentage, humanizeDuration, humanize1024. 'mlmon rules validate' checks templates.",
    ),
    FieldSpec(
        "annotations",
        {"type": "object", "propertyNames": {"pattern": ANNOTATION_NAME_PATTERN},
         "additionalProperties": {"type": "string"}},
        "Templated texts sent with the alert, as Prometheus's annotations: summary, description, runbook_url or "
        "any other name; templated as 'summary' is. summary and description may be given here or as keys of "
        "the rule, not both.", default={},
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
    #: Each annotation's template text (``summary`` and ``description`` too, from either spelling), in file order.
    annotations: dict[str, str] = field(default_factory=dict)
    #: The parsed template of each annotation (see :mod:`mlmon.rules.template`).
    templates: dict[str, Template] = field(default_factory=dict, compare=False, repr=False)
    #: ``file:line:col`` of each name in ``expr`` (its first use), for problems found when the rule runs.
    expr_positions: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    #: ``file:line:col`` of each metric an annotation's placeholder names, checked as ``expr``'s names are.
    summary_positions: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    #: ``file:line:col`` of ``by``, for a segment field the mapping makes secret (checked when the rule runs).
    by_position: str = field(default="", compare=False, repr=False)
    #: ``file:line:col`` of ``for`` (empty when the rule has none), for a ``for`` the run's range cannot hold.
    for_position: str = field(default="", compare=False, repr=False)
    #: ``file:line:col`` of ``every`` (of the rule when it is left out), for a window longer than a run's range.
    every_position: str = field(default="", compare=False, repr=False)

    def __post_init__(self) -> None:
        # A Rule built in code rather than loaded from a file: its texts become templates here (the loader
        # parses and checks them, with every problem at its line, before it builds a Rule).
        if self.templates:
            return
        texts = {"summary": self.summary, "description": self.description, **self.annotations}
        texts = {key: text for key, text in texts.items() if text}
        object.__setattr__(self, "annotations", texts)
        object.__setattr__(self, "templates", {key: parse_template(text)[0] for key, text in texts.items()})

    @property
    def severity_rank(self) -> int:
        return SEVERITIES.index(self.severity)


#: An ``inhibit:`` entry, as Alertmanager's ``inhibit_rules`` spell it. Matchers are a list of strings
#: (each one or more matchers, ``'alertname="no-traffic"'``) or one string (``'{model="churn", severity="critical"}'``).
_MATCHERS_SCHEMA = {"oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]}
INHIBIT_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("name", {"type": "string"}, "Optional name of the inhibition, for people."),
    FieldSpec("source_matchers", _MATCHERS_SCHEMA,
              "Matchers an active (firing) alert must pass to inhibit others, e.g. ['alertname=\"no-traffic\"']. "
              "Alertmanager's syntax: name=value, name!=value, name=~regex, name!~regex.", default=[]),
    FieldSpec("target_matchers", _MATCHERS_SCHEMA,
              "Matchers of the alerts it mutes, e.g. ['alertname=~\"error-rate|slow-p95\"'].", default=[]),
    FieldSpec("equal", {"type": "array", "items": {"type": "string", "pattern": NONBLANK_PATTERN}, "uniqueItems": True},
              "Labels that must have the same value in both alerts (a missing label is the empty string), "
              "e.g. [model].", default=[]),
)
INHIBIT_KEYS = tuple(f.name for f in INHIBIT_FIELDS)
#: Alertmanager's deprecated inhibit keys, and the one to use instead.
INHIBIT_DEPRECATED = {"source_match": "source_matchers", "source_match_re": "source_matchers",
                      "target_match": "target_matchers", "target_match_re": "target_matchers"}


@dataclass(frozen=True)
class InhibitRule:
    """A validated ``inhibit:`` entry: while an alert passing ``source`` fires, alerts passing ``target``
    with the same ``equal`` labels are muted (see :mod:`mlmon.rules.inhibit`)."""

    source: tuple[Any, ...]  # mlmon.rules.matchers.Matcher
    target: tuple[Any, ...]
    equal: tuple[str, ...] = ()
    name: str = ""
    #: ``file:line:col`` of the entry.
    position: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class RuleSet:
    path: str
    rules: tuple[Rule, ...]
    inhibit: tuple[InhibitRule, ...] = ()
    #: The file's ``notify:`` section (receivers and routes), if it has one.
    notify: NotifyConfig | None = None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a rules file, for editors; generated from ``RULE_FIELDS``."""
    properties = {}
    for spec in RULE_FIELDS:
        prop = dict(spec.schema)
        prop["description"] = spec.description
        if spec.default not in (None, [], {}):
            prop["default"] = spec.default
        properties[spec.name] = prop
    from mlmon.notify.model import notify_schema  # mlmon.notify reads this module's patterns

    notify, defs = notify_schema()
    inhibit = {}
    for spec in INHIBIT_FIELDS:
        prop = dict(spec.schema)
        prop["description"] = spec.description
        inhibit[spec.name] = prop
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "mlmon rules file",
        "type": "object",
        "additionalProperties": False,
        "required": ["rules"],
        "$defs": defs,
        "properties": {
            "notify": notify,
            "rules": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": [f.name for f in RULE_FIELDS if f.required],
                    "properties": properties,
                },
            },
            "inhibit": {
                "type": "array",
                "description": "Inhibition, as Alertmanager's inhibit_rules: while an alert passing source_matchers "
                               "fires, alerts passing target_matchers with the same 'equal' labels send nothing.",
                "items": {"type": "object", "additionalProperties": False, "properties": inhibit},
            },
        },
    }


def notify_config_schema() -> dict[str, Any]:
    """The JSON Schema of a standalone notify config (``mlmon check --notify-config``): only ``notify:``, the
    same section as in :func:`json_schema`, from the same declaration."""
    from mlmon.notify.model import notify_schema

    notify, defs = notify_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "mlmon notify config",
        "type": "object",
        "additionalProperties": False,
        "required": ["notify"],
        "$defs": defs,
        "properties": {"notify": notify},
    }
