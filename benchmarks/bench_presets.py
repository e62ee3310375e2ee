#!/usr/bin/env python3
"""Time ``mlmon report`` on a platform's log format (a preset) against mlmon's own format, and DuckDB on both.

    python benchmarks/bench_presets.py --preset kserve --size-mb 1024
    python benchmarks/bench_presets.py --preset litellm --size-mb 1024 --runs 3
    python benchmarks/bench_presets.py --preset kserve,litellm --size-mb 64 --keep --dir /tmp/presets

For each preset it writes, block by block (never the whole file in memory), two files
holding the same requests:

* ``<preset>.jsonl``, about ``--size-mb`` MiB in the platform's shape:
  - ``kserve``: KServe payload-logger CloudEvents, a request event and a response event per
    request, joined on ``id``; times are Go RFC3339Nano (nanoseconds, trailing zeros trimmed);
    v1 bodies ``{"instances": [[4 numbers] x 1-4 rows]}`` / ``{"predictions": [...]}``; 5 % of
    the pairs carry their bodies as ``data_base64`` (base64 of the JSON body); 1 % of the
    requests have no response event (a failed request); events are written in the order of
    their times, so a response comes after the requests that arrived while it was computed.
  - ``litellm``: LiteLLM StandardLoggingPayload lines (about 2 KB each, the fields of the
    fixture ``tests/fixtures/presets/litellm``), epoch-second ``startTime``/``endTime``/
    ``completionStartTime``, tokens and cost, 2 % ``"status": "failure"``.
* ``<preset>_own.jsonl``: the same records in mlmon's own shape, one line per record as
  mlmon makes them from the preset (for ``kserve``, one line per batched row: mlmon explodes
  ``instances``), with ``ts``, ``request_id``, ``model``, ``status``, ``latency_ms``,
  ``error``, ``request``, ``response`` (and for ``litellm`` the token, cost and TTFT fields).

Then it times, alternating, each a fresh process (start-up and imports included):

* ``mlmon report FILE --format json -o OUT`` on the own file and on the preset file, both with
  the default ``--preset auto`` (mlmon samples each file's first records to pick the format);
* DuckDB computing the same headline numbers (records, errors, latency p50/p95) with
  ``read_ndjson`` on each file; on the ``kserve`` file DuckDB joins the request and response
  events on ``id`` itself and repeats a request's latency for each of its rows, as mlmon does.

Wall time, CPU time and peak RSS are measured as in ``bench_report.py`` (``wait4``'s
``ru_maxrss`` and a psutil poll). The four results' counts are compared (a WARNING if they
differ), and the latency percentiles within 1e-6 relative.

The generated files go to a fresh directory under ``/tmp`` (or ``--dir``) and are deleted at the
end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path
from random import Random

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_report import (MIB, byte_compile_mlmon, machine_facts, measure, mlmon_exe,  # noqa: E402
                          wait_quiet, warm_cache)
from generate_logs import MODELS, _CUM  # noqa: E402

PRESETS = ("kserve", "litellm")
#: Requests per generated block; blocks are made in worker processes and written in order.
BLOCK = 10_000
START_S = 1_795_478_400  # 2026-11-24T00:00:00Z

# ----------------------------------------------------------------------------- time text

_minute_cache: dict[int, str] = {}


def _minute_prefix(minute: int) -> str:
    prefix = _minute_cache.get(minute)
    if prefix is None:
        if len(_minute_cache) > 100_000:
            _minute_cache.clear()
        prefix = time.strftime("%Y-%m-%dT%H:%M:", time.gmtime(minute * 60))
        _minute_cache[minute] = prefix
    return prefix


def rfc3339nano(ns: int) -> str:
    """Go's RFC3339Nano: up to 9 fractional digits, trailing zeros (and a bare dot) trimmed."""
    s, frac = divmod(ns, 1_000_000_000)
    minute, sec = divmod(s, 60)
    tail = f".{frac:09d}".rstrip("0") if frac else ""
    return f"{_minute_prefix(minute)}{sec:02d}{tail}Z"


def iso_us(ns: int) -> str:
    """ISO time with microseconds and Z (the own format's ``ts``)."""
    s, frac = divmod(ns, 1_000_000_000)
    minute, sec = divmod(s, 60)
    return f"{_minute_prefix(minute)}{sec:02d}.{frac // 1000:06d}Z"


