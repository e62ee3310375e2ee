"""Read what logs (or a store) gained since the last read: the new complete lines, never a whole file again.

A :class:`LogTailer` keeps, in memory, one :class:`~mlmon.store.registry.SourceEntry` per file, as
``mlmon ingest`` keeps in a store's registry, and plans each read with ingest's own
:func:`~mlmon.store.tracking.plan_reads`: a file is known by its identity and the fingerprint of its
first bytes, so a rotated (renamed, compressed) file goes on from its offset, a truncated one is read
again from its start, and a last line without its newline waits for the next read. The bytes are
decoded chunk by chunk by the same code as ingest's. A :class:`StoreTailer` reads the parts a store
committed since the last read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Sequence

import polars as pl

from mlmon.logs.decode import empty_rejects
from mlmon.logs.mapping import Mapping
from mlmon.logs.pairs import Assembler
from mlmon.logs.reader import DEFAULT_CHUNK_BYTES, DEFAULT_MAX_LINE_BYTES, stream_logs
from mlmon.logs.sources import resolve_inputs
from mlmon.store.ingest import DEFAULT_PAIR_WAIT
from mlmon.store.registry import SourceEntry
from mlmon.store.tracking import ROTATION, TRUNCATION, plan_reads


@dataclass
class Batch:
    """What one read found: the new records (the tailer's schema), the bad lines, and what happened."""

    records: pl.DataFrame
    rejects: pl.DataFrame
    bytes_read: int = 0
    rotations: int = 0
    truncations: int = 0
    #: Everything read before was replaced (a store compacted): the caller starts its windows afresh.
    reset: bool = False
    notes: list[str] = field(default_factory=list)
    #: From a store: its bad lines by reason, counted when they were ingested (replacing earlier counts).
    skipped_by_reason: dict[str, int] | None = None


class LogTailer:
    """The logs named by ``patterns`` (files, directories, globs; no stdin), read a little more on each call."""

    def __init__(self, patterns: Sequence[str], mapping: Mapping, fields: Sequence[str], *,
                 max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                 pair_wait: timedelta | None = None, clock: Callable[[], datetime] | None = None):
        self.patterns = list(patterns)
        self.mapping = mapping
        # Batched rows are exploded, and paired events joined, as report does; an event whose partner is not
        # read yet waits here (in memory) until it comes, or for pair_wait after the newest event read.
        self.assembler = (Assembler(mapping) if mapping.hooks.join is not None or mapping.hooks.explode is not None
                          else None)
        self.pair_wait = pair_wait if pair_wait is not None else DEFAULT_PAIR_WAIT
        #: Live, an unanswered request's wait also ends by the clock: when traffic stops, its failure still shows.
        self.clock = clock
        # An empty stream gives the reader's projection and column types for these fields, as report reads them.
        stream = stream_logs([], mapping, fields, max_line_bytes=max_line_bytes, chunk_bytes=chunk_bytes)
        self.projection, self.schema = stream.projection, stream.schema
        from mlmon.store.ingest import IngestOptions

        self._options = IngestOptions(mapping=mapping, max_line_bytes=max_line_bytes, chunk_bytes=chunk_bytes)
        self.entries: list[SourceEntry] = []
        self.files: list[str] = []

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.schema)

    def _take(self, records: pl.DataFrame, sink, frames: list, assembled: bool = False) -> None:
        if self.assembler is not None and not assembled:
            records = self.assembler.feed(records)
        if records.height:
            records = records.select([(pl.col(c) if c in records.columns else pl.lit(None).alias(c)).cast(t)
                                      for c, t in self.schema.items()])
            if sink is not None:
                sink(records)
            else:
                frames.append(records)

    def read(self, since: datetime | None = None, sink: Callable[[pl.DataFrame], None] | None = None) -> Batch:
        """The complete lines appended (or in files new, rotated in, or truncated) since the last call.

        With ``sink``, each chunk's records go to it as they are decoded (a first read of a large log
        then never holds all its records at once) and the batch's ``records`` stay empty.
        ``since`` is for a store's sake: a log's new bytes are all read, whatever their times.
        The patterns are resolved again each time, so files that appear (a rotation's new file) are found.
        """
        from mlmon.store.ingest import decoded_chunks  # ingest's chunked decoding of a plan's bytes

        found = resolve_inputs(self.patterns)
        self.files = [s.name for s in found.sources]
        plans, notes = plan_reads(found.sources, self.entries)
        frames: list[pl.DataFrame] = []
        bad: list[pl.DataFrame] = []
        batch = Batch(self.empty(), empty_rejects(), notes=notes)
        for plan in plans:
            batch.rotations += plan.event == ROTATION
            batch.truncations += plan.event == TRUNCATION
            if not plan.has_new_bytes:
                continue
            lines, content = plan.entry.lines, plan.start
            for records, rejects, n_lines, consumed in decoded_chunks(plan, self.projection, self.mapping, self._options):
                if rejects.height:
                    bad.append(rejects.with_columns(pl.col("line") + lines))
                lines += n_lines
                content += consumed
                self._take(records, sink, frames)
            batch.bytes_read += content - plan.start
            plan.entry.offset, plan.entry.lines = content, lines
            if plan.compressed:
                plan.entry.gz = plan.gz_identity
        if self.assembler is not None and self.mapping.hooks.join is not None:
            now = self.clock() if self.clock is not None else None
            now_ns = int(now.timestamp() * 1e9) if now is not None else None
            alone = self.assembler.expire(int(self.pair_wait.total_seconds() * 1e9), now_ns)
            if alone is not None:
                self._take(alone, sink, frames, assembled=True)
        if frames:
            batch.records = pl.concat(frames)
        if bad:
            batch.rejects = pl.concat(bad)
        return batch


