"""The HTML report's drift and model-quality sections: the tables people's formats share, and each field's
baseline and current distributions side by side (the buckets the drift tests compare, from the core)."""

from __future__ import annotations

import polars as pl

from mlmon.render.html_data import SEGMENT, with_segment
from mlmon.render.html_sections import esc, section_rows, table
from mlmon.render.sections import drift_section, quality_section
from mlmon.render.values import format_number, plural
from mlmon.report import Report


def drift_html(report: Report) -> str:
    section = drift_section(report)
    if section is None or not section.rows:
        return ""
    out = ['<h2 id="drift">Drift by field</h2>',
           f'<p class="note">{esc(section.subtitle or "")}. Over the whole range, per segment; drifted fields first. '
           + " ".join(esc(n) for n in section.notes) + "</p>",
           ]
    rows = section_rows(section)
    tested = report.drift_by_field.get_column("drifted").is_not_null()
    out.append(table(section, rows.filter(tested).to_list()))
    if not tested.all():
        out += [f"<details><summary>{plural(int((~tested).sum()), 'field')} not tested (identifiers, or no "
                "values in the segment)</summary>", table(section, rows.filter(~tested).to_list()), "</details>"]
    if report.distributions is not None and report.distributions.height:
        out.append(_distributions(report))
    return "\n".join(out)


def _distributions(report: Report) -> str:
    """Baseline beside current, per segment and field: the shares of the buckets drift compares."""
    by = report.segments
    dist = with_segment(report.distributions, by)
    drift = with_segment(report.drift_by_field, by).select(SEGMENT, "field", "drifted", "method", "score")
    dist = dist.join(drift, on=[SEGMENT, "field"], how="left", maintain_order="left")
    dist = dist.with_columns(
        (pl.col("baseline") / pl.col("baseline").sum().over(SEGMENT, "field")).fill_nan(0).alias("b"),
        (pl.col("current") / pl.col("current").sum().over(SEGMENT, "field")).fill_nan(0).alias("c"),
    )
    blocks = {True: [], False: []}
    for (segment, field), group in dist.partition_by([SEGMENT, "field"], maintain_order=True, as_dict=True).items():
        first = group.row(0, named=True)
        verdict = ("drifted" if first["drifted"] else "no drift") if first["drifted"] is not None else "not tested"
        score = "" if first["score"] is None else f", {first['method']} {format_number(first['score'], '')}"
        rows = [f"<tr><td>{esc(_bucket(r))}</td><td>{_bar('b', r['b'])}</td><td>{_bar('c', r['c'])}</td></tr>"
                for r in group.iter_rows(named=True)]  # one per bucket: at most 16 a field
        blocks[bool(first["drifted"])].append(
            f'<div><h3><code>{esc(field)}</code> · {esc(segment)} · {esc(verdict + score)}</h3>'
            '<table><thead><tr><th>value</th><th>baseline</th><th>current</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table></div>")
    out = ['<h3>Distributions, baseline beside current</h3>',
           '<p class="note"><span class="legend-b">baseline</span><span class="legend-c">current</span> · share of '
           "the values in each of the baseline's quantile bins (numbers) or each category.</p>"]
    if blocks[True]:
        out += ['<div class="dist">', *blocks[True], "</div>"]
    if blocks[False]:
        out += [f"<details><summary>{plural(len(blocks[False]), 'more field')} (no drift, or not tested)</summary>",
                '<div class="dist">',
                *blocks[False], "</div></details>"]
    return "\n".join(out)


def _bucket(row: dict) -> str:
    if row["type"] != "numeric":
        return row["category"] if row["category"] is not None else f"{row['others']:,} other values"
    low, high = row["lower"], row["upper"]
    if low is None:
        return f"≤ {high:.4g}" if high is not None else "all"
    return f"> {low:.4g}" if high is None else f"{low:.4g} – {high:.4g}"


def _bar(kind: str, share: float) -> str:
    return f'<span class="bar {kind}" style="width:{share * 110:.1f}px"></span>{share * 100:.1f} %'


def quality_html(report: Report) -> str:
    section = quality_section(report)
    if section is None or not section.rows:
        return ""
    subtitle = f" · {esc(section.subtitle)}" if section.subtitle else ""
    return "\n".join([f'<h2 id="quality">Model quality</h2><p class="note">Over the whole range, per segment, '
                      f"against the labels{subtitle}. Ratios are percentages.</p>",
                      table(section, section_rows(section).to_list())])
