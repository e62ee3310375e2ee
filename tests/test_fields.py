"""Request/response objects to typed columns: the sampled schema must equal inference over every row.

The oracle is Polars' own schema inference over every record (``infer_schema_length=None``),
which is slow but misses nothing; the tests shrink the sample so that keys and types
first seen late fall outside it.
"""

import json

import polars as pl
import pytest

from mlmon.logs import fields
from mlmon.logs.fields import decode_objects


def oracle(texts: list[str | None], prefix: str = "input.") -> dict[str, list]:
    objects = [t if t is not None and t.startswith("{") else "{}" for t in texts]
    frame = pl.read_ndjson("\n".join(objects).encode(), infer_schema_length=None)
    return {s.name: (s.dtype, s.to_list()) for s in fields._flatten(frame, prefix)}


def decoded(texts: list[str | None], prefix: str = "input.") -> dict[str, list]:
    return {s.name: (s.dtype, s.to_list()) for s in decode_objects(pl.Series(texts, dtype=pl.String), prefix)}


def rows(objs) -> list[str | None]:
    return [json.dumps(o) if isinstance(o, dict) else o for o in objs]


@pytest.fixture(autouse=True)
def small_sample(monkeypatch):
    monkeypatch.setattr(fields, "SAMPLE_ROWS", 3)


CASES = {
    "late key": [{"a": 1}] * 5 + [{"a": 2, "late": "x"}],
    "late nested key": [{"u": {"age": 1}}] * 5 + [{"u": {"age": 2, "city": "Oslo"}}],
    "late object": [{"a": 1}] * 5 + [{"a": 1, "u": {"age": 3}}],
    "ints then a float": [{"x": i} for i in range(5)] + [{"x": 2.5}],
    "numbers then text": [{"x": i} for i in range(5)] + [{"x": "n/a"}],
    "text then numbers": [{"x": "a"}] * 5 + [{"x": 3}],
    "bools": [{"b": True}, {"b": False}, {"b": None}, {"b": True}, {}, {"b": False}],
    "nulls and non-objects": [{"a": 1}, None, "[1, 2]", {"a": None}, "oops", {"a": 3.5}],
    "floats": [{"p": 0.1}, {"p": 1e-7}, {"p": 123456.789}, {"p": -0.0}, {"p": 3}],
    "escaped key": [{"a": 1}] * 4 + [{'we"ird': 1, "a": 2}],
    "key-like text in a value": [{"a": 'x "b": y'}] * 5 + [{"a": "z"}],
    "lists are skipped": [{"l": [1, 2], "a": 1}] * 4 + [{"l": [], "a": 2}],
    "explicit nulls and a late key": [{"a": 1, "b": None}] * 5 + [{"a": None, "c": 2}],
    "late keys inside list items": [{"items": [{"sku": "a"}]}] * 5 + [{"items": [{"sku": "b", "qty": 2}]}],
    "big integers": [{"n": 2**40}] * 4 + [{"n": 2**53 + 1}],
}


@pytest.mark.parametrize("name", CASES)
def test_sampled_schema_equals_inference_over_every_row(name):
    texts = rows(CASES[name])
    assert decoded(texts) == oracle(texts)


def test_many_rows_with_unknown_keys():
    texts = rows([{"a": 1}] * 5 + [{"a": 1, f"k{i}": i} for i in range(50)])
    assert decoded(texts) == oracle(texts)


@pytest.mark.parametrize("objs", [
    [{"x": 1, "a": "p"}] * 5 + [{"x": {"deep": 1}, "a": "q"}],  # an object where numbers were
    [{"x": {"deep": 1}, "a": "p"}] * 5 + [{"x": 7, "a": "q"}],  # a number where objects were
    [{"x": 1, "a": "p"}, {"x": {"deep": 1}, "a": "q"}] * 3,  # both in the sample (inference itself fails)
], ids=["object late", "scalar late", "mixed in sample"])
def test_a_field_of_varying_shape_is_read_as_text(objs):
    # Polars' own inference raises here; mlmon reads the field as text, and the rest as usual.
    got = decoded(rows(objs))
    assert got["input.a"] == (pl.String, [o["a"] for o in objs])
    dtype, values = got["input.x"]
    assert dtype == pl.String
    assert [json.loads(v) for v in values] == [o["x"] for o in objs]


@pytest.mark.parametrize("objs,expected", [
    ([{"x": i} for i in range(5)] + [{"x": True}], ["0", "1", "2", "3", "4", "true"]),
    ([{"x": True}] * 5 + [{"x": 1.5}], ["true"] * 5 + ["1.5"]),
], ids=["a boolean where numbers were", "a number where booleans were"])
def test_booleans_mixed_with_numbers_are_text(objs, expected):
    # Polars' own inference raises here; the field is text, and its odd values are type violations.
    assert decoded(rows(objs)) == {"input.x": (pl.String, expected)}


def test_all_empty_objects_give_no_columns():
    assert decoded(rows([{}, None, {}])) == {}
