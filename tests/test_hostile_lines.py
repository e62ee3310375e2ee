"""Hostile log lines (issue 11, items 1 and 4 and the "Smaller" list; issue 16, "found on the way").

Each class of line must end as a skipped line with the README's reason, in every command,
never as a traceback: times outside the years 1 to 9999, epoch numbers that overflow,
JSON nested deeper than a parser goes, and valid JSON that is not an object. The expected
counts and reasons come from plain-Python oracles written from the README's "Bad lines"
table, not from mlmon's code.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from test_hostile_input import entry_point, invoke

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
FIRST = datetime(1, 1, 1, tzinfo=UTC)
LAST = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
MIN_US, MAX_US = (FIRST - EPOCH) // US, (LAST - EPOCH) // US
NOW = "2026-11-28T00:00:00Z"
GOOD = [{"ts": f"2026-11-27T10:{i:02d}:00Z", "request_id": f"g{i}", "model": "m", "status": 200,
         "latency_ms": 10 + i, "request": {"x": i}, "response": {"y": i}} for i in range(6)]


# --- oracles ---------------------------------------------------------------------------------

_DAYS_400_YEARS = 146_097  # the Gregorian calendar repeats every 400 years


def iso_us(text: str) -> int | None:
    """Microseconds since the epoch of ISO text with any year (0, -1, 10000), or None if it is no time.

    Python parses years 1 to 9999 only: the year is moved by whole 400-year cycles into
    that range, parsed, and the cycles taken off again.
    """
    match = re.fullmatch(r"([+-]?\d{4,})(-\d\d-\d\d.*)", text)
    if not match:
        return None
    year = int(match[1])
    cycles = (2000 - year) // 400 + 1
    try:
        moved = datetime.fromisoformat(f"{year + 400 * cycles:04d}{match[2]}")
    except ValueError:
        return None
    moved = moved if moved.tzinfo else moved.replace(tzinfo=UTC)
    return (moved - EPOCH) // US - cycles * _DAYS_400_YEARS * 86_400_000_000


_PER_US = {"s": 10**6, "ms": 10**3, "us": 1}


def epoch_us(value: int | float, unit: str) -> int:
    """Microseconds since the epoch of an epoch number, as README's "Log records" describes it."""
    if unit == "auto":
        size = abs(value)
        unit = "s" if size < 1e11 else "ms" if size < 1e14 else "us" if size < 1e17 else "ns"
    if isinstance(value, int):
        return value // 1000 if unit == "ns" else value * _PER_US[unit]
    return round(value / 1000 if unit == "ns" else value * _PER_US[unit])


def ts_reason(value, unit: str = "auto") -> str | None:
    us = iso_us(value) if isinstance(value, str) else epoch_us(value, unit)
    if us is None:
        return "unparseable ts"
    return None if MIN_US <= us <= MAX_US else "ts out of range"


