#!/usr/bin/env python3
"""Replay speed (issue 4): ``mlmon replay`` over HTTP against ``wrk``, and in-process, in one run.

    python benchmarks/bench_replay.py                     # one run, 30,000 records
    python benchmarks/bench_replay.py --repeat 3          # three runs and a median row per case
    python benchmarks/bench_replay.py --server aiohttp    # an aiohttp.web server instead of the raw one
    python benchmarks/bench_replay.py --profile           # also cProfile both mlmon cases, top functions

Targets:

1. HTTP replay at concurrency 32 reaches at least 50 % of the requests per
   second that ``wrk -t2 -c32 -d10s`` reaches against the same local server.
2. In-process replay of a trivial callable reaches at least 20,000 calls/s.

What one run does:

* writes ``benchmarks/data/replay_<N>.jsonl`` (N records in mlmon's shape,
  status 200, seeded, so the same every time) unless it exists, or uses ``--log``;
* starts ``benchmarks/replay_server.py`` (a separate process, 127.0.0.1,
  ephemeral port, keep-alive, the same fixed small JSON answer to every POST);
* ``wrk -t2 -c32 -d10s -s post.lua URL``, where ``post.lua`` POSTs the request
  body of the log's first record as JSON; its ``Requests/sec`` is the baseline;
* ``mlmon replay LOG --target URL --concurrency 32 --format json --fail-over 1``
  against the same server (the answers do not match the logged responses, so
  every request is a mismatch; ``--fail-over 1`` keeps the exit code 0);
* ``mlmon replay LOG --model benchmarks/bench_replay.py:trivial --format json
  --fail-over 1``: ``trivial`` returns a constant dict. Its number includes
  mlmon's comparison of every answer with the logged response (all mismatches).

The mlmon figure is ``throughput_rps`` from its JSON (requests / the seconds of
the replay itself: loading the records into Python objects, sending, comparing;
not interpreter start or reading the file). The wall time of the whole command,
spawn to exit, is shown beside it. CPU seconds of the client (``wrk`` or
``mlmon``, start-up included, from the kernel's rusage of the waited child) and
of the server (psutil, before and after) tell which side was the bottleneck: a
single-threaded process that used about as many CPU seconds as wall seconds was
saturated; one that used much less waited for the other side or for a CPU.

The load average (``os.getloadavg``) is printed before and after each case:
other work on the machine changes the figures. Results are saved as JSON in
``benchmarks/results/replay_<time>.json`` (git-ignored).

This file is also the ``--model`` of the in-process case, so importing it runs
nothing: everything is under ``main()``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from random import Random

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
RESULTS = HERE / "results"

HTTP_TARGET_RATIO = 0.5  # of wrk's requests/s
INPROC_TARGET_RPS = 20_000.0

_ANSWER = {"label": "yes", "score": 0.5}


def trivial(payload):
    """The in-process "model": a constant answer, whatever the request."""
    return _ANSWER


# --------------------------------------------------------------------------- log file

MODELS = (("churn", ("v1", "v2"), "/predict"), ("fraud", ("v1",), "/score"))
COUNTRIES = ("DE", "ES", "FR", "GB", "IT", "NL", "US")
PLANS = ("basic", "standard", "premium")


def write_log(path: Path, records: int, seed: int = 4) -> None:
    """``records`` lines in mlmon's record shape, status 200, ``ts`` increasing from 2026-11-27T00:00Z."""
    rng = Random(seed)
    t = datetime(2026, 11, 27, tzinfo=timezone.utc)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for i in range(records):
            t += timedelta(milliseconds=rng.randint(1, 400))
            model, versions, endpoint = MODELS[i % 3 == 2]
            score = round(rng.random(), 4)
            record = {
                "ts": t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z",
                "request_id": f"{rng.getrandbits(128):032x}",
                "model": model,
                "model_version": rng.choice(versions),
                "endpoint": endpoint,
                "status": 200,
                "latency_ms": round(rng.lognormvariate(3.3, 0.5), 1),
                "request": {
                    "customer_id": f"C{rng.randrange(10**7):07d}",
                    "age": rng.randint(18, 90),
                    "tenure_months": rng.randint(0, 120),
                    "monthly_charges": round(rng.uniform(10, 150), 2),
                    "country": rng.choice(COUNTRIES),
                    "plan": rng.choice(PLANS),
                },
                "response": {"label": "yes" if score >= 0.5 else "no", "score": score},
                "error": None,
            }
            out.write(json.dumps(record) + "\n")
    tmp.replace(path)


