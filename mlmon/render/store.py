"""``mlmon store info`` for people: a few lines of figures, then the partitions and the sources."""

from __future__ import annotations

from typing import Any

from mlmon.safetext import printable


from mlmon.store.ingest import human_bytes as _size


def render_store_info(info: dict[str, Any]) -> str:
    lines = [
        f"Store {printable(info['store'])}",
        f"  records      {info['records']:,} ({info['skipped']:,} bad lines skipped)",
        f"  time range   {info['time_range']['from'] or '-'} to {info['time_range']['to'] or '-'}",
        f"  size on disk {_size(info['size_bytes'])} in {info['parts']:,} parts",
        f"  updated      {info['updated'] or '-'} (commit {info['generation']})",
        *([f"  waiting      {info['events_waiting']:,} paired event{'s' if info['events_waiting'] != 1 else ''} "
           "for a partner (the next ingest pairs them)"] if info.get("events_waiting") else []),
        "",
        f"{'Partition':<16}{'Parts':>7}{'Records':>14}{'Size':>12}",
    ]
    for p in info["partitions"]:
        lines.append(f"{'date=' + p['date']:<16}{p['parts']:>7,}{p['rows']:>14,}{_size(p['bytes']):>12}")
    lines += ["", f"{'Source':<40}{'Offset':>14}{'Records':>12}{'Skipped':>9}"]
    for s in info["sources"]:
        name = printable(s["name"])
        name = name if len(name) <= 39 else "…" + name[-38:]
        lines.append(f"{name:<40}{s['offset']:>14,}{s['records']:>12,}{s['skipped']:>9,}")
    lines += ["", "Schema:"] + [f"  {name:<16}{kind}" for name, kind in info["schema"].items()]
    return "\n".join(lines) + "\n"
