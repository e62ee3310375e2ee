"""Spark in local mode reads the store as the README says, and agrees with mlmon's count and p95.

The same check as tests/test_store.py::test_duckdb_reads_the_store_as_the_readme_says, with Spark
as the independent reader: the store is made by the installed `mlmon ingest` from the two sample
logs, and Spark reads the plain directory, discovering the `date=` partitions and leaving `_mlmon/` out.

These tests need pyspark and a Java runtime, which the README's `pip install '.[test]' && pytest` does
not install: they live outside tests/ (pytest's testpaths), and .ci/run installs both, then runs
`pytest tests_spark`. The folder has no conftest.py: tests/ imports its own as `conftest`, and a
second one would shadow it when both folders are run together.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = [ROOT / "sample_logs" / "churn.jsonl.gz", ROOT / "sample_logs" / "fraud.jsonl.gz"]
MLMON = str(Path(sys.executable).parent / "mlmon")

# percentile() is exact, interpolating linearly between the two nearest values as DuckDB's
# quantile_cont does; percentile_approx() is not exact and would not match mlmon's p95.
QUERY = """
SELECT model, count(*) AS requests, percentile(latency_ms, 0.95) AS p95_ms
FROM requests GROUP BY model ORDER BY model
"""

# Spark logs WARN lines while it starts (the host's address, no native Hadoop library), before
# setLogLevel can apply: a log4j2 configuration given to the driver's JVM keeps everything below
# ERROR out from the start. What the JVM and PySpark print themselves (3 lines) still shows with -s.
LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c: %m%n
"""


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    work = tmp_path_factory.mktemp("spark")
    log4j2 = work / "log4j2.properties"
    log4j2.write_text(LOG4J2)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("mlmon-tests")
        .config("spark.driver.extraJavaOptions", f"-Dlog4j.configurationFile=file:{log4j2}")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.driver.memory", "1g")
        .config("spark.local.dir", str(work))
        .config("spark.sql.warehouse.dir", str(work / "warehouse"))
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def mlmon(*args) -> dict:
    proc = subprocess.run([MLMON, *map(str, args), "--format", "json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    store = tmp_path_factory.mktemp("store") / "s"
    summary = mlmon("ingest", *SAMPLES, "--store", store)
    assert summary["records_added"] > 0 and summary["skipped"] == 0
    return store


def spark_p95(spark, store: Path) -> list[tuple]:
    spark.read.parquet(str(store)).createOrReplaceTempView("requests")
    return [tuple(r) for r in spark.sql(QUERY).collect()]


def mlmon_by_model(store: Path) -> dict[str, dict]:
    doc = mlmon("report", "--store", store, "--by", "model")
    return {w["segment"]["model"]: w["metrics"] for w in doc["windows"]}


def test_spark_reads_the_store_and_agrees_with_mlmon(spark, store):
    frame = spark.read.parquet(str(store))  # as the README says: the store's directory, nothing more

    # the date= folders are discovered as a partition column, and _mlmon/ is not read as data
    days = sorted(p.name.removeprefix("date=") for p in store.glob("date=*"))
    assert len(days) >= 2
    assert "date" in frame.columns
    assert sorted(str(r[0]) for r in frame.select("date").distinct().collect()) == days
    assert (store / "_mlmon" / "registry.json").is_file()
    lines = sum(1 for path in SAMPLES for _ in gzip.open(path, "rt"))
    assert frame.count() == lines

    rows = spark_p95(spark, store)
    by_model = mlmon_by_model(store)
    assert [r[0] for r in rows] == sorted(by_model) == ["churn", "fraud"]
    for model, count, p95 in rows:
        assert count == by_model[model]["request_count"]
        assert p95 == pytest.approx(by_model[model]["latency_p95_ms"], rel=1e-9)


def test_the_p95_interpolates_as_mlmon_does(spark, tmp_path):
    """The sample logs' latencies have one decimal and many ties: their p95 falls on a logged value,
    so the test above would pass with an inexact quantile too. Here the p95 lies between two values."""
    latencies = {"a": [float(i * i) for i in range(1, 21)], "b": [1.0, 2.0, 3.0, 100.0, 7.5, 0.25, 40.0]}
    log = tmp_path / "app.jsonl"
    with open(log, "w") as handle:
        for model, values in latencies.items():
            for i, value in enumerate(values):
                day = 26 + i % 2  # two days, so two partitions
                line = {"ts": f"2026-11-{day}T10:00:{i:02d}Z", "request_id": f"{model}{i}", "model": model,
                        "latency_ms": value}
                handle.write(json.dumps(line) + "\n")
    store = tmp_path / "store"
    assert mlmon("ingest", log, "--store", store)["records_added"] == 27
    rows = spark_p95(spark, store)
    by_model = mlmon_by_model(store)
    assert [r[0] for r in rows] == sorted(by_model) == ["a", "b"]
    for model, count, p95 in rows:
        assert count == by_model[model]["request_count"] == len(latencies[model])
        assert p95 not in latencies[model]  # interpolated: an inexact quantile picks a logged value
        assert p95 == pytest.approx(by_model[model]["latency_p95_ms"], rel=1e-12)
    assert by_model["a"]["latency_p95_ms"] == pytest.approx(361 + 0.05 * (400 - 361))  # 18.05th of 19 gaps
