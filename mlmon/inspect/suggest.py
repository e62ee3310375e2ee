"""A mapping guessed from a field profile, written as YAML the mapping loader accepts.

The guesses go by key names and values: a key like ``time`` or ``@timestamp`` that holds
ISO text or epoch numbers is ``ts``; ``duration_ms`` is ``latency_ms`` in ms; ``code``
holding whole numbers from 100 to 599 is ``status``; the object with the most fields
under a key like ``payload`` is the inputs' root. Each guess says why, in a comment.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from mlmon.inspect.profile import (
    ASCTIME,
    NAIVE,
    FieldProfile,
    Path_,
    is_time_key,
    squash,
)
from mlmon.logs.mapping import CANONICAL_FIELDS, DEFAULT_MAPPING, Mapping

#: Key names (compared by :func:`squash`) that may hold each canonical field, most telling first.
NAMES: dict[str, tuple[str, ...]] = {
    "request_id": ("requestid", "reqid", "id", "uuid", "inferenceid", "eventid", "correlationid", "traceid",
                   "customid", "callid"),
    "model": ("model", "modelname", "modelid"),
    "model_version": ("modelversion", "version", "modelversionid", "variant"),
    "endpoint": ("endpoint", "endpointname", "route", "path", "url", "deployment"),
    "status": ("status", "statuscode", "httpstatus", "code", "responsecode", "httpcode"),
    "error": ("error", "exception", "err", "errormessage", "errorinformation", "failure"),
    "cpu_percent": ("cpupercent", "cpu", "cpuutilization", "cpuusage"),
    "memory_mb": ("memorymb", "memory", "memmb", "rssmb", "mem"),
    "tokens_in": ("tokensin", "prompttokens", "inputtokens", "prompttokencount"),
    "tokens_out": ("tokensout", "completiontokens", "outputtokens", "completiontokencount"),
    "tokens_total": ("tokenstotal", "totaltokens", "totaltokencount"),
    "cost": ("cost", "responsecost", "costusd", "totalcost"),
    "ttft_ms": ("ttftms", "ttft", "timetofirsttokenms", "timetofirsttoken"),
}
LATENCY_WORDS = ("latency", "duration", "elapsed", "took", "responsetime", "time_taken", "timetaken")
INPUT_ROOTS = ("request", "input", "inputs", "features", "payload", "instances", "data", "body", "params", "x")
OUTPUT_ROOTS = ("response", "output", "outputs", "prediction", "predictions", "result", "results", "y")


@dataclass
class Guess:
    path: Path_
    why: str


@dataclass
class Suggestion:
    """The guessed mapping: fields, roots and units, each with why it was chosen."""

    fields: dict[str, Guess] = field(default_factory=dict)
    inputs: Guess | None = None
    outputs: Guess | None = None
    latency_unit: str | None = None
    ts_unit: str | None = None
    ts_format: str | None = None
    #: Status texts and the codes they stand for, when the status is given as text.
    status_map: dict[str, int] = field(default_factory=dict)

    def is_default(self) -> bool:
        """Whether the guess is mlmon's own shape, so that no mapping is needed."""
        return (all(g.path == DEFAULT_MAPPING.fields.get(n) for n, g in self.fields.items())
                and (self.inputs is None or self.inputs.path == DEFAULT_MAPPING.inputs)
                and (self.outputs is None or self.outputs.path == DEFAULT_MAPPING.outputs)
                and self.latency_unit in (None, "ms") and self.ts_unit in (None, "auto")
                and not self.ts_format and not self.status_map)


def suggest(profile: list[FieldProfile]) -> Suggestion:
    """The mapping the profile's key names and values suggest (see the module's docstring)."""
    out = Suggestion()
    roots = _roots(profile)
    out.inputs, out.outputs = roots
    taken = [g.path for g in roots if g is not None]
    scalars = [p for p in profile if p.kind != "object" and not _inside(p.path, taken)]
    ts = _ts(scalars)
    if ts is not None:
        out.fields["ts"], unit = ts
        if unit == ASCTIME:
            out.ts_format = "%Y-%m-%d %H:%M:%S,%3f"
        else:
            out.ts_unit = unit
    latency = _latency(scalars)
    if latency is not None:
        out.fields["latency_ms"], out.latency_unit = latency
    used = {g.path for g in out.fields.values()}
    status = _status_text(scalars)
    if status is not None:
        out.fields["status"], out.status_map = status
        used.add(out.fields["status"].path)
    for name, words in NAMES.items():
        if name in out.fields:
            continue
        if name not in CANONICAL_FIELDS:
            continue  # (a field this mlmon does not read)
        found = _by_name(scalars, words, name, used)
        if found is not None:
            out.fields[name] = found
            used.add(found.path)
    return out


