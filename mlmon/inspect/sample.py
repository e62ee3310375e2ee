"""The first records of each log file, for a field profile: read from the head of the file only.

A first look at a gigabyte log should take a moment, so only the head is read here: lines
until ``sample`` of them are JSON objects (or a byte budget runs out). The lines are judged
as a column (valid JSON? an object?), never one by one in Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import polars as pl

from mlmon.errors import InputError
from mlmon.logs.jsondoc import is_json_document, records_of
from mlmon.logs.sources import Source
from mlmon.redaction import redact_text
from mlmon.safetext import printable

DEFAULT_SAMPLE = 1000
#: The most bytes read from a file's head looking for ``sample`` JSON objects.
MAX_HEAD_BYTES = 64 * 1024 * 1024
_BLOCK = 1024 * 1024


@dataclass
class FileSample:
    """What the head of one file holds."""

    name: str
    #: The sampled records, as JSON object texts.
    objects: pl.Series
    #: Non-blank lines read (a bad one counts too).
    lines: int = 0
    #: The first non-blank line, for saying what a file that is not JSON lines looks like.
    first_line: str | None = None
    #: Whether the head read was the whole file.
    whole: bool = True
    #: How many of the head's lines were not JSON objects.
    not_objects: int = 0
    #: The whole lines read, as JSON lines text (for reading the sample through a mapping).
    head: bytes = b""
    notes: list[str] = field(default_factory=list)


def sample_source(source: Source, sample: int = DEFAULT_SAMPLE) -> FileSample:
    """The first ``sample`` JSON object lines of ``source`` (fewer when the file or the budget ends first).

    A ``.json`` document (one array, or pretty-printed objects) is read as the reader reads it:
    each of its records is one line.
    """
    if is_json_document(source.name):
        return _sample_document(source, sample)
    objects: list[pl.Series] = []
    found = lines = bad = 0
    first: str | None = None
    rest = b""
    whole = True
    heads: list[bytes] = []
    try:
        with source.open() as stream:
            read = 0
            while found < sample:
                block = stream.read(_BLOCK)
                if not block:
                    text, rest = rest, b""
                else:
                    read += len(block)
                    data = rest + block
                    cut = data.rfind(b"\n") + 1
                    text, rest = data[:cut], data[cut:]
                if text:
                    heads.append(text)
                    judged = _judge(text)
                    if first is None and judged.height:
                        first = judged.get_column("line")[0]
                    lines += judged.height
                    good = judged.filter(pl.col("object")).get_column("line").head(sample - found)
                    bad += judged.height - int(judged.get_column("object").sum())
                    found += good.len()
                    objects.append(good)
                if not block:
                    break
                if read >= MAX_HEAD_BYTES:
                    whole = False
                    break
            else:
                whole = not stream.read(1) and not rest
    except OSError as exc:
        raise InputError(f"cannot read {source.name}: {exc.strerror or exc}",
                         "Check that the file is complete and readable.") from None
    except EOFError:
        raise InputError(f"cannot read {source.name}: the compressed file is truncated",
                         "Check that the file was fully written.") from None
    series = pl.concat(objects) if objects else pl.Series("line", [], pl.String)
    return FileSample(source.name, series, lines=lines, first_line=first, whole=whole, not_objects=bad,
                      head=b"".join(heads))


def _sample_document(source: Source, sample: int) -> FileSample:
    """The first records of a JSON document (read whole, up to the byte budget, as the reader reads it whole)."""
    try:
        with source.open() as stream:
            data = stream.read(MAX_HEAD_BYTES)
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read {source.name}: {getattr(exc, 'strerror', None) or exc}",
                         "Check that the file is complete and readable.") from None
    text = data.decode("utf-8", "replace")
    lines = "\n".join(records_of(text)).encode()
    judged = _judge(lines)
    first = text.strip().splitlines()[0] if text.strip() else None
    good = judged.filter(pl.col("object")).get_column("line").head(sample)
    return FileSample(source.name, good, lines=judged.height, first_line=first, whole=len(data) < MAX_HEAD_BYTES,
                      not_objects=judged.height - int(judged.get_column("object").sum()), head=lines + b"\n")


def _judge(data: bytes) -> pl.DataFrame:
    """The non-blank lines of ``data`` and whether each is a JSON object."""
    text = data.decode("utf-8", "replace")
    lines = pl.Series("line", text.split("\n"), pl.String).str.strip_chars()
    lines = lines.filter(lines != "")
    frame = lines.to_frame()
    return frame.with_columns(
        (pl.col("line").str.starts_with("{") & pl.col("line").str.json_path_match("$").is_not_null())
        .fill_null(False).alias("object")
    )


def what_it_looks_like(first_line: str | None) -> str:
    """A few words on a file whose lines are not JSON objects, from its first line."""
    if first_line is None:
        return "it has no lines"
    line = first_line.strip()
    shown = line if len(line) <= 60 else line[:59] + "…"
    if line in ("{", "[") or (line.startswith("[") and line.endswith("]")) or line.startswith("[{"):
        return "it looks like one JSON document (pretty-printed, or one array), not one JSON object per line"
    line = line.removeprefix("\ufeff")
    for sep, name in ((",", "CSV"), ("\t", "TSV"), (";", "CSV with ';'")):
        parts = line.split(sep)
        if len(parts) >= 2 and all(_CELL.match(part) for part in parts):
            return f"the first line looks like a {name} header ({_plain(shown)})"
    return f"the first line is plain text ({_plain(shown)})"


#: A cell of a CSV header: a short name, maybe quoted.
_CELL = re.compile(r'^\s*"?[\w .()/-]{0,64}"?\s*$')


def _plain(text: str) -> str:
    return printable(redact_text(text))
