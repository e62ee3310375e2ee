"""``mlmon inspect``: what is in these logs? Format, counts, time range, field paths, and a mapping to read them.

Two reads, each as cheap as it can be:

- the **profile** (field paths, types, null rates, examples, the format, the suggested mapping)
  comes from the first ``sample`` JSON objects of each file, read from its head only
  (:mod:`mlmon.inspect.sample`, :mod:`mlmon.inspect.profile`, :mod:`mlmon.inspect.suggest`);
- the **counts and time range** come from a full read with the mapping that fits (the
  detected preset, mlmon's own shape, the suggested mapping, or the one given), the same
  read ``mlmon report`` does, so the numbers agree with a report's. It reads only the
  canonical fields, never the inputs and outputs, so it is the fast path.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl

from mlmon.errors import InputError
from mlmon.inspect.profile import FieldProfile, profile_objects
from mlmon.inspect.sample import (
    DEFAULT_SAMPLE,
    FileSample,
    sample_source,
    what_it_looks_like,
)
from mlmon.inspect.suggest import Suggestion, mapping_of, suggest, to_yaml
from mlmon.logs.mapping import CANONICAL_FIELDS, RAW_REQUEST, RAW_RESPONSE, Mapping
from mlmon.logs.sources import Source, resolve_inputs

#: How many bad lines are named by file and line.
FIRST_BAD = 5
OWN = "mlmon"

#: What each canonical field (and the inputs and outputs objects) gives; a missing one costs that.
COSTS: dict[str, str] = {
    "ts": "no records (a line without a time is a bad line)",
    "request_id": "no labels join (--labels), no replay --request-id",
    "model": "no segments by model (--by model)",
    "model_version": "no segments by version (--by model_version)",
    "endpoint": "no segments by endpoint (--by endpoint)",
    "status": "no client_error_rate; error_rate counts only records with an error",
    "latency_ms": "no latency percentiles (latency_p50_ms ... latency_max_ms)",
    "error": "no error messages; error_rate counts status >= 500 only",
    "cpu_percent": "no resource metrics (cpu_percent_mean, cpu_percent_max)",
    "memory_mb": "no resource metrics (memory_mb_mean, memory_mb_max)",
    "request": "no input drift, no data quality, no replay",
    "response": "no output drift, no model quality (--labels)",
}
#: Together: no status and no error leaves nothing to tell a failure by.
BOTH_ERRORS = "no error_rate (every request would count as a success)"
#: Fields of LLM logs: named as missing only when another of them is found.
LLM_FIELDS = ("tokens_in", "tokens_out", "tokens_total", "cost", "ttft_ms")
LLM_COSTS = {
    "tokens_in": "no tokens_in sums or tokens_out_per_s",
    "tokens_out": "no tokens_out sums or tokens_out_per_s",
    "tokens_total": "no tokens_total (tokens_in + tokens_out when both are logged)",
    "cost": "no cost_total or cost_per_request (unless --prices FILE gives prices)",
    "ttft_ms": "no time to first token",
}


@dataclass
class BadLines:
    count: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    #: (file, line, reason) of the first few.
    first: list[tuple[str, int, str]] = field(default_factory=list)


@dataclass
class Inspection:
    """What ``mlmon inspect`` found."""

    files: list[str]
    #: The LOGS arguments, for the commands to run next.
    args: list[str]
    #: Per file: its format (a preset's name, "mlmon", "unknown" for JSON in another shape, "not JSON lines").
    formats: dict[str, str]
    #: A few words per file that is not JSON lines.
    looks_like: dict[str, str]
    sample_size: int
    sampled: int
    profile: list[FieldProfile]
    #: How the counts were read: "mlmon", "preset NAME", "suggested mapping", "--mapping FILE".
    read_with: str
    records: int
    bad: BadLines
    start: datetime | None
    end: datetime | None
    #: Canonical fields (and "request", "response") found: name -> the path or constant that holds it.
    found: dict[str, str]
    #: Missing ones: name -> what it costs.
    missing: dict[str, str]
    suggestion: Suggestion | None
    suggested_yaml: str | None
    #: What to run next.
    next_steps: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def format(self) -> str:
        kinds = sorted(set(self.formats.values()))
        return kinds[0] if len(kinds) == 1 else "mixed" if kinds else "none"

    @property
    def usable(self) -> bool:
        """Whether anything in the input reads as JSON objects (else inspect exits 2 after saying what it saw)."""
        return self.sampled > 0 or not any(self.looks_like.values())


def detect_format(objects: list[dict]) -> str | None:
    """The preset that fits ``objects`` (the first records of a file), "mlmon" for mlmon's own shape, or None."""
    from mlmon.logs.presets import detect_lines

    return detect_lines(objects)


def inspect_logs(logs: list[str], mapping_file: Path | None = None, preset: str = "auto",
                 timezone: str | None = None, *, sample: int = DEFAULT_SAMPLE, progress=None) -> Inspection:
    """Inspect ``logs``. With ``mapping_file`` or a ``preset`` other than auto, judge that mapping instead of
    detecting the format and guessing one; ``timezone`` is the zone of naive times, as for every command."""
    with _readable(logs) as sources:
        samples = [sample_source(s, sample) for s in sources]
        return _inspect(logs, sources, samples, mapping_file, preset or "auto", timezone, sample, progress)


