"""Parse and validate a rules file: every problem at once, each as ``file:line:col: rule "name": message``."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from mlmon.errors import ConfigError, UsageError
from mlmon.expr import ExprError, Node, compile_expr, is_boolean, names, parse
from mlmon.logs.mapping import CANONICAL_FIELDS, INPUT_PREFIX, OUTPUT_PREFIX
from mlmon.metrics.catalog import METRICS_BY_NAME
from mlmon.notify.config import notify_from_doc
from mlmon.report import check_segment_fields
from mlmon.rules.identity import ALERTNAME, SEVERITY
from mlmon.rules.inhibit import inhibit_from_doc
from mlmon.rules.model import (
    ANNOTATION_NAME_PATTERN,
    DURATION_PATTERN,
    FIELDS_BY_NAME,
    LABEL_NAME_PATTERN,
    MIN_EVERY,
    NONBLANK_PATTERN,
    RULE_FIELDS,
    RULE_KEYS,
    SEVERITIES,
    Rule,
    RuleSet,
    integer_minimum,
)
from mlmon.rules.template import Template, parse_template
from mlmon.timeparse import format_duration, parse_duration
from mlmon.where import record_field_problem
from mlmon.yamlfile import (
    Located,
    did_you_mean,
    load_yaml,
    parse_yaml,
    problem_position,
)

#: mlmon's own placeholders, beside the segment fields and metric names.
TEMPLATE_NAMES = ("value", "rule", "severity", "window_start", "window_end")
#: The sections of a rules file.
TOP_LEVEL_KEYS = ("rules", "inhibit", "notify")


#: Metrics computed with --baseline or --labels, whole-window ones and per-field prefixes (``psi.income``).
WINDOW_METRICS = ("drift_share", "duplicate_request_id_rate", "schema_fields_added", "schema_fields_removed",
                  "label_coverage", "accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "mae", "rmse", "mape")
FIELD_METRICS = ("psi", "ks", "ks_pvalue", "wasserstein_norm", "chi2_pvalue", "js", "new_category_rate", "null_rate",
                 "type_violation_rate", "out_of_range_rate", "drifted")


def known_metrics() -> tuple[str, ...]:
    return tuple(METRICS_BY_NAME) + WINDOW_METRICS


def is_field_metric(name: str) -> bool:
    """``psi.income``, ``null_rate.output.label``: a per-field metric, whatever the field."""
    prefix, dot, rest = name.partition(".")
    return bool(dot and rest) and prefix in FIELD_METRICS


def _metric_problem(name: str, known: tuple[str, ...], what: str) -> str | None:
    """Why a rule's ``expr`` cannot use ``name``, or None for a metric (or a segment field it was given)."""
    if name in known or is_field_metric(name):
        return None
    if name in CANONICAL_FIELDS or name.startswith((INPUT_PREFIX, OUTPUT_PREFIX)):
        return (f"unknown metric {name!r}: a record field can be used in 'expr' only when it is "
                f"in the rule's 'by' (or filter on it with 'where')")
    choices = known + tuple(f + ".FIELD" for f in FIELD_METRICS)
    return f"unknown {what} {name!r}{did_you_mean(name, choices)}"


class _Checker:
    def __init__(self, doc: Located):
        self.doc = doc
        self.problems: list[str] = []

    def add(self, where: str, rule: str | None, message: str) -> None:
        prefix = f'rule "{rule}": ' if rule else ""
        self.problems.append(f"{where}: {prefix}{message}")

    def expression(self, keys: tuple, rule: str, text: Any, known: tuple[str, ...] | None, what: str) -> Node | None:
        if not isinstance(text, str) or not re.search(NONBLANK_PATTERN, text):
            self.add(self.doc.where(*keys), rule, f"{keys[-1]!r} must be a non-empty string holding an expression")
            return None
        try:
            node = parse(text)
            compile_expr(node, {})
        except ExprError as exc:
            self.add(self.doc.where_in_value(keys, exc.col), rule, f"{keys[-1]} does not parse: {exc}")
            return None
        ok = True
        for name in names(node):
            if known is None:
                message = record_field_problem(name.name, "'where'", "use it in 'expr'")
            else:
                message = _metric_problem(name.name, known, what)
            if message is not None:
                self.add(self.doc.where_in_value(keys, name.col), rule, message)
                ok = False
        if ok and not is_boolean(node):
            self.add(self.doc.where(*keys), rule, f"{keys[-1]} must be a condition (a comparison, and/or/not)")
            return None
        return node if ok else None


