"""HotfixLayer in serving: first matching rule answers, hot reload of real file changes, a broken file,
a failing fallback, logging (also to an unwritable place), and a light import."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from importcost import modules_loaded_by

from mlmon.errors import ConfigError
from mlmon.hotfix import HotfixLayer
from mlmon.logging import RequestLogger

RULES = """rules:
  - name: test-country
    when: input.country == "XX"
    respond: {label: stay, p: 0.0}
  - name: big
    when: input.amount > 1e6 and model == "fraud"
    fallback: tests_hotfix_fallbacks:score
  - name: off-rule
    when: input.amount > 0
    respond: never
    enabled: false
"""


def model(request: dict) -> dict:
    return {"label": "model", "p": 0.5}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def fallbacks(tmp_path, monkeypatch):
    """A module of fallbacks, importable as serving code would import its own."""
    (tmp_path / "tests_hotfix_fallbacks.py").write_text(
        "calls = []\n"
        "def score(request, *args, **kwargs):\n"
        "    calls.append((request, args, kwargs))\n"
        "    return {'label': 'rules', 'amount': request['amount']}\n"
        "def broken(request):\n"
        "    raise RuntimeError('scorer is down')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("tests_hotfix_fallbacks", None)


def write(path: Path, text: str, mtime: float) -> None:
    """Write ``text`` and give the file its own modification time, as a later edit has."""
    path.write_text(text)
    os.utime(path, (mtime, mtime))


@pytest.fixture
def setup(tmp_path):
    path = tmp_path / "hotfix.yaml"
    write(path, RULES, 1_000_000)
    clock = Clock()
    layer = HotfixLayer(path, model="fraud", clock=clock)
    return path, clock, layer, layer.wrap(model)


def test_the_first_matching_enabled_rule_answers_else_the_model(setup):
    _, _, layer, predict = setup
    assert predict({"country": "XX", "amount": 5e6}) == {"label": "stay", "p": 0.0}  # first rule wins
    assert predict({"country": "DE", "amount": "5e6"}) == {"label": "rules", "amount": "5e6"}
    assert predict({"country": "DE", "amount": 5}) == {"label": "model", "p": 0.5}  # 'off-rule' is disabled
    assert predict({}) == {"label": "model", "p": 0.5}  # unknown is false
    assert layer.decide({"country": "XX"}) == "test-country" and layer.decide({"country": "xx"}) is None
    assert layer.stats()["answered"] == 2


def test_a_fixed_answer_cannot_be_changed_by_the_handler(setup):
    _, _, _, predict = setup
    predict({"country": "XX"})["label"] = "changed"
    assert predict({"country": "XX"}) == {"label": "stay", "p": 0.0}


def test_a_fallback_gets_the_arguments_predict_gets(setup):
    _, _, layer, _ = setup
    import tests_hotfix_fallbacks as fb

    wrapped = layer.wrap(lambda request, threshold=0.5: "model")
    assert wrapped({"amount": 2e6}, threshold=0.9) == {"label": "rules", "amount": 2e6}
    assert fb.calls == [({"amount": 2e6}, (), {"threshold": 0.9})]
    assert wrapped.__wrapped__({"amount": 2e6}) == "model"


def test_the_file_is_reloaded_after_a_change_at_most_once_a_second(setup):
    path, clock, layer, predict = setup
    write(path, RULES.replace('"XX"', '"YY"'), 1_000_010)
    clock.now += 0.5
    assert predict({"country": "XX"})["label"] == "stay"  # not looked at yet
    clock.now += 0.6
    assert predict({"country": "XX"})["label"] == "model"
    assert predict({"country": "YY"})["label"] == "stay"
    assert layer.stats()["reloads"] == 1
    clock.now += 5  # unchanged file: no reload
    predict({})
    assert layer.stats()["reloads"] == 1


def test_switching_a_rule_on_without_a_deploy(setup):
    path, clock, layer, predict = setup
    assert predict({"amount": 3})["label"] == "model"
    write(path, RULES.replace("    enabled: false\n", ""), 1_000_010)
    clock.now += 1
    assert predict({"amount": 3}) == "never"
    assert [r.name for r in layer.rules] == ["test-country", "big", "off-rule"]


def test_a_broken_file_keeps_the_last_good_rules_and_is_logged_once(setup, caplog):
    path, clock, layer, predict = setup
    with caplog.at_level(logging.ERROR, logger="mlmon.hotfix"):
        write(path, RULES.replace('input.country == "XX"', "input.country =="), 1_000_010)
        for _ in range(3):
            clock.now += 1.5
            assert predict({"country": "XX"})["label"] == "stay"  # the last good rules answer
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "hotfix.yaml:3:27" in errors[0].getMessage() and "last good rules (2 enabled)" in errors[0].getMessage()
    assert "when does not parse" in layer.error
    write(path, RULES.replace('"XX"', '"ZZ"'), 1_000_020)  # fixed
    clock.now += 1.5
    assert predict({"country": "ZZ"})["label"] == "stay" and layer.error is None
    assert layer.stats()["reload_errors"] == 1


def test_a_fallback_that_cannot_be_imported_is_a_broken_file(setup, caplog):
    path, clock, layer, predict = setup
    write(path, RULES.replace("tests_hotfix_fallbacks:score", "no_such_module_here:score"), 1_000_010)
    clock.now += 1
    with caplog.at_level(logging.ERROR, logger="mlmon.hotfix"):
        assert predict({"amount": 2e6})["label"] == "rules"  # still the last good rules
    assert "cannot import 'no_such_module_here'" in layer.error


def test_bad_yaml_and_a_deleted_file(setup):
    path, clock, layer, predict = setup
    write(path, "rules: [\n", 1_000_010)
    clock.now += 1
    assert predict({"country": "XX"})["label"] == "stay"
    assert "not valid YAML" in layer.error
    path.unlink()
    clock.now += 1
    assert predict({"country": "XX"})["label"] == "model"  # no file: no hot fix
    write(path, RULES, 1_000_030)
    clock.now += 1
    assert predict({"country": "XX"})["label"] == "stay"


def test_a_failing_fallback_lets_the_model_answer_and_is_counted(tmp_path, caplog):
    path = tmp_path / "hotfix.yaml"
    path.write_text("rules:\n  - name: down\n    when: input.a == 1\n    fallback: tests_hotfix_fallbacks:broken\n")
    layer = HotfixLayer(path)
    with caplog.at_level(logging.ERROR, logger="mlmon.hotfix"):
        assert layer.wrap(model)({"a": 1}) == {"label": "model", "p": 0.5}
    assert layer.stats()["fallback_errors"] == 1 and layer.stats()["answered"] == 0
    assert "hot fix 'down': the fallback failed" in caplog.text and "scorer is down" in caplog.text


def test_at_start_up_a_broken_file_raises_and_a_missing_one_means_no_fix(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: x\n    when: input.a >\n    respond: 1\n")
    with pytest.raises(ConfigError, match="has 1 problem"):
        HotfixLayer(bad)
    layer = HotfixLayer(tmp_path / "later.yaml")
    assert layer.wrap(model)({"a": 1})["label"] == "model" and layer.rules == ()


def _records(directory: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(directory.glob("*.jsonl")) for line in f.read_text().splitlines()]


def test_every_hotfix_answer_is_logged_with_its_rule_name(tmp_path):
    path = tmp_path / "hotfix.yaml"
    path.write_text(RULES)
    logs = tmp_path / "logs"
    with RequestLogger(logs, model="fraud", model_version="v3", resources=False) as logger:
        predict = HotfixLayer(path, model="fraud", logger=logger).wrap(model)
        predict({"country": "XX"})
        predict({"country": "DE"})
        predict({"amount": 9e9})
        with logger.record({"country": "XX"}) as rec:  # the logger's own API, without the layer
            rec.response, rec.hotfix = {"label": "stay"}, "by-hand"
        logger.log({"x": 1}, {"y": 2}, hotfix="logged")
    rows = _records(logs)
    assert [r.get("hotfix") for r in rows] == ["test-country", None, "big", "by-hand", "logged"]
    assert "hotfix" not in rows[1]  # a model answer keeps the record shape it always had
    assert rows[0]["response"] == {"label": "stay", "p": 0.0} and rows[2]["response"]["label"] == "rules"


def test_an_unwritable_log_never_fails_a_request(tmp_path):
    path = tmp_path / "hotfix.yaml"
    path.write_text(RULES)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    logger = RequestLogger(blocker / "logs", resources=False, queue_size=10)
    predict = HotfixLayer(path, logger=logger).wrap(model)
    answers = [predict({"country": c}) for c in ("XX", "DE") * 20]
    assert answers[:2] == [{"label": "stay", "p": 0.0}, {"label": "model", "p": 0.5}]
    logger.close(timeout=0.2)
    assert logger.stats()["written"] == 0


def test_requests_during_reloads_see_the_old_rules_or_the_new_ones(tmp_path):
    path = tmp_path / "hotfix.yaml"
    write(path, RULES, 1_000_000)
    clock = Clock()
    layer = HotfixLayer(path, clock=clock)
    predict = layer.wrap(model)
    seen, errors, stop = set(), [], threading.Event()

    def serve():
        while not stop.is_set():
            try:
                seen.add(predict({"country": "XX"})["label"])
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=serve) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(20):
        write(path, RULES if i % 2 else RULES.replace("respond: {label: stay", "respond: {label: other"), 1_000_001 + i)
        clock.now += 1
        time.sleep(0.002)
    stop.set()
    for t in threads:
        t.join()
    assert not errors and seen <= {"stay", "other"} and layer.error is None


def test_importing_mlmon_hotfix_is_light(tmp_path):
    """No Polars, typer, rich or any other third-party module, and few standard-library ones."""
    loaded = modules_loaded_by("mlmon.hotfix", tmp_path)
    assert loaded["third_party"] == [], loaded
    stdlib = [m for m in loaded["new"] if not m.startswith("mlmon")]
    assert len(stdlib) <= 60, stdlib  # 36 on Python 3.11-3.13; asyncio or email alone would pass 60
    # and a layer at work (YAML parsed, rules compiled) still has not loaded them
    (tmp_path / "h.yaml").write_text(RULES.replace("tests_hotfix_fallbacks", "json").replace(":score", ":dumps"))
    code = ("import sys; from mlmon.hotfix import HotfixLayer; p = HotfixLayer('h.yaml').wrap(lambda r: r); "
            "p({'country': 'XX'}); print(sorted(m for m in ('polars', 'typer', 'rich') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=tmp_path).stdout
    assert out.strip() == "[]"


def test_the_readme_example_runs_and_logs_the_rule_name(tmp_path, monkeypatch):
    import re

    from conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = re.search(r"<!-- hotfix-example: layer -->\n```python\n(.*?)```", readme, re.DOTALL).group(1)
    (tmp_path / "hotfix.example.yaml").write_text((ROOT / "hotfix.example.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    printed = []
    namespace = {"print": printed.append}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102  (the README's own example)
    namespace["logger"].close()
    assert printed == [{"churn_probability": 0.05, "label": "stay"}, {"churn_probability": 0.9, "label": "churn"}]
    assert [r.get("hotfix") for r in _records(tmp_path / "logs")] == ["premium-on-v2", None]
