"""Helpers of the replay tests: real HTTP servers on 127.0.0.1 (ephemeral ports), process helpers,
small logs, and the sample churn log read with plain Python (the independent side of the checks).

``ModelServer`` is a ``ThreadingHTTPServer`` in a background thread that speaks HTTP/1.1 with
keep-alive, records every request it receives (path, headers, JSON body) and counts the TCP
connections it accepted, so tests can check what mlmon sent and how.

Behaviours (``mode``):

* ``"model"``: answer 200 with ``answer(body)`` as JSON (default: echo a fixed prediction);
* ``"status500"``: answer 500 with a JSON error body;
* ``"hang"``: read the request, then never answer (until the server is closed);
* ``"close"``: read the request, then close the connection without answering;
* a callable ``mode(handler, body) -> (status, payload) | (status, payload, headers) | None``:
  per-request behaviour (``None`` closes the connection without answering; ``headers`` are
  extra response headers, such as a redirect's ``Location``; ``handler.server_owner.wait_released()``
  hangs until the server is closed).
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from collections import defaultdict
from datetime import datetime
from typing import Any, Callable

from conftest import record, write_jsonl

ROOT = Path(__file__).resolve().parent.parent
DEMO_MODEL = ROOT / "demo" / "model.py"
CHURN = ROOT / "sample_logs" / "churn.jsonl.gz"
ANSWER = {"label": "stay", "p": 0.1}  # what ModelServer answers by default, and what conftest.record() logs

#: Headers any HTTP client adds by itself: not "logged headers" leaking into the replay.
TRANSPORT_HEADERS = {"host", "accept", "accept-encoding", "user-agent", "content-length", "connection"}


def default_answer(body: Any) -> dict:
    return dict(ANSWER)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class ModelServer:
    def __init__(self, mode: str | Callable = "model", answer: Callable[[Any], Any] = default_answer):
        self.mode = mode
        self.answer = answer
        self.requests: list[dict[str, Any]] = []
        self.connections = 0  # TCP connections accepted (including mlmon's "is it up?" probe)
        self.connections_with_requests: set[int] = set()
        self._lock = threading.Lock()
        self._release = threading.Event()  # frees the handlers of a hanging server
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive
            disable_nagle_algorithm = True  # else every answer waits ~40 ms for a delayed ACK
            server_owner = owner

            def setup(self) -> None:
                super().setup()
                with owner._lock:
                    owner.connections += 1
                    self.conn_no = owner.connections

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                with owner._lock:
                    owner.requests.append({"path": self.path, "headers": dict(self.headers.items()), "body": body,
                                           "connection": self.conn_no})
                    owner.connections_with_requests.add(self.conn_no)
                mode = owner.mode
                if mode == "hang":
                    owner._release.wait(30)
                    self.close_connection = True
                    return
                if mode == "close":
                    self.close_connection = True
                    return
                if mode == "status500":
                    result = (500, {"error": "internal server error"})
                elif mode == "model":
                    result = (200, owner.answer(body))
                else:
                    result = mode(self, body)
                if result is None:
                    self.close_connection = True
                    return
                status, payload, *extra = result
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for name, value in (extra[0] if extra else {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/predict"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "ModelServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)

    def wait_released(self, timeout: float = 30) -> None:
        """For per-request behaviours that hang: block until the server is closed."""
        self._release.wait(timeout)

    @property
    def bodies(self) -> list[Any]:
        return [r["body"] for r in self.requests]


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def start_demo_server(model: str = "churn_v2", port: int | None = None, wait: float = 20.0) -> tuple[subprocess.Popen, int]:
    """``python demo/model.py --port P --model MODEL`` in a subprocess; returns once it accepts connections."""
    port = port or free_port()
    proc = subprocess.Popen([sys.executable, str(DEMO_MODEL), "--port", str(port), "--model", model],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"demo server exited with {proc.returncode}")
        if listening(port):
            return proc, port
        time.sleep(0.05)
    stop(proc)
    raise RuntimeError("demo server did not start")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def processes_with(*needles: str) -> list[int]:
    """Pids of live processes whose command line contains every needle (read-only: nothing is killed)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
        except psutil.Error:
            continue
        if all(n in cmdline for n in needles) and proc.info["pid"] != os.getpid():
            found.append(proc.info["pid"])
    return found


def write_script(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- logs ---------------------------------------------------------------------------------------------


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def small_log(tmp_path: Path, n: int = 5, **fields) -> Path:
    """``n`` records r0, r1, ... one second apart, request ``{"i": i, "country": "DE"}``, response ANSWER."""
    rows = [record(ts=f"2026-11-27T10:00:{i:02d}Z", request_id=f"r{i}", request={"i": i, "country": "DE"}, **fields)
            for i in range(n)]
    return write_jsonl(tmp_path / "small.jsonl", rows)


@functools.cache
def churn_records() -> tuple[dict, ...]:
    """The sample churn log, decompressed and parsed with plain Python, in time order."""
    with gzip.open(CHURN, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return tuple(sorted(rows, key=lambda r: utc(r["ts"])))


def _hour(r: dict) -> datetime:
    return utc(r["ts"]).replace(minute=0, second=0, microsecond=0)


def firing_windows_by_hand() -> tuple[set, list[str]]:
    """churn-error-spike of rules.example.yaml, evaluated with plain Python over the decompressed file:
    the firing (model, model_version, hour) windows, and the request ids in them, in time order."""
    counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for r in churn_records():
        if r["model"] != "churn":  # where: model == "churn"
            continue
        key = (r["model"], r["model_version"], _hour(r))  # every: 1h, by: [model, model_version]
        counts[key][0] += 1
        counts[key][1] += (r["status"] or 0) >= 500 or r["error"] is not None  # is_error
    # expr: error_rate > 0.02 and request_count >= 100; min_requests: 50; for: 1, no keep_firing_for
    firing = {k for k, (n, errors) in counts.items() if n >= 50 and n >= 100 and errors / n > 0.02}
    chosen = [r["request_id"] for r in churn_records()
              if r["model"] == "churn" and (r["model"], r["model_version"], _hour(r)) in firing]
    return firing, chosen
