"""Presets: mapping files, shipped with mlmon, for the logs that serving platforms write.

Each preset is ``<name>.yaml`` beside this module, a mapping file like any other (README
"Field mapping"), which ``mlmon mapping show --preset NAME`` prints for users to adapt. Its
``detect:`` section says what its records hold, so that ``--preset auto`` (the default) can
recognize a file by its first records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from mlmon.logs.mapping import DEFAULT_MAPPING, Mapping, mapping_from_dict

_HERE = Path(__file__).parent
#: The presets, in the order auto-detection tries them.
PRESETS = ("sagemaker", "kserve", "seldon", "bentoml", "azureml", "openai", "litellm", "rayserve")
#: mlmon's own log shape, as --preset names it.
OWN = "mlmon"
AUTO = "auto"
#: How many records of a file auto-detection looks at.
SAMPLE_RECORDS = 20
_SAMPLE_BYTES = 256 * 1024


def preset_path(name: str) -> Path:
    return _HERE / f"{name}.yaml"


def preset_text(name: str) -> str:
    """The preset's mapping file, as shipped."""
    if name == OWN:
        return own_mapping_text()
    return preset_path(name).read_text(encoding="utf-8")


@cache
def load_preset(name: str) -> Mapping:
    """The preset's mapping (mlmon's own shape for ``mlmon``)."""
    if name == OWN:
        return DEFAULT_MAPPING
    from mlmon.yamlfile import load_yaml

    return replace(mapping_from_dict(load_yaml(preset_path(name), "preset")), preset=name)


def own_mapping_text() -> str:
    """mlmon's own log shape written out as a mapping file."""
    from mlmon.logs.mapping import CANONICAL_FIELDS

    lines = ["# mlmon's own log shape: each canonical field at its own name, at the top level.",
             "# Copy this file, change the paths to your records' own, and pass it with --mapping FILE.",
             "fields:"]
    lines += [f"  {name}: {name}" for name in CANONICAL_FIELDS]
    lines += ["inputs: request        # the object of the model's inputs (input.x fields)",
              "outputs: response      # the object of the model's outputs (output.x fields)",
              "latency_unit: ms       # s, ms, us or ns",
              "ts_unit: auto          # for epoch numbers: s, ms, us, ns, or auto (by magnitude)",
              "timezone: UTC          # the time zone of naive times",
              ""]
    return "\n".join(lines)


def detect_lines(objects: list) -> str | None:
    """The preset whose ``detect`` fits most of ``objects`` (JSON values of a file's first records),
    ``mlmon`` for mlmon's own shape (some record has a top-level ``ts``), or None when nothing fits."""
    records = [o for o in objects if isinstance(o, dict)]
    if not records:
        return None
    # mlmon's own shape, maybe with bad lines (the reader counts them); no preset's records have a
    # top-level ts, and this way a run on mlmon's own logs parses no preset file.
    if any("ts" in r for r in records):
        return OWN
    for name in PRESETS:
        detect = load_preset(name).hooks.detect
        if detect is not None and sum(detect.fits(r) for r in records) * 2 >= len(records):
            return name
    return None


@dataclass(frozen=True)
class Sample:
    """The first records of a file, for detection and for saying what was seen."""

    records: list
    bad_lines: int = 0

    def keys(self) -> list[str]:
        """The top-level keys seen, most common first."""
        counts: dict[str, int] = {}
        for record in self.records:
            if isinstance(record, dict):
                for key in record:
                    counts[key] = counts.get(key, 0) + 1
        return sorted(counts, key=lambda k: -counts[k])


def sample_file(source) -> Sample:
    """The first records of a source (a path or :class:`mlmon.logs.sources.Source`)."""
    from mlmon.logs.jsondoc import is_json_document, records_of
    from mlmon.logs.sources import Source

    import zlib

    if not isinstance(source, Source):
        source = Source(str(source), Path(source))
    try:
        with source.open() as stream:
            data = stream.read(_SAMPLE_BYTES)
    except (OSError, EOFError, zlib.error):
        return Sample([])  # the reader says what is wrong with the file
    text = data.decode("utf-8", errors="replace")
    texts = list(records_of(text)) if is_json_document(source.name) else text.splitlines()
    if len(data) == _SAMPLE_BYTES and texts:
        texts = texts[:-1]  # cut short by the sample
    records, bad = [], 0
    for line in texts:
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except (ValueError, RecursionError):
            bad += 1
        if len(records) >= SAMPLE_RECORDS:
            break
    return Sample(records, bad)


#: Files auto-detection samples at most (the first ones in reading order).
_MAX_FILES = 64


@dataclass(frozen=True)
class Choice:
    mapping: Mapping
    #: What to tell the user on stderr (the preset picked), or None.
    note: str | None = None