def _inspect(logs: list[str], sources: list[Source], samples: list[FileSample], mapping_file: Path | None,
             preset: str, timezone: str | None, sample: int, progress) -> Inspection:
    given = mapping_file is not None or preset.lower() != "auto"
    formats, looks = _formats(samples)
    presets = sorted({f for f in formats.values() if f not in _NOT_PRESETS})
    used, read_with = _known_mapping(sources, formats, presets, mapping_file, preset, timezone, given)
    texts = pl.concat([s.objects for s in samples]) if samples else pl.Series("line", [], pl.String)
    profile = profile_objects(texts, used.redact if used is not None else ())
    guess = suggest(profile) if profile else None
    suggested = None
    if used is None and guess is not None and not guess.is_default():
        used, read_with = mapping_of(guess, timezone), "the suggested mapping"
        suggested = to_yaml(guess, _sample_words(samples, sample), timezone)
    elif used is None:
        used, read_with = _own(sources, timezone), OWN_WORDS
    records, bad, start, end, notes = _count(sources, used, progress)
    found, missing = _canonical(profile, used, _through_mapping(samples, used))
    result = Inspection(
        files=[s.name for s in samples], args=list(logs), formats=formats, looks_like=looks, sample_size=sample,
        sampled=int(texts.len()), profile=profile, read_with=read_with, records=records, bad=bad, start=start,
        end=end, found=found, missing=missing, suggestion=guess, suggested_yaml=suggested, notes=notes)
    result.next_steps = _next_steps(result, presets, given)
    return result


OWN_WORDS = "mlmon's own record shape"


def _formats(samples: list[FileSample]) -> tuple[dict[str, str], dict[str, str]]:
    """Each file's format, and for a file that is not JSON lines, what it looks like."""
    formats, looks = {}, {}
    for s in samples:
        if not s.objects.len():
            formats[s.name] = "not JSON lines" if s.lines else "empty"
            looks[s.name] = what_it_looks_like(s.first_line) if s.lines else ""
        else:
            formats[s.name] = detect_format(_first_objects(s.objects)) or "unknown"
    return formats, looks


def _known_mapping(sources, formats, presets, mapping_file, preset, timezone, given) -> tuple[Mapping | None, str]:
    """The mapping given, the one preset the files fit, or mlmon's own when a file is in its shape; else
    (None, "") and the mapping is guessed."""
    from mlmon.logs.presets import choose_mapping

    if given:
        mapping = choose_mapping(sources, mapping_file, preset, timezone).mapping
        return mapping, f"--mapping {mapping_file}" if mapping_file is not None else f"preset {preset}"
    if len(presets) == 1:
        return choose_mapping(sources, None, presets[0], timezone).mapping, f"preset {presets[0]}"
    if OWN in formats.values():
        return _own(sources, timezone), OWN_WORDS
    return None, ""


def _own(sources, timezone):
    from mlmon.logs.presets import choose_mapping

    return choose_mapping(sources, None, OWN, timezone).mapping


def _first_objects(objects: pl.Series, n: int = 20) -> list[dict]:
    """The first records as Python objects, for format detection (a handful, never the whole sample)."""
    import json

    return [json.loads(text) for text in objects.head(n).to_list()]


def _sample_words(samples: list[FileSample], sample: int) -> str:
    names = ", ".join(s.name for s in samples[:3]) + (f" and {len(samples) - 3} more" if len(samples) > 3 else "")
    return f"the first {sample:,} records of each file ({names})"


def _count(sources: list[Source], mapping: Mapping, progress) -> tuple[int, BadLines, datetime | None,
                                                                          datetime | None, list[str]]:
    """Records, bad lines and the time range, from reading every line with ``mapping``."""
    from mlmon.logs.reader import read_logs
    from mlmon.logs.verdict import NoGoodRecord, reason_counts

    try:
        data = read_logs(sources, mapping, fields=list(CANONICAL_FIELDS), progress=progress)
    except NoGoodRecord as exc:
        return 0, _bad(exc.rejects, reason_counts(exc.rejects)), None, None, []
    ts = data.records.get_column("ts") if data.records.height else None
    start = ts.min() if ts is not None else None
    end = ts.max() if ts is not None else None
    return data.records.height, _bad(data.rejects, data.skipped_by_reason()), start, end, data.warnings + data.notes


def _bad(rejects: pl.DataFrame, reasons: dict[str, int]) -> BadLines:
    first = [(r["file"], r["line"], r["reason"]) for r in rejects.head(FIRST_BAD).iter_rows(named=True)]
    return BadLines(rejects.height, reasons, first)


