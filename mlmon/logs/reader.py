"""Read log sources into one normalized records frame and a frame of rejected lines."""

from __future__ import annotations

import os
import zlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

import polars as pl

from mlmon.errors import ConfigError, InputError
from mlmon.logs.batch import SmallFiles, decode_small_files, plan_batches
from mlmon.logs.chunks import iter_chunks, load_span, plan_spans
from mlmon.logs.decode import (Projection, ProjectionError, decode_chunk, decode_chunk_fast, empty_rejects,
                               ends_have_bad_line)
from mlmon.logs.mapping import (CANONICAL_FIELDS, DEFAULT_MAPPING, INPUT_PREFIX, OUTPUT_PREFIX, RAW_REQUEST, RAW_RESPONSE,
                                 Mapping)
from mlmon.logs.jsondoc import document_chunks, is_json_document, starts_as_document
from mlmon.logs.normalize import CHECKED_FIELDS, TS_TYPE
from mlmon.logs.pairs import Assembler
from mlmon.logs.shape import decode_chunk_shaped, mapping_for_source
from mlmon.logs.sources import Source, resolve_inputs
from mlmon.logs.verdict import judge, reason_counts

DEFAULT_MAX_LINE_BYTES = 1024 * 1024
DEFAULT_CHUNK_BYTES = 32 * 1024 * 1024
_IN_FLIGHT = 3

#: Called after each chunk with (bytes done, bytes in all, current source name); and, once the reading
#: is done, with (PHASE, None, what runs now) at the start of each later phase (see :func:`announce`).
Progress = Callable[[int, int | None, str], None]
#: The "bytes done" of a phase announcement: no byte count, so no reader can mistake it for one.
PHASE = -1


def announce(progress: Progress | None, phase: str) -> None:
    """Tell ``progress`` that ``phase`` ("computing drift", "joining labels") starts now."""
    if progress is not None:
        progress(PHASE, None, phase)


@dataclass
class LogData:
    """What reading the logs produced."""

    records: pl.DataFrame
    rejects: pl.DataFrame
    files: list[str] = field(default_factory=list)
    #: Things the user should know about the input as a whole (printed on stderr by the CLI).
    warnings: list[str] = field(default_factory=list)
    #: What the directory searches left out, and why (printed on stderr as notes).
    notes: list[str] = field(default_factory=list)
    #: From a store: the records it holds in all (``records`` has only those of the range read),
    #: and its sources' bad lines, counted when they were ingested.
    total: int | None = None
    skipped_count: int | None = None
    reasons: dict[str, int] | None = None

    @property
    def record_count(self) -> int:
        """Records in the logs (or store) read, whatever range of them ``records`` holds."""
        return self.records.height if self.total is None else self.total

    @property
    def skipped(self) -> int:
        return self.rejects.height if self.skipped_count is None else self.skipped_count

    def skipped_by_reason(self) -> dict[str, int]:
        return reason_counts(self.rejects) if self.reasons is None else dict(self.reasons)


#: The column type of each kind of canonical field (mapping.CANONICAL_FIELDS).
KIND_TYPES: dict[str, pl.DataType] = {"time": TS_TYPE, "string": pl.String(), "integer": pl.Int64(), "number": pl.Float64()}


def record_schema(projection: Projection, wanted: Iterable[str]) -> dict[str, pl.DataType]:
    """The columns and types of the records frame: the ``wanted`` fields the projection reads."""
    read = projection.names & set(wanted)
    schema: dict[str, pl.DataType] = {}
    for name, kind in CANONICAL_FIELDS.items():
        if name in read or name in ("ts", "status", "error"):
            schema[name] = KIND_TYPES[kind]
    for name in [*projection.columns, *projection.nested]:
        if name in read and name not in schema:
            schema[name] = pl.String()
    return schema


def read_logs(
    inputs: Sequence[str] | Sequence[Source],
    mapping: Mapping = DEFAULT_MAPPING,
    fields: Iterable[str] | None = None,
    *,
    strict: bool = False,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: Progress | None = None,
) -> LogData:
    """Read every source; bad lines are skipped and listed in ``rejects``.

    ``fields`` names the columns wanted: canonical fields and ``input.x`` or
    ``output.x`` paths (default: every canonical field). Only those, and the fields
    that can make a line bad (checked whatever is asked), are decoded. With
    ``strict``, the first bad line raises InputError instead. Bad lines and not one
    good record raise InputError too (see :mod:`mlmon.logs.verdict`).
    """
    from mlmon.store.source import store_input

    store = store_input(inputs)
    if store is not None:
        from mlmon.store.read import read_store

        return read_store(store, fields, since=store.since, until=store.until)
    stream = stream_logs(inputs, mapping, fields, strict=strict, max_line_bytes=max_line_bytes,
                         chunk_bytes=chunk_bytes, progress=progress)
    frames = list(stream)
    return stream.finish(pl.concat(frames) if frames else stream.empty())