class StoreTailer:
    """A store's committed parts, each read once; a compaction or prune (parts replaced) reads the range again."""

    def __init__(self, store_text: str, fields: Sequence[str], span: timedelta | None = None):
        from mlmon.store.layout import open_store

        self.store_text = store_text
        self.store = open_store(store_text)
        self.fields = list(dict.fromkeys(["ts", "status", "error", *fields]))
        self.span = span
        self._seen: set[str] = set()
        self.files: list[str] = []
        from mlmon.logs.mapping import CANONICAL_FIELDS
        from mlmon.logs.reader import KIND_TYPES

        self.schema = {name: KIND_TYPES[CANONICAL_FIELDS[name]] if name in CANONICAL_FIELDS else pl.String()
                       for name in self.fields}

    def read(self, since: datetime | None = None, sink: Callable[[pl.DataFrame], None] | None = None) -> Batch:
        """The records of parts committed since the last call, from ``since`` on (parts that end before it are not
        opened). On the first call without ``since``: the last ``span`` of the store's records."""
        from mlmon.store.read import iso_time, parts_in_range, read_parts
        from mlmon.store.registry import load_registry

        registry = load_registry(self.store)
        paths = {p.path for p in registry.parts}
        reset = bool(self._seen - paths)  # parts replaced: their records are in new parts now
        if reset:
            self._seen = set()
        if since is None and not self._seen and self.span is not None:
            ends = [iso_time(p.max_ts) for p in registry.parts if p.max_ts]
            since = max(ends) - self.span if ends else None
        new = [p for p in parts_in_range(registry, since, None) if p.path not in self._seen]
        records, warnings, _left_out = read_parts(self.store, new, self.fields, since, None)
        self._seen |= {p.path for p in new}
        self.files = [e.name for e in registry.sources]
        reasons: dict[str, int] = {}
        for entry in registry.sources:
            for reason, count in entry.skipped_by_reason.items():
                reasons[reason] = reasons.get(reason, 0) + count
        if sink is not None and records.height and not reset:  # after a reset, the caller clears first
            sink(records)
            records = records.clear()
        return Batch(records, empty_rejects(), bytes_read=sum(p.bytes for p in new),
                     reset=reset, notes=warnings, skipped_by_reason=reasons)


__all__ = ["Batch", "LogTailer", "StoreTailer"]
