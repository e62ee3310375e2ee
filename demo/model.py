"""Demo models that match sample_logs/: call them in-process or serve them over HTTP.

    mlmon replay sample_logs/churn.jsonl.gz --where 'model_version == "v2"' --model demo/model.py:churn_v2
    mlmon replay sample_logs/churn.jsonl.gz --where 'model_version == "v1"' --model demo/model.py:churn_v1
    python demo/model.py --port 8000 --model churn_candidate                    # an HTTP server on 127.0.0.1

The scores are the generator's own formulas (sample_logs/generate.py), so a replay of
the logs against the version that produced them matches exactly: every request that was
answered when logged matches, and those that failed then are failed_before (the requests
with a missing feature fail again). ``churn_candidate`` is a deliberately changed model
(it rounds probabilities to two decimals and labels churn from 0.4 up), to show what
mismatches look like.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_spec = importlib.util.spec_from_file_location("mlmon_sample_generate", Path(__file__).resolve().parent.parent / "sample_logs" / "generate.py")
_generate = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
sys.modules.setdefault("mlmon_sample_generate", _generate)
_spec.loader.exec_module(_generate)  # type: ignore[union-attr]


def churn_v1(features: dict) -> dict:
    return _generate.predict("churn", "v1", features)


def churn_v2(features: dict) -> dict:
    return _generate.predict("churn", "v2", features)


def fraud_v1(features: dict) -> dict:
    return _generate.predict("fraud", "v1", features)


def churn_candidate(features: dict) -> dict:
    p = round(_generate.churn_score_v2(features), 2)
    return {"churn_probability": p, "label": "churn" if p >= 0.4 else "stay"}


async def churn_v2_async(features: dict) -> dict:
    return churn_v2(features)


MODELS = {"churn_v1": churn_v1, "churn_v2": churn_v2, "fraud_v1": fraud_v1, "churn_candidate": churn_candidate}


def serve(port: int, model_name: str, host: str = "127.0.0.1") -> None:
    model = MODELS[model_name]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive
        disable_nagle_algorithm = True  # headers and body go out at once, no delayed-ACK stall

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                answer, status = model(json.loads(body)), 200
            except Exception as exc:  # a bad request is the client's error, shown as JSON
                answer, status = {"error": f"{type(exc).__name__}: {exc}"}, 400
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    ThreadingHTTPServer((host, port), Handler).serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--model", choices=sorted(MODELS), default="churn_v2")
    args = parser.parse_args()
    serve(args.port, args.model)
