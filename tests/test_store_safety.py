"""The store keeps its promises under crashes, contention, full disks and bad input.

Real ``mlmon`` processes are killed with SIGKILL at chosen steps (a child Python process
monkeypatches one step of mlmon.store to kill itself there) and at varied moments; the oracle
is the log itself: after a clean run the store holds every request id of the log exactly once.
Setup ingests run in this process through the library, to keep the file fast.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from mlmon.errors import InputError
from mlmon.store import ingest as ingest_mod
from mlmon.store.ingest import IngestOptions, ingest
from mlmon.store.maintain import compact, prune
from mlmon.store.read import read_store

BIN = Path(sys.executable).parent
MLMON = shutil.which("mlmon", path=str(BIN))
pytestmark = pytest.mark.skipif(MLMON is None, reason="mlmon is not installed beside this Python")

START = datetime(2026, 11, 27, 23, 0, tzinfo=timezone.utc)
MIDNIGHT = datetime(2026, 11, 28, tzinfo=timezone.utc)

# A child that runs one store operation and SIGKILLs itself at the step named in its arguments
# (or, at ctrl_c_after_commit, sends itself SIGINT).
CHILD = r"""
import json, os, signal, sys
from datetime import datetime, timedelta
args = json.loads(sys.argv[1])
import polars as pl
import mlmon.store.ingest as ingest_mod
import mlmon.store.maintain as maintain_mod
import mlmon.store.parts as parts_mod
import mlmon.store.registry as registry_mod
import mlmon.store.layout as layout_mod

seen = {}
def step(name):
    seen[name] = seen.get(name, 0) + 1
    if name == args["kill_at"] and seen[name] == args.get("nth", 1):
        os.kill(os.getpid(), signal.SIGKILL)

def after(owner, attr, name):
    original = getattr(owner, attr)
    def wrapper(*a, **k):
        out = original(*a, **k)
        step(name)
        return out
    setattr(owner, attr, wrapper)

def before(owner, attr, name):
    original = getattr(owner, attr)
    def wrapper(*a, **k):
        step(name)
        return original(*a, **k)
    setattr(owner, attr, wrapper)

after(pl.DataFrame, "write_parquet", "part_tmp_written")
after(layout_mod.LocalStore, "write_part", "part_renamed")
after(maintain_mod, "_merge", "merged")
for module in (m for m in (ingest_mod, maintain_mod, parts_mod) if hasattr(m, "commit_registry")):
    before(module, "commit_registry", "before_commit")
    after(module, "commit_registry", "after_commit")
write = layout_mod.LocalStore.write_meta
def write_then_step(self, name, data, *a, **k):
    write(self, name, data, *a, **k)
    if name == "registry.prev.json":
        step("prev_copied")
    if name == "registry.json" and args["kill_at"] == "ctrl_c_after_commit":
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C just after the commit's rename, made durable
layout_mod.LocalStore.write_meta = write_then_step
replace = os.replace
def replace_registry(src, dst, *a, **k):
    if str(dst).endswith("registry.json"):
        step("registry_tmp_written")
    return replace(src, dst, *a, **k)
os.replace = replace_registry
delete = maintain_mod._delete
def delete_one(store, parts):
    delete(store, parts[:1])
    step("deleting")
maintain_mod._delete = delete_one


ingest_mod.FLUSH_ROWS = args.get("flush_rows", ingest_mod.FLUSH_ROWS)
CHUNK = 8192  # about 40 lines: a run flushes parts several times
if args["op"] == "ingest":
    ingest_mod.ingest([args["log"]], args["store"], ingest_mod.IngestOptions(wait_s=30, chunk_bytes=CHUNK))
elif args["op"] == "compact":
    maintain_mod.compact(args["store"], target_bytes=1 << 30, wait_s=30)
else:
    maintain_mod.prune(args["store"], timedelta(days=args["days"]), datetime.fromisoformat(args["now"]), wait_s=30)
