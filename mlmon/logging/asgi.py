"""ASGI middleware (Starlette, FastAPI) that logs each HTTP request with no code in the handlers.

Pure ASGI, so it imports no framework. Every message passes through unchanged and at once:
nothing is delayed, buffered for the client or re-encoded. What is logged:

- ``request``: the request body parsed as JSON when its content type is JSON (or absent) and it
  has at most ``max_body_bytes`` bytes, as the app read it; else null. ``request_bytes``: its size.
- ``response``: the response body parsed as JSON when its content type is JSON (or absent) and it
  declares a ``content-length`` of at most ``max_body_bytes``; else null: a streaming response
  (no ``content-length``, such as ``StreamingResponse`` or server-sent events) is passed through
  untouched and logged without its body. ``response_bytes``: the bytes sent.
- ``latency_ms``: from the request's arrival to the last byte of the response handed to the server.
- ``status``: the response's; 500 with the exception's type and message when the app raised
  (the exception goes on to the server); 499 when the request was cancelled (the client left).
- ``request_id``: the ``X-Request-ID`` header, else the JSON body's ``request_id``, else a new UUID.
- ``endpoint``: the path (without the query string).
"""

from __future__ import annotations

import time

from mlmon.requestcontext import close_slot, open_slot
from mlmon.logging.middleware import Middleware
from mlmon.logging.record import Body, error_text, is_json, keeps_response


class ASGIMiddleware(Middleware):
    """Wraps an ASGI app: ``app.add_middleware(ASGIMiddleware, logger=logger)`` in Starlette or
    FastAPI; ``max_body_bytes`` and ``paths`` as in :class:`~mlmon.logging.middleware.Middleware`."""

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.logs(scope["path"]):
            await self.app(scope, receive, send)
            return
        ts, start = time.time(), time.perf_counter()
        content_type, request_id = None, None
        for key, value in scope.get("headers") or ():
            if key == b"content-type":
                content_type = value
            elif key == b"x-request-id":
                request_id = value.decode("latin-1")
        limit = self.max_body_bytes
        request = Body(limit if is_json(content_type) else 0)
        response = Body(0)
        status = None

        async def logged_receive():
            message = await receive()
            if message["type"] == "http.request":
                request.add(message.get("body", b""))
            return message

        async def logged_send(message):
            nonlocal status, response
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                response = Body(limit if _keeps_body(message.get("headers") or (), limit) else 0)
            elif kind == "http.response.body":
                response.add(message.get("body", b""))
            await send(message)

        error = None
        slot, token = open_slot()  # a HotfixLayer in the handler names its rule here
        try:
            await self.app(scope, logged_receive, logged_send)
        except BaseException as exc:
            error = exc
            raise
        finally:
            close_slot(token)
            latency_ms = (time.perf_counter() - start) * 1000.0
            if error is not None:
                status = 499 if type(error).__name__ == "CancelledError" else 500
            self.logger._emit(ts, request_id, scope.get("path"), status, latency_ms, request, response,
                              None if error is None else error_text(error), raw=True, hotfix=slot.name)


def _keeps_body(headers, limit: int) -> bool:
    found = {key.lower(): value for key, value in headers if key.lower() in (b"content-type", b"content-length")}
    return keeps_response(found.get(b"content-type"), found.get(b"content-length"), limit)
