"""Write records as Parquet parts, one per UTC date, each in place whole before any commit names it."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import polars as pl

from mlmon.errors import InputError
from mlmon.store.layout import PARTITION, StoreDir
from mlmon.store.registry import PartEntry, Registry, commit_registry

#: Rows per row group: small enough for --since to skip most of a day's part, large enough to compress well.
ROW_GROUP_ROWS = 128 * 1024
PARQUET = {"compression": "zstd", "statistics": True, "row_group_size": ROW_GROUP_ROWS}


def iso_us(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class PartWriter:
    """Parts written by one run, so that a failed run can take them back."""

    def __init__(self, store: StoreDir, prefix: str = "part"):
        self.store = store
        self.run = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        self.prefix = prefix
        self.written: list[PartEntry] = []
        #: Other files this run wrote (the waiting events' file): removed by :meth:`abort` too.
        self.side: list[str] = []
        self._count = 0

    def next_path(self, day: str) -> str:
        self._count += 1
        return f"{PARTITION}={day}/{self.prefix}-{self.run}-{self._count:05d}.parquet"

    def write(self, records: pl.DataFrame) -> list[PartEntry]:
        """Write ``records`` (with a ``ts`` column) as one part per UTC date; the parts written."""
        if not records.height:
            return []
        dates = records.get_column("ts").dt.date()
        out = []
        for date in dates.unique().sort().to_list():
            rows = records.filter(dates == date) if date is not None else records.filter(dates.is_null())
            relative = self.next_path("unknown" if date is None else date.isoformat())
            size = self._guard(lambda: self.store.write_part(relative, rows, **PARQUET))
            ts = rows.get_column("ts")
            out.append(self.add(PartEntry(relative, rows.height, iso_us(ts.min()), iso_us(ts.max()), size)))
        return out

    def add(self, entry: PartEntry) -> PartEntry:
        self.written.append(entry)
        return entry

    def _guard(self, write):
        try:
            return write()
        except (OSError, pl.exceptions.PolarsError) as exc:
            # Polars reports a failed write (a full disk, EFBIG) as a ComputeError, not an OSError.
            why = (exc.strerror if isinstance(exc, OSError) and exc.strerror
                   else f"writing a Parquet part failed ({str(exc).splitlines()[0][:160]})")
            raise InputError(f"cannot write to the store {self.store}: {why}; nothing was "
                             "committed", "Free some space (or fix the permissions) and run again: "
                             "the next run reads the same lines again.") from None

    def write_side(self, relative: str, frame: pl.DataFrame) -> PartEntry:
        """Write a file that is not a part of the records (the waiting events); :meth:`abort` removes it."""
        self.side.append(relative)
        size = self._guard(lambda: self.store.write_part(relative, frame, **PARQUET))
        return PartEntry(relative, frame.height, None, None, size)

    def abort(self) -> None:
        """Remove every part (and side file) this run wrote (none was committed)."""
        for relative in [*(e.path for e in self.written), *self.side]:
            try:
                self.store.delete(relative)
            except (OSError, InputError):
                pass  # the next writer removes it
        self.written.clear()
        self.side.clear()


def commit_parts(store: StoreDir, registry: Registry, writer: PartWriter) -> None:
    """Commit ``registry``, which names the parts ``writer`` wrote; take them back only if it was not committed.

    A KeyboardInterrupt here may come after the registry's rename (while it is made durable): the
    parts are committed then and must stay. One before the rename leaves them to the next writer's
    clean-up, as a kill would.
    """
    try:
        commit_registry(store, registry)
    except InputError:  # the registry could not be written: nothing was committed
        writer.abort()
        raise


def previous_pending(store: StoreDir) -> set[str]:
    """The waiting-events file the previous commit (``registry.prev.json``) names: kept, so that restoring that
    commit by hand finds it (the next commit after it lets it go)."""
    import json

    from mlmon.store.layout import PREVIOUS

    try:
        raw, _ = store.read_meta(PREVIOUS)
        pending = json.loads(raw.decode("utf-8")).get("pending") if raw else None
        return {pending["path"]} if isinstance(pending, dict) and isinstance(pending.get("path"), str) else set()
    except (InputError, ValueError, UnicodeDecodeError, AttributeError):
        return set()


def clean_orphans(store: StoreDir, registry: Registry) -> int:
    """Remove parts (and waiting-event files) no commit names and temporary files left by killed runs;
    how many were removed.

    Run only under the store's lock, after loading the registry.
    """
    stray = store.stray_files(registry.committed() | previous_pending(store))
    for relative in stray:
        store.delete(relative)
    return len(stray)