def _pick_model(r) -> int:
    u = r()
    k = 0
    while u >= _CUM[k] and k < len(MODELS) - 1:
        k += 1
    return k


def _uuid(rng: Random) -> str:
    h = rng.getrandbits(128)
    x = f"{h:032x}"
    return f"{x[:8]}-{x[8:12]}-4{x[13:16]}-{'89ab'[h & 3]}{x[17:20]}-{x[20:]}"


# ----------------------------------------------------------------------------- kserve

KS_REQ = "org.kubeflow.serving.inference.request"
KS_RESP = "org.kubeflow.serving.inference.response"
KS_NO_RESPONSE = 0.01
KS_BASE64 = 0.05


def kserve_block(args: tuple[int, int, float]) -> tuple[bytes, bytes]:
    """Block ``index``: (preset lines, own-format lines)."""
    index, seed, span_ns = args
    rng = Random(f"mlmon-bench-presets/kserve/{seed}/{index}")
    r = rng.random
    t0 = START_S * 1_000_000_000 + int(index * span_ns)
    times = sorted(t0 + int(r() * span_ns) for _ in range(BLOCK))
    events: list[tuple[int, int, str]] = []
    own: list[str] = []
    for seq, t in enumerate(times):
        k = _pick_model(r)
        model, _versions, _share, mu, sigma = MODELS[k]
        rid = _uuid(rng)
        n = 1 + int(r() * 4)
        rows = [[round(0.1 + r() * 7.8, 1) for _ in range(4)] for _ in range(n)]
        preds = [int(r() * 3) for _ in range(n)]
        answered = r() >= KS_NO_RESPONSE
        b64 = r() < KS_BASE64
        latency_ns = int(rng.lognormvariate(mu, sigma) * 1_000_000) + int(r() * 1000)
        req_body = '{"instances": [' + ", ".join("[" + ", ".join(map(str, row)) + "]" for row in rows) + "]}"
        resp_body = '{"predictions": [' + ", ".join(map(str, preds)) + "]}"
        head = ('{"specversion":"1.0","type":"%s","source":"http://localhost:9081/","id":"' + rid + '","time":"%s",'
                '"datacontenttype":"application/json","endpoint":"default","inferenceservicename":"' + model + '",'
                '"namespace":"default","component":"predictor",')

        def body(text: str) -> str:
            if b64:
                return '"data_base64":"' + base64.b64encode(text.encode()).decode() + '"}'
            return '"data":' + text + "}"

        events.append((t, 2 * seq, head % (KS_REQ, rfc3339nano(t)) + body(req_body)))
        if answered:
            events.append((t + latency_ns, 2 * seq + 1, head % (KS_RESP, rfc3339nano(t + latency_ns)) + body(resp_body)))
        ts = iso_us(t)
        if answered:
            common = f'{{"ts": "{ts}", "request_id": "{rid}", "model": "{model}", "status": 200, ' \
                     f'"latency_ms": {latency_ns / 1e6!r}, "error": null, '
            for row, pred in zip(rows, preds):
                feats = ", ".join(f'"f{i}": {v}' for i, v in enumerate(row))
                own.append(common + f'"request": {{{feats}}}, "response": {{"prediction": {pred}}}}}')
        else:
            common = f'{{"ts": "{ts}", "request_id": "{rid}", "model": "{model}", "status": 500, ' \
                     f'"latency_ms": null, "error": "no response logged", '
            for row in rows:
                feats = ", ".join(f'"f{i}": {v}' for i, v in enumerate(row))
                own.append(common + f'"request": {{{feats}}}, "response": null}}')
    events.sort()
    return ("\n".join(e[2] for e in events) + "\n").encode(), ("\n".join(own) + "\n").encode()


# ----------------------------------------------------------------------------- litellm

LLM_MODELS = (  # name, provider, api_base, share (cumulative below), latency median s, $/1k in, $/1k out
    ("gpt-4o-mini", "openai", "https://api.openai.com", 0.45, 1.1, 0.00015, 0.0006),
    ("gpt-4o", "openai", "https://api.openai.com", 0.25, 2.4, 0.0025, 0.01),
    ("claude-3-5-sonnet-20240620", "anthropic", "https://api.anthropic.com/v1/messages", 0.2, 3.0, 0.003, 0.015),
    ("llama-3-70b-instruct", "bedrock", "https://bedrock-runtime.us-east-1.amazonaws.com", 0.1, 1.8, 0.00265, 0.0035),
)
_LLM_CUM = list(itertools.accumulate(m[3] for m in LLM_MODELS))
LLM_FAILURE = 0.02
PROMPTS = ("What is 2+2?", "Summarise the attached ticket in one sentence.", "Translate 'good morning' to German.",
           "Write a haiku about monitoring.", "Classify the sentiment of: the delivery was late again.",
           "Extract the invoice number from: INV-2026-00042 due 30 days.")
