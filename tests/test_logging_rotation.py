"""Rotation by size and by time, and `mlmon ingest` following it: the logger and the store as a pair."""

import json
import subprocess
import sys
import time
from pathlib import Path

from mlmon.logging import RequestLogger
from mlmon.logging.rotate import LogFile

MLMON = str(Path(sys.executable).parent / "mlmon")


def mlmon(*args) -> dict:
    proc = subprocess.run([MLMON, *map(str, args), "--format", "json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def names(directory):
    return sorted(p.name for p in Path(directory).iterdir())


def test_size_rotation_renames_and_keeps_the_newest(tmp_path):
    log = LogFile(str(tmp_path / "app.jsonl"), max_bytes=100, keep=2)
    for i in range(10):
        log.write(b'{"i": %d, "pad": "%s"}\n' % (i, b"x" * 20))  # 40 bytes: two lines fit in 100
    log.close()
    assert names(tmp_path) == ["app.jsonl", "app.jsonl.1", "app.jsonl.2"]
    assert (tmp_path / "app.jsonl").read_bytes().count(b"\n") == 2
    assert b'"i": 9' in (tmp_path / "app.jsonl").read_bytes()
    assert b'"i": 7' in (tmp_path / "app.jsonl.1").read_bytes()
    assert log.rotations == 4


def test_a_batch_larger_than_max_bytes_still_goes_whole_into_one_file(tmp_path):
    log = LogFile(str(tmp_path / "app.jsonl"), max_bytes=10, keep=None)
    log.write(b"a" * 50 + b"\n")
    log.write(b"b" * 50 + b"\n")
    log.close()
    assert (tmp_path / "app.jsonl.1").read_bytes() == b"a" * 50 + b"\n"
    assert (tmp_path / "app.jsonl").read_bytes() == b"b" * 50 + b"\n"


def test_time_rotation_happens_at_each_multiple_of_the_interval_also_when_idle(tmp_path):
    now = [7200.0 + 10]
    log = LogFile(str(tmp_path / "app.jsonl"), rotate_every=3600, keep=None, clock=lambda: now[0])
    log.write(b"1\n")
    now[0] = 7200 + 3599
    log.tick()
    log.write(b"2\n")
    assert log.rotations == 0
    now[0] = 10800.0  # the next hour: rotated by tick, with nothing to write
    log.tick()
    assert log.rotations == 1 and (tmp_path / "app.jsonl.1").read_bytes() == b"1\n2\n"
    log.tick()
    assert log.rotations == 1  # an empty file is not rotated
    now[0] = 14400.0
    log.write(b"3\n")  # empty file: nothing to rotate; the write goes in
    log.close()
    assert (tmp_path / "app.jsonl").read_bytes() == b"3\n"


def test_keep_zero_deletes_and_keep_none_keeps_all(tmp_path):
    log = LogFile(str(tmp_path / "a" / "x.jsonl"), max_bytes=2, keep=0)
    for _ in range(3):
        log.write(b"1\n")
    assert names(tmp_path / "a") == ["x.jsonl"]
    log = LogFile(str(tmp_path / "b" / "x.jsonl"), max_bytes=2, keep=None)
    for _ in range(13):
        log.write(b"1\n")
    assert len(names(tmp_path / "b")) == 13


def test_ingest_follows_the_logger_s_rotation_with_exact_counts(tmp_path):
    """Write with size and time rotation, ingest between rotations, and count: nothing twice, nothing lost."""
    logs, store = tmp_path / "logs", tmp_path / "store"
    log = RequestLogger(logs, model="churn", model_version="v1", max_bytes=6000, rotate_every=1, keep=None,
                        resources=False)
    sent, added, rotations_seen = 0, 0, 0
    for round_ in range(4):
        for i in range(40 + 17 * round_):  # about 250 bytes a record: a size rotation every 24 records
            log.log({"round": round_, "i": i}, {"label": "stay"}, latency_ms=float(i), request_id=f"{round_}-{i}")
            sent += 1
        assert log.flush()
        if round_ % 2:  # wait for the time rotation (the file holds this round's last lines): ingest reads the .1
            before = log.stats()["rotations"]
            deadline = time.monotonic() + 5
            while log.stats()["rotations"] == before and log._writer.file._size:  # (or it rotated already)
                assert time.monotonic() < deadline, "no rotation on time"
                time.sleep(0.05)
        summary = mlmon("ingest", logs, "--store", store)
        added += summary["records_added"]
        rotations_seen += summary["rotations"]
        assert added == sent, (round_, summary)
    log.close()
    assert log.stats()["rotations"] >= 8 and rotations_seen >= 3
    again = mlmon("ingest", logs, "--store", store)
    assert again["records_added"] == 0
    report = mlmon("report", "--store", store)
    assert report["source"]["records"] == sent == report["windows"][0]["metrics"]["request_count"]
    raw = mlmon("report", logs)
    assert raw["source"]["records"] == sent and raw["source"]["skipped"] == 0
