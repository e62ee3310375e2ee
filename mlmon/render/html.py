"""``report --format html``: one self-contained page that works offline.

The page holds everything it needs: uPlot (MIT, vendored in ``assets/``) and mlmon's own script and
styles inline, the charts' data as JSON in a ``<script type="application/json">`` block, parsed with
``JSON.parse``. Log text is HTML-escaped wherever it meets markup (after :func:`printable`, so control
characters show as escapes), and in the JSON ``<``, ``>``, ``&``, U+2028 and U+2029 are ``\\u`` escapes,
so no log value can close the block or start markup. As defence in depth a Content-Security-Policy
allows only the page's own scripts, by their SHA-256, and no request at all.
"""

from __future__ import annotations

import base64
import hashlib
import json
from importlib import resources
from typing import Any

from mlmon import __version__
from mlmon.numbers import machine_numbers
from mlmon.render.escape import json_safe
from mlmon.render.html_data import chart_data, headline
from mlmon.render.html_drift import drift_html, quality_html
from mlmon.render.html_sections import (
    alerts_section,
    esc,
    source_section,
    story,
    window_tables,
)
from mlmon.render.values import format_range
from mlmon.report import Report
from mlmon.timeparse import format_duration, iso


def asset(name: str) -> str:
    """A file shipped in ``mlmon/render/assets`` (package data of the wheel), as text."""
    return resources.files("mlmon.render").joinpath("assets", name).read_text(encoding="utf-8")


def script_json(doc: Any) -> str:
    """``doc`` as JSON safe inside a ``<script>`` element: no ``</script>``, ``<!--`` or markup can form,
    and no line separator ends a string early; every number strict (no NaN)."""
    text = json_safe(json.dumps(machine_numbers(doc), ensure_ascii=False, allow_nan=False, separators=(",", ":")))
    for char in "<>&\u2028\u2029":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


def csp_hash(script: str) -> str:
    """The CSP source that allows an inline script with exactly this text."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii") + "'"


def content_security_policy(scripts: list[str]) -> str:
    """Nothing may load or connect; only ``scripts`` run; inline styles and ``data:`` images are allowed."""
    return (f"default-src 'none'; script-src {' '.join(csp_hash(s) for s in scripts)}; "
            "style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'")


def render_html(report: Report) -> str:
    """The whole page: the headline, charts over time, the tables, drift, model quality, alerts and the source."""
    charts = chart_data(report)
    scripts = [asset("uPlot.iife.min.js"), asset("report.js")]
    body = [_title(report), story(report, headline(report)), _charts(charts), window_tables(report),
            drift_html(report), quality_html(report), alerts_section(report), source_section(report),
            f'<footer>mlmon {esc(__version__)} · generated {esc(iso(report.generated_at) or "")} · '
            "a self-contained page: it loads nothing from the network.</footer>"]
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # Our own text: keywords in single quotes and base64 hashes, nothing to escape.
        f'<meta http-equiv="Content-Security-Policy" content="{content_security_policy(scripts)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(_page_title(report))}</title>",
        f"<style>{asset('uPlot.min.css')}\n{asset('report.css')}</style>",
        "</head><body>",
        *[part for part in body if part],
        f'<script type="application/json" id="mlmon-data">{script_json(charts)}</script>',
        *[f"<script>{s}</script>" for s in scripts],
        "</body></html>",
    ]) + "\n"


def _page_title(report: Report) -> str:
    files = report.files
    name = files[0].rsplit("/", 1)[-1] if len(files) == 1 else f"{len(files)} files"
    return f"mlmon report · {name}"


def _title(report: Report) -> str:
    spec, frame = report.table.spec, report.frame
    first = frame["window_start"].min() if frame.height else None
    last = frame["window_end"].max() if frame.height else None
    scope = [format_range(first, last)]
    if spec.every is not None:
        scope.append(f"windows of {format_duration(spec.every)}")
    if spec.by:
        scope.append("by " + ", ".join(spec.by))
    if report.where:
        scope.append(f"where {report.where}")
    return f'<h1>mlmon report</h1>\n<p class="sub">{esc(" · ".join(scope))}</p>'


def _charts(charts: dict[str, Any]) -> str:
    if not charts["charts"]:
        return ('<h2 id="charts">Over time</h2><p class="note">No charts: the range is one window. Give '
                "<code>--every</code> a length that cuts it into several (<code>--every 1h</code>) for charts "
                "over time.</p>")
    more = charts.get("more_segments") or 0
    note = ("One line per segment (the legend names them; hover for values). Times are UTC. "
            "Dashed vertical lines mark a segment that appears, stops or replaces another.")
    if more:
        note += f" The {len(charts['segments'])} busiest segments are drawn; {more:,} more are in the tables."
    figures = [f'<figure data-chart="{i}"><figcaption>{esc(c["title"])}</figcaption><div class="plot"></div></figure>'
               for i, c in enumerate(charts["charts"])]
    return "\n".join([f'<h2 id="charts">Over time</h2><p class="note">{esc(note)}</p>', '<div class="charts">',
                      *figures, "</div>"])
