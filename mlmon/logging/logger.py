"""``RequestLogger``: what serving code calls to log each request in mlmon's own shape."""

from __future__ import annotations

import atexit
import os
import random
import re
import time
import weakref

from mlmon.logging.record import (
    encode,
    error_text,
    new_request_id,
    request_id_of,
    utc_timestamp,
)
from mlmon.logging.rotate import LogFile
from mlmon.logging.sampler import ResourceSampler
from mlmon.logging.writer import Writer

#: Every logger alive, to give each a new file and writer in a forked child.
_LOGGERS: weakref.WeakSet = weakref.WeakSet()
_SUFFIXES = (".jsonl", ".ndjson", ".log", ".json")


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip(".") or "x"


def file_name(path, model: str | None) -> str:
    """The file this process writes: one per process, named after the host and the process id.

    A path whose name holds ``{pid}`` is a file name template (``{host}`` may be used too). A path
    whose name ends in ``.jsonl``, ``.ndjson``, ``.log`` or ``.json`` is a file name, which gets
    ``-HOST-PID`` before its suffix (``app.jsonl`` → ``app-web1-4242.jsonl``). Any other path is a
    directory, which gets ``MODEL-HOST-PID.jsonl`` (``requests-…`` without a model).
    """
    host, pid = _safe(os.uname().nodename.split(".")[0]), os.getpid()
    path = os.fspath(path)
    name = os.path.basename(path.rstrip("/" + os.sep))
    if "{pid}" in name:
        return path.replace("{pid}", str(pid)).replace("{host}", host)
    suffix = next((s for s in _SUFFIXES if name.endswith(s) and not path.endswith(("/", os.sep))), None)
    if suffix is None:
        return os.path.join(path, f"{_safe(model or 'requests')}-{host}-{pid}.jsonl")
    return f"{path[: -len(suffix)]}-{host}-{pid}{suffix}"