def rules_from_doc(doc: Located, metrics: tuple[str, ...] | None = None) -> RuleSet:
    """Validate a parsed rules document; raise ConfigError listing every problem."""
    metrics = metrics or known_metrics()
    check = _Checker(doc)
    data = doc.data
    if not isinstance(data, dict) or "rules" not in data:
        near = did_you_mean(next(iter(data), ""), ("rules",)) if isinstance(data, dict) and data else ""
        where = doc.where(next(iter(data))) if near else doc.where()
        raise ConfigError(f"{where}: a rules file needs a top-level 'rules:' list{near}", "See rules.example.yaml.")
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            check.add(doc.where(key), None, f"unknown top-level key {key!r}{did_you_mean(str(key), TOP_LEVEL_KEYS)}")
    items = data["rules"]
    if not isinstance(items, list):
        raise ConfigError(f"{doc.where('rules')}: 'rules' must be a list of rules", "Start each rule with '- name: ...'.")
    if not items:
        raise ConfigError(f"{doc.where('rules')}: the rules list is empty, so nothing would ever be checked",
                          "Add a rule, or remove the file from the job.")
    for path, line, col in doc.duplicates:
        rule_name = None
        if len(path) >= 3 and path[0] == "rules" and isinstance(path[1], int) and isinstance(items[path[1]], dict):
            rule_name = items[path[1]].get("name") or f"#{path[1] + 1}"
        check.add(f"{doc.path}:{line}:{col}", rule_name, f"key {path[-1]!r} is given twice; only the last one would count")
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for i, item in enumerate(items):
        rule = _one_rule(check, i, item, metrics, seen)
        if rule is not None:
            rules.append(rule)
    notify = notify_from_doc(doc, check.problems) if "notify" in data else None
    names = [item["name"] for item in items if isinstance(item, dict) and isinstance(item.get("name"), str)]
    inhibit = inhibit_from_doc(doc, lambda where, message: check.add(where, None, message), names)
    if check.problems:
        check.problems.sort(key=problem_position)
        n = len(check.problems)
        raise ConfigError(
            f"rules file {doc.path} has {n} problem{'s' if n > 1 else ''}",
            "Fix the lines listed above; 'mlmon rules validate' checks a file.",
            details=check.problems,
        )
    return RuleSet(doc.path, tuple(rules), inhibit, notify)