def first_request_body(path: Path) -> str:
    with path.open(encoding="utf-8") as handle:
        return json.dumps(json.loads(handle.readline())["request"])


# --------------------------------------------------------------------------- processes

class Server:
    """``replay_server.py`` in its own process; ``url`` once it listens."""

    def __init__(self, kind: str):
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "replay_server.py"), "--kind", kind],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line.startswith("PORT "):
            self.proc.kill()
            raise SystemExit(f"replay_server.py did not start: {line!r} {self.proc.stderr.read()}")  # type: ignore[union-attr]
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}/predict"
        import psutil

        self._ps = psutil.Process(self.proc.pid)

    def cpu_seconds(self) -> float:
        times = self._ps.cpu_times()
        return times.user + times.system

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_child(cmd: list[str], server: Server | None) -> dict:
    """Run ``cmd`` to the end; wall time, its CPU seconds (rusage) and the server's CPU seconds meanwhile."""
    load_before = os.getloadavg()
    server_cpu = server.cpu_seconds() if server else 0.0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "cmd": cmd,
        "returncode": proc.returncode,
        "stdout": proc.stdout,
        "stderr": proc.stderr,
        "wall_s": wall,
        "client_cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "server_cpu_s": (server.cpu_seconds() - server_cpu) if server else None,
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }


def mlmon_command() -> list[str]:
    script = Path(sys.executable).parent / "mlmon"
    if script.exists():
        return [str(script)]
    found = shutil.which("mlmon")
    return [found] if found else [sys.executable, "-m", "mlmon"]


