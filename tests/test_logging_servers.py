"""The middleware in real apps under real servers: FastAPI under uvicorn, Flask under waitress,
driven by real HTTP requests on 127.0.0.1."""

import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from mlmon.logging import ASGIMiddleware, RequestLogger, WSGIMiddleware, log_flask_errors

fastapi = pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
flask = pytest.importorskip("flask")
waitress = pytest.importorskip("waitress")


def records(directory):
    out = []
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), encoding="utf-8") as handle:
            out += [json.loads(line) for line in handle]
    return out


def call(base, path, body=None, *, content_type="application/json", headers=None, method=None):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method or ("POST" if data is not None else "GET"),
                                     headers={**({"Content-Type": content_type} if data is not None else {}),
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def by_endpoint(rows):
    out = {}
    for row in rows:
        out.setdefault(row["endpoint"], []).append(row)
    return out


# --- the apps: the same handlers in FastAPI and in Flask, with no logging code in them --------------

def fastapi_app(logger):
    from fastapi import FastAPI, Request
    from fastapi.responses import PlainTextResponse, StreamingResponse

    app = FastAPI()

    @app.post("/predict")
    async def predict(request: Request):
        payload = await request.json()
        return {"label": "churn" if payload["age"] > 40 else "stay", "p": 0.25}

    @app.post("/fail")
    async def fail(request: Request):
        await request.body()
        raise ValueError("model exploded")

    @app.get("/stream")
    async def stream():
        async def chunks():
            for i in range(3):
                yield json.dumps({"chunk": i}) + "\n"
        return StreamingResponse(chunks(), media_type="application/json")

    @app.post("/text")
    async def text(request: Request):
        return PlainTextResponse("got " + (await request.body()).decode())

    app.add_middleware(ASGIMiddleware, logger=logger, max_body_bytes=1024)
    return app


def flask_app(logger):
    from flask import Flask, Response, request

    app = Flask(__name__)

    @app.post("/predict")
    def predict():
        return {"label": "churn" if request.get_json()["age"] > 40 else "stay", "p": 0.25}

    @app.post("/fail")
    def fail():
        request.get_data()
        raise ValueError("model exploded")

    @app.get("/stream")
    def stream():
        return Response((json.dumps({"chunk": i}) + "\n" for i in range(3)), mimetype="application/json")

    @app.post("/text")
    def text():
        return Response("got " + request.get_data(as_text=True), mimetype="text/plain")

    app.wsgi_app = WSGIMiddleware(app.wsgi_app, logger, max_body_bytes=1024)
    log_flask_errors(app)
    return app


# --- the servers ---------------------------------------------------------------------------------

def serve_uvicorn(app):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.01)

    def stop():
        server.should_exit = True
        thread.join(10)
        assert not thread.is_alive()

    return f"http://127.0.0.1:{sock.getsockname()[1]}", stop


def serve_waitress(app):
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    def stop():
        server.trigger.pull_trigger(server.close)  # closed by the loop's own thread, so its select never sees a closed fd
        thread.join(10)
        assert not thread.is_alive()
        server.task_dispatcher.shutdown()

    return f"http://127.0.0.1:{server.effective_port}", stop


SERVED = {"fastapi+uvicorn": (fastapi_app, serve_uvicorn), "flask+waitress": (flask_app, serve_waitress)}


