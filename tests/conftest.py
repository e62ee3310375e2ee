import gzip
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_LOGS = ROOT / "sample_logs"
DATA = Path(__file__).resolve().parent / "data"


def record(ts="2026-11-27T10:00:00Z", **fields):
    """One log record in mlmon's own shape; fields override the defaults."""
    out = {
        "ts": ts,
        "request_id": fields.pop("request_id", "r1"),
        "model": "churn",
        "model_version": "v1",
        "endpoint": "/predict",
        "status": 200,
        "latency_ms": 10.0,
        "request": {"country": "DE", "age": 30},
        "response": {"label": "stay", "p": 0.1},
        "error": None,
        "cpu_percent": 20.0,
        "memory_mb": 500.0,
    }
    out.update(fields)
    return out


def write_jsonl(path: Path, rows, gz: bool = False) -> Path:
    lines = []
    for row in rows:
        if isinstance(row, bytes):
            lines.append(row)
        elif isinstance(row, str):
            lines.append(row.encode())
        else:
            lines.append(json.dumps(row).encode())
    data = b"\n".join(lines) + b"\n"
    if gz:
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


@pytest.fixture
def sample_logs() -> Path:
    return SAMPLE_LOGS
