"""Routing, grouping and repeat timing of the ``notify:`` section, as tables; pure, no I/O.

Expected routes and groups are worked out by hand from Alertmanager's rules (depth-first,
first matching child unless ``continue``, children inherit), not from mlmon's output.
"""

from datetime import UTC, datetime, timedelta

import pytest

from mlmon.errors import ConfigError
from mlmon.notify.config import load_notify
from mlmon.rules.matchers import parse_matcher
from mlmon.notify.payload import notice
from mlmon.notify.plan import plan
from mlmon.notify.routes import groups, match
from mlmon.rules.load import rules_from_text

NOW = datetime(2026, 11, 27, tzinfo=UTC)
H4 = timedelta(hours=4)
RULE = "rules:\n  - name: r\n    expr: error_rate > 0\n"

TREE = RULE + """notify:
  receivers:
    - name: oncall
      webhook: https://am.example/hook
    - name: team-slack
      slack: https://hooks.slack.com/services/T/B/x
    - name: pager
      command: "notify-pager --json"
    - name: fraud-team
      webhook: https://fraud.example/hook
    - name: blackhole
  route:
    receiver: team-slack
    group_by: [alertname, model]
    repeat_interval: 4h
    routes:
      - matchers: ['severity="critical"']
        receiver: pager
        continue: true
      - matchers: ['model=~"fraud|fraud-v2"']
        receiver: fraud-team
        group_by: ['...']
        repeat_interval: 1h
        routes:
          - matchers: ['severity="info"']
            receiver: blackhole
      - matchers: ['team="ml-platform"', 'severity!="info"']
        receiver: oncall
"""
CONFIG = rules_from_text(TREE, "tree.yaml").notify


def labels(rule="r", severity="warning", **more):
    return {"alertname": rule, "severity": severity, **more}


# --- matchers ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, alert, expected", [
    ('severity="critical"', {"severity": "critical"}, True),
    ("severity=critical", {"severity": "critical"}, True),
    ('severity!="critical"', {"severity": "critical"}, False),
    ('severity!="critical"', {}, True),  # a missing label is ""
    ('team=""', {}, True),
    ('model=~"churn|fraud"', {"model": "fraud"}, True),
    ('model=~"churn|fraud"', {"model": "fraud-v2"}, False),  # anchored, as Alertmanager
    ('model!~"churn.*"', {"model": "churn-v2"}, False),
    ('model!~"churn.*"', {"model": "fraud"}, True),
    ('summary="say \\"hi\\""', {"summary": 'say "hi"'}, True),
    ('input.country = "DE"', {"input.country": "DE"}, True),
])
def test_matchers(text, alert, expected):
    assert parse_matcher(text).matches(alert) is expected


# --- routes --------------------------------------------------------------------------------

@pytest.mark.parametrize("alert, expected", [
    # (receiver, group_by, repeat_interval, route key)
    (labels(), [("team-slack", ("alertname", "model"), H4, "{}")]),
    (labels(severity="critical"), [("pager", ("alertname", "model"), H4, '{}/{severity="critical"}')]),
    # continue: true on the critical route lets the fraud route take the alert too.
    (labels(severity="critical", model="fraud"),
     [("pager", ("alertname", "model"), H4, '{}/{severity="critical"}'),
      ("fraud-team", ("...",), timedelta(hours=1), '{}/{model=~"fraud|fraud-v2"}')]),
    # The first matching child without continue stops the search: fraud wins over the team route.
    (labels(model="fraud", team="ml-platform"), [("fraud-team", ("...",), timedelta(hours=1), '{}/{model=~"fraud|fraud-v2"}')]),
    # A grandchild inherits group_by and repeat_interval from its parent.
    (labels(severity="info", model="fraud"),
     [("blackhole", ("...",), timedelta(hours=1), '{}/{model=~"fraud|fraud-v2"}/{severity="info"}')]),
    (labels(team="ml-platform"), [("oncall", ("alertname", "model"), H4, '{}/{team="ml-platform",severity!="info"}')]),
    (labels(severity="info", team="ml-platform"), [("team-slack", ("alertname", "model"), H4, "{}")]),
])
def test_routes(alert, expected):
    found = match(CONFIG.route, alert, timedelta(hours=9))
    assert [(d.receiver, d.group_by, d.repeat_interval, d.route_key) for d in found] == expected


