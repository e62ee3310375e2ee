"""Keep a store small and describable: ``compact`` merges small parts, ``prune`` applies retention,
``describe`` says what the store holds.

Compaction and pruning are crash-safe like ingest: new parts are written under new names, the
registry is committed, and only then are the replaced parts deleted. A run killed before the
commit leaves the old parts in force; one killed after it leaves files no commit names, which
the next writer removes. A reader that loaded the old registry just before the deletion reads
the new one again (see :mod:`mlmon.store.read`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import polars as pl

from mlmon.errors import InputError
from mlmon.store.layout import PARTITION, StoreDir, open_store
from mlmon.store.lock import DEFAULT_WAIT_S, store_lock
from mlmon.store.parts import PARQUET, PartWriter, clean_orphans, commit_parts, iso_us
from mlmon.store.registry import PartEntry, Registry, commit_registry, load_registry

#: Parts below this size are merged by compact (a day of logs makes a few parts of about this size).
DEFAULT_TARGET_BYTES = 256 * 1024 * 1024


@dataclass
class Maintenance:
    """What a compact or prune run did."""

    store: str
    parts_before: int = 0
    parts_after: int = 0
    parts_removed: int = 0
    rows_removed: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    partitions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _partition_of(part: PartEntry) -> str:
    return part.path.split("/", 1)[0]


def _delete(store: StoreDir, parts: list[PartEntry]) -> None:
    for part in parts:
        try:
            store.delete(part.path)
        except (OSError, InputError):
            pass  # left for the next writer's clean-up


def compact(store_text: str, *, target_bytes: int = DEFAULT_TARGET_BYTES, wait_s: float = DEFAULT_WAIT_S) -> Maintenance:
    """Merge each partition's small parts into as few parts as fit ``target_bytes``, keeping row order."""
    store = open_store(store_text)
    with store_lock(store, wait_s, "compact"):
        registry = load_registry(store)
        clean_orphans(store, registry)
        done = Maintenance(store_text, parts_before=len(registry.parts), bytes_before=sum(p.bytes for p in registry.parts))
        groups: dict[str, list[PartEntry]] = defaultdict(list)
        for part in registry.parts:
            if part.bytes < target_bytes:
                groups[_partition_of(part)].append(part)
        writer = PartWriter(store, prefix="compact")
        replaced: dict[str, list[PartEntry]] = {}
        try:
            for folder, parts in sorted(groups.items()):
                for batch in _batches(parts, target_bytes):
                    if len(batch) < 2:
                        continue
                    merged = _merge(store, writer, folder, batch)
                    replaced[batch[0].path] = [merged]
                    for part in batch[1:]:
                        replaced[part.path] = []
                    done.partitions.append(folder.split("=", 1)[1])
            if not replaced:
                done.parts_after, done.bytes_after = done.parts_before, done.bytes_before
                return done
            old = [p for p in registry.parts if p.path in replaced]
            registry.parts = [q for p in registry.parts for q in (replaced.get(p.path, [p]))]
            registry.updated = iso_us(datetime.now(timezone.utc))
        except BaseException:
            writer.abort()
            raise
        commit_parts(store, registry, writer)
        _delete(store, old)
        done.parts_removed = len(old)
        done.parts_after, done.bytes_after = len(registry.parts), sum(p.bytes for p in registry.parts)
        done.partitions = sorted(set(done.partitions))
        return done


def _batches(parts: list[PartEntry], target_bytes: int) -> list[list[PartEntry]]:
    batches: list[list[PartEntry]] = [[]]
    size = 0
    for part in parts:
        if batches[-1] and size + part.bytes > target_bytes:
            batches.append([])
            size = 0
        batches[-1].append(part)
        size += part.bytes
    return batches


