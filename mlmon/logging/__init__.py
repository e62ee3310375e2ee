"""Log requests from serving code in the shape mlmon reads (README "Logging from serving code").

``RequestLogger`` for code that calls a model; ``ASGIMiddleware`` (Starlette, FastAPI) and
``WSGIMiddleware`` (Flask) for a web app, with no code in its handlers. Pure Python with psutil:
importing this package loads neither Polars, typer nor rich, nor any web framework.
"""

from mlmon.logging.asgi import ASGIMiddleware
from mlmon.logging.logger import Recording, RequestLogger
from mlmon.logging.wsgi import WSGIMiddleware, log_flask_errors

__all__ = ["ASGIMiddleware", "Recording", "RequestLogger", "WSGIMiddleware", "log_flask_errors"]