def test_the_top_route_takes_its_repeat_interval_from_the_command_line_when_it_gives_none():
    config = rules_from_text(RULE + "notify:\n  receivers: [{name: a}]\n  route: {receiver: a}\n", "x").notify
    (dest,) = match(config.route, labels(), timedelta(minutes=30))
    assert dest.repeat_interval == timedelta(minutes=30) and dest.group_by == ()


# --- groups --------------------------------------------------------------------------------

def note(rule="r", severity="warning", segment=None, kind="firing", rule_labels=None, starts=NOW):
    doc = {"rule": rule, "severity": severity, "segment": segment or {}, "summary": f"{rule} summary",
           "labels": rule_labels or {}, "active": True, "first_window": "2026-11-26T00:00:00Z"}
    key = f"{rule}{segment or {}}"
    return notice(key, kind, doc, starts.strftime("%Y-%m-%dT%H:%M:%SZ"), (NOW.strftime("%Y-%m-%dT%H:%M:%SZ")))


def test_group_by_puts_alerts_with_the_same_values_in_one_message():
    items = [note("slow", segment={"model": "churn", "v": "1"}), note("slow", segment={"model": "churn", "v": "2"}),
             note("slow", segment={"model": "fraud"}), note("errors", segment={"model": "churn"})]
    found = groups(items, CONFIG.route, H4)
    assert [(g.receiver, g.key, len(g.notices)) for g in found] == [
        ("team-slack", '{}:{alertname="slow", model="churn"}', 2),
        ("fraud-team", '{}/{model=~"fraud|fraud-v2"}:{alertname="slow", model="fraud", severity="warning"}', 1),
        ("team-slack", '{}:{alertname="errors", model="churn"}', 1),
    ]


def test_group_by_nothing_is_one_group_per_route_and_a_missing_label_is_left_out():
    config = rules_from_text(RULE + "notify:\n  receivers: [{name: a}]\n  route:\n    receiver: a\n"
                                    "    group_by: [model]\n", "x").notify
    found = groups([note("a"), note("b"), note("c", segment={"model": "m"})], config.route, H4)
    assert [(g.key, g.labels, len(g.notices)) for g in found] == [("{}:{}", {}, 2), ('{}:{model="m"}', {"model": "m"}, 1)]


# --- plan: when a group is sent ----------------------------------------------------------------

ONE = rules_from_text(RULE + "notify:\n  receivers:\n    - {name: hook, webhook: 'https://h.example/x'}\n"
                             "    - {name: chat, slack: 'https://h.example/s'}\n"
                             "  route:\n    receiver: hook\n    routes:\n      - {matchers: ['severity=\"info\"'], receiver: chat}\n",
                      "one.yaml").notify


def run(items, log, at):
    queued, after = plan(items, ONE, log, at, H4)
    return [(q["receiver"], q["payload"].get("status"), [a["fingerprint"] for a in q["payload"].get("alerts", [])])
            for q in queued], after


def test_a_still_firing_group_is_repeated_only_when_strictly_more_than_repeat_interval_passed():
    a = note("a")
    sent, log = run([a], {}, NOW)
    assert sent == [("hook", "firing", [a.fingerprint])]
    still = note("a", kind="still_firing")
    assert run([still], log, NOW + H4) == ([], log)  # exactly the interval: Alertmanager waits
    sent, after = run([still], log, NOW + H4 + timedelta(seconds=1))
    assert sent == [("hook", "still_firing", [a.fingerprint])]
    assert after[next(iter(after))]["at"] == "2026-11-27T04:00:01Z"


