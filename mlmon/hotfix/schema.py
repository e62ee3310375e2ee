"""The JSON Schema of a hot-fix file, for editors that autocomplete YAML (``mlmon hotfix schema``).

It says what the structure allows; what only :mod:`mlmon.hotfix.config` can judge (a condition's
grammar and the fields it reads, names used twice) its descriptions say, and ``mlmon hotfix validate``
checks. No Polars, typer or rich here: the layer imports this package in serving processes.
"""

from __future__ import annotations

from typing import Any

from mlmon.hotfix.config import FALLBACK_PATTERN, KNOWN_BEFORE_ANSWER

_RULE: dict[str, Any] = {
    "type": "object",
    "description": "One hot fix: when its condition holds for a request, answer 'respond' or call 'fallback' "
                   "instead of the model. The first enabled rule that matches answers.",
    "properties": {
        "name": {"type": "string", "pattern": r"\S", "description": "What the fix is; unique in the file."},
        "when": {"type": "string", "pattern": r"\S",
                 "description": "A condition over the request, in mlmon's expression language: input.FIELD "
                                f"(input.a.b nested) and {', '.join(KNOWN_BEFORE_ANSWER)}, compared and joined with "
                                "and, or, not; e.g. input.country == \"XX\" and input.amount > 1e6. output.* and "
                                "the other record fields are not known before the model answers."},
        "respond": {"description": "A fixed answer (any JSON value), returned as the model's would be."},
        "fallback": {"type": "string", "pattern": f"^{FALLBACK_PATTERN.pattern}$",
                     "description": "module:function (scorers.rules:score), called with the request as predict "
                                    "would be."},
        "enabled": {"type": "boolean", "default": True, "description": "false keeps the rule without using it."},
        "description": {"type": "string", "description": "Free text for people."},
    },
    "required": ["name", "when"],
    "additionalProperties": False,
    "oneOf": [{"required": ["respond"]}, {"required": ["fallback"]}],
}


def json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of a hot-fix file."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "mlmon hot-fix file",
        "description": "Answers given without the model where rules say so (README 'Hot fixes'). "
                       "'mlmon hotfix validate' also checks each condition and that names are unique.",
        "type": "object",
        "properties": {"rules": {"type": ["array", "null"], "items": _RULE,
                                 "description": "The hot fixes, in order; empty (or null) for none."}},
        "required": ["rules"],
        "additionalProperties": False,
    }
