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
    out = {}
    for series in _leaves(frame, ()):
        path = tuple(series.name.split("\x00"))
        name = prefix + ".".join(path)
        if series.dtype.base_type() in (pl.List, pl.Array):
            # A list is its compact JSON text (README "Log records"), from the line as Python reads it.
            out[name] = (pl.String, [_list_text(json.loads(t), path) for t in objects])
        else:
            out[name] = (series.dtype, series.to_list())
    return out


def _list_text(value, path: tuple[str, ...]) -> str | None:
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return None if value is None else json.dumps(value, separators=(",", ":"))


def _leaves(frame: pl.DataFrame, path: tuple[str, ...]) -> list[pl.Series]:
    """Every leaf column of Polars' own inference, named by its keys joined with NUL.
    Written here, not borrowed from mlmon, so that a change to mlmon's naming fails this oracle."""
    out = []
    for series in frame.get_columns():
        if series.dtype == pl.Struct:
            out.extend(_leaves(series.struct.unnest(), (*path, series.name)))
        else:
            out.append(series.alias("\x00".join((*path, series.name))))
    return out


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
    "lists are their JSON text": [{"l": [1, 2], "a": 1}] * 4 + [{"l": [], "a": 2}],
    "a late list, nested": [{"u": {"a": 1}}] * 4 + [{"u": {"a": 2, "l": ["x", {"k": [True, None]}]}}],
    "explicit nulls and a late key": [{"a": 1, "b": None}] * 5 + [{"a": None, "c": 2}],
    "late keys inside list items": [{"items": [{"sku": "a"}]}] * 5 + [{"items": [{"sku": "b", "qty": 2}]}],
    "big integers": [{"n": 2**40}] * 4 + [{"n": 2**53 + 1}],
    "nested big integers": [{"u": {"id": 2**40}}] * 4 + [{"u": {"id": 2**53 + 1}}],
    "a late key named like a nested one": [{"u": {"age": 1}}] * 4 + [{"u": {"age": 2}, "age": 5}],
    "a late nested key named like a top one": [{"a": 1, "u": {"b": 1}}] * 4 + [{"a": 1, "u": {"b": 1, "a": 2}}],
    "a late key with an escaped quote": [{"b": 1}] * 4 + [{'a"b': 2}],
    "null in the sample, numbers later": [{"a": None}] * 4 + [{"a": 1}],
    "null in the sample, text later": [{"a": None}] * 4 + [{"a": "x"}],
    "null in the sample, booleans later": [{"a": None}] * 4 + [{"a": True}],
    "nested null in the sample, numbers later": [{"u": {"x": None}}] * 4 + [{"u": {"x": 3}}],
    "null object in the sample": [{"u": None}] * 4 + [{"u": {"x": 1}}],
    "colons in values": [{"a": "x:y"}] * 4 + [{"a": "p", "z": 1}],
    "space before a colon": [{"a": 1}] * 4 + ['{"a": 1, "late" : 2}'],
    "non-ASCII keys": [{"é": 1}] * 4 + [{"é": 2, "ü": 3}],
    "text then a boolean": [{"s": "a"}] * 4 + [{"s": True}],
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


@pytest.mark.parametrize("objs,name,expected", [
    ([{"x": i} for i in range(5)] + [{"x": True}], "input.x", ["0", "1", "2", "3", "4", "true"]),
    ([{"x": True}] * 5 + [{"x": 1.5}], "input.x", ["true"] * 5 + ["1.5"]),
    ([{"x": True}] * 5 + [{"x": 1}], "input.x", ["true"] * 5 + ["1"]),
    ([{"u": {"x": 1}}] * 5 + [{"u": {"x": True}}], "input.u.x", ["1"] * 5 + ["true"]),
    ([{"u": {"b": False}}] * 5 + [{"u": {"b": 0}}], "input.u.b", ["false"] * 5 + ["0"]),
], ids=["a boolean where numbers were", "a fraction where booleans were", "an integer where booleans were",
        "a nested boolean where numbers were", "a nested number where booleans were"])
def test_booleans_mixed_with_numbers_are_text(objs, name, expected):
    # Polars' own inference raises here; the field is text, and its odd values are type violations.
    assert decoded(rows(objs)) == {name: (pl.String, expected)}


def test_where_the_result_differs_from_inference_on_purpose():
    # An integer field stays integer while every value is whole, even written 2.0.
    assert decoded(rows([{"x": 1}] * 5 + [{"x": 2.0}])) == {"input.x": (pl.Int64, [1] * 5 + [2])}
    # Numbers written as text among numbers are numbers (inference makes the field text; the
    # drift metrics, which cast text to numbers, come out the same either way).
    assert decoded(rows([{"x": 1.5}] * 5 + [{"x": "12"}])) == {"input.x": (pl.Float64, [1.5] * 5 + [12.0])}
    # Integers past 64 bits are approximated by floats, not lost (inference gives Int128).
    assert decoded(rows([{"n": 1}] * 5 + [{"n": 2**64}])) == {"input.n": (pl.Float64, [1.0] * 5 + [2.0**64])}


@pytest.mark.parametrize("objs", [
    [{"l": [1]}] * 5 + [{"l": {"a": 1}}],
    [{"l": {"a": 1}}] * 5 + [{"l": [1]}],
    [{"u": {"v": 1}}] * 5 + [{"u": {"v": {"w": 1}}}],
], ids=["an object where lists were", "a list where objects were", "a nested object where numbers were"])
def test_shapes_that_inference_cannot_merge_are_read_as_json_text(objs):
    (name, (dtype, values)), = decoded(rows(objs)).items()
    assert dtype == pl.String
    assert [json.loads(v) for v in values] == [o[name.split(".")[1]] for o in objs]


def test_all_empty_objects_give_no_columns():
    assert decoded(rows([{}, None, {}])) == {}


def test_control_characters_in_strings_as_the_reader_hands_them_over(tmp_path):
    # Polars writes them raw in an object read as text, which is not valid JSON; mlmon's
    # reader escapes them again, and every one must decode to the logged string, in any row.
    values = [f"a{chr(code)}b" for code in range(0x20)]
    lines = [json.dumps({"ts": i, "request": {"c": v, "n": i}}) for i, v in enumerate(values)]
    path = tmp_path / "ctl.jsonl"
    path.write_text("\n".join([json.dumps({"ts": 0, "request": {"c": "plain", "n": -1}})] * 5 + lines) + "\n")
    from mlmon.logs.reader import read_logs

    texts = read_logs([str(path)], fields=["ts", "request"]).records.get_column("request")
    got = {s.name: s.to_list() for s in decode_objects(texts, "input.")}
    assert got["input.c"] == ["plain"] * 5 + values
    assert got["input.n"] == [-1] * 5 + list(range(0x20))
