"""Rules files: table tests from tests/data/rules, ``mlmon rules validate``, ``rules schema``, and check on bad rules.

``NAME.good.yaml`` must load without a problem. ``NAME.bad.yaml`` must fail, and every
line of ``NAME.bad.expect`` must appear in one of the problems it reports (positions
included). An ``xfail: REASON`` line at the top of an .expect file marks a known bug.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import DATA, ROOT, record, write_jsonl
from mlmon.cli import app
from mlmon.errors import ConfigError
from mlmon.rules.load import load_rules, rules_from_text
from mlmon.rules.model import RULE_KEYS, SEVERITIES

RULES = DATA / "rules"
GOOD = sorted(RULES.glob("*.good.yaml"))
BAD = sorted(RULES.glob("*.bad.yaml"))
MLMON = str(Path(sys.executable).parent / "mlmon")
runner = CliRunner()


def _expect(path: Path) -> tuple[str | None, list[str]]:
    """(xfail reason or None, expected lines) of a bad file."""
    lines = path.with_suffix(".expect").read_text(encoding="utf-8").splitlines()
    reason = None
    if lines and lines[0].startswith("xfail:"):
        reason = lines.pop(0)[len("xfail:"):].strip()
    return reason, [line for line in lines if line.strip() and not line.startswith("#")]


def _bad_params():
    for path in BAD:
        reason, _ = _expect(path)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        yield pytest.param(path, id=path.name, marks=marks)


CLEAN_BAD = [p for p in BAD if _expect(p)[0] is None]


def load_error(path: Path) -> ConfigError | None:
    """The loader's error for ``path``, its problems named as in the .expect files (bare file name)."""
    cwd = os.getcwd()
    os.chdir(path.parent)
    try:
        load_rules(path.name)
    except ConfigError as exc:
        return exc
    finally:
        os.chdir(cwd)
    return None


def problems(path: Path) -> list[str]:
    """Every problem the loader reports for ``path``."""
    exc = load_error(path)
    return [] if exc is None else (exc.details or [str(exc)])


