"""Train a candidate model from an ``mlmon export`` (Parquet or CSV): a small, seeded logistic regression.

    mlmon export sample_logs/churn.jsonl.gz --labels sample_logs/labels.csv -o train.parquet
    python demo/retrain.py train.parquet -o candidate.json
    DEMO_CANDIDATE=candidate.json mlmon replay ... --model demo/candidate.py:predict

The features are the export's ``input.*`` columns: numbers as they are (standardized), and text with
at most 20 distinct values one-hot encoded (ids and other text are left out). The rows are those with
a label and every feature present. The positive class is ``--positive`` (default: the rarer label).
The model is written as JSON (no pickle): :mod:`demo.candidate` scores a request with it in plain
Python, answering ``{SCORE: p, "label": class}`` as the logged model did. scikit-learn is a test and
demo dependency only: mlmon itself never imports it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression

MAX_CATEGORIES = 20
SEED = 0


def read_export(path: Path) -> pl.DataFrame:
    return pl.read_parquet(path) if path.suffix.lower() == ".parquet" else pl.read_csv(path, infer_schema_length=None)


def features_of(frame: pl.DataFrame) -> tuple[list[str], dict[str, list[str]]]:
    """The numeric input columns, and the text ones with few values (each with its categories, sorted)."""
    numeric, categories = [], {}
    for name, dtype in frame.schema.items():
        if not name.startswith("input."):
            continue
        if dtype.is_numeric() or dtype == pl.Boolean:
            numeric.append(name)
        elif dtype == pl.String:
            values = frame.get_column(name).drop_nulls().unique().sort().to_list()
            if 1 < len(values) <= MAX_CATEGORIES:
                categories[name] = values
    return numeric, categories


def design(frame: pl.DataFrame, numeric: list[str], categories: dict[str, list[str]]) -> np.ndarray:
    columns = [frame.get_column(n).cast(pl.Float64).to_numpy() for n in numeric]
    for name, values in categories.items():
        column = frame.get_column(name)
        columns += [(column == value).cast(pl.Float64).to_numpy() for value in values[1:]]  # the first is the base
    return np.column_stack(columns)


def train(frame: pl.DataFrame, positive: str | None = None, score_field: str | None = None) -> dict:
    """The candidate as a JSON-ready dict: features, their scaling, coefficients, classes and answer fields."""
    if "label" not in frame.columns:
        raise SystemExit("retrain.py: the export has no label column: export with --labels FILE")
    numeric, categories = features_of(frame)
    rows = frame.filter(pl.col("label").is_not_null()).drop_nulls([*numeric, *categories])
    if not rows.height:
        raise SystemExit("retrain.py: no labelled row with every feature present")
    labels = rows.get_column("label").cast(pl.String)
    classes = labels.value_counts().sort(["count", "label"]).get_column("label").to_list()
    if len(classes) != 2:
        raise SystemExit(f"retrain.py: a binary label is needed, the export has {len(classes)} classes")
    positive = positive or classes[0]
    negative = next(c for c in classes if c != positive)
    x = design(rows, numeric, categories)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    y = (labels == positive).to_numpy()
    model = LogisticRegression(C=1.0, max_iter=1000, random_state=SEED).fit((x - mean) / std, y)
    if score_field is None:
        scores = [n for n, t in frame.schema.items() if n.startswith("output.") and t.is_float()]
        score_field = scores[0].removeprefix("output.") if scores else "score"
    return {
        "numeric": numeric, "categories": categories, "mean": mean.tolist(), "std": std.tolist(),
        "coef": model.coef_[0].tolist(), "intercept": float(model.intercept_[0]),
        "positive": positive, "negative": negative, "score_field": score_field, "rows": rows.height,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path, help="an mlmon export with labels (.parquet or .csv)")
    parser.add_argument("-o", "--output", type=Path, default=Path("candidate.json"), help="the model file to write")
    parser.add_argument("--positive", help="the positive class (default: the rarer label)")
    parser.add_argument("--score-field", help="the answer's score field (default: the export's first float output)")
    args = parser.parse_args(argv)
    model = train(read_export(args.export), args.positive, args.score_field)
    args.output.write_text(json.dumps(model, indent=1) + "\n")
    print(f"retrain.py: trained on {model['rows']:,} rows; wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
