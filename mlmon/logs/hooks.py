"""The mapping's hooks for logs that are not one flat JSON object per request.

Each hook is declared in the mapping file and applied by :mod:`mlmon.logs.shape` as
Polars expressions over a whole chunk of lines:

- ``decode``: a field that holds JSON, CSV or base64 text (``captureData.endpointInput.data``);
- ``join``: request and response written as two events, paired by a key;
- ``explode``: several rows batched in one record, one prediction each;
- ``path_fields``: constants taken from each file's path (``<endpoint>/<variant>/yyyy/...``);
- ``detect``: what the first lines of a file hold when they are in this shape (for ``--preset auto``).

``timezone``, ``ts_format`` and ``status_map`` are plain values of the mapping (see mapping.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mlmon.yamlfile import did_you_mean

#: How a decoder turns a string value into JSON text.
DECODERS = ("json", "csv", "base64", "base64+json", "base64+csv", "auto")


@dataclass(frozen=True)
class Decoder:
    """How to read the text held at one path.

    ``kind`` is one decoder for every record; with ``by``, the decoder of each record is
    chosen by the value at the path ``by`` (``encoding: CSV``) through ``choices``.
    CSV rows become objects keyed by ``columns`` (``f0``, ``f1``, ... beyond them).
    """

    kind: str = "json"
    by: tuple[str, ...] | None = None
    choices: dict[str, str] = field(default_factory=dict)
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Join:
    """Pair two events of one request: ``kind`` tells which is which, ``key`` pairs them.

    The request event gives the record's time; the latency is the response event's time
    minus the request event's. A request with no response is a failed request.
    """

    key: tuple[str, ...]
    kind: tuple[str, ...]
    request: tuple[str, ...]
    response: tuple[str, ...]
    #: Whether the two events' times give the latency (not when they are written to the second only).
    latency: bool = True


@dataclass(frozen=True)
class Explode:
    """Rows batched in one record: the arrays at ``inputs`` (inside the request) and ``outputs``
    (inside the response) hold one row per prediction, paired by position."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Detect:
    """What a record of this shape holds: every path in ``keys``, and values matching ``match``."""

    keys: tuple[tuple[str, ...], ...] = ()
    match: dict[tuple[str, ...], str] = field(default_factory=dict)

    def fits(self, record: dict) -> bool:
        for path in self.keys:
            if _lookup(record, path) is _MISSING:
                return False
        for path, pattern in self.match.items():
            value = _lookup(record, path)
            if value is _MISSING or not isinstance(value, (str, int, float)) or not re.fullmatch(pattern, str(value)):
                return False
        return True


_MISSING = object()


def _lookup(record: Any, path: tuple[str, ...]) -> Any:
    node = record
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


@dataclass(frozen=True)
class Hooks:
    decode: dict[tuple[str, ...], Decoder] = field(default_factory=dict)
    join: Join | None = None
    explode: Explode | None = None
    #: A regular expression with named groups (canonical string fields) matched against each file's path.
    path_fields: str | None = None
    detect: Detect | None = None
    #: Keys left out of a top-level input root (``inputs: .``): the fields that are not features.
    inputs_exclude: tuple[str, ...] = ()
    outputs_exclude: tuple[str, ...] = ()
    #: Number fields computed as the time between two times in the record: name -> (start path, end path).
    between: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)
    #: Fields taken out of a text by a regular expression's first group: name -> (path, pattern).
    extract: dict[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)
    #: ``neighbors``: a record without a time takes the time of the record before it (or after it) in its file.
    ts_fill: str | None = None
    #: Records kept: the text at each path (or "" where absent) must match its regular expression;
    #: the others are not requests (a server's own log lines) and are left out, not counted as bad.
    only: dict[tuple[str, ...], str] = field(default_factory=dict)
    #: Paths read where a path holds nothing (``data`` -> ``data_base64``), in order.
    alternatives: dict[tuple[str, ...], tuple[tuple[str, ...], ...]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.decode or self.join or self.explode or self.inputs_exclude or self.outputs_exclude
                    or self.alternatives or self.between or self.extract or self.ts_fill or self.only)


