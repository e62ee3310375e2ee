"""A store in object storage: the same commands against a moto S3 server on 127.0.0.1, started here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from conftest import SAMPLE_LOGS, record, write_jsonl

MLMON = str(Path(sys.executable).parent / "mlmon")
SAMPLES = [str(SAMPLE_LOGS / "churn.jsonl.gz"), str(SAMPLE_LOGS / "fraud.jsonl.gz")]
BUCKET = "mlmon-test"


@pytest.fixture(scope="module")
def s3():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ALLOW_HTTP": "true"}
    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket=BUCKET)
    yield env, client
    server.stop()


def run(env, *args):
    full = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run([MLMON, *map(str, args)], capture_output=True, text=True, timeout=300, env={**full, **env})


def keys(client, prefix):
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def _facts_removed(doc):
    doc.pop("generated_at", None)
    return doc


def test_ingest_and_report_on_s3_equal_the_raw_logs(s3, tmp_path):
    env, client = s3
    store = f"s3://{BUCKET}/sample"
    proc = run(env, "ingest", *SAMPLES, "--store", store, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["records_added"] == 31540
    assert run(env, "ingest", *SAMPLES, "--store", store).stderr.count("0 records added") == 1
    stored = keys(client, "sample/")
    assert "sample/_mlmon/registry.json" in stored
    assert [k for k in stored if k.endswith(".parquet")] and all(k.startswith(("sample/date=", "sample/_mlmon/"))
                                                                for k in stored)
    args = ["--every", "6h", "--by", "model", "--now", "2026-11-27T00:00Z", "--format", "json"]
    raw = run(env, "report", *SAMPLES, *args)
    remote = run(env, "report", "--store", store, *args)
    assert remote.returncode == 0, remote.stderr
    assert _facts_removed(json.loads(remote.stdout)) == _facts_removed(json.loads(raw.stdout))
    check = run(env, "check", "--store", store, "--rules", str(SAMPLE_LOGS.parent / "rules.example.yaml"),
                "--format", "json")
    assert check.returncode == 1 and json.loads(check.stdout)["alerts"]


def test_info_compact_and_prune_on_s3(s3, tmp_path):
    env, client = s3
    store = f"s3://{BUCKET}/maintained"
    log = tmp_path / "app.jsonl"
    for day in ("2026-11-20", "2026-11-21"):
        for k in range(2):
            with open(log, "a") as handle:
                for i in range(5):
                    handle.write(json.dumps(record(ts=f"{day}T10:0{k}:0{i}Z", request_id=f"{day}-{k}-{i}")) + "\n")
            assert run(env, "ingest", log, "--store", store).returncode == 0
    info = json.loads(run(env, "store", "info", "--store", store, "--format", "json").stdout)
    assert info["records"] == 20 and info["parts"] == 4
    assert run(env, "store", "compact", "--store", store).returncode == 0
    parts = [k for k in keys(client, "maintained/") if k.endswith(".parquet")]
    assert len(parts) == 2
    proc = run(env, "store", "prune", "--store", store, "--older-than", "1d", "--now", "2026-11-22T12:00Z")
    assert proc.returncode == 0 and "pruned 10 records in 1 day" in proc.stderr, proc.stderr
    doc = json.loads(run(env, "report", "--store", store, "--format", "json").stdout)
    assert doc["windows"][0]["metrics"]["request_count"] == 10


def test_the_lease_locks_out_a_second_writer_and_expires(s3, tmp_path):
    env, client = s3
    store = f"s3://{BUCKET}/leased"
    log = write_jsonl(tmp_path / "app.jsonl", [record()])
    assert run(env, "ingest", log, "--store", store).returncode == 0
    lease = {"owner": "other", "what": "ingest", "host": "h", "pid": 1, "expires": time.time() + 600}
    client.put_object(Bucket=BUCKET, Key="leased/_mlmon/lock", Body=json.dumps(lease).encode())
    proc = run(env, "ingest", log, "--store", store, "--wait", "0.5")
    assert proc.returncode == 2 and "locked" in proc.stderr and len(proc.stderr.splitlines()) == 1
    lease["expires"] = time.time() - 1
    client.put_object(Bucket=BUCKET, Key="leased/_mlmon/lock", Body=json.dumps(lease).encode())
    assert run(env, "ingest", log, "--store", store, "--wait", "0.5").returncode == 0
    assert "leased/_mlmon/lock" not in keys(client, "leased/")  # released


def test_a_commit_never_overwrites_another_runs_commit(s3, tmp_path, monkeypatch):
    env, _ = s3
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from mlmon.errors import InputError
    from mlmon.store.ingest import ingest
    from mlmon.store.layout import open_store
    from mlmon.store.registry import commit_registry, load_registry

    store_text = f"s3://{BUCKET}/raced"
    log = write_jsonl(tmp_path / "app.jsonl", [record(request_id="a")])
    ingest([str(log)], store_text)
    store = open_store(store_text)
    stale = load_registry(store)
    write_jsonl(log, [record(request_id="a"), record(request_id="b")])
    ingest([str(log)], store_text)  # another run commits meanwhile
    with pytest.raises(InputError, match="another run committed"):
        commit_registry(store, stale)
    assert load_registry(store).rows == 2


def test_logs_in_s3_are_ingested_once_and_then_only_what_is_new(s3, tmp_path):
    env, client = s3
    for path in SAMPLES:
        client.upload_file(path, BUCKET, f"logs/{Path(path).name}")
    lines = [json.dumps(record(ts=f"2026-11-27T10:00:0{i}Z", request_id=f"x{i}")) for i in range(6)]
    client.put_object(Bucket=BUCKET, Key="logs/app.jsonl", Body=("\n".join(lines[:4]) + "\n").encode())
    client.put_object(Bucket=BUCKET, Key="logs/README.txt", Body=b"not a log")
    store = tmp_path / "store"
    proc = run(env, "ingest", f"s3://{BUCKET}/logs/", "--store", store, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["records_added"] == 31540 + 4 and summary["files_read"] == 3
    again = json.loads(run(env, "ingest", f"s3://{BUCKET}/logs/", "--store", store, "--format", "json").stdout)
    assert again["records_added"] == 0 and again["files_read"] == 0  # recognized by ETag and size, not fetched
    client.put_object(Bucket=BUCKET, Key="logs/app.jsonl", Body="\n".join(lines).encode())  # rewritten, longer
    more = json.loads(run(env, "ingest", f"s3://{BUCKET}/logs/", "--store", store, "--format", "json").stdout)
    assert more["records_added"] == 2
    local = write_jsonl(tmp_path / "app.jsonl", [json.loads(line) for line in lines])
    raw = run(env, "report", *SAMPLES, local, "--by", "model", "--format", "json")
    stored = run(env, "report", "--store", store, "--by", "model", "--format", "json")
    assert json.loads(stored.stdout)["windows"] == json.loads(raw.stdout)["windows"]


def test_paired_events_wait_in_an_s3_store_between_runs(s3, tmp_path):
    """The kserve preset's events, a request and its response read by different runs, in S3."""
    env, client = s3
    store = f"s3://{BUCKET}/paired"
    log = tmp_path / "events.jsonl"

    def event(kind, time):
        return json.dumps({"specversion": "1.0", "id": "r1", "source": "http://localhost/", "time": time,
                           "type": f"org.kubeflow.serving.inference.{kind}", "data": {"instances": [[1.0]]}
                           if kind == "request" else {"predictions": [0]}}) + "\n"

    log.write_text(event("request", "2024-05-02T09:00:00Z"))
    first = run(env, "ingest", log, "--store", store, "--preset", "kserve", "--format", "json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["events_waiting"] == 1
    [waiting] = [k for k in keys(client, "paired/_mlmon/") if "pending-" in k]
    with open(log, "a") as handle:
        handle.write(event("response", "2024-05-02T09:00:00.125Z"))
    second = run(env, "ingest", log, "--store", store, "--preset", "kserve", "--format", "json")
    assert (json.loads(second.stdout)["records_added"], json.loads(second.stdout)["events_waiting"]) == (1, 0)
    assert waiting in keys(client, "paired/")  # superseded, kept for the previous commit until the next run
    doc = json.loads(run(env, "report", "--store", store, "--format", "json").stdout)
    assert doc["windows"][0]["metrics"]["latency_max_ms"] == 125.0


def test_a_long_run_renews_its_lease_and_a_lost_lease_is_not_removed(s3, monkeypatch):
    """Smaller: the lease was put once; an ingest longer than it lost it to the next run, and then removed
    that run's lease on leaving. It is now renewed (conditionally on its ETag) every third of its length;
    a run whose renewal is refused leaves the lock to whoever holds it."""
    import threading

    from mlmon.store import lock as lock_mod
    from mlmon.store.layout import create_store

    env, client = s3
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(lock_mod, "LEASE_S", 1.5)  # renewed every 0.5 s: a wide margin on a loaded machine
    store = create_store(f"s3://{BUCKET}/renewed")
    held, other = threading.Event(), []

    def second_writer():
        held.wait()
        try:
            with lock_mod.store_lock(create_store(f"s3://{BUCKET}/renewed"), wait_s=3.5):
                other.append("took it")
        except Exception as exc:  # noqa: BLE001 - the test reads what happened
            other.append(type(exc).__name__)

    thread = threading.Thread(target=second_writer)
    thread.start()
    with lock_mod.store_lock(store, wait_s=5):
        held.set()
        time.sleep(4.5)  # three lease lengths: without renewal the other writer takes it after 1.5 s
    thread.join()
    assert other == ["InputError"]
    assert "renewed/_mlmon/lock" not in keys(client, "renewed/")
    # A lease taken over meanwhile (another run's, written over ours) refuses our next renewal: on leaving,
    # this run leaves it in place instead of removing the new holder's lock.
    lease = {"owner": "other", "what": "ingest", "host": "h", "pid": 1, "expires": time.time() + 600}
    with lock_mod.store_lock(store, wait_s=5):
        client.put_object(Bucket=BUCKET, Key="renewed/_mlmon/lock", Body=json.dumps(lease).encode())
        time.sleep(1.2)  # more than two renewal intervals (0.5 s)
    assert json.loads(client.get_object(Bucket=BUCKET, Key="renewed/_mlmon/lock")["Body"].read())["owner"] == "other"


def test_a_run_that_lost_its_lease_commits_nothing_and_a_failed_renewal_is_tried_again(s3, monkeypatch, tmp_path):
    """Review: a renewal that failed once (a 503) stopped for good, and a run whose lease was taken over
    still committed. A failed renewal is now tried again, and the commit first renews the lease: taken
    over, it refuses (exit 2, nothing committed, the parts removed), and the next run reads the lines again."""
    from mlmon.store import lock as lock_mod
    from mlmon.store.ingest import ingest as run_ingest
    from mlmon.store.layout import create_store

    env, client = s3
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    fails = {"left": 1}

    class Flaky:  # the service, with the first renewal failing as a 503 would
        def __init__(self, ob):
            self.ob, self.exceptions = ob, ob.exceptions

        def put(self, *args, **kwargs):
            if isinstance(kwargs.get("mode"), dict) and fails["left"]:
                fails["left"] -= 1
                raise OSError("503 Service Unavailable")
            return self.ob.put(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(self.ob, name)

    store = create_store(f"s3://{BUCKET}/flaky")
    real = store.lease
    monkeypatch.setattr(store, "lease", lambda: (Flaky(real()[0]), real()[1]))
    monkeypatch.setattr(lock_mod, "LEASE_S", 1.5)
    with lock_mod.store_lock(store, wait_s=5):
        time.sleep(1.3)  # one renewal failed (0.5 s), the next went through (1.0 s)
        store.confirm_lease()
    assert fails["left"] == 0 and "flaky/_mlmon/lock" not in keys(client, "flaky/")

    log = tmp_path / "app.jsonl"
    write_jsonl(log, [record(ts=f"2026-11-27T10:00:0{i}Z", request_id=f"r{i}") for i in range(3)])
    from mlmon.store import registry as registry_mod

    real_commit = registry_mod.commit_registry

    def taken_over(store_, registry):  # another run takes the lease over just before this one commits
        lease = {"owner": "other", "what": "ingest", "host": "h", "pid": 1, "expires": time.time() + 600}
        client.put_object(Bucket=BUCKET, Key="lost/_mlmon/lock", Body=json.dumps(lease).encode())
        return real_commit(store_, registry)

    monkeypatch.setattr("mlmon.store.parts.commit_registry", taken_over)
    with pytest.raises(Exception) as refused:
        run_ingest([str(log)], f"s3://{BUCKET}/lost")
    assert "lost the store's lock" in str(refused.value)
    assert not [k for k in keys(client, "lost/") if k.endswith(".parquet")]  # its parts were taken back
    assert json.loads(client.get_object(Bucket=BUCKET, Key="lost/_mlmon/lock")["Body"].read())["owner"] == "other"
