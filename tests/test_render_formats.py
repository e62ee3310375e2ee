"""How people's tables read in every command: one number format per unit, four-digit years, and no
wrapping outside a terminal (check and replay here; the report's table in test_render_table.py)."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from conftest import record, write_jsonl
from typer.testing import CliRunner

from mlmon.cli import app
from mlmon.render.values import format_value
from test_cli import run


def test_the_check_table_through_a_pipe_does_not_wrap_summaries(tmp_path):
    logs = write_jsonl(tmp_path / "slow.jsonl", [record(f"2026-11-27T10:00:{i:02d}Z", latency_ms=71768.3)
                                                 for i in range(3)])
    rules = tmp_path / "rules.yaml"
    rules.write_text('rules:\n  - name: slow\n    expr: latency_p95_ms > 100\n'
                     '    summary: "p95 latency {{ value }} ms is far above what the service '
                     'promises its callers (71,768.3 req/s)"\n')
    proc = run("check", str(logs), "--rules", str(rules), env={"COLUMNS": "60"})
    assert proc.returncode == 1, proc.stderr
    assert ("- slow [(all)]: p95 latency 71768.3 ms is far above what the service promises its callers "
            "(71,768.3 req/s)") in proc.stdout.splitlines()


def test_the_check_and_replay_tables_wrap_only_on_a_terminal():
    from mlmon.check import Gate
    from mlmon.render.alerts import render_check_table
    from mlmon.render.replay import render_replay_table
    from mlmon.replay.resources import ResourceStats
    from mlmon.replay.run import ReplayRun
    from mlmon.rules.evaluate import Alert

    when = datetime(2026, 11, 27, 10, tzinfo=UTC)
    summary = "word " * 30
    alert = Alert("slow", "warning", {}, 1.5, True, when, when, 1, summary.strip())
    result = SimpleNamespace(alerts=[alert], pending=[], rules_evaluated=1)
    for wrap, lines in ((True, 3), (False, 1)):
        text = render_check_table(result, Gate("warning"), width=60, wrap=wrap)
        assert sum(1 for line in text.splitlines() if "word" in line) == lines
    target = "http://127.0.0.1:8000/" + "x" * 80
    run = ReplayRun(target, [], 1.0, ResourceStats())
    assert any(line.endswith(target + " in 1.00s (0.000 req/s)")
               for line in render_replay_table(run, 0.0, 5, width=60, wrap=False).splitlines())
    assert not any(target in line for line in render_replay_table(run, 0.0, 5, width=60, wrap=True).splitlines())


def test_cpu_and_memory_read_the_same_in_the_replay_summary_as_in_the_report():
    from mlmon.render.replay import render_replay_table
    from mlmon.replay.resources import ResourceStats
    from mlmon.replay.run import ReplayRun

    run = ReplayRun("http://model", [], 1.0, ResourceStats(samples=3, cpu_percent_mean=5.33, cpu_percent_max=10.64,
                                                          memory_mb_max=7.25))
    text = render_replay_table(run, 0.0, 5, width=200)
    cpu = (format_value("cpu_percent_mean", 5.33), format_value("cpu_percent_max", 10.64))
    assert cpu == ("5.3", "10.6")
    assert f"CPU mean {cpu[0]}%, max {cpu[1]}%, peak memory {format_value('memory_mb_max', 7.25)} MB" in text


def test_sub_millisecond_latencies_keep_three_decimals():
    assert format_value("latency_p95_ms", 0.0421) == "0.042"
    assert format_value("latency_p95_ms", 12.34) == "12.3"
    assert format_value("latency_p95_ms", 0.0) == "0.0"


def test_the_year_one_reads_0001():
    from mlmon.render.values import format_range, format_time

    first = datetime(1, 1, 1, tzinfo=UTC)
    assert format_time(first, timedelta(days=1)) == "0001-01-01"
    assert format_time(first, timedelta(hours=1)) == "0001-01-01 00:00"
    assert format_range(first, first + timedelta(seconds=5)) == "0001-01-01 00:00:00 → 0001-01-01 00:00:05 UTC"


def test_a_log_from_the_year_one_through_the_cli(tmp_path):
    logs = write_jsonl(tmp_path / "old.jsonl", [record("0001-01-01T00:00:00Z"), record("0001-01-01T00:00:05Z")])
    whole = CliRunner().invoke(app, ["report", str(logs)], env={"COLUMNS": "100"})
    assert whole.exit_code == 0, whole.output
    assert whole.stdout.splitlines()[1] == "0001-01-01 00:00:00 → 0001-01-01 00:00:05 UTC"
    daily = CliRunner().invoke(app, ["report", str(logs), "--every", "1d"], env={"COLUMNS": "100"})
    assert daily.stdout.splitlines()[4].startswith("0001-01-01   ")