def parse_hooks(doc, data: dict, problems: list[str], as_path) -> Hooks:
    """The hooks of a mapping document; each problem is appended to ``problems`` with its line."""
    decode: dict[tuple[str, ...], Decoder] = {}
    raw = data.get("decode") or {}
    if not isinstance(raw, dict):
        problems.append(f"{doc.where('decode')}: 'decode' must map paths to decoders, e.g. request.body: json")
        raw = {}
    for key, spec in raw.items():
        path = as_path(key)
        if path is None:
            problems.append(f"{doc.where('decode', key)}: {key!r} is not a dotted path")
            continue
        decoder = _decoder(doc, key, spec, problems, as_path)
        if decoder is not None:
            decode[path] = decoder

    join = None
    if data.get("join") is not None:
        spec = data["join"]
        if not isinstance(spec, dict):
            problems.append(f"{doc.where('join')}: 'join' needs key, kind, request and response")
        else:
            for name in spec:
                if name not in ("key", "kind", "request", "response", "latency"):
                    problems.append(f"{doc.where('join', name)}: unknown key {name!r} in 'join' "
                                    "(it takes key, kind, request, response and latency)")
            latency = spec.get("latency", True)
            if not isinstance(latency, bool):
                problems.append(f"{doc.where('join', 'latency')}: 'latency' is true or false")
                latency = True
            key, kind = as_path(spec.get("key")), as_path(spec.get("kind"))
            request, response = _values(spec.get("request")), _values(spec.get("response"))
            for name, value in (("key", key), ("kind", kind)):
                if value is None:
                    problems.append(f"{doc.where('join', name)}: join needs '{name}', the dotted path of the "
                                    + ("value that pairs a request with its response" if name == "key"
                                       else "value that tells a request event from a response event"))
            for name, value in (("request", request), ("response", response)):
                if not value:
                    problems.append(f"{doc.where('join', name)}: join needs '{name}', the value (or list of values) "
                                    f"of 'kind' that marks a {name} event")
            if key and kind and request and response:
                join = Join(key, kind, request, response, latency)

    explode = None
    if data.get("explode") is not None:
        spec = data["explode"]
        if isinstance(spec, str):
            spec = {"inputs": spec}

        def as_path(value, _path=as_path):  # "." is the request or response itself
            return () if value == "." else _path(value)

        if not isinstance(spec, dict) or as_path(spec.get("inputs")) is None:
            problems.append(f"{doc.where('explode')}: 'explode' needs 'inputs', the path of the array of rows "
                            "inside the request (and optionally 'outputs' inside the response)")
        else:
            outputs = spec.get("outputs")
            if outputs is not None and as_path(outputs) is None:
                problems.append(f"{doc.where('explode', 'outputs')}: 'outputs' needs a dotted path")
            explode = Explode(as_path(spec["inputs"]), as_path(outputs) if outputs is not None else None)

    path_fields = data.get("path_fields")
    if path_fields is not None:
        path_fields = _path_fields(doc, path_fields, problems)

    detect = None
    if data.get("detect") is not None:
        detect = _detect(doc, data["detect"], problems, as_path)

    excludes = {}
    for name in ("inputs_exclude", "outputs_exclude"):
        value = data.get(name) or []
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            problems.append(f"{doc.where(name)}: {name!r} must be a list of top-level keys")
            value = []
        excludes[name] = tuple(value)
    alternatives: dict[tuple[str, ...], tuple[tuple[str, ...], ...]] = {}
    raw = data.get("alternatives") or {}
    if not isinstance(raw, dict):
        problems.append(f"{doc.where('alternatives')}: 'alternatives' maps a path to the paths read when it holds "
                        "nothing, e.g. data: [data_base64]")
        raw = {}
    for key, others in raw.items():
        path = as_path(key)
        others = others if isinstance(others, list) else [others]
        alts = [as_path(o) for o in others]
        if path is None or not alts or any(a is None for a in alts):
            problems.append(f"{doc.where('alternatives', key)}: {key!r} needs a list of dotted paths")
            continue
        alternatives[path] = tuple(alts)
    from mlmon.logs.mapping import CANONICAL_FIELDS

    numbers = [n for n, t in CANONICAL_FIELDS.items() if t == "number"]
    between: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    raw = data.get("between") or {}
    if not isinstance(raw, dict):
        problems.append(f"{doc.where('between')}: 'between' maps a field to [start, end] paths, "
                        "e.g. latency_ms: [startTime, endTime]")
        raw = {}
    for name, pair in raw.items():
        paths = [as_path(p) for p in pair] if isinstance(pair, list) and len(pair) == 2 else []
        if name not in numbers:
            problems.append(f"{doc.where('between', name)}: {name!r} is not a number field "
                            f"({', '.join(numbers)}){did_you_mean(str(name), numbers)}")
        elif len(paths) != 2 or None in paths:
            problems.append(f"{doc.where('between', name)}: {name!r} needs [start, end], two dotted paths of times")
        else:
            between[name] = (paths[0], paths[1])
    extract: dict[str, tuple[tuple[str, ...], str]] = {}
    raw = data.get("extract") or {}
    if not isinstance(raw, dict):
        problems.append(f"{doc.where('extract')}: 'extract' maps a field to {{from: path, regex: pattern}}")
        raw = {}
    for name, spec in raw.items():
        if name not in CANONICAL_FIELDS or name == "ts":
            problems.append(f"{doc.where('extract', name)}: {name!r} is not a field a text can give"
                            f"{did_you_mean(str(name), list(CANONICAL_FIELDS))}")
            continue
        path = as_path(spec.get("from")) if isinstance(spec, dict) else None
        pattern = spec.get("regex") if isinstance(spec, dict) else None
        try:
            ok = isinstance(pattern, str) and re.compile(pattern).groups >= 1
        except re.error:
            ok = False
        if path is None or not ok:
            problems.append(f"{doc.where('extract', name)}: {name!r} needs 'from' (a dotted path) and 'regex' "
                            "(a regular expression with one group), e.g. regex: ' (\\d+(?:\\.\\d+)?)ms$'")
            continue
        extract[name] = (path, pattern)
    ts_fill = data.get("ts_fill")
    if ts_fill is not None and ts_fill != "neighbors":
        problems.append(f"{doc.where('ts_fill')}: ts_fill takes 'neighbors', not {ts_fill!r}")
        ts_fill = None
    only = _patterns(doc, ("only",), data.get("only"), problems, as_path,
                     "'only' maps paths to regular expressions the records kept match")
    return Hooks(decode, join, explode, path_fields, detect, excludes["inputs_exclude"], excludes["outputs_exclude"],
                 between, extract, ts_fill, only, alternatives)


