"""Files that hold JSON documents rather than JSON lines: one array of records, or pretty-printed objects.

A ``.json`` file (``.json.gz`` too) is read whole: a JSON array of records (Triton's trace
file), or one or more objects, each spread over many lines (``json.dumps(payload, indent=4)``).
Each record is written out as one JSON line, and the lines go through the same decoder as a
JSON-lines file, so a record that is not an object is a bad "line" numbered by its place in
the file (record 3 is line 3). Where the text stops being valid JSON, the rest of the file is
one bad line (``malformed JSON``) and the records before it are kept.

These files are for exports and dumps of modest size: one is parsed in memory by Python's
``json``, record by record. Logs of gigabytes are JSON lines, read by the vectorized decoder.
"""

from __future__ import annotations

import json
from typing import BinaryIO, Iterator

from mlmon.logs.chunks import Chunk, make_chunk

_SUFFIXES = (".json", ".json.gz")
_BOM = "\ufeff"
#: Records per chunk handed to the decoder.
_RECORDS_PER_CHUNK = 50_000


def is_json_document(name: str) -> bool:
    """Whether a file may hold a JSON document (by its name); :func:`starts_as_document` tells for sure."""
    return name.lower().endswith(_SUFFIXES)


_HEAD_BYTES = 1024 * 1024


def starts_as_document(source) -> bool:
    """Whether a ``.json`` file holds a JSON document (an array, or an object over many lines), not JSON lines:
    it starts with ``[``, or its first line alone is no JSON value."""
    import zlib

    try:
        with source.open() as stream:
            head = stream.read(_HEAD_BYTES)
    except (OSError, EOFError, zlib.error):
        return False  # the JSON-lines reader says what is wrong
    text = head.decode("utf-8", errors="replace").lstrip(_BOM).lstrip()
    if text.startswith("["):
        return True
    first = text.split("\n", 1)[0]
    try:
        json.loads(first)
    except ValueError:
        return text.startswith("{") and "\n" in text
    return False


def records_of(text: str) -> Iterator[str]:
    """The records of a JSON document as compact JSON texts; where it goes wrong, the rest as one text."""
    decoder = json.JSONDecoder()
    text = text.lstrip(_BOM)
    pos = _skip_space(text, 0)
    in_array = text.startswith("[", pos)
    if in_array:
        pos = _skip_space(text, pos + 1)
    while pos < len(text):
        if in_array and text.startswith("]", pos):
            pos = _skip_space(text, pos + 1)
            if pos < len(text):
                yield _rest(text, pos)
            return
        try:
            value, end = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError):
            yield _rest(text, pos)
            return
        yield json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        pos = _skip_space(text, end)
        if in_array and text.startswith(",", pos):
            pos = _skip_space(text, pos + 1)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _rest(text: str, pos: int) -> str:
    """What is left of a document that stopped being JSON, on one line (it is a bad line)."""
    return text[pos:pos + 64 * 1024].replace("\r", " ").replace("\n", " ") or " "


def document_chunks(stream: BinaryIO, name: str, max_line_bytes: int) -> Iterator[Chunk]:
    """The records of a JSON document file as chunks of JSON lines."""
    data = stream.read()
    text = data.decode("utf-8", errors="replace")
    batch: list[str] = []
    for record in records_of(text):
        batch.append(record)
        if len(batch) >= _RECORDS_PER_CHUNK:
            yield make_chunk(("\n".join(batch) + "\n").encode(), [], len(data), max_line_bytes)
            batch = []
    if batch:
        yield make_chunk(("\n".join(batch) + "\n").encode(), [], len(data), max_line_bytes)