@pytest.mark.parametrize("stack", SERVED)
def test_the_middleware_logs_real_requests_with_no_code_in_the_handlers(tmp_path, stack):
    make_app, serve = SERVED[stack]
    logger = RequestLogger(tmp_path, model="churn", model_version="v3")
    base, stop = serve(make_app(logger))
    try:
        assert call(base, "/predict", {"age": 44, "country": "DE"}, headers={"X-Request-ID": "abc-1"})[0] == 200
        assert call(base, "/predict", {"age": 30, "request_id": "from-body"})[0] == 200
        assert call(base, "/predict", {"age": 30, "headers": {"Authorization": "Bearer s3cr3t"}})[0] == 200
        assert call(base, "/predict", {"age": 50, "pad": "x" * 2000})[0] == 200  # over max_body_bytes
        assert call(base, "/fail", {"age": 1})[0] == 500
        status, body = call(base, "/stream")
        assert status == 200 and body.count(b"\n") == 3  # passed through untouched
        assert call(base, "/text", b"hello", content_type="text/plain") == (200, b"got hello")
        assert call(base, "/predict", b"{not json", content_type="application/json")[0] >= 400
    finally:
        stop()
        logger.close()
    rows = records(tmp_path)
    assert len(rows) == 8 and logger.stats()["written"] == 8
    endpoints = by_endpoint(rows)
    predict = endpoints["/predict"]  # in the order the records were queued, which the server's threads decide
    (first,) = [r for r in predict if r["request_id"] == "abc-1"]
    (from_body,) = [r for r in predict if r["request_id"] == "from-body"]
    (secret,) = [r for r in predict if "headers" in (r["request"] or {})]
    (big,) = [r for r in predict if r["request_bytes"] > 2000]
    (bad,) = [r for r in predict if r["status"] >= 400]
    assert first["request_id"] == "abc-1" and first["model"] == "churn" and first["model_version"] == "v3"
    assert first["request"] == {"age": 44, "country": "DE"} and first["response"] == {"label": "churn", "p": 0.25}
    assert first["status"] == 200 and first["error"] is None and first["latency_ms"] > 0
    assert from_body["request_id"] == "from-body"
    assert secret["request"]["headers"]["Authorization"] == "[REDACTED]"
    assert big["request"] is None and big["request_bytes"] > 2000 and big["response"] == {"label": "churn", "p": 0.25}
    assert bad["request"] is None and bad["status"] >= 400
    (fail,) = endpoints["/fail"]
    assert fail["status"] == 500 and fail["error"] == "ValueError: model exploded" and fail["request"] == {"age": 1}
    (stream,) = endpoints["/stream"]
    assert stream["status"] == 200 and stream["response"] is None and stream["response_bytes"] == len(body)
    (text,) = endpoints["/text"]
    assert text["request"] is None and text["response"] is None and text["request_bytes"] == 5
    assert all(row["memory_mb"] is None or row["memory_mb"] > 1 for row in rows)


# --- a hot-fix layer inside a handler, under the middleware ------------------------------------------

HOTFIX_YAML = "rules:\n  - name: test-country\n    when: input.country == \"XX\"\n    respond: {label: stay, p: 0}\n"


def hotfixed_apps(logger, layer):
    """The same hot-fixed predict as an async and a sync FastAPI endpoint (a worker thread) and a Flask view."""
    from fastapi import FastAPI, Request
    from flask import Flask, jsonify, request as flask_request

    predict = layer.wrap(lambda payload: {"label": "churn", "p": 0.9})
    fast = FastAPI()

    @fast.post("/async")
    async def async_predict(request: Request):
        return predict(await request.json())

    @fast.post("/sync")
    def sync_predict(payload: dict):
        return predict(payload)

    fast.add_middleware(ASGIMiddleware, logger=logger)
    flask_app = Flask("hotfixed")

    @flask_app.post("/flask")
    def flask_predict():
        return jsonify(predict(flask_request.get_json()))

    flask_app.wsgi_app = WSGIMiddleware(flask_app.wsgi_app, logger)
    return fast, flask_app


def test_the_middleware_logs_which_hot_fix_answered(tmp_path):
    from mlmon.hotfix import HotfixLayer

    (tmp_path / "hotfix.yaml").write_text(HOTFIX_YAML)
    logs = tmp_path / "logs"
    logger = RequestLogger(logs, model="churn", model_version="v2")
    fast, flask_app = hotfixed_apps(logger, HotfixLayer(tmp_path / "hotfix.yaml"))
    base, stop = serve_uvicorn(fast)
    flask_base, flask_stop = serve_waitress(flask_app)
    try:
        for url in (base + "/async", base + "/sync", flask_base + "/flask"):
            status, body = call(url, "", {"country": "XX"})
            assert status == 200 and json.loads(body) == {"label": "stay", "p": 0}
            assert call(url, "", {"country": "DE"})[0] == 200
    finally:
        stop()
        flask_stop()
        logger.close()
    answered = {(r["endpoint"], r["request"]["country"]): r.get("hotfix") for r in records(logs)}
    assert answered == {(path, country): ("test-country" if country == "XX" else None)
                        for path in ("/async", "/sync", "/flask") for country in ("XX", "DE")}