ERRORS = ("litellm.RateLimitError: RateLimitError: OpenAIException - Rate limit reached for requests",
          "litellm.Timeout: APITimeoutError - Request timed out after 30.0 seconds",
          "litellm.InternalServerError: AnthropicException - Overloaded")


def litellm_block(args: tuple[int, int, float]) -> tuple[bytes, bytes]:
    index, seed, span_ms = args
    rng = Random(f"mlmon-bench-presets/litellm/{seed}/{index}")
    r = rng.random
    t0 = START_S * 1000 + int(index * span_ms)
    times = sorted(t0 + int(r() * span_ms) for _ in range(BLOCK))
    out: list[str] = []
    own: list[str] = []
    for seq, start_ms in enumerate(times):
        u = r()
        k = 0
        while u >= _LLM_CUM[k] and k < len(LLM_MODELS) - 1:
            k += 1
        model, provider, api_base, _share, med, p_in, p_out = LLM_MODELS[k]
        model_id = f"{rng.getrandbits(64):016x}"
        cid = "chatcmpl-" + _uuid(rng)
        call_id = _uuid(rng)
        stream = r() < 0.3
        prompt = PROMPTS[int(r() * len(PROMPTS))]
        temperature = round(r(), 1)
        failed = r() < LLM_FAILURE
        if failed:
            latency_ms = int(rng.lognormvariate(math.log(400), 1.0)) + 1
            end_ms = start_ms + latency_ms
            ttft_ms = latency_ms
            pt = ct = 0
            cost = 0.0
            err = ERRORS[int(r() * len(ERRORS))]
        else:
            latency_ms = int(rng.lognormvariate(math.log(med * 1000), 0.5)) + 1
            end_ms = start_ms + latency_ms
            ttft_ms = int(latency_ms * (0.1 + 0.3 * r())) if stream else latency_ms
            pt = 8 + int(rng.expovariate(1 / 400))
            ct = 1 + int(rng.expovariate(1 / 150))
            cost = round(pt / 1000 * p_in + ct / 1000 * p_out, 9)
            err = ""
        tt = pt + ct
        start, end, first = start_ms / 1000, end_ms / 1000, (start_ms + ttft_ms) / 1000
        status = "failure" if failed else "success"
        answer = "null" if failed else (
            f'{{"id": "{cid}", "created": {start_ms // 1000}, "model": "{model}", "object": "chat.completion", '
            f'"system_fingerprint": null, "choices": [{{"finish_reason": "stop", "index": 0, "message": '
            f'{{"content": "ok-{int(r() * 100000)}", "role": "assistant", "tool_calls": null, "function_call": null}}}}], '
            f'"usage": {{"completion_tokens": {ct}, "prompt_tokens": {pt}, "total_tokens": {tt}}}}}')
        params = f'{{"temperature": {temperature}, "max_tokens": 1024}}'
        err_obj = ('{"error_code": "", "error_class": "", "llm_provider": "", "traceback": "", "error_message": ""}'
                   if not failed else
                   f'{{"error_code": "429", "error_class": "RateLimitError", "llm_provider": "{provider}", '
                   f'"traceback": "Traceback (most recent call last): ...", "error_message": "{err}"}}')
        out.append(
            f'{{"id": "{cid}", "trace_id": "trc-{index}-{seq}", "litellm_call_id": "{call_id}", "call_type": "acompletion", '
            f'"stream": {"true" if stream else "false"}, "response_cost": {cost!r}, "cost_breakdown": {{"input_cost": '
            f'{pt / 1000 * p_in!r}, "output_cost": {ct / 1000 * p_out!r}, "total_cost": {cost!r}, "tool_usage_cost": 0.0}}, '
            f'"response_cost_failure_debug_info": null, "status": "{status}", "status_fields": {{"llm_api_status": '
            f'"{status}", "guardrail_status": "not_run"}}, "custom_llm_provider": "{provider}", "total_tokens": {tt}, '
            f'"prompt_tokens": {pt}, "completion_tokens": {ct}, "startTime": {start!r}, "endTime": {end!r}, '
            f'"completionStartTime": {first!r}, "response_time": {(end - start)!r}, "model_map_information": '
            f'{{"model_map_key": "{model}", "model_map_value": null}}, "model": "{model}", "model_id": "{model_id}", '
            f'"model_group": "{model}", "api_base": "{api_base}", "metadata": {{"user_api_key_hash": '
            f'"{rng.getrandbits(256):064x}", "user_api_key_alias": null, "user_api_key_team_id": "team-ml", '
            f'"user_api_key_org_id": null, "user_api_key_user_id": "u-{int(r() * 500)}", "user_api_key_team_alias": null, '
            f'"user_api_key_user_email": null, "spend_logs_metadata": null, "requester_ip_address": null, '
            f'"requester_metadata": {{}}, "user_api_key_end_user_id": null, "prompt_management_metadata": null, '
            f'"applied_guardrails": [], "mcp_tool_call_metadata": null, "vector_store_request_metadata": null, '
            f'"guardrail_information": null}}, "cache_hit": null, "cache_key": null, "saved_cache_cost": 0.0, '
            f'"request_tags": ["prod"], "end_user": "", "requester_ip_address": "10.0.{int(r() * 256)}.{int(r() * 256)}", '
            f'"user_agent": "OpenAI/Python 1.51.0", "messages": [{{"role": "user", "content": "{prompt}"}}], '
            f'"response": {answer}, "error_str": {("null" if not failed else json.dumps(err))}, '
            f'"error_information": {err_obj}, "model_parameters": {params}, "hidden_params": {{"model_id": '
            f'"{model_id}", "cache_key": null, "api_base": "{api_base}", "response_cost": {cost!r}, '
            f'"additional_headers": {{}}, "litellm_overhead_time_ms": {round(r() * 3, 2)}, "batch_models": null, '
            f'"litellm_model_name": "{model}"}}, "guardrail_information": null, "standard_built_in_tools_params": '
            f'{{"web_search_options": null, "file_search": null}}}}'
        )
        own.append(
            f'{{"ts": "{iso_us(start_ms * 1_000_000)}", "request_id": "{cid}", "model": "{model}", '
            f'"model_version": "{model_id}", "status": {500 if failed else 200}, "latency_ms": {float(latency_ms)!r}, '
            f'"error": {json.dumps(err) if failed else "null"}, "tokens_in": {pt}, "tokens_out": {ct}, '
            f'"tokens_total": {tt}, "cost": {cost!r}, "ttft_ms": {float(ttft_ms)!r}, '
            f'"request": {params}, "response": {answer}}}'
        )
    return ("\n".join(out) + "\n").encode(), ("\n".join(own) + "\n").encode()