def depth(text: str) -> int:
    """How deep the brackets of JSON text nest outside its strings (the line's own object counts as 1)."""
    deepest = level = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            escaped, in_string = (not escaped and char == "\\"), in_string and (escaped or char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            level += 1
            deepest = max(deepest, level)
        elif char in "]}":
            level -= 1
    return deepest


def _reject(name):
    raise ValueError(name)


def _finite(kind):
    def parse(text):
        if math.isinf(float(text)):
            raise ValueError(text)  # past the largest double: README "Bad lines"
        return kind(text)
    return parse


def parse(text: str):
    """The JSON value of a line, at any depth; ValueError where it is not JSON."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)  # Python's own parser stops near 1,000 levels; the README's limit is 1,024
    try:
        return json.loads(text, parse_constant=_reject, parse_float=_finite(float), parse_int=_finite(int))
    finally:
        sys.setrecursionlimit(old)


def line_reason(text: str) -> str | None:
    """The README's verdict on one line's JSON (the ts check aside): None for an object."""
    try:
        value = parse(text)
    except ValueError:
        return "malformed JSON"
    if depth(text) > 1024:
        return "nested too deep"
    return None if isinstance(value, dict) else "not a JSON object"


# --- helpers ---------------------------------------------------------------------------------

def write_lines(path, lines: list[str]):
    path.write_text("".join(json.dumps(r) + "\n" for r in GOOD) + "".join(line + "\n" for line in lines))
    return path


def rejects_of(path) -> dict[int, str]:
    return {row["line"]: row["reason"] for row in map(json.loads, path.read_text().splitlines())}


def expected(lines: list[str], reason) -> dict[int, str]:
    """{line number: reason} of the bad ones among ``lines``, numbered after GOOD."""
    found = {len(GOOD) + n: reason(line) for n, line in enumerate(lines, 1)}
    return {n: r for n, r in found.items() if r is not None}


def assert_every_command_skips(tmp_path, log, bad: dict[int, str], *extra):
    """report (every format), check, baseline save and replay skip exactly ``bad``, and name the count."""
    n_good = sum(1 for _ in log.read_text().splitlines()) - len(bad)
    report = invoke("report", log, "--format", "json", "--now", NOW, "--rejects", tmp_path / "r.jsonl", *extra)
    assert report.exit_code == 0, report.output
    source = json.loads(report.stdout)["source"]
    assert (source["records"], source["skipped"], source["skipped_by_reason"]) == (n_good, len(bad), dict(Counter(bad.values())))
    assert rejects_of(tmp_path / "r.jsonl") == bad
    for fmt in ("table", "csv", "markdown"):
        result = invoke("report", log, "--format", fmt, "--every", "7d", *extra)
        assert result.exit_code == 0 and result.exception is None, (fmt, result.output)
    check = invoke("check", log, "--rules", tmp_path / "rules.yaml", "--now", NOW, "--since", "2d", *extra)
    assert check.exit_code == 1 and f"skipped {len(bad):,} bad" in check.stderr, check.output
    saved = invoke("baseline", "save", log, "-o", tmp_path / "b.json", "--rejects", tmp_path / "b.jsonl", *extra)
    assert saved.exit_code == 0, saved.output
    assert json.loads((tmp_path / "b.json").read_text())["rows"] == n_good
    assert rejects_of(tmp_path / "b.jsonl") == bad
    dry = invoke("replay", log, "--dry-run", "--model", "m:f", *extra)
    assert dry.exit_code == 0 and f"skipped {len(bad):,} bad log line" in dry.stderr, dry.output


@pytest.fixture(autouse=True)
def rules(tmp_path):
    (tmp_path / "rules.yaml").write_text("rules:\n  - name: busy\n    expr: request_count > 0\n    every: 1d\n")


# --- item 1: years before 1 and after 9999 ----------------------------------------------------

ISO_TIMES = [
    "0000-06-01T00:00:00Z", "-0001-06-01T00:00:00Z", "0000-12-31T23:59:59.999999Z",
    "0000-12-31T23:00:00-01:00",  # 0001-01-01 in UTC: in range
    "0001-01-01T00:30:00+01:00",  # 0000-12-31 in UTC: out of range
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z",
    "+10000-01-01T00:00:00Z", "10000-06-01T00:00:00Z", "99999-06-01T00:00:00Z", "-99999-01-01",
]


def test_the_oracle_reads_years_python_cannot():
    assert iso_us("0001-01-01T00:00:00Z") == MIN_US and iso_us("9999-12-31T23:59:59.999999Z") == MAX_US
    assert iso_us("0000-12-31T23:59:59Z") == MIN_US - 1_000_000
    assert [ts_reason(t) for t in ISO_TIMES].count("ts out of range") == 8


def test_iso_times_outside_the_years_1_to_9999_are_skipped_in_every_command(tmp_path):
    """Issue 11 item 1: year 0 and negative years crashed report, check and replay (ValueError)."""
    lines = [json.dumps({"ts": t, "request": {"x": 1}}) for t in ISO_TIMES]
    log = write_lines(tmp_path / "years.jsonl", lines)
    bad = expected(lines, lambda line: ts_reason(json.loads(line)["ts"]))
    assert set(bad.values()) == {"ts out of range"} and len(bad) == 8
    assert_every_command_skips(tmp_path, log, bad)


# --- item 4: epoch numbers past the years, with ts_unit or auto ------------------------------

EPOCHS = [1e18, -9e18, 1000000000000000000, 9223372036854775807, -9223372036854775808, 1e300,
          99999999999999999999, 253402300799, 253402300800, -62135596800, -62135596801,
          253402300799999, 1.7e9, 9e21, 1e20]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns", "auto"])
def test_epochs_out_of_range_are_skipped_in_every_command(tmp_path, unit):
    """Issue 11 item 4: ts_unit with 1e18, milliseconds read as seconds or -9e18 us raised OverflowError or a
    Polars panic in every format; large integers also wrapped around 64 bits into a wrong time."""
    mapping = tmp_path / "m.yaml"
    mapping.write_text(f"ts_unit: {unit}\n")
    lines = [json.dumps({"ts": v, "request": {"x": 1}}) for v in EPOCHS]
    log = write_lines(tmp_path / "epochs.jsonl", lines)
    bad = expected(lines, lambda line: ts_reason(json.loads(line)["ts"], unit))
    assert "ts out of range" in bad.values()
    assert_every_command_skips(tmp_path, log, bad, "--mapping", mapping)


def test_an_epoch_that_would_wrap_around_64_bits_is_not_read_as_another_time(tmp_path):
    """10**18 s times 10**6 wraps around in 64-bit integers and landed in 1970-ish; it is out of range."""
    mapping = tmp_path / "m.yaml"
    mapping.write_text("ts_unit: s\n")
    log = write_lines(tmp_path / "wrap.jsonl", ['{"ts": 1000000000000000000}', '{"ts": 1795000000}'])
    result = entry_point("report", log, "--mapping", mapping, "--format", "json", "--rejects", tmp_path / "r.jsonl")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["source"]["skipped_by_reason"] == {"ts out of range": 1}
    earliest = EPOCH + timedelta(seconds=1795000000)  # before GOOD's times
    assert document["windows"][0]["start"] == earliest.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert document["source"]["records"] == len(GOOD) + 1
    assert rejects_of(tmp_path / "r.jsonl") == {7: "ts out of range"}


# --- window bounds at the ends of time --------------------------------------------------------

def window_of(ts: datetime, every: timedelta) -> tuple[str, str]:
    """The README's window of ``ts``: whole multiples of ``every`` since the epoch, cut at the years 1 and 9999."""
    step = every // US
    start_us = ((ts - EPOCH) // US) // step * step
    start, end = max(start_us, MIN_US), min(start_us + step, MAX_US)

    def text(us):
        value = EPOCH + timedelta(microseconds=us) if us >= MIN_US else None
        out = f"{value.year:04d}-{value:%m-%dT%H:%M:%S}"
        return out + (f".{value.microsecond:06d}".rstrip("0") if value.microsecond else "") + "Z"
    return text(start), text(end)


@pytest.mark.parametrize("times", [
    ["0001-01-01T00:00:00Z", "0001-01-02T10:00:00Z", "0001-01-09T00:00:00Z"],
    ["9999-12-31T23:59:59.999999Z", "9999-12-30T12:00:00Z", "9999-12-20T00:00:00Z"],
], ids=["year 1", "year 9999"])
@pytest.mark.parametrize("every", ["1h", "7d", "36525d"])
def test_windows_at_the_ends_of_time_are_cut_there_in_every_command(tmp_path, times, every):
    """Issue 11 item 1: a window starting before year 1 (or ending after 9999) had no Python datetime, and
    report, check and replay crashed on the window bounds, not the records."""
    rows = [{"ts": t, "request_id": f"r{i}", "model": "m", "status": 500, "request": {"x": i}}
            for i, t in enumerate(times)]
    log = tmp_path / "ends.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    step = timedelta(hours=1) if every == "1h" else timedelta(days=int(every[:-1]))
    report = invoke("report", log, "--every", every, "--by", "model", "--format", "json")
    assert report.exit_code == 0, report.output
    windows = [(w["start"], w["end"]) for w in json.loads(report.stdout)["windows"] if w["metrics"]["request_count"]]
    stamps = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in times]
    assert windows == sorted({window_of(s, step) for s in stamps})
    for fmt in ("table", "csv", "markdown"):
        result = invoke("report", log, "--every", every, "--format", fmt)
        assert result.exit_code == 0 and result.exception is None, result.output
    (tmp_path / "r.yaml").write_text(f"rules:\n  - name: errors\n    expr: error_rate > 0.5\n    every: {every}\n"
                                     "    by: [model]\n")
    for fmt in ("table", "json", "markdown"):
        check = invoke("check", log, "--rules", tmp_path / "r.yaml", "--format", fmt, "--state", tmp_path / "s.json")
        assert check.exit_code == 1 and isinstance(check.exception, SystemExit), check.output
    replay = invoke("replay", log, "--dry-run", "--model", "m:f", "--alert", "errors", "--rules", tmp_path / "r.yaml")
    assert replay.exit_code == 0 and len(replay.stdout.splitlines()) == len(times), replay.output


def test_windows_at_year_1_through_the_installed_command(tmp_path):
    log = tmp_path / "y1.jsonl"
    log.write_text(json.dumps({"ts": "0001-01-02T00:00:00Z", "latency_ms": 1}) + "\n")
    result = entry_point("report", log, "--every", "7d", "--format", "json")
    assert result.returncode == 0, result.stderr
    window = json.loads(result.stdout)["windows"][0]
    assert (window["start"], window["end"]) == window_of(datetime(1, 1, 2, tzinfo=UTC), timedelta(days=7))
    assert window["start"] == "0001-01-01T00:00:00Z"


# --- smaller: lines that are valid JSON but not objects, and invalid ones that look like it --

NOT_OBJECTS = ["1", "-0.5e3", "true", "false", "null", '"x"', "[1]", "[]", " 7 "]
MALFORMED = ['"path": "/",', "[1,", '"unterminated', "tru", "nul", "1 2", '{"ts": 1} x', "[1]]", "NaN", "0x10"]


def test_scalars_are_not_objects_and_broken_strings_or_arrays_are_malformed(tmp_path):
    """Issue 11 "Smaller": number, true and null lines were "malformed JSON"; issue 16: an invalid line
    starting with '"' or '[' was "not a JSON object", a reason documented for valid JSON only."""
    lines = NOT_OBJECTS + MALFORMED
    log = write_lines(tmp_path / "values.jsonl", lines)
    bad = expected(lines, line_reason)
    assert Counter(bad.values()) == {"not a JSON object": len(NOT_OBJECTS), "malformed JSON": len(MALFORMED)}
    assert_every_command_skips(tmp_path, log, bad)
    # The installed command, with --strict naming the first one.
    result = entry_point("report", log, "--strict")
    assert result.returncode == 2 and f"values.jsonl:{len(GOOD) + 1}: bad log line (not a JSON object)" in result.stderr


# --- smaller: lines nested deeper than json_path_match goes ----------------------------------

def nested(levels: int, inner: str = "", key: str = "trace", ts: str = "2026-11-27T10:00:00Z", **fields) -> str:
    """A record whose ``key`` holds arrays nested so that the line is ``levels`` deep."""
    head = json.dumps({"ts": ts, **fields})[:-1]
    return f'{head}, "{key}": ' + "[" * (levels - 1) + inner + "]" * (levels - 1) + "}"


DEEP = [
    nested(127), nested(128), nested(200, "1"), nested(1024), nested(1025), nested(3000),
    nested(300)[:-1],  # cut short
    nested(300).replace("]]]]", "]],]]", 1),  # a syntax error deep inside
    nested(300, "1,,2"),  # balanced brackets, still malformed
    nested(300, "1e999"),  # a number past the largest float
    nested(300, latency_ms="fast"),
    nested(300, latency_ms="7.5"),
    "[" * 300 + "]" * 300, "[" * 2000 + "]" * 2000, "[" * 300 + "]" * 300 + ', "x": 1',
    "[" * 300 + "]" * 299 + ', "x": [1]]',
    '{"ts": "2026-11-27T10:00:00Z", "deep": ' + '{"a": ' * 500 + "1" + "}" * 500 + "}",
    nested(400, ts="0000-01-01T00:00:00Z"),
]


def deep_reason(text: str) -> str | None:
    reason = line_reason(text)
    if reason is not None:
        return reason
    record = parse(text)
    latency = record.get("latency_ms")
    if isinstance(latency, str):
        try:
            float(latency)
        except ValueError:
            return "wrong type for latency_ms (expected a number)"
    return ts_reason(record["ts"])


def test_lines_nested_deeper_than_127_levels_are_read_up_to_the_parsers_limit(tmp_path):
    """Issue 11 "Smaller": a valid line nested deeper than about 127 levels was "malformed JSON", even under a
    key nothing reads (the whole-file scan read the same line as good when it stood mid-file)."""
    log = write_lines(tmp_path / "deep.jsonl", DEEP)
    bad = expected(DEEP, deep_reason)
    assert Counter(bad.values()) == {"nested too deep": 3, "malformed JSON": 6, "not a JSON object": 1,
                                     "wrong type for latency_ms (expected a number)": 1, "ts out of range": 1}
    assert_every_command_skips(tmp_path, log, bad)
    result = entry_point("report", log, "--format", "json", "--rejects", tmp_path / "e.jsonl")
    assert result.returncode == 0, result.stderr
    assert rejects_of(tmp_path / "e.jsonl") == bad
    # The numeric text on a deep line is read as a number, as on any other line.
    latencies = json.loads(result.stdout)["windows"][0]["metrics"]["latency_max_ms"]
    assert latencies == max(15, 7.5)


def test_a_deep_line_gets_one_verdict_wherever_it_stands_in_a_big_file(tmp_path):
    """The fast whole-file scan reads lines up to 1,024 levels; the line path now agrees, at the head
    (probed) and in the middle (scanned) of a file too big to probe whole."""
    from mlmon.logs.reader import read_logs

    filler = [json.dumps({"ts": "2026-11-27T10:00:00Z", "latency_ms": i % 50}) for i in range(50_000)]
    for line in (nested(200, "1"), nested(1100), nested(200, latency_ms="fast")):
        verdicts = []
        for at in (0, 25_000):
            path = tmp_path / "big.jsonl"
            path.write_text("\n".join(filler[:at] + [line] + filler[at:]) + "\n")
            assert path.stat().st_size > 2 * 1024 * 1024
            data = read_logs([str(path)], fields=["ts", "latency_ms"])
            verdicts.append((data.records.height, data.rejects["reason"].to_list()))
        expect = deep_reason(line)
        assert verdicts[0] == verdicts[1] == (50_000 + (expect is None), [expect] if expect else [])


def test_objects_read_whole_from_deep_lines_keep_their_text(tmp_path):
    """A request with a backslash is taken from the line again; on a line too deep for json_path_match it was
    lost (null), and a replay showed no request."""
    from mlmon.logs.reader import read_logs

    line = '{"ts": "2026-11-27T10:00:00Z", "request": {"path": "C:\\\\temp"}, "trace": ' + "[" * 300 + "]" * 300 + "}"
    path = tmp_path / "deep.jsonl"
    path.write_text(line + "\n")
    data = read_logs([str(path)], fields=["ts", "request"])
    assert json.loads(data.records["request"][0]) == {"path": "C:\\temp"}


@pytest.mark.parametrize("levels", [600, 1000])
def test_replay_shows_a_deep_request_without_a_traceback_or_its_secret(tmp_path, levels):
    """Deep lines are now read, so replay meets requests deeper than Python walks (about 500 levels for the
    redaction, 1,000 for its JSON parser): --dry-run crashed with a RecursionError."""
    line = ('{"ts": "2026-11-27T10:00:00Z", "request": {"api_key": "SECRET-1", "deep": ' + "[" * levels
            + "]" * levels + '}, "response": {"y": 1}}')
    log = tmp_path / "deep.jsonl"
    log.write_text(line + "\n" + line + "\n")
    (tmp_path / "model.py").write_text("def f(request):\n    return {'y': 1}\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    dry = entry_point("replay", log, "--dry-run", "--model", "model:f", env=env)
    assert dry.returncode == 0 and len(dry.stdout.splitlines()) == 2, dry.stderr
    live = entry_point("replay", log, "--model", "model:f", "--format", "json", "-o", tmp_path / "out.jsonl", env=env)
    assert live.returncode == 0, live.stderr
    for text in (dry.stdout, dry.stderr, live.stdout, live.stderr, (tmp_path / "out.jsonl").read_text()):
        assert "SECRET-1" not in text and "Traceback" not in text


# --- smaller: many small files ----------------------------------------------------------------

def _small_files(folder, count: int) -> dict[str, bytes]:
    """``count`` small files of a few lines, good and bad, with the shapes files take: no newline at the end,
    CRLF, blank lines, empty files, a file of bad lines only; one large and one gzip file among them."""
    import gzip

    from conftest import record

    rng = __import__("random").Random(11)
    bad_lines = [b"not json", b'{"ts": "yesterday"}', b"[1, 2]", b"7", b'{"ts": "2026-11-27T10:00:00Z", "status": 2.5}',
                 b'{"latency_ms": 3}', b'{"ts": "0000-01-01T00:00:00Z"}', b'{"ts": 1e18}']
    files = {}
    for n in range(count):
        lines = []
        for i in range(rng.randint(0, 6)):
            if rng.random() < 0.2:
                lines.append(rng.choice(bad_lines))
            elif rng.random() < 0.05:
                lines.append(b"")
            else:
                lines.append(json.dumps(record(f"2026-11-27T{n % 24:02d}:{i:02d}:00Z", request_id=f"{n}-{i}",
                                               model=f"m{n % 3}")).encode())
        end = b"\r\n" if n % 7 == 0 else b"\n"
        data = end.join(lines) + (end if lines and n % 5 else b"")
        if n == count // 2:
            data = b"not json\n" * 3  # bad lines only: a warning
        files[f"f{n:04d}.jsonl"] = data
    files[f"f{count // 3:04d}.jsonl"] = b"".join(json.dumps(record(request_id=f"big{i}", request={"pad": "x" * 900})).encode()
                                                 + b"\n" for i in range(1100))  # over 1 MiB: read alone
    files[f"f{count // 4:04d}.jsonl.gz"] = gzip.compress(files.pop(f"f{count // 4:04d}.jsonl"))
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return files


def _file_oracle(files: dict[str, bytes]) -> tuple[dict[str, int], dict[tuple[str, int], str]]:
    """Good records per file and {(file, line): reason}, line by line in plain Python (README "Bad lines")."""
    import gzip

    from test_one_verdict import oracle_reason

    good, bad = {}, {}
    for name, data in files.items():
        data = gzip.decompress(data) if name.endswith(".gz") else data
        good[name] = 0
        for number, raw in enumerate(data.split(b"\n"), 1):
            reason = oracle_reason(raw[:-1] if raw.endswith(b"\r") else raw)
            if reason == "unparseable ts":  # that oracle predates "ts out of range": times Python cannot hold
                reason = ts_reason(json.loads(raw)["ts"])
            if reason is None:
                good[name] += 1
            elif reason != "blank":
                bad[(name, number)] = reason
    return good, bad


def test_three_hundred_small_files_give_each_files_counts_lines_and_warnings(tmp_path):
    """Issue 11 "Smaller": a 3,000-file input took 31 s (per-file plans); small files are now read together,
    and everything per file (records, bad lines and their numbers, warnings, --strict) is as if read alone."""
    folder = tmp_path / "logs"
    folder.mkdir()
    files = _small_files(folder, 300)
    good, bad = _file_oracle(files)
    assert sum(good.values()) > 500 and len(bad) > 100
    result = invoke("report", folder, "--format", "json", "--rejects", tmp_path / "r.jsonl", "--by", "model")
    assert result.exit_code == 0, result.output
    source = json.loads(result.stdout)["source"]
    assert (source["records"], source["skipped"]) == (sum(good.values()), len(bad))
    listed = {(Path(r["file"]).name, r["line"]): r["reason"] for r in map(json.loads, (tmp_path / "r.jsonl").read_text().splitlines())}
    assert listed == bad
    counts = Counter(name for name, _ in bad)
    warned = sorted(name for name in files if counts[name] > good[name])
    assert sorted(Path(line.split(": ")[2]).name for line in result.stderr.splitlines() if "lines are bad" in line) == warned
    windows = json.loads(result.stdout)["windows"]
    assert sum(w["metrics"]["request_count"] for w in windows) == sum(good.values())
    # --strict names the first bad line of the first file that has one, through the installed command.
    first = min(bad)
    strict = entry_point("report", folder, "--strict")
    assert strict.returncode == 2 and f"{first[0]}:{first[1]}: bad log line ({bad[first]})" in strict.stderr, strict.stderr


def test_small_files_read_together_give_the_records_of_each_read_alone(tmp_path):
    """The same records, in the same order, as reading each file alone: a byte-order mark at a file's start,
    CRLF, a missing last newline and empty files included."""
    from mlmon.logs.reader import read_logs

    rows = [json.dumps({"ts": f"2026-11-27T10:0{i}:00Z", "request_id": str(i), "latency_ms": i,
                        "request": {"path": "C:\\temp" if i % 2 else "x"}}).encode() for i in range(8)]
    contents = [b"\xef\xbb\xbf" + rows[0] + b"\r\n" + rows[1] + b"\r\n", b"", rows[2] + b"\n\n" + rows[3],
                b"garbage\n" + rows[4] + b"\n", b"\n", rows[5] + b"\n" + rows[6] + b"\n" + rows[7]]
    paths = []
    for n, data in enumerate(contents):
        paths.append(str(tmp_path / f"{n}.jsonl"))
        Path(paths[-1]).write_bytes(data)
    fields = ["ts", "request_id", "latency_ms", "request"]
    together = read_logs(paths, fields=fields)
    alone = [read_logs([p], fields=fields) for p in paths if Path(p).stat().st_size > 1]

    def plain(frame):
        return [(r["request_id"], r["latency_ms"], json.loads(r["request"])) for r in frame.iter_rows(named=True)]
    assert plain(together.records) == [row for data in alone for row in plain(data.records)]
    assert together.rejects.select("file", "line", "reason").rows() == [(paths[3], 1, "malformed JSON")]


def test_small_files_whose_lines_cannot_be_told_apart_are_read_one_by_one(tmp_path, monkeypatch):
    """Should the joined lines not add up to the files' lines, each file is read alone: the same result."""
    from mlmon.logs import reader

    paths = []
    for n in range(4):
        paths.append(str(tmp_path / f"{n}.jsonl"))
        Path(paths[-1]).write_text(json.dumps({"ts": f"2026-11-27T10:0{n}:00Z", "request_id": str(n)}) + "\nbad\n")
    together = reader.read_logs(paths)
    monkeypatch.setattr(reader, "decode_small_files", lambda *args: None)
    alone = reader.read_logs(paths)
    assert together.records.equals(alone.records) and together.rejects.equals(alone.rejects)
    assert alone.rejects.select("file", "line").rows() == [(p, 2) for p in paths]
