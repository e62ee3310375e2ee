"""The replay resource sampler keeps off /proc while a call of an in-process model runs (it holds ``quiet``)."""

import os
import threading
import time

from mlmon.replay.resources import ResourceSampler


def test_the_sampler_waits_while_quiet_is_held_and_samples_after():
    quiet = threading.Lock()
    quiet.acquire()
    sampler = ResourceSampler(lambda: [os.getpid()], interval=0.02, quiet=quiet).start()
    time.sleep(0.2)  # ten intervals
    held = len(sampler._cpu)
    quiet.release()
    deadline = time.monotonic() + 30
    while not sampler._cpu and time.monotonic() < deadline:
        time.sleep(0.02)
    stats = sampler.stop()
    assert held == 0 and stats.samples >= 1 and stats.memory_mb_max > 1


def test_stopping_a_sampler_that_never_started_gives_empty_stats():
    stats = ResourceSampler(lambda: [os.getpid()]).stop()
    assert stats.samples == 0 and stats.cpu_percent_mean is None


def test_a_loop_of_short_calls_lets_the_sampler_in(tmp_path):
    """Review: the replay loop took ``quiet`` back right after each call (a lock is not fair), so a model of
    50 ms calls got about one sample a second instead of ten. The loop now lets a waiting sampler go first."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from conftest import record, write_jsonl

    model = tmp_path / "slow.py"
    model.write_text("import time\ndef predict(req):\n    time.sleep(0.05)\n    return {'ok': 1}\n")
    log = write_jsonl(tmp_path / "log.jsonl", [record(ts=f"2026-11-27T10:00:{i:02d}Z", request_id=f"r{i}",
                                                      request={"x": i}, response={"ok": 1}) for i in range(30)])
    mlmon = str(Path(sys.executable).parent / "mlmon")
    proc = subprocess.run([mlmon, "replay", str(log), "--model", f"{model}:predict", "--format", "json"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    expected = doc["seconds"] / 0.1  # one sample every 0.1 s
    assert doc["resources"]["samples"] >= expected / 3, (doc["resources"], doc["seconds"])