"""


# --- logs and oracles ---------------------------------------------------------------------------

def line(i: int) -> str:
    """Line ``i`` of the log: 7 s apart from 23:00 on 2026-11-27, so a log crosses midnight (two partitions)."""
    ts = (START + timedelta(seconds=7 * i)).isoformat().replace("+00:00", "Z")
    return json.dumps({"ts": ts, "request_id": f"req-{i:06d}", "model": "churn" if i % 2 else "fraud",
                       "status": 200, "latency_ms": 5.0 + i % 50,
                       "request": {"country": "DE", "age": 20 + i % 50}, "response": {"label": "stay", "p": 0.1}})


class Log:
    """A log file that grows by whole lines and knows the request ids it holds."""

    def __init__(self, path: Path):
        self.path, self.n = path, 0

    def append(self, count: int) -> "Log":
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.writelines(line(i) + "\n" for i in range(self.n, self.n + count))
        self.n += count
        return self

    def ids(self, keep=lambda i: True) -> list[str]:
        return [f"req-{i:06d}" for i in range(self.n) if keep(i)]


def registry(store: Path) -> dict:
    return json.loads((store / "_mlmon" / "registry.json").read_text())


def committed_ids(store: Path) -> list[str]:
    """The request ids of the parts the registry names, read with Polars (not with mlmon)."""
    paths = [str(store / p["path"]) for p in registry(store)["parts"]]
    if not paths:
        return []
    return sorted(pl.read_parquet(paths, columns=["request_id"]).get_column("request_id").to_list())


def files(store: Path) -> set[str]:
    return {str(p.relative_to(store)) for p in store.rglob("*") if p.is_file() and p.parent.name != "_mlmon"}


def assert_no_orphans(store: Path) -> None:
    assert files(store) == {p["path"] for p in registry(store)["parts"]}


def mlmon(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([MLMON, *args], capture_output=True, text=True, timeout=60, **kwargs)


def one_error_line(result: subprocess.CompletedProcess, *words: str) -> str:
    """Exit 2, one line on stderr (holding ``words``), no traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0]
    return lines[0]