def _inside(path: Path_, roots: list[Path_]) -> bool:
    return any(len(path) > len(root) and path[: len(root)] == root for root in roots)


def _depth_first(candidates: list[FieldProfile], words: tuple[str, ...]) -> list[FieldProfile]:
    """Candidates ordered by how telling their name is, then by depth, then by how often they hold a value."""
    return sorted(candidates, key=lambda p: (words.index(squash(p.path[-1])) if squash(p.path[-1]) in words else
                                             len(words), len(p.path), -p.present))


def _ts(scalars: list[FieldProfile]) -> tuple[Guess, str | None] | None:
    texts = [p for p in scalars if p.kind == "string" and p.time and is_time_key(p.path[-1])]
    numbers = [p for p in scalars if p.kind in ("integer", "number") and p.time]
    # Any text column of times will do when no key is named like one.
    texts = texts or [p for p in scalars if p.kind == "string" and p.time]
    best = sorted([*texts, *numbers], key=lambda p: (p.kind != "string", len(p.path), -p.present))
    if not best:
        return None
    chosen = best[0]
    if chosen.time == ASCTIME:
        return Guess(chosen.path, "times with no zone"), ASCTIME
    if chosen.kind == "string":
        return Guess(chosen.path, "times with no zone" if chosen.time == NAIVE else "ISO-8601 times"), None
    unit = chosen.time.split()[-1]
    return Guess(chosen.path, f"epoch numbers in {unit}"), unit


_UNIT_SUFFIX = (("ms", "ms"), ("millis", "ms"), ("milliseconds", "ms"), ("us", "us"), ("micros", "us"),
                ("microseconds", "us"), ("ns", "ns"), ("nanos", "ns"), ("nanoseconds", "ns"), ("sec", "s"),
                ("secs", "s"), ("seconds", "s"), ("s", "s"))


def _latency(scalars: list[FieldProfile]) -> tuple[Guess, str] | None:
    found = []
    for p in scalars:
        if p.kind not in ("integer", "number") or p.time:
            continue
        key = p.path[-1].lower()
        word = squash(key)
        if any(w.replace("_", "") in word for w in LATENCY_WORDS):
            found.append(p)
    if not found:
        return None
    chosen = min(found, key=lambda p: (len(p.path), -p.present))
    key = chosen.path[-1].lower()
    parts = [w for w in re.split(r"[^a-z]+|(?<=[a-z])(?=[A-Z])", chosen.path[-1]) if w]
    last = parts[-1].lower() if len(parts) > 1 else ""
    unit = next((u for suffix, u in _UNIT_SUFFIX if last == suffix), None)
    if unit is None:
        unit = next((u for suffix, u in _UNIT_SUFFIX if key.endswith(suffix) and len(suffix) > 1), None)
    if unit is None:
        return Guess(chosen.path, "unit not in the key's name: ms assumed, check it"), "ms"
    return Guess(chosen.path, f"unit from the key's name: {unit}"), unit


def _by_name(scalars: list[FieldProfile], words: tuple[str, ...], name: str, used: set) -> Guess | None:
    wanted = CANONICAL_FIELDS[name]
    candidates = []
    for p in scalars:
        if p.path in used or squash(p.path[-1]) not in words or p.secret:
            continue
        if wanted == "integer" and not (p.kind == "integer" and _http_codes(p)):
            continue
        if wanted == "number" and p.kind not in ("integer", "number"):
            continue
        if wanted == "string" and p.kind in ("array",) or p.kind.startswith("mixed") and name != "error":
            continue
        candidates.append(p)
    if not candidates:
        return None
    chosen = _depth_first(candidates, words)[0]
    return Guess(chosen.path, f"{chosen.kind} values")


#: Status words and the codes they stand for.
STATUS_WORDS = {"success": 200, "succeeded": 200, "ok": 200, "completed": 200, "failure": 500, "failed": 500,
                "error": 500, "fail": 500}