def _one_rule(check: _Checker, i: int, item: Any, metrics: tuple[str, ...], seen: dict[str, str]) -> Rule | None:
    doc = check.doc
    base = ("rules", i)
    if not isinstance(item, dict):
        check.add(doc.where(*base), None, f"rule #{i + 1} must be a mapping of keys such as name and expr")
        return None
    name = item.get("name")
    label = name if isinstance(name, str) and name else f"#{i + 1}"
    before = len(check.problems)
    for key in item:
        if key not in RULE_KEYS:
            check.add(doc.where(*base, key), label, f"unknown key {key!r}{did_you_mean(str(key), RULE_KEYS)}")
    for spec in RULE_FIELDS:
        if spec.required and spec.name not in item:
            check.add(doc.where(*base), label, f"missing required key {spec.name!r}")
    if "name" in item:
        if not isinstance(name, str) or not re.search(NONBLANK_PATTERN, name):
            check.add(doc.where(*base, "name"), label, "'name' must be a non-empty string")
        elif name in seen:
            check.add(doc.where(*base, "name"), label, f"duplicate rule name (first defined at {seen[name]})")
        else:
            seen[name] = doc.where(*base, "name")

    def typed(key: str, kind: type | tuple, what: str):
        value = item.get(key)
        if key in item and (not isinstance(value, kind) or isinstance(value, bool) and kind is not bool):
            kind_name = {str: "text", int: "a whole number", float: "a number", bool: "true/false", list: "a list",
                         dict: "a mapping", type(None): "empty"}.get(type(value), type(value).__name__)
            check.add(doc.where(*base, key), label, f"{key!r} must be {what}, not {kind_name}")
            return None
        return value

    typed("description", str, "a string")
    typed("summary", str, "a string")
    labels = typed("labels", dict, "a mapping of names to strings or numbers") or {}
    for k, v in labels.items():
        if not isinstance(v, (str, int, float)) or isinstance(v, bool):
            check.add(doc.where(*base, "labels", k), label, f"label {k!r} must be a plain value: text or a number")
    severity = _severity(check, base, label, item, labels)
    every = _every(check, base, label, item.get("every", "1h"))
    by_value = item.get("by", [])
    by: tuple[str, ...] = ()
    if isinstance(by_value, str):
        by_value = [p.strip() for p in by_value.split(",") if p.strip()]
    if not isinstance(by_value, list) or not all(isinstance(b, str) for b in by_value):
        check.add(doc.where(*base, "by"), label, "'by' must be a list of field names or a comma-separated string")
    else:
        if len(set(by_value)) != len(by_value):
            check.add(doc.where(*base, "by"), label, "'by' names a field twice")
        else:
            try:
                by = check_segment_fields(by_value)
            except UsageError as exc:
                check.add(doc.where(*base, "by"), label, str(exc))
    _label_names(check, base, label, labels, by)
    ints = {}
    for key in ("min_requests", "for", "keep_firing_for"):
        raw = item.get(key)
        low = integer_minimum(FIELDS_BY_NAME[key].schema)
        if key != "min_requests" and isinstance(raw, str) and re.fullmatch(DURATION_PATTERN, raw):
            ints[key] = _window_count(check, base, label, key, raw, every, item.get("every", "1h"), low)
            continue
        if isinstance(raw, float) and raw.is_integer():
            value = int(raw)  # 2.0 is a whole number, as JSON Schema's "integer" says
        else:
            value = typed(key, int, "a whole number" if key == "min_requests" else
                          "a whole number of windows or a duration such as 5m")
        if value is not None and value < low:
            check.add(doc.where(*base, key), label, f"{key!r} must be at least {low}")
        ints[key] = value
    annotations = typed("annotations", dict, "a mapping of annotation names to templated text") or {}
    label_names = {ALERTNAME, SEVERITY, *by, *(str(k) for k in labels)}
    templates, summary_positions = _templates(check, base, label, item, annotations, set(metrics) | set(by), by,
                                              label_names)
    # A rule's expression reads metric names and the rule's own segment fields.
    known = tuple(metrics) + tuple(by)
    expr = check.expression(base + ("expr",), label, item.get("expr"), known, "metric") if "expr" in item else None
    where = check.expression(base + ("where",), label, item.get("where"), None, "record field") if "where" in item else None
    if len(check.problems) > before or expr is None or every is None:
        return None
    positions: dict[str, str] = {}
    for used in names(expr):
        positions.setdefault(used.name, doc.where_in_value(base + ("expr",), used.col))
    return Rule(
        name=name,
        expr_text=item["expr"],
        expr=expr,
        every=every,
        severity=severity,
        by=by,
        where_text=item.get("where"),
        where=where,
        min_requests=ints["min_requests"] or 0,
        for_windows=ints["for"] or 1,
        keep_firing_for=ints["keep_firing_for"] or 0,
        labels={str(k): str(v) for k, v in labels.items()},
        summary=templates["summary"].text if "summary" in templates else None,
        description=templates["description"].text if "description" in templates else "",
        annotations={key: t.text for key, t in templates.items()},
        templates=templates,
        expr_positions=positions,
        summary_positions=summary_positions,
        by_position=doc.where(*base, "by") if "by" in item else "",
        for_position=doc.where(*base, "for") if "for" in item else "",
        every_position=doc.where(*base, "every"),
    )