WRK_LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = {body}
"""


def lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_wrk(url: str, lua: Path, server: Server, threads: int, connections: int, duration: int) -> dict:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "-s", str(lua), url]
    r = run_child(cmd, server)
    if r["returncode"] != 0:
        raise SystemExit(f"wrk failed ({r['returncode']}): {r['stderr'] or r['stdout']}")
    out = r["stdout"]
    rps = re.search(r"Requests/sec:\s*([\d.]+)", out)
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", out)
    if not rps or not total:
        raise SystemExit(f"cannot parse wrk's output:\n{out}")
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[total.group(3)]
    problems = [line.strip() for line in out.splitlines() if "Non-2xx" in line or "Socket errors" in line]
    r.update(case="wrk (baseline)", requests=int(total.group(1)), seconds=float(total.group(2)) * scale,
             rps=float(rps.group(1)), problems=problems)
    return r


def run_mlmon(case: str, args: list[str], server: Server | None) -> dict:
    cmd = [*mlmon_command(), "replay", *args, "--format", "json", "--fail-over", "1"]
    r = run_child(cmd, server)
    if r["returncode"] != 0:
        raise SystemExit(f"{case}: mlmon exited {r['returncode']}: {r['stderr'].strip()}")
    doc = json.loads(r["stdout"])
    problems = []
    if doc["counts"]["error"] or doc["counts"]["timeout"]:
        problems.append(f"errors {doc['counts']['error']}, timeouts {doc['counts']['timeout']}: "
                        f"{doc['errors'][:1]}")
    r.update(case=case, requests=doc["requests"], seconds=doc["seconds"], rps=doc["throughput_rps"],
             counts=doc["counts"], problems=problems)
    return r


# --------------------------------------------------------------------------- one run

def one_run(log: Path, lua: Path, server: Server, args) -> list[dict]:
    url = server.url
    rows = []
    wrk = run_wrk(url, lua, server, args.threads, args.connections, args.duration)
    rows.append(wrk)
    http = run_mlmon(f"mlmon HTTP c{args.connections}",
                     [str(log), "--target", url, "--concurrency", str(args.connections)], server)
    http["target"] = HTTP_TARGET_RATIO * wrk["rps"]
    http["target_text"] = f">= {HTTP_TARGET_RATIO:.0%} of wrk ({http['target']:,.0f})"
    http["ratio"] = http["rps"] / wrk["rps"]
    http["met"] = http["rps"] >= http["target"]
    rows.append(http)
    model = f"{Path(__file__).resolve().relative_to(ROOT)}:trivial"
    inproc = run_mlmon("mlmon in-process", [str(log), "--model", model], None)
    inproc["target"] = INPROC_TARGET_RPS
    inproc["target_text"] = f">= {INPROC_TARGET_RPS:,.0f} req/s"
    inproc["ratio"] = inproc["rps"] / INPROC_TARGET_RPS
    inproc["met"] = inproc["rps"] >= INPROC_TARGET_RPS
    rows.append(inproc)
    wrk["target_text"], wrk["ratio"], wrk["met"] = "baseline", None, None
    return rows


def _secs(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def table(rows: list[dict]) -> str:
    head = ("case", "requests", "seconds", "req/s", "wall s", "client CPU s", "server CPU s", "load 1m",
            "target", "ratio", "met")
    body = []
    for r in rows:
        ratio = "–" if r.get("ratio") is None else (f"{r['ratio']:.2f}" if r["case"].startswith("mlmon HTTP")
                                                     else f"{r['ratio']:.2f}x")
        met = "–" if r.get("met") is None else ("yes" if r["met"] else "NO")
        body.append((
            r["case"], f"{r['requests']:,}", f"{r['seconds']:.2f}", f"{r['rps']:,.0f}",
            "–" if r.get("wall_s") is None else f"{r['wall_s']:.2f}",
            _secs(r.get("client_cpu_s")), _secs(r.get("server_cpu_s")),
            "–" if r.get("load_before") is None else f"{r['load_before'][0]:.2f}→{r['load_after'][0]:.2f}",
            r.get("target_text", ""), ratio, met,
        ))
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    right = {1, 2, 3, 4, 5, 6, 9}

    def fmt(cells) -> str:
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    lines = [fmt(head), "  ".join("─" * w for w in widths), *(fmt(b) for b in body)]
    return "\n".join(lines)


def summary_rows(runs: list[list[dict]], how: str) -> list[dict]:
    """One row per case over all runs: the ``median`` or the ``best`` (highest req/s) of each figure.

    Other work on the machine only ever slows a case down, so the best run is the
    closest to what the code can do; the median is what one run will typically show.
    """
    pick = statistics.median if how == "median" else max
    out: list[dict] = []
    wrk_rps = pick(run[0]["rps"] for run in runs)
    for i, first in enumerate(runs[0]):
        same = [run[i] for run in runs]
        if how == "median":
            row = {"requests": int(statistics.median(r["requests"] for r in same)),
                   "seconds": statistics.median(r["seconds"] for r in same),
                   "rps": statistics.median(r["rps"] for r in same)}
        else:
            fastest = max(same, key=lambda r: r["rps"])
            row = {k: fastest[k] for k in ("requests", "seconds", "rps", "wall_s", "client_cpu_s", "server_cpu_s",
                                           "load_before", "load_after")}
        row["case"] = f"{first['case']} ({how} of {len(same)})"
        if first["case"].startswith("mlmon HTTP"):
            row["target"] = HTTP_TARGET_RATIO * wrk_rps
            row["target_text"] = f">= {HTTP_TARGET_RATIO:.0%} of wrk ({row['target']:,.0f})"
            # median: of each run's own ratio (mlmon and wrk of the same run, minutes apart at most)
            row["ratio"] = statistics.median(r["ratio"] for r in same) if how == "median" else row["rps"] / wrk_rps
            row["met"] = row["ratio"] >= HTTP_TARGET_RATIO
        elif first["case"].startswith("mlmon in-process"):
            row["target_text"] = first["target_text"]
            row["ratio"] = row["rps"] / INPROC_TARGET_RPS
            row["met"] = row["rps"] >= INPROC_TARGET_RPS
        else:
            row["target_text"] = "baseline"
        out.append(row)
    return out


# --------------------------------------------------------------------------- profile

def profile(log: Path, server: Server, args, top: int) -> dict:
    """cProfile of ``python -m mlmon replay`` for both cases; the top functions by own and cumulative time."""
    import pstats

    found = {}
    model = f"{Path(__file__).resolve().relative_to(ROOT)}:trivial"
    cases = {
        "http": [str(log), "--target", server.url, "--concurrency", str(args.connections)],
        "inprocess": [str(log), "--model", model],
    }
    for name, replay_args in cases.items():
        out = Path(tempfile.gettempdir()) / f"mlmon_replay_{name}.prof"
        cmd = [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "mlmon", "replay", *replay_args,
               "--format", "json", "--fail-over", "1"]
        r = run_child(cmd, server)
        doc = json.loads(r["stdout"])
        print(f"\n=== cProfile, {name}: {' '.join(cmd)}")
        print(f"(under the profiler: {doc['requests']:,} requests, {doc['throughput_rps']:,.0f} req/s, "
              f"wall {r['wall_s']:.2f}s; profile in {out})")
        for key in ("tottime", "cumulative"):
            print(f"\n--- top {top} by {key}")
            stats = pstats.Stats(str(out))
            stats.sort_stats(key).print_stats(top)
        found[name] = {"prof": str(out), "throughput_rps": doc["throughput_rps"], "wall_s": r["wall_s"]}
    return found


# --------------------------------------------------------------------------- main

def git_commit() -> str:
    """The checked-out commit, with ``+dirty`` when mlmon/ has changes not committed."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "mlmon"], cwd=ROOT, capture_output=True,
                               text=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=30_000, help="records in the generated log (default 30,000)")
    parser.add_argument("--log", type=Path, help="replay this log instead (mlmon's shape; its first request is wrk's body)")
    parser.add_argument("--server", choices=("raw", "aiohttp"), default="raw", help="replay_server.py --kind (default raw)")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk -c and mlmon --concurrency (default 32)")
    parser.add_argument("--duration", type=int, default=10, help="wrk -d seconds (default 10)")
    parser.add_argument("--repeat", type=int, default=1, help="whole runs, one after the other (default 1)")
    parser.add_argument("--profile", action="store_true", help="also cProfile both mlmon cases and print top functions")
    parser.add_argument("--top", type=int, default=25, help="functions listed per profile (default 25)")
    args = parser.parse_args(argv)

    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get update && apt-get install -y wrk", file=sys.stderr)
        return 2
    log = args.log or DATA / f"replay_{args.records}.jsonl"
    if args.log is None and not log.exists():
        print(f"writing {log} ({args.records:,} records)", file=sys.stderr)
        write_log(log, args.records)
    lua_dir = Path(tempfile.mkdtemp(prefix="bench_replay_"))
    lua = lua_dir / "post.lua"
    lua.write_text(WRK_LUA.format(body=lua_string(first_request_body(log))), encoding="utf-8")

    commit = git_commit()
    print(f"bench_replay: mlmon {commit}, {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"server {args.server}, log {log} ({sum(1 for _ in log.open('rb')):,} records)")
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    server = Server(args.server)
    runs = []
    profiles = None
    try:
        print(f"server: replay_server.py --kind {args.server}, pid {server.proc.pid}, {server.url}")
        print(f"wrk: wrk -t{args.threads} -c{args.connections} -d{args.duration}s -s {lua} {server.url}")
        print(f"mlmon: {' '.join(mlmon_command())} replay {log} --target {server.url} --concurrency {args.connections}"
              f" --format json --fail-over 1")
        print(f"mlmon: {' '.join(mlmon_command())} replay {log} --model "
              f"{Path(__file__).resolve().relative_to(ROOT)}:trivial --format json --fail-over 1")
        for i in range(args.repeat):
            rows = one_run(log, lua, server, args)
            runs.append(rows)
            print(f"\nrun {i + 1}/{args.repeat}  (uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()})")
            print(table(rows))
            for r in rows:
                for p in r.get("problems", []):
                    print(f"  ! {r['case']}: {p}")
        if args.repeat > 1:
            for how in ("median", "best"):
                print(f"\n{how} of {args.repeat} runs (each case on its own; HTTP ratio: "
                      + ("median of the runs' ratios)" if how == "median" else "best mlmon / best wrk)"))
                print(table(summary_rows(runs, how)))
        if args.profile:
            profiles = profile(log, server, args, args.top)
    finally:
        server.stop()
        shutil.rmtree(lua_dir, ignore_errors=True)

    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    saved = RESULTS / f"replay_{stamp}.json"
    keep = ("case", "cmd", "requests", "seconds", "rps", "wall_s", "client_cpu_s", "server_cpu_s", "load_before",
            "load_after", "target", "ratio", "met", "counts", "problems")
    saved.write_text(json.dumps({
        "mlmon_commit": commit, "host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
        "server": args.server, "log": str(log), "runs": [[{k: r.get(k) for k in keep} for r in run] for run in runs],
        "profiles": profiles,
    }, indent=2) + "\n", encoding="utf-8")
    print(f"\nsaved {saved}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
