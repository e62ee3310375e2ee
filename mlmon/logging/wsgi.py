"""WSGI middleware (Flask, Django, any WSGI app) that logs each request with no code in the handlers.

What is logged is what :mod:`mlmon.logging.asgi` logs, with these WSGI specifics:

- a JSON request body (or one without content type) that declares a ``Content-Length`` of at most
  ``max_body_bytes`` is read before the app runs and handed to it from memory; any other body is
  left to the app, which reads it as usual, and only the bytes it read are counted;
- the response's chunks are passed on as the app yields them; the record is queued when the
  server closes the response, so ``latency_ms`` runs to the last chunk;
- Flask turns a handler's exception into a 500 response itself, so the middleware sees only the
  status; :func:`log_flask_errors` adds the exception's type and message to the record.
"""

from __future__ import annotations

import io
import time

from mlmon.requestcontext import HotfixSlot, close_slot, open_slot
from mlmon.logging.logger import RequestLogger
from mlmon.logging.middleware import Middleware
from mlmon.logging.record import Body, error_text, is_json, keeps_response

#: Where :func:`log_flask_errors` leaves an exception's text for the middleware.
ERROR_KEY = "mlmon.logging.error"


class WSGIMiddleware(Middleware):
    """Wraps a WSGI app: ``app.wsgi_app = WSGIMiddleware(app.wsgi_app, logger)`` in Flask;
    ``max_body_bytes`` and ``paths`` as in :class:`~mlmon.logging.middleware.Middleware`."""

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not self.logs(path):
            return self.app(environ, start_response)
        call = _Call(self.logger, environ, path)
        call.read_request(self.max_body_bytes)
        limit = self.max_body_bytes

        def logged_start_response(status, headers, exc_info=None):
            call.status = _status_code(status)
            call.response = Body(limit if _keeps_body(headers, limit) else 0)
            write = start_response(status, headers, exc_info)

            def logged_write(data):  # the legacy write() callable
                call.response.add(data)
                return write(data)

            return logged_write

        call.slot, token = open_slot()  # a HotfixLayer in the handler names its rule here
        try:
            iterable = self.app(environ, logged_start_response)
        except BaseException as exc:
            call.done(exc)
            raise
        finally:
            close_slot(token)
        return _LoggedResponse(iterable, call)


class _Call:
    """One request in flight: what the record needs, queued once by :meth:`done`."""

    def __init__(self, logger: RequestLogger, environ, path: str):
        self.logger, self.environ, self.path = logger, environ, path
        self.ts, self.start = time.time(), time.perf_counter()
        self.status: int | None = None
        self.request = Body(0)
        self.response = Body(0)
        self.finished = False
        self.slot = HotfixSlot()

    def read_request(self, limit: int) -> None:
        environ = self.environ
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if 0 < length <= limit and is_json(environ.get("CONTENT_TYPE")):
            data = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(data)
            self.request = Body(limit)
            self.request.add(data)
        elif length:
            environ["wsgi.input"] = _CountingInput(environ["wsgi.input"], self.request)

    def done(self, exc: BaseException | None = None) -> None:
        if self.finished:
            return
        self.finished = True
        latency_ms = (time.perf_counter() - self.start) * 1000.0
        error = error_text(exc) if exc is not None else self.environ.get(ERROR_KEY)
        status = 500 if exc is not None else self.status
        request_id = self.environ.get("HTTP_X_REQUEST_ID") or None
        self.logger._emit(self.ts, request_id, self.path, status, latency_ms, self.request, self.response, error,
                          raw=True, hotfix=self.slot.name)


class _LoggedResponse:
    """The app's response iterable, passed through chunk by chunk; logs when the server closes it."""

    def __init__(self, iterable, call: _Call):
        self.iterable, self.call = iterable, call

    def __iter__(self):
        try:
            for chunk in self.iterable:
                self.call.response.add(chunk)
                yield chunk
        except BaseException as exc:
            self.call.done(exc)
            raise

    def close(self):
        try:
            close = getattr(self.iterable, "close", None)
            if close is not None:
                close()
        finally:
            self.call.done()


class _CountingInput:
    """``wsgi.input`` for a body that is not kept: the app reads it as usual; the bytes are counted."""

    def __init__(self, stream, body: Body):
        self.stream, self.body = stream, body

    def read(self, *args):
        return self._count(self.stream.read(*args))

    def readline(self, *args):
        return self._count(self.stream.readline(*args))

    def readlines(self, *args):
        lines = self.stream.readlines(*args)
        for line in lines:
            self._count(line)
        return lines

    def __iter__(self):
        for line in self.stream:
            yield self._count(line)

    def _count(self, data):
        self.body.size += len(data)
        return data


def _status_code(status) -> int | None:
    """200 from ``"200 OK"``; None from a status line that is not one (the server will say so)."""
    try:
        return int(str(status).split(" ", 1)[0])
    except ValueError:
        return None


def _keeps_body(headers, limit: int) -> bool:
    found = {key.lower(): value for key, value in headers if key.lower() in ("content-type", "content-length")}
    return keeps_response(found.get("content-type"), found.get("content-length"), limit)


def log_flask_errors(app) -> None:
    """Record a Flask handler's exception (type and message) in its request's record: Flask answers
    500 itself, so the middleware would see the status only. Call once, beside the middleware."""
    from flask import got_request_exception, request

    def remember(sender, exception, **extra):
        request.environ[ERROR_KEY] = error_text(exception)

    got_request_exception.connect(remember, app, weak=False)
