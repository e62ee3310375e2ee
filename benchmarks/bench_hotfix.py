#!/usr/bin/env python3
"""The cost of a hot-fix decision in serving: ``HotfixLayer.decide`` over a 20-rule file, per request.

    python benchmarks/bench_hotfix.py                 # 20 rules, 200,000 requests, 5 runs
    python benchmarks/bench_hotfix.py --rules 50 --requests 500000

The file holds ``--rules`` rules of the shapes hot fixes take (a string equality, a number
threshold, ``in`` a list, a nested field, two conditions joined by ``and``/``or``); the
requests are drawn so that about 2 % match one rule and the others fall through every rule,
the worst case and the common one. Measured in this process with ``time.perf_counter``:

- **no match**: a request no rule matches (all ``--rules`` conditions evaluated);
- **mixed**: the drawn requests, 2 % answered by a hot fix;
- **wrapped**: ``layer.wrap(predict)`` with a model that returns a constant, so the figure is
  the layer's overhead on a request, hot reload check included;
- **compile**: loading and compiling the whole file (what a hot reload costs once).

The median of ``--runs`` runs is printed, in microseconds per request.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

SHAPES = [
    'input.country == "C{i}"',
    "input.amount > {big}",
    'input.merchant in ["m{i}", "n{i}", "o{i}"]',
    'input.user.tier == "t{i}" and input.amount >= 100',
    'model_version == "v{i}" or input.flag == "f{i}"',
]


def hotfix_file(n: int) -> str:
    lines = ["rules:"]
    for i in range(n):
        when = SHAPES[i % len(SHAPES)].format(i=i, big=1_000_000 + i)
        lines += [f"  - name: rule-{i}", f"    when: '{when}'", f"    respond: {{label: fixed, rule: {i}}}"]
    return "\n".join(lines) + "\n"


def requests(n: int, rules: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        req = {"country": rng.choice(["DE", "FR", "US"]), "amount": rng.uniform(1, 5000),
               "merchant": rng.choice(["grocery", "travel"]), "user": {"tier": "gold"}, "flag": "no"}
        if rng.random() < 0.02:
            req["country"] = f"C{rng.randrange(0, rules, len(SHAPES))}"
        out.append(req)
    return out


def per_request_us(fn, items: list) -> float:
    start = time.perf_counter()
    for item in items:
        fn(item)
    return (time.perf_counter() - start) / len(items) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from mlmon.hotfix import HotfixLayer, load_hotfixes

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hotfix.yaml"
        path.write_text(hotfix_file(args.rules))
        layer = HotfixLayer(path, model="fraud", model_version="v2")
        wrapped = layer.wrap(lambda request: {"label": "model"})
        drawn = requests(args.requests, args.rules)
        none = [{"country": "DE", "amount": 10.0, "merchant": "grocery", "user": {"tier": "gold"}, "flag": "no"}] \
            * args.requests
        matched = sum(layer.decide(r) is not None for r in drawn)
        results: dict[str, list[float]] = {"no match": [], "mixed": [], "wrapped": [], "compile": []}
        for _ in range(args.runs):
            results["no match"].append(per_request_us(layer.decide, none))
            results["mixed"].append(per_request_us(layer.decide, drawn))
            results["wrapped"].append(per_request_us(wrapped, drawn))
            start = time.perf_counter()
            load_hotfixes(path)
            results["compile"].append((time.perf_counter() - start) * 1e6)
    print(f"{args.rules} rules, {args.requests:,} requests ({matched / len(drawn):.1%} answered by a hot fix), "
          f"median of {args.runs} runs")
    print(f"{'case':<10} {'µs/request':>12}")
    for name, values in results.items():
        unit = "µs/file" if name == "compile" else ""
        print(f"{name:<10} {statistics.median(values):>12.2f} {unit}")


if __name__ == "__main__":
    main()
