"""``mlmon inspect`` as a table for people (80 columns) and as JSON for programs.

Text from the logs (file names, paths, examples, reasons) is escaped with
:func:`mlmon.safetext.printable`; examples arrive with secrets already redacted.
"""

from __future__ import annotations

import json
import textwrap

from mlmon.inspect import Inspection
from mlmon.safetext import json_safe, printable
from mlmon.timeparse import iso

FORMAT_WORDS = {
    "mlmon": "mlmon's own record shape",
    "unknown": "JSON lines in another shape: a mapping is needed",
    "not JSON lines": "not JSON lines",
    "empty": "no lines",
}
#: The JSON document's version: a key removed or changed in meaning raises it.
SCHEMA_VERSION = 1


def format_words(name: str) -> str:
    return FORMAT_WORDS.get(name, f"the {name} preset's format")


def inspection_dict(result: Inspection) -> dict:
    """The stable JSON document (README "mlmon inspect")."""
    return {
        "version": SCHEMA_VERSION,
        "format": result.format,
        "files": [{"name": name, "format": result.formats[name], "looks_like": result.looks_like.get(name) or None}
                  for name in result.files],
        "read_with": result.read_with,
        "records": result.records,
        "time_range": {"from": iso(result.start), "to": iso(result.end)},
        "bad_lines": {
            "count": result.bad.count,
            "reasons": result.bad.reasons,
            "first": [{"file": f, "line": line, "reason": r} for f, line, r in result.bad.first],
        },
        "sample": {"per_file": result.sample_size, "records": result.sampled},
        "fields": [p.to_dict(result.sampled) for p in result.profile],
        "canonical": {"found": result.found, "missing": result.missing},
        "suggested_mapping": result.suggested_yaml,
        "next": result.next_steps,
        "notes": result.notes,
    }


def render_inspection_json(result: Inspection) -> str:
    return json_safe(json.dumps(inspection_dict(result), indent=2, ensure_ascii=False)) + "\n"


def render_inspection_table(result: Inspection, width: int = 80) -> str:
    width = max(width, 60)
    lines: list[str] = []
    lines += _formats(result, width)
    lines += _counts(result, width)
    if result.profile:
        lines += ["", *_fields(result, width)]
    if result.usable:
        lines += ["", *_canonical(result, width)]
    if result.suggested_yaml:
        lines += ["", "Suggested mapping (mlmon inspect --suggest prints only this):", "",
                  *result.suggested_yaml.rstrip("\n").splitlines()]
    if result.next_steps:
        lines += ["", "Next:"]
        for step in result.next_steps:
            lines += _command(printable(step), width) if step.startswith("mlmon ") else _wrap(f"  {step}", width, 2)
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _wrap(text: str, width: int, indent: int) -> list[str]:
    return textwrap.wrap(text, width=width, subsequent_indent=" " * indent, break_on_hyphens=False,
                         break_long_words=True) or [""]


def _command(text: str, width: int) -> list[str]:
    """A command to copy, in lines of at most ``width`` ending in `` \\`` where it goes on (as a shell reads it)."""
    words, lines, line = text.split(" "), [], "  "
    for word in words:
        if line.strip() and len(line) + 1 + len(word) + 2 > width:
            lines.append(line + " \\")
            line = "    " + word
        else:
            line = f"{line} {word}" if line.strip() else line + word
    return [*lines, line]


def _cut(text: str, width: int, left: bool = False) -> str:
    if len(text) <= width:
        return text
    return "…" + text[-(width - 1):] if left else text[: width - 1] + "…"


def _formats(result: Inspection, width: int) -> list[str]:
    kinds = set(result.formats.values())
    if len(kinds) == 1:
        (kind,) = kinds
        head = [f"Format      {format_words(kind)} ({len(result.files):,} file{'s' if len(result.files) != 1 else ''})"]
    else:
        head = ["Format      by file:"] + [f"  {_cut(printable(name), width - 40, left=True)}: {format_words(kind)}"
                                          for name, kind in result.formats.items()]
    for name, looks in result.looks_like.items():
        if looks:
            head += _wrap(f"  {printable(name)}: {looks}", width, 4)
    return [_cut(line, width) if not line.startswith("  ") else line for line in head]


def _counts(result: Inspection, width: int) -> list[str]:
    lines = [f"Records     {result.records:,} (read with {result.read_with})"]
    if result.start is not None:
        lines.append(f"Time range  {iso(result.start)} to {iso(result.end)}")
    else:
        lines.append("Time range  - (no record with a time)")
    bad = result.bad
    if bad.count:
        reasons = ", ".join(f"{printable(r)} {n:,}" for r, n in bad.reasons.items())
        lines += _wrap(f"Bad lines   {bad.count:,}: {reasons}", width, 12)
        for name, line, reason in bad.first:
            where = _cut(f"{printable(name)}:{line}", 40, left=True)
            lines.append(_cut(f"  {where}  {printable(reason)}", width))
        if bad.count > len(bad.first):
            lines.append("  (list them all with mlmon report LOGS --rejects FILE)")
    else:
        lines.append("Bad lines   0")
    for note in result.notes:
        lines += _wrap(f"Note        {printable(note)}", width, 12)
    return lines


def _kind(profile) -> str:
    if profile.time and profile.kind == "string":
        return "time (ISO)" if profile.time == "ISO-8601" else "time (naive)"
    if profile.time:
        return profile.time
    if profile.kind.startswith("mixed: "):
        return "mixed"
    return profile.kind


def _fields(result: Inspection, width: int) -> list[str]:
    shown = result.sampled
    lines = _wrap(f"Fields of the first {result.sample_size:,} records of each file ({shown:,} records sampled; "
                  "null% counts null or missing):", width, 0)
    path_w = min(max(len(printable(p.name)) for p in result.profile), 30)
    path_w = max(path_w, 4)
    kind_w = 10
    examples_w = max(width - path_w - kind_w - 6 - 3, 10)
    lines.append(f"{'path':<{path_w}} {'type':<{kind_w}} {'null%':>6} examples")
    mixed = []
    for p in result.profile:
        null = f"{100 * (1 - p.present / shown):.1f}" if shown else "-"
        if p.kind == "object":
            examples = f"({p.leaves:,} field{'s' if p.leaves != 1 else ''})"
        else:
            examples = ", ".join(printable(e) for e in p.examples)
        if p.kind.startswith("mixed: "):
            mixed.append(f"{p.name} ({p.kind[7:]})")
        name = _cut(printable(p.name), path_w, left=True)
        lines.append(f"{name:<{path_w}} {_cut(_kind(p), kind_w):<{kind_w}} {null:>6} {_cut(examples, examples_w)}")
    if mixed:
        lines += _wrap("Mixed types: " + "; ".join(printable(m) for m in mixed), width, 2)
    return lines


def _canonical(result: Inspection, width: int) -> list[str]:
    lines = _wrap(f"Canonical fields (README \"Log records\") as read with {result.read_with}:", width, 0)
    for name, where in result.found.items():
        lines.append(_cut(f"  {name:<15}found at {printable(where)}", width))
    for name, cost in result.missing.items():
        lines += _wrap(f"  {name:<15}missing: {cost}", width, 17)
    return lines
