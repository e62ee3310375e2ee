"""Write records as Parquet parts, one per UTC date, each renamed into place whole.

A part is written under a hidden temporary name in its partition's folder, flushed to disk
and renamed; it counts only once the registry names it (see :mod:`mlmon.store.registry`).
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from mlmon.errors import InputError
from mlmon.store.layout import PARTITION, StoreDir
from mlmon.store.registry import PartEntry

#: Rows per row group: small enough for --since to skip most of a day's part, large enough to compress well.
ROW_GROUP_ROWS = 128 * 1024
COMPRESSION = "zstd"


def iso_us(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class PartWriter:
    """Parts written by one run, so that a failed run can take them back."""

    def __init__(self, store: StoreDir, prefix: str = "part"):
        self.store = store
        self.run = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        self.prefix = prefix
        self.written: list[PartEntry] = []
        self._count = 0

    def write(self, records: pl.DataFrame) -> list[PartEntry]:
        """Write ``records`` (with a ``ts`` column) as one part per UTC date; the parts written."""
        if not records.height:
            return []
        dates = records.get_column("ts").dt.date()
        out = []
        for date in dates.unique().sort().to_list():
            rows = records.filter(dates == date) if date is not None else records.filter(dates.is_null())
            out.append(self._write_one(rows, "unknown" if date is None else date.isoformat()))
        return out

    def _write_one(self, rows: pl.DataFrame, day: str) -> PartEntry:
        self._count += 1
        folder = f"{PARTITION}={day}"
        name = f"{self.prefix}-{self.run}-{self._count:05d}.parquet"
        relative = f"{folder}/{name}"
        directory = self.store.root / folder
        tmp = directory / f".{name}.tmp"
        try:
            directory.mkdir(parents=True, exist_ok=True)
            rows.write_parquet(tmp, compression=COMPRESSION, statistics=True, row_group_size=ROW_GROUP_ROWS)
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, directory / name)
        except OSError as exc:
            _unlink(tmp)
            raise InputError(f"cannot write to the store {self.store.root}: {exc.strerror or exc}; nothing was "
                             "committed", "Free some space (or fix the permissions) and run again: "
                             "the next run reads the same lines again.") from None
        ts = rows.get_column("ts")
        entry = PartEntry(relative, rows.height, iso_us(ts.min()), iso_us(ts.max()), (directory / name).stat().st_size)
        self.written.append(entry)
        return entry

    def abort(self) -> None:
        """Remove every part this run wrote (none was committed)."""
        for entry in self.written:
            _unlink(self.store.root / entry.path)
        self.written.clear()


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def clean_orphans(store: StoreDir, committed: set[str]) -> int:
    """Remove parts no commit names and temporary files left by killed runs; how many were removed.

    Run only under the store's lock, after loading the registry.
    """
    removed = 0
    for folder in store.root.glob(f"{PARTITION}=*"):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            relative = f"{folder.name}/{path.name}"
            stale = path.name.endswith(".tmp") or (path.suffix == ".parquet" and relative not in committed)
            if stale and path.is_file():
                _unlink(path)
                removed += 1
        try:
            folder.rmdir()  # only when empty
        except OSError:
            pass
    for path in store.meta.glob(".*.tmp"):
        _unlink(path)
    return removed
