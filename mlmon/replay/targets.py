"""Where replayed requests go: an HTTP endpoint, a Python callable, or a command speaking JSON lines."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import inspect
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from mlmon.errors import MlmonError
from mlmon.replay.messages import ModelTraceback, clean, exception_text, model_traceback


class SetupError(MlmonError):
    """The target cannot be used at all (exit 2): unreachable, not importable, or it died."""


@dataclass
class Reply:
    """What the target answered: a response, or an error (``timeout`` when it took too long).
    ``traceback``: where an in-process model raised."""

    status: int | None
    response: Any = None
    error: str | None = None
    timed_out: bool = False
    traceback: ModelTraceback | None = None


class Target:
    name = "target"

    async def start(self) -> None:
        pass

    async def send(self, payload: Any, timeout: float, text: str | None = None) -> Reply:
        """Send one request; ``text`` is the logged request as JSON text, for targets that send bytes."""
        raise NotImplementedError

    async def close(self) -> None:
        pass

    def pids(self) -> list[int]:
        """Processes whose CPU and memory belong to the model."""
        return []


def merge_headers(base: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    """``base`` with ``extra`` on top; header names compare case-insensitively."""
    out = {k: v for k, v in base.items() if k.lower() not in {e.lower() for e in extra}}
    out.update(extra)
    return out


class HttpTarget(Target):
    """POST the logged request body as JSON, over kept-alive connections."""

    def __init__(self, url: str, headers: dict[str, str], concurrency: int, pid: int | None = None):
        from mlmon.redact import redact_url

        self.url = url
        self.name = redact_url(url)
        self.headers = merge_headers({"Content-Type": "application/json"}, headers)
        self.concurrency = concurrency
        self.pid = pid
        self._session = None
        self._timeout = None
        self._timeout_seconds: float | None = None

    async def start(self) -> None:
        import aiohttp
        import yarl

        self._aiohttp = aiohttp
        self._url = yarl.URL(self.url)  # parsed once, not per request
        connector = aiohttp.TCPConnector(limit=max(self.concurrency, 1), force_close=False, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(connector=connector, headers=self.headers)

    async def send(self, payload: Any, timeout: float, text: str | None = None) -> Reply:
        aiohttp = self._aiohttp
        # The logged JSON text goes out as it is: no parse and re-encode per request.
        body = text.encode("utf-8") if text is not None and text[:1] in ("{", "[") else json.dumps(
            payload if payload is not None else text).encode("utf-8")
        if self._timeout is None or self._timeout_seconds != timeout:
            # --timeout inf waits as long as it takes (aiohttp's None); an infinite deadline overflows it.
            self._timeout = aiohttp.ClientTimeout(total=timeout if math.isfinite(timeout) else None)
            self._timeout_seconds = timeout
        try:
            # A redirect is the target's answer: following it would send the logged body and the
            # -H headers to a place the user did not name.
            async with self._session.post(self._url, data=body, timeout=self._timeout, allow_redirects=False) as resp:
                return _http_reply(resp.status, await resp.read(), resp.headers.get("Location"))
        except asyncio.TimeoutError:
            return Reply(None, error=f"no answer within {timeout:g}s", timed_out=True)
        except aiohttp.ClientConnectorError as exc:
            return Reply(None, error=clean(f"cannot connect: {exc.os_error or exc}"))
        except aiohttp.ClientError as exc:
            return Reply(None, error=exception_text(exc))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def pids(self) -> list[int]:
        return [self.pid] if self.pid else []


def _http_reply(status: int, raw: bytes, location: str | None) -> Reply:
    """An HTTP answer: a 2xx must hold JSON; another status is an error whose body is kept (as text when
    it is not JSON), to compare with a logged error answer of the same status."""
    ok = 200 <= status < 300
    try:
        data = json.loads(raw) if raw or ok else None
    except RecursionError:
        return Reply(status, None, error="the answer is nested too deeply to read")
    except ValueError:
        if ok:
            return Reply(status, None, error=f"HTTP {status} but {not_json(raw)}")
        data = raw.decode("utf-8", "replace")
    return Reply(status, data) if ok else Reply(status, data, error=_http_error(status, location))


def _http_error(status: int, location: str | None) -> str:
    if 300 <= status < 400:
        from mlmon.replay.url import redacted_url

        # The URL goes last: redacting its query takes everything up to the next space.
        where = f"; Location: {redacted_url(location)}" if location else ""
        return clean(f"HTTP {status}: a redirect, which replay does not follow{where}")
    return f"HTTP {status}"


#: Characters of an answer that is not JSON quoted in its error.
QUOTED_CHARS = 100


def not_json(raw: bytes) -> str:
    """Why an answer that does not parse is no JSON value, quoting its start cleaned:
    ``the answer is not JSON: '<html><head>…' (2,048 bytes)``, or ``the answer is empty``."""
    body = raw.strip()
    if not body:
        return "the answer is empty"
    head = body[:4 * QUOTED_CHARS].decode("utf-8", "replace")[:QUOTED_CHARS]
    more = f"… ({len(body):,} bytes)" if len(head.encode("utf-8")) < len(body) else ""
    return clean(f"the answer is not JSON: {head!r}{more}")


def _error_text(value: Any) -> str:
    """The text of a command's ``{"error": ...}`` answer, whatever its value holds."""
    if isinstance(value, str):
        return clean(value)
    try:
        return clean(json.dumps(value, ensure_ascii=False))
    except (ValueError, RecursionError):
        return "the command answered with an error too deeply nested to show"


