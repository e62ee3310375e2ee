"""Which bytes of each log file are new: identity, fingerprint, rotation and truncation.

A file is known by its device and inode and by a fingerprint of its first bytes (of its
decompressed content, for gzip), so that it is recognized when renamed
(``app.jsonl`` → ``app.jsonl.1``), compressed (→ ``app.jsonl.1.gz``) or copied away before
being truncated (copytruncate). A plain file is read from the offset after the last complete
line ingested up to its last newline: a last line without its newline (a writer still
appending) waits for the next run. A gzip file is final: it is read to its end once, then
recognized by its identity without decompressing it again.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass

from mlmon.errors import InputError
from mlmon.logs.sources import Source
from mlmon.safetext import printable
from mlmon.store.registry import SourceEntry
from mlmon.store.remote_logs import RemoteSource

#: Bytes of content the fingerprint covers (fewer while a file is shorter).
FP_BYTES = 1024
#: Kinds of event a plan reports.
ROTATION, TRUNCATION, COPY = "rotation", "truncation", "copy"


@dataclass
class ReadPlan:
    """What to read of one source: from ``start`` (bytes of content) on, continuing ``entry``."""

    source: Source
    entry: SourceEntry
    start: int
    #: Where to stop: the offset after the last newline (plain files); None to read to the end (gzip).
    end: int | None
    compressed: bool
    event: str | None = None
    #: The gzip identity to record once it is read whole.
    gz_identity: list[int] | None = None

    @property
    def has_new_bytes(self) -> bool:
        return self.end is None or self.end > self.start


def _fingerprint(head: bytes) -> str:
    return hashlib.sha256(head).hexdigest()


def _head(source: Source, compressed: bool) -> bytes:
    try:
        if compressed:
            with gzip.open(source.path, "rb") as handle:
                return handle.read(FP_BYTES)
        with open(source.path, "rb") as handle:
            return handle.read(FP_BYTES)
    except (EOFError, zlib.error, gzip.BadGzipFile):
        raise InputError(f"cannot read {printable(source.name)}: the compressed data is corrupt or truncated",
                         "Check the file with gzip -t.") from None
    except OSError as exc:
        raise InputError(f"cannot read {printable(source.name)}: {exc.strerror or exc}",
                         "Check that the file is readable.") from None


def _is_gzip(source: Source) -> bool:
    if source.path.name.endswith(".gz"):
        return True
    try:
        with open(source.path, "rb") as handle:
            return handle.read(2) == b"\x1f\x8b"
    except OSError:
        return False


def _last_newline_end(path, start: int, size: int) -> int:
    """The offset after the last newline in bytes ``start`` to ``size``, or ``start`` if there is none."""
    window = 64 * 1024
    hi = size
    with open(path, "rb") as handle:
        fd = handle.fileno()
        while hi > start:
            lo = max(start, hi - window)
            found = os.pread(fd, hi - lo, lo).rfind(b"\n")
            if found != -1:
                return lo + found + 1
            hi = lo
            window = min(window * 4, 16 << 20)
    return start


def _matches(entry: SourceEntry, head: bytes) -> bool:
    return len(head) >= entry.fp_len > 0 and _fingerprint(head[: entry.fp_len]) == entry.fp


def refuse_stdin(sources) -> None:
    """InputError if ``sources`` include standard input, which has no offset to keep."""
    if any(source.path is None and not isinstance(source, RemoteSource) for source in sources):
        raise InputError("mlmon ingest cannot read standard input: it keeps offsets per file",
                         "Write the logs to a file and ingest that.")


def plan_reads(sources: list[Source], entries: list[SourceEntry]) -> tuple[list[ReadPlan], list[str]]:
    """A plan per source with new bytes (new entries are appended to ``entries``), and notes on
    files passed over (a copy of one read in this run, an empty file, standard input)."""
    plans: list[ReadPlan] = []
    notes: list[str] = []
    claimed: set[int] = set()
    refuse_stdin(sources)
    for source in sources:
        if isinstance(source, RemoteSource):
            plan = _plan_remote(source, entries, claimed, notes)
            if plan is not None:
                plans.append(plan)
            continue
        try:
            info = os.stat(source.path)
        except OSError as exc:
            raise InputError(f"cannot read {printable(source.name)}: {exc.strerror or exc}") from None
        compressed = _is_gzip(source)
        if compressed and any(e.gz == [info.st_dev, info.st_ino, info.st_size] for e in entries):
            continue  # a gzip file already read whole
        if info.st_size == 0:
            for e in entries:
                if (e.dev, e.ino) == (info.st_dev, info.st_ino) and e.offset > 0 and id(e) not in claimed:
                    e.ino, e.truncations = -1, e.truncations + 1  # truncated to nothing: its identity is free
                    plans.append(ReadPlan(source, e, 0, 0, False, TRUNCATION))
            continue
        head = _head(source, compressed)
        same_file = [e for e in entries if (e.dev, e.ino) == (info.st_dev, info.st_ino) and not e.gz]
        by_content = [e for e in entries if _matches(e, head)]
        by_content.sort(key=lambda e: ((e.dev, e.ino) != (info.st_dev, info.st_ino), e.name != source.name))
        entry = next((e for e in by_content if id(e) not in claimed), None)
        event = None
        if entry is None and by_content:
            notes.append(f"{printable(source.name)}: passed over, a copy of a file read in this run")
            continue
        if entry is None:  # known, but no complete line was read yet, so it has no fingerprint
            entry = next((e for e in same_file if not e.fp_len and id(e) not in claimed), None)
        if entry is not None:
            start = entry.offset
            if (entry.dev, entry.ino) != (info.st_dev, info.st_ino) or entry.name != source.name:
                event = ROTATION
            if not compressed and info.st_size < entry.offset:
                start, event = 0, TRUNCATION  # truncated, then rewritten with the same first bytes
                entry.lines, entry.truncations = 0, entry.truncations + 1
        else:
            for old in same_file:  # the same file with other first bytes: truncated (copytruncate) and rewritten
                if id(old) not in claimed:
                    old.ino = -1
                    old.truncations += 1
                    event = TRUNCATION
            entry = SourceEntry(name=source.name, dev=info.st_dev, ino=info.st_ino, fp="", fp_len=0)
            entries.append(entry)
            start = 0
        claimed.add(id(entry))
        end = None if compressed else _last_newline_end(source.path, start, info.st_size)
        plan = ReadPlan(source, entry, start, end, compressed, event,
                        [info.st_dev, info.st_ino, info.st_size] if compressed else None)
        entry.name, entry.dev, entry.ino = source.name, info.st_dev, info.st_ino
        known = min(len(head), FP_BYTES) if compressed else min(len(head), end)
        if known > entry.fp_len or not entry.fp:
            entry.fp, entry.fp_len = _fingerprint(head[:known]), known
        plans.append(plan)
    return plans, notes


def _remote_head(source: RemoteSource) -> bytes:
    stream = source.stream()
    if not source.compressed:
        return stream.read(FP_BYTES)
    try:
        return gzip.GzipFile(fileobj=stream, mode="rb").read(FP_BYTES)  # type: ignore[arg-type]
    except (EOFError, zlib.error, gzip.BadGzipFile):
        raise InputError(f"cannot read {printable(source.name)}: the compressed data is corrupt or truncated",
                         "Check the object with gzip -t.") from None


def _plan_remote(source: RemoteSource, entries: list[SourceEntry], claimed: set[int], notes: list[str]) -> ReadPlan | None:
    """An object in object storage: read to its end from the offset its fingerprint's entry reached."""
    if any(e.etag == source.etag and e.gz == [0, 0, source.size] for e in entries if source.etag):
        return None  # read to its end already
    if source.size == 0:
        return None
    head = _remote_head(source)
    by_content = [e for e in entries if _matches(e, head)]
    by_content.sort(key=lambda e: e.name != source.name)
    entry = next((e for e in by_content if id(e) not in claimed), None)
    if entry is None and by_content:
        notes.append(f"{printable(source.name)}: passed over, a copy of a file read in this run")
        return None
    event = None
    if entry is None:
        entry = SourceEntry(name=source.name, dev=0, ino=0, fp="", fp_len=0)
        entries.append(entry)
    elif entry.name != source.name:
        event = ROTATION
    claimed.add(id(entry))
    plan = ReadPlan(source, entry, entry.offset, None, True, event, [0, 0, source.size])  # type: ignore[arg-type]
    entry.name, entry.dev, entry.ino, entry.etag = source.name, 0, 0, source.etag
    known = min(len(head), FP_BYTES)
    if known > entry.fp_len or not entry.fp:
        entry.fp, entry.fp_len = _fingerprint(head[:known]), known
    return plan