def _through_mapping(samples: list[FileSample], mapping: Mapping) -> pl.DataFrame | None:
    """The sampled lines read with ``mapping`` (decoders, joins and all), or None when they cannot be."""
    from mlmon.errors import MlmonError
    from mlmon.logs.reader import read_logs

    with tempfile.TemporaryDirectory(prefix="mlmon-inspect-") as folder:
        sources = []
        for i, s in enumerate(samples):
            if s.head:
                copy = Path(folder) / f"{i}.jsonl"
                copy.write_bytes(s.head)
                sources.append(Source(s.name, copy))  # the name kept: a preset may read fields from it
        if not sources:
            return None
        try:
            return read_logs(sources, mapping, fields=[*CANONICAL_FIELDS, RAW_REQUEST, RAW_RESPONSE]).records
        except MlmonError:
            return None


def _canonical(profile: list[FieldProfile], mapping: Mapping,
               records: pl.DataFrame | None) -> tuple[dict[str, str], dict[str, str]]:
    """Which canonical fields (and the inputs and outputs objects) the sampled records hold under ``mapping``.

    A field counts as found where the sample, read with the mapping, has a value for it; ``status``,
    which reading fills in (200, or 500 with an error), where the records hold it, or a join derives it.
    """
    present = {p.path: p for p in profile if p.present}
    found: dict[str, str] = {}
    missing: dict[str, str] = {}
    for name in [*CANONICAL_FIELDS, RAW_REQUEST, RAW_RESPONSE]:
        if name in mapping.constants:
            found[name] = f"constant {mapping.constants[name]!r}"
            continue
        path = mapping.path_of(name)
        hit = present.get(path) if path is not None else None
        if name == "status":
            held = hit is not None or bool(getattr(mapping.hooks, "join", None))
        elif records is not None and name in records.columns:
            column = records.get_column(name)
            held = column.drop_nulls().len() > 0 and not (column.dtype == pl.String and
                                                           column.drop_nulls().is_in(["", "{}", "null"]).all())
        else:
            held = hit is not None
        if held:
            found[name] = hit.name if hit is not None else (
                "the whole record" if path == () else "derived by the mapping (a join, decoder or default)")
        elif name in COSTS:
            missing[name] = COSTS[name]
        elif name in LLM_COSTS:
            missing[name] = LLM_COSTS[name]
    if not any(name in found for name in LLM_FIELDS):
        missing = {k: v for k, v in missing.items() if k not in LLM_FIELDS}
    if "status" in missing and "error" in missing:
        missing["status"] = BOTH_ERRORS
        missing["error"] = BOTH_ERRORS
    return found, missing


def _next_steps(result: Inspection, presets: list[str], given: bool) -> list[str]:
    files = " ".join(_quoted(f) for f in result.args[:3]) + (" ..." if len(result.args) > 3 else "")
    if not result.usable:
        return ["mlmon reads JSON lines, one object per line (README \"Log records\"); convert the file first"]
    if given:
        return [f"mlmon report {files} (with the same --mapping or --preset)"]
    if presets:
        name = presets[0]
        return [f"mlmon report {files} --preset {name}", f"mlmon mapping show --preset {name} > mapping.yaml"]
    if result.suggested_yaml is not None:
        return [f"mlmon inspect {files} --suggest -o mapping.yaml", f"mlmon report {files} --mapping mapping.yaml"]
    return [f"mlmon report {files}"]


def _quoted(name: str) -> str:
    import shlex

    return shlex.quote(name)


@contextmanager
def _readable(logs: list[str]) -> Iterator[list[Source]]:
    """The sources of ``logs``; standard input is copied to a temporary file, as it is read twice."""
    found = resolve_inputs(logs)
    sources = list(found.sources)
    stdin = [i for i, s in enumerate(sources) if s.is_stdin]
    if not stdin:
        yield sources
        return
    with tempfile.NamedTemporaryFile(prefix="mlmon-inspect-", suffix=".jsonl", delete=False) as handle:
        copy = Path(handle.name)
        try:
            shutil.copyfileobj(sources[stdin[0]].open(), handle)
        except OSError as exc:
            os.unlink(copy)
            raise InputError(f"cannot read standard input: {exc.strerror or exc}") from None
    try:
        for i in stdin:
            sources[i] = Source("-", copy)
        yield sources
    finally:
        with suppress(OSError):
            os.unlink(copy)


def suggestion_text(result: Inspection) -> tuple[str | None, str | None]:
    """What ``--suggest`` prints, and a note for stderr: the guessed mapping, the detected preset's
    file, or mlmon's own mapping written out when the records are in its shape."""
    from mlmon.mapping_text import mapping_text, own_mapping_text

    if result.suggested_yaml is not None:
        return result.suggested_yaml, None
    presets = sorted({f for f in result.formats.values() if f not in _NOT_PRESETS})
    if len(presets) == 1:
        name = presets[0]
        return mapping_text(name), f"the logs are in the {name} preset's format; --preset {name} reads them as they are"
    if OWN in result.formats.values():
        return own_mapping_text(), "these are mlmon's own records: they need no mapping"
    return None, None


_NOT_PRESETS = (OWN, "unknown", "not JSON lines", "empty")
