"""Overhead of mlmon.logging per logged request, at the median and p99, at 1 and 8 threads.

Each thread calls the same handler (a dict in, a dict out, as a model server's predict) in blocks
that alternate between plain calls and calls inside ``with logger.record(request) as rec``, and
times each call with ``perf_counter_ns``. The overhead is the logged distribution's median (p99)
minus the plain one's, measured in the same run, so the machine's noise hits both alike. The
writer thread runs meanwhile, as in serving: its work (redaction checks, the writes) competes for
the GIL with the request threads and so counts in the figures.

    python benchmarks/bench_logging.py                 # 1 and 8 threads, 200,000 logged calls each
    python benchmarks/bench_logging.py --calls 50000 --threads 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time

from mlmon.logging import RequestLogger

REQUEST = {"customer_id": "C0049161", "age": 25, "tenure_months": 16, "monthly_charges": 74.41, "country": "ES",
           "plan": "premium", "support_calls": 2}


def handler(request: dict) -> dict:
    return {"churn_probability": 0.5111, "label": "churn" if request["age"] > 40 else "stay"}


def run_thread(logger: RequestLogger, calls: int, block: int, plain: list, logged: list, barrier) -> None:
    clock = time.perf_counter_ns
    barrier.wait()
    for start in range(0, calls, block):
        n = min(block, calls - start)
        for _ in range(n):
            t0 = clock()
            handler(REQUEST)
            plain.append(clock() - t0)
        for _ in range(n):
            t0 = clock()
            with logger.record(REQUEST) as rec:
                rec.response = handler(REQUEST)
            logged.append(clock() - t0)


def percentile(values: list, q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(threads: int, calls: int, block: int) -> dict:
    with tempfile.TemporaryDirectory() as directory:
        logger = RequestLogger(directory, model="churn", model_version="v1", endpoint="/predict",
                               queue_size=10_000_000, queue_bytes=1 << 34)
        per_thread = calls // threads
        plain: list[list[int]] = [[] for _ in range(threads)]
        logged: list[list[int]] = [[] for _ in range(threads)]
        barrier = threading.Barrier(threads)
        workers = [threading.Thread(target=run_thread, args=(logger, per_thread, block, plain[i], logged[i], barrier))
                   for i in range(threads)]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - start
        logger.close(timeout=60)
        stats = logger.stats()
    flat_plain = [v for values in plain for v in values]
    flat_logged = [v for values in logged for v in values]
    result = {"threads": threads, "calls": len(flat_logged), "seconds": round(elapsed, 2), **stats}
    for name, q in (("median", 0.5), ("p99", 0.99)):
        base, with_log = percentile(flat_plain, q) / 1000, percentile(flat_logged, q) / 1000
        result[f"plain_{name}_us"] = round(base, 2)
        result[f"logged_{name}_us"] = round(with_log, 2)
        result[f"overhead_{name}_us"] = round(with_log - base, 2)
    result["logged_mean_us"] = round(statistics.fmean(flat_logged) / 1000, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200_000, help="logged calls per run (as many plain ones)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--block", type=int, default=1000, help="calls per block before switching plain/logged")
    args = parser.parse_args()
    for threads in args.threads:
        print(json.dumps(measure(threads, args.calls, args.block)), flush=True)


if __name__ == "__main__":
    main()