def known_presets() -> str:
    return ", ".join((AUTO, OWN, *PRESETS))


def choose_mapping(inputs, mapping_file=None, preset: str = AUTO, timezone: str | None = None, *,
                   datasets: bool = False) -> Choice:
    """The mapping to read ``inputs`` with: ``--mapping FILE``, ``--preset NAME``, or with ``auto``
    the preset the first records of the files fit (mlmon's own shape when they fit none but have ``ts``).

    Raises UsageError for an unknown preset or both options, InputError when auto-detection finds
    JSON records that fit no format (unless ``datasets``: one file of such records is a dataset, for
    ``baseline save``), or files in different formats.
    """
    from mlmon.errors import InputError, UsageError
    from mlmon.logs.mapping import load_mapping

    preset = AUTO if preset is None else preset.lower()
    if preset not in (AUTO, OWN, *PRESETS):
        raise UsageError(f"unknown preset {preset!r}", f"Use one of: {known_presets()}.")
    if mapping_file is not None:
        if preset != AUTO:
            raise UsageError("give --mapping or --preset, not both",
                             "A preset is a mapping file: 'mlmon mapping show --preset NAME' prints it to adapt.")
        return Choice(_zoned(load_mapping(mapping_file), timezone))
    if preset != AUTO:
        return Choice(_zoned(load_preset(preset), timezone))
    found = detect_inputs(inputs)
    names = {name for _, name in found if name is not None}
    if len(names) > 1:
        seen = "; ".join(f"{source} looks like {_label(name)}" for source, name in _first_of_each(found))
        raise InputError(f"these logs mix formats ({seen})",
                         "Read each format in its own run, or name one with --preset NAME.")
    if names:
        name = names.pop()
        note = None if name == OWN else (f"reading these logs as {_label(name)} (--preset {name}); "
                                         "give --preset to choose another")
        return Choice(_zoned(load_preset(name), timezone), note)
    if datasets and len(inputs) == 1:
        return Choice(_zoned(DEFAULT_MAPPING, timezone))
    for source, sample in _unfit(inputs):
        keys = sample.keys()
        raise InputError(
            f"{source} holds JSON records in no format mlmon knows (top-level keys: {', '.join(keys[:8])}"
            f"{', …' if len(keys) > 8 else ''})",
            f"Run 'mlmon inspect {source}' to see its fields and a suggested mapping, then pass it with --mapping FILE "
            f"or name a preset with --preset ({', '.join(PRESETS)}).")
    return Choice(_zoned(DEFAULT_MAPPING, timezone))


def _label(name: str) -> str:
    return "mlmon's own log format" if name == OWN else f"the {name} preset's format"


def _zoned(mapping: Mapping, timezone: str | None) -> Mapping:
    if timezone is None:
        return mapping
    from mlmon.errors import UsageError
    from mlmon.logs.mapping import _known_zone

    if not _known_zone(timezone):
        raise UsageError(f"unknown time zone {timezone!r}", "Give a zone name such as Europe/Berlin or UTC.")
    return replace(mapping, timezone=timezone)


def _sources(inputs):
    from mlmon.errors import MlmonError
    from mlmon.logs.sources import Source, resolve_inputs

    plain = [str(i) for i in inputs if not isinstance(i, Source)]
    sources = [i for i in inputs if isinstance(i, Source)]
    if plain:
        try:
            sources += resolve_inputs(plain).sources
        except MlmonError:  # the reader reports missing files with its own message
            return []
    return [s for s in sources if not s.is_stdin][:_MAX_FILES]


def detect_inputs(inputs) -> list[tuple[str, str | None]]:
    """Each sampled file and the format its first records fit (None: empty, not JSON, or no fit)."""
    return [(source.name, detect_lines(sample_file(source).records)) for source in _sources(inputs)]


def _first_of_each(found):
    seen: dict[str, str] = {}
    for source, name in found:
        if name is not None and name not in seen:
            seen[name] = source
    return [(source, name) for name, source in seen.items()]


def _unfit(inputs):
    """Files whose first records are JSON objects of no known format."""
    for source in _sources(inputs):
        sample = sample_file(source)
        if any(isinstance(r, dict) for r in sample.records) and detect_lines(sample.records) is None:
            yield source.name, sample


def refuse_for_store(preset: str | None, timezone: str | None) -> None:
    """A store holds records mapped when they were ingested: --preset and --timezone are for ``mlmon ingest``."""
    if (AUTO if preset is None else preset) != AUTO or timezone is not None:
        from mlmon.errors import UsageError

        raise UsageError("--preset and --timezone do not apply to --store: the store holds records mapped "
                         "when they were ingested", "Give them to mlmon ingest.")