def stream_logs(
    inputs: Sequence[str] | Sequence[Source],
    mapping: Mapping = DEFAULT_MAPPING,
    fields: Iterable[str] | None = None,
    *,
    strict: bool = False,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: Progress | None = None,
) -> "LogStream":
    """:func:`read_logs` a chunk at a time: iterate for the records, then :meth:`LogStream.finish`.

    A caller that aggregates each frame as it comes holds about a chunk of records, not all of them.
    """
    notes: list[str] = []
    sources = [s if isinstance(s, Source) else None for s in inputs]
    if any(s is None for s in sources):
        found = resolve_inputs([str(s) for s in inputs])
        sources, notes = found.sources, found.notes
    wanted = ["ts", "status", "error", *(fields if fields is not None else CANONICAL_FIELDS)]
    for name in mapping.constants:
        if name not in wanted:
            wanted.append(name)
    names = list(dict.fromkeys([*wanted, *CHECKED_FIELDS]))
    if mapping.hooks.join is not None or mapping.hooks.explode is not None:
        names += [n for n in (RAW_REQUEST, RAW_RESPONSE) if n not in names]  # rows and pairs are put together from them
    try:
        projection = Projection.flat(mapping, names) if mapping.shaped else Projection.build(mapping, names)
    except ProjectionError as exc:
        raise ConfigError(f"cannot read these fields together: {exc}",
                          "Name only one of them in the mapping, --by, --where and the rules: the inner field, "
                          "or the outer one's other fields.") from None
    return LogStream(sources, projection, mapping, record_schema(projection, wanted), notes=notes, strict=strict,
                     max_line_bytes=max_line_bytes, chunk_bytes=chunk_bytes, progress=progress)


@dataclass
class LogStream:
    """The records of some sources, one frame per chunk (or batch of small files), in order.

    Iterate it once; :meth:`finish` then gives what else reading found.
    Bad lines are kept aside (with ``strict``, the first one raises InputError).
    """

    sources: list[Source]
    projection: Projection
    mapping: Mapping
    #: The columns and types of every frame.
    schema: dict[str, pl.DataType]
    notes: list[str] = field(default_factory=list)
    strict: bool = False
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    progress: Progress | None = None
    _rejects: list[pl.DataFrame] = field(default_factory=list)
    _good_by_file: dict[str, int] = field(default_factory=dict)
    _assembler: Assembler | None = None
    _latencies: int = 0

    def empty(self) -> pl.DataFrame:
        """A records frame without rows."""
        return pl.DataFrame(schema=self.schema)

    def finish(self, records: pl.DataFrame) -> LogData:
        """What reading found, with ``records`` as its records (all of them, or none when they were used up
        as they came); raises InputError when there were bad lines and not one good record."""
        skipped = pl.concat(self._rejects) if self._rejects else empty_rejects()
        warnings = judge(self._good_by_file, skipped, mapped=self.mapping != DEFAULT_MAPPING)
        if self.mapping.preset and "latency_ms" in self.schema and not self._latencies and any(self._good_by_file.values()):
            self.notes.append(f"the {self.mapping.preset} preset's logs carry no latency: latency metrics are absent")
        if self._assembler is not None and self._assembler.other_events:
            n = self._assembler.other_events
            self.notes.append(f"{n:,} event{'s' if n != 1 else ''} neither a request nor a response "
                              f"(by the mapping's join.kind) {'were' if n != 1 else 'was'} left out")
        return LogData(records=records, rejects=skipped, files=[s.name for s in self.sources], warnings=warnings,
                       notes=self.notes)

    def _take(self, records: pl.DataFrame, bad: pl.DataFrame) -> pl.DataFrame:
        """The wanted columns of ``records``; bad lines kept aside (with ``strict``, the first is an error)."""
        if bad.height:
            if self.strict:
                first = bad.row(0, named=True)
                raise InputError(
                    f"{first['file']}:{first['line']}: bad log line ({first['reason']})",
                    "Fix or remove the line, or run without --strict to skip bad lines.",
                )
            self._rejects.append(bad)
        if self._assembler is not None:
            records = self._assembler.feed(records)
        return self._select(records)

    def _select(self, records: pl.DataFrame) -> pl.DataFrame:
        if "latency_ms" in records.columns and not self._latencies:
            self._latencies = records.height - records.get_column("latency_ms").null_count()
        return records.select([(pl.col(c) if c in records.columns else pl.lit(None).alias(c)).cast(t)
                               for c, t in self.schema.items()])

    def __iter__(self) -> Iterator[pl.DataFrame]:
        total = sum((s.size or 0) for s in self.sources) or None
        done_before = 0
        progress = self.progress
        shaped = self.mapping.shaped or self.mapping.hooks.path_fields is not None
        if self.mapping.hooks.join is not None or self.mapping.hooks.explode is not None:
            bodies = any(c in (RAW_REQUEST, RAW_RESPONSE) or c.startswith((INPUT_PREFIX, OUTPUT_PREFIX))
                         for c in self.schema)
            self._assembler = Assembler(self.mapping, bodies=bodies)
        # Small files are read together (see mlmon.logs.batch); the others, or a batch whose lines
        # cannot be told apart per file, one by one.
        for item in plan_batches(self.sources, batch_bytes=self.chunk_bytes, max_line_bytes=self.max_line_bytes):
            alone = [item] if isinstance(item, Source) else []
            if isinstance(item, SmallFiles) and shaped:
                alone = item.sources
            elif isinstance(item, SmallFiles):
                together = decode_small_files(item, self.projection, self.mapping, self.max_line_bytes)
                if together is None:
                    alone = item.sources
                else:
                    records, bad, good_counts = together
                    records = self._take(records, bad)
                    if records.height:
                        yield records
                    self._good_by_file.update(good_counts)
                    done_before += item.size
            for source in alone:
                good = 0
                # Chunk by chunk, even a clean file: a whole-file scan maps all of it into memory at once.
                for records, bad in _read_by_chunks(
                        source, self.projection, mapping_for_source(self.mapping, source.name, source.path), self.max_line_bytes, self.chunk_bytes,
                        lambda pos: progress and progress(done_before + pos, total, source.name)):
                    records = self._take(records, bad)
                    good += records.height
                    if records.height:
                        yield records
                self._good_by_file[source.name] = good
                done_before += source.size or 0
            if progress is not None:
                progress(done_before, total, (item.sources[-1] if isinstance(item, SmallFiles) else item).name)
        if self._assembler is not None:
            left = self._assembler.flush()
            if left is not None and left.height:
                yield self._select(left)


