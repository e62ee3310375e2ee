"""``mlmon baseline save``: profile reference data into a small, versioned JSON file."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Sequence

import polars as pl

from mlmon.baseline.load import DATASET_SUFFIXES, _dataset_frame, _looks_like_logs
from mlmon.baseline.reference import Reference, reference_from_frame, save_profile
from mlmon.errors import InputError, UsageError
from mlmon.logs.field_limit import MAX_FIELDS, FieldLimit, most_held_columns
from mlmon.logs.fields import with_io_fields
from mlmon.logs.mapping import RAW_REQUEST, RAW_RESPONSE, Mapping
from mlmon.logs.decode import empty_rejects
from mlmon.logs.reader import read_logs
from mlmon.timeparse import iso


@dataclass
class SavedBaseline:
    """What ``mlmon baseline save`` wrote, and the log lines it skipped."""

    reference: Reference
    rejects: pl.DataFrame
    skipped: int = 0
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def save_baseline(
    sources: Sequence[str],
    output: str | Path,
    *,
    mapping: Mapping,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
    strict: bool = False,
    max_fields: int = MAX_FIELDS,
) -> SavedBaseline:
    """Write the profile of ``sources`` (logs, or one dataset file) to ``output``.

    At most ``max_fields`` input and as many output fields are profiled (a warning says how many were not).
    """
    first = Path(sources[0])
    rejects, skipped, warnings, notes = empty_rejects(), 0, [], []
    limit = FieldLimit(max_fields)
    if len(sources) == 1 and first.is_file() and (first.suffix.lower() in DATASET_SUFFIXES or not _looks_like_logs(first, mapping)):
        frame = most_held_columns(_dataset_frame(first, set()), limit)
        source = {"dataset": str(first)}
    else:
        datasets = [s for s in sources if Path(s).suffix.lower() in (".csv", ".parquet")]
        if datasets:
            raise UsageError(
                f"{datasets[0]} is a dataset, given with other files",
                "Profile one dataset file on its own, or logs (files, directories, globs) together.",
            )
        data = read_logs(list(sources), mapping, ["ts", "request_id", "status", RAW_REQUEST, RAW_RESPONSE], strict=strict)
        rejects, skipped, warnings, notes = data.rejects, data.skipped, data.warnings, data.notes
        frame = with_io_fields(data.records, limit)
        if since is not None:
            frame = frame.filter(pl.col("ts") >= since)
        if until is not None:
            frame = frame.filter(pl.col("ts") < until)
        source = {"files": data.files, "since": iso(since), "until": iso(until), "skipped": data.skipped}
    if frame.height == 0:
        raise InputError("the baseline data holds no records", "Check the files and --since/--until.")
    warnings = [*warnings, *limit.warnings()]
    reference = reference_from_frame(frame, source, mapping.redact)
    reference.fields_left_out = limit.total_left_out
    if not reference.fields:
        raise InputError(
            "the baseline data has no input or output fields to profile",
            "Check that the records carry request/response objects, or where the mapping roots inputs and outputs.",
        )
    save_profile(reference, output, now)
    return SavedBaseline(reference, rejects, skipped, warnings, notes)