#: preset -> (block maker, span of one block in its time unit per MiB of preset file, about 3 days a GiB)
MAKERS = {"kserve": (kserve_block, 3 * 86_400e9 / 1024), "litellm": (litellm_block, 3 * 86_400e3 / 1024)}
#: Measured bytes per request of the preset file, to spread the times over about 3 days per GiB.
BYTES_PER_REQUEST = {"kserve": 740, "litellm": 2750}


def generate(preset: str, size_mb: float, seed: int, where: Path, jobs: int) -> tuple[Path, Path, dict]:
    """Write ``<preset>.jsonl`` (at most ``size_mb`` MiB, whole blocks) and ``<preset>_own.jsonl``."""
    maker, per_mib = MAKERS[preset]
    target = int(size_mb * MIB)
    blocks_est = max(1.0, target / (BYTES_PER_REQUEST[preset] * BLOCK))
    span = per_mib * (target / MIB) / blocks_est
    p_path, o_path = where / f"{preset}.jsonl", where / f"{preset}_own.jsonl"
    started = time.perf_counter()
    written = own_written = n_blocks = 0

    def tasks():
        i = 0
        while True:
            yield (i, seed, span)
            i += 1

    pool = Pool(jobs) if jobs > 1 else None
    blocks = pool.imap(maker, tasks(), chunksize=1) if pool else map(maker, tasks())
    try:
        with open(p_path, "wb", buffering=8 * MIB) as p, open(o_path, "wb", buffering=8 * MIB) as o:
            for preset_bytes, own_bytes in blocks:
                if written + len(preset_bytes) > target and n_blocks:
                    break
                p.write(preset_bytes)
                o.write(own_bytes)
                written += len(preset_bytes)
                own_written += len(own_bytes)
                n_blocks += 1
    finally:
        if pool:
            pool.terminate()
            pool.join()
    info = {"requests": n_blocks * BLOCK, "preset_bytes": written, "own_bytes": own_written,
            "seconds": round(time.perf_counter() - started, 1)}
    print(f"generated {p_path} ({written / MIB:,.0f} MiB) and {o_path} ({own_written / MIB:,.0f} MiB): "
          f"{info['requests']:,} requests in {info['seconds']} s", file=sys.stderr, flush=True)
    return p_path, o_path, info