def load_callable(spec: str) -> Callable:
    """``package.module:function`` or ``path/to/file.py:function``; raises SetupError with the reason."""
    if ":" not in spec:
        raise SetupError(f"--model {spec!r} needs the form module:function or path/to/file.py:function")
    where, _, attr = spec.rpartition(":")
    try:
        if where.endswith(".py") or os.sep in where:
            path = Path(where)
            if not path.exists():
                raise SetupError(f"--model file {where} does not exist")
            module_name = f"mlmon_replay_{path.stem}"
            spec_obj = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec_obj)  # type: ignore[arg-type]
            sys.modules[module_name] = module
            spec_obj.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            if "" not in sys.path and os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(where)
    except (SetupError, KeyboardInterrupt):
        raise
    except BaseException as exc:  # noqa: BLE001 - the module failed to import, or exited: show why, not a traceback or exit 0
        raise SetupError(f"cannot import {where}: {exception_text(exc)}", "Fix the module, or check --model.") from None
    fn = module
    for part in attr.split("."):
        fn = getattr(fn, part, None)
        if fn is None:
            raise SetupError(f"{where} has no attribute {attr!r}", "Name a function defined in that module.")
    if not callable(fn):
        raise SetupError(f"{spec} is not callable")
    return fn


def _raised(exc: BaseException) -> Reply:
    """The error outcome of a model that raised ``exc``, with the model's own frames of its traceback."""
    tb = exc.__traceback__
    return Reply(None, error=exception_text(exc), traceback=model_traceback(tb.tb_next if tb is not None else None))


class CallableTarget(Target):
    """Call a Python function in this process with the request payload; async functions are awaited.

    Whatever the function raises is an error outcome of that request, ``SystemExit`` included
    (a model calling ``sys.exit()`` must not end the run with exit code 0). ``KeyboardInterrupt``
    is the user's Ctrl-C and stops the run.
    """

    def __init__(self, spec: str):
        from mlmon.replay.stdio import streams_kept

        self.name = spec
        with streams_kept():  # what a module does to sys.stdout or sys.stderr at import is undone
            self.fn = load_callable(spec)
        self.is_async = inspect.iscoroutinefunction(self.fn)

    def call_sync(self, payload: Any) -> Reply:
        try:
            return Reply(200, self.fn(payload))
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - a failing model is a replay outcome, not a crash
            return _raised(exc)

    async def _call_async(self, payload: Any) -> Reply:
        try:
            return Reply(200, await self.fn(payload))
        except KeyboardInterrupt:
            raise
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # a timeout or Ctrl-C cancelled the call
            return _raised(exc)
        except BaseException as exc:  # noqa: BLE001 - SystemExit from a task would otherwise stop the event loop
            return _raised(exc)

    async def send(self, payload: Any, timeout: float, text: str | None = None) -> Reply:
        if not self.is_async:
            return self.call_sync(payload)
        try:
            return await asyncio.wait_for(self._call_async(payload), timeout)
        except asyncio.TimeoutError:
            return Reply(None, error=f"no answer within {timeout:g}s", timed_out=True)

    def pids(self) -> list[int]:
        return [os.getpid()]