def _values(value: Any) -> tuple[str, ...]:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return (str(value),)
    if isinstance(value, list) and value and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        return tuple(str(v) for v in value)
    return ()


def _decoder(doc, key, spec, problems: list[str], as_path) -> Decoder | None:
    if isinstance(spec, str):
        spec = {"kind": spec}
    if not isinstance(spec, dict):
        problems.append(f"{doc.where('decode', key)}: a decoder is one of {', '.join(DECODERS)}, "
                        "or a mapping with 'kind' or 'by'")
        return None
    ok = True
    for name in spec:
        if name not in ("kind", "by", "choices", "columns"):
            problems.append(f"{doc.where('decode', key, name)}: unknown key {name!r} in a decoder "
                            "(it takes kind, by, choices and columns)")
            ok = False
    kind = spec.get("kind", "json")
    kinds = [kind]
    by = None
    choices: dict[str, str] = {}
    if "by" in spec:
        by = as_path(spec["by"])
        raw = spec.get("choices")
        if by is None or not isinstance(raw, dict) or not raw:
            problems.append(f"{doc.where('decode', key, 'by')}: 'by' needs a dotted path and 'choices', "
                            "e.g. choices: {JSON: json, CSV: csv, BASE64: base64}")
            return None
        choices = {str(k): v for k, v in raw.items()}
        kinds = list(choices.values())
    for value in kinds:
        if value not in DECODERS:
            problems.append(f"{doc.where('decode', key)}: unknown decoder {value!r} (known: {', '.join(DECODERS)})")
            ok = False
    columns = spec.get("columns") or []
    if not isinstance(columns, list) or not all(isinstance(c, str) and c for c in columns):
        problems.append(f"{doc.where('decode', key, 'columns')}: 'columns' must be a list of column names")
        ok = False
    return Decoder(kind, by, choices, tuple(columns)) if ok else None


def _path_fields(doc, value: Any, problems: list[str]) -> str | None:
    from mlmon.logs.mapping import CANONICAL_FIELDS, NOT_CONSTANT

    if not isinstance(value, str):
        problems.append(f"{doc.where('path_fields')}: 'path_fields' must be a regular expression with named groups")
        return None
    try:
        pattern = re.compile(value)
    except re.error as exc:
        problems.append(f"{doc.where('path_fields')}: 'path_fields' is not a valid regular expression ({exc})")
        return None
    allowed = [n for n, t in CANONICAL_FIELDS.items() if t == "string" and n not in NOT_CONSTANT]
    for name in pattern.groupindex:
        if name not in allowed:
            problems.append(f"{doc.where('path_fields')}: group {name!r} is not a field a path can give "
                            f"(allowed: {', '.join(allowed)})")
            return None
    return value


def _detect(doc, value: Any, problems: list[str], as_path) -> Detect | None:
    if not isinstance(value, dict):
        problems.append(f"{doc.where('detect')}: 'detect' takes 'keys' (paths every record has) and 'match'")
        return None
    keys = []
    for key in value.get("keys") or []:
        path = as_path(key)
        if path is None:
            problems.append(f"{doc.where('detect', 'keys')}: {key!r} is not a dotted path")
        else:
            keys.append(path)
    match = _patterns(doc, ("detect", "match"), value.get("match"), problems, as_path,
                      "'match' maps paths to regular expressions")
    return Detect(tuple(keys), match)


def _patterns(doc, where: tuple, raw: Any, problems: list[str], as_path, what: str) -> dict[tuple[str, ...], str]:
    """A mapping of dotted paths to regular expressions, each problem listed with its line."""
    patterns: dict[tuple[str, ...], str] = {}
    if raw is None:
        return patterns
    if not isinstance(raw, dict):
        problems.append(f"{doc.where(*where)}: {what}")
        return patterns
    for key, pattern in raw.items():
        path = as_path(key)
        try:
            re.compile(str(pattern))
        except re.error as exc:
            problems.append(f"{doc.where(*where, key)}: not a valid regular expression ({exc})")
            continue
        if path is None:
            problems.append(f"{doc.where(*where, key)}: {key!r} is not a dotted path")
            continue
        patterns[path] = str(pattern)
    return patterns
