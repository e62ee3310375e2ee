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
