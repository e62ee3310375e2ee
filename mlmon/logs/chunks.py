"""Cut a byte stream into large chunks of whole lines, with their line numbers.

Chunks are the unit of work of the reader: each is decoded by one Polars plan,
so no Python code runs per log line. Two kinds of bad line are settled here,
at the byte level, because Polars cannot represent them: lines longer than the
limit (skipped without holding them in memory) and invalid UTF-8 (repaired with
U+FFFD so the chunk can be parsed, and remembered so the line is rejected).
"""

from __future__ import annotations

import codecs
import threading
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

#: The column separator used to read a chunk as one text column per line. It is a
#: control character, which valid JSON never contains raw.
LINE_SEPARATOR = b"\x1f"
_SEPARATOR_STANDIN = b"\x01"  # also invalid in JSON, so the line stays bad

RAW_PREVIEW_BYTES = 1024


@dataclass
class Chunk:
    """Whole lines of one source. Line numbers are counted by the decoder, not here."""

    data: bytes
    #: 0-based indexes, within ``data``, of lines that held invalid UTF-8.
    bad_utf8_lines: list[int] = field(default_factory=list)
    #: Lines longer than the limit, cut out of the stream right after ``data``: their first bytes.
    huge_after: list[bytes] = field(default_factory=list)
    #: Compressed or on-disk bytes consumed so far, for progress.
    position: int = 0
    #: Whether ``data`` holds a line longer than the limit (it is rejected while decoding).
    has_long_line: bool = False


_marks = threading.local()


def _mark_and_replace(err: UnicodeDecodeError) -> tuple[str, int]:
    _marks.positions.append(err.start)
    return "\ufffd", err.end


codecs.register_error("mlmon-mark", _mark_and_replace)


def repair_utf8(data: bytes) -> tuple[bytes, list[int]]:
    """Valid UTF-8 for ``data`` and the 0-based indexes of the lines that held invalid bytes."""
    if data.isascii():
        return data, []
    _marks.positions = []
    text = data.decode("utf-8", "mlmon-mark")  # the handler runs only at invalid bytes
    if not _marks.positions:
        return data, []
    lines: list[int] = []
    line, prev = 0, 0
    for pos in _marks.positions:  # one step per invalid byte sequence, not per line
        line += data.count(b"\n", prev, pos)
        prev = pos
        if not lines or lines[-1] != line:
            lines.append(line)
    return text.encode("utf-8"), lines


def _position(stream: BinaryIO) -> int:
    raw = getattr(stream, "fileobj", None) or stream
    try:
        return raw.tell()
    except (OSError, ValueError, AttributeError):
        return 0


def iter_chunks(stream: BinaryIO, *, chunk_bytes: int, max_line_bytes: int) -> Iterator[Chunk]:
    """Yield chunks of whole lines; a line over ``max_line_bytes`` that does not fit a chunk is cut out."""
    buf = b""
    while True:
        data = stream.read(chunk_bytes)
        if not data:
            break
        buf = buf + data if buf else data
        cut = buf.rfind(b"\n")
        if cut == -1:
            if len(buf) > max_line_bytes:
                yield _make_chunk(b"", [buf[:RAW_PREVIEW_BYTES]], _position(stream), max_line_bytes)
                buf = _skip_rest_of_line(stream, chunk_bytes)
            continue
        body, buf = buf[: cut + 1], buf[cut + 1 :]
        huge = []
        if len(buf) > max_line_bytes:  # the unfinished last line is already too long
            huge.append(buf[:RAW_PREVIEW_BYTES])
            buf = _skip_rest_of_line(stream, chunk_bytes)
        yield _make_chunk(body, huge, _position(stream), max_line_bytes)
    if buf:
        yield _make_chunk(buf, [], _position(stream), max_line_bytes)


def _skip_rest_of_line(stream: BinaryIO, chunk_bytes: int) -> bytes:
    """Read past the end of the current line; return what follows the newline."""
    while True:
        data = stream.read(chunk_bytes)
        if not data:
            return b""
        nl = data.find(b"\n")
        if nl != -1:
            return data[nl + 1 :]


def has_long_line(data, limit: int) -> bool:
    """Whether any line of ``data`` (bytes or mmap) is longer than ``limit`` bytes.

    It jumps from line start to line start a window of ``limit`` bytes at a time,
    so it touches only a few bytes per window, not every byte.
    """
    pos, end = 0, len(data)
    while end - pos > limit:
        nl = data.rfind(b"\n", pos, pos + limit + 1)
        if nl == -1:
            return True
        pos = nl + 1
    return False


def _make_chunk(body: bytes, huge: list[bytes], position: int, max_line_bytes: int) -> Chunk:
    body, bad = repair_utf8(body)
    if LINE_SEPARATOR in body:
        body = body.replace(LINE_SEPARATOR, _SEPARATOR_STANDIN)
    return Chunk(body, bad, huge, position, has_long_line(body, max_line_bytes))
