"""The reader's verdict on its inputs: no good record at all is an error; a file mostly bad, a warning.

A cron job that reads a file of another shape must not report "all quiet" forever,
so bad lines with no good record beside them stop the run (exit 2). Counts come
per file: the good records as the reader counts them, the bad lines grouped from
the rejects, never a loop per record.
"""

from __future__ import annotations

import polars as pl

from mlmon.errors import InputError
from mlmon.safetext import printable

#: What to try when nothing in the input reads as a log record, in order (more can be added here).
TRY_INSTEAD = ("run 'mlmon inspect LOGS' to see the fields your records hold and a suggested mapping",
               'for logs of another shape, map their fields with --mapping FILE (README "Field mapping") '
               'or name the serving platform that wrote them with --preset NAME (README "Presets")')
#: How many reasons and file names a message lists.
_SHOWN = 3


class NoGoodRecord(InputError):
    """Bad lines and not one good record: the error carries the bad lines, so that ``--rejects``
    can still list them (that is when a user needs them most)."""

    def __init__(self, message: str, hint: str, rejects: pl.DataFrame):
        super().__init__(message, hint)
        self.rejects = rejects


def reason_counts(rejects: pl.DataFrame) -> dict[str, int]:
    """Bad lines per reason, the commonest first."""
    if not rejects.height:
        return {}
    counts = rejects.group_by("reason").len().sort(["len", "reason"], descending=[True, False])
    return dict(zip(counts["reason"].to_list(), counts["len"].to_list()))


def judge(good_by_file: dict[str, int], rejects: pl.DataFrame, *, mapped: bool) -> list[str]:
    """Warnings for each file with more bad lines than good records.

    Raises NoGoodRecord when there are bad lines and not one good record (blank lines do
    not count: an empty input is a run with zero requests). ``mapped`` says whether the
    user gave a mapping, which changes what to try.
    """
    if not rejects.height:
        return []
    bad = rejects.group_by("file", maintain_order=True).len()
    bad_by_file = dict(zip(bad["file"].to_list(), bad["len"].to_list()))
    if not any(good_by_file.values()):
        raise NoGoodRecord(_nothing_good(bad_by_file, rejects), _what_to_try(mapped, list(bad_by_file)), rejects)
    warnings = []
    for name, n_bad in bad_by_file.items():
        good = good_by_file.get(name, 0)
        if n_bad > good:
            lines = good + n_bad
            reasons = _reasons(reason_counts(rejects.filter(pl.col("file") == name)))
            warnings.append(f"{printable(name)}: {n_bad:,} of {lines:,} lines are bad ({reasons})")
    return warnings


def _nothing_good(bad_by_file: dict[str, int], rejects: pl.DataFrame) -> str:
    names = list(bad_by_file)
    if len(names) == 1:
        where = printable(names[0])
    else:
        where = f"{len(names)} files ({_some(names)})"
    total = sum(bad_by_file.values())
    text = f"no good log record in {where}: {total:,} bad line{'s' if total != 1 else ''} ({_reasons(reason_counts(rejects))})"
    documents = [name for name in names if _one_document(rejects.filter(pl.col("file") == name))]
    if documents:
        what = "it holds" if len(names) == 1 else f"{_some(documents)} hold{'s' if len(documents) == 1 else ''}"
        text += f"; {what} one JSON document, not one JSON object per line"
    return text


def _one_document(rejects: pl.DataFrame) -> bool:
    """Whether a file's bad lines look like one pretty-printed JSON document or one JSON array."""
    first = rejects.sort("line").row(0, named=True)
    text = (first["raw"] or "").strip()
    return text in ("{", "[") or (text.startswith("[") and rejects.height == 1)


def _what_to_try(mapped: bool, names: list[str] = ()) -> str:
    fits = _fitting_preset(names)
    if fits:
        return (f"These records look like the {fits} preset's format: read them with --preset {fits}, or run "
                f"'mlmon inspect {printable(names[0])}' to see their fields.")
    if mapped:
        return ('Check that the --mapping file (or --preset) points at the fields your records hold '
                f"(README \"Field mapping\"); 'mlmon inspect {printable(names[0]) if names else 'LOGS'}' shows them.")
    return ('mlmon reads JSON lines, one object per line in its own shape (README "Log records"); '
            + "; ".join(TRY_INSTEAD) + ".")


def _fitting_preset(names: list[str]) -> str | None:
    """The preset the first records of these files fit, if one does (other than mlmon's own shape)."""
    from mlmon.logs.presets import OWN, detect_lines, sample_file

    for name in names[:_SHOWN]:
        try:
            found = detect_lines(sample_file(name).records)
        except (OSError, InputError, ValueError):  # a file that cannot be sampled (gone, unreadable): no suggestion
            continue
        if found is not None and found != OWN:
            return found
    return None


def _reasons(counts: dict[str, int]) -> str:
    shown = [f"{reason} {n:,}" for reason, n in list(counts.items())[:_SHOWN]]
    more = len(counts) - _SHOWN
    return ", ".join(shown) + (f" and {more} more reason{'s' if more != 1 else ''}" if more > 0 else "")


def _some(names: list[str]) -> str:
    shown = ", ".join(printable(n) for n in names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")