def _seconds(value: float | str | None) -> float | None:
    """``rotate_every`` as seconds: a number, or text such as ``30m``, ``1h``, ``1d``."""
    if value is None or isinstance(value, (int, float)):
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", str(value))
    if not match:
        raise ValueError(f"rotate_every={value!r}: give seconds or a duration such as '30m', '1h' or '1d'")
    return float(match[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]


class Recording:
    """One request being logged: set ``response`` (and maybe ``status``, ``error``, or ``hotfix``: the
    name of the hot fix that answered) inside the ``with`` block; the record is queued when the block
    ends. Returned by :meth:`RequestLogger.record`."""

    __slots__ = (
        "_logger",
        "_start",
        "_ts",
        "endpoint",
        "error",
        "hotfix",
        "request",
        "request_id",
        "response",
        "sampled",
        "status",
    )

    def __init__(self, logger: RequestLogger, request: object, request_id: str, endpoint: str | None, sampled: bool):
        self.request = request
        self.response: object = None
        self.status: int | None = None
        self.error: str | None = None
        self.hotfix: str | None = None
        self.request_id = request_id
        self.endpoint = endpoint
        self.sampled = sampled
        self._logger = logger

    def __enter__(self) -> Recording:
        self._ts = time.time()
        self._start = time.perf_counter()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        latency_ms = (time.perf_counter() - self._start) * 1000.0
        if not self.sampled:
            return False
        status, error = self.status, self.error
        if exc is not None:
            # A cancelled request (the client went away) is not the model's error.
            status = 499 if exc_type.__name__ == "CancelledError" else 500
            error = error_text(exc)
        self._logger._emit(self._ts, self.request_id, self.endpoint, status, latency_ms, self.request, self.response,
                           error, hotfix=self.hotfix)
        return False


class RequestLogger:
    """Logs requests and responses as JSON lines in mlmon's own shape (README "Log records").

    ``path`` is a directory or a file name; each process writes its own file (see
    :func:`file_name`), so workers never share one. Records are queued and written by one
    background thread; a full queue drops records (counted in :meth:`stats`), a failing disk
    never raises here. ``close()`` (also at exit, and when used as a context manager) writes
    what is queued within ``close_timeout`` seconds.

    - ``model``, ``model_version``, ``endpoint``: written in every record.
    - ``sample``: the share of requests logged (``0.1``: one in ten), drawn from a
      ``random.Random(seed)``, so a seed makes the choice repeatable.
    - ``redact``: more keys whose values are secrets, besides the default ones (Authorization,
      cookies, passwords, tokens, API keys: README "Secrets"); ``redact=None`` turns redaction off.
    - ``max_bytes``, ``rotate_every`` (seconds, or ``"1h"``), ``keep``: rotation (see
      :class:`~mlmon.logging.rotate.LogFile`).
    - ``queue_size``, ``queue_bytes``: records, and about the bytes, queued at most before new
      ones are dropped.
    - ``max_line_bytes``: a longer record is written without its request and response.
    - ``resources``: sample the process's CPU and memory every second (``cpu_percent``, ``memory_mb``).
    """

    def __init__(self, path, *, model: str | None = None, model_version: str | None = None,
                 endpoint: str | None = None, sample: float = 1.0, seed: int | None = None,
                 redact: tuple[str, ...] | list[str] | None = (), max_bytes: int | None = 256 << 20,
                 rotate_every: float | str | None = None, keep: int | None = 10, queue_size: int = 10_000,
                 queue_bytes: int = 64 << 20,
                 max_line_bytes: int = 1 << 20, close_timeout: float = 5.0, resources: bool = True):
        if not 0.0 <= sample <= 1.0:
            raise ValueError(f"sample={sample!r}: give the share of requests to log, from 0 to 1")
        self.model, self.model_version, self.endpoint = model, model_version, endpoint
        self.sample = sample
        self._seed = seed
        self._random = random.Random(seed).random
        self._template = path
        self._file_args = dict(max_bytes=max_bytes, rotate_every=_seconds(rotate_every), keep=keep)
        self._writer_args = dict(queue_size=queue_size, queue_bytes=queue_bytes, max_line_bytes=max_line_bytes,
                                 redact_keys=None if redact is None else tuple(redact))
        self.close_timeout = close_timeout
        self._sampler = ResourceSampler() if resources else None
        if self._sampler is not None:
            self._sampler.start()
        self._writer = self._new_writer()
        self._closed = False
        _LOGGERS.add(self)
        atexit.register(_close_at_exit, weakref.ref(self))

    def _new_writer(self) -> Writer:
        return Writer(LogFile(file_name(self._template, self.model), **self._file_args), **self._writer_args)

    @property
    def path(self) -> str:
        """The file this process writes now."""
        return self._writer.file.path

    # --- logging -------------------------------------------------------------------------------

    def _keep(self) -> bool:
        return self.sample >= 1.0 or self._random() < self.sample

    def record(self, request: object = None, *, headers: object = None, request_id: str | None = None,
               endpoint: str | None = None) -> Recording:
        """A context manager that logs one request: its latency (monotonic clock) from entering the
        block to leaving it, ``rec.response``, and an exception as status 500 with its type and
        message (re-raised). The request id is ``request_id``, else the request's ``request_id``
        key, else its ``X-Request-ID`` header (``headers``: a mapping or pairs), else a new UUID."""
        return Recording(self, request, self._request_id(request_id, request, headers), endpoint or self.endpoint,
                         self._keep())

    def _request_id(self, given, request, headers) -> str:
        try:
            return str(given or request_id_of(request, headers) or new_request_id())
        except Exception:  # noqa: BLE001  (odd headers must not fail the request)
            return new_request_id()

    def log(self, request: object = None, response: object = None, *, status: int | None = None,
            latency_ms: float | None = None, error: str | BaseException | None = None, request_id: str | None = None,
            headers: object = None, endpoint: str | None = None, ts: float | None = None,
            hotfix: str | None = None) -> bool:
        """Log one request measured elsewhere (``ts`` in epoch seconds, default now; ``hotfix``: the name of
        the hot fix that answered). True if queued; False if sampled out, dropped (queue full) or closed."""
        if not self._keep():
            return False
        if isinstance(error, BaseException):
            error = error_text(error)
        rid = self._request_id(request_id, request, headers)
        return self._emit(time.time() if ts is None else ts, rid, endpoint or self.endpoint, status, latency_ms,
                          request, response, error, hotfix=hotfix)

    def _emit(self, ts, request_id, endpoint, status, latency_ms, request, response, error,
              raw: bool = False, hotfix: str | None = None) -> bool:
        """Queue one record: encoded here, or, for middleware (``raw``: bodies are
        :class:`~mlmon.logging.record.Body` bytes, which cannot change), encoded by the writer.
        Never raises: a record that cannot be made is counted as lost."""
        try:
            return self._queue(ts, request_id, endpoint, status, latency_ms, request, response, error, raw, hotfix)
        except Exception as exc:  # noqa: BLE001  (logging must never fail a request)
            self._writer.count_lost(exc)
            return False

    def _queue(self, ts, request_id, endpoint, status, latency_ms, request, response, error, raw, hotfix) -> bool:
        sampler = self._sampler
        if sampler is not None and not sampler.running:
            sampler.start()
        record = {
            "ts": utc_timestamp(ts), "request_id": request_id, "model": self.model,
            "model_version": self.model_version, "endpoint": endpoint,
            "status": status if status is not None else (500 if error else 200),
            "latency_ms": None if latency_ms is None else round(latency_ms, 3),
            "request": request, "response": response, "error": error,
            "cpu_percent": sampler.cpu_percent if sampler else None,
            "memory_mb": sampler.memory_mb if sampler else None,
        }
        if hotfix is not None:  # only a hot fix's answer carries the key: other records keep their shape
            record["hotfix"] = str(hotfix)
        if raw:
            return self._writer.put(record, 512 + request.kept + response.kept)
        line = encode(record)
        return self._writer.put(line, len(line))

    # --- state and shutdown --------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Counts since this process started logging: ``written``, ``dropped`` (queue full or
        closed), ``lost`` (given up after write failures at close, or that could not be made), ``write_errors``,
        ``queued``, ``rotations``."""
        w = self._writer
        return {"written": w.written, "dropped": w.dropped, "lost": w.lost, "write_errors": w.write_errors,
                "queued": w.pending(), "rotations": w.file.rotations}

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` seconds until what is queued is written; False if it was not."""
        return self._writer.flush(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Write what is queued (within ``timeout``, default ``close_timeout``) and close the file.
        Later records are dropped. False if some records could not be written in time."""
        self._closed = True
        if self._sampler is not None:
            self._sampler.stop()
        return self._writer.close(self.close_timeout if timeout is None else timeout)

    def __enter__(self) -> RequestLogger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _after_fork_in_child(self) -> None:
        self._writer.abandon()
        self._writer = self._new_writer()
        if self._seed is None:
            self._random = random.Random().random  # workers forked from one parent sample independently
        if self._closed:
            self._writer.close(0)
        elif self._sampler is not None:
            self._sampler.start()


def _close_at_exit(ref: weakref.ref) -> None:
    logger = ref()
    if logger is not None:
        logger.close()


def _renew_in_child() -> None:
    for logger in list(_LOGGERS):
        logger._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_in_child)
