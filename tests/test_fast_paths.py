"""Two shortcuts of the preset path give what the long way gives, line for line and record for record.

- ``_objects_at_once``: lines the well-formed-object expression cannot clear (nested past its depth, as
  LiteLLM's payloads are) are checked by one strict JSON-lines parse of them all, not one parse each.
  Compared here with the line-by-line checks alone, on a mix of good deep lines and every kind of bad one.
- ``Assembler(bodies=False)``: a reader that reads no request or response only counts each batch's rows.
  Compared with the full explode, and with a plain-Python count of the batches.
"""

import json
from pathlib import Path

import pytest

from mlmon.logs import decode
from mlmon.logs.mapping import DEFAULT_MAPPING
from mlmon.logs.pairs import element_counts, element_texts
from mlmon.logs.presets import load_preset
from mlmon.logs.reader import read_logs

FIELDS = ["ts", "request_id", "status", "latency_ms", "error"]


def deep(i: int, depth: int) -> dict:
    inner: dict = {"leaf": i}
    for d in range(depth):
        inner = {f"k{d}": [inner, {"n": d}]}
    return {"ts": f"2026-11-27T10:{i // 60 % 60:02d}:{i % 60:02d}Z", "request_id": f"r{i}", "status": 200,
            "latency_ms": 1.5 + i, "request": inner}


BAD = ['{"a":NaN}', '{"a":"\\x41"}', '{"ts":"2026-11-27T10:00:00Z","a":"\\ud800"}', '{"a":01}', '{"a":1,}',
       "{'a':1}", '{"a":1}{"b":2}', '[1,2]', '"text"', 'null', '{"a":"tab\there"}', '{"a":[1,2,]}', '{"a":nul}',
       '{"a":1 "b":2}', '   ', '']


def lines(n: int = 1600) -> list[str]:
    out = []
    for i in range(n):
        out.append(json.dumps(deep(i, 3 + i % 9)))  # nested past the expression's depth: "looked at closer"
        if i % 97 == 0:
            out.append(BAD[(i // 97) % len(BAD)])
        if i % 61 == 0:
            out.append(json.dumps(deep(i, 140)))  # past json_path_match's depth: "nested too deep"
    return out


@pytest.mark.parametrize("chunk_bytes", [1 << 20, 4096])
def test_clearing_lines_at_once_changes_no_verdict(tmp_path, monkeypatch, chunk_bytes):
    path = tmp_path / "deep.jsonl"
    path.write_text("\n".join(lines()) + "\n", encoding="utf-8")

    def read():
        data = read_logs([str(path)], DEFAULT_MAPPING, fields=FIELDS, chunk_bytes=chunk_bytes)
        return data.records.to_dicts(), sorted(data.rejects.select("line", "reason").rows())

    cleared = []
    real = decode._objects_at_once

    def counting(*args):
        found = real(*args)
        cleared.append(0 if found is None else found.len())
        return found

    monkeypatch.setattr(decode, "_objects_at_once", counting)
    fast = read()
    monkeypatch.setattr(decode, "_objects_at_once", lambda *a: None)
    slow = read()
    assert sum(cleared) > 1000 and fast == slow  # most good lines were cleared at once, with bad ones among them
    records, rejects = fast
    assert len(records) >= 1600 and {r for _, r in rejects} >= {"malformed JSON", "not a JSON object"}


def test_element_counts_are_the_lengths_of_the_rows_element_texts_makes():
    import polars as pl

    values = ["[[1.0, 2.0], [3.0, 4.0]]", "[]", None, '{"a": 1}', "5", '"text"', '[{"x": 1}, {"y": "s"}]',
              '[1, "a", null, {"b": [1]}]', "[[1, [2, 3]], [4]]", "not json"]
    counts = element_counts(pl.Series(values, dtype=pl.String)).to_list()
    python = [len(v) if isinstance(v, list) else None
              for v in (json.loads(t) if t not in (None, "not json") else None for t in values)]
    assert counts == python
    arrays = [v for v, c in zip(values, python) if c is not None]
    assert element_counts(pl.Series(arrays)).to_list() == element_texts(pl.Series(arrays), True).list.len().to_list()


@pytest.mark.parametrize("name, root", [("kserve", "kserve"), ("azureml", "azureml/blob"),
                                        ("sagemaker", "sagemaker/capture"), ("seldon", "seldon")])
def test_counting_rows_gives_the_records_exploding_them_gives(name, root):
    fixtures = Path(__file__).parent / "fixtures" / "presets" / root
    preset = load_preset(name)
    counted = read_logs([str(fixtures)], preset, fields=FIELDS).records
    exploded = read_logs([str(fixtures)], preset, fields=[*FIELDS, "request", "response"]).records.select(FIELDS)
    assert counted.to_dicts() == exploded.to_dicts() and counted.height > 0


def test_exploded_object_rows_keep_their_own_keys_and_text():
    """Smaller: rows that are objects were decoded with one schema for all and encoded back, so a key one
    row lacked came out as null in it. They are now taken as written (and an object holding a backslash,
    whose text the parser does not always give exactly, still the long way)."""
    import polars as pl

    rows = ['[{"a": 1, "b": "x"}, {"a": 2}]', None, '[{"c": {"d": [1, 2]}}]']
    texts = element_texts(pl.Series(rows), True).to_list()
    assert [[json.loads(t) for t in row] if row is not None else None for row in texts] == \
        [json.loads(r) if r is not None else None for r in rows]
    escaped = ['[{"p": "c:\\\\dir", "q": "x\\"y"}]']
    [[text]] = element_texts(pl.Series(escaped), True).to_list()
    assert json.loads(text) == {"p": "c:\\dir", "q": 'x"y'}