def report(store: Path) -> tuple[int, int]:
    """(source.records, request_count) of ``mlmon report --store``: the registry's count and the rows read."""
    result = mlmon("report", "--store", str(store), "-f", "json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    doc = json.loads(result.stdout)
    return doc["source"]["records"], sum(w["metrics"]["request_count"] for w in doc["windows"])


def killed_child(op: str, kill_at: str, store: Path, signal_number: int = signal.SIGKILL, **args) -> None:
    """Run ``op`` in a child Python that stops itself with ``signal_number`` at ``kill_at``, which must be reached."""
    doc = json.dumps({"op": op, "kill_at": kill_at, "store": str(store), **args})
    result = subprocess.run([sys.executable, "-c", CHILD, doc], capture_output=True, text=True, timeout=60)
    assert result.returncode == -signal_number, f"{op} not stopped at {kill_at}: {result.returncode} {result.stderr}"


def ingest_here(log: Log, store: Path, monkeypatch, flush_rows: int = 150):
    """A setup ingest in this process, writing a part every ``flush_rows`` records."""
    monkeypatch.setattr(ingest_mod, "FLUSH_ROWS", flush_rows)
    return ingest([str(log.path)], str(store), IngestOptions(wait_s=30, chunk_bytes=8192))


# --- 1. crash safety ----------------------------------------------------------------------------

INGEST_KILLS = [
    # (step, nth time it happens). The first kill comes before the store's first commit: the
    # directory then holds _mlmon/ and a part but no registry, and must still be ingested into.
    ("part_renamed", 2),
    ("part_tmp_written", 1),
    ("before_commit", 1),
    ("registry_tmp_written", 1),
    ("after_commit", 1),
    ("prev_copied", 1),
]


def test_ingest_killed_at_every_step_loses_and_duplicates_nothing(tmp_path):
    log, store = Log(tmp_path / "app.jsonl"), tmp_path / "store"
    for kill_at, nth in INGEST_KILLS:
        log.append(400)
        killed_child("ingest", kill_at, store, log=str(log.path), nth=nth, flush_rows=300)
        ids = committed_ids(store) if (store / "_mlmon" / "registry.json").exists() else []
        assert len(ids) == len(set(ids))  # a commit holds each line once
        assert set(ids) <= set(log.ids())

    # A real mlmon ingest killed at moments spread over a run's length (its phases: start-up,
    # reading, writing parts, committing), more lines appended before each.
    log.append(1500)
    began = time.monotonic()
    assert mlmon("ingest", str(log.path), "--store", str(store)).returncode == 0
    length = time.monotonic() - began
    for fraction in (0.3, 0.6, 0.85, 0.95):
        log.append(1500)
        child = subprocess.Popen([MLMON, "ingest", str(log.path), "--store", str(store)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(length * fraction)
        child.send_signal(signal.SIGKILL)
        assert child.wait() in (0, -signal.SIGKILL)  # killed, or done already
        ids = committed_ids(store)
        assert len(ids) == len(set(ids)) and set(ids) <= set(log.ids())

    log.append(10)
    final = mlmon("ingest", str(log.path), "--store", str(store))
    assert final.returncode == 0, final.stderr
    assert committed_ids(store) == log.ids()
    assert report(store) == (log.n, log.n)
    assert_no_orphans(store)


def test_ctrl_c_just_after_a_commit_keeps_the_committed_parts(tmp_path, monkeypatch):
    """KeyboardInterrupt after the registry's rename must not take back the parts it names."""
    log, store = Log(tmp_path / "app.jsonl"), tmp_path / "store"
    ingest_here(log.append(300), store, monkeypatch)
    killed_child("ingest", "ctrl_c_after_commit", store, signal.SIGINT, log=str(log.append(300).path))
    assert committed_ids(store) == log.ids()
    for _ in range(2):
        ingest_here(log.append(300), store, monkeypatch)  # small parts for compact to merge
    killed_child("compact", "ctrl_c_after_commit", store, signal.SIGINT)
    assert committed_ids(store) == log.ids()
    ingest_here(log, store, monkeypatch)  # the next writer removes what the interrupted one left
    assert committed_ids(store) == log.ids()
    assert_no_orphans(store)


COMPACT_KILLS = ["merged", "before_commit", "after_commit", "deleting"]


def test_compact_killed_at_every_step_keeps_the_same_rows(tmp_path, monkeypatch):
    log, store = Log(tmp_path / "app.jsonl"), tmp_path / "store"
    for kill_at in COMPACT_KILLS:
        for _ in range(2):  # small parts in both partitions for compact to merge
            ingest_here(log.append(400), store, monkeypatch)
        killed_child("compact", kill_at, store)
        assert committed_ids(store) == log.ids()
        data = read_store(str(store), ["request_id"])
        assert (data.total, data.records.height, data.warnings) == (log.n, log.n, [])
    done = mlmon("store", "compact", "--store", str(store))
    assert done.returncode == 0, done.stderr
    assert committed_ids(store) == log.ids()
    assert len(registry(store)["parts"]) == 2  # one per day
    assert_no_orphans(store)


def test_prune_killed_before_or_after_its_commit_leaves_a_whole_state(tmp_path, monkeypatch):
    log, store = Log(tmp_path / "app.jsonl"), tmp_path / "store"
    ingest_here(log.append(1000), store, monkeypatch)
    after_day_one = log.ids(keep=lambda i: START + timedelta(seconds=7 * i) >= MIDNIGHT)
    assert 0 < len(after_day_one) < log.n
    prune_args = {"days": 1, "now": "2026-11-29T12:00:00+00:00"}  # removes 2026-11-27 only

    killed_child("prune", "before_commit", store, **prune_args)
    assert committed_ids(store) == log.ids()
    killed_child("prune", "deleting", store, **prune_args)  # committed, one old part deleted
    assert committed_ids(store) == after_day_one
    data = read_store(str(store), ["request_id"])
    assert (data.total, data.records.height, data.warnings) == (len(after_day_one), len(after_day_one), [])

    done = mlmon("store", "prune", "--store", str(store), "--older-than", "1d", "--now", "2026-11-29T12:00:00Z")
    assert done.returncode == 0, done.stderr
    assert committed_ids(store) == after_day_one
    assert_no_orphans(store)
    # the pruned lines are still in the log, and are not ingested again
    ingest_here(log, store, monkeypatch)
    assert committed_ids(store) == after_day_one
    # a store pruned to nothing reads as an empty log does
    prune(str(store), timedelta(days=1), datetime(2027, 1, 1, tzinfo=timezone.utc))
    assert report(store) == (0, 0)


# --- 2. one writer at a time --------------------------------------------------------------------

HOLDER = """
import sys
from pathlib import Path
from mlmon.store.layout import open_store
from mlmon.store.lock import store_lock
with store_lock(open_store(sys.argv[1]), 0, "test"):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes our stdin
"""


def test_a_held_lock_makes_ingest_exit_2_after_wait_and_its_release_lets_it_run(tmp_path, monkeypatch):
    log, store = Log(tmp_path / "app.jsonl"), tmp_path / "store"
    ingest_here(log.append(100), store, monkeypatch)
    log.append(100)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(store)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        before = (store / "_mlmon" / "registry.json").read_bytes()
        one_error_line(mlmon("ingest", str(log.path), "--store", str(store), "--wait", "0.5"), "locked", "--wait")
        assert (store / "_mlmon" / "registry.json").read_bytes() == before
        with pytest.raises(InputError, match="locked"):
            compact(str(store), wait_s=0.1)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert holder.returncode == 0
    result = mlmon("ingest", str(log.path), "--store", str(store), "--wait", "0.5")
    assert result.returncode == 0, result.stderr
    assert committed_ids(store) == log.ids()


# --- 3. readers during writes -------------------------------------------------------------------

WRITER = """
import json, sys
from pathlib import Path
import mlmon.store.ingest as ingest_mod
from mlmon.store.maintain import compact
sys.path.insert(0, sys.argv[1])
from test_store_safety import Log
log, store, stop = Log(Path(sys.argv[2])), sys.argv[3], Path(sys.argv[4])
log.n = int(sys.argv[5])
ingest_mod.FLUSH_ROWS = 100
rounds = 0
while not stop.exists() and rounds < 200:
    log.append(250)
    ingest_mod.ingest([str(log.path)], store, ingest_mod.IngestOptions(wait_s=30, chunk_bytes=8192))
    rounds += 1
    if rounds % 2 == 0:
        compact(store, target_bytes=1 << 30, wait_s=30)
print(rounds)
"""


def test_readers_see_only_whole_commits_while_ingest_and_compact_run(tmp_path, monkeypatch):
    log, store, stop = Log(tmp_path / "app.jsonl"), tmp_path / "store", tmp_path / "stop"
    ingest_here(log.append(500), store, monkeypatch)
    first = log.n
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(Path(__file__).parent), str(log.path), str(store),
                               str(stop), str(first)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[int] = []
    reports = 0
    try:
        while reports < 3 or (len(set(seen)) < 2 and reports < 10):
            reports += 1
            result = mlmon("report", "--store", str(store), "-f", "json")
            assert result.returncode == 0 and result.stderr == "", result.stderr
            doc = json.loads(result.stdout)
            records = doc["source"]["records"]
            assert sum(w["metrics"]["request_count"] for w in doc["windows"]) == records
            seen.append(records)
            for _ in range(8):
                data = read_store(str(store), ["request_id"])
                assert data.warnings == []
                assert data.records.height == data.total
                assert data.records.get_column("request_id").n_unique() == data.total
                seen.append(data.total)
    finally:
        stop.touch()
        out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    rounds = int(out)
    assert rounds >= 2, "the writer should have committed while the reports ran"
    states = {first + 250 * i for i in range(rounds + 1)}
    assert set(seen) <= states
    assert seen == sorted(seen)  # a later read never sees an older commit
    assert len(set(seen)) > 1
    assert committed_ids(store) == [f"req-{i:06d}" for i in range(first + 250 * rounds)]


# --- 4. a full disk -----------------------------------------------------------------------------

FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from mlmon.cli.entry import main
sys.argv = ["mlmon", *sys.argv[2:]]
main()
"""


def full_disk(limit: int, *args: str) -> subprocess.CompletedProcess:
    """mlmon ``args`` where no file can grow past ``limit`` bytes (stdout and stderr are pipes, not files)."""
    return subprocess.run([sys.executable, "-c", FULL_DISK, str(limit), *args], capture_output=True, text=True,
                          timeout=60)


def test_a_full_disk_fails_the_run_with_one_line_and_commits_nothing(tmp_path, monkeypatch):
    log, store = Log(tmp_path / "app.jsonl"), tmp_path / "store"
    ingest_here(log.append(100), store, monkeypatch)
    before_registry = (store / "_mlmon" / "registry.json").read_bytes()
    before_files = {str(p.relative_to(store)) for p in store.rglob("*") if p.name != "lock"}
    log.append(2000)

    one_error_line(full_disk(1024, "ingest", str(log.path), "--store", str(store)),
                   "cannot write to the store", "nothing was committed")
    assert (store / "_mlmon" / "registry.json").read_bytes() == before_registry
    assert {str(p.relative_to(store)) for p in store.rglob("*") if p.name != "lock"} == before_files

    again = mlmon("ingest", str(log.path), "--store", str(store))
    assert again.returncode == 0, again.stderr
    assert committed_ids(store) == log.ids()

    # compact: the merged part cannot be written; the parts it would replace stay in force
    before_registry, before_files = (store / "_mlmon" / "registry.json").read_bytes(), files(store)
    one_error_line(full_disk(1024, "store", "compact", "--store", str(store)), "cannot compact", "nothing was changed")
    assert (store / "_mlmon" / "registry.json").read_bytes() == before_registry
    assert files(store) == before_files


def test_a_full_disk_at_the_commit_keeps_the_registry_and_its_previous_copy_whole(tmp_path, monkeypatch):
    logs, store = tmp_path / "logs", tmp_path / "store"
    logs.mkdir()
    sources = [Log(logs / f"app-{k:02d}.jsonl") for k in range(60)]  # a long registry, one small part
    for k, log in enumerate(sources):
        log.n = 1000 * k
        log.append(1)
    ingest([str(logs)], str(store), IngestOptions(wait_s=30))
    limit = 12_000
    path = store / "_mlmon" / "registry.json"
    assert max(p["bytes"] for p in registry(store)["parts"]) < limit < path.stat().st_size
    before_registry, before_files = path.read_bytes(), files(store)
    for log in sources:
        log.append(1)

    one_error_line(full_disk(limit, "ingest", str(logs), "--store", str(store)),
                   "cannot commit to the store", "nothing was committed")
    assert path.read_bytes() == before_registry
    assert files(store) == before_files
    previous = store / "_mlmon" / "registry.prev.json"
    if previous.exists():  # a copy for recovery by hand: whole, or not there
        json.loads(previous.read_text())
    assert not list(store.rglob(".*.tmp"))

    ingest([str(logs)], str(store), IngestOptions(wait_s=30))
    assert committed_ids(store) == sorted(i for log in sources for i in log.ids(lambda i: i >= log.n - 2))


# --- 5. bad input -------------------------------------------------------------------------------

@pytest.fixture
def rules(tmp_path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - name: errors\n    expr: error_rate > 0.05\n")
    return path


@pytest.mark.parametrize("command", [["report"], ["check", "--rules", "RULES"], ["store", "info"]])
def test_a_directory_that_is_not_a_store_is_refused(tmp_path, rules, command):
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("hello\n")
    args = [str(rules) if a == "RULES" else a for a in command]
    one_error_line(mlmon(*args, "--store", str(tmp_path / "plain")), "is not an mlmon store", "mlmon ingest")


def test_a_corrupt_registry_says_how_to_restore_the_previous_commit(tmp_path, monkeypatch):
    log, store = Log(tmp_path / "app.jsonl"), tmp_path / "store"
    ingest_here(log.append(300), store, monkeypatch)
    ingest_here(log.append(300), store, monkeypatch)
    path = store / "_mlmon" / "registry.json"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # truncated, as by a broken disk

    message = one_error_line(mlmon("report", "--store", str(store)), "registry", "is corrupt", "cp ")
    with pytest.raises(InputError, match="is corrupt"):  # a writer refuses it too, and does not overwrite it
        ingest_here(log, store, monkeypatch)
    # following the hint restores the previous commit; the next ingest reads again what the lost one had read
    restore = message.split("cp ", 1)[1].split(" (")[0].split()
    shutil.copyfile(restore[0], restore[1])
    ingest_here(log, store, monkeypatch)
    assert committed_ids(store) == log.ids()


def test_a_corrupt_first_registry_says_to_build_the_store_again(tmp_path, monkeypatch):
    log, store = Log(tmp_path / "app.jsonl"), tmp_path / "store"
    ingest_here(log.append(10), store, monkeypatch)  # one commit: no previous one to restore
    (store / "_mlmon" / "registry.json").write_text('{"format": "mlmon-store", "version": 1, "parts": [')
    with pytest.raises(InputError, match="is corrupt.*build it again with mlmon ingest"):
        read_store(str(store), ["request_id"])


def test_a_corrupt_part_is_left_out_with_a_warning(tmp_path, monkeypatch):
    """Documented behaviour: the reader skips a part it cannot read, says so on stderr, and counts the rest."""
    log, store = Log(tmp_path / "app.jsonl"), tmp_path / "store"
    ingest_here(log.append(300), store, monkeypatch, flush_rows=10_000)  # one part, 2026-11-27
    ingest_here(log.append(700), store, monkeypatch, flush_rows=10_000)  # one more that day, one the next
    first, *rest = registry(store)["parts"]
    (store / first["path"]).write_bytes(b"not parquet at all " * 50)

    result = mlmon("report", "--store", str(store), "-f", "json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    warning, = result.stderr.strip().splitlines()
    assert "cannot be read and was left out" in warning and first["path"] in warning
    doc = json.loads(result.stdout)
    remaining = sum(p["rows"] for p in rest)
    assert sum(w["metrics"]["request_count"] for w in doc["windows"]) == remaining
    assert doc["source"]["records"] == remaining
    before = registry(store)
    with pytest.raises(InputError, match="cannot be read"):  # compact refuses to merge it away
        compact(str(store), target_bytes=1 << 30, wait_s=1)
    assert registry(store) == before


def test_a_missing_part_is_named_not_taken_for_a_store_that_keeps_changing(tmp_path, monkeypatch):
    log, store = Log(tmp_path / "app.jsonl"), tmp_path / "store"
    ingest_here(log.append(300), store, monkeypatch, flush_rows=100)  # three parts, 2026-11-27
    lost = registry(store)["parts"][1]["path"]
    (store / lost).unlink()  # by hand, or a failed disk: the registry still names it

    one_error_line(mlmon("report", "--store", str(store)), "is missing", lost, "Restore it")
    with pytest.raises(InputError, match="is missing"):
        compact(str(store), target_bytes=1 << 30, wait_s=1)
    assert not [p for p in store.rglob(".*.tmp")]


def test_ingest_refuses_standard_input_and_creates_nothing(tmp_path):
    result = mlmon("ingest", "-", "--store", str(tmp_path / "store"), input=line(0) + "\n")
    one_error_line(result, "standard input")
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("extra, words", [
    (["LOG"], ["either LOGS or --store"]),
    (["--mapping", "MAPPING"], ["--mapping does not apply to --store"]),
])
def test_report_refuses_logs_or_a_mapping_with_store(tmp_path, monkeypatch, extra, words):
    log, store = Log(tmp_path / "app.jsonl"), tmp_path / "store"
    ingest_here(log.append(10), store, monkeypatch)
    (tmp_path / "mapping.yaml").write_text("{}\n")
    args = [{"LOG": str(log.path), "MAPPING": str(tmp_path / "mapping.yaml")}.get(a, a) for a in extra]
    one_error_line(mlmon("report", *args, "--store", str(store)), *words)
