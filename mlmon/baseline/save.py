"""``mlmon baseline save``: profile reference data into a small, versioned JSON file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Sequence

import polars as pl

from mlmon.baseline.load import DATASET_SUFFIXES, _dataset_frame, _looks_like_logs
from mlmon.baseline.reference import reference_from_frame, save_profile
from mlmon.errors import InputError
from mlmon.logs.fields import with_io_fields
from mlmon.logs.mapping import RAW_REQUEST, RAW_RESPONSE, Mapping
from mlmon.logs.reader import read_logs
from mlmon.timeparse import iso


def save_baseline(
    sources: Sequence[str],
    output: str | Path,
    *,
    mapping: Mapping,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
) -> str:
    """Write the profile; return a one-line summary."""
    first = Path(sources[0])
    if len(sources) == 1 and first.is_file() and (first.suffix.lower() in DATASET_SUFFIXES or not _looks_like_logs(first, mapping)):
        frame = _dataset_frame(first, set())
        source = {"dataset": str(first)}
    else:
        data = read_logs(list(sources), mapping, ["ts", "request_id", "status", RAW_REQUEST, RAW_RESPONSE])
        if data.skipped > data.records.height:
            raise InputError(
                f"{', '.join(sources)} does not look like logs: {data.records.height:,} records and {data.skipped:,} bad lines",
                "Pass logs, or one dataset file (.parquet, .csv, .jsonl rows).",
            )
        frame = with_io_fields(data.records)
        if since is not None:
            frame = frame.filter(pl.col("ts") >= since)
        if until is not None:
            frame = frame.filter(pl.col("ts") < until)
        source = {"files": data.files, "since": iso(since), "until": iso(until), "skipped": data.skipped}
    if frame.height == 0:
        raise InputError("the baseline data holds no records", "Check the files and --since/--until.")
    reference = reference_from_frame(frame, source)
    save_profile(reference, output, now)
    kinds = [r.kind for r in reference.fields.values()]
    ids = kinds.count("identifier")
    return (f"{output}: profile of {reference.rows:,} records, {len(kinds)} fields "
            f"({kinds.count('numeric')} numeric, {kinds.count('categorical')} categorical, "
            f"{ids} identifier{'s' if ids != 1 else ''})")
