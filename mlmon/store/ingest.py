"""``mlmon ingest``: read the new complete lines of each log file into the store, then commit.

Every step before the commit can fail or be killed without harm: parts are written under
new names, and the registry (the offsets) is replaced last, in one rename. So a run either
adds all it read or nothing, and the next run reads what a failed one did not commit.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path
import zlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator, Sequence

import polars as pl

from mlmon.errors import InputError
from mlmon.logs.chunks import Chunk, iter_chunks, load_span, plan_spans
from mlmon.logs.decode import Projection, decode_chunk, decode_chunk_fast, empty_rejects
from mlmon.logs.pairs import Assembler
from mlmon.logs.shape import decode_chunk_shaped, mapping_for_source
from mlmon.logs.mapping import CANONICAL_FIELDS, DEFAULT_MAPPING, RAW_REQUEST, RAW_RESPONSE, Mapping
from mlmon.logs.normalize import CHECKED_FIELDS
from mlmon.logs.reader import DEFAULT_CHUNK_BYTES, DEFAULT_MAX_LINE_BYTES, Progress, record_schema
from mlmon.logs.sources import Inputs, resolve_inputs
from mlmon.logs.verdict import judge, reason_counts
from mlmon.redact import redact_columns
from mlmon.safetext import printable
from mlmon.store.layout import LocalStore, StoreDir, create_store
from mlmon.store.lock import DEFAULT_WAIT_S, store_lock
from mlmon.store.read import iso_time
from mlmon.store.parts import PartWriter, clean_orphans, commit_parts, iso_us
from mlmon.store.registry import Registry, load_registry
from mlmon.store.waiting import read_waiting, waiting_path
from mlmon.store.remote_logs import RemoteSource, split_inputs, remote_sources
from mlmon.store.tracking import COPY, ROTATION, TRUNCATION, ReadPlan, plan_reads, refuse_stdin

#: Records held before they are written as parts: bounds memory whatever the input's size.
FLUSH_ROWS = 250_000
#: The text columns whose secrets are redacted before anything is written.
_TEXT_COLUMNS = (RAW_REQUEST, RAW_RESPONSE, "error")
DEFAULT_DEDUP_WINDOW = timedelta(days=1)
#: How long a joined event waits in the store for its partner (see IngestOptions.pair_wait).
DEFAULT_PAIR_WAIT = timedelta(minutes=10)


def store_fields(mapping: Mapping) -> list[str]:
    """The columns a store keeps: every canonical field, and the request and response objects as JSON text."""
    return list(dict.fromkeys([*CANONICAL_FIELDS, *mapping.constants, RAW_REQUEST, RAW_RESPONSE]))


#: The mapping's attributes before the hooks came (their repr is what older stores' digests hash).
_FIRST_ATTRIBUTES = ("fields", "inputs", "outputs", "latency_unit", "ts_unit", "constants", "redact")


def mapping_digest(mapping: Mapping) -> str:
    """A digest of what the mapping reads: the repr mlmon gave it before the hooks came, plus each later
    attribute that is not at its default (so a store built with mlmon's own shape keeps its digest)."""
    text = "Mapping(" + ", ".join(f"{name}={getattr(mapping, name)!r}" for name in _FIRST_ATTRIBUTES)
    default = Mapping()
    for name in ("timezone", "ts_format", "status_map", "hooks"):
        if getattr(mapping, name) != getattr(default, name):
            text += f", {name}={getattr(mapping, name)!r}"
    return hashlib.sha256((text + ")").encode()).hexdigest()[:16]


#: Canonical fields added after stores were first built, newest first: a store built before one of them
#: came has the digest of its mapping without them, when they were at their own name (the default).
_LATER_FIELDS = (("tokens_in", "tokens_out", "tokens_total", "cost", "ttft_ms"), ("hotfix",))


def mapping_digests(mapping: Mapping) -> tuple[str, ...]:
    """The digests a store built with ``mapping`` may carry: its own, and those mlmon versions before
    :data:`_LATER_FIELDS` gave it, so that a store built before a canonical field was added ingests on."""
    digests = [mapping_digest(mapping)]
    fields = dict(mapping.fields)
    for later in _LATER_FIELDS:
        if any(fields.get(name) != (name,) for name in later):
            break
        fields = {k: v for k, v in fields.items() if k not in later}
        digests.append(mapping_digest(replace(mapping, fields=fields)))
    return tuple(digests)


@dataclass
class IngestOptions:
    mapping: Mapping = DEFAULT_MAPPING
    strict: bool = False
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    #: ``request_id`` to drop records whose id the store holds already (within ``dedup_window``).
    dedup: str | None = None
    dedup_window: timedelta = DEFAULT_DEDUP_WINDOW
    wait_s: float = DEFAULT_WAIT_S
    progress: Progress | None = None
    #: With a mapping's join: how long a request (or response) waits in the store for its partner, counted
    #: back from the newest event read, before it is a record alone (a request then failed).
    pair_wait: timedelta = DEFAULT_PAIR_WAIT


@dataclass
class IngestSummary:
    store: str
    files_read: int = 0
    bytes_read: int = 0
    records_added: int = 0
    skipped: int = 0
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    rotations: int = 0
    truncations: int = 0
    duplicates_dropped: int = 0
    #: With a join: events left waiting in the store for their partner, and those that waited too long.
    events_waiting: int = 0
    events_expired: int = 0
    parts_written: int = 0
    orphans_removed: int = 0
    files: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rejects: pl.DataFrame = field(default_factory=empty_rejects)

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": self.store, "files_read": self.files_read, "bytes_read": self.bytes_read,
            "records_added": self.records_added, "skipped": self.skipped, "skipped_by_reason": self.skipped_by_reason,
            "rotations": self.rotations, "truncations": self.truncations,
            "duplicates_dropped": self.duplicates_dropped, "parts_written": self.parts_written,
            "events_waiting": self.events_waiting, "events_expired": self.events_expired,
            "files": self.files, "warnings": self.warnings, "notes": self.notes,
        }

    def line(self) -> str:
        """The one summary line a run prints on stderr."""
        def n(count: int, word: str) -> str:
            return f"{count:,} {word}{'' if count == 1 else 's'}"
        parts = [f"{n(self.files_read, 'file')} read", human_bytes(self.bytes_read), f"{n(self.records_added, 'record')} added",
                 f"{self.skipped:,} skipped"]
        if self.rotations:
            parts.append(n(self.rotations, "rotation") + " seen")
        if self.truncations:
            parts.append(n(self.truncations, "truncated file") + " read again from the start")
        if self.duplicates_dropped:
            parts.append(n(self.duplicates_dropped, "duplicate") + " dropped")
        if self.events_waiting:
            parts.append(n(self.events_waiting, "event") + " waiting for its partner")
        if self.events_expired:
            parts.append(n(self.events_expired, "event") + f" alone after {'its' if self.events_expired == 1 else 'their'} wait")
        return "ingest: " + ", ".join(parts)


