"""A candidate model written by demo/retrain.py, served in-process to ``mlmon replay --model``:

    DEMO_CANDIDATE=candidate.json mlmon replay sample_logs/churn.jsonl.gz --model demo/candidate.py:predict ...

The model file is ``$DEMO_CANDIDATE``, else ``candidate.json`` in the current directory. Plain Python:
no scikit-learn at serving time. A request missing a feature is refused, as the logged service refused it.
"""

from __future__ import annotations

import json
import math
import os
from functools import cache


@cache
def _model() -> dict:
    with open(os.environ.get("DEMO_CANDIDATE", "candidate.json"), encoding="utf-8") as handle:
        return json.load(handle)


def score(features: dict) -> float:
    """The probability of the positive class."""
    model = _model()
    x = []
    for name in model["numeric"]:
        value = features.get(name.removeprefix("input."))
        if value is None:
            raise ValueError(f"missing feature {name.removeprefix('input.')!r}")
        x.append(float(value))
    for name, values in model["categories"].items():
        value = features.get(name.removeprefix("input."))
        if value is None:
            raise ValueError(f"missing feature {name.removeprefix('input.')!r}")
        x += [1.0 if value == v else 0.0 for v in values[1:]]
    z = model["intercept"] + sum(c * (v - m) / s for c, v, m, s in zip(model["coef"], x, model["mean"], model["std"]))
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def predict(features: dict) -> dict:
    model = _model()
    p = round(score(features), 4)
    return {model["score_field"]: p, "label": model["positive"] if p >= 0.5 else model["negative"]}