def test_a_new_alert_in_a_group_sends_the_group_again_listing_both():
    a, b = note("a"), note("b")
    _, log = run([a], {}, NOW)
    sent, _ = run([note("a", kind="still_firing"), b], log, NOW + timedelta(minutes=10))
    assert sent == [("hook", "firing", [a.fingerprint, b.fingerprint])]


def test_resolved_alerts_go_with_the_group_and_all_resolved_clears_the_log():
    a, b = note("a"), note("b")
    _, log = run([a, b], {}, NOW)
    sent, log = run([note("a", kind="still_firing"), note("b", kind="resolved")], log, NOW + timedelta(minutes=10))
    assert sent == [("hook", "still_firing", [a.fingerprint, b.fingerprint])]
    sent, log = run([note("a", kind="resolved")], log, NOW + timedelta(minutes=20))
    assert sent == [("hook", "resolved", [a.fingerprint])] and log == {}
    sent, _ = run([note("a")], log, NOW + timedelta(minutes=30))  # fires again: a first message
    assert sent == [("hook", "firing", [a.fingerprint])]


def test_a_receiver_without_send_resolved_gets_no_resolved_alerts():
    i = note("i", severity="info")
    sent, log = run([i], {}, NOW)
    assert sent == [("chat", None, [])]  # Slack gets only its text
    sent, log = run([note("i", severity="info", kind="resolved")], log, NOW + timedelta(minutes=10))
    assert sent == [] and log == {}


def test_a_muted_alert_that_was_sent_is_never_listed_nor_repeated_but_keeps_its_group_for_its_resolved():
    from dataclasses import replace

    a, b = note("a"), note("b")
    _, log = run([a, b], {}, NOW)
    muted_b = replace(note("b", kind="still_firing"), muted=True)
    later = NOW + H4 + timedelta(minutes=1)  # past repeat_interval: only a is repeated
    sent, log = run([note("a", kind="still_firing"), muted_b], log, later)
    assert sent == [("hook", "still_firing", [a.fingerprint])]
    sent, log = run([note("a", kind="resolved"), muted_b], log, later + timedelta(minutes=10))
    assert sent == [("hook", "resolved", [a.fingerprint])]  # a newly resolved; b is muted, not resolved
    assert run([muted_b], log, later + 3 * H4) == ([], log)  # all muted: no repeat, the log is kept
    sent, log = run([note("b", kind="resolved")], log, later + 4 * H4)
    assert sent == [("hook", "resolved", [b.fingerprint])] and log == {}
    # never sent (muted from the start): it keeps no group and sends no resolved
    _, log = run([replace(note("c"), muted=True)], {}, NOW)
    assert log == {} and run([note("c", kind="resolved")], log, NOW + H4) == ([], {})


def test_slack_gets_only_the_text():
    queued, _ = plan([note("i", severity="info")], ONE, {}, NOW, H4)
    assert queued[0]["payload"] == {"text": "🔴 FIRING [info] i: i summary"} and queued[0]["kind"] == "slack"


# --- validation -----------------------------------------------------------------------------------

BAD = RULE + """notify:
  receivers:
    - name: oncall
      webhook: file:///etc/passwd
      sendresolved: true
    - name: oncall
      slack: https://hooks.example/x
      command: cat
    - webhook_configs: [{url: 'https://x.example'}]
  route:
    receiver: on-call
    group_wait: 30s
    group_by: alertname
    repeat_interval: 4 hours
    routes:
      - matchers: ['severity="critical', 'model=~"("']
        continue: yes please
      - 5
  inhibit: []
"""