def _label_names(check: _Checker, base: tuple, label: str, labels: dict, by: tuple[str, ...]) -> None:
    """Refuse a rule label no receiver can take (not a Prometheus label name), one that would be ignored
    (``alertname``, the rule's name), and one a ``by`` field already gives (the segment's value, which the
    fingerprint uses)."""
    for k in labels:
        where = check.doc.where(*base, "labels", k)
        if not isinstance(k, str) or not re.fullmatch(LABEL_NAME_PATTERN, k):
            check.add(where, label, f"label name {str(k)!r} is not a Prometheus label name: letters, digits and "
                                    "'_', not starting with a digit (such as team or on_call)")
        elif k == ALERTNAME:
            check.add(where, label, "labels.alertname cannot be set: an alert's alertname is its rule's name; "
                                    "rename the rule, or use another label")
        elif k in by:
            check.add(where, label, f"label {k!r} is also a 'by' field, whose value each segment gives; drop it "
                                    "from labels or from by")


def _severity(check: _Checker, base: tuple, label: str, item: dict, labels: dict) -> str:
    """The rule's severity: its ``severity`` key, else its ``labels.severity`` (as Prometheus users write it), else
    warning; the two keys disagreeing is a problem at the label."""
    where = check.doc.where
    severity = item.get("severity")
    if "severity" in item and severity not in SEVERITIES:
        check.add(where(*base, "severity"), label, f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
    if SEVERITY not in labels:
        return severity if "severity" in item else "warning"
    given = labels[SEVERITY]
    if "severity" in item:
        if str(given) != str(severity):
            check.add(where(*base, "labels", SEVERITY), label,
                      f"labels.severity {given!r} disagrees with severity {severity!r}; give the severity once")
    elif given not in SEVERITIES:
        check.add(where(*base, "labels", SEVERITY), label,
                  f"labels.severity is the rule's severity, so it must be one of {', '.join(SEVERITIES)}, not {given!r}")
    return severity if "severity" in item else given


#: Placeholders that print text, which no filter can read as a number.
_TEXT_PLACEHOLDERS = ("rule", "severity", "window_start", "window_end")


def _templates(check: _Checker, base: tuple, label: str, item: dict, annotations: dict, names: set[str],
               by: tuple[str, ...], label_names: set[str]) -> tuple[dict[str, Template], dict[str, str]]:
    """Each annotation's parsed template (``summary`` and ``description`` from either spelling), and the
    ``file:line:col`` of each metric they name; every problem in them is added at its column."""
    doc = check.doc
    sources: dict[str, tuple[tuple, str, str]] = {}  # name: (key path, how messages name it, text)
    for key in ("summary", "description"):
        if isinstance(item.get(key), str) and item[key]:
            sources[key] = (base + (key,), key, item[key])
    for name, text in annotations.items():
        keys = base + ("annotations", name)
        if not isinstance(name, str) or not re.fullmatch(ANNOTATION_NAME_PATTERN, name):
            check.add(doc.where(*keys), label, f"annotation name {name!r} must be letters, digits and '_', "
                                               f"not starting with a digit (such as runbook_url)")
        elif not isinstance(text, str):
            check.add(doc.where(*keys), label, f"annotation {name!r} must be text")
        elif name in sources:
            check.add(doc.where(*keys), label, f"{name!r} is given both as a key of the rule "
                                               f"(at {doc.where(*sources[name][0])}) and in annotations; keep one")
        elif text:
            sources[name] = (keys, f"annotations.{name}", text)
    templates: dict[str, Template] = {}
    positions: dict[str, str] = {}
    allowed = set(TEMPLATE_NAMES) | names
    for name, (keys, what, text) in sources.items():
        template, problems = parse_template(text)
        for problem in problems:
            check.add(doc.where_in_value(keys, problem.col), label, f"{what}: {problem.message}")
        for ref, filtered in template.refs():
            where = doc.where_in_value(keys, ref.col)
            if ref.kind == "label" and ref.name not in label_names:
                known = sorted(label_names)
                check.add(where, label, f"{what}: label {ref.name!r} is not one of the rule's labels "
                                        f"({', '.join(known)}){did_you_mean(ref.name, known)}")
            elif ref.kind == "name" and not (ref.name in allowed or is_field_metric(ref.name)):
                check.add(where, label, f"unknown placeholder {{{{ {ref.name} }}}} in {what}"
                                        f"{did_you_mean(ref.name, tuple(sorted(allowed)))}")
            elif filtered and (ref.kind == "name" and ref.name in _TEXT_PLACEHOLDERS
                               or ref.kind == "label" and ref.name in (ALERTNAME, SEVERITY)):
                check.add(where, label, f"{what}: {filtered} needs a number, and {ref.name} is text")
            elif ref.kind == "name" and ref.name not in TEMPLATE_NAMES and ref.name not in by:
                positions.setdefault(ref.name, where)  # any metric name an expr accepts
        templates[name] = template
    return templates, positions


def _every(check: _Checker, base: tuple, label: str, text: Any) -> timedelta | None:
    """A rule's window: a duration as DURATION_PATTERN spells it, and at least MIN_EVERY."""
    where = check.doc.where(*base, "every")
    if not isinstance(text, str):
        check.add(where, label, "'every' must be a duration such as 5m or 1h")
        return None
    if not re.fullmatch(DURATION_PATTERN, text):
        check.add(where, label, f"every {text!r} is not a duration. Use a number and a unit, such as 30s, 5m, 1h, 1d or 1h30m.")
        return None
    try:
        every = parse_duration(text, what="every")
    except UsageError as exc:
        check.add(where, label, str(exc))
        return None
    if every < MIN_EVERY:
        typo = f"; did you mean {text.strip()[:-1]!r}?" if text.strip().lower().endswith("ms") else ""
        check.add(where, label, f"every {text!r} is shorter than {format_duration(MIN_EVERY)}, the shortest window a rule "
                                f"may use{typo}")
        return None
    return every


def _window_count(check: _Checker, base: tuple, label: str, key: str, text: str, every: timedelta | None,
                  every_text: Any, low: int) -> int | None:
    """``for: 5m`` or ``keep_firing_for: 10m`` (``text`` matches DURATION_PATTERN) as a count of ``every``
    windows: a whole multiple of ``every``, at least ``low`` windows. Problems are reported at the value."""
    where = check.doc.where_in_value(base + (key,), 1)
    shown = text.strip()
    if not any(float(n) for n in re.findall(r"[0-9]+(?:\.[0-9]+)?", text)):
        duration = timedelta(0)  # 0m: no window, refused below as 'for: 0' is
    else:
        try:
            duration = parse_duration(text, what=key)
        except UsageError as exc:  # longer than mlmon takes
            check.add(where, label, str(exc))
            return None
    if every is None:  # 'every' has its own problem: no multiple to check
        return None
    if duration % every:
        check.add(where, label, f"{key} {shown} is not a multiple of every {str(every_text).strip()}")
        return None
    count = duration // every
    if count < low:
        check.add(where, label, f"{key!r} must be at least {low} window: {shown} is {count} windows of every "
                                f"{str(every_text).strip()}")
        return None
    return count


def load_rules(path: str | Path) -> RuleSet:
    """The validated rules of a YAML file; ConfigError lists every problem with its line."""
    return rules_from_doc(load_yaml(path, "rules file"))


def rules_from_text(text: str, name: str = "<rules>") -> RuleSet:
    return rules_from_doc(parse_yaml(text, name, "rules file"))