def _status_text(scalars: list[FieldProfile]) -> tuple[Guess, dict[str, int]] | None:
    """A status given as words (LiteLLM's ``success``/``failure``), with the codes they stand for."""
    for p in _depth_first([p for p in scalars if p.kind == "string"], NAMES["status"]):
        if squash(p.path[-1]) in NAMES["status"] and p.examples and all(e.lower() in STATUS_WORDS for e in p.examples):
            return Guess(p.path, "status words, mapped below"), {e: STATUS_WORDS[e.lower()] for e in p.examples}
    return None


def _http_codes(profile: FieldProfile) -> bool:
    try:
        return all(100 <= int(float(v)) <= 599 for v in profile.examples)
    except ValueError:
        return False


def _roots(profile: list[FieldProfile]) -> tuple[Guess | None, Guess | None]:
    """The objects that hold the inputs and the outputs: by name, the one with the most fields."""
    objects = [p for p in profile if p.kind == "object" and p.leaves]
    out = []
    chosen: list[Path_] = []
    for words, what in ((INPUT_ROOTS, "inputs"), (OUTPUT_ROOTS, "outputs")):
        named = [p for p in objects if squash(p.path[-1]) in words and p.path not in chosen
                 and not any(p.path[: len(c)] == c or c[: len(p.path)] == p.path for c in chosen)]
        if not named:
            out.append(None)
            continue
        best = min(named, key=lambda p: (-p.leaves, len(p.path)))
        chosen.append(best.path)
        out.append(Guess(best.path, f"an object with {best.leaves:,} field{'s' if best.leaves != 1 else ''}"))
    return out[0], out[1]


# --- the YAML -------------------------------------------------------------------------------------

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def yaml_path(path: Path_) -> str:
    """A path as the mapping loader reads it: dotted when every key is plain, else a list of keys."""
    if all(_PLAIN.match(key) for key in path):
        return ".".join(path)
    return "[" + ", ".join(json.dumps(key, ensure_ascii=False) for key in path) + "]"


def to_yaml(guess: Suggestion, where: str, timezone: str | None = None) -> str:
    """The suggestion as a commented mapping file (see README "Field mapping")."""
    import textwrap

    lines = textwrap.wrap(f"mlmon mapping suggested by 'mlmon inspect' from {where}.", width=76,
                          initial_indent="# ", subsequent_indent="# ", break_on_hyphens=False)
    lines.append("# Check each guess, then: mlmon report LOGS --mapping THIS_FILE")
    if guess.fields:
        lines.append("fields:")
        for name in CANONICAL_FIELDS:
            if name in guess.fields:
                g = guess.fields[name]
                lines.append(_commented(f"  {name}: {yaml_path(g.path)}", g.why))
    else:
        lines.append("fields: {}")
    missing = [n for n in ("ts", "latency_ms", "status") if n not in guess.fields]
    if missing:
        lines.append(f"  # not found: {', '.join(missing)}" if guess.fields else f"# not found: {', '.join(missing)}")
    for key, g in (("inputs", guess.inputs), ("outputs", guess.outputs)):
        if g is not None:
            lines.append(_commented(f"{key}: {yaml_path(g.path)}", g.why))
    if guess.latency_unit:
        lines.append(f"latency_unit: {guess.latency_unit}")
    if guess.ts_unit:
        lines.append(f"ts_unit: {guess.ts_unit}")
    if guess.ts_format:
        lines.append(_commented(f"ts_format: {json.dumps(guess.ts_format)}", "Python logging's asctime"))
    if guess.status_map:
        lines.append("status_map:" + "  # the words seen; add any others")
        lines += [f"  {json.dumps(word)}: {code}" for word, code in guess.status_map.items()]
    if timezone:
        lines.append(f"timezone: {json.dumps(timezone)}")
    elif "ts" in guess.fields and guess.fields["ts"].why == "times with no zone":
        lines.append(_commented("timezone: UTC", "the times carry no zone: set theirs"))
    return "\n".join(lines) + "\n"


def _commented(text: str, why: str) -> str:
    return f"{text:<34}# {why}" if len(text) < 34 else f"{text}  # {why}"


def mapping_of(guess: Suggestion, timezone: str | None = None) -> Mapping:
    """The suggestion as the mapping it writes (checked by loading its YAML, so it is exactly what a user gets)."""
    from mlmon.logs.mapping import mapping_from_dict
    from mlmon.yamlfile import parse_yaml

    text = to_yaml(guess, "a sample", timezone)
    return mapping_from_dict(parse_yaml(text, "the suggested mapping", "mapping file"))