def human_bytes(count: float) -> str:
    """``16.6 MB``: decimal units, as ingest's summary and ``store info`` give sizes."""
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if count < 1000 or unit == "TB":
            return f"{count:,.0f} {unit}" if unit == "bytes" else f"{count:,.1f} {unit}"
        count /= 1000
    return ""


def ingest(inputs: Sequence[str], store_text: str, options: IngestOptions | None = None) -> IngestSummary:
    """Ingest the new complete lines of ``inputs`` into the store at ``store_text`` (created if missing)."""
    options = options or IngestOptions()
    local, remote = split_inputs(inputs)
    found = resolve_inputs(local) if local else Inputs([])
    refuse_stdin(found.sources)  # before create_store: a refused run leaves no directory behind
    for url in remote:
        found.sources.extend(remote_sources(url))  # type: ignore[arg-type]
    store = create_store(store_text)
    if isinstance(store, LocalStore):  # a store inside a logs directory is not read as logs
        inside = store.root.resolve()
        found.sources = [s for s in found.sources
                         if s.path is None or inside not in Path(os.path.realpath(s.path)).parents]
    with store_lock(store, options.wait_s, "ingest"):
        registry = load_registry(store)
        digest = mapping_digest(options.mapping)
        if registry.mapping not in (None, *mapping_digests(options.mapping)):
            raise InputError(f"the store {printable(store_text)} was built with another mapping",
                             "Ingest with the --mapping the store was built with, or into a new store.")
        summary = IngestSummary(store=store_text, notes=list(found.notes))
        summary.orphans_removed = clean_orphans(store, registry)
        plans, notes = plan_reads(found.sources, registry.sources)
        summary.notes.extend(notes)
        writer = PartWriter(store)
        try:
            waiting = _run(plans, store, registry, writer, options, summary)
            if options.mapping.hooks.join is not None:
                # The waiting events are committed with the offsets past them, in one step: a killed run
                # leaves the registry naming the old file, which still holds what the old offsets left.
                registry.pending = (writer.write_side(waiting_path(writer.run), waiting)
                                    if waiting is not None and waiting.height else None)
            registry.mapping = digest
            registry.redact = list(options.mapping.redact)
            now = iso_us(datetime.now(timezone.utc))
            registry.created = registry.created or now
            registry.updated = now
            registry.parts.extend(writer.written)
        except BaseException:
            writer.abort()
            raise
        commit_parts(store, registry, writer)
        # The waiting events the previous commit named stay until the next run: registry.prev.json names them,
        # and restoring it (README "When something is broken") must find them. clean_orphans removes them then.
    return summary