def _merge(store: StoreDir, writer: PartWriter, folder: str, batch: list[PartEntry]) -> PartEntry:
    """One part holding ``batch``'s rows in order, streamed (memory does not grow with the parts)."""
    relative = writer.next_path(folder.split("=", 1)[1])
    lf = pl.scan_parquet([store.url(p.path) for p in batch], hive_partitioning=False, missing_columns="insert",
                         extra_columns="ignore", storage_options=store.storage_options)
    missing = next((p.path for p in batch if not store.has(p.path)), None)
    if missing is not None:  # under the lock nothing else deletes parts: this one is lost
        raise InputError(f"cannot compact {folder} of the store {store}: its part {missing} is missing; "
                         "nothing was changed", "Restore it from a backup, or move the store aside and build it "
                         "again with mlmon ingest from the logs.")
    try:
        size = store.sink_part(relative, lf, **PARQUET)
    except OSError as exc:
        raise InputError(f"cannot write to the store {store}: {exc.strerror or exc}; nothing was changed",
                         "Free some space and run again.") from None
    except pl.exceptions.PolarsError as exc:
        # Polars reports a failed write (a full disk, EFBIG) as a ComputeError too: the message allows both.
        raise InputError(f"cannot compact {folder} of the store {store}: a part cannot be read or the merged "
                         f"part cannot be written ({str(exc).splitlines()[0][:160]}); nothing was changed",
                         "Find the part in the warning of mlmon report --store, and restore or remove it "
                         "(README, \"When something is broken\").") from None
    mins = [p.min_ts for p in batch if p.min_ts]
    maxs = [p.max_ts for p in batch if p.max_ts]
    return writer.add(PartEntry(relative, sum(p.rows for p in batch), min(mins) if mins else None,
                                max(maxs) if maxs else None, size))


def prune(store_text: str, older_than: timedelta, now: datetime, *, wait_s: float = DEFAULT_WAIT_S) -> Maintenance:
    """Remove the days that end before ``now - older_than`` (whole UTC days: a day partly inside is kept).

    The sources' offsets stay, so the pruned lines are never ingested again from logs still on disk.
    """
    store = open_store(store_text)
    cutoff = (now - older_than).astimezone(timezone.utc).date()
    with store_lock(store, wait_s, "prune"):
        registry = load_registry(store)
        clean_orphans(store, registry)
        done = Maintenance(store_text, parts_before=len(registry.parts), bytes_before=sum(p.bytes for p in registry.parts))
        old = [p for p in registry.parts if _day(p) is not None and _day(p) < cutoff]
        if old:
            registry.parts = [p for p in registry.parts if p not in old]
            registry.updated = iso_us(datetime.now(timezone.utc))
            commit_registry(store, registry)
            _delete(store, old)
        done.parts_removed = len(old)
        done.rows_removed = sum(p.rows for p in old)
        done.partitions = sorted({_partition_of(p).split("=", 1)[1] for p in old})
        done.parts_after, done.bytes_after = len(registry.parts), sum(p.bytes for p in registry.parts)
        return done


def _day(part: PartEntry) -> date | None:
    try:
        return date.fromisoformat(_partition_of(part).split("=", 1)[1])
    except ValueError:
        return None


def describe(store_text: str) -> dict[str, Any]:
    """What the store holds: sources, time range, partitions, size on disk and schema (a JSON document)."""
    store = open_store(store_text)
    registry = load_registry(store)
    partitions: dict[str, dict[str, int]] = {}
    for part in registry.parts:
        day = _partition_of(part).split("=", 1)[1]
        entry = partitions.setdefault(day, {"parts": 0, "rows": 0, "bytes": 0})
        entry["parts"] += 1
        entry["rows"] += part.rows
        entry["bytes"] += part.bytes
    mins = [p.min_ts for p in registry.parts if p.min_ts]
    maxs = [p.max_ts for p in registry.parts if p.max_ts]
    schema: dict[str, str] = {}
    if registry.parts:
        try:
            schema = {k: str(v) for k, v in pl.scan_parquet(store.url(registry.parts[-1].path),
                                                              storage_options=store.storage_options).collect_schema().items()}
        except (OSError, pl.exceptions.PolarsError):
            schema = {}
    meta_bytes = store.meta_bytes()
    return {
        "store": store_text,
        "generation": registry.generation,
        "created": registry.created,
        "updated": registry.updated,
        "records": registry.rows,
        "skipped": sum(s.skipped for s in registry.sources),
        "events_waiting": registry.pending.rows if registry.pending is not None else 0,
        "time_range": {"from": min(mins) if mins else None, "to": max(maxs) if maxs else None},
        "size_bytes": sum(p.bytes for p in registry.parts) + meta_bytes,
        "parts": len(registry.parts),
        "partitions": [{PARTITION: day, **counts} for day, counts in sorted(partitions.items())],
        "sources": [{"name": s.name, "offset": s.offset, "lines": s.lines, "records": s.records, "skipped": s.skipped,
                     "skipped_by_reason": s.skipped_by_reason, "gzip": s.gz is not None,
                     "truncations": s.truncations, "last_read": s.last_read} for s in registry.sources],
        "schema": schema,
        "redact": registry.redact,
    }


__all__ = ["compact", "prune", "describe", "Maintenance", "Registry"]
