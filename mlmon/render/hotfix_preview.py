"""``mlmon replay --hotfix``: the preview of a hot-fix file, for people (a table) and machines (JSON)."""

from __future__ import annotations

import json

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from mlmon.numbers import json_data, machine_numbers
from mlmon.render.console import rendered, text_console
from mlmon.render.escape import json_safe, printable
from mlmon.replay.compare import side_by_side
from mlmon.replay.hotfix_preview import HotfixPreview, preview_document


def _segments(counts, most: int = 3) -> str:
    top = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    text = ", ".join(f"{'/'.join(str(p) for p in key)} {n:,}" for key, n in top[:most])
    return text + (f", {len(top) - most:,} more" if len(top) > most else "")


def render_preview_table(preview: HotfixPreview, width: int = 100, color: bool = False, wrap: bool = True,
                         secret_keys: tuple[str, ...] = ()) -> str:
    """Per rule: requests answered, share, answers changed vs the logged ones, segments; then the first diffs."""
    console, buffer = text_console(width, color, wrap)
    n = preview.requests
    share = preview.answered / n if n else 0.0
    head = Text("HOT FIXES", style="bold")
    head.append(f": {printable(preview.path)} would answer {preview.answered:,} of {n:,} logged request"
                f"{'s' if n != 1 else ''} ({share:.2%});\n{preview.changed:,} answer"
                f"{'s' if preview.changed != 1 else ''} change; the model answers {n - preview.answered:,}")
    parts: list = [head]
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    # Segments go below the table, a line per rule, so that the table keeps to 80 columns unwrapped.
    for col in ("rule", "kind", "answers", "share %", "changed", "same", "fallback err"):
        table.add_column(col, justify="left" if col in ("rule", "kind") else "right", overflow="fold")
    for r in preview.rules:
        answered = r.answered - r.fallback_errors
        table.add_row(Text(printable(r.name)), r.kind, f"{answered:,}", f"{(answered / n * 100 if n else 0):.2f}",
                      f"{r.changed:,}", f"{r.same:,}", f"{r.fallback_errors:,}")
    parts.append(table)
    for r in preview.rules:
        if r.segments:
            parts.append(Text(f"segments of {printable(r.name)}: {printable(_segments(r.segments))}"))
    if preview.disabled:
        parts.append(Text(f"disabled (not previewed): {printable(', '.join(preview.disabled))}", style="dim"))
    for e in preview.examples:
        parts.append(Text(f"changed: request {printable(str(e.request_id))} ({printable(e.rule)})", style="bold"))
        diff = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        for col in ("field", "logged", "hot fix"):
            diff.add_column(col, overflow="fold")
        for path, logged, answer in side_by_side(e.diffs, secret_keys=secret_keys):
            diff.add_row(Text(printable(path)), Text(printable(logged)), Text(printable(answer)))
        parts.append(diff)
    console.print(Group(*parts))
    return rendered(buffer)


def _document(preview: HotfixPreview, secret_keys: tuple[str, ...]) -> dict:
    doc = preview_document(preview, secret_keys)
    return {k: json_data(v) if k == "examples" else machine_numbers(v) for k, v in doc.items()}


def render_preview_json(preview: HotfixPreview, secret_keys: tuple[str, ...] = ()) -> str:
    """The preview alone (no target): ``{"hotfix": {...}}``."""
    return json_safe(json.dumps({"hotfix": _document(preview, secret_keys)}, indent=2, ensure_ascii=False,
                                default=str, allow_nan=False)) + "\n"


def with_preview_json(replay_json: str, preview: HotfixPreview, secret_keys: tuple[str, ...] = ()) -> str:
    """The replay summary (``render_replay_json``'s text) with the preview added as ``hotfix``."""
    document = json.loads(replay_json)
    document["hotfix"] = _document(preview, secret_keys)
    return json_safe(json.dumps(document, indent=2, ensure_ascii=False, default=str, allow_nan=False)) + "\n"
