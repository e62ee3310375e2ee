"""Where each canonical field lives in a log record.

A mapping says, for each canonical field (``ts``, ``latency_ms``, ...), which dotted
path of the user's JSON holds it, where the model's inputs and outputs are rooted,
and the units of latency and epoch timestamps. mlmon's own log shape is the
default mapping; a preset for another serving stack is just another ``Mapping``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mlmon.errors import ConfigError
from mlmon.logs.hooks import Hooks, parse_hooks
from mlmon.yamlfile import Located, did_you_mean, load_yaml, top_level_problems

Path_ = tuple[str, ...]

#: Canonical record fields, in output order, with their types after normalization.
CANONICAL_FIELDS: dict[str, str] = {
    "ts": "time",
    "request_id": "string",
    "model": "string",
    "model_version": "string",
    "endpoint": "string",
    "status": "integer",
    "latency_ms": "number",
    "error": "string",
    "cpu_percent": "number",
    "memory_mb": "number",
    # The hot fix that answered instead of the model (mlmon.hotfix); null for the model's own answers.
    "hotfix": "string",
    # An LLM's usage (mlmon.metrics.llm): tokens read and written, the request's cost, time to first token.
    "tokens_in": "number",
    "tokens_out": "number",
    "tokens_total": "number",
    "cost": "number",
    "ttft_ms": "number",
}

#: Multipliers that turn a latency in the given unit into milliseconds.
LATENCY_UNITS = {"s": 1000.0, "ms": 1.0, "us": 0.001, "ns": 0.000001}
TS_UNITS = ("auto", "s", "ms", "us", "ns")

#: String fields that say what happened to one request, so no constant can stand for them.
NOT_CONSTANT = ("error", "hotfix")

INPUT_PREFIX = "input."
OUTPUT_PREFIX = "output."
#: Columns holding the whole request or response object as JSON text (for replay and export).
RAW_REQUEST = "request"
RAW_RESPONSE = "response"


@dataclass(frozen=True)
class Mapping:
    """How to find canonical fields, inputs and outputs in one log record."""

    fields: dict[str, Path_] = field(default_factory=lambda: {name: (name,) for name in CANONICAL_FIELDS})
    inputs: Path_ = ("request",)
    outputs: Path_ = ("response",)
    latency_unit: str = "ms"
    ts_unit: str = "auto"
    constants: dict[str, str] = field(default_factory=dict)
    #: More keys whose values are secrets, redacted like Authorization in everything mlmon writes.
    redact: tuple[str, ...] = ()
    #: The time zone of naive times (``2024-02-27 10:36:08``); times with an offset keep theirs.
    timezone: str = "UTC"
    #: A strftime format tried first for ``ts`` (``%Y-%m-%d %H:%M:%S,%3f``), before the usual forms.
    ts_format: str | None = None
    #: Status values given as text, and the status code each stands for (``success: 200``).
    status_map: dict[str, int] = field(default_factory=dict)
    hooks: Hooks = field(default_factory=Hooks)
    #: The preset this mapping is (``kserve``), or None for a mapping file or mlmon's own shape.
    preset: str | None = None
    #: The modification time of the file being read (ISO, UTC), for ``ts_fill``; set per file by the reader.
    file_time: str | None = None

    @property
    def shaped(self) -> bool:
        """Whether records need :mod:`mlmon.logs.shape` (a hook, an array index or a top-level root),
        not the plain projection of flat paths."""
        paths = [*self.fields.values(), self.inputs, self.outputs]
        # Status text is read as text (the flat path reads status as a number, for speed).
        return bool(self.hooks or self.status_map) or any(not p or any(part.isdigit() for part in p) for p in paths)

    def path_of(self, name: str) -> Path_ | None:
        """The JSON path of a canonical field or an ``input.x``/``output.x`` field."""
        if name.startswith(INPUT_PREFIX):
            return self.inputs + split_path(name[len(INPUT_PREFIX) :])
        if name.startswith(OUTPUT_PREFIX):
            return self.outputs + split_path(name[len(OUTPUT_PREFIX) :])
        if name == RAW_REQUEST:
            return self.inputs
        if name == RAW_RESPONSE:
            return self.outputs
        return self.fields.get(name)


DEFAULT_MAPPING = Mapping()

_TOP_KEYS = ("fields", "inputs", "outputs", "latency_unit", "ts_unit", "constants", "redact", "timezone", "ts_format",
             "status_map", "decode", "join", "explode", "path_fields", "detect", "inputs_exclude", "outputs_exclude", "alternatives", "between", "extract", "ts_fill", "only")
#: The path of an inputs or outputs root at the record's top level: the whole record.
TOP_LEVEL = "."


#: The most keys a field's path may have: deeper paths are typos or attacks, and each key nests a decoder.
MAX_PATH_DEPTH = 64


def split_path(text: str) -> Path_:
    return tuple(part for part in text.split(".") if part)


def _as_path(value: Any) -> Path_ | None:
    if isinstance(value, str) and 0 < len(split_path(value)) <= MAX_PATH_DEPTH:
        return split_path(value)
    if isinstance(value, list) and 0 < len(value) <= MAX_PATH_DEPTH and all(isinstance(p, str) and p for p in value):
        return tuple(value)
    return None


def _path_problem(value: Any) -> str:
    """Why ``value`` is not a path, for a mapping problem."""
    parts = split_path(value) if isinstance(value, str) else value if isinstance(value, list) else ()
    if len(parts) > MAX_PATH_DEPTH:
        return f"has {len(parts):,} keys; a path may have at most {MAX_PATH_DEPTH}"
    return ""


def mapping_from_dict(doc: Located) -> Mapping:
    """Validate a parsed mapping document, listing every problem at once."""
    data = doc.data
    problems: list[str] = []
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{doc.where()}: a mapping file must be a YAML mapping of keys such as 'fields' and 'inputs'")
    problems.extend(top_level_problems(doc, data, _TOP_KEYS))

    fields = dict(DEFAULT_MAPPING.fields)
    raw_fields = data.get("fields") or {}
    if not isinstance(raw_fields, dict):
        problems.append(f"{doc.where('fields')}: 'fields' must map canonical field names to dotted paths")
        raw_fields = {}
    for name, value in raw_fields.items():
        if name not in CANONICAL_FIELDS:
            problems.append(
                f"{doc.where('fields', name)}: unknown field {name!r}{did_you_mean(str(name), tuple(CANONICAL_FIELDS))}"
            )
            continue
        path = _as_path(value)
        if path is None:
            why = _path_problem(value)
            problems.append(f"{doc.where('fields', name)}: field {name!r} "
                            + (f"path {why}" if why else f"needs a dotted path such as 'meta.{name}'"))
            continue
        fields[name] = path

    roots = {}
    for key in ("inputs", "outputs"):
        roots[key] = getattr(DEFAULT_MAPPING, key)
        if data.get(key) == TOP_LEVEL:
            roots[key] = ()
        elif key in data:
            path = _as_path(data[key])
            if path is None:
                why = _path_problem(data[key])
                problems.append(f"{doc.where(key)}: {key!r} " + (f"path {why}" if why
                                                                  else "needs a dotted path such as 'request.features'"))
            else:
                roots[key] = path

    latency_unit = data.get("latency_unit", "ms")
    if latency_unit not in LATENCY_UNITS:
        problems.append(
            f"{doc.where('latency_unit')}: latency_unit must be one of {', '.join(LATENCY_UNITS)}, not {latency_unit!r}"
        )
    ts_unit = data.get("ts_unit", "auto")
    if ts_unit not in TS_UNITS:
        problems.append(f"{doc.where('ts_unit')}: ts_unit must be one of {', '.join(TS_UNITS)}, not {ts_unit!r}")

    constants: dict[str, str] = {}
    raw_constants = data.get("constants") or {}
    if not isinstance(raw_constants, dict):
        problems.append(f"{doc.where('constants')}: 'constants' must map field names to values, e.g. model: churn")
        raw_constants = {}
    for name, value in raw_constants.items():
        if name not in CANONICAL_FIELDS or CANONICAL_FIELDS[name] != "string" or name in NOT_CONSTANT:
            allowed = [n for n, t in CANONICAL_FIELDS.items() if t == "string" and n not in NOT_CONSTANT]
            problems.append(
                f"{doc.where('constants', name)}: constant {name!r} is not allowed"
                f"{did_you_mean(str(name), allowed)} (allowed: {', '.join(allowed)})"
            )
        elif not isinstance(value, (str, int, float)) or isinstance(value, bool):
            problems.append(f"{doc.where('constants', name)}: constant {name!r} must be a plain value")
        else:
            constants[name] = str(value)

    redact = data.get("redact") or []
    if not isinstance(redact, list) or not all(isinstance(k, str) and k for k in redact):
        problems.append(f"{doc.where('redact')}: 'redact' must be a list of key names, e.g. [ssn, x-session]")
        redact = []

    timezone = data.get("timezone", "UTC")
    if not isinstance(timezone, str) or not _known_zone(timezone):
        problems.append(f"{doc.where('timezone')}: timezone must be a time zone name such as Europe/Berlin or UTC, "
                        f"not {timezone!r}")
        timezone = "UTC"
    ts_format = data.get("ts_format")
    if ts_format is not None and (not isinstance(ts_format, str) or "%" not in ts_format):
        problems.append(f"{doc.where('ts_format')}: ts_format must be a strftime format such as "
                        "'%Y-%m-%d %H:%M:%S,%3f'")
        ts_format = None
    status_map: dict[str, int] = {}
    raw_status = data.get("status_map") or {}
    if not isinstance(raw_status, dict):
        problems.append(f"{doc.where('status_map')}: 'status_map' maps status texts to codes, e.g. success: 200")
        raw_status = {}
    for text, code in raw_status.items():
        if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
            problems.append(f"{doc.where('status_map', text)}: the status for {text!r} must be an HTTP status code "
                            "from 100 to 599")
        else:
            status_map[str(text)] = code
    hooks = parse_hooks(doc, data, problems, _as_path)

    if problems:
        raise ConfigError(
            f"mapping file {doc.path} has {len(problems)} problem{'s' if len(problems) > 1 else ''}",
            "Fix the lines listed above; see 'Field mapping' in the README.",
            details=problems,
        )
    return replace(
        DEFAULT_MAPPING,
        fields=fields,
        inputs=roots["inputs"],
        outputs=roots["outputs"],
        latency_unit=latency_unit,
        ts_unit=ts_unit,
        constants=constants,
        redact=tuple(redact),
        timezone=timezone,
        ts_format=ts_format,
        status_map=status_map,
        hooks=hooks,
    )


def _known_zone(name: str) -> bool:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def load_mapping(path: str | Path | None) -> Mapping:
    """The mapping in a YAML file, or mlmon's own log shape when ``path`` is None."""
    if path is None:
        return DEFAULT_MAPPING
    return mapping_from_dict(load_yaml(path, "mapping file"))