def _read_by_chunks(source: Source, projection: Projection, mapping: Mapping, max_line_bytes: int,
                    chunk_bytes: int, on_progress: Callable[[int], object]):
    """Records and rejects of each chunk of one source, numbering lines as it goes.

    Two chunks are decoded at once: much of a chunk's work runs on one core, and
    Polars releases the GIL. A regular file is read by the decoding threads
    themselves, span by span; a stream is cut into chunks here. Results come back
    in order, so line numbers and --strict hold.
    """
    # Chunks are parsed whole first; after one holds a bad line, the rest take the line path
    # at once, rather than parse twice each (a log with bad lines tends to have them throughout).
    # (A shaped mapping reads every chunk by lines: it needs no probe of the file's ends.)
    whole = [not mapping.shaped and not (source.is_plain_file and ends_have_bad_line(str(source.path), max_line_bytes))]

    def decode(chunk):
        if mapping.shaped:
            return decode_chunk_shaped(chunk, source.name, projection, mapping, max_line_bytes)
        if whole[0]:
            fast = decode_chunk_fast(chunk, projection, mapping)
            if fast is not None:
                return fast[0], empty_rejects(), fast[1]
            whole[0] = False
        return decode_chunk(chunk, source.name, projection, mapping, max_line_bytes)

    stream = None
    try:
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="mlmon-decode") as pool:
            stream = source.open()
            if is_json_document(source.name) and starts_as_document(source):
                jobs = ((pool.submit(decode, chunk), chunk.position)
                        for chunk in document_chunks(stream, source.name, max_line_bytes))
            elif source.is_plain_file:
                fd = stream.fileno()
                spans = plan_spans(fd, os.fstat(fd).st_size, chunk_bytes=chunk_bytes, max_line_bytes=max_line_bytes)
                jobs = ((pool.submit(lambda s: decode(load_span(fd, s, max_line_bytes)), span), span.end)
                        for span in spans)
            else:
                chunks = iter_chunks(stream, chunk_bytes=chunk_bytes, max_line_bytes=max_line_bytes)
                jobs = ((pool.submit(decode, chunk), chunk.position) for chunk in chunks)
            yield from _in_order(jobs, on_progress)
    except OSError as exc:
        raise InputError(f"cannot read {source.name}: {exc}", "Check that the file is complete and readable.") from None
    except EOFError:
        raise InputError(
            f"cannot read {source.name}: the compressed file is truncated", "Check that the file was fully written."
        ) from None
    except zlib.error:
        raise InputError(
            f"cannot read {source.name}: the compressed data is corrupt", "Check the file with gzip -t."
        ) from None
    finally:
        if stream is not None and not source.is_stdin:
            stream.close()


def _in_order(jobs, on_progress: Callable[[int], object]):
    """Results of the jobs in order; reject line numbers made file-wide.

    Three jobs are in flight: two decoding and one queued, so a thread that
    finishes starts the next chunk at once instead of waiting for the reader.
    """
    pending: deque = deque()
    lines_before = 0
    for job in jobs:
        pending.append(job)
        if len(pending) < _IN_FLIGHT:
            continue
        lines_before = yield from _finish(pending.popleft(), lines_before, on_progress)
    while pending:
        lines_before = yield from _finish(pending.popleft(), lines_before, on_progress)


def _finish(job, lines_before: int, on_progress: Callable[[int], object]):
    future, position = job
    records, bad, n_lines = future.result()
    if bad.height and lines_before:
        bad = bad.with_columns(pl.col("line") + lines_before)
    yield records, bad
    on_progress(position)
    return lines_before + n_lines
