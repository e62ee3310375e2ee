"""Read many small files together: one decoding plan for a batch of files, not a few per file.

Each file costs a dozen Polars plans whatever its size (probes, scan, normalizing), about
10 ms; a directory of 3,000 files of a few lines spent half a minute in them. Runs of
small regular files are read whole, joined (each ending with a newline) and decoded as
one chunk by the line path; line numbers are then mapped back to the files, so records,
rejects, line numbers and the per-file verdict are those of reading each file alone.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import polars as pl

from mlmon.logs.chunks import make_chunk
from mlmon.logs.decode import LINE_NO, Projection, decode_chunk
from mlmon.logs.mapping import Mapping
from mlmon.logs.sources import Source

#: Files up to this size are read together; larger ones alone (their fixed cost is small beside their lines).
SMALL_FILE_BYTES = 1024 * 1024
_BOM = b"\xef\xbb\xbf"


@dataclass
class SmallFiles:
    """Consecutive small files, with their whole content."""

    sources: list[Source] = field(default_factory=list)
    contents: list[bytes] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(len(c) for c in self.contents)


def plan_batches(sources: Iterable[Source], *, batch_bytes: int, max_line_bytes: int) -> Iterator[Source | SmallFiles]:
    """The sources in order: each one alone, or runs of two or more small files as SmallFiles of at most
    ``batch_bytes`` together. A file is small when it is a regular, uncompressed file of at most
    SMALL_FILE_BYTES and ``max_line_bytes`` (so no line in it is too long). Contents are read as planned."""
    run = SmallFiles()
    limit = min(SMALL_FILE_BYTES, max_line_bytes)
    for source in sources:
        content = _small_content(source, limit)
        if content is not None and run.size + len(content) <= batch_bytes:
            run.sources.append(source)
            run.contents.append(content)
            continue
        yield from _flush(run)
        run = SmallFiles()
        if content is None:
            yield source
        else:
            run.sources.append(source)
            run.contents.append(content)
    yield from _flush(run)


def _flush(run: SmallFiles) -> Iterator[Source | SmallFiles]:
    if len(run.sources) > 1:
        yield run
    else:
        yield from run.sources  # one file alone takes the usual way (the whole-file scan when clean)


def _small_content(source: Source, limit: int) -> bytes | None:
    """The whole content of a small, regular, uncompressed file; None for anything else."""
    if source.path is None or source.path.name.endswith(".gz"):
        return None
    try:
        if not stat.S_ISREG(os.stat(source.path).st_mode):
            return None  # a FIFO would wait for a writer: not opened here
        with open(source.path, "rb") as handle:
            content = handle.read(limit + 1)
    except OSError:
        return None  # reading it alone says what is wrong
    if len(content) > limit or content[:2] == b"\x1f\x8b":
        return None
    return content


def decode_small_files(
    files: SmallFiles, projection: Projection, mapping: Mapping, max_line_bytes: int
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int]] | None:
    """Records, rejects (numbered per file) and good records per file of a batch, as if each file
    were read alone; None when the lines cannot be told apart per file (then read them one by one)."""
    pieces, starts, lines = [], [], 0
    for content in files.contents:
        # As alone: the reader drops a byte-order mark at a file's start, and a last line may lack its newline.
        content = content[len(_BOM):] if content.startswith(_BOM) else content
        if content and not content.endswith(b"\n"):
            content += b"\n"
        starts.append(lines)
        lines += content.count(b"\n")
        pieces.append(content)
    chunk = make_chunk(b"".join(pieces), [], files.size, max_line_bytes)
    good, bad, n_lines = decode_chunk(chunk, "", projection, mapping, max_line_bytes, numbered=True)
    if n_lines != lines:
        return None
    names = pl.Series([s.name for s in files.sources], dtype=pl.String)
    first = pl.Series(starts, dtype=pl.Int64)
    # The file of a line: the last one starting at or before it (an empty file starts where the next does).
    index = first.search_sorted(good.get_column(LINE_NO) - 1, side="right") - 1
    counts = index.value_counts()
    good_by_file = dict.fromkeys(names.to_list(), 0)
    for i, n in zip(counts[counts.columns[0]].to_list(), counts["count"].to_list()):
        good_by_file[names[i]] += n
    if bad.height:
        where = first.search_sorted(bad.get_column("line") - 1, side="right") - 1
        bad = bad.with_columns(names.gather(where).alias("file"), bad.get_column("line") - first.gather(where))
    return good.drop(LINE_NO), bad, good_by_file
