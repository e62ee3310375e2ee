"""``mlmon rules test``'s outputs: a line per test and per difference, or one JSON document."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mlmon.render.escape import json_safe, printable
from mlmon.rules.testfile import TestResult
from mlmon.timeparse import iso


@dataclass
class FileOutcome:
    """One test file: its results, or the problems that kept it from running."""

    path: str
    results: list[TestResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    error: str | None = None


def counts(files: list[FileOutcome]) -> tuple[int, int]:
    """Tests run and tests failed."""
    results = [r for f in files for r in f.results]
    return len(results), sum(not r.passed for r in results)


def render_text(files: list[FileOutcome]) -> str:
    """``PASS``/``FAIL`` and the test's name, each difference on its own line, then a total."""
    lines = []
    for f in files:
        if f.error is not None:
            n = len(f.problems)
            why = f"{n} problem{'s' if n != 1 else ''}, listed on stderr" if n else "could not run, see stderr"
            lines.append(f"ERROR {printable(f.path)}: {why}")
            continue
        for r in f.results:
            lines.append(f"{'PASS' if r.passed else 'FAIL'}  {printable(f.path)}: {printable(r.test.name)}")
            lines.extend(f"  {d.where}: {d.message}" for d in r.differences)
    total, failed = counts(files)
    broken = sum(f.error is not None for f in files)
    summary = f"{total} test{'s' if total != 1 else ''}: {total - failed} passed, {failed} failed"
    if broken:
        summary += f"; {broken} file{'s' if broken != 1 else ''} could not run"
    return "\n".join([*lines, summary]) + "\n"


def render_json(files: list[FileOutcome]) -> str:
    """The stable document: status (pass, fail or error), totals, and each file's tests and differences."""
    total, failed = counts(files)
    broken = any(f.error is not None for f in files)
    doc = {
        "status": "error" if broken else "fail" if failed else "pass",
        "tests": total,
        "passed": total - failed,
        "failed": failed,
        "files": [
            {"file": f.path, "error": f.error, "problems": f.problems, "tests": []} if f.error is not None
            else result_dict(f.path, f.results)
            for f in files
        ],
    }
    return json_safe(json.dumps(doc, indent=2, ensure_ascii=False)) + "\n"


def result_dict(path: str, results: list[TestResult]) -> dict[str, Any]:
    """One test file's results as the stable ``--format json`` object (see README)."""
    return {
        "file": path,
        "error": None,
        "problems": [],
        "tests": [
            {
                "name": r.test.name,
                "status": "pass" if r.passed else "fail",
                "differences": [
                    {
                        "kind": d.kind,
                        "where": d.where,
                        "at": d.at,
                        "time": iso(d.time),
                        "alertname": d.alert.alertname,
                        "labels": d.alert.labels,
                        "state": d.alert.state,
                        "found_state": d.found_state,
                        "message": d.message,
                    }
                    for d in r.differences
                ],
            }
            for r in results
        ],
    }
