"""Cut log bytes into large chunks of whole lines, the reader's unit of work.

Each chunk is decoded by one Polars plan, so no Python code runs per log line.
A regular file is planned as byte spans, which the decoding threads read
themselves; a stream (gzip, stdin) is cut here as it is read.

Lines longer than the limit are settled here, at the byte level: one that would
make a chunk too large is cut out, keeping only its first bytes, so it is never
held in memory whole. Invalid UTF-8 is found while decoding (see decode.py).
"""

from __future__ import annotations

import codecs
import os
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

#: The column separator used to read a chunk as one text column per line. It is a
#: control character, which valid JSON never contains raw.
LINE_SEPARATOR = b"\x1f"
SEPARATOR_STANDIN = b"\x01"  # also invalid in JSON, so the line stays bad

RAW_PREVIEW_BYTES = 1024
_UTF8_WINDOW = 256 * 1024
_SEEK_WINDOW = 64 * 1024


@dataclass
class Chunk:
    """Whole lines of one source. Line numbers are counted by the decoder, not here."""

    data: bytes
    #: Lines longer than the limit, cut out of the source right after ``data``: their first bytes.
    huge_after: list[bytes] = field(default_factory=list)
    #: Compressed or on-disk bytes consumed so far, for progress.
    position: int = 0
    #: Whether ``data`` holds a line longer than the limit (it is rejected while decoding).
    has_long_line: bool = False


@dataclass(frozen=True)
class Span:
    """Bytes ``start`` to ``end`` of a file, whole lines, then the cut-out long lines' first bytes."""

    start: int
    end: int
    huge_after: tuple[bytes, ...] = ()


def invalid_utf8_lines(data: bytes) -> list[int]:
    """The 0-based indexes of the lines of ``data`` that hold invalid UTF-8.

    The C decoder validates a window of lines at a time and stops at an invalid
    sequence; the search goes on after that line. The cost is one validating pass
    plus one step per bad line, never a step per line.
    """
    if data.isascii():
        return []
    view = memoryview(data)
    lines: list[int] = []
    pos = 0  # start of the bytes not yet validated
    line, counted = 0, 0  # the index of the line that holds byte ``counted``
    while pos < len(data):
        # An error copies only its window into the exception, not the rest of the data.
        stop = data.find(b"\n", pos + _UTF8_WINDOW)
        stop = len(data) if stop == -1 else stop + 1
        try:
            codecs.utf_8_decode(view[pos:stop], "strict", True)
            pos = stop
            continue
        except UnicodeDecodeError as err:
            bad = pos + err.start
        start = data.rfind(b"\n", 0, bad) + 1
        end = data.find(b"\n", bad)
        line += data.count(b"\n", counted, start)
        counted = start
        lines.append(line)
        pos = len(data) if end == -1 else end
    return lines


def plan_spans(fd: int, size: int, *, chunk_bytes: int, max_line_bytes: int, start: int = 0) -> Iterator[Span]:
    """Spans of about ``chunk_bytes`` covering bytes ``start`` (a line's start) to ``size`` of an open file.

    Only the bytes around each cut are read here. A line over ``max_line_bytes``
    that crosses a cut is cut out of the spans, and only its first bytes are kept.
    """
    while start < size:
        target = start + chunk_bytes
        if target >= size:
            yield Span(start, size)
            return
        newline = _find_newline(fd, target, size)
        end = size if newline == -1 else newline + 1
        line_start = _rfind_newline(fd, start, target) + 1 or start
        length = (newline if newline != -1 else size) - line_start
        if newline > line_start and os.pread(fd, 1, newline - 1) == b"\r":
            length -= 1  # a CRLF line's length, as the decoder measures it, has no CR
        if length > max_line_bytes:
            yield Span(start, line_start, (os.pread(fd, min(RAW_PREVIEW_BYTES, length), line_start),))
        else:
            yield Span(start, end)
        start = end


def _find_newline(fd: int, pos: int, size: int) -> int:
    """The offset of the first newline at or after ``pos``, or -1."""
    window = _SEEK_WINDOW
    while pos < size:
        data = os.pread(fd, min(window, size - pos), pos)
        if not data:
            return -1
        found = data.find(b"\n")
        if found != -1:
            return pos + found
        pos += len(data)
        window = min(window * 2, 8 << 20)
    return -1


def _rfind_newline(fd: int, lo: int, hi: int) -> int:
    """The offset of the last newline in bytes ``lo`` to ``hi``, or -1."""
    window = _SEEK_WINDOW
    while hi > lo:
        begin = max(lo, hi - window)
        found = os.pread(fd, hi - begin, begin).rfind(b"\n")
        if found != -1:
            return begin + found
        hi = begin
        window = min(window * 2, 8 << 20)
    return -1


def load_span(fd: int, span: Span, max_line_bytes: int) -> Chunk:
    """Read one span of an open file as a chunk (in a decoding thread: the read releases the GIL)."""
    data = os.pread(fd, span.end - span.start, span.start)
    return make_chunk(data, list(span.huge_after), span.end, max_line_bytes)


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
                yield make_chunk(b"", [buf[:RAW_PREVIEW_BYTES]], _position(stream), max_line_bytes)
                buf = _skip_rest_of_line(stream, chunk_bytes)
            continue
        body, buf = buf[: cut + 1], buf[cut + 1 :]
        huge = []
        if len(buf) > max_line_bytes:  # the unfinished last line is already too long
            huge.append(buf[:RAW_PREVIEW_BYTES])
            buf = _skip_rest_of_line(stream, chunk_bytes)
        yield make_chunk(body, huge, _position(stream), max_line_bytes)
    if buf:
        yield make_chunk(buf, [], _position(stream), max_line_bytes)


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


def make_chunk(body: bytes, huge: list[bytes], position: int, max_line_bytes: int) -> Chunk:
    if LINE_SEPARATOR in body:
        body = body.replace(LINE_SEPARATOR, SEPARATOR_STANDIN)
    return Chunk(body, huge, position, has_long_line(body, max_line_bytes))
