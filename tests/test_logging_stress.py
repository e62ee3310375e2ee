"""Many threads in several processes: every line parses, no line is torn (also past 4 KB), and every
record is written exactly once unless it was counted as dropped."""

import json
import multiprocessing
import os
import threading
from collections import Counter

import pytest

from mlmon.logging import RequestLogger

THREADS, PER_THREAD, PROCESSES = 8, 400, 3


def hammer(logger: RequestLogger, prefix: str) -> None:
    """THREADS threads, each logging PER_THREAD records; every 7th is over 4 KB, every 50th over 64 KB."""
    def work(t):
        for i in range(PER_THREAD):
            pad = "x" * (70_000 if i % 50 == 0 else 5_000 if i % 7 == 0 else 10)
            if i % 3:
                logger.log({"t": t, "i": i, "pad": pad}, {"ok": True}, request_id=f"{prefix}-{t}-{i}", latency_ms=1.0)
            else:
                with logger.record({"t": t, "i": i, "pad": pad}, request_id=f"{prefix}-{t}-{i}") as rec:
                    rec.response = {"ok": True}

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def child(logger: RequestLogger, prefix: str, results) -> None:
    hammer(logger, prefix)  # the logger was made before the fork: the child gets its own file and writer
    logger.close()
    results.put((prefix, logger.path, logger.stats()))


def read_all(directory):
    rows, sizes = [], []
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as handle:
            data = handle.read()
        assert data.endswith(b"\n"), name
        for line in data.split(b"\n")[:-1]:
            rows.append(json.loads(line))  # every line parses: none torn, none interleaved
            sizes.append(len(line))
    return rows, sizes


@pytest.mark.parametrize("queue_size", [100_000, 64])
def test_threads_and_processes_lose_nothing_but_what_they_count(tmp_path, queue_size):
    logger = RequestLogger(tmp_path, model="stress", queue_size=queue_size, max_bytes=2 << 20, keep=None)
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    processes = [context.Process(target=child, args=(logger, f"p{k}", results)) for k in range(PROCESSES)]
    for process in processes:
        process.start()
    hammer(logger, "parent")
    logger.close()
    stats = {"parent": (logger.path, logger.stats())}
    for _ in processes:
        prefix, path, child_stats = results.get(timeout=120)
        stats[prefix] = (path, child_stats)
    for process in processes:
        process.join(30)
        assert process.exitcode == 0
    assert len({path for path, _ in stats.values()}) == PROCESSES + 1  # one file per process

    rows, sizes = read_all(tmp_path)
    ids = Counter(row["request_id"] for row in rows)
    assert max(ids.values()) == 1  # none written twice
    # Lines past 4 KB (every 7th record) and 64 KB (every 50th) are written whole: as many as such records
    # were written, however many the small queue dropped (which depends on timing).
    numbers = [int(rid.rsplit("-", 1)[1]) for rid in ids]
    assert sum(size > 4096 for size in sizes) == sum(i % 7 == 0 or i % 50 == 0 for i in numbers) > 0
    assert sum(size > 65_536 for size in sizes) == sum(i % 50 == 0 for i in numbers)
    if queue_size > THREADS * PER_THREAD:  # nothing dropped: all of them
        assert len(numbers) == (PROCESSES + 1) * THREADS * PER_THREAD
    per_prefix = Counter(rid.split("-", 1)[0] for rid in ids)
    for prefix, (_, counts) in stats.items():
        assert counts["lost"] == 0 and counts["write_errors"] == 0
        assert per_prefix[prefix] == counts["written"]
        assert counts["written"] + counts["dropped"] == THREADS * PER_THREAD, (prefix, counts)
    dropped = sum(counts["dropped"] for _, counts in stats.values())
    if queue_size > THREADS * PER_THREAD:
        assert dropped == 0 and len(rows) == (PROCESSES + 1) * THREADS * PER_THREAD
    else:
        assert dropped > 0  # the small queue overflowed: the drops were counted, the requests went on
    for row in rows[:50]:
        t, i = row["request"]["t"], row["request"]["i"]
        assert row["request_id"].endswith(f"-{t}-{i}")