def _run(plans: list[ReadPlan], store: StoreDir, registry: Registry, writer: PartWriter, options: IngestOptions,
         summary: IngestSummary) -> pl.DataFrame | None:
    """Read the plans into parts; with a join, the events left waiting for their partner."""
    mapping = options.mapping
    wanted = store_fields(mapping)
    names = list(dict.fromkeys([*wanted, *CHECKED_FIELDS]))
    projection = Projection.flat(mapping, names) if mapping.shaped else Projection.build(mapping, names)
    schema = record_schema(projection, wanted)
    pairing = mapping.hooks.join is not None
    rows = Assembler(mapping) if mapping.hooks.explode is not None or pairing else None
    if pairing and registry.pending is not None:
        rows.resume(read_waiting(store, registry.pending))
    buffered: list[pl.DataFrame] = []
    rejects: list[pl.DataFrame] = []
    good_by_file: dict[str, int] = {}
    held = 0
    total = sum((p.end - p.start) if p.end is not None else (p.source.size or 0) for p in plans) or None
    done = 0
    dedup = _Dedup(store, registry, writer, options) if options.dedup else None

    def flush() -> None:
        nonlocal held
        if not buffered:
            return
        frame = pl.concat(buffered)
        buffered.clear()
        held = 0
        frame = redact_columns(frame, _TEXT_COLUMNS, mapping.redact)
        if dedup is not None:
            frame = dedup.keep_new(frame)
        summary.records_added += frame.height
        writer.write(frame)

    for plan in plans:
        if plan.event == ROTATION:
            summary.rotations += 1
        elif plan.event == TRUNCATION:
            summary.truncations += 1
            summary.notes.append(f"{printable(plan.source.name)} was truncated: read again from the start")
        if not plan.has_new_bytes:
            continue
        entry = plan.entry
        lines_before = entry.lines
        added = skipped = 0
        reasons: dict[str, int] = {}
        content = plan.start
        for records, bad, n_lines, consumed in decoded_chunks(plan, projection, mapping, options):
            if bad.height:
                bad = bad.with_columns(pl.col("line") + lines_before)
                if options.strict:
                    first = bad.row(0, named=True)
                    raise InputError(f"{first['file']}:{first['line']}: bad log line ({first['reason']}); "
                                     "nothing was ingested",
                                     "Fix or remove the line, or run without --strict to skip bad lines.")
                rejects.append(bad)
                skipped += bad.height
                for reason, count in reason_counts(bad).items():
                    reasons[reason] = reasons.get(reason, 0) + count
            lines_before += n_lines
            content += consumed
            if rows is not None:
                records = rows.feed(records)
            if records.height:
                buffered.append(_as_schema(records, schema))
                held += records.height
                added += records.height
            if options.progress is not None:
                options.progress(done + (content - plan.start), total, plan.source.name)
            if held >= FLUSH_ROWS:
                flush()
        read = content - plan.start
        done += read
        summary.files_read += 1
        summary.bytes_read += read
        good_by_file[plan.source.name] = added
        entry.offset, entry.lines = content, lines_before
        entry.records += added
        entry.skipped += skipped
        for reason, count in reasons.items():
            entry.skipped_by_reason[reason] = entry.skipped_by_reason.get(reason, 0) + count
        entry.last_read = iso_us(datetime.now(timezone.utc))
        if plan.compressed:
            entry.gz = plan.gz_identity
        summary.files.append({"file": plan.source.name, "from": plan.start, "to": content, "records": added,
                              "skipped": skipped, "event": plan.event})
    if pairing:
        alone = rows.expire(int(options.pair_wait.total_seconds() * 1e9))
        if alone is not None and alone.height:
            summary.events_expired = alone.height
            buffered.append(_as_schema(alone, schema))
        summary.events_waiting = rows.pending.height if rows.pending is not None else 0
    flush()
    summary.parts_written = len(writer.written)
    bad = pl.concat(rejects) if rejects else empty_rejects()
    summary.rejects = bad
    summary.skipped = bad.height
    summary.skipped_by_reason = reason_counts(bad)
    if dedup is not None:
        summary.duplicates_dropped = dedup.dropped
    # Bad lines and not one good record, in this run or before, is an error (as in report); bad new
    # lines beside good ones are a warning per file when they outnumber its good records.
    if bad.height and (summary.records_added or not registry.rows):
        summary.warnings.extend(judge(good_by_file, bad, mapped=options.mapping != DEFAULT_MAPPING))
    if not pairing or rows.pending is None:
        return None
    return redact_columns(rows.pending, [c for c in _TEXT_COLUMNS if c in rows.pending.columns], mapping.redact)


