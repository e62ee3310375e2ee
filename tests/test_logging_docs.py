"""The README's examples of mlmon.logging run as written: the logger, and the middleware in apps
served by real servers."""

import json
import os
import re
import time
import urllib.request

import pytest
from conftest import ROOT
from test_logging_servers import serve_uvicorn, serve_waitress

README = (ROOT / "README.md").read_text(encoding="utf-8")


def example(name: str) -> str:
    match = re.search(rf"<!-- logging-example: {name} -->\n```python\n(.*?)```", README, re.S)
    assert match, name
    return match.group(1)


def wait_for_records(directory, count):
    deadline = time.monotonic() + 10
    while True:
        rows = [json.loads(line) for path in sorted(directory.glob("*.jsonl")) for line in path.read_text().splitlines()]
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.02)


def test_the_logger_example(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(example("logger"), "README.md", "exec"), namespace)  # noqa: S102
    namespace["logger"].close()
    (row,) = wait_for_records(tmp_path / "logs", 1)
    assert row["model"] == "churn" and row["request"] == {"age": 44, "country": "DE"}
    assert row["response"] == {"label": "churn"} and row["status"] == 200
    assert list((tmp_path / "logs").glob(f"churn-*-{os.getpid()}.jsonl"))


@pytest.mark.parametrize(("name", "serve"), [("asgi", serve_uvicorn), ("wsgi", serve_waitress)])
def test_the_middleware_examples(tmp_path, monkeypatch, name, serve):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme_example"}
    exec(compile(example(name), "README.md", "exec"), namespace)  # noqa: S102
    base, stop = serve(namespace["app"])
    try:
        request = urllib.request.Request(base + "/predict", data=b'{"age": 30}',
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read()) == {"label": "stay"}
    finally:
        stop()
    (row,) = wait_for_records(tmp_path / "logs", 1)
    assert row["endpoint"] == "/predict" and row["request"] == {"age": 30} and row["response"] == {"label": "stay"}
