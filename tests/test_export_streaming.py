"""``mlmon export`` on a larger log, through the installed ``mlmon``: memory stays about a chunk's, not the
file's, and a run killed at any point leaves the output as it was (no half-written file).

No time is asserted; memory is the child's peak RSS (``ru_maxrss`` from ``os.wait4``), with a generous bound.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from conftest import record

MLMON = str(Path(sys.executable).parent / "mlmon")
MIB = 1024 * 1024
#: About 200 MiB of logs: loaded whole, their records and decoded fields would take well over a GiB.
LINES = 560_000


@pytest.fixture(scope="module")
def big_log(tmp_path_factory) -> Path:
    rng = random.Random(7)
    path = tmp_path_factory.mktemp("big") / "big.jsonl"
    countries, plans = ["DE", "US", "FR", "GB", "ES"], ["basic", "standard", "premium"]
    with open(path, "w") as handle:
        for i in range(LINES):
            ts = f"2026-11-26T{(i // 36000) % 24:02d}:{(i // 600) % 60:02d}:{(i // 10) % 60:02d}.{i % 10}00Z"
            record = {"ts": ts, "request_id": f"req-{i:08d}", "model": "churn", "model_version": "v2",
                      "endpoint": "/predict", "status": 200, "latency_ms": round(rng.random() * 100, 1),
                      "request": {"customer_id": f"C{rng.randrange(10**7):07d}", "age": rng.randrange(18, 90),
                                  "tenure_months": rng.randrange(0, 120), "monthly_charges": round(rng.random() * 100, 2),
                                  "country": rng.choice(countries), "plan": rng.choice(plans),
                                  "support_calls": rng.randrange(0, 10), "notes": "x" * rng.randrange(40, 160)},
                      "response": {"churn_probability": round(rng.random(), 4), "label": rng.choice(["churn", "stay"])},
                      "error": None, "cpu_percent": 20.0, "memory_mb": 500.0}
            handle.write(json.dumps(record) + "\n")
    return path


def _run(args, cwd) -> tuple[int, float, str]:
    """Exit code, peak RSS in MiB, stderr."""
    proc = subprocess.Popen([MLMON, *map(str, args)], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024, stderr


def test_memory_is_bounded_by_a_chunk_not_the_file(big_log, tmp_path):
    size_mb = big_log.stat().st_size / MIB
    assert size_mb > 180
    out = tmp_path / "big.parquet"
    code, peak_mb, stderr = _run(["export", big_log, "-o", out], tmp_path)
    assert code == 0, stderr
    assert pl.scan_parquet(out).select(pl.len()).collect().item() == LINES
    # Measured ~370 MiB here (16 MiB chunks); the whole table in memory would take several times the file.
    assert peak_mb < 800, f"peak RSS {peak_mb:.0f} MiB for a {size_mb:.0f} MiB log"


def _hidden(directory: Path, suffix: str) -> list[Path]:
    return [p for p in directory.iterdir() if p.name.startswith(".") and p.name.endswith(suffix)]


def _start(big_log: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([MLMON, "export", str(big_log), "--format", "csv", "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for(proc: subprocess.Popen, found, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not found():
        assert proc.poll() is None, "export ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.mark.parametrize("phase", ["reading", "writing"])
def test_a_killed_run_leaves_the_old_output(big_log, tmp_path, phase):
    """SIGKILL while the chunks are spilled, or while the output is written: the old file stays whole."""
    out = tmp_path / "train.csv"
    out.write_text("old,content\n1,2\n")
    proc = _start(big_log, out)
    if phase == "reading":
        _wait_for(proc, lambda: any(d.is_dir() and any(d.iterdir()) for d in _hidden(tmp_path, ".parts")))
    else:
        _wait_for(proc, lambda: any(p.stat().st_size > 0 for p in _hidden(tmp_path, ".tmp")), timeout=120)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert out.read_text() == "old,content\n1,2\n"
    left = _hidden(tmp_path, ".parts") + _hidden(tmp_path, ".tmp")
    assert left  # what the killed run was writing
    # The next export to the same file removes what the killed one left (its process is gone).
    small = tmp_path / "small.jsonl"
    small.write_text(json.dumps(record(ts="2026-11-27T10:00:00Z")) + "\n")
    again = subprocess.run([MLMON, "export", str(small), "--format", "csv", "-o", str(out)], capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert _hidden(tmp_path, ".parts") + _hidden(tmp_path, ".tmp") == []


def test_sigterm_stops_cleanly_and_leaves_nothing(big_log, tmp_path):
    out = tmp_path / "train.csv"
    proc = _start(big_log, out)
    _wait_for(proc, lambda: any(d.is_dir() and any(d.iterdir()) for d in _hidden(tmp_path, ".parts")))
    proc.send_signal(signal.SIGTERM)
    stderr = proc.communicate(timeout=60)[1].decode()
    assert proc.returncode == 130 and "interrupted" in stderr
    assert list(tmp_path.iterdir()) == []  # no output, no spill, no temporary file
