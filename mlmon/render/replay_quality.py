"""The model-quality part of the replay summary: the logged and the replayed answers side by side."""

from __future__ import annotations

from rich import box
from rich.table import Table
from rich.text import Text

from mlmon.render.escape import printable
from mlmon.render.values import format_value
from mlmon.replay.quality import QualityComparison


def quality_parts(quality: QualityComparison) -> list:
    """A heading, one row per metric (logged, replayed, and which is better), the gate's verdict and warnings."""
    positive = f", positive class {printable(quality.positive)}" if quality.positive is not None else ""
    parts: list = [Text(f"model quality on {quality.requests:,} requests answered on both sides, "
                        f"{quality.labelled:,} labelled ({printable(quality.labels_file)}; {quality.task}{positive}):",
                        style="bold")]
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for col in ("metric", "logged", "replayed", "replayed is"):
        table.add_column(col, justify="left" if col in ("metric", "replayed is") else "right")
    for name in quality.metrics:
        worse = quality.worse_by(name) if name != "label_coverage" else None
        word, style = ("", "") if worse is None else ("worse", "red") if worse > 0 else ("better", "green") \
            if worse < 0 else ("the same", "")
        table.add_row(name, format_value(name, quality.logged[name]), format_value(name, quality.replayed[name]),
                      Text(word, style=style))
    parts.append(table)
    verdict = quality.verdict()
    if verdict is not None:
        failed = quality.gate_fired
        parts.append(Text(("FAILED: " if failed else "passed: ") + verdict, style="bold red" if failed else "green"))
    parts.extend(Text(f"warning: {printable(w)}", style="yellow") for w in quality.warnings)
    return parts