def _as_schema(records: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return records.select([(pl.col(c) if c in records.columns else pl.lit(None).alias(c)).cast(t)
                           for c, t in schema.items()])


def decoded_chunks(plan: ReadPlan, projection: Projection, mapping: Mapping,
             options: IngestOptions) -> Iterator[tuple[pl.DataFrame, pl.DataFrame, int, int]]:
    """(records, rejects, lines, content bytes consumed) of each chunk of the plan's new bytes, in order."""
    name = plan.source.name
    mapping = mapping_for_source(mapping, name, getattr(plan.source, "path", None))
    # As the reader does: each chunk is parsed whole first, and after one holds a bad line the rest
    # take the line path at once (a log with bad lines tends to have them throughout).
    whole = [True]

    def decode(chunk: Chunk):
        if mapping.shaped:
            return decode_chunk_shaped(chunk, name, projection, mapping, options.max_line_bytes)
        if whole[0]:
            fast = decode_chunk_fast(chunk, projection, mapping)
            if fast is not None:
                return fast[0], empty_rejects(), fast[1]
            whole[0] = False
        return decode_chunk(chunk, name, projection, mapping, options.max_line_bytes)

    try:
        if isinstance(plan.source, RemoteSource):
            yield from _remote_chunks(plan, decode, options)
            return
        if plan.compressed:
            yield from _gzip_chunks(plan, decode, options)
            return
        with open(plan.source.path, "rb") as handle, ThreadPoolExecutor(2, thread_name_prefix="mlmon-ingest") as pool:
            fd = handle.fileno()
            spans = plan_spans(fd, plan.end, chunk_bytes=options.chunk_bytes, max_line_bytes=options.max_line_bytes,
                               start=plan.start)
            pending: deque = deque()
            for span in spans:
                pending.append((pool.submit(lambda s: decode(load_span(fd, s, options.max_line_bytes)), span),
                                span.end - span.start))
                if len(pending) >= 3:
                    future, size = pending.popleft()
                    yield (*future.result(), size)
            while pending:
                future, size = pending.popleft()
                yield (*future.result(), size)
    except OSError as exc:
        raise InputError(f"cannot read {printable(name)}: {exc.strerror or exc}",
                         "Check that the file is complete and readable.") from None


def _remote_chunks(plan: ReadPlan, decode: Callable, options: IngestOptions):
    """Chunks of an object's content after ``plan.start``, streamed to its end."""
    source = plan.source
    if not source.compressed:
        stream = source.stream(plan.start)
        before = 0
        for chunk in iter_chunks(stream, chunk_bytes=options.chunk_bytes, max_line_bytes=options.max_line_bytes):
            position = stream.tell()
            yield (*decode(chunk), position - before)
            before = position
        return
    yield from _gzip_chunks(plan, decode, options, gzip.GzipFile(fileobj=source.stream(), mode="rb"))


def _gzip_chunks(plan: ReadPlan, decode: Callable, options: IngestOptions, opened=None):
    """Chunks of a gzip file's content after ``plan.start``, read to its end."""
    try:
        with opened or gzip.open(plan.source.path, "rb") as stream:
            left = plan.start
            while left > 0:
                skipped = stream.read(min(left, 16 << 20))
                if not skipped:
                    break
                left -= len(skipped)
            before = plan.start - left
            for chunk in iter_chunks(stream, chunk_bytes=options.chunk_bytes, max_line_bytes=options.max_line_bytes):
                position = stream.tell()
                yield (*decode(chunk), position - before)
                before = position
    except (EOFError, zlib.error, gzip.BadGzipFile):
        raise InputError(f"cannot read {printable(plan.source.name)}: the compressed data is corrupt or truncated",
                         "Check the file with gzip -t.") from None


class _Dedup:
    """Drops records whose request id the store (or this run) holds already, within a look-back window."""

    def __init__(self, store: StoreDir, registry: Registry, writer: PartWriter, options: IngestOptions):
        self.store, self.registry, self.writer, self.window = store, registry, writer, options.dedup_window
        self.dropped = 0

    def keep_new(self, frame: pl.DataFrame) -> pl.DataFrame:
        ids = pl.col("request_id")
        before = frame.height
        frame = frame.filter(ids.is_null() | ids.is_first_distinct())
        lo, hi = frame.get_column("ts").min(), frame.get_column("ts").max()
        if lo is not None:
            lo, hi = lo - self.window, hi + self.window
            parts = [p for p in [*self.registry.parts, *self.writer.written]
                     if p.min_ts and p.max_ts and iso_time(p.min_ts) <= hi and iso_time(p.max_ts) >= lo]
            if parts:
                seen = (pl.scan_parquet([self.store.url(p.path) for p in parts], storage_options=self.store.storage_options)
                        .filter(pl.col("ts").is_between(lo, hi) & ids.is_not_null()).select(ids).unique().collect())
                frame = frame.join(seen, on="request_id", how="anti", nulls_equal=False) if seen.height else frame
        self.dropped += before - frame.height
        return frame




__all__ = ["IngestOptions", "IngestSummary", "ingest", "store_fields", "COPY"]