def command_argv(command: str, option: str) -> list[str]:
    """The program and arguments of ``command``, split as a shell would; SetupError when it names none."""
    import shlex

    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise SetupError(clean(f"cannot start {option} {command!r}: {exc}")) from None
    if not argv:
        raise SetupError(clean(f"{option} {command!r} names no program to start"),
                         f"Give the command line, e.g. {option} 'python model.py'.")
    return argv


#: The longest answer line a command may write.
MAX_ANSWER_BYTES = 64 * 1024 * 1024
#: Bytes of a command's stderr kept, to say why it died. The rest is read and dropped: a command that
#: logs every request to stderr must neither block on a full pipe nor fill mlmon's memory.
STDERR_TAIL_BYTES = 4000


class CommandTarget(Target):
    """A process that reads one JSON request per line on stdin and writes one JSON response per line.

    Its stderr is not shown (as with ``--serve``): mlmon reads it as it comes and keeps the last
    STDERR_TAIL_BYTES, whose last line, cleaned, says why the command died.
    """

    def __init__(self, command: str):
        self.command = command
        self.name = command
        self.proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self._stderr_tail = b""
        self._stderr_reader: asyncio.Task | None = None

    async def start(self) -> None:
        argv = command_argv(self.command, "--command")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, limit=MAX_ANSWER_BYTES,
                start_new_session=True,  # Ctrl-C stops mlmon, which then closes the command in order
            )
        except (OSError, ValueError) as exc:
            raise SetupError(clean(f"cannot start --command {self.command!r}: {exc}")) from None
        self._stderr_tail = b""
        self._stderr_reader = asyncio.create_task(self._read_stderr(self.proc.stderr))

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(64 * 1024):
            self._stderr_tail = (self._stderr_tail + chunk)[-STDERR_TAIL_BYTES:]

    async def _stop_reading_stderr(self, wait: float = 0.0) -> None:
        """Let the stderr reader reach the end of what the command wrote (for up to ``wait`` seconds), then stop it."""
        reader, self._stderr_reader = self._stderr_reader, None
        if reader is None:
            return
        if wait:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(reader), wait)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader

    async def _died(self) -> SetupError:
        assert self.proc is not None
        await self._stop_reading_stderr(wait=2.0)
        code = self.proc.returncode
        detail = self._stderr_tail.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        return SetupError(clean(f"--command {self.command!r} died (exit code {code})"
                                f"{': ' + detail[0] if detail[0] else ''}"),
                          "Check the command; it must answer each JSON line with one JSON line.")

    async def send(self, payload: Any, timeout: float, text: str | None = None) -> Reply:
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        async with self._lock:  # one request at a time: answers come back in order
            if self.proc.returncode is not None:
                raise await self._died()
            try:
                self.proc.stdin.write(json.dumps(payload).encode("utf-8") + b"\n")
                await self.proc.stdin.drain()
                line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
            except asyncio.TimeoutError:
                # The answer may still come: it would be taken for the next request's. Restart instead.
                await self._restart()
                return Reply(None, error=f"no answer within {timeout:g}s", timed_out=True)
            except ValueError:  # a line longer than the limit; the rest of it would be the next answer
                await self._restart()
                return Reply(None, error=f"the answer is a line longer than {MAX_ANSWER_BYTES // 2**20} MB, "
                                         "more than replay reads")
            except (BrokenPipeError, ConnectionResetError):
                await self.proc.wait()
                raise await self._died()
            if not line:
                await self.proc.wait()
                raise await self._died()
            try:
                data = json.loads(line)
            except RecursionError:
                return Reply(None, error="the answer is nested too deeply to read")
            except ValueError:
                return Reply(None, error=not_json(line))
            if isinstance(data, dict) and set(data) == {"error"}:
                return Reply(None, data, error=_error_text(data["error"]))
            return Reply(200, data)

    async def _restart(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()  # it hung: no grace period
            await self.proc.wait()
        await self._stop_reading_stderr()
        await self.start()

    async def close(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            try:
                self.proc.stdin.close()  # type: ignore[union-attr]
                await asyncio.wait_for(self.proc.wait(), 2.0)
            except Exception:
                self.proc.kill()
                await self.proc.wait()
            except BaseException:  # a second Ctrl-C while it closes: never leave it running
                self.proc.kill()
                raise
        await self._stop_reading_stderr()

    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc is not None else []