def run(*args, cwd=None):
    env = {**os.environ, "COLUMNS": "80"}
    env.pop("FORCE_COLOR", None)
    return subprocess.run([MLMON, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def test_the_table_is_there():
    assert len(GOOD) >= 3 and len(BAD) >= 15
    for path in BAD:
        assert path.with_suffix(".expect").exists(), f"{path.name} has no .expect file"
        assert _expect(path)[1], f"{path.name}.expect expects nothing"


@pytest.mark.parametrize("path", GOOD, ids=[p.name for p in GOOD])
def test_good_files_load(path):
    assert problems(path) == []
    ruleset = load_rules(path)
    assert ruleset.rules
    assert len({r.name for r in ruleset.rules}) == len(ruleset.rules)


def test_the_example_rules_file_is_valid():
    ruleset = load_rules(ROOT / "rules.example.yaml")
    assert [r.name for r in ruleset.rules] == ["churn-error-spike", "slow-p95", "latency-tail-ratio", "no-traffic"]
    spike, slow, ratio, silent = ruleset.rules
    assert spike.by == ("model", "model_version") and slow.by == ("model", "model_version")  # list and string forms
    assert (slow.for_windows, slow.keep_firing_for, slow.min_requests) == (2, 1, 100)
    assert spike.labels == {"team": "ml-platform"} and spike.severity == "critical"
    assert ratio.every.total_seconds() == 6 * 3600 and silent.every.total_seconds() == 3600


def test_defaults_and_normalisation():
    rule = rules_from_text("rules:\n  - name: r\n    expr: error_rate > 0\n    labels: {tier: 1, ratio: 0.5}\n").rules[0]
    assert rule.severity == "warning" and rule.every.total_seconds() == 3600
    assert rule.by == () and rule.where is None and rule.summary is None
    assert (rule.for_windows, rule.keep_firing_for, rule.min_requests) == (1, 0, 0)
    assert rule.labels == {"tier": "1", "ratio": "0.5"}  # labels are text for notifications
    full = load_rules(RULES / "full.good.yaml").rules
    assert full[1].by == ("model", "model_version")
    assert full[2].by == ("endpoint", "output.label")


@pytest.mark.parametrize("path", list(_bad_params()))
def test_bad_files_report_what_the_expect_file_says(path):
    _, expected = _expect(path)
    found = problems(path)
    assert found, f"{path.name} loaded without a problem"
    for line in expected:
        assert any(line in p for p in found), f"{line!r} not among:\n" + "\n".join(found)
    for p in found:
        assert p.startswith(path.name), p  # every problem names its file
        assert "Traceback" not in p


def test_positions_are_sorted_and_prefixed_in_every_bad_file():
    for path in CLEAN_BAD:
        found = problems(path)
        positions = []
        for p in found:
            m = re.match(rf"^{re.escape(path.name)}(?::(\d+):(\d+))?: ", p)
            assert m, p
            if m.group(1):
                positions.append((int(m.group(1)), int(m.group(2))))
        assert positions == sorted(positions), path.name


def test_all_problems_are_reported_at_once_sorted_by_line():
    path = RULES / "many-problems.bad.yaml"
    found = problems(path)
    _, expected = _expect(path)
    assert len(found) == len(expected) == 10
    for want, got in zip(expected, found):  # same order: by line, then column
        assert want in got, (want, got)
    lines = [int(p.split(":")[1]) for p in found]
    assert lines == sorted(lines) and len(set(lines)) == 10
    # The top-level key is checked first but listed last, by its line.
    assert found[-1].endswith("unknown top-level key 'extra'")


def test_the_error_summarises_the_count():
    with pytest.raises(ConfigError) as info:
        load_rules(RULES / "many-problems.bad.yaml")
    assert "has 10 problems" in info.value.message
    assert "mlmon rules validate" in str(info.value)
    with pytest.raises(ConfigError) as info:
        rules_from_text("rules:\n  - name: r\n    expr: error_rate >\n", "one.yaml")
    assert info.value.message == "rules file one.yaml has 1 problem"
    assert info.value.details == ["one.yaml:3:23: rule \"r\": expr does not parse: expected a value but found the end"]


def test_a_rule_with_a_problem_does_not_hide_problems_in_other_rules():
    text = "rules:\n  - name: a\n    expr: nope > 1\n  - name: b\n    expr: error_rate > 1\n    every: never\n"
    with pytest.raises(ConfigError) as info:
        rules_from_text(text, "r.yaml")
    assert info.value.details == [
        "r.yaml:3:11: rule \"a\": unknown metric 'nope'",
        "r.yaml:6:5: rule \"b\": every 'never' is not a duration. Use a number and a unit, such as 30s, 5m, 1h, 1d or 1h30m.",
    ]


# --- the command line ----------------------------------------------------------------


def test_validate_lists_every_problem_on_stderr_and_exits_2():
    names = ["minimal.good.yaml", *(p.name for p in CLEAN_BAD)]
    proc = run("rules", "validate", *names, cwd=RULES)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    # The good file still gets its OK line (singular "rule"); each bad one its problems, then one
    # "mlmon: error:" line that sums them up (README, `mlmon rules validate broken.yaml`).
    assert proc.stdout.splitlines() == ["minimal.good.yaml: 1 rule, no problems"]
    expected = [line for path in CLEAN_BAD for line in validate_stderr(path)]
    assert proc.stderr.splitlines() == expected
    for line in proc.stderr.splitlines():
        problem = line.removeprefix("mlmon: error: ")
        assert re.match(r'^([\w.-]+\.bad\.yaml(:\d+:\d+)?: (rule "[^"]+": )?\S|rules file \S+ has \d+ problem)', problem), line


def validate_stderr(path: Path) -> list[str]:
    """What ``mlmon rules validate`` prints on stderr for one bad file: its problems, then the summary."""
    exc = load_error(path)
    if exc is None:
        raise AssertionError(f"{path.name} loaded without a problem")
    return [*exc.details, f"mlmon: error: {exc}"]


def test_validate_on_clean_files_prints_one_ok_line_each_and_exits_0():
    proc = run("rules", "validate", str(ROOT / "rules.example.yaml"), *map(str, GOOD))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert lines[0] == f"{ROOT / 'rules.example.yaml'}: 4 rules, no problems"
    assert len(lines) == 1 + len(GOOD)
    for path, line in zip(GOOD, lines[1:]):
        n = len(load_rules(path).rules)
        assert line == f"{path}: {n} rule{'s' if n != 1 else ''}, no problems"


def test_validate_a_missing_file():
    result = runner.invoke(app, ["rules", "validate", str(RULES / "nope.yaml")])
    assert result.exit_code == 2
    assert "nope.yaml does not exist" in result.stderr


@pytest.fixture(scope="module")
def tiny_log(tmp_path_factory):
    return write_jsonl(tmp_path_factory.mktemp("logs") / "x.jsonl", [record()])


def test_check_with_a_broken_rules_file_exits_2_never_1(tiny_log):
    proc = run("check", str(tiny_log), "--rules", "many-problems.bad.yaml", cwd=RULES)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[:-1] == problems(RULES / "many-problems.bad.yaml")
    assert lines[-1].startswith("mlmon: error: rules file many-problems.bad.yaml has 10 problems")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("path", CLEAN_BAD, ids=[p.name for p in CLEAN_BAD])
def test_check_rejects_every_bad_file_with_exit_2(path, tiny_log):
    result = runner.invoke(app, ["check", str(tiny_log), "--rules", str(path)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "mlmon: error:" in result.stderr
    assert result.stdout == ""


def test_check_with_a_missing_rules_file_exits_2(tiny_log, tmp_path):
    result = runner.invoke(app, ["check", str(tiny_log), "--rules", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2
    assert "missing.yaml does not exist" in result.stderr


def test_schema_matches_the_loader():
    result = runner.invoke(app, ["rules", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["required"] == ["rules"] and schema["additionalProperties"] is False
    item = schema["properties"]["rules"]["items"]
    assert tuple(item["properties"]) == RULE_KEYS
    assert item["required"] == ["name", "expr"]
    assert item["additionalProperties"] is False
    assert item["properties"]["severity"]["enum"] == list(SEVERITIES)
    assert item["properties"]["severity"]["default"] == "warning"
    assert all(p.get("description") for p in item["properties"].values())
    # Every key the example and the good files use is in the schema.
    import yaml

    for path in [ROOT / "rules.example.yaml", *GOOD]:
        for rule in yaml.safe_load(path.read_text())["rules"]:
            assert set(rule) <= set(item["properties"]), path.name
    # The duration pattern agrees with the loader on a few spellings (tests/test_rules_schema.py has more).
    pattern = re.compile(item["properties"]["every"]["pattern"])
    for text in ("5m", "1h30m", "1d", "1500ms", "1h 30m", "1H"):
        assert pattern.match(text)
        rules_from_text(f"rules:\n  - name: r\n    expr: error_rate > 0\n    every: {text}\n")
    for text in ("1hour", "h", "5"):
        assert not pattern.match(text)


def test_validate_checks_notify_configs_and_rule_test_files_as_what_they_are(tmp_path):
    """The three alerting files, told apart by their top level; each clean one gets its own verdict (exit 0)."""
    proc = subprocess.run([MLMON, "rules", "validate", "rules.example.yaml", "notify.example.yaml",
                           "rules.example.test.yaml"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    receivers = len(__import__("yaml").safe_load((ROOT / "notify.example.yaml").read_text())["notify"]["receivers"])
    assert proc.stdout.splitlines() == [
        "rules.example.yaml: 4 rules, no problems",
        f"notify.example.yaml: notify config, {receivers} receivers, no problems",
        "rules.example.test.yaml: rule test file, 5 tests, no problems",
    ]


def test_validate_lists_every_problem_of_a_bad_notify_config_and_test_file(tmp_path):
    notify = tmp_path / "notify.yaml"
    notify.write_text("notify:\n  receivers: [{name: a, webhok: x}]\n  route: {receiver: b}\n")
    tests = tmp_path / "rules.test.yaml"
    tests.write_text("rule_files: [nope.yaml]\ntests: [{name: x, bogus: 1}]\n")
    result = CliRunner().invoke(app, ["rules", "validate", str(notify), str(tests)])
    assert result.exit_code == 2
    assert f"{notify}:2:25: notify: unknown receiver key 'webhok'; did you mean 'webhook'?" in result.stderr
    assert f"{notify}:3:11: notify: unknown receiver 'b'" in result.stderr
    assert f"{tests}:1:14: rules file" in result.stderr and "does not exist" in result.stderr
    assert f"{tests}:2:19: test \"x\": unknown key 'bogus'" in result.stderr
    assert "Traceback" not in result.stderr


def test_rule_labels_no_receiver_can_take_are_refused_at_their_line_and_column():
    text = ("rules:\n  - name: errors\n    expr: error_rate > 0.5\n    by: [model, input.country]\n"
            "    labels: {\"bad-name\": 1, \"\": e, \"1x\": y, model: fixed, alertname: other, team: ml}\n")
    with pytest.raises(ConfigError) as info:
        rules_from_text(text, "r.yaml")
    name = "is not a Prometheus label name: letters, digits and '_', not starting with a digit (such as team or on_call)"
    assert info.value.details == [
        f"r.yaml:5:14: rule \"errors\": label name 'bad-name' {name}",
        f"r.yaml:5:29: rule \"errors\": label name '' {name}",
        f"r.yaml:5:36: rule \"errors\": label name '1x' {name}",
        "r.yaml:5:45: rule \"errors\": label 'model' is also a 'by' field, whose value each segment gives; drop it "
        "from labels or from by",
        "r.yaml:5:59: rule \"errors\": labels.alertname cannot be set: an alert's alertname is its rule's name; "
        "rename the rule, or use another label",
    ]


@pytest.mark.parametrize("text, kind", [
    ("notify:\n  receivers: [\n", "notify config"),
    ("rule_files: [r.yaml]\ntests:\n  - interval: 1m\n   bad: [\n", "rule test file"),
    ("rules:\n  - name: [\n", "rules file"),
])
def test_a_file_that_is_not_yaml_is_named_as_what_its_top_level_says(tmp_path, kind, text):
    path = tmp_path / "f.yaml"
    path.write_text(text)
    result = runner.invoke(app, ["rules", "validate", str(path)])
    assert result.exit_code == 2
    assert f"{kind} is not valid YAML" in result.output, result.output


def test_a_file_is_told_apart_by_its_top_level_keys_quoted_or_not(tmp_path):
    from mlmon.rules.validate import file_kind

    cases = {"a.yaml": '"tests": []\nrule_files: []\n', "b.yaml": "'notify':\n  route: {}\n",
             "c.yaml": "rules:\n  - name: x\n    tests: 1\n", "d.yaml": "{notify: {}}\n", "e.yaml": "  notify: 1\n"}
    kinds = {}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        kinds[name] = file_kind(tmp_path / name)
    # a flow mapping or an indented key is not a top-level line: read as a rules file, whose loader says what is wrong
    assert kinds == {"a.yaml": "test", "b.yaml": "notify", "c.yaml": "rules", "d.yaml": "rules", "e.yaml": "rules"}
    assert file_kind(tmp_path / "missing.yaml") == "rules"
