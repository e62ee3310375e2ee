"""mlmon.logging.RequestLogger: the record it writes, as README "Logging from serving code" promises."""

import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
import uuid

import pytest
from importcost import modules_loaded_by

from mlmon.logging import RequestLogger
from mlmon.logging.logger import file_name
from mlmon.logging.record import REQUEST_ID_HEADER, header, utc_timestamp
from mlmon.logging.rotate import LogFile
from mlmon.logging.sampler import ResourceSampler

FIELDS = ["ts", "request_id", "model", "model_version", "endpoint", "status", "latency_ms", "request", "response",
          "error", "cpu_percent", "memory_mb"]


def lines(directory):
    """Every record the loggers wrote under ``directory``, in file then line order."""
    out = []
    for root, _, files in os.walk(directory):
        for name in sorted(files):
            with open(os.path.join(root, name), encoding="utf-8") as handle:
                out += [json.loads(line) for line in handle]
    return out


@pytest.fixture
def logger(tmp_path):
    log = RequestLogger(tmp_path, model="churn", model_version="v2", endpoint="/predict", resources=False)
    yield log
    log.close()


def test_a_record_has_mlmon_s_own_shape(logger, tmp_path):
    with logger.record({"age": 44, "country": "DE"}) as rec:
        rec.response = {"label": "stay"}
    logger.close()
    (row,) = lines(tmp_path)
    assert list(row) == FIELDS
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", row["ts"])
    assert abs(time.mktime(time.strptime(row["ts"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone - time.time()) < 5
    assert row["model"] == "churn" and row["model_version"] == "v2" and row["endpoint"] == "/predict"
    assert row["status"] == 200 and row["error"] is None
    assert row["request"] == {"age": 44, "country": "DE"} and row["response"] == {"label": "stay"}
    assert uuid.UUID(row["request_id"]).version == 4


def test_latency_is_the_time_spent_in_the_block(logger, tmp_path):
    with logger.record({}) as rec:
        time.sleep(0.05)
        rec.response = {}
    logger.close()
    (row,) = lines(tmp_path)
    assert 50.0 <= row["latency_ms"] < 1000.0


def test_an_exception_is_status_500_with_its_type_and_message_then_raised(logger, tmp_path):
    with pytest.raises(ValueError, match="bad age"), logger.record({"age": -1}):
        raise ValueError("bad age")
    logger.close()
    (row,) = lines(tmp_path)
    assert row["status"] == 500 and row["error"] == "ValueError: bad age" and row["response"] is None


def test_a_cancelled_request_is_499_not_a_model_error(logger, tmp_path):
    class CancelledError(BaseException):  # asyncio's, by name: importing asyncio would make the package heavy
        pass

    with pytest.raises(CancelledError), logger.record({}):
        raise CancelledError()
    logger.close()
    assert lines(tmp_path)[0]["status"] == 499


def test_status_and_error_can_be_set_by_the_handler(logger, tmp_path):
    with logger.record({}) as rec:
        rec.response, rec.status = {"detail": "missing customer_id"}, 400
    with logger.record({}) as rec:
        rec.error = "upstream timeout"
    logger.close()
    first, second = lines(tmp_path)
    assert (first["status"], first["error"]) == (400, None)
    assert (second["status"], second["error"]) == (500, "upstream timeout")


@pytest.mark.parametrize(("request_", "headers", "explicit", "expected"), [
    ({"request_id": "from-body", "x": 1}, {"X-Request-ID": "from-header"}, None, "from-body"),
    ({"x": 1}, {"X-Request-ID": "from-header"}, None, "from-header"),
    ({"x": 1}, {"x-request-id": "lower"}, None, "lower"),
    ({"x": 1}, [(b"x-request-id", b"bytes-pair")], None, "bytes-pair"),
    ({"x": 1}, [("X-REQUEST-ID", "upper-pair")], None, "upper-pair"),
    ({"request_id": 17}, None, None, "17"),
    ({"request_id": "from-body"}, None, "explicit", "explicit"),
])
def test_the_request_id_comes_from_the_request_or_its_header(logger, tmp_path, request_, headers, explicit, expected):
    with logger.record(request_, headers=headers, request_id=explicit) as rec:
        rec.response = {}
    logger.close()
    assert lines(tmp_path)[0]["request_id"] == expected


def test_a_request_without_id_gets_a_new_uuid_each(logger, tmp_path):
    for _ in range(3):
        with logger.record({"request_id": ""}):
            pass
    logger.close()
    ids = [row["request_id"] for row in lines(tmp_path)]
    assert len(set(ids)) == 3 and all(uuid.UUID(i).version == 4 for i in ids)


def test_header_lookup_ignores_case():
    assert header({"X-Request-Id": "a"}, REQUEST_ID_HEADER) == "a"
    assert header(None, REQUEST_ID_HEADER) is None


def test_log_records_a_request_measured_elsewhere(logger, tmp_path):
    assert logger.log({"a": 1}, {"b": 2}, latency_ms=12.5, status=201, ts=1764237600.5, request_id="r")
    assert logger.log({"a": 1}, None, error=KeyError("k"), latency_ms=1.0)
    logger.close()
    first, second = lines(tmp_path)
    assert first["ts"] == "2025-11-27T10:00:00.500Z" and first["latency_ms"] == 12.5 and first["status"] == 201
    assert second["status"] == 500 and second["error"] == "KeyError: 'k'"


def test_utc_timestamp_keeps_milliseconds():
    assert utc_timestamp(0.0) == "1970-01-01T00:00:00.000Z"
    assert utc_timestamp(1764237600.123456) == "2025-11-27T10:00:00.123Z"


@pytest.mark.parametrize(("sample", "seed"), [(0.1, 7), (0.5, 1)])
def test_sampling_keeps_about_the_share_asked_and_a_seed_repeats_it(tmp_path, sample, seed):
    kept = []
    for run in range(2):
        with RequestLogger(tmp_path / str(run), sample=sample, seed=seed, resources=False) as log:
            for i in range(2000):
                with log.record({"request_id": str(i)}):
                    pass
        kept.append([row["request_id"] for row in lines(tmp_path / str(run))])
    assert kept[0] == kept[1]
    assert abs(len(kept[0]) - sample * 2000) < 0.1 * sample * 2000 + 20


def test_sample_zero_logs_nothing_and_one_logs_all(tmp_path):
    with RequestLogger(tmp_path / "none", sample=0.0, resources=False) as log:
        assert not log.log({}, {})
    with RequestLogger(tmp_path / "all", sample=1.0, resources=False) as log:
        for _ in range(50):
            log.log({}, {})
    assert not (tmp_path / "none").exists() or lines(tmp_path / "none") == []
    assert len(lines(tmp_path / "all")) == 50
    with pytest.raises(ValueError, match="share"):
        RequestLogger(tmp_path, sample=1.5)


def test_secrets_are_redacted_by_default_and_configured_keys_too(tmp_path):
    request = {
        "headers": {"Authorization": "Bearer abc123", "Cookie": "session=s3cr3t", "Accept": "application/json"},
        "user": {"password": "hunter2", "ssn": "123-45-6789", "api_key": "sk-live-1"},
        "note": "call https://bob:pw123@example.com/x?sig=deadbeef",
        "max_tokens": 256,
    }
    with RequestLogger(tmp_path, redact=["ssn"], resources=False) as log:
        with log.record(request) as rec:
            rec.response = {"id_token": "eyJ.x.y"}
        with pytest.raises(RuntimeError), log.record({}):
            raise RuntimeError("login failed: password=hunter2")
    first, second = lines(tmp_path)
    text = json.dumps([first, second])
    for secret in ("abc123", "s3cr3t", "hunter2", "123-45-6789", "sk-live-1", "pw123", "deadbeef", "eyJ"):
        assert secret not in text, secret
    assert first["request"]["headers"]["Accept"] == "application/json"
    assert first["request"]["max_tokens"] == 256
    assert first["request"]["headers"]["Authorization"] == "[REDACTED]"
    assert first["request"]["user"]["ssn"] == "[REDACTED]"


def test_redact_none_keeps_everything(tmp_path):
    with RequestLogger(tmp_path, redact=None, resources=False) as log:
        log.log({"password": "hunter2"}, {})
    assert lines(tmp_path)[0]["request"]["password"] == "hunter2"


def test_values_json_cannot_hold_still_make_a_valid_line(tmp_path):
    class Thing:
        def __str__(self):
            return "thing"

    looped: dict = {"a": 1}
    looped["self"] = looped
    with RequestLogger(tmp_path, resources=False) as log:
        log.log({"nan": float("nan"), "inf": float("-inf"), "set": {1}, "bytes": b"hi", "thing": Thing(),
                 "surrogate": "\ud800", "tuple": (1, 2)}, {"ok": True})
        log.log(looped, None)
        log.log({1: "int key", (1, 2): "tuple key"}, None)
    first, second, third = lines(tmp_path)
    assert first["request"]["nan"] is None and first["request"]["set"] == [1] and first["request"]["thing"] == "thing"
    assert first["request"]["tuple"] == [1, 2] and first["response"] == {"ok": True}
    assert second["request"]["a"] == 1
    assert third["request"]["1"] == "int key"


def test_a_record_past_max_line_bytes_is_written_without_its_bodies(tmp_path):
    with RequestLogger(tmp_path, max_line_bytes=10_000, resources=False) as log:
        log.log({"blob": "x" * 20_000}, {"ok": 1}, request_id="big")
        log.log({"small": 1}, {"ok": 1}, request_id="small")
    big, small = lines(tmp_path)
    assert big["request_id"] == "big" and big["request"] is None and big["response"] is None
    assert big["omitted_bytes"] > 20_000
    assert small["request"] == {"small": 1}


def test_the_handler_mutating_its_objects_later_does_not_change_the_record(logger, tmp_path):
    request = {"age": 1}
    with logger.record(request) as rec:
        rec.response = response = {"label": "a"}
    request["age"], response["label"] = 2, "b"
    logger.close()
    assert lines(tmp_path)[0]["request"] == {"age": 1} and lines(tmp_path)[0]["response"] == {"label": "a"}


def test_each_process_gets_its_own_file_name(tmp_path):
    host_pid = rf"-[\w.-]+-{os.getpid()}"
    assert re.fullmatch(rf".*/churn{host_pid}\.jsonl", file_name(str(tmp_path), "churn"))
    assert re.fullmatch(rf".*/requests{host_pid}\.jsonl", file_name(str(tmp_path / "new") + "/", None))
    assert re.fullmatch(rf".*/app{host_pid}\.jsonl", file_name(str(tmp_path / "app.jsonl"), "m"))
    assert re.fullmatch(rf".*/app{host_pid}\.log", file_name(str(tmp_path / "app.log"), "m"))
    assert file_name(str(tmp_path / "w-{pid}.jsonl"), "m") == str(tmp_path / f"w-{os.getpid()}.jsonl")


def test_a_full_queue_drops_and_counts_and_never_blocks(tmp_path, monkeypatch):
    release = threading.Event()
    real_write = LogFile.write
    monkeypatch.setattr(LogFile, "write", lambda self, data: (release.wait(10), real_write(self, data)))
    log = RequestLogger(tmp_path, queue_size=10, resources=False)
    start = time.perf_counter()
    results = [log.log({"i": i}, {}) for i in range(200)]
    assert time.perf_counter() - start < 5  # blocking would wait for the held writer (10 s); wide for a slow machine
    release.set()
    log.close()
    stats = log.stats()
    assert stats["dropped"] == results.count(False) > 0
    assert stats["written"] == results.count(True) == len(lines(tmp_path))
    assert stats["written"] + stats["dropped"] == 200 and stats["lost"] == 0


def test_close_writes_what_is_queued_and_later_records_are_dropped(tmp_path):
    log = RequestLogger(tmp_path, resources=False)
    for i in range(1000):
        log.log({"i": i}, {})
    assert log.close()
    assert [row["request"]["i"] for row in lines(tmp_path)] == list(range(1000))
    assert not log.log({}, {})
    assert log.stats()["dropped"] == 1


def test_close_gives_up_in_bounded_time_when_the_disk_fails(tmp_path, monkeypatch, caplog):
    def fail(fd, data):
        raise OSError(28, "No space left on device")

    log = RequestLogger(tmp_path, resources=False)
    monkeypatch.setattr("mlmon.logging.rotate.os.write", fail)
    for i in range(10):
        log.log({"i": i}, {})
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="mlmon.logging"):
        assert not log.close(timeout=0.5) or log.stats()["lost"] == 10
    assert time.monotonic() - start < 8  # bounded (a failing disk would otherwise be retried for good); wide for a slow machine
    assert log.stats()["lost"] == 10 and log.stats()["written"] == 0
    assert "No space left on device" in caplog.text


def test_flush_waits_for_the_writer(logger, tmp_path):
    logger.log({"a": 1}, {})
    assert logger.flush(5)
    assert len(lines(tmp_path)) == 1 and logger.stats()["queued"] == 0


def test_cpu_and_memory_come_from_the_background_sampler(tmp_path):
    sampler = ResourceSampler(interval=0.05)
    sampler.start()
    deadline = time.monotonic() + 5
    while sampler.cpu_percent is None and time.monotonic() < deadline:
        time.sleep(0.01)
    sampler.stop()
    assert sampler.memory_mb > 1 and sampler.cpu_percent >= 0
    with RequestLogger(tmp_path) as log:
        deadline = time.monotonic() + 5
        while log._sampler.memory_mb is None and time.monotonic() < deadline:
            time.sleep(0.01)
        log.log({}, {})
    row = lines(tmp_path)[0]
    assert row["memory_mb"] > 1


def test_importing_mlmon_logging_is_light(tmp_path):
    """No Polars, typer, rich or any other third-party module (psutil loads on first use), and few
    standard-library ones; `import logging` inside mlmon/logging is the standard library's."""
    loaded = modules_loaded_by("mlmon.logging", tmp_path)
    assert loaded["third_party"] == [], loaded
    stdlib = [m for m in loaded["new"] if not m.startswith("mlmon")]
    assert len(stdlib) <= 40, stdlib  # 17 on Python 3.11-3.13; asyncio alone would pass 40
    code = ("import sys, logging, mlmon.logging.writer as w; "
            "print(w._log() is logging.getLogger('mlmon.logging') and logging.__file__.startswith(sys.base_prefix))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip() == "True"
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", "import mlmon.logging"], capture_output=True,
                         text=True, check=True, cwd=tmp_path).stderr
    assert re.search(r"\|\s*\d+\s*\| mlmon\.logging$", err, re.MULTILINE)
    assert not re.search(r"\| +(polars|typer|rich)(\.|$)", err, re.MULTILINE)


def test_mlmon_logging_is_pure_python_with_psutil():
    """Its modules import, at module level, only the standard library, each other, mlmon.redaction and
    mlmon.requestcontext (pure Python); psutil and a framework only inside the functions that need them."""
    import ast
    from pathlib import Path

    import mlmon.logging

    allowed = set(sys.stdlib_module_names) | {"mlmon.logging", "mlmon.redaction", "mlmon.requestcontext"}
    for path in Path(mlmon.logging.__file__).parent.glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert name in allowed or name.split(".")[0] in sys.stdlib_module_names \
                    or name.rsplit(".", 1)[0] in allowed, f"{path.name} imports {name}"


def test_the_queue_is_bounded_in_bytes_too(tmp_path, monkeypatch):
    release = threading.Event()
    real_write = LogFile.write
    monkeypatch.setattr(LogFile, "write", lambda self, data: (release.wait(10), real_write(self, data)))
    log = RequestLogger(tmp_path, queue_bytes=100_000, resources=False)
    results = [log.log({"pad": "x" * 10_000}, {}) for _ in range(50)]
    release.set()
    log.close()
    assert 5 <= results.count(True) <= 11 and log.stats()["dropped"] == results.count(False)
    assert len(lines(tmp_path)) == results.count(True)


def test_a_record_that_cannot_be_made_is_counted_and_never_raises(tmp_path, caplog):
    class Hostile:
        def __str__(self):
            raise RuntimeError("no text for you")

        def __getattr__(self, name):
            raise RuntimeError("no attributes either")

    class BadHeaders:
        def get(self, key):
            raise RuntimeError("broken headers")

    with caplog.at_level(logging.WARNING, logger="mlmon.logging"), RequestLogger(tmp_path, resources=False) as log:
        with log.record({"x": Hostile()}, headers=BadHeaders()) as rec:
            rec.response = {"ok": True}
        assert not log.log({"x": Hostile()}, {})
        log.log({"fine": 1}, {})
    assert log.stats()["lost"] == 2 and log.stats()["written"] == 1
    assert lines(tmp_path)[0]["request"] == {"fine": 1}
    assert "could not be made" in caplog.text