# ----------------------------------------------------------------------------- DuckDB

#: ``python -c DUCKDB_SCRIPT KIND FILE OUT``: records, errors, latency p50/p95 of one file, as JSON.
DUCKDB_SCRIPT = r'''
import json, sys
import duckdb
kind, path, out = sys.argv[1:4]
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
HEAD = "SELECT count(*) AS records, count(*) FILTER (WHERE failed) AS errors, " \
       "quantile_cont(latency_ms, 0.5) AS p50, quantile_cont(latency_ms, 0.95) AS p95 FROM "
if kind == "own":
    query = HEAD + """(SELECT status >= 500 OR error IS NOT NULL AS failed, latency_ms
        FROM read_ndjson(?, columns = {ts: 'VARCHAR', status: 'BIGINT', latency_ms: 'DOUBLE', error: 'VARCHAR'})
        WHERE TRY_CAST(ts AS TIMESTAMPTZ) IS NOT NULL)"""
elif kind == "litellm":
    query = HEAD + """(SELECT status = 'failure' AS failed, ("endTime" - "startTime") * 1000 AS latency_ms
        FROM read_ndjson(?, columns = {startTime: 'DOUBLE', endTime: 'DOUBLE', status: 'VARCHAR'}))"""
elif kind == "kserve":
    # Events joined on id; a request's rows are its v1 instances (in data, or in the JSON that
    # data_base64 holds), each row one record with the pair's latency; no response: failed.
    query = """
WITH ev AS (
    SELECT id, type,
           epoch_ns(CAST(substr(time, 1, 19) AS TIMESTAMP))
             + CAST(rpad(coalesce(regexp_extract(time, '\.([0-9]+)', 1), ''), 9, '0') AS BIGINT) AS t_ns,
           coalesce(data, CAST(decode(from_base64(data_base64)) AS JSON)) AS body
    FROM read_ndjson(?, columns = {id: 'VARCHAR', type: 'VARCHAR', time: 'VARCHAR', data: 'JSON',
                                   data_base64: 'VARCHAR'})
),
req AS (SELECT id, t_ns, greatest(coalesce(json_array_length(body, '$.instances'), 1), 1) AS n
        FROM ev WHERE type = 'org.kubeflow.serving.inference.request'),
resp AS (SELECT id, t_ns FROM ev WHERE type = 'org.kubeflow.serving.inference.response'),
pairs AS (SELECT req.n, (resp.t_ns - req.t_ns) / 1e6 AS latency_ms, resp.id IS NULL AS failed
          FROM req LEFT JOIN resp ON req.id = resp.id)
""" + HEAD + "(SELECT latency_ms, failed, unnest(range(CAST(n AS BIGINT))) FROM pairs)"
else:
    raise SystemExit(f"unknown kind {kind}")
row = con.execute(query, [path]).fetchone()
with open(out, "w") as f:
    json.dump(dict(zip(("records", "errors", "p50", "p95"), row)), f)
'''


def mlmon_figures(path: Path) -> dict | None:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    m = doc["windows"][0]["metrics"] if doc.get("windows") else {}
    return {"records": m.get("request_count"), "errors": m.get("error_count"), "p50": m.get("latency_p50_ms"),
            "p95": m.get("latency_p95_ms"), "skipped": doc["source"]["skipped"]}


# ----------------------------------------------------------------------------- running

