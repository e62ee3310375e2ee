"""A logging failure never reaches serving code: it is counted, warned about, and logging resumes."""

import errno
import json
import logging
import os
import shutil
import time

from mlmon.logging import RequestLogger


def records(directory):
    out = []
    for root, _, files in os.walk(directory):
        for name in sorted(files):
            with open(os.path.join(root, name), "rb") as handle:
                data = handle.read()
            assert not data or data.endswith(b"\n"), name
            out += [json.loads(line) for line in data.splitlines()]
    return out


def wait_for(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_deleted_directory_is_made_again_and_logging_goes_on(tmp_path):
    logs = tmp_path / "logs"
    log = RequestLogger(logs, resources=False)
    for i in range(100):
        log.log({"i": i}, {})
    assert log.flush()
    shutil.rmtree(logs)
    for i in range(100, 200):
        log.log({"i": i}, {})
    assert log.close()
    assert [r["request"]["i"] for r in records(logs)] == list(range(100, 200))
    assert log.stats()["written"] == 200 and log.stats()["lost"] == 0


def test_a_file_moved_away_is_followed_by_a_new_one(tmp_path):
    log = RequestLogger(tmp_path, resources=False)
    log.log({"i": 0}, {})
    assert log.flush()
    os.rename(log.path, log.path + ".1")  # logrotate without copytruncate
    log.log({"i": 1}, {})
    log.close()
    assert [r["request"]["i"] for r in records(tmp_path)] == [1, 0]  # the new file, then the .1


def test_a_blocked_directory_is_counted_and_warned_about_then_logging_resumes(tmp_path, caplog):
    logs = tmp_path / "logs"
    logs.write_text("a file where the directory should be")
    with caplog.at_level(logging.WARNING, logger="mlmon.logging"):
        log = RequestLogger(logs, resources=False)
        for i in range(50):
            assert log.log({"i": i}, {})  # queued: the caller never sees the failure
        wait_for(lambda: log.stats()["write_errors"] >= 3)
        warnings = [r for r in caplog.records if "cannot write" in r.getMessage()]
        assert len(warnings) == 1  # rate-limited: one a minute, however many failures
        logs.unlink()
        assert log.flush(10)
        log.close()
    assert [r["request"]["i"] for r in records(logs)] == list(range(50))
    assert log.stats()["dropped"] == log.stats()["lost"] == 0
    assert any("writing" in r.getMessage() and "again" in r.getMessage() for r in caplog.records)


def test_an_unwritable_path_never_raises_into_the_caller(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    log = RequestLogger(blocker / "logs" / "app.jsonl", resources=False, queue_size=20)
    for i in range(100):
        with log.record({"i": i}) as rec:
            rec.response = {}
    start = time.monotonic()
    assert log.close(timeout=0.3) is False or log.stats()["lost"] > 0
    assert time.monotonic() - start < 8  # bounded (a failing disk would otherwise be retried for good); wide for a slow machine
    stats = log.stats()
    assert stats["written"] == 0 and stats["write_errors"] > 0
    assert stats["dropped"] + stats["lost"] == 100


def test_a_full_disk_tears_no_line_and_writes_none_twice(tmp_path, monkeypatch):
    """The write that fails halfway is undone, and the same batch is written once the disk has room."""
    real_write = os.write
    failures = {"left": 3}

    def flaky_write(fd, data):
        if failures["left"]:
            failures["left"] -= 1
            real_write(fd, bytes(data[: len(data) // 2]))  # half the batch lands, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    log = RequestLogger(tmp_path, resources=False)
    monkeypatch.setattr("mlmon.logging.rotate.os.write", flaky_write)
    for i in range(300):
        log.log({"i": i, "pad": "x" * 100}, {})
    assert log.close()
    assert [r["request"]["i"] for r in records(tmp_path)] == list(range(300))
    assert log.stats()["write_errors"] == 3 and log.stats()["written"] == 300


def test_a_write_failure_that_cannot_be_undone_is_cut_back_when_the_file_is_reopened(tmp_path, monkeypatch):
    real_write, real_truncate = os.write, os.ftruncate
    state = {"fail": 1}

    def half_write(fd, data):
        if state["fail"]:
            state["fail"] -= 1
            real_write(fd, bytes(data[: len(data) // 2]))
            raise OSError(errno.EIO, "I/O error")
        return real_write(fd, data)

    def no_truncate(fd, size):
        if state["fail"] == 0 and not state.get("truncated"):
            state["truncated"] = True
            raise OSError(errno.EIO, "I/O error")
        return real_truncate(fd, size)

    log = RequestLogger(tmp_path, resources=False)
    log.log({"i": -1}, {})
    assert log.flush()
    monkeypatch.setattr("mlmon.logging.rotate.os.write", half_write)
    monkeypatch.setattr("mlmon.logging.rotate.os.ftruncate", no_truncate)
    for i in range(100):
        log.log({"i": i}, {})
    assert log.close()
    assert [r["request"]["i"] for r in records(tmp_path)] == list(range(-1, 100))


def test_a_line_cut_short_by_a_killed_process_is_cut_off_before_appending(tmp_path):
    log = RequestLogger(tmp_path, resources=False)
    path = log.path
    with open(path, "wb") as handle:
        handle.write(b'{"ts": "2026-11-27T10:00:00Z"}\n{"ts": "2026-11-27T10:0')  # a previous process, same pid
    log.log({"i": 1}, {})
    log.close()
    first, second = records(tmp_path)
    assert first == {"ts": "2026-11-27T10:00:00Z"} and second["request"] == {"i": 1}
