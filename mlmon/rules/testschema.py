"""The rule test file format, declared once: the loader's keys and the JSON Schema both come from here.

What a JSON Schema cannot say (durations and times that parse, metric names, segment fields,
rule names, series that some rule reads) only the loader (:mod:`mlmon.rules.testload`) checks.
"""

from __future__ import annotations

from typing import Any

from mlmon.rules.model import DURATION_PATTERN, NONBLANK_PATTERN, FieldSpec

_TEXT_MAP = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}
_TIME = {"type": ["string", "number"]}
_FILES = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]}
_VALUES = {
    "type": "object",
    "required": ["request_count"],
    "additionalProperties": {"oneOf": [
        {"type": "string"},
        {"type": "number"},
        {"type": "array", "items": {"type": ["number", "null", "string"]}, "minItems": 1},
    ]},
}

EXPECT_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("alertname", {"type": "string"}, "The rule's name; may be left out when the item gives 'alertname'."),
    FieldSpec("labels", _TEXT_MAP, "The alert's labels but alertname: severity, the segment values and the rule's "
                                   "labels, compared exactly.", default={}),
    FieldSpec("state", {"enum": ["firing", "pending"]}, "firing or pending.", default="firing"),
    FieldSpec("annotations", _TEXT_MAP, "summary, description: compared key by key when given."),
)
SERIES_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("segment", _TEXT_MAP, "The segment's values, e.g. {model: churn}; a rule reads the series whose keys are "
                                    "exactly its 'by'.", default={}),
    FieldSpec("every", {"type": "string", "pattern": DURATION_PATTERN},
              "The windows' length, when not the test's; a rule reads the series of its own 'every'."),
    FieldSpec("values", _VALUES, "Metric names, each with one value per window: a list (null or _ for a missing "
                                 "value), or promtool's expanding notation such as '600x2 _ 1+1x3'. request_count is "
                                 "required.", required=True),
)


def _object(fields: tuple[FieldSpec, ...]) -> dict[str, Any]:
    properties = {}
    for spec in fields:
        prop = {**spec.schema, "description": spec.description}
        if spec.default not in (None, [], {}):
            prop["default"] = spec.default
        properties[spec.name] = prop
    out: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": properties}
    required = [f.name for f in fields if f.required]
    if required:
        out["required"] = required
    return out


ALERTS_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("at", _TIME, "When to compare: an offset from start such as 3h, or an ISO time.", required=True),
    FieldSpec("alertname", {"type": "string"}, "Compare only this rule's alerts."),
    FieldSpec("expect", {"type": ["array", "null"], "items": _object(EXPECT_FIELDS)},
              "Exactly the alerts active then: firing in the latest window, or pending; [] for none.", required=True),
)
TEST_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("name", {"type": "string", "pattern": NONBLANK_PATTERN}, "What the test checks; unique.", required=True),
    FieldSpec("start", _TIME, "When the first window starts: an ISO time or Unix seconds (required with 'logs').",
              default="1970-01-01T00:00:00Z"),
    FieldSpec("every", {"type": "string", "pattern": DURATION_PATTERN}, "The windows' length of 'windows'.",
              default="1h"),
    FieldSpec("windows", {"type": "array", "minItems": 1, "items": _object(SERIES_FIELDS)},
              "Input as metric values per window and segment (or give 'logs')."),
    FieldSpec("logs", _FILES, "Input as log files, run as 'mlmon check LOGS --since START --now AT' (or give "
                              "'windows')."),
    FieldSpec("mapping", {"type": "string"}, "With 'logs': a mapping file for another log shape."),
    FieldSpec("preset", {"type": "string", "enum": ["auto", "mlmon", "sagemaker", "kserve", "seldon", "bentoml",
                                                    "azureml", "openai", "litellm", "rayserve"]},
              "With 'logs': the log format, as --preset (default auto); not with 'mapping'."),
    FieldSpec("prices", {"type": "string"}, "With 'logs': a prices file for the cost of records that log tokens "
                                            "and no cost, as --prices (relative to the test file)."),
    FieldSpec("alerts", {"type": "array", "minItems": 1, "items": _object(ALERTS_FIELDS)},
              "Evaluation times and the alerts expected at each.", required=True),
)
TOP_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("rule_files", _FILES, "Rules files, relative to the test file.", required=True),
    FieldSpec("tests", {"type": "array", "minItems": 1, "items": _object(TEST_FIELDS)}, "The tests.", required=True),
)


def names_of(fields: tuple[FieldSpec, ...]) -> tuple[str, ...]:
    return tuple(f.name for f in fields)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a rule test file, for editors; generated from the declarations above."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "mlmon rule test file",
            **_object(TOP_FIELDS)}