def bench_preset(preset: str, p_path: Path, o_path: Path, runs: int, where: Path, max_other_load: float,
                 wait: float) -> dict:
    exe = mlmon_exe()
    tools = {
        "mlmon, own format": ([exe, "report", str(o_path), "--format", "json", "-o", str(where / "m_own.json")],
                              where / "m_own.json", o_path),
        f"mlmon, {preset}": ([exe, "report", str(p_path), "--format", "json", "-o", str(where / "m_preset.json")],
                             where / "m_preset.json", p_path),
        "DuckDB, own format": ([sys.executable, "-c", DUCKDB_SCRIPT, "own", str(o_path), str(where / "d_own.json")],
                               where / "d_own.json", o_path),
        f"DuckDB, {preset}": ([sys.executable, "-c", DUCKDB_SCRIPT, preset, str(p_path), str(where / "d_preset.json")],
                              where / "d_preset.json", p_path),
    }
    warm_cache(o_path)
    warm_cache(p_path)
    out = {name: {"runs": [], "file": str(f), "bytes": f.stat().st_size, "result": str(res)}
           for name, (_cmd, res, f) in tools.items()}
    for i in range(runs):
        for name, (cmd, _res, _f) in tools.items():
            if wait > 0:
                wait_quiet(max_other_load, wait)
            r = measure(cmd)
            status = "ok" if r["returncode"] == 0 else f"EXIT {r['returncode']}"
            print(f"  [{preset}] run {i + 1}/{runs} {name:22s} {r['seconds']:7.2f} s  cpu {r['cpu_seconds']:7.2f} s"
                  f"  peak {r['peak_rss_mb']:6.0f} MB (anon {r['polled_anon_mb']:.0f})  other load {r['other_cpu']:.2f}"
                  f"  {status}", file=sys.stderr, flush=True)
            if r["returncode"] != 0:
                print(f"  command: {' '.join(cmd[:2])} ...\n  stderr:\n{r['stderr']}", file=sys.stderr, flush=True)
            out[name]["runs"].append(r)
    for name, entry in out.items():
        ok = [r for r in entry["runs"] if r["returncode"] == 0]
        entry["ok"] = len(ok) == len(entry["runs"])
        entry["best_s"] = min((r["seconds"] for r in ok), default=None)
        entry["median_s"] = statistics.median(r["seconds"] for r in ok) if ok else None
        entry["median_cpu_s"] = statistics.median(r["cpu_seconds"] for r in ok) if ok else None
        entry["peak_rss_mb"] = max(r["peak_rss_mb"] for r in entry["runs"])
        entry["polled_anon_mb"] = max(r["polled_anon_mb"] for r in entry["runs"])
        entry["max_other_cpu"] = max(r["other_cpu"] for r in entry["runs"])
        entry["stderr_last"] = entry["runs"][-1]["stderr"].strip()
        res = Path(entry["result"])
        if name.startswith("mlmon"):
            entry["figures"] = mlmon_figures(res) if entry["ok"] else None
        else:
            entry["figures"] = json.loads(res.read_text()) if entry["ok"] and res.exists() else None
    return out


def _fmt(x, spec=".2f") -> str:
    return "—" if x is None else format(x, spec)


def print_table(preset: str, info: dict, results: dict) -> list[str]:
    own = results["mlmon, own format"]
    header = ["tool, file", "file MiB", "best s", "median s", "median CPU s", "peak RSS MB", "peak anon MB",
              "× mlmon own (median wall / CPU)", "records", "errors", "p50 ms", "p95 ms"]
    rows = []
    for name, t in results.items():
        f = t["figures"] or {}
        ratio = None if not own["median_s"] or t["median_s"] is None else t["median_s"] / own["median_s"]
        cpu = None if not own["median_cpu_s"] or t["median_cpu_s"] is None else t["median_cpu_s"] / own["median_cpu_s"]
        rows.append([name + ("" if t["ok"] else " (FAILED)"), f"{t['bytes'] / MIB:,.0f}", _fmt(t["best_s"]),
                     _fmt(t["median_s"]), _fmt(t["median_cpu_s"]), _fmt(t["peak_rss_mb"], ",.0f"),
                     _fmt(t["polled_anon_mb"], ",.0f"), f"{_fmt(ratio)} / {_fmt(cpu)}", _fmt(f.get("records"), ","),
                     _fmt(f.get("errors"), ","), _fmt(f.get("p50"), ".3f"), _fmt(f.get("p95"), ".3f")])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    text = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(r) for r in rows)]
    print(f"\n[{preset}] {info['requests']:,} requests; mlmon report FILE --format json (default --preset auto) "
          f"vs DuckDB read_ndjson\n")
    print("\n".join(text))
    return text


