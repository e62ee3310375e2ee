"""The logger's files through the installed `mlmon`: `report` on the files, and `ingest` + `report --store`,
with exact counts and latencies; and a real multi-worker uvicorn writing one file per worker."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from mlmon.logging import RequestLogger

MLMON = str(Path(sys.executable).parent / "mlmon")


def mlmon(*args) -> dict:
    proc = subprocess.run([MLMON, *map(str, args), "--format", "json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def by_model(report):
    return {w["segment"]["model"]: w["metrics"] for w in report["windows"]}


def test_report_and_the_store_count_exactly_what_the_logger_was_given(tmp_path):
    logs = tmp_path / "logs"
    sent = {"churn": [], "fraud": []}
    errors = {"churn": 0, "fraud": 0}
    for model in sent:
        with RequestLogger(logs, model=model, model_version="v1", max_bytes=20_000, keep=None) as log:
            for i in range(300):
                latency = round(1.0 + (i * 37 % 101) * 0.731 + (50.0 if model == "fraud" else 0.0), 3)
                failed = i % 20 == 0
                log.log({"age": 20 + i % 50, "country": "DE" if i % 3 else "FR"}, None if failed else {"p": i / 300},
                        latency_ms=latency, status=500 if failed else 200,
                        error="upstream timeout" if failed else None, request_id=f"{model}-{i}")
                sent[model].append(latency)
                errors[model] += failed
            with log.record({"age": 33}, request_id=f"{model}-timed") as rec:  # measured by the logger itself
                time.sleep(0.02)
                rec.response = {"p": 0.5}
            sent[model].append(None)
    assert len(os.listdir(logs)) > 2  # rotated by size

    def check(report):
        assert report["source"]["records"] == 602 and report["source"]["skipped"] == 0
        for model, metrics in by_model(report).items():
            exact = np.array(sent[model][:-1])
            assert metrics["request_count"] == 301
            assert metrics["error_count"] == errors[model] == 15
            assert metrics["latency_max_ms"] == exact.max()
            measured = metrics["latency_mean_ms"] * 301 - exact.sum()  # the timed request's latency
            assert 20.0 <= measured < 1000.0
            assert metrics["memory_mb_max"] > 1

    check(mlmon("report", logs, "--by", "model"))
    store = tmp_path / "store"
    ingest = mlmon("ingest", logs, "--store", store)
    assert ingest["records_added"] == 602 and ingest["skipped"] == 0
    check(mlmon("report", "--store", store, "--by", "model"))
    p50 = mlmon("report", logs, "--by", "model", "--where", "request_id != 'churn-timed' and request_id != "
                "'fraud-timed'")
    for model, metrics in by_model(p50).items():
        assert metrics["latency_p50_ms"] == pytest.approx(np.percentile(sent[model][:-1], 50), abs=1e-9)
        assert metrics["latency_p95_ms"] == pytest.approx(np.percentile(sent[model][:-1], 95), abs=1e-9)


APP = """
import os
from fastapi import FastAPI
from mlmon.logging import ASGIMiddleware, RequestLogger

logger = RequestLogger(os.environ["LOGS"], model="churn", model_version="v1")
app = FastAPI()


@app.post("/predict")
async def predict(payload: dict):
    return {"label": "stay", "pid": os.getpid()}

app.add_middleware(ASGIMiddleware, logger=logger)
"""


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_uvicorn_workers_each_write_their_own_file_and_flush_at_shutdown(tmp_path):
    pytest.importorskip("uvicorn")
    (tmp_path / "app_under_test.py").write_text(textwrap.dedent(APP))
    logs, port = tmp_path / "logs", free_port()
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "app_under_test:app", "--workers", "2", "--host",
                               "127.0.0.1", "--port", str(port), "--log-level", "warning"], cwd=tmp_path,
                              env={**os.environ, "LOGS": str(logs)}, stderr=subprocess.PIPE)
    pids = set()
    try:
        deadline = time.monotonic() + 60
        sent = 0
        while sent < 200:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/predict", data=json.dumps({"i": sent}).encode(),
                                             headers={"Content-Type": "application/json",
                                                      "X-Request-ID": f"r{sent}", "Connection": "close"})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    pids.add(json.loads(response.read())["pid"])
                sent += 1
            except OSError:
                assert time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.1)
    finally:
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=30)
    assert b"Traceback" not in stderr, stderr.decode()
    files = sorted(os.listdir(logs))
    assert len(files) == len(pids) and all(str(pid) in " ".join(files) for pid in pids)
    rows = [json.loads(line) for name in files for line in (logs / name).read_text().splitlines()]
    assert sorted(int(row["request_id"][1:]) for row in rows) == list(range(200))
    report = mlmon("report", logs)
    assert report["source"]["records"] == 200 and report["windows"][0]["metrics"]["error_count"] == 0
