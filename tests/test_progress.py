"""The progress display names the phase that runs after the reading, so a long drift computation is no
bar stuck at 100%. It shows on a terminal only, after a delay."""

import io
from datetime import UTC, datetime

from rich.console import Console

from conftest import DATA
from mlmon.baseline.load import BaselineSpec
from mlmon.logs.mapping import DEFAULT_MAPPING
from mlmon.logs.reader import PHASE, announce
from mlmon.metrics.model_quality import LabelSpec
from mlmon.metrics.windows import WindowSpec
from mlmon.render.progress import ReadProgress
from mlmon.report import build_report

NOW = datetime(2026, 11, 27, 18, tzinfo=UTC)


def test_the_report_announces_each_phase_after_the_reading():
    calls = []
    labels = LabelSpec(str(DATA / "sections.labels.csv"), "request_id", "label", "output.label", None, None, "auto")
    baseline = BaselineSpec(start=datetime(2026, 11, 27, 10, tzinfo=UTC), end=datetime(2026, 11, 27, 12, tzinfo=UTC))
    build_report([str(DATA / "sections.jsonl")], mapping=DEFAULT_MAPPING, spec=WindowSpec(by=("model_version",)),
                 now=NOW, baseline=baseline, labels=labels, progress=lambda *call: calls.append(call),
                 summaries=True)
    phases = [name for done, total, name in calls if done == PHASE]
    assert phases == ["joining labels", "loading the baseline", "computing metrics", "computing drift",
                      "summarizing drift by field"]
    assert all(total is None for done, total, _ in calls if done == PHASE)


def _terminal():
    buffer = io.StringIO()
    return buffer, Console(file=buffer, force_terminal=True, width=80, no_color=True)


def test_the_display_names_the_phase_instead_of_a_full_bar():
    buffer, console = _terminal()
    with ReadProgress(delay=0, enabled=True, console=console) as progress:
        progress(1000, 1000, "churn.jsonl.gz")
        progress._progress.refresh()
        assert "reading churn.jsonl.gz" in buffer.getvalue()
        announce(progress, "computing drift")
        progress._progress.refresh()
        shown = buffer.getvalue().rsplit("\r", 1)[-1]
    assert "computing drift" in shown and "reading" not in shown and "kB" not in shown


def test_nothing_is_written_before_the_delay_and_an_early_phase_shows_when_it_is_due():
    buffer, console = _terminal()
    with ReadProgress(delay=3600, enabled=True, console=console) as progress:
        progress(10, 1000, "churn.jsonl.gz")
        announce(progress, "computing drift")
        assert buffer.getvalue() == ""  # not even a hidden cursor: a quick run leaves the terminal alone
        progress._when_due()  # what the timer armed by the first call does once the delay is over
        progress._progress.refresh()
        assert "computing drift" in buffer.getvalue().rsplit("\r", 1)[-1]
    buffer, console = _terminal()
    with ReadProgress(delay=3600, enabled=True, console=console) as progress:
        announce(progress, "computing drift")
    assert buffer.getvalue() == ""  # closed before it was due: the timer is cancelled


def test_nothing_off_a_terminal():
    buffer, console = _terminal()
    with ReadProgress(delay=0, enabled=False, console=console) as progress:
        announce(progress, "computing drift")
    assert buffer.getvalue() == ""
