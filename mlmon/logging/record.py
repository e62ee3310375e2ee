"""One log record in mlmon's own shape (README "Log records"), and its JSON line.

The request path builds a record and encodes it at once (``encode``), so that objects the
handler mutates later cannot change what is logged. Middleware passes bodies as bytes
(:class:`Body`), which never change, and leaves their JSON parsing to the writer thread
(``finish``).
"""

from __future__ import annotations

import json
import math
import os
import random
import time

#: The header that carries a request id from a client or a proxy.
REQUEST_ID_HEADER = "x-request-id"
#: Longest error text kept: type and message of an exception, not a book.
MAX_ERROR_CHARS = 4096


_SECOND: list = [(-1, "")]  # the last second formatted, as one tuple: threads read it whole


def utc_timestamp(epoch: float) -> str:
    """``2026-11-27T10:00:00.123Z`` for epoch seconds, to the millisecond, in UTC."""
    second = int(epoch)
    cached = _SECOND[0]
    if cached[0] != second:
        cached = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        _SECOND[0] = cached
    return f"{cached[1]}.{int((epoch - second) * 1000):03d}Z"


#: Random bits for request ids, drawn without a system call: ``os.urandom`` would release the GIL
#: on every request, and another thread (the writer's) could then hold it for a whole switch interval.
_IDS = random.Random()


def new_request_id() -> str:
    """A random request id, a UUID 4 (as ``str(uuid.uuid4())`` writes it)."""
    n = _IDS.getrandbits(128)
    n = (n & ~(0xC000 << 48) | 0x8000 << 48) & ~(0xF000 << 64) | 4 << 76
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_IDS.seed)  # no two workers draw the same ids


def header(headers: object, name: str) -> str | None:
    """The value of header ``name`` (lower case) in a mapping or a list of pairs, any case, or None."""
    if not headers:
        return None
    if hasattr(headers, "get"):
        for key in (name, name.title(), name.upper(), "X-Request-ID"):
            value = headers.get(key)
            if value:
                return value.decode("latin-1") if isinstance(value, bytes) else str(value)
        items = headers.items() if hasattr(headers, "items") else ()
    else:
        items = headers
    for key, value in items:
        key = key.decode("latin-1") if isinstance(key, bytes) else str(key)
        if key.lower() == name and value:
            return value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return None


def request_id_of(request: object, headers: object = None) -> str | None:
    """The request's own id: its ``request_id`` key, else its ``X-Request-ID`` header; None if neither."""
    if isinstance(request, dict):
        value = request.get("request_id")
        if isinstance(value, (str, int)) and not isinstance(value, bool) and value != "":
            return str(value)
    return header(headers, REQUEST_ID_HEADER)


def error_text(exc: BaseException) -> str:
    """``ValueError: bad age``: an exception's type and message, cut to :data:`MAX_ERROR_CHARS`."""
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001  (a broken __str__ must not break logging)
        message = "<unprintable>"
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + "…"


class Body:
    """A request or response body as middleware saw it: its bytes while they are kept (JSON, or no
    content type, and at most ``limit`` bytes), and its size in any case."""

    __slots__ = ("chunks", "limit", "size")

    def __init__(self, limit: int = 0):
        self.chunks: list[bytes] | None = [] if limit > 0 else None
        self.limit = limit
        self.size = 0

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.chunks is not None:
            if self.size > self.limit:
                self.chunks = None  # too large: keep the size only
            elif chunk:
                self.chunks.append(bytes(chunk))

    @property
    def kept(self) -> int:
        """Bytes held in memory."""
        return self.size if self.chunks is not None else 0

    def value(self) -> object:
        """The body parsed as JSON, or None when it was not kept or is not JSON (in the writer thread)."""
        if not self.chunks:
            return None
        try:
            return json.loads(b"".join(self.chunks))
        except (ValueError, RecursionError):
            return None


def is_json(content_type: str | bytes | None) -> bool:
    """Whether a body of this content type is kept: JSON (``application/json``, ``…+json``) or unsaid."""
    if not content_type:
        return True
    if isinstance(content_type, bytes):
        content_type = content_type.decode("latin-1")
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


def keeps_response(content_type: str | bytes | None, length: str | bytes | None, limit: int) -> bool:
    """Whether a response's body is kept: JSON (or no content type) with a content length within
    ``limit``. Without a content length the response is streaming, and its body is not kept."""
    if length is None or not is_json(content_type):
        return False
    try:
        return int(length) <= limit
    except ValueError:
        return False


def finish(record: dict) -> dict:
    """A record built by middleware, in the writer thread: its :class:`Body` fields parsed, their
    sizes added (``request_bytes``, ``response_bytes``), and a request id from the body or new."""
    for field in ("request", "response"):
        body = record.get(field)
        if isinstance(body, Body):
            record[field] = body.value()
            record[f"{field}_bytes"] = body.size
    if record.get("request_id") is None:
        record["request_id"] = request_id_of(record.get("request")) or new_request_id()
    return record


def _default(value: object) -> object:
    """JSON for what ``json`` cannot encode: NumPy scalars and arrays, times, sets, bytes, the rest as text."""
    for method in ("item", "tolist"):  # NumPy, PyTorch
        convert = getattr(value, method, None)
        if callable(convert):
            try:
                return convert()
            except Exception:  # noqa: BLE001, S112
                continue
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return isoformat()
    return str(value)


def _finite(value: object, depth: int = 0) -> object:
    """``value`` with NaN and infinities as null (JSON has none) and nesting past 200 levels as text."""
    if depth > 200:
        return "<nested too deep>"
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v, depth + 1) for v in value]
    converted = _default(value) if not isinstance(value, (str, int, type(None))) else value
    return converted if converted is value else _finite(converted, depth + 1)


def encode(record: dict) -> str:
    """One JSON line (without its newline) for ``record``, whatever its values hold: NaN becomes
    null, unknown types become JSON by :func:`_default`, a cycle or too deep a nesting becomes text."""
    try:
        return json.dumps(record, ensure_ascii=False, allow_nan=False, default=_default)
    except (ValueError, TypeError, RecursionError):
        return json.dumps(_finite(record), ensure_ascii=False, allow_nan=False, default=str)