def check(preset: str, results: dict) -> list[str]:
    """Warnings where the four results' headline numbers disagree."""
    figs = {n: t["figures"] for n, t in results.items()}
    warnings = []
    missing = [n for n, f in figs.items() if not f]
    if missing:
        warnings.append(f"no figures from {', '.join(missing)}")
    present = {n: f for n, f in figs.items() if f}
    for key in ("records", "errors"):
        values = {n: f[key] for n, f in present.items()}
        if len(set(values.values())) > 1:
            warnings.append(f"{key} differ: " + ", ".join(f"{n} {v:,}" for n, v in values.items()))
    for key in ("p50", "p95"):
        values = {n: f[key] for n, f in present.items() if f[key] is not None}
        if values:
            lo, hi = min(values.values()), max(values.values())
            if hi - lo > 1e-6 * max(abs(hi), 1.0) + 1e-3:  # mlmon reads epoch-second floats to microseconds
                warnings.append(f"latency {key} differ: " + ", ".join(f"{n} {v!r}" for n, v in values.items()))
    for n, f in present.items():
        if f.get("skipped"):
            warnings.append(f"{n} skipped {f['skipped']:,} lines")
    for n, t in results.items():
        if n.startswith("mlmon") and t["stderr_last"]:
            print(f"  [{preset}] {n} stderr: {t['stderr_last'][:300]}")
    if warnings:
        for w in warnings:
            print(f"WARNING [{preset}]: {w}")
    else:
        print(f"Check [{preset}]: records, errors and latency p50/p95 agree across all four.")
    return warnings


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="kserve,litellm",
                    help=f"preset(s) to benchmark, comma-separated: {', '.join(PRESETS)} (default: both)")
    ap.add_argument("--size-mb", type=float, default=1024, help="size of the preset file in MiB (default 1024)")
    ap.add_argument("--runs", type=int, default=3, help="runs per tool (default 3)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", type=Path, help="where to write the files (default: a new directory under /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files and results")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="generator processes")
    ap.add_argument("--max-other-load", type=float, default=0.3)
    ap.add_argument("--wait-quiet", type=float, default=30, metavar="SECONDS",
                    help="before each run, wait up to this long for the machine to be quiet (default 30; 0: never)")
    args = ap.parse_args(argv)
    presets = [p for p in args.preset.split(",") if p]
    unknown = [p for p in presets if p not in PRESETS]
    if unknown or not presets:
        ap.error(f"--preset: choose from {', '.join(PRESETS)}")
    where = args.dir or Path(tempfile.mkdtemp(prefix="mlmon-bench-presets-", dir="/tmp"))
    where.mkdir(parents=True, exist_ok=True)
    byte_compile_mlmon()
    facts = machine_facts()
    print(f"{facts['date']}  nproc={facts['nproc']}  cpu={facts['cpu']!r}  mem={facts['memory_gib']} GiB  "
          f"python {facts['python']}  polars {facts['polars']}  duckdb {facts['duckdb']}  mlmon {facts['mlmon']} "
          f"({facts['mlmon_git']})", file=sys.stderr)
    saved = {"machine": facts, "runs": args.runs, "presets": {}}
    failed = warned = False
    try:
        for preset in presets:
            p_path, o_path, info = generate(preset, args.size_mb, args.seed, where, args.jobs)
            results = bench_preset(preset, p_path, o_path, args.runs, where, args.max_other_load, args.wait_quiet)
            table = print_table(preset, info, results)
            warnings = check(preset, results)
            warned |= bool(warnings)
            failed |= any(not t["ok"] for t in results.values())
            for t in results.values():
                for r in t["runs"]:
                    r.pop("stderr", None)
            saved["presets"][preset] = {"generated": info, "tools": results, "table": table, "warnings": warnings}
            if not args.keep:
                p_path.unlink(missing_ok=True)
                o_path.unlink(missing_ok=True)
        if args.keep:
            out = where / f"bench_presets_{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
            out.write_text(json.dumps(saved, indent=2) + "\n")
            print(f"\nsaved {out}")
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(where, ignore_errors=True)
    return 1 if failed or warned else 0


if __name__ == "__main__":
    sys.exit(main())
