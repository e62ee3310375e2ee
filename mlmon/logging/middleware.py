"""What the ASGI and WSGI middleware share: their options and which requests they log."""

from __future__ import annotations

from mlmon.logging.logger import RequestLogger

#: Largest body kept in a record; a larger one is passed through and logged by its size.
DEFAULT_MAX_BODY_BYTES = 64 * 1024


class Middleware:
    """Wraps ``app``, logging its requests to ``logger``.

    ``max_body_bytes``: the largest request or response body kept (parsed as JSON) in a record.
    ``paths``: log only requests whose path starts with one of these (default: all).
    """

    def __init__(self, app, logger: RequestLogger, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 paths: tuple[str, ...] | list[str] | None = None):
        self.app = app
        self.logger = logger
        self.max_body_bytes = max_body_bytes
        self.paths = tuple(paths) if paths else None

    def logs(self, path: str) -> bool:
        """Whether to log a request to ``path``: one of ``paths``, and drawn by the logger's sampling."""
        return (self.paths is None or path.startswith(self.paths)) and self.logger._keep()
