"""Where replayed requests go: an HTTP endpoint, a Python callable, or a command speaking JSON lines."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from mlmon.errors import MlmonError


class SetupError(MlmonError):
    """The target cannot be used at all (exit 2): unreachable, not importable, or it died."""


@dataclass
class Reply:
    """What the target answered: a response, or an error (``timeout`` when it took too long)."""

    status: int | None
    response: Any = None
    error: str | None = None
    timed_out: bool = False


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
        if self._timeout is None or self._timeout.total != timeout:
            self._timeout = aiohttp.ClientTimeout(total=timeout)
        try:
            async with self._session.post(self._url, data=body, timeout=self._timeout) as resp:
                raw = await resp.read()
                try:
                    data = json.loads(raw) if raw else None
                except ValueError:
                    data = raw.decode("utf-8", "replace")
                if 200 <= resp.status < 300:
                    return Reply(resp.status, data)
                return Reply(resp.status, data, error=f"HTTP {resp.status}")
        except asyncio.TimeoutError:
            return Reply(None, error=f"no answer within {timeout:g}s", timed_out=True)
        except aiohttp.ClientConnectorError as exc:
            return Reply(None, error=f"cannot connect: {exc.os_error or exc}")
        except aiohttp.ClientError as exc:
            return Reply(None, error=f"{type(exc).__name__}: {exc}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def pids(self) -> list[int]:
        return [self.pid] if self.pid else []


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
    except SetupError:
        raise
    except Exception as exc:  # the user's module failed to import: show why, not a traceback
        raise SetupError(f"cannot import {where}: {type(exc).__name__}: {exc}", "Fix the module, or check --model.") from None
    fn = module
    for part in attr.split("."):
        fn = getattr(fn, part, None)
        if fn is None:
            raise SetupError(f"{where} has no attribute {attr!r}", "Name a function defined in that module.")
    if not callable(fn):
        raise SetupError(f"{spec} is not callable")
    return fn


class CallableTarget(Target):
    """Call a Python function in this process with the request payload; async functions are awaited."""

    def __init__(self, spec: str):
        self.name = spec
        self.fn = load_callable(spec)
        self.is_async = inspect.iscoroutinefunction(self.fn)

    def call_sync(self, payload: Any) -> Reply:
        try:
            return Reply(200, self.fn(payload))
        except Exception as exc:  # a failing model is a replay outcome, not a crash
            return Reply(None, error=f"{type(exc).__name__}: {exc}")

    async def send(self, payload: Any, timeout: float, text: str | None = None) -> Reply:
        try:
            if self.is_async:
                result = await asyncio.wait_for(self.fn(payload), timeout)
            else:
                result = self.fn(payload)
            return Reply(200, result)
        except asyncio.TimeoutError:
            return Reply(None, error=f"no answer within {timeout:g}s", timed_out=True)
        except Exception as exc:
            return Reply(None, error=f"{type(exc).__name__}: {exc}")

    def pids(self) -> list[int]:
        return [os.getpid()]


class CommandTarget(Target):
    """A process that reads one JSON request per line on stdin and writes one JSON response per line."""

    def __init__(self, command: str):
        self.command = command
        self.name = command
        self.proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        import shlex

        try:
            self.proc = await asyncio.create_subprocess_exec(
                *shlex.split(self.command), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, limit=64 * 1024 * 1024,
            )
        except (OSError, ValueError) as exc:
            raise SetupError(f"cannot start --command {self.command!r}: {exc}") from None

    async def _died(self) -> SetupError:
        assert self.proc is not None
        err = b""
        try:
            err = (await asyncio.wait_for(self.proc.stderr.read(), 2.0))[-4000:]  # type: ignore[union-attr]
        except Exception:
            pass
        code = self.proc.returncode
        detail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        return SetupError(f"--command {self.command!r} died (exit code {code}){': ' + detail[0] if detail[0] else ''}",
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
            except (BrokenPipeError, ConnectionResetError):
                await self.proc.wait()
                raise await self._died()
            if not line:
                await self.proc.wait()
                raise await self._died()
            try:
                data = json.loads(line)
            except ValueError:
                return Reply(None, error=f"answer is not JSON: {line[:200].decode('utf-8', 'replace')!r}")
            if isinstance(data, dict) and set(data) == {"error"}:
                return Reply(None, data, error=str(data["error"]))
            return Reply(200, data)

    async def _restart(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()  # it hung: no grace period
            await self.proc.wait()
        await self.start()

    async def close(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            try:
                self.proc.stdin.close()  # type: ignore[union-attr]
                await asyncio.wait_for(self.proc.wait(), 2.0)
            except Exception:
                self.proc.kill()
                await self.proc.wait()

    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc is not None else []