def test_every_notify_problem_is_listed_at_its_line_and_column():
    with pytest.raises(ConfigError) as info:
        rules_from_text(BAD, "bad.yaml")
    assert info.value.details == [
        "bad.yaml:7:7: notify: webhook: 'file:///…' is not an http or https URL; give an http:// or https:// URL",
        "bad.yaml:8:7: notify: unknown receiver key 'sendresolved'; did you mean 'send_resolved'?",
        "bad.yaml:9:7: notify: receiver 'oncall' is defined twice (first at bad.yaml:6:7)",
        "bad.yaml:11:7: notify: a receiver has one of webhook, slack or command, not slack and command; "
        "define another receiver and route to both with continue: true",
        "bad.yaml:12:7: notify: 'webhook_configs' is not a receiver key: write 'webhook: URL' (one URL per receiver)",
        "bad.yaml:12:7: notify: receiver #3 needs a 'name'",
        "bad.yaml:14:5: notify: unknown receiver 'on-call'; did you mean 'oncall'?",
        "bad.yaml:15:5: notify: 'group_wait' is not a route key: each run sends its groups at once, so there is "
        "nothing to wait for",
        "bad.yaml:16:5: notify: 'group_by' must be a list of label names, such as [alertname, model], or [...]",
        "bad.yaml:17:5: notify: repeat_interval '4 hours' is not a duration. Use a number and a unit, such as 30m, 4h or 1d.",
        "bad.yaml:19:30: notify: matcher 'severity=\"critical': value has no closing double quote",
        "bad.yaml:19:51: notify: matcher 'model=~\"(\"': regex does not compile: missing ) at (",
        "bad.yaml:20:9: notify: 'continue' must be true or false, not 'yes please'",
        "bad.yaml:21:9: notify: a route must be a mapping of keys such as receiver, group_by and routes",
        "bad.yaml:22:3: notify: unknown notify key 'inhibit'",
    ]


def test_a_notify_config_file_of_its_own(tmp_path):
    good = tmp_path / "notify.yaml"
    good.write_text(TREE.split("\n", 3)[3])
    assert load_notify(good).receivers == CONFIG.receivers
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: []\nnotify:\n  receivers: [{name: a}]\n  route: {receiver: b}\n")
    with pytest.raises(ConfigError) as info:
        load_notify(bad)
    assert info.value.details == [f"{bad}:1:1: unknown top-level key 'rules'",
                                  f"{bad}:4:11: notify: unknown receiver 'b'"]


def test_the_example_notify_config_is_valid_and_routes_as_its_comments_say():
    from conftest import ROOT

    config = load_notify(ROOT / "notify.example.yaml")
    assert set(config.receivers) == {"oncall", "team-slack", "pager"}
    assert not config.receivers["team-slack"].send_resolved and config.receivers["oncall"].send_resolved
    found = match(config.route, labels(severity="critical", team="ml-platform"), H4)
    assert [d.receiver for d in found] == ["pager", "oncall"]
    assert [d.receiver for d in match(config.route, labels(severity="info", team="ml-platform"), H4)] == ["team-slack"]


def test_the_notify_package_loads_neither_polars_nor_the_ui():
    import subprocess
    import sys

    code = ("import sys, mlmon.notify.config, mlmon.notify.plan, mlmon.notify.outbox, mlmon.notify.routes; "
            "print(sorted(m for m in ('polars', 'typer', 'rich', 'click') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_rules_validate_lists_notify_problems_and_exits_2(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    mlmon = str(Path(sys.executable).parent / "mlmon")
    proc = subprocess.run([mlmon, "rules", "validate", str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{bad}:14:5: notify: unknown receiver 'on-call'; did you mean 'oncall'?" in proc.stderr.splitlines()
    assert "has 15 problems" in proc.stderr
    good = tmp_path / "good.yaml"
    good.write_text(TREE)
    proc = subprocess.run([mlmon, "rules", "validate", str(good)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == f"{good}: 1 rule, no problems\n"


def test_the_readme_notify_example_is_valid():
    import re

    from conftest import ROOT

    section = (ROOT / "README.md").read_text(encoding="utf-8").split("### Notifications: receivers", 1)[1]
    block = re.search(r"```yaml\n(notify:.*?)```", section, re.S).group(1)
    config = rules_from_text(RULE + block, "README.md").notify
    assert set(config.receivers) == {"oncall", "team-slack", "pager", "nowhere"}
    assert config.receivers["nowhere"].kind is None
